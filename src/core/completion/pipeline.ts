/**
 * The completion pipeline: everything between "the user typed at this position" and the text an
 * inline completion provider returns. The editor's provider (src/vscode/completionProvider.ts) only
 * adapts VS Code's types to it, and the benchmark (bench/replay/harness.ts) drives the same object,
 * so what the benchmark measures is the path the editor takes.
 *
 * Per request, in order (`suggest`):
 *  1. a cached completion the user is typing along is returned at once (no model call);
 *  2. otherwise the previous shown completion is settled as dismissed, and the request waits the
 *     debounce: adaptive (from the router's snapshot, typing cadence included) between the
 *     settings' bounds; equal bounds make it a fixed wait (the baselines' 350 ms);
 *  3. the request is built (token-measured windows with per-document anchors, the FIM middle
 *     split, stops) and submitted as a `completion` task with the caller's AbortSignal (a newer
 *     keystroke cancels the older request all the way into the backend);
 *  4. a cold start (the model still loading) that misses its deadline waits for the load once and
 *     is retried, since an editor does not ask again for the same position;
 *  5. the text is post-processed and cached, and counted as shown for feedback.
 *
 * Separately, `cursorRested` asks the router to have the completion model read the text before the
 * cursor once the cursor has rested READ_AHEAD_DWELL_MS in a document (a hint: nothing waits on it).
 *
 * Side effects come in through `deps` (router, clock); nothing here knows VS Code. Units: ms on the
 * deps' clock, characters for offsets, tokens for the limits.
 */
import type { Clock, TimerHandle } from '../clock';
import { sleep } from '../clock';
import { DeadlineError, errorMessage } from '../errors';
import type { CompletionTask, Feedback, Router, TaskResult } from '../tasks';
import { CompletionCache } from './cache';
import type { TokenCounter } from './context';
import { adaptiveDebounceMs, completionModel, debounceInputs } from './debounce';
import { CompletionFeedback } from './feedback';
import { postProcessCompletion } from './postprocess';
import { CompletionRequestBuilder, type CompletionRequestLimits } from './requestBuilder';

/** Longest wait for a loading completion model before giving up on a request (ms). */
export const COLD_START_WAIT_MS = 15_000;

/** Text after the cursor line looked at by post-processing (characters). */
const SUFFIX_LOOKAHEAD = 2000;

/**
 * How long the cursor rests in a document before the model reads it ahead of the first keystroke
 * (ms): long enough that flipping through files reads none of them.
 */
export const READ_AHEAD_DWELL_MS = 400;

/** Where the user is: the document's whole text and the cursor in it. */
export interface CursorPosition {
    /** Document identity (a URI string in the editor). */
    readonly doc: string;
    readonly text: string;
    /** The cursor, in characters from the start of `text`. */
    readonly offset: number;
}

/** The settings a request reads (zeta.completion.*), passed per call so a change applies at once. */
export interface CompletionPipelineSettings extends CompletionRequestLimits {
    /** Bounds of the debounce (ms); equal bounds make it fixed. */
    readonly debounceMinMs: number;
    readonly debounceMaxMs: number;
}

/** Hooks for a caller that times the stages (the benchmark); all optional, all synchronous. */
export interface CompletionObserver {
    /** The debounce ended and the task goes to the router now. */
    readonly submitted?: (task: CompletionTask) => void;
    /** The model produced its first token. */
    readonly firstToken?: () => void;
    /** The router answered (before post-processing, which may leave nothing to show). */
    readonly answered?: (result: TaskResult) => void;
}

export interface CompletionSuggestion {
    /** Post-processed text to show at the cursor; never empty. */
    readonly text: string;
    readonly modelId: string;
    /** The feedback id of this showing (`accepted(id)` when the user takes it). */
    readonly feedbackId: number;
    /** The model's answer; undefined when the text came from the cache. */
    readonly result?: TaskResult;
    /** The debounce waited before the request (ms); 0 for a cache hit. */
    readonly debounceMs: number;
}

