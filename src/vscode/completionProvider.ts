/**
 * Inline (ghost text) completions through the router.
 *
 * Per request, in order: reuse a cached completion the user is typing along (no model call);
 * otherwise settle the previous shown completion as dismissed, wait an adaptive debounce (from the
 * router's snapshot and the typing cadence), build token-measured prefix/suffix windows, submit a
 * `completion` task with the editor's cancellation as an AbortSignal (a newer request cancels the
 * older one all the way into llama.cpp), post-process, cache and return the item. Accepting runs
 * the item's command, which reports `accepted`; a completion shown and not accepted is reported
 * `dismissed` at the next request or on Escape.
 */
import * as vscode from 'vscode';
import type { Clock, TimerHandle } from '../core/clock';
import { sleep } from '../core/clock';
import { CompletionCache } from '../core/completion/cache';
import { adaptiveDebounceMs, completionModel, debounceInputs } from '../core/completion/debounce';
import { CompletionFeedback } from '../core/completion/feedback';
import { postProcessCompletion } from '../core/completion/postprocess';
import { CompletionRequestBuilder } from '../core/completion/requestBuilder';
import { DeadlineError, NoCapableModelError, QueueFullError, errorMessage, isAbortError } from '../core/errors';
import type { ZetaSettings } from '../core/userSettings';
import type { Router, TaskResult } from '../core/tasks';
import { abortSignalFromToken } from './cancellation';

export const ACCEPT_COMMAND = 'zeta.completion.accepted';
export const DISMISS_COMMAND = 'zeta.completion.dismiss';

/**
 * Identifies one model answer across the items shown for it while the user types along. VS Code's
 * stable API has no "item was displayed" event, so an item counts as shown when it is returned.
 */
interface Ticket {
    readonly modelId: string;
    /** Feedback id (CompletionFeedback.shown). */
    readonly id: number;
}

/** Longest wait for a loading completion model before giving up on a request (ms). */
const COLD_START_WAIT_MS = 15_000;

/** Text after the cursor line looked at by post-processing (characters). */
const SUFFIX_LOOKAHEAD = 2000;

/** Documents Zeta completes (the provider's selector in extension.ts). */
export const COMPLETION_SCHEMES: readonly string[] = ['file', 'untitled', 'vscode-remote'];

/**
 * How long the cursor rests in a document before the model reads it ahead of the first keystroke
 * (ms): long enough that flipping through files reads none of them.
 */
const READ_AHEAD_DWELL_MS = 400;

export interface CompletionProviderDeps {
    readonly router: Router;
    readonly clock: Clock;
    readonly settings: () => ZetaSettings;
    readonly log: vscode.LogOutputChannel;
}

export class ZetaCompletionProvider implements vscode.InlineCompletionItemProvider, vscode.Disposable {
    private readonly cache = new CompletionCache(64);
    /** Builds each request and keeps the per-document anchors that let the model reuse its prompt. */
    private readonly requests = new CompletionRequestBuilder();
    private readonly feedback: CompletionFeedback;
    private lastTicket: Ticket | undefined;
    private readonly disposables: vscode.Disposable[] = [];
    /** Errors already logged at warn level, so a missing model does not flood the log per keystroke. */
    private readonly loggedErrors = new Set<string>();
    private readAheadTimer: TimerHandle | undefined;

