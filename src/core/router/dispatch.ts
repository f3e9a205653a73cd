/**
 * Dispatch: per-model queues and starts. A routed task waits in its model's queue until a slot is
 * free and the model is loaded; `pump` starts what may start, by priority (first come, first served
 * under the baseline policies), passing over background work held for headroom and lower-priority
 * work while a completion elsewhere reads its prompt. Zeta drops a completion that can no longer
 * meet its objective rather than show it late.
 *
 * Invariants: a job is in at most one queue; `m.running.length + m.abandoned <= m.slots` (calls
 * the watchdog gave up on keep their slot until they return); work starts only on a loaded,
 * non-retired model; every call started is tracked until it settles (`drain`).
 * Units: ms (clock).
 */
import type { Clock } from '../clock';
import { DeadlineError } from '../errors';
import { CLASS_INDEX, type RouterConfig } from './config';
import type { Job, ModelEntry } from './state';
import type { PauseController } from './pauses';
import type { Residency } from './residency';
import { HEADROOM_CONFIDENCE, HEADROOM_CONFIDENCE_GPU, HOLD_BANK_MAX_MS, MAX_HOLD_SHARE, STARVATION_MS } from './tuning';

export interface DispatchDeps {
    readonly clock: Clock;
    readonly config: () => RouterConfig;
    readonly pauses: PauseController;
    readonly residency: Residency;
    /** Probability that a completion request arrives within `horizon` ms from `now`. */
    readonly completionWithin: (now: number, horizon: number) => number;
    /** Runs `job`'s backend call on `m`; resolves when the call and its bookkeeping are over. */
    readonly run: (job: Job, m: ModelEntry) => Promise<void>;
    readonly settle: (job: Job, error: unknown) => void;
    readonly emit: () => void;
    readonly disposed: () => boolean;
}

export class Dispatcher {
    /** Calls in progress, until their bookkeeping is done. */
    private readonly executing = new Set<Promise<void>>();

    constructor(private readonly deps: DispatchDeps) {}

    /**
     * Zeta drops a completion predicted late. A job routed to a model that had to load first is
     * never dropped for lateness: a load is a one-off cost that dropping would not save. Nor is a
     * retry after a model failed or stalled on it: the time lost was that model's, and the user is
     * still waiting for this completion (a keystroke would have superseded it).
     */
    dropsLate(job: Job): boolean {
        return this.lateMayDrop(job) && !job.waitsForLoad && job.failedOn === undefined;
    }

    /** `job` was routed to its model: remembers whether it has to wait for a load (see dropsLate). */
    noteRouted(job: Job): void {
        if (this.lateMayDrop(job) && job.model !== undefined && job.model.residency !== 'loaded') job.waitsForLoad = true;
    }

    /** @param serviceMs predicted run time once started; @param firstMs to first token once started. */
    enqueue(job: Job, m: ModelEntry, serviceMs: number, firstMs: number): void {
        const { clock } = this.deps;
        const now = clock.now();
        job.model = m;
        job.state = 'queued';
        job.queuedAt = now;
        job.serviceMs = serviceMs;
        job.firstMs = firstMs;
        job.aheadMs = job.isBackground && !this.deps.config().fifo ? Math.min(serviceMs, firstMs) : serviceMs;
        m.queue.push(job);
        this.deps.pauses.workWaits(m);
        if (this.dropsLate(job) && Number.isFinite(job.deadlineAt)) {
            // The last moment it can start and still meet its objective.
            const latest = job.deadlineAt - serviceMs;
            job.timer = clock.setTimeout(() => {
                job.timer = undefined;
                if (job.state === 'queued') this.dropQueued(job, `still waiting at its latest start time on ${m.id}`);
            }, Math.max(0, latest - now));
        }
        if (m.residency === 'unloaded') {
            m.loadWanted = true;
            this.deps.residency.runLoads();
        }
        this.pump(m);
        this.deps.emit();
    }

