/**
 * The router's facade: the public `Router` API (submit, cancel, settle, snapshot, events,
 * reconfigure, dispose), a task's life from submission to settlement, and the wiring of the parts
 * that make each decision:
 *
 *   admission.ts        prompt sizing and hold-start (whether a completion waits before routing)
 *   decide.ts           the routing decision: predictions, the policy's choice, cold start, objective
 *   dispatch.ts         per-model queues, starts, deadlines, headroom
 *   execute.ts          one backend call per start, what is learned from it, what happens after
 *   pauses.ts           the pause controller (who waits at their gate while a completion runs)
 *   residency.ts        loads, eviction, keep-alive, pre-load
 *   backgroundReads.ts  cold-start reads and read-ahead
 *   models.ts           the model set and the reconfiguration diff
 *   speeds.ts, speedMonitor.ts, forecast.ts, feedback.ts: what is measured, forecast and learned
 *
 * Time comes only from `deps.clock`. Units: ms, tokens, bytes.
 *
 * Invariants:
 * - Every submitted task settles exactly once (`settle`), whatever happens: superseded, cancelled,
 *   dropped, failed, disposed.
 * - A job is in at most one place: holding (a timer), one model's queue, or one model's `running`.
 * - No timer is left armed when nothing is queued, running, held, loading or unsaved, except
 *   keep-alive timers of idle models while memory is short.
 */
import type { ModelInfo, ModelSpec } from '../backend';
import type { Clock } from '../clock';
import { DeadlineError, ModelRuntimeError, RemoteEngineError, StalledError, SupersededError, abortError, errorMessage } from '../errors';
import type {
    ActivitySignal,
    CompletionTask,
    DecisionRecord,
    Disposable,
    Feedback,
    Router,
    RouterDeps,
    RouterLogger,
    RouterSnapshot,
    RoutingSettings,
    Task,
    TaskResult,
    TextStore,
} from '../tasks';
import { Admission } from './admission';
import { BackgroundReads } from './backgroundReads';
import { CLASS_INDEX, RouterConfig } from './config';
import { Decider } from './decide';
import type { DecisionRecordImpl } from './decision';
import { Dispatcher } from './dispatch';
import { Executor, RemoteStalledError } from './execute';
import { markRemoteFault, remoteReason } from './remote';
import { FeedbackModel } from './feedback';
import { Forecaster } from './forecast';
import { Job, capabilityOf, type ModelEntry } from './state';
import { ModelSet } from './models';
import { PauseController } from './pauses';
import { DebouncedSave } from './persist';
import { Residency } from './residency';
import { explainWaits, modelSnapshot } from './snapshot';
import { SpeedBook } from './speeds';
import { FEEDBACK_SAVE_DEBOUNCE_MS, RECENT_DECISIONS } from './tuning';

/** The router plus a dry-run decision, for the benchmark's decision-cost measurement. */
export interface ZetaRouter extends Router {
    /** Makes the routing decision `submit` would make now, without queuing anything. */
    decide(task: Task): DecisionRecord;
}

export class RouterImpl implements ZetaRouter {
    private config: RouterConfig;
    private readonly clock: Clock;
    private readonly logger: RouterLogger | undefined;
    private readonly feedbackStore: TextStore | undefined;
    private readonly turns: RouterDeps['turns'];
    private readonly listeners = new Set<() => void>();
    /** Unsettled completions per document, oldest first. */
    private readonly docJobs = new Map<string, Job[]>();
    private readonly live = new Set<Job>();
    private readonly recent: DecisionRecordImpl[] = [];
    private readonly forecaster = new Forecaster();
    private readonly feedbackModel = new FeedbackModel();
    private readonly feedbackSave: DebouncedSave | undefined;
    private nextId = 1;
    private readonly ready: Promise<void>;
    private isReady = false;
    private disposed = false;

    private readonly models: ModelSet;
    private readonly speeds: SpeedBook;
    private readonly admission: Admission;
    private readonly decider: Decider;
    private readonly pauses: PauseController;
    private readonly residency: Residency;
    private readonly dispatcher: Dispatcher;
    private readonly executor: Executor;
    private readonly reads: BackgroundReads;

