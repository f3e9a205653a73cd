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
import { abortError, errorMessage } from '../errors';
import type { RouterLogger } from '../tasks';
import type { Admission } from './admission';
import type { RouterConfig } from './config';
import type { Dispatcher } from './dispatch';
import { type Job, type ModelEntry, isEmbedTask } from './state';
import type { PauseController } from './pauses';
import type { Residency } from './residency';
import { jobTag } from './snapshot';
import type { SpeedBook } from './speeds';

/** What the router does with a job's outcome (router.ts). */
export interface JobOutcomes {
    /** The job is done: its result is resolved. */
    finish(job: Job, m: ModelEntry, text: string | undefined, vectors: number[][] | undefined): void;
    /** A backend error (not an abort) on `m`: cooldown, and a retry elsewhere. */
    failed(job: Job, m: ModelEntry, error: unknown): void;
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
        try {
            if (t.kind === 'completion') {
                // The model's sequence for this document holds a prefix of this prompt from its first
                // chunk on, even if the call is aborted before its first token (a keystroke
                // superseding a cold read); what the backend says it holds (`cachedTokens`) bounds
                // the reuse these texts predict.
                m.rememberDoc(t.doc, m.fimTexts(t), job.promptTokens);
                gen = await backend.generate(
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
                    signal,
                );
            } else if (isEmbedTask(t)) {
                batch = t.kind === 'embed' ? Math.min(cfg.embedBatch, t.texts.length - job.textsDone) : t.texts.length - job.textsDone;
                const texts = batch === t.texts.length ? t.texts : t.texts.slice(job.textsDone, job.textsDone + batch);
                vectors = await backend.embed(texts, signal, priority, tag);
            } else {
                gen = await backend.chat({ messages: t.messages, maxTokens: t.maxTokens, gate: job.gate, onToken: (s) => this.onToken(job, s), priority, tag }, signal);
            }
            ok = true;
        } catch (e) {
            error = e;
        }
        const now = clock.now();
        const ri = m.running.indexOf(job);
        if (ri >= 0) m.running.splice(ri, 1);
        m.speed.markBusy(now, m.running.length);
        m.lastUsedAt = now;
        const heldPause = pauses.callEnded(job);
        if (ok && job.state === 'running' && !signal.aborted) {
            if (gen && !isEmbedTask(t)) {
                this.learnFromGeneration(job, m, gen);
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
            if (signal.aborted || this.deps.disposed()) outcomes.settle(job, signal.aborted ? signal.reason : abortError('router disposed'));
            else outcomes.failed(job, m, error);
        }
        if (m.running.length === 0) m.onIdle?.();
        this.deps.dispatcher().pump(m);
        if (heldPause) pauses.release(m);
        this.deps.residency.afterWork(m);
        this.deps.emit();
    }

    /** Speeds, prompt sizes and the document's prefix, from a finished generation. */
    private learnFromGeneration(job: Job, m: ModelEntry, gen: GenerationResult): void {
        const t = job.task;
        if (isEmbedTask(t)) return;
        // Speeds are learned without the time spent paused at the gate (before and after the first token).
        const before = job.pausedBeforeFirstMs;
        const ftt = gen.firstTokenMs === undefined ? undefined : Math.max(0, gen.firstTokenMs - before);
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

    private onToken(job: Job, text: string): void {
        if (job.state !== 'running') return;
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