    /** An embedding task's next batch goes back into `m`'s queue, keeping its place among equals. */
    requeueBatch(job: Job, m: ModelEntry, remainingTexts: number): void {
        const cfg = this.deps.config();
        const perText = m.speed.embedMsPerText;
        job.state = 'queued';
        job.queuedAt = this.deps.clock.now();
        job.serviceMs = remainingTexts * perText;
        job.firstMs = Math.min(remainingTexts, cfg.embedBatch) * perText;
        job.aheadMs = !cfg.fifo ? job.firstMs : job.serviceMs;
        m.queue.push(job);
    }

    /** Starts queued jobs on free slots of a loaded model. */
    pump(m: ModelEntry): void {
        if (m.residency !== 'loaded' || this.deps.disposed() || m.retired) return;
        const cfg = this.deps.config();
        // A call the watchdog gave up on still holds its slot in the backend until it returns.
        while (m.running.length + m.abandoned < m.slots && m.queue.length > 0) {
            const now = this.deps.clock.now();
            const holdBackground = cfg.on('forecastHeadroom') && this.headroomHold(m, now);
            // While a completion on another model prefills, lower-priority work here does not start
            // (a prefill or an embedding batch cannot be paused once running).
            const holdBelow = cfg.on('pauseOthers') && this.deps.pauses.othersPausing(m) ? cfg.priorities[CLASS_INDEX.completion] : Number.NEGATIVE_INFINITY;
            const job = m.queue.next(cfg.fifo, now - STARVATION_MS, holdBackground, holdBelow);
            if (!job) break;
            m.queue.remove(job);
            if (this.dropsLate(job) && now + job.serviceMs > job.deadlineAt) {
                this.dropQueued(job, `could not start on ${m.id} in time`);
                continue;
            }
            this.start(job, m);
        }
    }

    /** Resolves when every call in progress has settled. */
    async drain(): Promise<void> {
        await Promise.allSettled([...this.executing]);
    }

    private lateMayDrop(job: Job): boolean {
        return this.deps.config().zeta && job.kind === 'completion' && Number.isFinite(job.objectiveMs);
    }

    private dropQueued(job: Job, detail: string): void {
        const m = job.model;
        if (m) m.queue.remove(job);
        job.decision?.note(`dropped: ${detail}`);
        this.deps.settle(job, new DeadlineError(job.kind, job.objectiveMs, detail));
    }

    private start(job: Job, m: ModelEntry): void {
        const { clock } = this.deps;
        const now = clock.now();
        if (job.timer) {
            clock.clearTimeout(job.timer);
            job.timer = undefined;
        }
        job.state = 'running';
        job.attempts++;
        if (job.startedAt === undefined) job.startedAt = now;
        m.running.push(job);
        m.speed.markBusy(now, m.running.length);
        this.deps.residency.clearKeepAlive(m);
        job.predictedEndAt = now + (job.isBackground && !this.deps.config().fifo ? job.aheadMs : job.serviceMs);
        job.callStartedAt = now;
        job.gate.pausedMs = 0;
        job.pausedBeforeFirstMs = 0;
        this.deps.pauses.started(job, m);
        const p = this.deps.run(job, m);
        job.execution = p;
        this.executing.add(p);
        void p.finally(() => this.executing.delete(p));
    }

    /**
     * Headroom: background batches on `m` are held back while a completion is likely
     * (HEADROOM_CONFIDENCE) to arrive before a batch would finish: models share one device, and a
     * batch cannot be paused once started. With one-text batches this starts indexing work right
     * after a keystroke's completion has its first token, when the next keystroke is least likely.
     * Bounded by a per-model hold budget (a token bucket): it accrues MAX_HOLD_SHARE ms per ms that
     * background work is pending and is spent 1 ms per ms held, capped at HOLD_BANK_MAX_MS, so over
     * any long stretch background work is held at most that share of the time (indexing slows by at
     * most 1 / (1 - share)) and always progresses.
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
        if (this.deps.completionWithin(now, batchMs) < confidence) return false;
        b.holding = true;
        if (m.holdTimer === undefined) {
            const recheck = Math.min(b.bankMs / (1 - MAX_HOLD_SHARE), Math.max(10, batchMs / 2));
            m.holdTimer = this.deps.clock.setTimeout(() => {
                m.holdTimer = undefined;
                this.pump(m);
            }, Math.max(1, recheck));
        }
        return true;
    }
}
