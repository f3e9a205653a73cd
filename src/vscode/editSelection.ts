/**
 * "Zeta: Edit Selection": an instruction from an input box (or the command's argument) → an `edit`
 * task (cancellable progress) → a diff preview of the whole document (a read-only virtual document
 * on the right) → "Apply" / "Discard" → one WorkspaceEdit, so one undo reverts it. The edit is
 * refused if the document changed while the user was looking at the preview.
 *
 * The answer is the whole selection rewritten, within `zeta.chatMaxTokens`: a selection that cannot
 * fit in an answer (or, with the prompt, in a model's context) is refused before anything runs, with
 * how large it may be; an answer cut at the limit is never proposed (it would delete code).
 */
import * as vscode from 'vscode';
import type { Router } from '../core/tasks';
import type { ZetaSettings } from '../core/userSettings';
import { abortSignalFromToken } from './cancellation';
import type { Notifier } from './notifications';
import { checkChatSelection, editMessages, extractEditedCode, type ChatModel } from './prompts';

export const PROPOSAL_SCHEME = 'zeta-proposal';

/** Serves proposed documents for the diff editor; each proposal lives until its preview is settled. */
export class ProposalProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
    private readonly contents = new Map<string, string>();
    private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange = this.emitter.event;
    private next = 1;

    add(fileName: string, content: string): vscode.Uri {
        const uri = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/${this.next++}/${fileName}` });
        this.contents.set(uri.toString(), content);
        return uri;
    }

    remove(uri: vscode.Uri): void {
        this.contents.delete(uri.toString());
    }

    provideTextDocumentContent(uri: vscode.Uri): string {
        return this.contents.get(uri.toString()) ?? '';
    }

    dispose(): void {
        this.contents.clear();
        this.emitter.dispose();
    }
}

export interface EditSelectionDeps {
    readonly router: Router;
    readonly settings: () => ZetaSettings;
    /** The models that could answer now, for the size check (see extension.ts). */
    readonly chatModels: () => readonly ChatModel[];
    readonly proposals: ProposalProvider;
    readonly log: vscode.LogOutputChannel;
    readonly notifier: Notifier;
}

export interface EditSelectionArgs {
    /** Skips the input box (keybindings and other extensions can pass the instruction). */
    readonly instruction?: string;
}

/** True when an edit was applied; `refused` when the selection or the answer does not fit (also told to the user). */
export async function editSelection(deps: EditSelectionDeps, args?: EditSelectionArgs): Promise<boolean | { refused: string }> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
        void vscode.window.showInformationMessage('Zeta: open a file and select the code to edit.');
        return false;
    }
    if (!deps.settings().features.edit) {
        void vscode.window.showInformationMessage('Zeta: Edit Selection is turned off (zeta.features.edit).');
        return false;
    }
    const document = editor.document;
    // An empty selection edits the cursor's line.
    const range = editor.selection.isEmpty ? document.lineAt(editor.selection.active.line).rangeIncludingLineBreak : new vscode.Range(editor.selection.start, editor.selection.end);
    const original = document.getText(range);
    if (original.trim() === '') {
        void vscode.window.showInformationMessage('Zeta: select the code to edit.');
        return false;
    }
    const fits = (instruction: string): { refused: string } | undefined => {
        const check = checkChatSelection('Edit Selection', original, (code) => editMessages(code, document.languageId, instruction), deps.chatModels(), deps.settings().chatMaxTokens, true);
        return check.ok ? undefined : refuse(check.message);
    };
    // Before the user types an instruction for a selection that cannot fit anyway.
    const tooLarge = fits('');
    if (tooLarge) return tooLarge;
    const instruction =
        typeof args?.instruction === 'string' && args.instruction.trim() !== ''
            ? args.instruction
            : await vscode.window.showInputBox({ title: 'Zeta: Edit Selection', prompt: 'How should the selected code change?', placeHolder: 'e.g. add input validation and a doc comment', ignoreFocusOut: true });
    if (!instruction || instruction.trim() === '') return false;
    const stillTooLarge = fits(instruction);
    if (stillTooLarge) return stillTooLarge;
    const maxTokens = deps.settings().chatMaxTokens;
    const version = document.version;
    const fileName = document.uri.path.split('/').pop() || 'untitled';

    const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Zeta is editing ${fileName}`, cancellable: true },
        async (progress, token) => {
            const { signal, dispose } = abortSignalFromToken(token, 'edit cancelled');
            let tokens = 0;
            try {
                return await deps.router.submit(
                    {
                        kind: 'edit',
                        doc: document.uri.toString(),
                        messages: editMessages(original, document.languageId, instruction),
                        maxTokens,
                        onToken: () => {
                            tokens++;
                            if (tokens % 16 === 0) progress.report({ message: `${tokens} tokens` });
                        },
                    },
                    signal,
                );
            } catch (e) {
                deps.notifier.taskFailed('Edit Selection', e);
                return undefined;
            } finally {
                dispose();
            }
        },
    );
    if (!result) return false;
    if (result.generatedTokens >= maxTokens) {
        return refuse(
            `the ${result.modelId} model's edit reached the answer limit (${maxTokens} tokens, zeta.chatMaxTokens) before it ended, so it may be cut short; it was not proposed. Select less code or raise zeta.chatMaxTokens.`,
        );
    }
    const edited = extractEditedCode(result.text ?? '', original);
    deps.log.info(`edit #${result.taskId} by ${result.modelId} (${result.generatedTokens} tokens): ${result.decision.reason}`);
    if (edited === original) {
        void vscode.window.showInformationMessage(`Zeta: the ${result.modelId} model proposed no change.`);
        return false;
    }

    const full = document.getText();
    const start = document.offsetAt(range.start);
    const end = document.offsetAt(range.end);
    const proposedUri = deps.proposals.add(fileName, full.slice(0, start) + edited + full.slice(end));
    try {
        await vscode.commands.executeCommand('vscode.diff', document.uri, proposedUri, `${fileName} ↔ Zeta's edit (${result.modelId})`, { preview: true, viewColumn: vscode.ViewColumn.Beside });
        const choice = await vscode.window.showInformationMessage(`Apply Zeta's edit to ${fileName}? ("${truncate(instruction, 60)}", by the ${result.modelId} model)`, 'Apply', 'Discard');
        if (choice !== 'Apply') return false;
        if (document.version !== version) {
            void vscode.window.showWarningMessage(`Zeta: ${fileName} changed while the edit was previewed; the edit was not applied. Run Edit Selection again.`);
            return false;
        }
        const edit = new vscode.WorkspaceEdit();
        edit.replace(document.uri, range, edited);
        const applied = await vscode.workspace.applyEdit(edit);
        if (!applied) void vscode.window.showErrorMessage(`Zeta: VS Code refused the edit to ${fileName}.`);
        return applied;
    } finally {
        await closeDiffTabs(proposedUri);
        deps.proposals.remove(proposedUri);
    }
}

async function closeDiffTabs(proposed: vscode.Uri): Promise<void> {
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === proposed.toString());
    if (tabs.length > 0) await vscode.window.tabGroups.close(tabs, true);
}

function refuse(message: string): { refused: string } {
    void vscode.window.showWarningMessage(`Zeta: ${message}`);
    return { refused: message };
}

function truncate(s: string, n: number): string {
    const one = s.trim().replace(/\s+/g, ' ');
    return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}
