/**
 * The soak's user at the editor: plays trace epochs against one long-lived router and completion
 * pipeline, in wall-clock time, counting every request in a SettleLedger. Unlike the benchmark's
 * replay (bench/replay/harness.ts), which builds a router per run, the router, the pipeline and the
 * models live for the whole session, as in an editor left open.
 *
 * What the user does:
 * - a `completion` line is a keystroke through the completion pipeline (src/core/completion), as in
 *   the editor: it supersedes the previous keystroke's request in the document; a suggestion shown
 *   is sometimes accepted (ACCEPT_CHANCE), sometimes dismissed (DISMISS_CHANCE), and the feedback
 *   goes to the router as the editor's does; now and then the request is cancelled with no newer
 *   keystroke (ESCAPE_CHANCE: Escape, the cursor moved away);
 * - a focus event shows a document before its first keystroke (the pipeline's read-ahead);
 * - explain, edit and refactor plan lines are chat requests, some cancelled part-way
 *   (CHAT_CANCEL_CHANCE: the panel closed);
 * - embed lines are one sequential indexing stream (the next batch goes when the previous settles),
 *   in the embedding space the session was warmed up in; search queries, some superseded by the
 *   user typing on (QUERY_CANCEL_CHANCE).
 * Between epochs every document of the last one is closed (`CompletionPipeline.forget`) and opened
 * again by the next: documents keep their names, so the text generated for them stays bounded.
 *
 * Invariant: every promise the session makes is tracked by the ledger (counted once, settled
 * once); lines not yet started when the session stops are never made into requests.
 * Units: ms on the session's clock.
 */
import type { Clock, TimerHandle } from '../../src/core/clock';
import type { TokenCounter } from '../../src/core/completion/context';
import { CompletionPipeline, type CompletionPipelineSettings, type CompletionSuggestion } from '../../src/core/completion/pipeline';
import { SupersededError, abortError } from '../../src/core/errors';
import type { Router } from '../../src/core/tasks';
import type { Rng } from '../lib/rng';
import { TaskBuilder, TraceDocuments } from '../replay/text';
import type { Trace, TraceLine } from '../workload/trace';
import { promiseOf, type SettleLedger } from './ledger';

/** Chances per shown suggestion that the user accepts it, or dismisses it (Escape). */
export const ACCEPT_CHANCE = 0.2;
export const DISMISS_CHANCE = 0.1;
/** Chance per keystroke that its request is cancelled within ESCAPE_WITHIN_MS with no newer keystroke. */
export const ESCAPE_CHANCE = 0.05;
const ESCAPE_WITHIN_MS = 400;
/** Chance per chat that the user closes its panel within CHAT_CANCEL_WITHIN_MS. */
export const CHAT_CANCEL_CHANCE = 0.25;
const CHAT_CANCEL_WITHIN_MS = 2_000;
/** Chance per search query that a newer query supersedes it within QUERY_CANCEL_WITHIN_MS. */
export const QUERY_CANCEL_CHANCE = 0.3;
const QUERY_CANCEL_WITHIN_MS = 200;

export interface SessionDeps {
    readonly router: Router;
    readonly clock: Clock;
    readonly ledger: SettleLedger;
    /** The session's user: acceptances, cancellations and their delays. */
    readonly rng: Rng;
    /** Tokens the models' tokenizer spends per synthetic word (`calibrate`). */
    readonly tokensPerWord: number;
    /** The completion windows' token counter. */
    readonly countTokens: TokenCounter;
    readonly completion: CompletionPipelineSettings;
    /** The embedding space the index is bound to (undefined: the first one the router gives). */
    readonly space: string | undefined;
}

export class SoakSession {
    readonly pipeline: CompletionPipeline;
    private documents: TraceDocuments;
    private builder: TaskBuilder;
    /** Per document: the controller of its latest keystroke's request (removed when that settles). */
    private readonly latestByDoc = new Map<string, AbortController>();
    /** Timers of lines (and focus events) scheduled and not yet run. */
    private readonly scheduled = new Set<TimerHandle>();
    /** Embed lines started and waiting for the stream; never requests until submitted. */
    private embedQueue: TraceLine[] = [];
    private embedInFlight = false;
    private openDocs = new Set<string>();
    private stopped = false;

    constructor(private readonly deps: SessionDeps) {
        // The pipeline's feedback goes to the router, as the editor's does.
        this.pipeline = new CompletionPipeline({ router: deps.router, clock: deps.clock, countTokens: deps.countTokens });
        this.documents = new TraceDocuments(deps.tokensPerWord);
        this.builder = new TaskBuilder(deps.tokensPerWord);
    }

    /** Embed lines waiting for the indexing stream. */
    get embedBacklog(): number {
        return this.embedQueue.length;
    }

