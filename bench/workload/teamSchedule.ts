/**
 * The teammates' load on the shared server (issue 21 §4): a seeded schedule of requests arriving
 * in bursts, the same for every policy of a round and for the real and the simulated server.
 *
 * A burst brings `slots + queue` requests within `spreadMs`: enough to take every slot and leave
 * `queue` waiting in the engine's own queue. Bursts start every `burstEveryMs` (jittered by
 * +-JITTER), sized so that the next burst comes about when the last one is served: during a
 * "saturated" phase the server has no free slot most of the time. An "idle" phase has no request.
 *
 * The generator never has more than `slots + queue` requests outstanding (`admit`): a request due
 * while that many are still running or waiting is skipped and counted. Teammates' editors would
 * not hold back, but a machine that is slower than planned (it is shared) then sees the same
 * pressure on the server instead of a queue that grows for the whole run.
 *
 * Pure: no clock, no network. Units: ms from the phase's start, tokens.
 */
import type { Clock, TimerHandle } from '../../src/core/clock';
import { createRng } from '../lib/rng';

export type TeamPhase = 'saturated' | 'idle';
export const TEAM_PHASES: readonly TeamPhase[] = ['saturated', 'idle'];

/** One teammate's request: when it arrives (ms from the phase start), its prompt and answer sizes (tokens). */
export interface LoadRequest {
    readonly t: number;
    /** 0-based burst it belongs to. */
    readonly burst: number;
    readonly promptTokens: number;
    readonly nPredict: number;
}

export interface BurstOptions {
    readonly seed: number;
    /** The schedule covers [0, durationMs). */
    readonly durationMs: number;
    /** The engine's slots (parallel sequences). */
    readonly slots: number;
    /** Requests each burst brings beyond the slots: they wait in the engine's queue. */
    readonly queue: number;
    /** Mean gap between two bursts' starts (ms). */
    readonly burstEveryMs: number;
    /** A burst's requests arrive within this span after its start (ms). */
    readonly spreadMs: number;
    /** Prompt sizes, uniform in [min, max] (tokens). */
    readonly promptTokens: readonly [number, number];
    /** Answer sizes, uniform in [min, max] (tokens). */
    readonly nPredict: readonly [number, number];
}

/** A burst's start moves by up to this fraction of `burstEveryMs` either way. */
export const JITTER = 0.25;

/**
 * Sizes for the generated coder on this machine's llama-server (1 thread, 2 slots): prompts like an
 * editor's completion and chat requests (300-900 tokens), answers of 64-256 tokens. Measured alone:
 * a 600-token prompt with 64 tokens takes ~0.5 s, so a burst of 4 keeps the two slots busy ~2.5 s.
 */
export const DEFAULT_BURSTS: Omit<BurstOptions, 'seed' | 'durationMs'> = {
    slots: 2,
    queue: 2,
    burstEveryMs: 2500,
    spreadMs: 300,
    promptTokens: [300, 900],
    nPredict: [64, 256],
};

function checkRange(name: string, r: readonly [number, number]): void {
    if (!(Number.isInteger(r[0]) && Number.isInteger(r[1]) && r[0] >= 1 && r[1] >= r[0])) throw new RangeError(`${name} must be whole numbers 1 <= min <= max, got [${r.join(', ')}]`);
}

/**
 * The requests of one phase, ascending by time. "idle": none. "saturated": bursts from 0 (the
 * first at 0, so the server is full when the phase begins) until `durationMs`.
 */
export function burstSchedule(phase: TeamPhase, o: BurstOptions): LoadRequest[] {
    if (phase === 'idle') return [];
    if (!(o.slots >= 1 && Number.isInteger(o.slots))) throw new RangeError(`slots must be a whole number >= 1, got ${o.slots}`);
    if (!(o.queue >= 0 && Number.isInteger(o.queue))) throw new RangeError(`queue must be a whole number >= 0, got ${o.queue}`);
    if (!(o.burstEveryMs > 0) || !(o.spreadMs >= 0) || !(o.durationMs >= 0)) throw new RangeError('burstEveryMs must be > 0, spreadMs and durationMs >= 0');
    checkRange('promptTokens', o.promptTokens);
    checkRange('nPredict', o.nPredict);
    const rng = createRng(o.seed);
    const out: LoadRequest[] = [];
    const perBurst = o.slots + o.queue;
    let start = 0;
    for (let burst = 0; start < o.durationMs; burst++) {
        for (let i = 0; i < perBurst; i++) {
            const t = Math.round(start + rng.uniform(0, o.spreadMs));
            const promptTokens = rng.int(o.promptTokens[0], o.promptTokens[1]);
            const nPredict = rng.int(o.nPredict[0], o.nPredict[1]);
            if (t < o.durationMs) out.push({ t, burst, promptTokens, nPredict });
        }
        start += o.burstEveryMs * rng.uniform(1 - JITTER, 1 + JITTER);
    }
    return out.sort((a, b) => a.t - b.t || a.burst - b.burst);
}