export interface CompletionPipelineDeps {
    readonly router: Router;
    readonly clock: Clock;
    /** The windows' token counter (default: a tokenizer-free estimate for code). */
    readonly countTokens?: TokenCounter;
    /**
     * Where shown/accepted/dismissed go (default: the router's feedback, which it learns from).
     * The benchmark passes its own: its synthetic suggestions are never judged by a user.
     */
    readonly feedback?: (feedback: Feedback) => void;
    /** Where a skipped read-ahead is told (a hint only: nothing else hears of it). */
    readonly debug?: (message: string) => void;
}

export class CompletionPipeline {
    private readonly cache = new CompletionCache(64);
    /** Builds each request and keeps the per-document anchors that let the model reuse its prompt. */
    private readonly requests: CompletionRequestBuilder;
    private readonly feedback: CompletionFeedback;
    /** The showing a cache hit continues when the user types along it. */
    private lastShown: { readonly modelId: string; readonly id: number } | undefined;
    private readAheadTimer: TimerHandle | undefined;

    constructor(private readonly deps: CompletionPipelineDeps) {
        this.requests = new CompletionRequestBuilder(deps.countTokens);
        this.feedback = new CompletionFeedback(deps.feedback ?? ((f) => deps.router.feedback(f)));
    }

    /** A keystroke in `doc`: it feeds the router's typing cadence and cancels a pending read-ahead. */
    keystroke(doc: string): void {
        this.cancelReadAhead();
        this.deps.router.activity({ type: 'keystroke', doc });
    }

    /**
     * The suggestion for the cursor at `at`, or undefined when there is nothing to show. Rejects
     * with `signal.reason` when aborted (a newer keystroke), and with the router's error when the
     * request fails (DeadlineError, QueueFullError, NoCapableModelError, a backend error).
     */
    async suggest(at: CursorPosition, settings: CompletionPipelineSettings, signal: AbortSignal, observer: CompletionObserver = {}): Promise<CompletionSuggestion | undefined> {
        const { doc, text, offset } = at;
        const before = text.slice(0, offset);
        const lineEnd = lineEndAt(text, offset);
        const lineSuffix = text.slice(offset, lineEnd);

        const hit = this.cache.get(doc, before, lineSuffix);
        if (hit) {
            // Typing along the shown completion continues that showing; anything else is a new one.
            const last = this.lastShown;
            const id = last && last.modelId === hit.modelId && this.feedback.pending?.id === last.id ? last.id : this.shown(hit.modelId);
            return { text: hit.text, modelId: hit.modelId, feedbackId: id, debounceMs: 0 };
        }
        this.feedback.nextRequest();

        const router = this.deps.router;
        const debounceMs = adaptiveDebounceMs(debounceInputs(router.snapshot()), { minMs: settings.debounceMinMs, maxMs: settings.debounceMaxMs });
        await sleep(this.deps.clock, debounceMs, signal);

        const { task: built, window } = this.requests.build(doc, text, offset, settings);
        const firstToken = observer.firstToken;
        let first = true;
        const task: CompletionTask = firstToken
            ? {
                  ...built,
                  onToken: () => {
                      if (first) firstToken();
                      first = false;
                  },
              }
            : built;
        const coldBefore = completionModel(router.snapshot())?.residency !== 'loaded';
        observer.submitted?.(task);
        let result: TaskResult;
        try {
            result = await router.submit(task, signal);
        } catch (e) {
            // A cold start (the model still loading) can miss the objective; the editor does not ask
            // again for the same position, so wait for the load once and retry instead of vanishing.
            if (!(e instanceof DeadlineError) || !coldBefore || !(await this.waitForWarmModel(signal))) throw e;
            result = await router.submit(task, signal);
        }
        observer.answered?.(result);
        const completion = postProcessCompletion(result.text ?? '', {
            linePrefix: window.linePrefix,
            lineSuffix,
            suffixAfterLine: text.slice(lineEnd, lineEnd + SUFFIX_LOOKAHEAD),
        });
        if (signal.aborted) throw signal.reason;
        if (completion === '') return undefined;
        this.cache.put(doc, before, lineSuffix, completion, result.modelId);
        return { text: completion, modelId: result.modelId, feedbackId: this.shown(result.modelId), result, debounceMs };
    }

