/**
 * A counting semaphore for a model's parallel sequences (slots), shared by the backends that
 * simulate or fake a model. Waiters are served first come, first served. Each holder and waiter
 * is named by a `WaitTag` (`waits()`).
 * Invariant: 0 <= inUse <= capacity, except after a capacity decrease, until enough releases;
 * `holders` has one tag per slot in use, in the order they were taken.
 */
import { UNTAGGED_CALL } from './backend';
import { abortError } from './errors';
import type { WaitState, WaitTag } from './scheduling';

interface Waiter {
    readonly tag: WaitTag;
    readonly grant: () => void;
}

export class SlotPool {
    private used = 0;
    private peak = 0;
    private readonly waiters: Waiter[] = [];
    private readonly holders: WaitTag[] = [];

    /** `capacity` is read at every acquire, so a reloaded model with other slots takes effect. */
    constructor(private readonly capacity: () => number) {}

    get inUse(): number {
        return this.used;
    }

    /** Highest number of slots ever held at once. */
    get maxInUse(): number {
        return this.peak;
    }

    get waiting(): number {
        return this.waiters.length;
    }

    /** Resolves when a slot is held by `tag`; rejects with `signal.reason` if aborted while waiting. */
    acquire(signal: AbortSignal, tag: WaitTag = UNTAGGED_CALL): Promise<void> {
        if (signal.aborted) return Promise.reject(signal.reason ?? abortError());
        if (this.used < this.capacity() && this.waiters.length === 0) {
            this.take(tag);
            return Promise.resolve();
        }
        return new Promise((resolve, reject) => {
            const waiter: Waiter = {
                tag,
                grant: () => {
                    signal.removeEventListener('abort', onAbort);
                    this.take(tag);
                    resolve();
                },
            };
            const onAbort = (): void => {
                const i = this.waiters.indexOf(waiter);
                if (i >= 0) this.waiters.splice(i, 1);
                reject(signal.reason ?? abortError());
            };
            this.waiters.push(waiter);
            signal.addEventListener('abort', onAbort, { once: true });
        });
    }

    /** Frees the slot `tag` held and hands it to the oldest waiter, if any. */
    release(tag: WaitTag = UNTAGGED_CALL): void {
        this.used = Math.max(0, this.used - 1);
        const i = this.holders.indexOf(tag);
        if (i >= 0) this.holders.splice(i, 1);
        if (this.used < this.capacity()) this.waiters.shift()?.grant();
    }

    /** Who waits, first come first, and the longest holder. */
    waits(): WaitState {
        const holder = this.holders[0];
        return { ...(holder ? { holder } : {}), waiting: this.waiters.map((w) => w.tag) };
    }

    private take(tag: WaitTag): void {
        this.used++;
        this.holders.push(tag);
        this.peak = Math.max(this.peak, this.used);
    }
}
