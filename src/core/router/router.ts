/**
 * The router: admission (supersession, hold-start), routing decisions, per-model queues and slot
 * dispatch, cross-model pausing, deadlines, cooldown and retry, residency under a memory budget,
 * forecasting, feedback, snapshot and events.
 *
 * Time comes only from `deps.clock`. Units: ms, tokens, bytes.
 *
 * Invariants:
 * - Every submitted task settles exactly once (`settle`), whatever happens: superseded, cancelled,
 *   dropped, failed, disposed.
 * - A job is in at most one place: holding (a timer), one model's queue, or one model's `running`.
 * - `m.running.length <= m.slots`; dispatch happens only on loaded models.
 * - At most one model loads at a time (`this.loading`).
 * - No timer is left armed when nothing is queued, running, held, loading or unsaved, except
 *   keep-alive timers of idle models while memory is short.
 */
import type { GenerationResult, ModelBackend, ModelInfo, ModelSpec } from '../backend';
import type { Clock, TimerHandle } from '../clock';
import { DeadlineError, NoCapableModelError, QueueFullError, SupersededError, abortError, errorMessage } from '../errors';
import {
    TASK_KINDS,
    type ActivitySignal,
    type Disposable,
    type DecisionRecord,
    type Feedback,
    type TextStore,
    type ModelSnapshot,
    type Router,
    type RouterDeps,
    type RouterLogger,
    type RouterSnapshot,
    type RoutingSettings,
    type CompletionTask,
    type Task,
    type TaskKind,
    type TaskResult,
} from '../tasks';
import { Candidate, DecisionRecordImpl } from './decision';
import { predict, type EstimateInputs } from './estimator';
import { FeedbackModel } from './feedback';
import { CADENCE_MIN_SAMPLES, Forecaster } from './forecast';
import { Job, isEmbedTask } from './job';
import { choose, type Choice } from './policies';
import { DebouncedSave, loadStored } from './persist';
import { ModelEntry } from './modelEntry';
import { SpeedMemory, parseSpeeds, speedKey } from './speeds';
import { PREFERRED_ROLE, QUALITY_WEIGHT } from './defaults';
import { COLD_PROMPT_REUSE, COLD_START_MIN_GAIN_MS, COLD_START_MIN_QUALITY, COLD_START_RATIO, FEEDBACK_SAVE_DEBOUNCE_MS, HEADROOM_CONFIDENCE, HEADROOM_CONFIDENCE_GPU, HOLD_BANK_MAX_MS, MAX_HOLD_SHARE, PAUSE_TO_END_MAX_MS, PREDICTIVE_PAUSE_CONFIDENCE, PREDICTIVE_PAUSE_STEP_MS, PREDICTIVE_PAUSE_STEPS, READ_AHEAD_MIN_GPU_MS, READ_AHEAD_MIN_TOKENS, RECENT_DECISIONS, STARVATION_MS, TYPING_CHUNK_MIN_TOKENS, TYPING_CHUNK_MS } from './tuning';

const NK = TASK_KINDS.length;
const CLASS_INDEX: Readonly<Record<TaskKind, number>> = Object.fromEntries(TASK_KINDS.map((k, i) => [k, i])) as Record<TaskKind, number>;
/** Prompts up to this many characters are counted exactly with the backend's tokenizer. */
const EXACT_COUNT_CHARS = 4096;
/** FIM control tokens around prefix and suffix. */
const FIM_OVERHEAD_TOKENS = 3;
/** Chat template tokens per message (role markers). */
const CHAT_OVERHEAD_TOKENS = 4;

/** The router plus a dry-run decision, for the benchmark's decision-cost measurement. */
export interface ZetaRouter extends Router {
    /** Makes the routing decision `submit` would make now, without queuing anything. */
    decide(task: Task): DecisionRecord;
}

export class RouterImpl implements ZetaRouter {
    private settings: RoutingSettings;
    private models: ModelEntry[] = [];
    private readonly byId = new Map<string, ModelEntry>();
    /** Per task class: index into `models` of the kind's fixed model, or -1. */
    private preferredIdx = new Int32Array(NK).fill(-1);
    private readonly priorities = new Float64Array(NK);
    private readonly rrCursor = new Int32Array(NK);
    /** Expected generated tokens as a share of maxTokens, per task class (EWMA). */
    private readonly genRatio = new Float64Array(NK).fill(1);
    private tokensPerChar = 0.25;
    private readonly clock: Clock;
    private readonly createBackend: (spec: ModelSpec) => ModelBackend;
    private readonly logger: RouterLogger | undefined;
    private readonly store: TextStore | undefined;
    private readonly listeners = new Set<() => void>();
    /** Unsettled completions per document, oldest first. */
    private readonly docJobs = new Map<string, Job[]>();
    private readonly live = new Set<Job>();
    private readonly executing = new Set<Promise<void>>();
    private readonly recent: DecisionRecordImpl[] = [];
    private readonly forecaster = new Forecaster();
    private readonly feedbackModel = new FeedbackModel();
    private nextId = 1;
    private ready: Promise<void>;
    private isReady = false;
    private disposed = false;
    private loading: ModelEntry | undefined;
    private loadingPromise: Promise<void> | undefined;
    private readonly loadController = new AbortController();
    /** Completions in their prefill/first-token phase; while > 0, `pausedJobs` are held. */
    private pausers = 0;
    private readonly pausedJobs: Job[] = [];
    private pauseTimer: TimerHandle | undefined;
    /** The predicted-keystroke pause's timer (armPredictivePause): to its start, then to its end. */
    private predictiveTimer: TimerHandle | undefined;
    /** The latest read-ahead (`readAhead`), until it settles or a completion replaces it. */
    private readAheadJob: Job | undefined;
    private readonly feedbackSave: DebouncedSave | undefined;
    /** Speeds learned in earlier sessions and this one, per model identity (`speedKey`). */
    private readonly speeds = new SpeedMemory();
    private readonly speedStore: TextStore | undefined;
    private readonly speedSave: DebouncedSave | undefined;
    private readonly choice: Choice = { index: -1, code: 'none' };
    /** Parameters of `skipFn` for the pump in progress. */
    private skipBackground = false;
    private skipBelow = Number.NEGATIVE_INFINITY;
    private readonly skipFn = (j: Job): boolean => (this.skipBackground && j.isBackground) || j.priority < this.skipBelow;
    private readonly inputs: { -readonly [K in keyof EstimateInputs]: EstimateInputs[K] };

    constructor(deps: RouterDeps) {
        this.clock = deps.clock;
        this.createBackend = deps.createBackend;
        this.logger = deps.logger;
        this.store = deps.feedbackStore;
        this.feedbackSave = deps.feedbackStore && new DebouncedSave(deps.clock, deps.feedbackStore, () => this.feedbackModel.serialize(), FEEDBACK_SAVE_DEBOUNCE_MS, 'feedback', deps.logger);
        this.speedStore = deps.speedStore;
        this.speedSave = deps.speedStore && new DebouncedSave(deps.clock, deps.speedStore, () => this.speeds.serialize(), FEEDBACK_SAVE_DEBOUNCE_MS, 'speeds', deps.logger);
        this.settings = deps.settings;
        this.inputs = { now: 0, fifo: false, priorities: this.priorities, affinity: true, embedBatch: 8, loadBusyMs: 0, tokensPerChar: 0.25 };
        this.applySettings(deps.settings);
        for (const spec of deps.models) this.addModel(spec);
        this.recomputePreferred();
        this.ready = this.init(this.models.slice());
    }

    // ---------------------------------------------------------------- public API

    submit(task: Task, signal?: AbortSignal): Promise<TaskResult> {
        if (this.disposed) return Promise.reject(abortError('router disposed'));
        if (signal?.aborted) return Promise.reject(signal.reason);
        const classIndex = CLASS_INDEX[task.kind];
        if (classIndex === undefined) return Promise.reject(new TypeError(`unknown task kind ${String((task as { kind: unknown }).kind)}`));
        const now = this.clock.now();
        return new Promise<TaskResult>((resolve, reject) => {
            const job = new Job(this.nextId++, task, task.kind, classIndex, this.priorities[classIndex], now, resolve, reject);
            this.live.add(job);
            if (signal) {
                const onAbort = (): void => this.cancel(job, signal.reason);
                signal.addEventListener('abort', onAbort, { once: true });
                job.detachExternal = () => signal.removeEventListener('abort', onAbort);
            }
            const doc = job.doc;
            this.forecaster.arrival(task.kind, now, task.kind === 'completion' ? doc : undefined);
            if (task.kind === 'completion') {
                this.endReadAhead(task.doc);
                const older = this.docJobs.get(task.doc);
                if (older) {
                    for (const o of older.slice()) this.cancel(o, new SupersededError(task.doc));
                }
                const list = this.docJobs.get(task.doc);
                if (list) list.push(job);
                else this.docJobs.set(task.doc, [job]);
            }
            if (this.isReady) this.admit(job);
            else void this.ready.then(() => this.admit(job));
        });
    }

