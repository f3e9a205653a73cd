/**
 * One shared compute device (a GPU, or the CPU cores) in virtual time, in one of two modes.
 *
 * "shared" (processor sharing; a GPU time-slicing kernels of several contexts, or CPU threads on
 * separate cores): every running job (a prefill chunk, one decoded token, an embedded text) has an
 * amount of work in "isolated ms", the time it takes alone. While k distinct models are computing,
 * a job of phase p on model m progresses at rate
 *     (batchGain_m[p](n_m) / n_m) / contention[p](k)        isolated-ms per ms,
 * where n_m is the number of jobs on model m. Rates change only when the set of jobs changes, so
 * the device keeps a single timer for the earliest completion and re-plans on every change.
 *
 * "serial" (one evaluation thread for all models: node-llama-cpp with maxThreads 1): jobs run one
 * at a time at full speed, in arrival order, and a started job is never preempted; a job waits for
 * every job that arrived before it. Contention then follows from the job sizes (a 15 ms decode token
 * waits behind another model's 200 ms prefill chunk) instead of a table.
 *
 * A job that starts after the device computed nothing for IDLE_WAKE_AFTER_MS or more carries
 * `device.idleWakeMs` more work (the measured cost of the first call after a pause on the CPU).
 *
 * Invariant: `remaining` of every running job is exact as of `lastUpdate`.
 */
import type { Clock, TimerHandle } from '../../src/core/clock';
import { IDLE_WAKE_AFTER_MS, factorAt, type DeviceProfile, type ModelProfile, type Phase } from './speedProfile';

interface Job {
    readonly model: string;
    readonly phase: Phase;
    readonly work: number;
    remaining: number;
    rate: number;
    readonly resolve: () => void;
    readonly reject: (e: unknown) => void;
}

export interface JobHandle {
    /** Resolves when the work is done; rejects with signal.reason on abort. */
    readonly done: Promise<void>;
    /** Fraction of the work done so far, 0..1. */
    progress(): number;
}

/** Work left below this (isolated ms) counts as done: guards float round-off. */
const EPS = 1e-7;

export class SimDevice {
    private readonly jobs = new Set<Job>();
    /** Serial mode: jobs waiting to start, in arrival order. */
    private readonly waiting: Job[] = [];
    private lastUpdate: number;
    /** When the device last became idle (no job running or waiting). */
    private idleSince: number;
    private readonly serial: boolean;
    private timer: TimerHandle | undefined;
    /** Busy time per model (ms of wall time with at least one job), for utilisation checks. */
    readonly busyMs = new Map<string, number>();
    /** Highest number of distinct models seen computing at once. */
    maxConcurrentModels = 0;
    /** When set, every change of the set of computing models is appended: [time, model ids]. */
    timeline: Array<[number, string[]]> | undefined;

    constructor(
        private readonly clock: Clock,
        private readonly device: DeviceProfile,
        private readonly models: Readonly<Record<string, ModelProfile>>,
    ) {
        this.lastUpdate = clock.now();
        this.idleSince = clock.now();
        this.serial = device.scheduling === 'serial';
    }

    /** Number of distinct models with work on the device now. */
    get activeModels(): number {
        const s = new Set<string>();
        for (const j of this.jobs) s.add(j.model);
        return s.size;
    }

    /**
     * Starts a job. With a `signal`, aborting removes the job at once (its done promise rejects
     * with the reason); without one the job always runs to its end, as a native evaluation call
     * does once started.
     */
    run(model: string, phase: Phase, isolatedMs: number, signal?: AbortSignal): JobHandle {
        const work = Math.max(0, isolatedMs);
        let job: Job | undefined;
        const done = new Promise<void>((resolve, reject) => {
            if (signal?.aborted) {
                reject(signal.reason);
                return;
            }
            this.settle();
            const wake = this.jobs.size === 0 && this.clock.now() - this.idleSince >= IDLE_WAKE_AFTER_MS ? (this.device.idleWakeMs ?? 0) : 0;
            job = { model, phase, work: work + wake, remaining: work + wake, rate: 0, resolve, reject };
            if (this.serial && this.jobs.size > 0) this.waiting.push(job);
            else this.jobs.add(job);
        });
        if (job && signal) {
            const j = job;
            const onAbort = (): void => {
                const w = this.waiting.indexOf(j);
                if (w >= 0) {
                    this.waiting.splice(w, 1);
                    j.reject(signal.reason);
                    return;
                }
                if (!this.jobs.has(j)) return;
                this.settle();
                this.jobs.delete(j);
                j.reject(signal.reason);
                this.plan();
            };
            signal.addEventListener('abort', onAbort, { once: true });
            const detach = (): void => signal.removeEventListener('abort', onAbort);
            done.then(detach, detach);
        }
        if (job) this.plan();
        return {
            done,
            progress: () => {
                if (!job) return 0;
                if (job.work === 0) return 1;
                let rem = job.remaining;
                if (this.jobs.has(job)) rem = Math.max(0, rem - (this.clock.now() - this.lastUpdate) * job.rate);
                return 1 - rem / job.work;
            },
        };
    }

    /** Advances every job's remaining work to now at the rates in force since lastUpdate. */
    private settle(): void {
        const now = this.clock.now();
        const dt = now - this.lastUpdate;
        if (dt > 0) {
            const busy = new Set<string>();
            for (const j of this.jobs) {
                j.remaining = Math.max(0, j.remaining - dt * j.rate);
                busy.add(j.model);
            }
            for (const m of busy) this.busyMs.set(m, (this.busyMs.get(m) ?? 0) + dt);
        }
        this.lastUpdate = now;
    }

    /** Completes finished jobs, recomputes rates and sets the timer for the next completion. */
    private plan(): void {
        const wasBusy = this.jobs.size > 0;
        for (const j of [...this.jobs]) {
            if (j.remaining <= EPS) {
                this.jobs.delete(j);
                j.resolve();
            }
        }
        if (this.serial && this.jobs.size === 0) {
            const next = this.waiting.shift();
            if (next) this.jobs.add(next);
        }
        if (this.jobs.size === 0 && wasBusy) this.idleSince = this.clock.now();
        const perModel = new Map<string, number>();
        for (const j of this.jobs) perModel.set(j.model, (perModel.get(j.model) ?? 0) + 1);
        const k = perModel.size;
        this.maxConcurrentModels = Math.max(this.maxConcurrentModels, k);
        if (this.timeline) {
            const ids = [...perModel.keys()].sort();
            const last = this.timeline[this.timeline.length - 1];
            if (!last || last[1].join() !== ids.join()) this.timeline.push([this.clock.now(), ids]);
        }
        let nextMs = Number.POSITIVE_INFINITY;
        for (const j of this.jobs) {
            const n = perModel.get(j.model) ?? 1;
            const m = this.models[j.model];
            const gain = m ? factorAt(m.batchGain[j.phase], n) : 1;
            j.rate = this.serial ? 1 : gain / n / factorAt(this.device.contention[j.phase], k);
            nextMs = Math.min(nextMs, j.remaining / j.rate);
        }
        this.clock.clearTimeout(this.timer);
        this.timer = undefined;
        if (Number.isFinite(nextMs)) {
            this.timer = this.clock.setTimeout(() => {
                this.timer = undefined;
                this.settle();
                this.plan();
            }, nextMs);
        }
    }
}
