/**
 * Selections too large for a model are refused before anything runs, in the real extension host
 * with the packaged extension and the generated models (test/e2e/run.mjs sets zeta.chatMaxTokens to
 * 160; the models run with their default 4,096-token contexts). What the test sees is what another
 * extension could: the commands' return values.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

interface ChatCommandResult {
    readonly modelId?: string;
    readonly text?: string;
    readonly refused?: string;
}

/** `lines` lines of code in a new untitled document, all selected. */
async function selectCode(lines: number): Promise<vscode.TextEditor> {
    const body = Array.from({ length: lines }, (_, i) => `    total_${i} = compute(${i}, values[${i}]) + offset`).join('\n');
    const doc = await vscode.workspace.openTextDocument({ language: 'python', content: `def run(values, offset):\n${body}\n    return total_0\n` });
    const editor = await vscode.window.showTextDocument(doc);
    editor.selection = new vscode.Selection(0, 0, doc.lineCount, 0);
    return editor;
}

async function closeEditor(): Promise<void> {
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
}

describe('Zeta refuses a selection too large for a model, saying how large it may be', function () {
    this.timeout(120_000);

    before(async () => {
        // The models are inspected (their contexts known) once a small explanation has been answered.
        const editor = await selectCode(2);
        const r = await vscode.commands.executeCommand<ChatCommandResult | undefined>('zeta.explainSelection');
        assert.ok(r?.modelId, `a small selection was not explained: ${JSON.stringify(r)}`);
        assert.equal(editor.document.isClosed, false);
        await closeEditor();
    });

    it('Explain Selection refuses 3,000 lines for a 4,096-token context', async () => {
        await selectCode(3000);
        const r = await vscode.commands.executeCommand<ChatCommandResult | undefined>('zeta.explainSelection');
        await closeEditor();
        assert.ok(r?.refused, `not refused: ${JSON.stringify(r)}`);
        assert.equal(r.modelId, undefined, 'nothing was sent to a model');
        assert.match(r.refused, /^the selection is too large for Explain Selection: [\d,]+ tokens \((counted with the \w+ model's tokenizer|estimated at 2 characters a token while the \w+ model is not loaded)\)/);
        assert.match(r.refused, /4,096-token context/);
        const m = /Select at most about ([\d,]+) lines \(([\d,]+) characters\)/.exec(r.refused);
        assert.ok(m, r.refused);
        const lines = Number(m[1].replace(/,/g, ''));
        assert.ok(lines > 0 && lines < 3000, `at most ${lines} lines`);
    });

    it('Plan Refactor applies the same limit', async () => {
        await selectCode(3000);
        const r = await vscode.commands.executeCommand<ChatCommandResult | undefined>('zeta.planRefactor', { goal: 'split it' });
        await closeEditor();
        assert.ok(r?.refused, `not refused: ${JSON.stringify(r)}`);
        assert.match(r.refused, /too large for Plan Refactor/);
    });

    it('Edit Selection refuses a selection longer than its answer may be (zeta.chatMaxTokens), before asking for an instruction', async () => {
        await selectCode(200);
        const r = await vscode.commands.executeCommand<boolean | { refused: string }>('zeta.editSelection', { instruction: 'rename total to subtotal' });
        await closeEditor();
        assert.ok(typeof r === 'object' && r.refused, `not refused: ${JSON.stringify(r)}`);
        assert.match(r.refused, /Edit Selection writes the whole selection back, and an answer may take 160 tokens \(zeta\.chatMaxTokens\)/);
        assert.match(r.refused, /Select at most about [\d,]+ lines .* or raise zeta\.chatMaxTokens\.$/);
    });
});