    /**
     * A completion for `doc` replaces a read-ahead of it: a queued read is dropped, a running one
     * aborted (its sequence keeps what it has read, which the completion then reuses), and the model
     * is no longer taken as busy reading the document (coldStart would send the completion elsewhere).
     */
    private endReadAhead(doc: string): void {
        const r = this.readAheadJob;
        if (r === undefined || r.state === 'done' || r.doc !== doc) return;
        this.readAheadJob = undefined;
        r.model?.reading.delete(doc);
        this.cancel(r, new SupersededError(doc));
    }

    decide(task: Task): DecisionRecord {
        const classIndex = CLASS_INDEX[task.kind];
        const job = new Job(0, task, task.kind, classIndex, this.priorities[classIndex], this.clock.now(), noop, noop);
        this.prepare(job);
        return this.decideFor(job);
    }

    feedback(f: Feedback): void {
        this.feedbackModel.record(f.modelId, f.kind, f.event);
        if (!this.disposed) this.feedbackSave?.schedule();
    }

    activity(signal: ActivitySignal): void {
        if (signal.type === 'keystroke') this.forecaster.keystroke(signal.doc, this.clock.now());
    }

    readAhead(task: CompletionTask): void {
        const s = this.settings;
        if (s.policy !== 'zeta' || !s.levers.coldStart || this.disposed || !this.isReady || task.kind !== 'completion') return;
        const m = this.models[this.preferredIdx[CLASS_INDEX.completion]];
        if (m === undefined || m.residency !== 'loaded' || m.retired || m.reading.has(task.doc)) return;
        // A newer hint replaces a read still waiting (the user has moved on); a started one runs on.
        const prev = this.readAheadJob;
        if (prev !== undefined && prev.state === 'queued') this.cancel(prev, abortError('replaced by a newer read-ahead'));
        // On the CPU the evaluation turns keep the read out of every other request's way. On a GPU
        // it shares the device with whatever runs, so it is worth it only where reading the prompt
        // would cost the first keystroke noticeably: a cold prompt on a fast GPU takes tens of ms
        // (bench/FINDINGS.md F30).
        const worth = (c: Candidate, job: Job): boolean => job.promptTokens - c.reusedTokens >= READ_AHEAD_MIN_TOKENS && (m.info?.gpu !== true || c.isolatedMs >= READ_AHEAD_MIN_GPU_MS);
        this.readAheadJob = this.queueBackgroundRead(m, task, this.priorities[CLASS_INDEX.embed] + 1, worth, 'read ahead: the editor shows this document; the model reads it before the first keystroke');
        this.emit();
    }

    onDidChange(listener: () => void): Disposable {
        this.listeners.add(listener);
        return { dispose: () => this.listeners.delete(listener) };
    }

    modelInfo(id: string): ModelInfo | undefined {
        return this.byId.get(id)?.info;
    }

    snapshot(): RouterSnapshot {
        const now = this.clock.now();
        const models: ModelSnapshot[] = this.models.map((m) => ({
            id: m.id,
            role: m.spec.role,
            name: m.info?.name ?? m.spec.id,
            residency: m.residency,
            ...(m.error !== undefined ? { error: m.error } : {}),
            ...(m.coolingDownUntil > now ? { coolingDownUntil: m.coolingDownUntil } : {}),
            queued: m.queue.length,
            queuedTokens: m.queue.tokens,
            inFlight: m.running.length,
            slots: m.slots,
            paused: m.paused,
            firstTokenMs: m.speed.firstTokenMs,
            promptTokensPerSec: m.speed.measured ? 1000 / m.speed.prefillMsPerToken : undefined,
            decodeTokensPerSec: m.speed.measured ? 1000 / m.speed.decodeMsPerToken : undefined,
            utilisation: m.speed.utilisation(now),
            memoryBytes: m.residency === 'loaded' || m.residency === 'loading' ? m.memoryBytes : 0,
            served: m.served,
            failed: m.failed,
        }));
        return {
            at: now,
            policy: this.settings.policy,
            models,
            recentDecisions: this.recent.map((d) => d.copy()),
            forecast: this.forecaster.snapshot(now),
        };
    }

    async reconfigure(specs: readonly ModelSpec[], settings: RoutingSettings): Promise<void> {
        if (this.disposed) return;
        this.settings = settings;
        this.applySettings(settings);
        const wanted = new Set(specs.map((s) => s.id));
        const toInspect: ModelEntry[] = [];
        for (const spec of specs) {
            const m = this.byId.get(spec.id);
            if (!m) {
                toInspect.push(this.addModel(spec));
            } else if (m.retired) {
                m.retired = false;
                if (needsReload(m.spec, spec)) toInspect.push(this.replaceBackend(m, spec));
                else m.spec = spec;
            } else if (needsReload(m.spec, spec)) {
                toInspect.push(this.replaceBackend(m, spec));
            } else {
                m.spec = spec;
            }
        }
        for (const m of this.models) if (!wanted.has(m.id) && !m.retired) this.retire(m);
        this.recomputePreferred();
        await this.inspectAll(toInspect);
        for (const m of toInspect) this.restoreSpeeds(m);
        for (const m of toInspect) this.wantInitialLoad(m);
        this.runLoads();
        for (const m of this.models) this.pump(m);
        this.emit();
    }

    async dispose(): Promise<void> {
        if (this.disposed) return;
        this.disposed = true;
        const reason = abortError('router disposed');
        for (const job of [...this.live]) this.cancel(job, reason);
        this.loadController.abort(reason);
        for (const m of this.models) this.clockClear(m, 'keepAlive');
        this.clock.clearTimeout(this.pauseTimer);
        this.pauseTimer = undefined;
        this.clearPredictive();
        await Promise.allSettled([...this.executing]);
        if (this.loadingPromise) await this.loadingPromise.catch(noop);
        await Promise.all([this.feedbackSave?.flush(), this.speedSave?.flush()]);
        await Promise.allSettled(this.models.map((m) => m.backend.unload()));
        for (const m of this.models) m.residency = 'unloaded';
        this.emit();
        this.listeners.clear();
    }

    // ---------------------------------------------------------------- setup

    private applySettings(s: RoutingSettings): void {
        for (let k = 0; k < NK; k++) this.priorities[k] = s.taskClasses[TASK_KINDS[k]].priority;
        this.inputs.fifo = s.policy !== 'zeta';
        this.inputs.affinity = s.policy === 'zeta' && s.levers.prefixAffinity;
        this.inputs.embedBatch = Math.max(1, Math.floor(s.embedBatchSize));
    }

    private addModel(spec: ModelSpec): ModelEntry {
        const m = new ModelEntry(spec, this.createBackend(spec));
        this.models.push(m);
        this.byId.set(spec.id, m);
        return m;
    }

    private recomputePreferred(): void {
        for (let k = 0; k < NK; k++) {
            const role = PREFERRED_ROLE[TASK_KINDS[k]];
            this.preferredIdx[k] = this.models.findIndex((m) => !m.retired && m.spec.role === role);
        }
    }

    private async init(entries: ModelEntry[]): Promise<void> {
        const fb = this.store ? this.feedbackModel.loadFrom(this.store, this.logger) : Promise.resolve();
        const sp = this.speedStore ? loadStored(this.speedStore, { label: 'speeds', noun: 'the speeds file', fallback: 'starting from estimates' }, parseSpeeds, this.logger) : Promise.resolve(undefined);
        const [, , stored] = await Promise.all([this.inspectAll(entries), fb, sp]);
        if (stored) this.speeds.merge(stored);
        for (const m of entries) this.restoreSpeeds(m);
        this.isReady = true;
        if (this.disposed) return;
        for (const m of entries) this.wantInitialLoad(m);
        this.runLoads();
        this.emit();
    }

    private async inspectAll(entries: ModelEntry[]): Promise<void> {
        await Promise.all(
            entries.map(async (m) => {
                const backend = m.backend;
                try {
                    const info = await backend.inspect(m.spec, this.loadController.signal);
                    if (m.backend !== backend) return;
                    m.setInfo(info);
                    if (m.residency === 'failed') m.residency = 'unloaded';
                    m.error = undefined;
                } catch (e) {
                    if (m.backend !== backend) return;
                    m.residency = 'failed';
                    m.error = errorMessage(e);
                    this.logger?.error(`model ${m.id}: ${m.error}`);
                }
            }),
        );
    }

    /** Loads at start: the coder always; the others while they fit in the memory budget. */
    private wantInitialLoad(m: ModelEntry): void {
        if (m.residency !== 'unloaded' || m.retired) return;
        if (this.isPinned(m)) {
            m.loadWanted = true;
            return;
        }
        const budget = this.settings.memoryBudgetBytes;
        if (budget === undefined) {
            m.loadWanted = true;
            return;
        }
        let planned = 0;
        for (const o of this.models) if (o !== m && (o.residency === 'loaded' || o.residency === 'loading' || o.loadWanted)) planned += o.memoryBytes;
        if (planned + m.memoryBytes <= budget) m.loadWanted = true;
    }

    private replaceBackend(m: ModelEntry, spec: ModelSpec): ModelEntry {
        const old = m.backend;
        const running = m.running.slice();
        m.spec = spec;
        m.backend = this.createBackend(spec);
        m.info = undefined;
        m.residency = 'unloaded';
        m.error = undefined;
        m.docs.clear();
        m.loadWanted = true;
        if (this.loading === m) this.loading = undefined;
        // The old backend is unloaded once its running calls have settled.
        void Promise.allSettled(running.map((j) => j.execution)).then(() => old.unload().catch((e: unknown) => this.logger?.warn(`unload of old ${m.id} failed: ${errorMessage(e)}`)));
        return m;
    }

