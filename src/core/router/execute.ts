/**
 * Execution: one backend call per start of a job (a completion's generate, a chat, or one batch of
 * an embedding task), what the router learns from it (speeds, prompt sizes, which prefix the model
 * now holds), and the bookkeeping when it returns: the slot, the pauses, the next batch or the
 * outcome, then the model's queue, pauses and residency move on.
 *
 * Ordering rule when a call returns: its slot and gate are released first; the task's outcome is
 * settled (or its next batch queued, or it is retried elsewhere); then the model's queue is pumped,
 * and only after that is a pause this completion imposed released, so that a completion which
 * superseded it takes the pause over instead of letting held work start at its keystroke.
 * Units: ms (clock), tokens.
 */
import type { GenerationResult } from '../backend';
import type { Clock } from '../clock';
import { StalledError, abortError, errorMessage } from '../errors';
import type { WaitState } from '../scheduling';
import type { RouterLogger } from '../tasks';
import type { Admission } from './admission';
import type { RouterConfig } from './config';
import type { Dispatcher } from './dispatch';
import { type Job, type ModelEntry, isEmbedTask } from './state';
import type { PauseController } from './pauses';
import type { Residency } from './residency';
import { jobTag, runningWait } from './snapshot';
import type { SpeedBook } from './speeds';
import { REMOTE_CHECK_MS, REMOTE_LOAD_FRESH_MS, REMOTE_MIN_SILENCE_MS, REMOTE_TRICKLE_FACTOR, STALL_FACTOR, STALL_MIN_MS } from './tuning';

/**
 * The remote watchdog gave up on a call to a remote engine (see REMOTE_MIN_SILENCE_MS): no first
 * token by its limit, or a trickle far slower than predicted past it. `reason` is the cooldown's
 * reason in words.
 */
export class RemoteStalledError extends StalledError {
    constructor(
        modelId: string,
        silentMs: number,
        detail: string,
        readonly reason: string,
    ) {
        super(modelId, silentMs, detail);
    }
}

/** What the router does with a job's outcome (router.ts). */
export interface JobOutcomes {
    /** The job is done: its result is resolved. */
    finish(job: Job, m: ModelEntry, text: string | undefined, vectors: number[][] | undefined): void;
    /** A backend error (not an abort) on `m`: cooldown, and a retry elsewhere. */
    failed(job: Job, m: ModelEntry, error: unknown): void;
    /**
     * The watchdog gave up on `job`'s call on `m`: cooldown, and a retry elsewhere (or, for a job
     * cancelled meanwhile, settlement with its cancellation).
     */
    stalled(job: Job, m: ModelEntry, error: StalledError): void;
    /** Settles with `error` (an abort's reason). */
    settle(job: Job, error: unknown): void;
    /** Routes the job again (the rest of an embedding task whose model is being removed). */
    reroute(job: Job): void;
}

export interface ExecuteDeps {
    readonly clock: Clock;
    readonly config: () => RouterConfig;
    readonly admission: Admission;
    readonly speeds: SpeedBook;
    readonly pauses: PauseController;
    readonly dispatcher: () => Dispatcher;
    readonly residency: Residency;
    readonly outcomes: JobOutcomes;
    readonly disposed: () => boolean;
    readonly emit: () => void;
    readonly logger: RouterLogger | undefined;
    /** The shared evaluation thread's waits, when models take turns on one (see RouterDeps.turns). */
    readonly turns: () => WaitState | undefined;
}

export class Executor {
    constructor(private readonly deps: ExecuteDeps) {}

