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