    /**
     * The cursor came to rest at what `where()` returns (read when the dwell ends; undefined: the
     * document is no longer shown). After READ_AHEAD_DWELL_MS with no keystroke and no other rest,
     * the router may have the completion model read the text before the cursor (Router.readAhead).
     */
    cursorRested(where: () => CursorPosition | undefined, settings: () => CompletionPipelineSettings): void {
        this.cancelReadAhead();
        this.readAheadTimer = this.deps.clock.setTimeout(() => {
            this.readAheadTimer = undefined;
            try {
                const at = where();
                if (!at) return;
                const { task } = this.requests.build(at.doc, at.text, at.offset, settings());
                this.deps.router.readAhead(task);
            } catch (e) {
                // A timer callback must not throw; the first keystroke reads the document itself.
                this.deps.debug?.(`read-ahead skipped: ${errorMessage(e)}`);
            }
        }, READ_AHEAD_DWELL_MS);
    }

    cancelReadAhead(): void {
        this.deps.clock.clearTimeout(this.readAheadTimer);
        this.readAheadTimer = undefined;
    }

    /** The user took the suggestion shown with `feedbackId`. */
    accepted(feedbackId: number): void {
        this.feedback.accepted(feedbackId);
    }

    /** The user dismissed what is shown (Escape). */
    dismiss(): void {
        this.feedback.dismiss();
    }

    /** The document was closed: its cached completions and anchors go. */
    forget(doc: string): void {
        this.cache.forget(doc);
        this.requests.forget(doc);
    }

    dispose(): void {
        this.cancelReadAhead();
        this.feedback.dismiss();
    }

    private shown(modelId: string): number {
        const id = this.feedback.shown(modelId);
        this.lastShown = { modelId, id };
        return id;
    }

    /**
     * Waits until the completion model is loaded. Resolves true when it is (at once if it already
     * is), false when it failed or did not load within COLD_START_WAIT_MS; rejects with
     * `signal.reason` on abort.
     */
    private waitForWarmModel(signal: AbortSignal): Promise<boolean> {
        const { router, clock } = this.deps;
        const state = (): string | undefined => completionModel(router.snapshot())?.residency;
        const initial = state();
        if (initial === 'loaded') return Promise.resolve(true);
        if (initial === undefined || initial === 'failed') return Promise.resolve(false);
        if (signal.aborted) return Promise.reject(signal.reason);
        return new Promise<boolean>((resolve, reject) => {
            const finish = (ok: boolean, error?: unknown): void => {
                sub.dispose();
                clock.clearTimeout(timer);
                signal.removeEventListener('abort', onAbort);
                if (error !== undefined) reject(error);
                else resolve(ok);
            };
            const onAbort = (): void => finish(false, signal.reason ?? new Error('aborted'));
            const sub = router.onDidChange(() => {
                const s = state();
                if (s === 'loaded') finish(true);
                else if (s === 'failed' || s === undefined) finish(false);
            });
            const timer = clock.setTimeout(() => finish(false), COLD_START_WAIT_MS);
            signal.addEventListener('abort', onAbort, { once: true });
        });
    }
}

/** Offset of the end of the line containing `offset` (its newline, or the end of the text). */
function lineEndAt(text: string, offset: number): number {
    const nl = text.indexOf('\n', offset);
    const end = nl < 0 ? text.length : nl;
    // A CRLF document: the line ends before the carriage return.
    return end > offset && text[end - 1] === '\r' ? end - 1 : end;
}