    async run(job: Job, m: ModelEntry): Promise<void> {
        const { clock, pauses, outcomes } = this.deps;
        const cfg = this.deps.config();
        const backend = m.backend;
        const t = job.task;
        const signal = job.signal;
        const callStart = clock.now();
        let gen: GenerationResult | undefined;
        let vectors: number[][] | undefined;
        let batch = 0;
        let error: unknown;
        let ok = false;
        // pauseOthers (zeta): on an evaluation thread shared by several models, native calls go by
        // task priority (EvalTurns); baselines leave them in arrival order.
        const priority = cfg.on('pauseOthers') ? job.priority : undefined;
        // The schedulers below (sequence pool, evaluation turns) name this call as the router does.
        const tag = jobTag(job, m.id);
        let stalled: StalledError | undefined;
        job.tokensSeen = 0;
        job.callFirstTokenAt = undefined;
        // A remote engine with no slot free for this call holds it in its queue first: its first
        // token then measures that queue, not this model's prefill speed, and is not learned.
        const engineQueued = m.remote && engineFull(m);
        try {
            if (t.kind === 'completion') {
                // The model's sequence for this document holds a prefix of this prompt from its first
                // chunk on, even if the call is aborted before its first token (a keystroke
                // superseding a cold read); what the backend says it holds (`cachedTokens`) bounds
                // the reuse these texts predict.
                m.rememberDoc(t.doc, m.fimTexts(t), job.promptTokens);
                gen = await this.watched(job, m, (callSignal) =>
                    backend.generate(
                        {
                            mode: 'fim',
                            prefix: t.prefix,
                            suffix: t.suffix,
                            middle: t.middle,
                            maxTokens: t.maxTokens,
                            stop: t.stop,
                            cacheKey: t.doc,
                            gate: job.gate,
                            onToken: (s) => this.onToken(job, s),
                            priority,
                            tag,
                        },
                        callSignal,
                    ),
                );
            } else if (isEmbedTask(t)) {
                batch = t.kind === 'embed' ? Math.min(cfg.embedBatch, t.texts.length - job.textsDone) : t.texts.length - job.textsDone;
                const texts = batch === t.texts.length ? t.texts : t.texts.slice(job.textsDone, job.textsDone + batch);
                vectors = await this.watched(job, m, (callSignal) => backend.embed(texts, callSignal, priority, tag), batch);
            } else {
                gen = await this.watched(job, m, (callSignal) =>
                    backend.chat({ messages: t.messages, maxTokens: t.maxTokens, gate: job.gate, onToken: (s) => this.onToken(job, s), priority, tag }, callSignal),
                );
            }
            ok = true;
        } catch (e) {
            error = e;
            if (e instanceof StalledError && e.modelId === m.id) stalled = e;
        }
        const now = clock.now();
        const ri = m.running.indexOf(job);
        if (ri >= 0) m.running.splice(ri, 1);
        m.speed.markBusy(now, m.running.length);
        m.lastUsedAt = now;
        const heldPause = pauses.callEnded(job);
        if (ok && job.state === 'running' && !signal.aborted) {
            if (gen && !isEmbedTask(t)) {
                this.learnFromGeneration(job, m, gen, engineQueued);
                outcomes.finish(job, m, gen.text, undefined);
            } else if (vectors && isEmbedTask(t)) {
                m.speed.observeEmbed(batch, now - callStart, t.texts.length > 0 ? (job.promptTokens * batch) / t.texts.length : undefined);
                this.deps.speeds.observed(m);
                if (job.firstTokenAt === undefined) job.firstTokenAt = now;
                if (!job.vectors) job.vectors = [];
                for (const v of vectors) job.vectors.push(v);
                job.textsDone += batch;
                try {
                    t.onProgress?.(job.textsDone, t.texts.length);
                } catch (e) {
                    this.deps.logger?.warn(`onProgress listener threw: ${errorMessage(e)}`);
                }
                if (job.textsDone < t.texts.length && m.retired) {
                    // Its model is being removed: the rest goes to another model of the same space, if any.
                    job.state = 'holding';
                    job.model = undefined;
                    outcomes.reroute(job);
                } else if (job.textsDone < t.texts.length) {
                    this.deps.dispatcher().requeueBatch(job, m, t.texts.length - job.textsDone);
                } else outcomes.finish(job, m, undefined, job.vectors);
            }
        } else if (job.state !== 'done') {
            if (stalled && !this.deps.disposed()) outcomes.stalled(job, m, stalled);
            else if (signal.aborted || this.deps.disposed()) outcomes.settle(job, signal.aborted ? signal.reason : abortError('router disposed'));
            else outcomes.failed(job, m, error);
        }
        if (m.running.length === 0) m.onIdle?.();
        this.deps.dispatcher().pump(m);
        if (heldPause) pauses.release(m);
        this.deps.residency.afterWork(m);
        this.deps.emit();
    }