/** What a load generator did in one replay (the teammates' requests, not ours). */
export interface LoadCounts {
    /** Requests the schedule had due while the replay ran. */
    readonly due: number;
    readonly sent: number;
    /** Due while `slots + queue` of the generator's were outstanding (`admit`). */
    readonly skipped: number;
    readonly completed: number;
    /** Failed (not cancelled). */
    readonly failed: number;
    /** Cancelled when the replay ended. */
    readonly aborted: number;
}

/** Whether a request due now is sent: fewer than `slots + queue` of the generator's are outstanding. */
export function admit(outstanding: number, o: Pick<BurstOptions, 'slots' | 'queue'>): boolean {
    return outstanding < o.slots + o.queue;
}

/**
 * The teammates' side of a replay, whatever serves them (a real llama-server, the simulated
 * engine): from `start()` each scheduled request is sent at its time (clock ms) unless `slots +
 * queue` of the generator's are outstanding (`admit`), and counted; `stop()` cancels what is
 * outstanding and resolves with the counts once each has settled. A subclass's `send` is one
 * request: it resolves when the request completed, rejects when it failed or `signal` aborted it.
 */
export abstract class ScheduledLoad {
    private readonly ac = new AbortController();
    private readonly timers: TimerHandle[] = [];
    private outstanding = 0;
    private readonly counts = { due: 0, sent: 0, skipped: 0, completed: 0, failed: 0, aborted: 0 };
    /** The first failures' messages (at most MAX_ERRORS), for the report. */
    private readonly errors: string[] = [];
    private readonly pending = new Set<Promise<void>>();

    constructor(
        protected readonly clock: Clock,
        private readonly schedule: readonly LoadRequest[],
        private readonly limits: Pick<BurstOptions, 'slots' | 'queue'>,
    ) {}

    /** One request (`index` into the schedule). */
    protected abstract send(r: LoadRequest, index: number, signal: AbortSignal): Promise<void>;

    /** Schedules every request relative to now. */
    start(): void {
        this.schedule.forEach((r, i) => {
            this.timers.push(
                this.clock.setTimeout(() => {
                    if (this.ac.signal.aborted) return;
                    this.counts.due++;
                    if (!admit(this.outstanding, this.limits)) {
                        this.counts.skipped++;
                        return;
                    }
                    this.counts.sent++;
                    this.outstanding++;
                    const p: Promise<void> = this.one(r, i).finally(() => {
                        this.outstanding--;
                        this.pending.delete(p);
                    });
                    this.pending.add(p);
                }, r.t),
            );
        });
    }

    private async one(r: LoadRequest, i: number): Promise<void> {
        const signal = this.ac.signal;
        try {
            await this.send(r, i, signal);
            this.counts.completed++;
        } catch (e) {
            if (signal.aborted) this.counts.aborted++;
            else {
                this.counts.failed++;
                if (this.errors.length < MAX_ERRORS) this.errors.push(e instanceof Error ? e.message : String(e));
            }
        }
    }

    /** Stops: no request starts any more, the outstanding ones are aborted; resolves once each has settled, with the counts. */
    async stop(): Promise<LoadCounts & { readonly errors: readonly string[] }> {
        for (const t of this.timers) this.clock.clearTimeout(t);
        this.ac.abort(new Error('load generator stopped'));
        await Promise.all([...this.pending]);
        return { ...this.counts, errors: [...this.errors] };
    }
}

/** Failure messages a load generator keeps for its report. */
const MAX_ERRORS = 5;