    private retire(m: ModelEntry): void {
        m.retired = true;
        m.loadWanted = false;
        for (const job of m.queue.items.slice()) {
            m.queue.remove(job);
            job.state = 'holding';
            this.route(job, 0);
        }
        const finish = (): void => {
            if (m.running.length > 0 || !m.retired) return;
            this.clockClear(m, 'keepAlive');
            void m.backend.unload().catch(noop);
            m.residency = 'unloaded';
            const i = this.models.indexOf(m);
            if (i >= 0) this.models.splice(i, 1);
            this.byId.delete(m.id);
            this.recomputePreferred();
            this.emit();
        };
        if (m.running.length === 0) finish();
        else m.onIdle = finish;
    }

    // ---------------------------------------------------------------- admission and routing

    /** Counts prompt tokens and expected generated tokens. */
    private prepare(job: Job): void {
        const t = job.task;
        let chars = 0;
        let tokens: number | undefined;
        if (t.kind === 'completion') {
            const middle = t.middle ?? '';
            chars = t.prefix.length + t.suffix.length + middle.length;
            tokens = t.promptTokens;
            if (tokens === undefined) {
                const b = this.countingBackend(job.classIndex);
                if (b && chars <= EXACT_COUNT_CHARS) {
                    tokens = b.countTokens(t.prefix) + b.countTokens(t.suffix) + (middle === '' ? 0 : b.countTokens(middle)) + FIM_OVERHEAD_TOKENS;
                    this.learnTokensPerChar(chars, tokens);
                } else tokens = Math.ceil(chars * this.tokensPerChar) + FIM_OVERHEAD_TOKENS;
            }
            job.genTokens = Math.max(1, t.maxTokens * this.genRatio[job.classIndex]);
            job.workTokens = tokens + t.maxTokens;
        } else if (isEmbedTask(t)) {
            for (const s of t.texts) chars += s.length;
            tokens = Math.ceil(chars * this.tokensPerChar);
            job.genTokens = 0;
            job.workTokens = tokens;
        } else {
            for (const msg of t.messages) chars += msg.content.length;
            tokens = t.promptTokens;
            if (tokens === undefined) {
                const b = this.countingBackend(job.classIndex);
                if (b && chars <= EXACT_COUNT_CHARS) {
                    tokens = CHAT_OVERHEAD_TOKENS * t.messages.length;
                    for (const msg of t.messages) tokens += b.countTokens(msg.content);
                    this.learnTokensPerChar(chars, tokens);
                } else tokens = Math.ceil(chars * this.tokensPerChar) + CHAT_OVERHEAD_TOKENS * t.messages.length;
            }
            job.genTokens = Math.max(1, t.maxTokens * this.genRatio[job.classIndex]);
            job.workTokens = tokens + t.maxTokens;
        }
        job.promptTokens = tokens;
        job.promptChars = chars;
        if (isEmbedTask(t)) {
            if (job.space === undefined) job.space = t.space ?? this.defaultSpace();
        }
    }

    private learnTokensPerChar(chars: number, tokens: number): void {
        if (chars >= 16) this.tokensPerChar += 0.2 * (tokens / chars - this.tokensPerChar);
    }

    /** A loaded backend to count tokens with: the kind's preferred model if loaded, else any. */
    private countingBackend(classIndex: number): ModelBackend | undefined {
        const p = this.preferredIdx[classIndex];
        if (p >= 0 && this.models[p].residency === 'loaded') return this.models[p].backend;
        for (const m of this.models) if (m.residency === 'loaded') return m.backend;
        return undefined;
    }

    /** The embedding space of the preferred embedder, else of the first inspected model. */
    private defaultSpace(): string | undefined {
        const p = this.preferredIdx[CLASS_INDEX.embed];
        if (p >= 0 && this.models[p].space !== undefined) return this.models[p].space;
        for (const m of this.models) if (m.space !== undefined && m.residency !== 'failed') return m.space;
        return undefined;
    }

    private admit(job: Job): void {
        if (job.state === 'done') return;
        if (this.disposed) return this.settle(job, abortError('router disposed'));
        this.prepare(job);
        const s = this.settings;
        if (s.policy === 'zeta' && s.levers.holdSupersedable && job.task.kind === 'completion') {
            const cadence = this.forecaster.cadence;
            const last = cadence.lastKeystroke(job.task.doc);
            if (last !== undefined && cadence.samples > 0) {
                const rec = this.decideFor(job);
                const c = rec.chosen === undefined ? undefined : rec.candidates.find((x) => x.modelId === rec.chosen);
                if (c) {
                    // Sized on the time to the first token, not to the end: a suggestion that reaches the
                    // user before the next keystroke is not wasted, and the completion finally served pays
                    // the whole hold. A cold prompt is never held: its prefill is mostly the document's
                    // prefix, which the next keystroke reuses (bench/FINDINGS.md F1, F8). Nor is one whose
                    // first token is a guess: a model whose prefill has not been measured is predicted
                    // from priors, and a hold sized on them held a warm keystroke 175 ms (F17).
                    const lm = this.byId.get(c.modelId)?.speed;
                    const guessed = lm === undefined || (!lm.prefillMeasured && !lm.prefillFromEmbed);
                    const cold = c.reusedTokens < COLD_PROMPT_REUSE * job.promptTokens;
                    const hold = cold || guessed ? 0 : cadence.holdFor(this.clock.now() - last, c.firstTokenMs);
                    if (hold >= 1) {
                        job.state = 'holding';
                        job.holdMs = hold;
                        job.timer = this.clock.setTimeout(() => {
                            job.timer = undefined;
                            if (job.state === 'holding') this.route(job, hold);
                        }, hold);
                        this.emit();
                        return;
                    }
                }
            }
        }
        this.route(job, 0);
    }

    /** Decides, then queues the job on the chosen model or settles it with a typed error. */
    private route(job: Job, heldMs: number): void {
        if (job.state === 'done') return;
        if (this.disposed) return this.settle(job, abortError('router disposed'));
        const rec = this.decideFor(job);
        job.decision = rec;
        this.remember(rec);
        if (heldMs > 0) rec.note(`held ${Math.round(heldMs)} ms first: this user's typing cadence said another keystroke was likely to replace it`);
        if (job.failedOn) rec.note(`retry after ${job.failedOn[job.failedOn.length - 1].id} failed`);
        if (rec.chosen === undefined) {
            this.logger?.info(`task ${job.id} (${job.kind}): ${rec.reason}`);
            return this.settle(job, this.noModelError(job, rec));
        }
        const m = this.byId.get(rec.chosen)!;
        const c = rec.candidates[this.models.indexOf(m)];
        const now = this.clock.now();
        // An objective never asks for less than the chosen model's own idle time: a model predicted
        // slower than that would otherwise have every completion dropped, and its prediction, never
        // measured again, would never be corrected (bench/FINDINGS.md F21).
        job.objectiveMs = Math.max(job.objectiveMs, c.isolatedMs);
        job.deadlineAt = job.submittedAt + job.objectiveMs;
        job.model = m;
        if (this.dropsLate(job) && now + c.finishMs > job.deadlineAt) {
            rec.note(`dropped: predicted ${Math.round(now + c.finishMs - job.submittedAt)} ms exceeds the ${Math.round(job.objectiveMs)} ms objective`);
            return this.settle(job, new DeadlineError(job.kind, job.objectiveMs, `best prediction ${Math.round(c.finishMs)} ms on ${m.id}`));
        }
        this.enqueue(job, m, c.finishMs - c.waitMs, c.firstTokenMs - c.waitMs);
        if (job.readOn) this.startColdStartRead(job.readOn, job);
    }

    /**
     * Zeta drops completions that will be late, except while their model still has to load: a
     * load is a one-off cost that dropping would not save.
     */
    private dropsLate(job: Job): boolean {
        if (this.settings.policy !== 'zeta' || job.kind !== 'completion' || !Number.isFinite(job.objectiveMs)) return false;
        if (job.model !== undefined && job.model.residency !== 'loaded') job.waitsForLoad = true;
        return !job.waitsForLoad;
    }

    private noModelError(job: Job, rec: DecisionRecordImpl): Error {
        const full = rec.candidates.filter((c) => c.excluded === 'queue full');
        if (full.length > 0) {
            const pi = this.preferredIdx[job.classIndex];
            const m = (pi >= 0 && full.find((c) => c.modelId === this.models[pi].id)) || full[0];
            const entry = this.byId.get(m.modelId);
            return new QueueFullError(m.modelId, entry ? entry.queue.length : m.queued, this.settings.maxQueue);
        }
        if (job.lastError !== undefined) return job.lastError as Error;
        return new NoCapableModelError(job.kind, rec.reason);
    }