    /** Speeds, prompt sizes and the document's prefix, from a finished generation. */
    private learnFromGeneration(job: Job, m: ModelEntry, gen: GenerationResult, engineQueued: boolean): void {
        const t = job.task;
        if (isEmbedTask(t)) return;
        // Speeds are learned without the time spent paused at the gate (before and after the first token).
        const before = job.pausedBeforeFirstMs;
        const ftt = gen.firstTokenMs === undefined || engineQueued ? undefined : Math.max(0, gen.firstTokenMs - before);
        if (!engineQueued) m.speed.observeCall(Math.max(0, gen.totalMs - job.gate.pausedMs));
        m.speed.observeGeneration(gen.evaluatedPromptTokens, ftt, gen.generatedTokens, Math.max(0, gen.totalMs - (gen.firstTokenMs ?? 0) - (job.gate.pausedMs - before)));
        // A call that only reads a prompt (a background read) measures the prefill alone.
        if (ftt === undefined && t.maxTokens === 0) m.speed.observePrefill(gen.evaluatedPromptTokens, Math.max(0, gen.totalMs - job.gate.pausedMs));
        this.deps.speeds.observed(m);
        this.deps.admission.learn(job, gen);
        if (t.kind === 'completion') m.rememberDoc(t.doc, m.fimTexts(t), gen.promptTokens);
        job.promptTokensResult += gen.promptTokens;
        job.reusedTokensResult += gen.reusedPromptTokens;
        job.generatedTokensResult += gen.generatedTokens;
    }

