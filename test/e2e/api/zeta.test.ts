/**
 * Zeta through the VS Code API, in the workbench's real Node extension host, with the packaged
 * extension and the generated models (ZETA_*_MODEL point at them; see test/e2e/run.mjs).
 *
 * What each test can see is only what a user or another extension could: registered commands, the
 * editor's own inline-suggestion commands (so VS Code itself calls Zeta's provider), the commands'
 * return values, and the feedback Zeta persists in its global storage.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { EXTENSION_ID, readFeedback, until } from './support';

const COMMANDS = ['zeta.explainSelection', 'zeta.editSelection', 'zeta.planRefactor', 'zeta.showLoad'];

interface ChatCommandResult {
    readonly modelId: string;
    readonly text: string;
    readonly reason: string;
}

function workspaceFile(rel: string): vscode.Uri {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the workbench opened without a workspace folder');
    return vscode.Uri.joinPath(folder.uri, rel);
}

/** Cap on one wait: far above what the slowest machine needs, so only a hang reaches it. */
const HANG_CAP_MS = 60_000;

describe('Zeta in the extension host', function () {
    // A hang cap: each wait inside has its own.
    this.timeout(120_000);

    before(async () => {
        const ext = vscode.extensions.getExtension(EXTENSION_ID);
        assert.ok(ext, `${EXTENSION_ID} is not installed`);
        await ext.activate();
    });

    it('registers its commands', async () => {
        const all = new Set(await vscode.commands.getCommands(true));
        for (const c of COMMANDS) assert.ok(all.has(c), `${c} is not registered`);
        const manifest = vscode.extensions.getExtension(EXTENSION_ID)?.packageJSON as { contributes?: { commands?: Array<{ command: string }> } };
        for (const contributed of manifest.contributes?.commands ?? []) {
            assert.ok(all.has(contributed.command), `${contributed.command} is contributed but not registered`);
        }
    });

    it('loads node-llama-cpp from the installed extension', async () => {
        // node-llama-cpp is external to the bundle: it must ship in the .vsix's node_modules.
        const ext = vscode.extensions.getExtension(EXTENSION_ID);
        assert.ok(ext);
        const entry = path.join(ext.extensionPath, 'node_modules', 'node-llama-cpp', 'package.json');
        assert.ok(existsSync(entry), `${entry} is missing from the installed extension`);
        const pkg = JSON.parse(readFileSync(entry, 'utf8')) as { version: string };
        assert.match(pkg.version, /^\d+\.\d+\.\d+/);
    });

    it("the inline completion provider inserts a model's text, and acceptance is recorded as that model's feedback", async () => {
        const doc = await vscode.workspace.openTextDocument(workspaceFile('src/typing.py'));
        const editor = await vscode.window.showTextDocument(doc);
        await editor.edit((e) => e.insert(new vscode.Position(doc.lineCount, 0), '\ndef triple(n):\n    return '));
        const end = doc.lineAt(doc.lineCount - 1).range.end;
        editor.selection = new vscode.Selection(end, end);
        const before = doc.getText();

        // VS Code asks Zeta's provider (after Zeta's adaptive debounce); commit accepts whatever
        // ghost text is showing and runs the item's command (Zeta's acceptance feedback). The trigger
        // command settles once VS Code has the provider's answer (the editor action awaits its
        // InlineCompletionsModel.triggerExplicitly, which awaits the fetch), however long the model
        // takes: it is asked again only when that answer showed nothing (an empty suggestion, or one
        // dropped as late on a busy machine), never while one is being computed.
        let asked = 0;
        const inserted = await until('inline completion to accept', 90_000, async () => {
            asked++;
            await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
            await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
            const now = doc.getText();
            return now !== before ? now : undefined;
        }, 50);
        console.log(`      accepted a suggestion after ${asked} trigger(s)`);
        assert.ok(inserted.startsWith(before), 'accepting the completion changed text before the cursor');
        const added = inserted.slice(before.length);
        assert.ok(added.trim().length > 0, `nothing visible was inserted: ${JSON.stringify(added)}`);

        // Written by the router's debounced save, under the model that made the suggestion: the coder
        // unless the router spilled this completion to a faster capable model (on a busy machine, the
        // tiny generated models' measured speeds decide).
        const [modelId, counts] = await until('acceptance in feedback.json', HANG_CAP_MS, () => {
            const models = readFeedback() ?? {};
            return Object.entries(models)
                .map(([id, kinds]) => [id, kinds.completion] as const)
                .find(([, c]) => c !== undefined && c.accepted >= 1);
        }, 250);
        console.log(`      the accepted suggestion was ${modelId}'s`);
        assert.ok(counts !== undefined && counts.shown >= 1, `shown ${counts?.shown}`);
        await vscode.commands.executeCommand('workbench.action.files.revert');
    });

    it('explains a selection with the reasoner model and returns its text', async () => {
        const doc = await vscode.workspace.openTextDocument(workspaceFile('src/geometry.py'));
        const editor = await vscode.window.showTextDocument(doc);
        editor.selection = new vscode.Selection(3, 0, 7, 0);
        const result = await vscode.commands.executeCommand<ChatCommandResult | undefined>('zeta.explainSelection');
        assert.ok(result, 'Explain Selection returned nothing (failed or stopped)');
        assert.equal(result.modelId, 'reasoner', `answered by ${result.modelId}: ${result.reason}`);
        assert.ok(result.text.length > 0, 'the answer is empty');
        assert.ok(result.reason.length > 0, 'no routing reason');
    });

    it('plans a refactor and opens the load view', async () => {
        const doc = await vscode.workspace.openTextDocument(workspaceFile('src/geometry.py'));
        const editor = await vscode.window.showTextDocument(doc);
        editor.selection = new vscode.Selection(9, 0, 14, 0);
        const plan = await vscode.commands.executeCommand<ChatCommandResult | undefined>('zeta.planRefactor', { goal: 'use reduce' });
        assert.ok(plan && plan.text.length > 0, 'no plan');
        await vscode.commands.executeCommand('zeta.showLoad');
        await until('Zeta load view tab', HANG_CAP_MS, () =>
            vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputWebview && /zeta\.loadView/.test(t.input.viewType)));
    });
});
