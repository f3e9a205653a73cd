/**
 * Time as a side effect that is passed in. The router, forecasters and backends read time and set
 * timers only through a Clock, so unit tests and the simulator run on virtual time.
 * Units: milliseconds.
 */

export interface TimerHandle {
    readonly id: number;
}

export interface Clock {
    /** Monotonic milliseconds (arbitrary origin). */
    now(): number;
    setTimeout(fn: () => void, ms: number): TimerHandle;
    clearTimeout(handle: TimerHandle | undefined): void;
}

/** Wall-clock time for production. */
export class SystemClock implements Clock {
    private nextId = 1;
    private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();

    now(): number {
        return performance.now();
    }

    setTimeout(fn: () => void, ms: number): TimerHandle {
        const id = this.nextId++;
        const t = setTimeout(() => {
            this.timers.delete(id);
            fn();
        }, Math.max(0, ms));
        // Timers never keep the process alive on their own.
        t.unref?.();
        this.timers.set(id, t);
        return { id };
    }

    clearTimeout(handle: TimerHandle | undefined): void {
        if (!handle) return;
        const t = this.timers.get(handle.id);
        if (t !== undefined) {
            clearTimeout(t);
            this.timers.delete(handle.id);
        }
    }
}

interface VirtualTimer {
    readonly id: number;
    readonly at: number;
    /** Insertion order breaks ties between timers due at the same time (FIFO). */
    readonly seq: number;
    readonly fn: () => void;
}

/** Resolves after every pending microtask (promise continuation) has run. */
export function flushMicrotasks(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Discrete-event time. Nothing happens until `advance`/`runUntil`/`runUntilIdle` is called; then
 * due timers fire in (time, insertion) order, and all promise continuations they cause run before
 * time moves again. Invariant: `now()` never decreases, and a timer never fires before its time.
 */
export class VirtualClock implements Clock {
    private current: number;
    private nextId = 1;
    private seq = 0;
    /** Binary min-heap ordered by (at, seq). */
    private readonly heap: VirtualTimer[] = [];
    private readonly cancelled = new Set<number>();

    constructor(start = 0) {
        this.current = start;
    }

    now(): number {
        return this.current;
    }

    setTimeout(fn: () => void, ms: number): TimerHandle {
        const timer: VirtualTimer = { id: this.nextId++, at: this.current + Math.max(0, ms), seq: this.seq++, fn };
        this.push(timer);
        return { id: timer.id };
    }

    clearTimeout(handle: TimerHandle | undefined): void {
        if (handle) this.cancelled.add(handle.id);
    }

    /** Number of live timers. */
    get pending(): number {
        return this.heap.length - this.cancelledInHeap();
    }

    /** Time of the next live timer, or undefined. */
    nextAt(): number | undefined {
        this.dropCancelledHead();
        return this.heap[0]?.at;
    }

    /** Runs every timer due at or before `until`, then sets the time to `until`. */
    async runUntil(until: number): Promise<void> {
        await flushMicrotasks();
        for (;;) {
            this.dropCancelledHead();
            const head = this.heap[0];
            if (!head || head.at > until) break;
            this.pop();
            this.current = Math.max(this.current, head.at);
            head.fn();
            await flushMicrotasks();
        }
        this.current = Math.max(this.current, until);
    }

    advance(ms: number): Promise<void> {
        return this.runUntil(this.current + ms);
    }

    /**
     * Runs timers until none is left (or `limitMs` of virtual time has passed, to stop runaway
     * periodic timers). Returns the virtual time reached.
     */
    async runUntilIdle(limitMs = Number.POSITIVE_INFINITY): Promise<number> {
        const end = this.current + limitMs;
        await flushMicrotasks();
        for (;;) {
            const at = this.nextAt();
            if (at === undefined || at > end) break;
            await this.runUntil(at);
        }
        return this.current;
    }

    private cancelledInHeap(): number {
        let n = 0;
        for (const t of this.heap) if (this.cancelled.has(t.id)) n++;
        return n;
    }

    private dropCancelledHead(): void {
        while (this.heap.length > 0 && this.cancelled.has(this.heap[0].id)) {
            this.cancelled.delete(this.heap[0].id);
            this.pop();
        }
    }

    private less(a: VirtualTimer, b: VirtualTimer): boolean {
        return a.at < b.at || (a.at === b.at && a.seq < b.seq);
    }

    private push(t: VirtualTimer): void {
        const h = this.heap;
        h.push(t);
        let i = h.length - 1;
        while (i > 0) {
            const p = (i - 1) >> 1;
            if (!this.less(h[i], h[p])) break;
            [h[i], h[p]] = [h[p], h[i]];
            i = p;
        }
    }

    private pop(): VirtualTimer | undefined {
        const h = this.heap;
        if (h.length === 0) return undefined;
        const top = h[0];
        const last = h.pop()!;
        if (h.length > 0) {
            h[0] = last;
            let i = 0;
            for (;;) {
                const l = 2 * i + 1;
                const r = l + 1;
                let m = i;
                if (l < h.length && this.less(h[l], h[m])) m = l;
                if (r < h.length && this.less(h[r], h[m])) m = r;
                if (m === i) break;
                [h[i], h[m]] = [h[m], h[i]];
                i = m;
            }
        }
        return top;
    }
}

/** Resolves after `ms` on `clock`; rejects with `signal.reason` if aborted first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
        if (signal?.aborted) {
            reject(signal.reason);
            return;
        }
        const onAbort = (): void => {
            clock.clearTimeout(handle);
            reject(signal?.reason);
        };
        const handle = clock.setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
        }, ms);
        signal?.addEventListener('abort', onAbort, { once: true });
    });
}