    /**
     * Runs one backend call under the watchdog. The call gets its own signal, aborted when the job is
     * cancelled or when the watchdog finds the call stalled (see STALL_FACTOR): no progress
     * (`progress`) for `stallMs` while nothing it is known to wait for holds it (`runningWait`).
     * The check runs every `stallMs`, so a stall is found within twice that after the last
     * progress. A stalled call is given up on at once: the returned promise rejects with a
     * StalledError even if the backend never settles, and until the backend's promise settles the
     * call counts as an abandoned slot of `m` (`ModelEntry.abandoned`). A call cancelled with its
     * job stays watched: a backend that does not stop is given up on the same way.
     */
    private watched<T>(job: Job, m: ModelEntry, start: (signal: AbortSignal) => Promise<T>, embedTexts?: number): Promise<T> {
        const { clock } = this.deps;
        const call = new AbortController();
        const forward = (): void => call.abort(job.signal.reason);
        if (job.signal.aborted) forward();
        else job.signal.addEventListener('abort', forward, { once: true });
        let running: Promise<T>;
        try {
            running = start(call.signal);
        } catch (e) {
            job.signal.removeEventListener('abort', forward);
            return Promise.reject(e);
        }
        let ended = false;
        let giveUp: (e: StalledError) => void = () => undefined;
        const gaveUp = new Promise<never>((_, reject) => {
            giveUp = reject;
        });
        let seen = progress(job);
        let quietSince = clock.now();
        const stopWatching = (): void => {
            job.signal.removeEventListener('abort', forward);
            if (job.watchdog !== undefined) clock.clearTimeout(job.watchdog);
            job.watchdog = undefined;
            if (job.remoteWatch !== undefined) clock.clearTimeout(job.remoteWatch);
            job.remoteWatch = undefined;
        };
        const abandon = (error: StalledError): void => {
            ended = true;
            stopWatching();
            m.abandoned++;
            const returned = (): void => {
                m.abandoned--;
                this.deps.dispatcher().pump(m);
                this.deps.emit();
            };
            running.then(returned, returned);
            call.abort(error);
            giveUp(error);
        };
        const check = (): void => {
            job.watchdog = undefined;
            if (ended) return;
            const now = clock.now();
            const p = progress(job);
            // Progress, or a wait the router knows of (paused at its gate, its turn on the shared
            // thread, a sequence of its model): not a stall; the silence is counted from now.
            // On a remote engine, a call with no token yet while the engine's fresh report shows it
            // full (other clients' work running or queued) is waiting in the engine's queue, as an
            // editor's request would: the remote rule (its objective) judges it, not this one.
            if (p !== seen || runningWait(job, m, this.deps.turns()) !== undefined || queuedInEngine(job, m, now)) {
                seen = p;
                quietSince = now;
                arm();
                return;
            }
            abandon(new StalledError(m.id, now - quietSince, stallDetail(job, m, now - quietSince, embedTexts)));
        };
        const arm = (): void => {
            job.watchdog = clock.setTimeout(check, stallMs(job, m, embedTexts));
        };
        arm();
        // The remote rule (REMOTE_MIN_SILENCE_MS), beside the local one: an interactive call on a
        // remote engine has its first token by `limit` and then streams at a useful rate. A
        // background read (a prompt read nobody waits for) is left to the local rule.
        if (m.remote && job.kind !== 'embed' && !job.backgroundRead) {
            const started = clock.now();
            // Until the model's speed for this call is measured its predictions are priors: a
            // healthy engine slower than them is not to be taken for a dead one.
            const measured = isEmbedTask(job.task) ? m.speed.embedMeasured : m.speed.prefillMeasured;
            const limit = Math.max(job.deadlineAt, job.predictedFirstAt, started + (measured ? REMOTE_MIN_SILENCE_MS : STALL_MIN_MS));
            const remoteCheck = (): void => {
                job.remoteWatch = undefined;
                if (ended) return;
                const now = clock.now();
                // A cancelled call is the local rule's (it must stop; it need not answer).
                const e = job.signal.aborted ? undefined : remoteStall(job, m, now, started, limit);
                if (e) abandon(e);
                else job.remoteWatch = clock.setTimeout(remoteCheck, Math.max(REMOTE_CHECK_MS, limit - now));
            };
            if (Number.isFinite(limit)) job.remoteWatch = clock.setTimeout(remoteCheck, Math.max(0, limit - started));
        }
        const end = (): void => {
            if (ended) return;
            ended = true;
            stopWatching();
        };
        running.then(end, end);
        return Promise.race([running, gaveUp]);
    }

    private onToken(job: Job, text: string): void {
        if (job.state !== 'running') return;
        job.tokensSeen++;
        if (job.callFirstTokenAt === undefined) job.callFirstTokenAt = this.deps.clock.now();
        if (job.firstTokenAt === undefined) {
            job.firstTokenAt = this.deps.clock.now();
            job.pausedBeforeFirstMs = job.gate.pausedMs;
            this.deps.pauses.firstToken(job, Math.max(0, job.genTokens - 1) * (job.model?.speed.decodeMsPerToken ?? 0));
        }
        const listener = isEmbedTask(job.task) ? undefined : job.task.onToken;
        if (!listener) return;
        try {
            listener(text);
        } catch (e) {
            this.deps.logger?.warn(`onToken listener of task ${job.id} threw: ${errorMessage(e)}`);
        }
    }
}

/** A running call's progress so far: tokens streamed and questions to its gate (one per native call). */
function progress(job: Job): number {
    return job.tokensSeen + job.gate.asked;
}

/**
 * The silence (ms) after which the current call of `job` on `m` counts as stalled: STALL_FACTOR
 * times the gap `m`'s measured speeds predict before its next progress, and at least STALL_MIN_MS.
 * The gap: for an embedding call of `embedTexts` texts (which shows no progress until it returns),
 * the whole call; before the first token, the predicted time to it once started (`job.firstMs`);
 * after it, one decode step.
 */