    constructor(deps: RouterDeps) {
        this.clock = deps.clock;
        this.logger = deps.logger;
        this.feedbackStore = deps.feedbackStore;
        this.turns = deps.turns;
        this.feedbackSave = deps.feedbackStore && new DebouncedSave(deps.clock, deps.feedbackStore, () => this.feedbackModel.serialize(), FEEDBACK_SAVE_DEBOUNCE_MS, 'feedback', deps.logger);
        this.config = new RouterConfig(deps.settings);
        const config = (): RouterConfig => this.config;
        const emit = (): void => this.emit();
        const disposed = (): boolean => this.disposed;
        const clock = deps.clock;

        this.models = new ModelSet(deps.createBackend);
        const models = this.models;
        this.speeds = new SpeedBook(() => models.list, clock, deps.speedStore, deps.logger);
        this.admission = new Admission(models, this.forecaster.cadence);
        this.pauses = new PauseController({ clock, models: () => models.list, config, cadence: this.forecaster.cadence, pump: (m) => this.dispatcher.pump(m), emit, disposed });
        this.residency = new Residency({
            clock,
            models,
            config,
            speeds: this.speeds,
            rate: (kind, now) => this.forecaster.rate(kind, now),
            ready: () => this.isReady,
            disposed,
            onLoaded: (m) => this.dispatcher.pump(m),
            onLoadFailed: (m, e) => this.rerouteQueue(m, e),
            emit,
            logger: deps.logger,
        });
        this.decider = new Decider({
            clock,
            models,
            config,
            quality: (m, kind, learn) => this.feedbackModel.quality(m.id, m.spec.role, kind, learn),
            loadBusyMs: (now) => this.residency.loadBusyMs(now),
            tokensPerChar: () => this.admission.tokensPerChar,
        });
        this.executor = new Executor({
            clock,
            config,
            admission: this.admission,
            speeds: this.speeds,
            pauses: this.pauses,
            dispatcher: () => this.dispatcher,
            residency: this.residency,
            outcomes: {
                finish: (job, m, text, vectors) => this.finish(job, m, text, vectors),
                failed: (job, m, error) => this.failed(job, m, error),
                stalled: (job, m, error) => this.stalled(job, m, error),
                settle: (job, error) => this.settle(job, error),
                reroute: (job) => this.route(job, 0),
            },
            disposed,
            emit,
            logger: deps.logger,
            turns: () => this.turns?.waits(),
        });
        this.dispatcher = new Dispatcher({
            clock,
            config,
            pauses: this.pauses,
            residency: this.residency,
            completionWithin: (now, horizon) => this.forecaster.completionWithin(now, horizon),
            run: (job, m) => this.executor.run(job, m),
            settle: (job, error) => this.settle(job, error),
            emit,
            disposed,
        });
        this.reads = new BackgroundReads({
            clock,
            config,
            models,
            admission: this.admission,
            decider: this.decider,
            dispatcher: () => this.dispatcher,
            newJob: (task, kind, priority) => new Job(this.nextId++, task, kind, CLASS_INDEX[kind], priority, clock.now(), noop, noop),
            track: (job) => this.live.add(job),
            cancel: (job, reason) => this.cancel(job, reason),
            remember: (rec) => this.remember(rec),
            emit,
            disposed,
        });

        for (const spec of deps.models) models.add(spec);
        models.recomputePreferred();
        this.ready = this.init(models.list.slice());
    }

    // ---------------------------------------------------------------- public API

    submit(task: Task, signal?: AbortSignal): Promise<TaskResult> {
        if (this.disposed) return Promise.reject(abortError('router disposed'));
        if (signal?.aborted) return Promise.reject(signal.reason);
        const classIndex = CLASS_INDEX[task.kind];
        if (classIndex === undefined) return Promise.reject(new TypeError(`unknown task kind ${String((task as { kind: unknown }).kind)}`));
        const now = this.clock.now();
        return new Promise<TaskResult>((resolve, reject) => {
            const job = new Job(this.nextId++, task, task.kind, classIndex, this.config.priorities[classIndex], now, resolve, reject);
            this.live.add(job);
            if (signal) {
                const onAbort = (): void => this.cancel(job, signal.reason);
                signal.addEventListener('abort', onAbort, { once: true });
                job.detachExternal = () => signal.removeEventListener('abort', onAbort);
            }
            this.forecaster.arrival(task.kind, now, task.kind === 'completion' ? job.doc : undefined);
            if (task.kind === 'completion') {
                this.reads.endReadAhead(task.doc);
                // A newer completion for the same document supersedes the older ones.
                const older = this.docJobs.get(task.doc);
                if (older) for (const o of older.slice()) this.cancel(o, new SupersededError(task.doc));
                const list = this.docJobs.get(task.doc);
                if (list) list.push(job);
                else this.docJobs.set(task.doc, [job]);
            }
            if (this.isReady) this.admit(job);
            else void this.ready.then(() => this.admit(job));
        });
    }

