/**
 * Turns on one evaluation thread shared by several models (llama.cpp on the CPU with one thread for
 * the whole process: native calls of every model run one at a time, in the order they were made).
 *
 * A backend takes a turn around each native call (a prefill chunk, one generated token, one
 * embedded text) and gives it back when the call returns. Waiting calls are served by priority,
 * highest first, and in arrival order among equal priorities, so with one priority for everything
 * this is the FIFO the native thread would give anyway. What it changes is that a call never waits
 * behind lower-priority calls that were merely queued before it: a keystroke's completion waits for
 * the one native call in progress, not for another model's next prefill chunk and the embedding
 * queued behind it (bench/FINDINGS.md F23).
 *
 * A request also reserves the thread at its priority from the start of its prefill to its first
 * token (`reserve`, `Reservation`): between its native calls, while its next call is not yet
 * waiting, no call of lower priority is given a turn. Without it a lower-priority chunk queued
 * earlier slipped into every gap of a completion's prefill. While its gate holds it, the request
 * lets others use the thread and reserves it again when it goes on.
 *
 * Invariant: at most one turn is held at a time; a released turn passes at once to the best waiter
 * whose priority is not below the highest reservation, or stays free for the reserving request.
 */
import { abortError } from './errors';

interface Waiter {
    readonly priority: number;
    readonly grant: () => void;
}

/** Gives a turn back. Calling it more than once has no effect. */
export type Release = () => void;

export class EvalTurns {
    private held = false;
    /** Waiters, best first (priority descending, then arrival). Short: one per model slot at most. */
    private readonly waiting: Waiter[] = [];
    /** Priorities of the reservations in force (a multiset; a few entries at most). */
    private readonly reservations: number[] = [];

    /**
     * Reserves the thread at `priority` until the returned function is called (idempotent): calls
     * of lower priority get no turn meanwhile. Callers end it at their first token, when they wait
     * at their gate, and in a `finally`, so that it never outlives the request.
     */
    reserve(priority: number): Release {
        this.reservations.push(priority);
        let done = false;
        return () => {
            if (done) return;
            done = true;
            const i = this.reservations.indexOf(priority);
            if (i >= 0) this.reservations.splice(i, 1);
            if (!this.held) this.grantNext();
        };
    }

    private get floor(): number {
        let f = Number.NEGATIVE_INFINITY;
        for (const r of this.reservations) if (r > f) f = r;
        return f;
    }

    /** Calls holding or waiting for a turn (tests read it). */
    get pending(): number {
        return this.waiting.length + (this.held ? 1 : 0);
    }

    /**
     * Resolves with a release function once this call's turn has come. Rejects with the signal's
     * reason if it aborts first (the waiter is then gone). Higher `priority` goes first.
     */
    acquire(priority: number, signal?: AbortSignal): Promise<Release> {
        if (signal?.aborted) return Promise.reject(signal.reason ?? abortError('aborted'));
        if (!this.held && priority >= this.floor && (this.waiting.length === 0 || this.waiting[0].priority < priority)) {
            this.held = true;
            return Promise.resolve(this.releaser());
        }
        return new Promise<Release>((resolve, reject) => {
            const onAbort = (): void => {
                const i = this.waiting.indexOf(waiter);
                if (i >= 0) this.waiting.splice(i, 1);
                reject(signal?.reason ?? abortError('aborted'));
            };
            const waiter: Waiter = {
                priority,
                grant: () => {
                    signal?.removeEventListener('abort', onAbort);
                    resolve(this.releaser());
                },
            };
            let i = this.waiting.length;
            while (i > 0 && this.waiting[i - 1].priority < priority) i--;
            this.waiting.splice(i, 0, waiter);
            signal?.addEventListener('abort', onAbort, { once: true });
        });
    }

    /**
     * Runs `fn` (one native call) within a turn. `gateWait`, when given, is asked once the turn has
     * come: a pending wait (the caller's generation is paused) gives the turn back until it is
     * over, and the turn is taken again; so a call that passed its gate before it queued does not
     * run while it should be paused. The turn is held until `fn`'s promise settles.
     */
    async run<T>(priority: number, signal: AbortSignal | undefined, fn: () => Promise<T>, gateWait?: () => Promise<void> | undefined): Promise<T> {
        for (;;) {
            const release = await this.acquire(priority, signal);
            let wait: Promise<void> | undefined;
            try {
                wait = gateWait?.();
            } catch (e) {
                release();
                throw e;
            }
            if (wait === undefined) {
                try {
                    return await fn();
                } finally {
                    release();
                }
            }
            release();
            await wait;
        }
    }

    private releaser(): Release {
        let done = false;
        return () => {
            if (done) return;
            done = true;
            this.held = false;
            this.grantNext();
        };
    }

    /** The turn is free: gives it to the best waiter allowed by the reservations, if any. */
    private grantNext(): void {
        const next = this.waiting[0];
        if (!next || next.priority < this.floor) return;
        this.waiting.shift();
        this.held = true;
        next.grant();
    }
}

/**
 * A request's reservation (`EvalTurns.reserve`) from its prefill to its first token, let go while
 * its gate holds it (`suspend`) and taken again when it goes on (`resume`), until `end`. Without
 * `resume`, a prefill paused once had an embedding slip in after each of its later chunks
 * (bench/FINDINGS.md F43). Without `turns` every method does nothing.
 */
export class Reservation {
    private release: Release | undefined;
    private ended = false;

    constructor(
        private readonly turns: EvalTurns | undefined,
        private readonly priority: number,
    ) {
        this.release = turns?.reserve(priority);
    }

    /** The request waits at its gate: lower-priority calls may use the thread meanwhile. */
    suspend(): void {
        const r = this.release;
        this.release = undefined;
        r?.();
    }

    /** The request goes on: reserved again, unless it has ended. */
    resume(): void {
        if (!this.ended && this.release === undefined && this.turns) this.release = this.turns.reserve(this.priority);
    }

    /** First token, or the call ends: for good (idempotent). */
    end(): void {
        this.ended = true;
        this.suspend();
    }
}