export function stallMs(job: Job, m: ModelEntry, embedTexts?: number): number {
    const gap = expectedGapMs(job, m, embedTexts);
    return Math.max(STALL_MIN_MS, STALL_FACTOR * (Number.isFinite(gap) ? gap : 0));
}

function expectedGapMs(job: Job, m: ModelEntry, embedTexts: number | undefined): number {
    if (embedTexts !== undefined) return embedTexts * m.speed.embedMsPerText;
    return job.tokensSeen === 0 ? job.firstMs : m.speed.decodeMsPerToken;
}

function stallDetail(job: Job, m: ModelEntry, silentMs: number, embedTexts: number | undefined): string {
    const gap = Math.round(expectedGapMs(job, m, embedTexts));
    const expected =
        embedTexts !== undefined ? `${embedTexts} vector(s) within ~${gap} ms` : job.tokensSeen === 0 ? `its first token within ~${gap} ms` : `a token every ~${gap} ms`;
    const what = job.signal.aborted ? `its ${job.kind} call did not stop after it was cancelled` : `its ${job.kind} call made no progress`;
    return `${what} for ${Math.round(silentMs)} ms (its measured speed predicted ${expected})`;
}

/**
 * The remote rule (see REMOTE_MIN_SILENCE_MS) for `job`'s call on `m`, started at `started`, at
 * `now` (clock ms): a RemoteStalledError when it gives up, else undefined. Before `limit`, never.
 */
function remoteStall(job: Job, m: ModelEntry, now: number, started: number, limit: number): RemoteStalledError | undefined {
    if (now < limit) return undefined;
    const objective = Math.round(limit - job.submittedAt);
    if (job.tokensSeen === 0) {
        const what = isEmbedTask(job.task) ? 'no vectors' : 'no first token';
        return new RemoteStalledError(
            m.id,
            now - started,
            `its ${job.kind} call on the remote engine gave ${what} within ${objective} ms of the task's submission (its objective, or the later first token its decision predicted), ${Math.round(now - started)} ms after the call began`,
            `${m.id} not answering (${what} within ${objective} ms): cooling down`,
        );
    }
    // A trickle is judged against a measured decode speed only (a prior may be far off).
    if (!m.speed.decodeMeasured) return undefined;
    const firstAt = job.callFirstTokenAt ?? started;
    const streamMs = now - firstAt;
    const predicted = streamMs / Math.max(1e-3, m.speed.decodeMsPerToken);
    const got = job.tokensSeen - 1;
    if (got * REMOTE_TRICKLE_FACTOR >= predicted) return undefined;
    return new RemoteStalledError(
        m.id,
        streamMs,
        `its ${job.kind} call on the remote engine trickles: ${got} token(s) in ${Math.round(streamMs)} ms after its first, where its measured speed predicts ~${Math.round(predicted)}`,
        `${m.id} too slow (a trickle: ${got} token(s) in ${Math.round(streamMs)} ms): cooling down`,
    );
}

/**
 * Whether `job`'s call is waiting in `m`'s remote engine's own queue: no token yet, and a report no
 * older than REMOTE_LOAD_FRESH_MS from a reachable engine shows no slot free for it. A stale report
 * (an engine that stopped answering its polls) is no excuse: the local rule applies again.
 */
function queuedInEngine(job: Job, m: ModelEntry, now: number): boolean {
    if (!m.remote || job.tokensSeen > 0) return false;
    const rl = m.backend.remoteLoad?.();
    return rl !== undefined && rl.reachable && rl.at !== undefined && now - rl.at <= REMOTE_LOAD_FRESH_MS && engineFull(m);
}

/** Whether `m`'s engine, at its latest load report, has no slot free for one more call of ours. */
function engineFull(m: ModelEntry): boolean {
    const rl = m.backend.remoteLoad?.();
    if (rl === undefined || rl.at === undefined) return false;
    const slots = rl.slots ?? m.slots;
    // Other clients' requests (running or queued) plus our running calls (this one included).
    const others = Math.max(0, rl.slotsBusy + rl.deferred - rl.ownInFlight);
    return others + m.running.length > slots;
}