    decide(task: Task): DecisionRecord {
        const classIndex = CLASS_INDEX[task.kind];
        const job = new Job(0, task, task.kind, classIndex, this.config.priorities[classIndex], this.clock.now(), noop, noop);
        this.admission.size(job);
        return this.decider.decide(job);
    }

    feedback(f: Feedback): void {
        this.feedbackModel.record(f.modelId, f.kind, f.event);
        if (!this.disposed) this.feedbackSave?.schedule();
    }

    activity(signal: ActivitySignal): void {
        if (signal.type === 'keystroke') this.forecaster.keystroke(signal.doc, this.clock.now());
    }

    readAhead(task: CompletionTask): void {
        if (this.disposed || !this.isReady) return;
        this.reads.readAhead(task);
    }

    onDidChange(listener: () => void): Disposable {
        this.listeners.add(listener);
        return { dispose: () => this.listeners.delete(listener) };
    }

    modelInfo(id: string): ModelInfo | undefined {
        return this.models.get(id)?.info;
    }

    snapshot(): RouterSnapshot {
        const now = this.clock.now();
        return {
            at: now,
            policy: this.config.settings.policy,
            models: this.models.list.map((m) => modelSnapshot(m, now)),
            recentDecisions: this.recent.map((d) => d.copy()),
            forecast: this.forecaster.snapshot(now),
            typingIntervalMs: this.forecaster.cadence.typingIntervalMs(now),
            waits: explainWaits({ jobs: this.live, config: this.config, pauses: this.pauses, turns: this.turns?.waits() }),
        };
    }

    async reconfigure(specs: readonly ModelSpec[], settings: RoutingSettings): Promise<void> {
        if (this.disposed) return;
        this.config = new RouterConfig(settings);
        const diff = this.models.reconcile(specs);
        for (const r of diff.replaced) {
            this.residency.forget(r.model);
            // The old backend is unloaded once its running calls have settled.
            void Promise.allSettled(r.running.map((j) => j.execution)).then(() =>
                r.old.unload().catch((e: unknown) => this.logger?.warn(`unload of old ${r.model.id} failed: ${errorMessage(e)}`)),
            );
        }
        for (const m of diff.retire) this.retire(m);
        this.models.recomputePreferred();
        await this.models.inspect(diff.inspect, this.residency.signal, this.logger);
        for (const m of diff.inspect) this.speeds.restore(m);
        for (const m of diff.inspect) this.residency.wantInitialLoad(m);
        this.residency.runLoads();
        for (const m of this.models.list) this.dispatcher.pump(m);
        this.emit();
    }

    async dispose(): Promise<void> {
        if (this.disposed) return;
        this.disposed = true;
        this.speeds.stop();
        const reason = abortError('router disposed');
        for (const job of [...this.live]) this.cancel(job, reason);
        this.pauses.dispose();
        const loads = this.residency.dispose(reason);
        await this.dispatcher.drain();
        await loads;
        await Promise.all([this.feedbackSave?.flush(), this.speeds.flush()]);
        await Promise.allSettled(this.models.list.map((m) => m.backend.unload()));
        for (const m of this.models.list) m.residency = 'unloaded';
        this.emit();
        this.listeners.clear();
    }

    // ---------------------------------------------------------------- setup

    private async init(entries: ModelEntry[]): Promise<void> {
        const fb = this.feedbackStore ? this.feedbackModel.loadFrom(this.feedbackStore, this.logger) : Promise.resolve();
        await Promise.all([this.models.inspect(entries, this.residency.signal, this.logger), fb, this.speeds.load()]);
        for (const m of entries) this.speeds.restore(m);
        this.isReady = true;
        if (this.disposed) return;
        for (const m of entries) this.residency.wantInitialLoad(m);
        this.residency.runLoads();
        this.emit();
    }

