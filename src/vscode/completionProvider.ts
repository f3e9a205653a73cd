/**
 * Inline (ghost text) completions through the router: VS Code's side of the completion pipeline
 * (src/core/completion/pipeline.ts), which does the work (cache, debounce, request, cold-start
 * retry, post-processing, feedback). Here: VS Code's types in and out, the editor's cancellation as
 * an AbortSignal, the items' accept command, the editor events that feed the pipeline (keystrokes,
 * the cursor resting for a read-ahead, closed documents) and the log.
 */
import * as vscode from 'vscode';
import type { Clock } from '../core/clock';
import { CompletionPipeline, type CursorPosition } from '../core/completion/pipeline';
import { DeadlineError, NoCapableModelError, QueueFullError, errorMessage, isAbortError } from '../core/errors';
import type { ZetaSettings } from '../core/userSettings';
import type { Router } from '../core/tasks';
import { abortSignalFromToken } from './cancellation';

export const ACCEPT_COMMAND = 'zeta.completion.accepted';
export const DISMISS_COMMAND = 'zeta.completion.dismiss';

/**
 * Identifies one showing across the items returned for it while the user types along. VS Code's
 * stable API has no "item was displayed" event, so an item counts as shown when it is returned.
 */
interface Ticket {
    readonly modelId: string;
    /** Feedback id (CompletionSuggestion.feedbackId). */
    readonly id: number;
}

/** Documents Zeta completes (the provider's selector in extension.ts). */
export const COMPLETION_SCHEMES: readonly string[] = ['file', 'untitled', 'vscode-remote'];

export interface CompletionProviderDeps {
    readonly router: Router;
    readonly clock: Clock;
    readonly settings: () => ZetaSettings;
    readonly log: vscode.LogOutputChannel;
}

export class ZetaCompletionProvider implements vscode.InlineCompletionItemProvider, vscode.Disposable {
    private readonly pipeline: CompletionPipeline;
    private readonly disposables: vscode.Disposable[] = [];
    /** Errors already logged at warn level, so a missing model does not flood the log per keystroke. */
    private readonly loggedErrors = new Set<string>();

    constructor(private readonly deps: CompletionProviderDeps) {
        this.pipeline = new CompletionPipeline({ router: deps.router, clock: deps.clock, debug: (m) => deps.log.debug(m) });
        this.disposables.push(
            vscode.commands.registerCommand(ACCEPT_COMMAND, (ticket: Ticket | undefined) => this.accepted(ticket)),
            vscode.commands.registerCommand(DISMISS_COMMAND, async () => {
                this.pipeline.dismiss();
                await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
            }),
            vscode.workspace.onDidChangeTextDocument((e) => this.onEdit(e)),
            vscode.window.onDidChangeActiveTextEditor((e) => this.scheduleReadAhead(e)),
            // Also after typing: by then the model holds the document and the router reads nothing.
            vscode.window.onDidChangeTextEditorSelection((e) => this.scheduleReadAhead(e.textEditor)),
            vscode.workspace.onDidCloseTextDocument((d) => this.pipeline.forget(d.uri.toString())),
        );
    }

    async provideInlineCompletionItems(
        document: vscode.TextDocument,
        position: vscode.Position,
        _context: vscode.InlineCompletionContext,
        token: vscode.CancellationToken,
    ): Promise<vscode.InlineCompletionItem[] | undefined> {
        const settings = this.deps.settings();
        if (!settings.features.inlineCompletions) return undefined;
        const at: CursorPosition = { doc: document.uri.toString(), text: document.getText(), offset: document.offsetAt(position) };
        const range = new vscode.Range(position, position);
        const { signal, dispose } = abortSignalFromToken(token, 'superseded by a newer completion request');
        try {
            const s = await this.pipeline.suggest(at, settings.completion, signal);
            if (!s || token.isCancellationRequested) return undefined;
            const r = s.result;
            if (r) {
                this.deps.log.debug(
                    `completion #${r.taskId} by ${r.modelId} in ${Math.round(r.timings.totalMs)} ms (debounce ${s.debounceMs} ms, ` +
                        `${r.promptTokens} prompt tokens, ${r.reusedPromptTokens} reused, ${r.generatedTokens} generated): ${r.decision.reason}`,
                );
            }
            return [this.item(s.text, range, { modelId: s.modelId, id: s.feedbackId })];
        } catch (e) {
            if (isAbortError(e) || token.isCancellationRequested) return undefined;
            this.logError(e);
            return undefined;
        } finally {
            dispose();
        }
    }

    /**
     * The editor shows a document and the cursor rests in it: the pipeline may have the model read
     * the text before the cursor (CompletionPipeline.cursorRested). Typing, switching away or
     * closing the editor first cancels it.
     */
    private scheduleReadAhead(editor: vscode.TextEditor | undefined): void {
        this.pipeline.cancelReadAhead();
        if (!editor || !COMPLETION_SCHEMES.includes(editor.document.uri.scheme)) return;
        this.pipeline.cursorRested(
            () => {
                const document = editor.document;
                if (!this.deps.settings().features.inlineCompletions || vscode.window.activeTextEditor !== editor || document.isClosed) return undefined;
                return { doc: document.uri.toString(), text: document.getText(), offset: document.offsetAt(editor.selection.active) };
            },
            () => this.deps.settings().completion,
        );
    }

    dispose(): void {
        this.pipeline.dispose();
        for (const d of this.disposables.splice(0)) d.dispose();
    }

    private item(text: string, range: vscode.Range, ticket: Ticket): vscode.InlineCompletionItem {
        return new vscode.InlineCompletionItem(text, range, { title: 'Accept Zeta completion', command: ACCEPT_COMMAND, arguments: [ticket] });
    }

    private accepted(ticket: Ticket | undefined): void {
        if (!ticket) return;
        this.pipeline.accepted(ticket.id);
        this.deps.log.debug(`completion by ${ticket.modelId} accepted`);
    }

    /** Keystrokes feed the router's typing cadence (which the debounce reads from its snapshot). */
    private onEdit(e: vscode.TextDocumentChangeEvent): void {
        if (e.contentChanges.length === 0) return;
        const active = vscode.window.activeTextEditor?.document;
        if (!active || active !== e.document) return;
        if (!COMPLETION_SCHEMES.includes(e.document.uri.scheme)) return;
        // The keystroke's own completion reads the document now (the pipeline cancels the read-ahead).
        this.pipeline.keystroke(e.document.uri.toString());
    }

    private logError(e: unknown): void {
        const message = errorMessage(e);
        if (e instanceof QueueFullError || e instanceof DeadlineError) {
            this.deps.log.debug(`completion skipped: ${message}`);
            return;
        }
        const key = e instanceof NoCapableModelError ? 'noModel' : message;
        if (this.loggedErrors.has(key)) {
            this.deps.log.debug(`completion failed: ${message}`);
            return;
        }
        this.loggedErrors.add(key);
        if (this.loggedErrors.size > 50) this.loggedErrors.clear();
        this.deps.log.warn(`completion failed: ${message}`);
    }
}