    /**
     * The routing decision for `job` now. Hot path: one Candidate per model, no sorting, no
     * strings (reasons are composed lazily), O(models * (classes + slots)).
     */
    private decideFor(job: Job): DecisionRecordImpl {
        const now = this.clock.now();
        const s = this.settings;
        const models = this.models;
        const n = models.length;
        const x = this.inputs;
        x.now = now;
        x.tokensPerChar = job.promptChars > 0 ? job.promptTokens / job.promptChars : this.tokensPerChar;
        x.loadBusyMs = this.loading ? Math.max(0, this.loading.loadStartedAt + this.loading.speed.loadMs - now) : 0;
        const zeta = s.policy === 'zeta';
        const learn = s.learnFromFeedback;
        const cands = new Array<Candidate>(n);
        let usable = 0;
        let soft = 0;
        for (let i = 0; i < n; i++) {
            const m = models[i];
            const c = new Candidate(m.id);
            cands[i] = c;
            const hard = this.hardExclusion(m, job);
            if (hard !== undefined) {
                c.excluded = hard;
                continue;
            }
            predict(c, m, job, x);
            c.meanLatencyMs = m.speed.meanLatency();
            c.quality = zeta ? this.feedbackModel.quality(m.id, m.spec.role, job.kind, learn) : 1;
            if (job.failedOn !== undefined && job.failedOn.includes(m)) {
                c.excluded = 'failed this task';
            } else if (m.coolingDownUntil > now) {
                c.excluded = 'cooling down after an error';
                c.soft = true;
                soft++;
            } else if (m.queue.length >= s.maxQueue) {
                c.excluded = 'queue full';
            } else usable++;
        }
        if (usable === 0 && soft > 0) {
            // Every capable model is cooling down: the soonest is still better than failing.
            for (const c of cands) if (c.soft) c.excluded = undefined;
        }
        let pref = this.preferredIdx[job.classIndex];
        if (pref >= n) pref = -1;
        let isoBest = Number.POSITIVE_INFINITY;
        let qMax = 0;
        for (let i = 0; i < n; i++) {
            const c = cands[i];
            if (c.excluded !== undefined) continue;
            if (c.isolatedMs < isoBest) isoBest = c.isolatedMs;
            if (c.quality > qMax) qMax = c.quality;
        }
        const qWeight = QUALITY_WEIGHT[job.kind];
        const refIso = pref >= 0 && cands[pref].excluded === undefined ? cands[pref].isolatedMs : isoBest;
        for (let i = 0; i < n; i++) {
            const c = cands[i];
            if (c.excluded !== undefined) continue;
            c.qualityPenaltyMs = zeta ? qWeight * (qMax - c.quality) * refIso : 0;
            c.score = c.finishMs + c.qualityPenaltyMs;
        }
        job.readOn = undefined;
        const cold = zeta && s.levers.coldStart && s.levers.spill && job.kind === 'completion' && pref >= 0 ? this.coldStart(job, cands, pref) : -1;
        const ch = this.choice;
        choose(s.policy, cands, pref, this.rrCursor[job.classIndex], s.levers.spill, ch);
        if (cold >= 0 && ch.index === pref) {
            ch.index = cold;
            ch.code = 'cold-start';
            job.readOn = models[pref];
        }
        if (job.id !== 0 && ch.index >= 0 && s.policy === 'round-robin') this.rrCursor[job.classIndex] = (ch.index + 1) % n;
        job.objectiveMs = Number.isFinite(isoBest) ? s.taskClasses[job.kind].objectiveFactor * isoBest : Number.POSITIVE_INFINITY;
        return new DecisionRecordImpl(job.id, job.kind, job.doc, now, s.policy, ch.index >= 0 ? cands[ch.index].modelId : undefined, cands, ch.code, pref >= 0 ? models[pref].id : undefined);
    }

    /**
     * coldStart (zeta, completions): while the preferred model reads this document in the
     * background, it is left out (softly: it still serves when nothing else can). When its prompt is
     * cold there, returns the index of a capable model whose first token is predicted much sooner
     * (COLD_START_RATIO, COLD_START_MIN_GAIN_MS) at acceptable quality; -1 otherwise.
     */
    private coldStart(job: Job, cands: Candidate[], pref: number): number {
        const pc = cands[pref];
        if (pc.excluded !== undefined) return -1;
        let alt = -1;
        for (let i = 0; i < cands.length; i++) {
            const c = cands[i];
            if (i === pref || c.excluded !== undefined) continue;
            if (alt < 0 || c.firstTokenMs < cands[alt].firstTokenMs) alt = i;
        }
        if (alt < 0) return -1;
        const doc = job.doc;
        if (doc !== undefined && this.models[pref].reading.has(doc)) {
            pc.excluded = 'reading this document in the background';
            pc.soft = true;
            return -1;
        }
        if (pc.reusedTokens >= COLD_PROMPT_REUSE * job.promptTokens) return -1;
        const a = cands[alt];
        if (a.quality < COLD_START_MIN_QUALITY) return -1;
        if (a.firstTokenMs > COLD_START_RATIO * pc.firstTokenMs || pc.firstTokenMs - a.firstTokenMs < COLD_START_MIN_GAIN_MS) return -1;
        return alt;
    }

    /**
     * Queues a prefill-only copy of a cold completion on `m` (its preferred model) so that the next
     * keystrokes find the document there. Below completions in priority, so it waits while one
     * prefills and is paused by the next; nobody awaits it and no keystroke supersedes it.
     */
    private startColdStartRead(m: ModelEntry, src: Job): void {
        const t = src.task as CompletionTask;
        if (m.reading.has(t.doc)) return;
        this.queueBackgroundRead(m, { ...t, promptTokens: src.promptTokens }, this.priorities[CLASS_INDEX.completion] - 1, () => true, `cold start: reads the document in the background for task ${src.id}`);
    }

    /**
     * Queues on `m` a read of `t`'s prompt (prefill only: a background read nobody awaits), at `priority`,
     * when `worth` says so given `m`'s prediction for it. `m.reading` holds the document until the
     * job settles. Returns the job, or undefined when nothing was queued.
     */
    private queueBackgroundRead(m: ModelEntry, t: CompletionTask, priority: number, worth: (c: Candidate, job: Job) => boolean, note: string): Job | undefined {
        if (this.disposed || m.retired) return undefined;
        const now = this.clock.now();
        const task: CompletionTask = { kind: 'completion', doc: t.doc, prefix: t.prefix, suffix: t.suffix, middle: t.middle, maxTokens: 0, ...(t.promptTokens !== undefined ? { promptTokens: t.promptTokens } : {}) };
        const ci = CLASS_INDEX.completion;
        const job = new Job(this.nextId++, task, 'completion', ci, priority, now, noop, noop);
        job.backgroundRead = true;
        this.prepare(job);
        job.genTokens = 0;
        const x = this.inputs;
        x.now = now;
        const c = new Candidate(m.id);
        predict(c, m, job, x);
        if (!worth(c, job)) return undefined;
        this.live.add(job);
        m.reading.add(t.doc);
        const rec = new DecisionRecordImpl(job.id, 'completion', t.doc, now, this.settings.policy, m.id, [c], 'best', m.id);
        rec.note(note);
        job.decision = rec;
        this.remember(rec);
        this.enqueue(job, m, c.isolatedMs, c.isolatedMs);
        return job;
    }

    /** Why `m` can never serve `job` (capability, space, residency failure), or undefined. */
    private hardExclusion(m: ModelEntry, job: Job): string | undefined {
        if (m.retired) return 'being removed';
        if (m.residency === 'failed') return m.error !== undefined ? `failed: ${m.error}` : 'failed to load';
        if (m.info === undefined) return 'not inspected yet';
        switch (job.kind) {
            case 'completion':
                return m.canInfill ? undefined : 'no fill-in-the-middle template';
            case 'embed':
            case 'embedQuery':
                return m.space === job.space ? undefined : 'other embedding space';
            default:
                return m.canChat ? undefined : 'no chat template';
        }
    }

    /**
     * Unmeasured speeds of other models are scaled from `ref`'s measurements by memory size (decode
     * and load are bound by bytes moved; prefill and embedding roughly by parameters, which track
     * bytes at one quantisation), so a model that has not run yet is estimated from this machine.
     */
    private refreshPriors(ref: ModelEntry): void {
        const lm = ref.speed;
        const refBytes = ref.memoryBytes;
        if (refBytes <= 0) return;
        // A prefill rate a generation measured is the best evidence for the others' priors. Until
        // one has, a rate from a model's embedding calls (the same forward pass, fixed costs
        // included) on this machine beats a formula on size alone, which assumes a GPU and on a CPU
        // predicted a cold prompt 10-17x too fast (bench/FINDINGS.md F28).
        const prefillRef = lm.prefillMeasured || (lm.prefillFromEmbed && !this.models.some((x) => x.speed.prefillMeasured && x.memoryBytes > 0));
        for (const o of this.models) {
            if (o === ref || o.memoryBytes <= 0) continue;
            const ol = o.speed;
            if (ol.prefillMeasured && ol.decodeMeasured && ol.embedMeasured && ol.loadMeasured) continue;
            const r = o.memoryBytes / refBytes;
            ol.setPrior({
                prefillMsPerToken: prefillRef ? lm.prefillMsPerToken * r : ol.prefillMsPerToken,
                overheadMs: lm.prefillMeasured ? lm.overheadMs : ol.overheadMs,
                decodeMsPerToken: lm.decodeMeasured ? lm.decodeMsPerToken * r : ol.decodeMsPerToken,
                embedMsPerText: lm.embedMeasured ? lm.embedMsPerText * r : ol.embedMsPerText,
                loadMs: lm.loadMeasured ? lm.loadMs * r : ol.loadMs,
            });
        }
    }