    constructor(private readonly deps: CompletionProviderDeps) {
        this.feedback = new CompletionFeedback((f) => deps.router.feedback(f));
        this.disposables.push(
            vscode.commands.registerCommand(ACCEPT_COMMAND, (ticket: Ticket | undefined) => this.accepted(ticket)),
            vscode.commands.registerCommand(DISMISS_COMMAND, async () => {
                this.feedback.dismiss();
                await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
            }),
            vscode.workspace.onDidChangeTextDocument((e) => this.onEdit(e)),
            vscode.window.onDidChangeActiveTextEditor((e) => this.scheduleReadAhead(e)),
            // Also after typing: by then the model holds the document and the router reads nothing.
            vscode.window.onDidChangeTextEditorSelection((e) => this.scheduleReadAhead(e.textEditor)),
            vscode.workspace.onDidCloseTextDocument((d) => {
                this.cache.forget(d.uri.toString());
                this.requests.forget(d.uri.toString());
            }),
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
        const doc = document.uri.toString();
        const offset = document.offsetAt(position);
        const text = document.getText();
        const before = text.slice(0, offset);
        const lineText = document.lineAt(position.line).text;
        const lineSuffix = lineText.slice(position.character);
        const range = new vscode.Range(position, position);

        const hit = this.cache.get(doc, before, lineSuffix);
        if (hit) {
            // Typing along the shown completion continues it; anything else is a new showing.
            const last = this.lastTicket;
            const ticket = last && last.modelId === hit.modelId && this.feedback.pending?.id === last.id ? last : this.newTicket(hit.modelId);
            return [this.item(hit.text, range, ticket)];
        }
        this.feedback.nextRequest();

        const { signal, dispose } = abortSignalFromToken(token, 'superseded by a newer completion request');
        try {
            const router = this.deps.router;
            const delay = adaptiveDebounceMs(debounceInputs(router.snapshot()), {
                minMs: settings.completion.debounceMinMs,
                maxMs: settings.completion.debounceMaxMs,
            });
            await sleep(this.deps.clock, delay, signal);

            const { task, window } = this.requests.build(doc, text, offset, settings.completion);
            const coldBefore = completionModel(router.snapshot())?.residency !== 'loaded';
            let result: TaskResult;
            try {
                result = await router.submit(task, signal);
            } catch (e) {
                // A cold start (the model still loading) can miss the objective; VS Code does not ask
                // again for the same position, so wait for the load once and retry instead of vanishing.
                if (!(e instanceof DeadlineError) || !coldBefore || !(await this.waitForWarmModel(signal))) throw e;
                result = await router.submit(task, signal);
            }
            const lineEnd = document.offsetAt(document.lineAt(position.line).range.end);
            const completion = postProcessCompletion(result.text ?? '', {
                linePrefix: window.linePrefix,
                lineSuffix,
                suffixAfterLine: text.slice(lineEnd, lineEnd + SUFFIX_LOOKAHEAD),
            });
            this.deps.log.debug(
                `completion #${result.taskId} by ${result.modelId} in ${Math.round(result.timings.totalMs)} ms (debounce ${delay} ms, ` +
                    `${result.promptTokens} prompt tokens, ${result.reusedPromptTokens} reused, ${result.generatedTokens} generated): ${result.decision.reason}`,
            );
            if (completion === '' || token.isCancellationRequested) return undefined;
            this.cache.put(doc, before, lineSuffix, completion, result.modelId);
            return [this.item(completion, range, this.newTicket(result.modelId))];
        } catch (e) {
            if (isAbortError(e) || token.isCancellationRequested) return undefined;
            this.logError(e);
            return undefined;
        } finally {
            dispose();
        }
    }

    /**
     * The editor shows a document and the cursor has rested in it for READ_AHEAD_DWELL_MS: the
     * router may have the completion model read the prompt there before the first keystroke
     * (Router.readAhead). Typing, switching away or closing the editor first cancels it.
     */
    private scheduleReadAhead(editor: vscode.TextEditor | undefined): void {
        this.cancelReadAhead();
        if (!editor || !COMPLETION_SCHEMES.includes(editor.document.uri.scheme)) return;
        this.readAheadTimer = this.deps.clock.setTimeout(() => {
            this.readAheadTimer = undefined;
            const settings = this.deps.settings();
            if (!settings.features.inlineCompletions || vscode.window.activeTextEditor !== editor || editor.document.isClosed) return;
            try {
                const document = editor.document;
                const position = editor.selection.active;
                const { task } = this.requests.build(document.uri.toString(), document.getText(), document.offsetAt(position), settings.completion);
                this.deps.router.readAhead(task);
            } catch (e) {
                // A hint only: the first keystroke reads the document itself.
                this.deps.log.debug(`read-ahead skipped: ${errorMessage(e)}`);
            }
        }, READ_AHEAD_DWELL_MS);
    }

    private cancelReadAhead(): void {
        this.deps.clock.clearTimeout(this.readAheadTimer);
        this.readAheadTimer = undefined;
    }

    /**
     * Waits until the completion model is loaded. Resolves true when it is (at once if it already
     * is), false when it failed or did not load within COLD_START_WAIT_MS; rejects with
     * `signal.reason` on abort.
     */
    private waitForWarmModel(signal: AbortSignal): Promise<boolean> {
        const router = this.deps.router;
        const state = (): string | undefined => completionModel(router.snapshot())?.residency;
        const initial = state();
        if (initial === 'loaded') return Promise.resolve(true);
        if (initial === undefined || initial === 'failed') return Promise.resolve(false);
        return new Promise<boolean>((resolve, reject) => {
            const finish = (ok: boolean | Error): void => {
                sub.dispose();
                this.deps.clock.clearTimeout(timer);
                signal.removeEventListener('abort', onAbort);
                if (ok instanceof Error) reject(ok);
                else resolve(ok);
            };
            const onAbort = (): void => finish(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
            const sub = router.onDidChange(() => {
                const s = state();
                if (s === 'loaded') finish(true);
                else if (s === 'failed' || s === undefined) finish(false);
            });
            const timer = this.deps.clock.setTimeout(() => finish(false), COLD_START_WAIT_MS);
            signal.addEventListener('abort', onAbort, { once: true });
        });
    }

    private newTicket(modelId: string): Ticket {
        const ticket = { modelId, id: this.feedback.shown(modelId) };
        this.lastTicket = ticket;
        return ticket;
    }

    dispose(): void {
        this.cancelReadAhead();
        this.feedback.dismiss();
        for (const d of this.disposables.splice(0)) d.dispose();
    }

    private item(text: string, range: vscode.Range, ticket: Ticket): vscode.InlineCompletionItem {
        return new vscode.InlineCompletionItem(text, range, { title: 'Accept Zeta completion', command: ACCEPT_COMMAND, arguments: [ticket] });
    }

    private accepted(ticket: Ticket | undefined): void {
        if (!ticket) return;
        this.feedback.accepted(ticket.id);
        this.deps.log.debug(`completion by ${ticket.modelId} accepted`);
    }

    /** Keystrokes feed the router's typing cadence (which the debounce reads from its snapshot). */
    private onEdit(e: vscode.TextDocumentChangeEvent): void {
        if (e.contentChanges.length === 0) return;
        const active = vscode.window.activeTextEditor?.document;
        if (!active || active !== e.document) return;
        if (!COMPLETION_SCHEMES.includes(e.document.uri.scheme)) return;
        // The keystroke's own completion reads the document now.
        this.cancelReadAhead();
        this.deps.router.activity({ type: 'keystroke', doc: e.document.uri.toString() });
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