    /**
     * Plays `trace` from now: resolves once its last line has started, or once `endAt` (clock time)
     * comes or `stop()` is called, whichever is first; lines due after that are never started.
     * Requests it made may still be running.
     */
    play(trace: Trace, endAt: number): Promise<void> {
        if (this.stopped) return Promise.resolve();
        const { clock } = this.deps;
        for (const doc of this.openDocs) this.pipeline.forget(doc);
        this.openDocs = new Set(trace.lines.filter((l) => l.kind === 'completion').map((l) => l.doc));
        this.documents = new TraceDocuments(this.deps.tokensPerWord);
        this.builder = new TaskBuilder(this.deps.tokensPerWord);
        const t0 = clock.now();
        const documents = this.documents;
        return new Promise((resolve) => {
            const at = (t: number, fn: () => void): void => {
                if (t0 + t >= endAt) return;
                const h = clock.setTimeout(() => {
                    this.scheduled.delete(h);
                    if (!this.stopped) fn();
                }, t);
                this.scheduled.add(h);
            };
            for (const line of trace.lines) at(line.t, () => this.start(line, documents));
            // After the lines, so a focus at the same ms as another document's line runs after it.
            for (const f of trace.focus ?? []) {
                const line = trace.lines[f.line];
                if (line?.kind !== 'completion') continue;
                at(f.t, () => {
                    const where = documents.beforeKeystroke(line);
                    this.pipeline.cursorRested(() => where, () => this.deps.completion);
                });
            }
            const lastT = trace.lines.length > 0 ? trace.lines[trace.lines.length - 1].t : 0;
            const done = clock.setTimeout(
                () => {
                    this.scheduled.delete(done);
                    resolve();
                },
                Math.min(lastT + 1, Math.max(0, endAt - t0)),
            );
            this.scheduled.add(done);
            this.onStop = () => resolve();
        });
    }

    private onStop: (() => void) | undefined;

    /** No more lines start: scheduled ones are dropped, the indexing stream's queue emptied. Requests running go on. */
    stop(): void {
        this.stopped = true;
        for (const h of this.scheduled) this.deps.clock.clearTimeout(h);
        this.scheduled.clear();
        this.embedQueue = [];
        this.pipeline.cancelReadAhead();
        this.onStop?.();
    }

    dispose(): void {
        this.stop();
        this.pipeline.dispose();
    }

    private start(line: TraceLine, documents: TraceDocuments): void {
        switch (line.kind) {
            case 'completion':
                this.keystroke(line, documents);
                break;
            case 'edit':
            case 'explain':
            case 'refactorPlan':
                this.cancellable(line.kind, CHAT_CANCEL_CHANCE, CHAT_CANCEL_WITHIN_MS, 'the panel was closed', (signal) => this.deps.router.submit(this.builder.chat(line), signal));
                break;
            case 'embedQuery':
                this.cancellable('embedQuery', QUERY_CANCEL_CHANCE, QUERY_CANCEL_WITHIN_MS, 'a newer search query', (signal) =>
                    this.deps.router.submit({ ...this.builder.embed(line), space: this.deps.space }, signal),
                );
                break;
            case 'embed':
                this.embedQueue.push(line);
                this.pumpEmbeds();
                break;
        }
    }

    private keystroke(line: TraceLine, documents: TraceDocuments): void {
        const { rng, clock, ledger } = this.deps;
        this.latestByDoc.get(line.doc)?.abort(new SupersededError(line.doc));
        const ac = new AbortController();
        this.latestByDoc.set(line.doc, ac);
        this.pipeline.keystroke(line.doc);
        const at = documents.keystroke(line);
        let escape: TimerHandle | undefined;
        if (rng.chance(ESCAPE_CHANCE)) escape = clock.setTimeout(() => ac.abort(abortError('escape')), rng.uniform(0, ESCAPE_WITHIN_MS));
        const p = promiseOf(() => this.pipeline.suggest(at, { ...this.deps.completion, maxTokens: line.maxTokens }, ac.signal));
        void ledger.track<CompletionSuggestion | undefined>('completion', p).then((r) => {
            clock.clearTimeout(escape);
            if (this.latestByDoc.get(line.doc) === ac) this.latestByDoc.delete(line.doc);
            if (!r.ok || r.value === undefined || this.stopped) return;
            // Judged only while it is still what the editor shows (no newer keystroke in the document).
            if (ac.signal.aborted || this.latestByDoc.has(line.doc)) return;
            const u = rng.next();
            if (u < ACCEPT_CHANCE) this.pipeline.accepted(r.value.feedbackId);
            else if (u < ACCEPT_CHANCE + DISMISS_CHANCE) this.pipeline.dismiss();
        });
    }

    /** A request the user may cancel: with `chance`, aborted after up to `withinMs` with `why`. */
    private cancellable(kind: string, chance: number, withinMs: number, why: string, submit: (signal: AbortSignal) => Promise<unknown>): void {
        const { rng, clock, ledger } = this.deps;
        const ac = new AbortController();
        let timer: TimerHandle | undefined;
        if (rng.chance(chance)) timer = clock.setTimeout(() => ac.abort(abortError(why)), rng.uniform(0, withinMs));
        void ledger.track(kind, promiseOf(() => submit(ac.signal))).then(() => clock.clearTimeout(timer));
    }

    private pumpEmbeds(): void {
        if (this.embedInFlight) return;
        const line = this.embedQueue.shift();
        if (!line) return;
        this.embedInFlight = true;
        const task = { ...this.builder.embed(line), space: this.deps.space };
        void this.deps.ledger.track('embed', promiseOf(() => this.deps.router.submit(task))).then(() => {
            this.embedInFlight = false;
            this.pumpEmbeds();
        });
    }
}