    private remember(rec: DecisionRecordImpl): void {
        this.recent.unshift(rec);
        if (this.recent.length > RECENT_DECISIONS) this.recent.pop();
    }

    // ---------------------------------------------------------------- queues and dispatch

    /** @param serviceMs predicted run time once started; @param firstMs to first token once started. */
    private enqueue(job: Job, m: ModelEntry, serviceMs: number, firstMs: number): void {
        const now = this.clock.now();
        job.model = m;
        job.state = 'queued';
        job.queuedAt = now;
        job.serviceMs = serviceMs;
        job.firstMs = firstMs;
        job.aheadMs = job.isBackground && !this.inputs.fifo ? Math.min(serviceMs, firstMs) : serviceMs;
        m.queue.push(job);
        // With no completion pausing, what is paused was held for a predicted keystroke: it goes on
        // now that work waits for this model's slots (armPredictivePause).
        if (this.pausers === 0) for (const r of m.running) if (r.gate.closed) this.unpauseJob(r);
        if (this.dropsLate(job) && Number.isFinite(job.deadlineAt)) {
            // The last moment it can start and still meet its objective.
            const latest = job.deadlineAt - serviceMs;
            job.timer = this.clock.setTimeout(() => {
                job.timer = undefined;
                if (job.state === 'queued') this.dropQueued(job, `still waiting at its latest start time on ${m.id}`);
            }, Math.max(0, latest - now));
        }
        if (m.residency === 'unloaded') {
            m.loadWanted = true;
            this.runLoads();
        }
        this.pump(m);
        this.emit();
    }

    private dropQueued(job: Job, detail: string): void {
        const m = job.model;
        if (m) m.queue.remove(job);
        job.decision?.note(`dropped: ${detail}`);
        this.settle(job, new DeadlineError(job.kind, job.objectiveMs, detail));
    }

    /** Starts queued jobs on free slots of a loaded model. */
    private pump(m: ModelEntry): void {
        if (m.residency !== 'loaded' || this.disposed || m.retired) return;
        const zeta = this.settings.policy === 'zeta';
        const levers = this.settings.levers;
        while (m.running.length < m.slots && m.queue.length > 0) {
            const now = this.clock.now();
            const holdBackground = zeta && levers.forecastHeadroom && this.headroomHold(m, now);
            // While a completion on another model prefills, lower-priority work here does not start
            // (a prefill or an embedding batch cannot be paused once running).
            const holdBelow = zeta && levers.pauseOthers && this.pausers - m.pausers > 0 ? this.priorities[CLASS_INDEX.completion] : Number.NEGATIVE_INFINITY;
            this.skipBackground = holdBackground;
            this.skipBelow = holdBelow;
            const job = m.queue.next(!zeta, now - STARVATION_MS, holdBackground || holdBelow > Number.NEGATIVE_INFINITY ? this.skipFn : undefined);
            if (!job) break;
            m.queue.remove(job);
            if (this.dropsLate(job) && now + job.serviceMs > job.deadlineAt) {
                this.dropQueued(job, `could not start on ${m.id} in time`);
                continue;
            }
            this.start(job, m);
        }
    }

    /**
     * Headroom: background batches on `m` are held back while a completion is more likely than not
     * (HEADROOM_CONFIDENCE) to arrive before a batch would finish: models share one device, and a
     * batch cannot be paused once started. With one-text batches this starts indexing work right
     * after a keystroke's completion has its first token, when the next keystroke is least likely. Bounded by a per-model hold budget (a token bucket):
     * it accrues MAX_HOLD_SHARE ms per ms that background work is pending and is spent 1 ms per ms
     * held, capped at HOLD_BANK_MAX_MS, so over any long stretch background work is held at most
     * that share of the time (indexing slows by at most 1 / (1 - share)) and always progresses.
     */
    private headroomHold(m: ModelEntry, now: number): boolean {
        const b = m.holdBudget;
        const dt = now - b.lastAt;
        if (dt > 0) {
            if (b.pending) b.bankMs += MAX_HOLD_SHARE * dt;
            if (b.holding) b.bankMs -= dt;
            b.bankMs = Math.min(HOLD_BANK_MAX_MS, Math.max(0, b.bankMs));
            b.lastAt = now;
        }
        let queuedBackground: Job | undefined;
        for (const j of m.queue.items) if (j.isBackground) queuedBackground = j;
        let runningBackground = false;
        for (const r of m.running) if (r.isBackground) runningBackground = true;
        b.pending = queuedBackground !== undefined || runningBackground;
        b.holding = false;
        if (!queuedBackground || b.bankMs <= 0) return false;
        const batchMs = Math.max(1, queuedBackground.aheadMs);
        const confidence = m.info?.gpu === true ? HEADROOM_CONFIDENCE_GPU : HEADROOM_CONFIDENCE;
        if (this.forecaster.completionWithin(now, batchMs) < confidence) return false;
        b.holding = true;
        if (m.holdTimer === undefined) {
            const recheck = Math.min(b.bankMs / (1 - MAX_HOLD_SHARE), Math.max(10, batchMs / 2));
            m.holdTimer = this.clock.setTimeout(() => {
                m.holdTimer = undefined;
                this.pump(m);
            }, Math.max(1, recheck));
        }
        return true;
    }

    private start(job: Job, m: ModelEntry): void {
        const now = this.clock.now();
        if (job.timer) {
            this.clock.clearTimeout(job.timer);
            job.timer = undefined;
        }
        job.state = 'running';
        job.attempts++;
        if (job.startedAt === undefined) job.startedAt = now;
        m.running.push(job);
        m.speed.markBusy(now, m.running.length);
        this.clockClear(m, 'keepAlive');
        job.predictedEndAt = now + (job.isBackground && !this.inputs.fifo ? job.aheadMs : job.serviceMs);
        job.callStartedAt = now;
        job.gate.pausedMs = 0;
        job.pausedBeforeFirstMs = 0;
        // Set again on each start: a retry may run on another kind of model.
        job.gate.chunkCap = undefined;
        if (this.settings.policy === 'zeta' && this.settings.levers.pauseOthers) {
            if (job.kind === 'completion' && !job.backgroundRead) this.beginPause(job);
            // Lower-priority generations on the CPU take shorter prefill chunks while typing goes on.
            else if (job.priority < this.priorities[CLASS_INDEX.completion] && !isEmbedTask(job.task) && m.info?.gpu !== true) {
                job.gate.chunkCap = () => this.typingChunk(job);
            }
        }
        const p = this.execute(job, m);
        job.execution = p;
        this.executing.add(p);
        void p.finally(() => this.executing.delete(p));
    }