    /** Removed from the settings: its queue goes elsewhere, its running work finishes, then it is unloaded and forgotten. */
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
            this.residency.clearKeepAlive(m);
            void m.backend.unload().catch(noop);
            m.residency = 'unloaded';
            this.models.remove(m);
            this.emit();
        };
        if (m.running.length === 0) finish();
        else m.onIdle = finish;
    }

    /**
     * `m` failed to load (or its engine failed): its queued work is routed again, elsewhere if
     * anything can take it. After a remote engine's fault each job counts `m` as failed for it, so
     * that a job with nowhere else to go settles with the error instead of reconnecting in a loop.
     */
    private rerouteQueue(m: ModelEntry, error: unknown): void {
        for (const job of m.queue.items.slice()) {
            m.queue.remove(job);
            job.state = 'holding';
            job.lastError = error;
            if (error instanceof RemoteEngineError) (job.failedOn ??= []).push(m);
            this.route(job, 0);
        }
    }

    // ---------------------------------------------------------------- a task's life

    /**
     * Sizes the task, then routes it, unless zeta's holdSupersedable holds a completion first
     * (`Admission.holdStartMs`). The decision made to size the hold is the one routing uses when
     * there is no hold.
     */
    private admit(job: Job): void {
        if (job.state === 'done') return;
        if (this.disposed) return this.settle(job, abortError('router disposed'));
        this.admission.size(job);
        let rec: DecisionRecordImpl | undefined;
        const t = job.task;
        if (this.config.on('holdSupersedable') && t.kind === 'completion' && this.admission.mayHold(t)) {
            rec = this.decider.decide(job);
            const hold = this.admission.holdStartMs(job, rec, this.clock.now());
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
        this.route(job, 0, rec);
    }

    /** Queues the job on the model `rec` (or a decision made now) chose, or settles it with a typed error. */
    private route(job: Job, heldMs: number, decided?: DecisionRecordImpl): void {
        if (job.state === 'done') return;
        if (this.disposed) return this.settle(job, abortError('router disposed'));
        const rec = decided ?? this.decider.decide(job);
        job.decision = rec;
        this.remember(rec);
        if (heldMs > 0) rec.note(`held ${Math.round(heldMs)} ms first: this user's typing cadence said another keystroke was likely to replace it`);
        if (job.failedOn) {
            const last = job.failedOn[job.failedOn.length - 1];
            const e = job.lastError;
            rec.note(
                e instanceof RemoteStalledError && e.modelId === last.id
                    ? `retry after ${e.reason}`
                    : e instanceof StalledError && e.modelId === last.id
                      ? `retry after ${last.id} stalled (no progress for ${Math.round(e.silentMs)} ms); ${last.id} cooling down`
                      : e instanceof RemoteEngineError
                        ? `retry after ${last.id} failed: ${remoteReason(last.id, e)}`
                        : `retry after ${last.id} failed`,
            );
        }
        if (rec.chosen === undefined) {
            this.logger?.info(`task ${job.id} (${job.kind}): ${rec.reason}`);
            return this.settle(job, this.decider.noModelError(job, rec));
        }
        const m = this.models.get(rec.chosen)!;
        const c = rec.candidates[this.models.list.indexOf(m)];
        const now = this.clock.now();
        // An objective never asks for less than the chosen model's own idle time: a model predicted
        // slower than that would otherwise have every completion dropped, and its prediction, never
        // measured again, would never be corrected.
        job.objectiveMs = Math.max(job.objectiveMs, c.isolatedMs);
        job.deadlineAt = job.submittedAt + job.objectiveMs;
        job.predictedFirstAt = now + c.firstTokenMs;
        job.model = m;
        this.dispatcher.noteRouted(job);
        if (this.dispatcher.dropsLate(job) && now + c.finishMs > job.deadlineAt) {
            rec.note(`dropped: predicted ${Math.round(now + c.finishMs - job.submittedAt)} ms exceeds the ${Math.round(job.objectiveMs)} ms objective`);
            return this.settle(job, new DeadlineError(job.kind, job.objectiveMs, `best prediction ${Math.round(c.finishMs)} ms on ${m.id}`));
        }
        this.dispatcher.enqueue(job, m, c.finishMs - c.waitMs, c.firstTokenMs - c.waitMs);
        if (job.readOn) this.reads.coldStartRead(job.readOn, job);
    }

    private finish(job: Job, m: ModelEntry, text: string | undefined, vectors: number[][] | undefined): void {
        const now = this.clock.now();
        if (!job.backgroundRead) {
            m.served++;
            m.speed.observeLatency(now - job.submittedAt);
        }
        this.settle(job, undefined, job.result(m, now, text, vectors));
    }

    /**
     * A backend error (not an abort): cooldown, then one retry on another capable model. A remote
     * engine's failure (RemoteEngineError) is the engine's, not the call's: the reason names it in
     * words, the model's queued work goes elsewhere too, and a refused credential
     * ("unauthorized") keeps the model out until the user reconfigures it (a new key gives it a
     * fresh backend: models.ts needsReload).
     */
    private failed(job: Job, m: ModelEntry, error: unknown): void {
        if (error instanceof RemoteEngineError) {
            const cooldownMs = this.config.settings.cooldownMs;
            markRemoteFault(m, error, this.clock.now(), cooldownMs);
            this.logger?.warn(`model ${m.id} failed ${job.kind} task ${job.id}: ${m.error}; ${m.needsSetup !== undefined ? 'not used until its settings change' : `cooling down ${cooldownMs} ms`}`);
            this.rerouteQueue(m, error);
        } else if (error instanceof ModelRuntimeError && error.problem === 'unsupported') {
            // The model cannot do this kind of work (its backend said so): leave it out for that
            // capability only; its other work goes on.
            m.unsupported.set(capabilityOf(job.kind), errorMessage(error));
            this.logger?.warn(`model ${m.id} cannot serve ${job.kind} task ${job.id}: ${errorMessage(error)}; it is left out for such tasks until its settings change`);
        } else {
            const cooldownMs = this.coolDown(m, 'cooling down after an error', errorMessage(error));
            this.logger?.warn(`model ${m.id} failed ${job.kind} task ${job.id}: ${m.error}; cooling down ${cooldownMs} ms`);
        }
        this.retryElsewhere(job, m, error);
    }

    /**
     * The watchdog gave up on `job`'s call on `m` (see execute.ts): `m` cools down, and the job is
     * retried once elsewhere, or settles with its cancellation if it was cancelled meanwhile. While
     * every slot of `m` holds a call that never returned, its queue goes elsewhere.
     */
    private stalled(job: Job, m: ModelEntry, error: StalledError): void {
        const silent = Math.round(error.silentMs);
        const reason = error instanceof RemoteStalledError ? error.reason : `cooling down: stalled (no progress for ${silent} ms)`;
        const cooldownMs = this.coolDown(m, reason, `stalled: ${error.message}`);
        this.logger?.warn(`model ${m.id} stalled on ${job.kind} task ${job.id}: ${error.message}; cooling down ${cooldownMs} ms`);
        // A remote engine that does not answer is the engine's fault, not the call's: what waits for it goes elsewhere too.
        if (m.abandoned >= m.slots || error instanceof RemoteStalledError) this.rerouteQueue(m, error);
        if (job.signal.aborted) return this.settle(job, job.signal.reason);
        this.retryElsewhere(job, m, error);
    }

    /** Puts `m` on cooldown, shown as `reason` in decisions and `error` in the load view; returns its length (ms). */
    private coolDown(m: ModelEntry, reason: string, error: string): number {
        const cooldownMs = this.config.settings.cooldownMs;
        m.failed++;
        m.coolingDownUntil = this.clock.now() + cooldownMs;
        m.coolingReason = reason;
        m.error = error;
        return cooldownMs;
    }

    /** After `m` failed `job`: one retry on another capable model, or settlement with `error`. */
    private retryElsewhere(job: Job, m: ModelEntry, error: unknown): void {
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
        for (const timer of [job.timer, job.quietTimer, job.restTimer, job.watchdog, job.remoteWatch]) if (timer) this.clock.clearTimeout(timer);
        job.timer = job.quietTimer = job.restTimer = job.watchdog = job.remoteWatch = undefined;
        if (wasQueued && job.model) job.model.queue.remove(job);
        this.pauses.settled(job);
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
                if (m) this.dispatcher.pump(m);
                break;
            }
            case 'running':
                if (!job.signal.aborted) job.controller.abort(reason);
                break;
            default:
                break;
        }
    }

    private remember(rec: DecisionRecordImpl): void {
        this.recent.unshift(rec);
        if (this.recent.length > RECENT_DECISIONS) this.recent.pop();
    }

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
