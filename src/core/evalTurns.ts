/**
 * Turns on one evaluation thread shared by several models (llama.cpp on the CPU with one thread for
 * the whole process: native calls of every model run one at a time, in the order they were made).
 *
 * A backend takes a turn around each native call (a prefill chunk, one generated token, one
 * embedded text) and gives it back when the call returns. Waiting calls are served by priority,
 * highest first, and in arrival order among equal priorities, so with one priority for everything
 * this is the FIFO the native thread would give anyway. What it changes is that a call never waits
 * behind lower-priority calls that were merely queued before it: a keystroke's completion waits for
 * at most the one native call in progress, not for another model's next prefill chunk and the
 * embedding queued behind it.
 *
 * A request also reserves the thread at its priority from the start of its prefill to its first
 * token (`reserve`, `Reservation`): between its native calls, while its next call is not yet
 * waiting, no call of lower priority is given a turn, so none queued earlier slips into the gaps of
 * its prefill. While its gate holds it, the request lets others use the thread and reserves it
 * again when it goes on.
 *
 * Every call and reservation carries the `WaitTag` of the request it serves (`UNTAGGED_CALL` when
 * none is given): `waits()` names who holds the thread and who waits for it.
 *
 * Invariant: at most one turn is held at a time; a released turn passes at once to the best waiter
 * whose priority is not below the highest reservation, or stays free for the reserving request.
 */
import { UNTAGGED_CALL } from './backend';
import { abortError } from './errors';
import type { Priority, WaitState, WaitTag } from './scheduling';

interface Waiter {
    readonly priority: Priority;
    readonly tag: WaitTag;
    readonly grant: () => void;
}

interface Reserved {
    readonly priority: Priority;
    readonly tag: WaitTag;
}

/** Gives a turn back. Calling it more than once has no effect. */
export type Release = () => void;

export class EvalTurns {
    /** The call holding the turn; undefined: the thread is free. */
    private holder: WaitTag | undefined;
    /** Waiters, best first (priority descending, then arrival). Short: one per model slot at most. */
    private readonly waiting: Waiter[] = [];
    /** The reservations in force (a few entries at most). */
    private readonly reservations: Reserved[] = [];

    /**
     * Reserves the thread at `priority` until the returned function is called (idempotent): calls
     * of lower priority get no turn meanwhile. Callers end it at their first token, when they wait
     * at their gate, and in a `finally`, so that it never outlives the request.
     */
    reserve(priority: Priority, tag: WaitTag = UNTAGGED_CALL): Release {
        const reserved: Reserved = { priority, tag };
        this.reservations.push(reserved);
        let done = false;
        return () => {
            if (done) return;
            done = true;
            const i = this.reservations.indexOf(reserved);
            if (i >= 0) this.reservations.splice(i, 1);
            if (!this.holder) this.grantNext();
        };
    }

    /** The highest reservation in force, if any. */
    private get top(): Reserved | undefined {
        let best: Reserved | undefined;
        for (const r of this.reservations) if (!best || r.priority > best.priority) best = r;
        return best;
    }

    private get floor(): Priority {
        return this.top?.priority ?? Number.NEGATIVE_INFINITY;
    }

    /** Calls holding or waiting for a turn (tests read it). */
    get pending(): number {
        return this.waiting.length + (this.holder ? 1 : 0);
    }

    /**
     * Who waits for a turn, best first, and who keeps them waiting: the call holding the turn, or,
     * while the thread is free, the request whose reservation keeps the first waiter off.
     */
    waits(): WaitState {
        const first = this.waiting[0];
        const top = this.top;
        const holder = this.holder ?? (first && top && first.priority < top.priority ? top.tag : undefined);
        return { ...(holder ? { holder } : {}), waiting: this.waiting.map((w) => w.tag) };
    }

    /**
     * Resolves with a release function once this call's turn has come. Rejects with the signal's
     * reason if it aborts first (the waiter is then gone). Higher `priority` goes first.
     */
    acquire(priority: Priority, signal?: AbortSignal, tag: WaitTag = UNTAGGED_CALL): Promise<Release> {
        if (signal?.aborted) return Promise.reject(signal.reason ?? abortError('aborted'));
        if (!this.holder && priority >= this.floor && (this.waiting.length === 0 || this.waiting[0].priority < priority)) {
            this.holder = tag;
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
                tag,
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
    async run<T>(
        priority: Priority,
        signal: AbortSignal | undefined,
        fn: () => Promise<T>,
        gateWait?: () => Promise<void> | undefined,
        tag: WaitTag = UNTAGGED_CALL,
    ): Promise<T> {
        for (;;) {
            const release = await this.acquire(priority, signal, tag);
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
            this.holder = undefined;
            this.grantNext();
        };
    }

    /** The turn is free: gives it to the best waiter allowed by the reservations, if any. */
    private grantNext(): void {
        const next = this.waiting[0];
        if (!next || next.priority < this.floor) return;
        this.waiting.shift();
        this.holder = next.tag;
        next.grant();
    }
}

/**
 * A request's reservation (`EvalTurns.reserve`) from its prefill to its first token, let go while
 * its gate holds it (`suspend`) and taken again when it goes on (`resume`), until `end`: a prefill
 * paused once keeps lower-priority calls out of the gaps of its later chunks too. Without `turns`
 * every method does nothing.
 */
export class Reservation {
    private release: Release | undefined;
    private ended = false;

    constructor(
        private readonly turns: EvalTurns | undefined,
        private readonly priority: Priority,
        private readonly tag: WaitTag = UNTAGGED_CALL,
    ) {
        this.release = turns?.reserve(priority, tag);
    }

    /** The request waits at its gate: lower-priority calls may use the thread meanwhile. */
    suspend(): void {
        const r = this.release;
        this.release = undefined;
        r?.();
    }

    /** The request goes on: reserved again, unless it has ended. */
    resume(): void {
        if (!this.ended && this.release === undefined && this.turns) this.release = this.turns.reserve(this.priority, this.tag);
    }

    /** First token, or the call ends: for good (idempotent). */
    end(): void {
        this.ended = true;
        this.suspend();
    }
}