    private async execute(job: Job, m: ModelEntry): Promise<void> {
        const backend = m.backend;
        const t = job.task;
        const signal = job.signal;
        const callStart = this.clock.now();
        let gen: GenerationResult | undefined;
        let vectors: number[][] | undefined;
        let batch = 0;
        let error: unknown;
        let ok = false;
        // pauseOthers (zeta): on an evaluation thread shared by several models, native calls go by
        // task priority (EvalTurns); baselines leave them in arrival order.
        const priority = this.settings.policy === 'zeta' && this.settings.levers.pauseOthers ? job.priority : undefined;
        try {
            if (t.kind === 'completion') {
                // The model's sequence for this document holds a prefix of this prompt from its first
                // chunk on, even if the call is aborted before its first token (a keystroke
                // superseding a cold read); what the backend says it holds (`cachedTokens`) bounds
                // the reuse these texts predict (bench/FINDINGS.md F29).
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
                    },
                    signal,
                );
            } else if (isEmbedTask(t)) {
                batch = t.kind === 'embed' ? Math.min(this.inputs.embedBatch, t.texts.length - job.textsDone) : t.texts.length - job.textsDone;
                const texts = batch === t.texts.length ? t.texts : t.texts.slice(job.textsDone, job.textsDone + batch);
                vectors = await backend.embed(texts, signal, priority);
            } else {
                gen = await backend.chat({ messages: t.messages, maxTokens: t.maxTokens, gate: job.gate, onToken: (s) => this.onToken(job, s), priority }, signal);
            }
            ok = true;
        } catch (e) {
            error = e;
        }
        const now = this.clock.now();
        // Cleanup first: the slot, the gate. A pause this completion imposed is released only after
        // the next queued work on its model has started (below): a completion that superseded this
        // one takes the pause over instead of letting held work start at its keystroke.
        const ri = m.running.indexOf(job);
        if (ri >= 0) m.running.splice(ri, 1);
        m.speed.markBusy(now, m.running.length);
        m.lastUsedAt = now;
        const heldPause = job.pausesOthers;
        job.pausesOthers = false;
        this.unpauseJob(job);
        if (ok && job.state === 'running' && !signal.aborted) {
            if (gen && !isEmbedTask(t)) {
                // Speeds are learned without the time spent paused at the gate (before and after the first token).
                const before = job.pausedBeforeFirstMs;
                const ftt = gen.firstTokenMs === undefined ? undefined : Math.max(0, gen.firstTokenMs - before);
                m.speed.observeGeneration(gen.evaluatedPromptTokens, ftt, gen.generatedTokens, Math.max(0, gen.totalMs - (gen.firstTokenMs ?? 0) - (job.gate.pausedMs - before)));
                // A call that only reads a prompt (a background read) measures the prefill alone.
                if (ftt === undefined && t.maxTokens === 0) m.speed.observePrefill(gen.evaluatedPromptTokens, Math.max(0, gen.totalMs - job.gate.pausedMs));
                this.refreshPriors(m);
                this.noteSpeeds(m);
                if (t.maxTokens > 0) this.genRatio[job.classIndex] += 0.2 * (Math.min(1, gen.generatedTokens / t.maxTokens) - this.genRatio[job.classIndex]);
                if (gen.promptTokens > 0 && job.promptChars >= 16) this.tokensPerChar += 0.1 * (gen.promptTokens / job.promptChars - this.tokensPerChar);
                if (t.kind === 'completion') m.rememberDoc(t.doc, m.fimTexts(t), gen.promptTokens);
                job.promptTokensResult += gen.promptTokens;
                job.reusedTokensResult += gen.reusedPromptTokens;
                job.generatedTokensResult += gen.generatedTokens;
                this.finish(job, m, gen.text, undefined);
            } else if (vectors && isEmbedTask(t)) {
                m.speed.observeEmbed(batch, now - callStart, t.texts.length > 0 ? (job.promptTokens * batch) / t.texts.length : undefined);
                this.refreshPriors(m);
                this.noteSpeeds(m);
                if (job.firstTokenAt === undefined) job.firstTokenAt = now;
                if (!job.vectors) job.vectors = [];
                for (const v of vectors) job.vectors.push(v);
                job.textsDone += batch;
                try {
                    t.onProgress?.(job.textsDone, t.texts.length);
                } catch (e) {
                    this.logger?.warn(`onProgress listener threw: ${errorMessage(e)}`);
                }
                if (job.textsDone < t.texts.length && m.retired) {
                    // Its model is being removed: the rest goes to another model of the same space, if any.
                    job.state = 'holding';
                    job.model = undefined;
                    this.route(job, 0);
                } else if (job.textsDone < t.texts.length) {
                    // Next batch: back into the queue, keeping its place among equals (seq).
                    const perText = m.speed.embedMsPerText;
                    const remaining = t.texts.length - job.textsDone;
                    job.state = 'queued';
                    job.queuedAt = now;
                    job.serviceMs = remaining * perText;
                    job.firstMs = Math.min(remaining, this.inputs.embedBatch) * perText;
                    job.aheadMs = !this.inputs.fifo ? job.firstMs : job.serviceMs;
                    m.queue.push(job);
                } else this.finish(job, m, undefined, job.vectors);
            }
        } else if (job.state !== 'done') {
            if (signal.aborted || this.disposed) {
                this.settle(job, signal.aborted ? signal.reason : abortError('router disposed'));
            } else {
                this.failed(job, m, error);
            }
        }
        if (m.running.length === 0) m.onIdle?.();
        this.pump(m);
        if (heldPause) this.releasePause(m);
        this.afterWork(m);
        this.emit();
    }

    private onToken(job: Job, text: string): void {
        if (job.state !== 'running') return;
        if (job.firstTokenAt === undefined) {
            job.firstTokenAt = this.clock.now();
            job.pausedBeforeFirstMs = job.gate.pausedMs;
            // An inline suggestion is shown when it is complete: a short rest keeps the pause on.
            const restMs = Math.max(0, job.genTokens - 1) * (job.model?.speed.decodeMsPerToken ?? 0);
            if (!this.holdRest(job, restMs) && job.pausesOthers && restMs > PAUSE_TO_END_MAX_MS) {
                this.endPause(job);
                this.armQuietPause(job, restMs);
            }
        }
        const listener = isEmbedTask(job.task) ? undefined : job.task.onToken;
        if (!listener) return;
        try {
            listener(text);
        } catch (e) {
            this.logger?.warn(`onToken listener of task ${job.id} threw: ${errorMessage(e)}`);
        }
    }

    private finish(job: Job, m: ModelEntry, text: string | undefined, vectors: number[][] | undefined): void {
        const now = this.clock.now();
        if (!job.backgroundRead) {
            m.served++;
            m.speed.observeLatency(now - job.submittedAt);
        }
        const result: TaskResult = {
            taskId: job.id,
            kind: job.kind,
            modelId: m.id,
            ...(text !== undefined ? { text } : {}),
            ...(vectors !== undefined ? { vectors, space: m.space } : {}),
            timings: {
                queuedMs: (job.startedAt ?? now) - job.submittedAt,
                firstTokenMs: job.firstTokenAt === undefined ? undefined : job.firstTokenAt - job.submittedAt,
                totalMs: now - job.submittedAt,
            },
            decision: job.decision!.copy(),
            promptTokens: job.promptTokensResult,
            reusedPromptTokens: job.reusedTokensResult,
            generatedTokens: job.generatedTokensResult,
        };
        this.settle(job, undefined, result);
    }

    /** A backend error (not an abort): cooldown, then one retry on another capable model. */
    private failed(job: Job, m: ModelEntry, error: unknown): void {
        const now = this.clock.now();
        m.failed++;
        m.coolingDownUntil = now + this.settings.cooldownMs;
        m.error = errorMessage(error);
        this.logger?.warn(`model ${m.id} failed ${job.kind} task ${job.id}: ${m.error}; cooling down ${this.settings.cooldownMs} ms`);
        job.lastError = error;
        if (!job.failedOn) job.failedOn = [];
        job.failedOn.push(m);
        if (job.failedOn.length > 1 || job.backgroundRead) return this.settle(job, error);
        job.state = 'holding';
        job.model = undefined;
        this.route(job, 0);
    }

    /** Settles a job exactly once and removes every trace of it. */
    private settle(job: Job, error: unknown, result?: TaskResult): void {
        if (job.state === 'done') return;
        const wasQueued = job.state === 'queued';
        job.state = 'done';
        if (job.timer) {
            this.clock.clearTimeout(job.timer);
            job.timer = undefined;
        }
        if (job.quietTimer) {
            this.clock.clearTimeout(job.quietTimer);
            job.quietTimer = undefined;
        }
        if (job.restTimer) {
            this.clock.clearTimeout(job.restTimer);
            job.restTimer = undefined;
        }
        if (wasQueued && job.model) job.model.queue.remove(job);
        if (job.pausesOthers) this.endPause(job);
        this.unpauseJob(job);
        job.detachExternal?.();
        job.detachExternal = undefined;
        this.live.delete(job);
        if (job.backgroundRead && job.model && job.task.kind === 'completion') job.model.reading.delete(job.task.doc);
        if (job.task.kind === 'completion') {
            const list = this.docJobs.get(job.task.doc);
            if (list) {
                const i = list.indexOf(job);
                if (i >= 0) list.splice(i, 1);
                if (list.length === 0) this.docJobs.delete(job.task.doc);
            }
        }
        if (result) job.resolve(result);
        else job.reject(error);
        this.emit();
    }

    /** Two-phase cancellation: holding/queued jobs settle now; running ones abort and settle when the call returns. */
    private cancel(job: Job, reason: unknown): void {
        switch (job.state) {
            case 'holding':
            case 'queued': {
                const m = job.model;
                this.settle(job, reason);
                if (m) this.pump(m);
                break;
            }
            case 'running':
                if (!job.signal.aborted) job.controller.abort(reason);
                break;
            default:
                break;
        }
    }

    // ---------------------------------------------------------------- pausing other models

    /**
     * While a completion prefills and produces its first token, lower-priority generations that are
     * already running wait at their gate: on other models and on its own, in their prefill (the
     * backends check the gate between prefill chunks) or streaming. Embeddings are single native
     * calls and cannot be paused. Bound: a job is paused only while its predicted finish (pauses
     * included) stays within its own objective.
     */
    private beginPause(job: Job): void {
        // A completion that pauses others takes over what a predicted-keystroke pause holds.
        this.clearPredictive();
        job.pausesOthers = true;
        this.pausers++;
        if (job.model) job.model.pausers++;
        this.pauseBelow(job.priority, job, false);
    }

    /**
     * Closes the gates of running generations below `priority` (all but `except`; with
     * `streamingOnly`, only those past their first token) that can still be paused within their
     * objective, and arms the slack timer.
     */
    private pauseBelow(priority: number, except: Job | undefined, streamingOnly: boolean): void {
        const now = this.clock.now();
        let soonest = Number.POSITIVE_INFINITY;
        for (const m of this.models) {
            for (const r of m.running) {
                if (r === except || r.priority >= priority || r.gate.closed) continue;
                if (r.kind === 'embed' || r.kind === 'embedQuery') continue;
                // A predicted keystroke holds a stream only on a GPU, and only while nothing waits for
                // its model's slots (what waits would pay the hold before its own first token). On
                // the CPU the evaluation turns already give the keystroke's call the next turn, and
                // a held stream saved nothing there but cost explanations 2-5x (F22).
                if (streamingOnly && (r.firstTokenAt === undefined || m.queue.length > 0 || m.info?.gpu !== true)) continue;
                const slack = this.slack(r, now);
                if (slack <= 0) continue;
                r.gate.close(now);
                m.paused++;
                this.pausedJobs.push(r);
                soonest = Math.min(soonest, slack);
            }
        }
        if (Number.isFinite(soonest)) this.armPauseTimer(soonest);
    }

    /**
     * forecastHeadroom, for streaming generations on a GPU: once the pauses of a keystroke's
     * completion have ended, lower-priority generations past their first token (on models with
     * nothing waiting for their slots) stream on only until the typing
     * cadence makes the next keystroke PREDICTIVE_PAUSE_CONFIDENCE likely within one of their
     * decode steps (PREDICTIVE_PAUSE_STEPS times the model's measured ms per token: a step shares the
     * device with the completion's). Then they stop at their gate until that keystroke's completion
     * takes the pause over, or until this user's 90th-percentile interval has passed without one. A
     * decode step cannot be stopped once begun, and a keystroke that lands on one waits for it
     * (bench/FINDINGS.md F22). First tokens are never held this way (their prefill runs on), nor
     * is anything past its objective (slack).
     */
    private armPredictivePause(): void {
        const s = this.settings;
        if (s.policy !== 'zeta' || !s.levers.forecastHeadroom || !s.levers.pauseOthers || this.disposed) return;
        const cadence = this.forecaster.cadence;
        const last = cadence.lastAt;
        if (last === undefined || cadence.samples < CADENCE_MIN_SAMPLES) return;
        const completion = this.priorities[CLASS_INDEX.completion];
        let stepMs = 0;
        for (const m of this.models) {
            if (m.info?.gpu !== true) continue;
            for (const r of m.running) {
                if (r.priority < completion && r.firstTokenAt !== undefined && !isEmbedTask(r.task)) stepMs = Math.max(stepMs, m.speed.decodeMsPerToken);
            }
        }
        if (stepMs <= 0) return;
        const now = this.clock.now();
        const horizon = PREDICTIVE_PAUSE_STEPS * stepMs;
        const cap = cadence.quantile(0.9);
        let at = now - last;
        while (at <= cap && cadence.nextWithin(at, horizon) < PREDICTIVE_PAUSE_CONFIDENCE) at += PREDICTIVE_PAUSE_STEP_MS;
        if (at > cap) return;
        this.clock.clearTimeout(this.predictiveTimer);
        this.predictiveTimer = this.clock.setTimeout(() => {
            this.predictiveTimer = undefined;
            if (cadence.lastAt !== last || this.pausers > 0 || this.disposed) return;
            this.pauseBelow(completion, undefined, true);
            this.predictiveTimer = this.clock.setTimeout(() => {
                this.predictiveTimer = undefined;
                if (this.pausers > 0) return;
                for (const r of this.pausedJobs.slice()) this.unpauseJob(r);
                this.emit();
            }, Math.max(1, last + cap - this.clock.now()));
            this.emit();
        }, Math.max(1, last + at - now));
    }

    /**
     * pauseOthers on the CPU: the prompt tokens `job`'s next prefill chunk may take (undefined: the
     * backend's own size). While a typing burst goes on (the last keystroke is less than this user's
     * 90th-percentile interval ago) and `job` can still be held up within its objective, a chunk
     * takes about TYPING_CHUNK_MS at its model's measured rate: a keystroke's call waits for the
     * chunk in flight, whatever its priority (bench/FINDINGS.md F41, F44).
     */
    private typingChunk(job: Job): number | undefined {
        const m = job.model;
        const cadence = this.forecaster.cadence;
        const last = cadence.lastAt;
        if (m === undefined || last === undefined || cadence.samples < CADENCE_MIN_SAMPLES) return undefined;
        const now = this.clock.now();
        if (now - last > cadence.quantile(0.9) || this.slack(job, now) <= 0) return undefined;
        return Math.max(TYPING_CHUNK_MIN_TOKENS, Math.floor(TYPING_CHUNK_MS / m.speed.prefillMsPerToken));
    }

    /** Ends the predicted-keystroke pause's timers; what it holds stays in `pausedJobs`. */
    private clearPredictive(): void {
        this.clock.clearTimeout(this.predictiveTimer);
        this.predictiveTimer = undefined;
    }

    /**
     * ms a running job can still be paused while meeting its objective: its kind's objectiveFactor
     * times its predicted run time on the model it runs on (or its deadline from submission, if
     * later), against its predicted end pushed out by the pauses so far.
     */
    private slack(r: Job, now: number): number {
        const paused = r.gate.pausedMs + (r.gate.closed ? now - r.gate.closedAt : 0);
        const objective = Math.max(r.deadlineAt, r.callStartedAt + this.settings.taskClasses[r.kind].objectiveFactor * r.serviceMs);
        return objective - (r.predictedEndAt + paused);
    }

    private armPauseTimer(ms: number): void {
        this.clock.clearTimeout(this.pauseTimer);
        this.pauseTimer = this.clock.setTimeout(() => {
            this.pauseTimer = undefined;
            const now = this.clock.now();
            let soonest = Number.POSITIVE_INFINITY;
            for (const r of this.pausedJobs.slice()) {
                const slack = this.slack(r, now);
                if (slack <= 0) this.unpauseJob(r);
                else soonest = Math.min(soonest, slack);
            }
            if (Number.isFinite(soonest)) this.armPauseTimer(soonest);
            this.emit();
        }, Math.max(1, ms));
    }

    /**
     * A completion whose pause ended at its first token (its rest, `restMs`, is long) pauses others
     * again for the rest of its run once it is more likely than not to be served: no keystroke has
     * come for long enough that the burst has likely ended (the typing cadence says so). VS Code
     * shows a suggestion only when it is complete, so its last tokens are what the user waits for;
     * mid-burst completions, which the next keystroke supersedes, do not hold others up.
     */
    private armQuietPause(job: Job, restMs: number): void {
        const t = job.task;
        if (t.kind !== 'completion') return;
        const cadence = this.forecaster.cadence;
        const last = cadence.lastKeystroke(t.doc);
        if (last === undefined) return;
        const wait = cadence.quietAfter(this.clock.now() - last, restMs);
        if (wait === undefined) return;
        const fire = (): void => {
            job.quietTimer = undefined;
            if (job.state !== 'running' || job.pausesOthers || cadence.lastKeystroke(t.doc) !== last) return;
            this.beginPause(job);
            this.emit();
        };
        if (wait < 1) return fire();
        job.quietTimer = this.clock.setTimeout(fire, wait);
    }

    /**
     * holdSupersedable, after the first token: a completion that the next keystroke is likely to
     * supersede before it ends (Cadence.holdFor over its predicted rest, `restMs`) stops at its gate
     * until that is no longer HOLD_CONFIDENCE likely, capped at this user's 90th-percentile
     * interval. A suggestion is shown only when complete, so the tokens a superseded completion
     * generates are never seen; while it waits, the work its prefill paused runs. The one finally
     * served pays the hold on its finish, never on its first token (bench/FINDINGS.md F26).
     * Returns whether it holds.
     */
    private holdRest(job: Job, restMs: number): boolean {
        const s = this.settings;
        const t = job.task;
        if (s.policy !== 'zeta' || !s.levers.holdSupersedable || t.kind !== 'completion' || job.backgroundRead || restMs <= 0) return false;
        const cadence = this.forecaster.cadence;
        const last = cadence.lastKeystroke(t.doc);
        if (last === undefined) return false;
        const now = this.clock.now();
        const hold = cadence.holdFor(now - last, restMs);
        if (hold < 1) return false;
        if (job.pausesOthers) this.endPause(job);
        job.gate.close(now);
        job.decision?.note(`stopped ${Math.round(hold)} ms after its first token: the next keystroke was likely to replace it before it ended`);
        job.restTimer = this.clock.setTimeout(() => {
            job.restTimer = undefined;
            if (job.state !== 'running') return;
            job.gate.open(this.clock.now());
            if (restMs > PAUSE_TO_END_MAX_MS) this.armQuietPause(job, restMs);
            else if (!job.pausesOthers) this.beginPause(job);
            this.emit();
        }, hold);
        this.emit();
        return true;
    }

    private endPause(job: Job): void {
        if (!job.pausesOthers) return;
        job.pausesOthers = false;
        this.releasePause(job.model);
    }

    /** One pausing completion on `model` is done pausing; the last one lets held work go. */
    private releasePause(model: ModelEntry | undefined): void {
        this.pausers--;
        if (model) model.pausers--;
        if (this.pausers > 0) return;
        for (const r of this.pausedJobs.slice()) this.unpauseJob(r);
        this.clock.clearTimeout(this.pauseTimer);
        this.pauseTimer = undefined;
        // Work held from starting during the prefill may start now.
        for (const o of this.models) if (o !== model && o.queue.length > 0) this.pump(o);
        this.armPredictivePause();
    }

    private unpauseJob(r: Job): void {
        const i = this.pausedJobs.indexOf(r);
        if (i < 0) return;
        this.pausedJobs.splice(i, 1);
        r.gate.open(this.clock.now());
        if (r.model) r.model.paused = Math.max(0, r.model.paused - 1);
    }

    // ---------------------------------------------------------------- residency

    private isPinned(m: ModelEntry): boolean {
        const p = this.preferredIdx[CLASS_INDEX.completion];
        return p >= 0 && this.models[p] === m;
    }

    private usedMemory(): number {
        let used = 0;
        for (const m of this.models) if (m.residency === 'loaded' || m.residency === 'loading') used += m.memoryBytes;
        return used;
    }

    private memoryShort(): boolean {
        const budget = this.settings.memoryBudgetBytes;
        if (budget === undefined) return false;
        let all = 0;
        for (const m of this.models) if (!m.retired && m.residency !== 'failed') all += m.memoryBytes;
        return all > budget;
    }

    /** Starts the next wanted load, one at a time, evicting idle models when memory is short. */
    private runLoads(): void {
        if (this.loading || this.disposed || !this.isReady) return;
        let next: ModelEntry | undefined;
        let nextRank = -1;
        for (const m of this.models) {
            if (!m.loadWanted || m.residency !== 'unloaded' || m.retired || m.info === undefined) continue;
            // Rank: the pinned coder, then models with waiting work (highest priority first), then pre-loads.
            let rank = 0;
            if (this.isPinned(m)) rank = 1e9;
            else for (const j of m.queue.items) rank = Math.max(rank, 1 + j.priority);
            if (rank > nextRank) {
                next = m;
                nextRank = rank;
            }
        }
        if (!next) return;
        const budget = this.settings.memoryBudgetBytes;
        if (budget !== undefined && this.usedMemory() + next.memoryBytes > budget) {
            // A pre-load (no work waiting) never evicts a model whose own work is forecast.
            const preloadOnly = next.queue.length === 0;
            const evictable = this.models
                .filter((m) => m !== next && m.residency === 'loaded' && !this.isPinned(m) && m.idle && !(preloadOnly && this.expectedSoon(m)))
                .sort((a, b) => a.lastUsedAt - b.lastUsedAt);
            if (preloadOnly) {
                let free = budget - this.usedMemory();
                for (const v of evictable) free += v.memoryBytes;
                if (free < next.memoryBytes) {
                    next.loadWanted = false;
                    return;
                }
            }
            for (const v of evictable) {
                if (this.usedMemory() + next.memoryBytes <= budget) break;
                this.unload(v, `memory: making room for ${next.id}`);
            }
            if (this.usedMemory() + next.memoryBytes > budget) {
                const busyEvictable = this.models.some((m) => m !== next && m.residency === 'loaded' && !this.isPinned(m));
                if (busyEvictable) return; // Retried when a model goes idle (afterWork).
                this.logger?.warn(`model ${next.id} needs ${next.memoryBytes} bytes, over the memory budget of ${budget} with the resident models; loading anyway`);
            }
        }
        this.startLoad(next);
    }

    private startLoad(m: ModelEntry): void {
        const now = this.clock.now();
        m.loadWanted = false;
        m.residency = 'loading';
        m.loadStartedAt = now;
        this.loading = m;
        const backend = m.backend;
        this.emit();
        this.loadingPromise = backend.load(m.spec, this.loadController.signal).then(
            (info) => {
                if (m.backend !== backend) return;
                if (this.loading === m) this.loading = undefined;
                if (this.disposed) return;
                m.setInfo(info);
                m.residency = 'loaded';
                m.error = undefined;
                m.speed.observeLoad(this.clock.now() - now);
                this.refreshPriors(m);
                this.noteSpeeds(m);
                this.logger?.info(`model ${m.id} loaded in ${Math.round(this.clock.now() - now)} ms`);
                this.pump(m);
                this.afterWork(m);
                this.runLoads();
                this.emit();
            },
            (e: unknown) => {
                if (m.backend !== backend) return;
                if (this.loading === m) this.loading = undefined;
                if (this.disposed) return;
                m.residency = 'failed';
                m.error = errorMessage(e);
                this.logger?.error(`model ${m.id} failed to load: ${m.error}`);
                for (const job of m.queue.items.slice()) {
                    m.queue.remove(job);
                    job.state = 'holding';
                    job.lastError = e;
                    this.route(job, 0);
                }
                this.runLoads();
                this.emit();
            },
        );
    }

    private unload(m: ModelEntry, why: string): void {
        this.clockClear(m, 'keepAlive');
        m.residency = 'unloaded';
        m.docs.clear();
        this.logger?.info(`model ${m.id} unloaded (${why})`);
        void m.backend.unload().catch((e: unknown) => this.logger?.warn(`unload of ${m.id} failed: ${errorMessage(e)}`));
        this.emit();
    }

    /** After work on `m`: pending loads may now fit; idle non-pinned models get a keep-alive when memory is short; forecast pre-loads. */
    private afterWork(m: ModelEntry): void {
        if (this.disposed) return;
        if (m.idle && m.residency === 'loaded' && !this.isPinned(m) && this.memoryShort() && m.keepAliveTimer === undefined) {
            m.keepAliveTimer = this.clock.setTimeout(() => {
                m.keepAliveTimer = undefined;
                if (!m.idle || m.residency !== 'loaded' || !this.memoryShort()) return;
                if (this.expectedSoon(m) !== undefined) {
                    // Work for it is forecast: keep it another keep-alive period.
                    this.afterWork(m);
                    return;
                }
                this.unload(m, `idle for ${this.settings.keepAliveMs} ms and memory is short`);
                this.runLoads();
            }, this.settings.keepAliveMs);
        }
        this.preload();
        this.runLoads();
    }

    /**
     * Forecast pre-load: a kind whose preferred model is unloaded and whose next arrival is more
     * likely than not within twice that model's load time gets its model loaded, if it fits
     * after evicting only idle models.
     */
    private preload(): void {
        if (this.settings.policy !== 'zeta' || this.loading) return;
        for (let k = 0; k < NK; k++) {
            const p = this.preferredIdx[k];
            if (p < 0) continue;
            const m = this.models[p];
            if (m.residency !== 'unloaded' || m.loadWanted || m.info === undefined || m.retired) continue;
            const kind = this.expectedSoon(m);
            if (kind === undefined) continue;
            const budget = this.settings.memoryBudgetBytes;
            if (budget !== undefined) {
                let free = budget - this.usedMemory();
                for (const o of this.models) if (o !== m && o.residency === 'loaded' && !this.isPinned(o) && o.idle && this.expectedSoon(o) === undefined) free += o.memoryBytes;
                if (free < m.memoryBytes) continue;
            }
            this.logger?.info(`pre-loading ${m.id}: ${kind} expected within ${Math.round(2 * m.speed.loadMs)} ms`);
            m.loadWanted = true;
        }
    }

    /**
     * A task kind whose preferred model is `m` and whose next arrival is more likely than not
     * within twice `m`'s load time (Poisson at the forecast rate), or undefined.
     */
    private expectedSoon(m: ModelEntry): TaskKind | undefined {
        if (this.settings.policy !== 'zeta') return undefined;
        const now = this.clock.now();
        for (let k = 0; k < NK; k++) {
            const p = this.preferredIdx[k];
            if (p < 0 || this.models[p] !== m) continue;
            const rate = this.forecaster.rate(TASK_KINDS[k], now);
            if (rate > 0 && 1 - Math.exp((-rate * 2 * m.speed.loadMs) / 1000) >= 0.5) return TASK_KINDS[k];
        }
        return undefined;
    }

    private clockClear(m: ModelEntry, which: 'keepAlive'): void {
        if (which === 'keepAlive' && m.keepAliveTimer !== undefined) {
            this.clock.clearTimeout(m.keepAliveTimer);
            m.keepAliveTimer = undefined;
        }
    }

    // ---------------------------------------------------------------- learned speeds

    /** A model whose file this machine has measured before starts from those speeds. */
    private restoreSpeeds(m: ModelEntry): void {
        if (!m.info) return;
        const stored = this.speeds.get(speedKey(m.spec, m.info));
        if (!stored) return;
        m.speed.restore(stored);
        this.refreshPriors(m);
        this.logger?.info(`model ${m.id}: starting from the speeds measured in an earlier session`);
    }

    /** Keeps what `m` has measured (saved debounced). */
    private noteSpeeds(m: ModelEntry): void {
        if (!m.info || !this.speedSave || this.disposed) return;
        this.speeds.set(speedKey(m.spec, m.info), m.speed.learned());
        this.speedSave.schedule();
    }

    // ---------------------------------------------------------------- events

    private emit(): void {
        if (this.listeners.size === 0) return;
        for (const l of this.listeners) {
            try {
                l();
            } catch (e) {
                this.logger?.warn(`onDidChange listener threw: ${errorMessage(e)}`);
            }
        }
    }
}

function noop(): void {}

/** A spec change that needs a new backend (the file or how it is loaded). */
function needsReload(a: ModelSpec, b: ModelSpec): boolean {
    return (
        a.path !== b.path ||
        a.contextSize !== b.contextSize ||
        a.slots !== b.slots ||
        a.threads !== b.threads ||
        a.gpuLayers !== b.gpuLayers ||
        a.fimTemplate !== b.fimTemplate ||
        a.role !== b.role ||
        a.memoryBudgetBytes !== b.memoryBudgetBytes
    );
}
