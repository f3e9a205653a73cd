/**
 * A counting semaphore for a model's parallel sequences (slots), shared by the backends that
 * simulate or fake a model. Waiters are served first come, first served.
 * Invariant: 0 <= inUse <= capacity, except after a capacity decrease, until enough releases.
 */
import { abortError } from './errors';

export class SlotPool {
    private used = 0;
    private peak = 0;
    private readonly waiters: Array<() => void> = [];

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

    /** Resolves when a slot is held; rejects with `signal.reason` if aborted while waiting. */
    acquire(signal: AbortSignal): Promise<void> {
        if (signal.aborted) return Promise.reject(signal.reason ?? abortError());
        if (this.used < this.capacity() && this.waiters.length === 0) {
            this.take();
            return Promise.resolve();
        }
        return new Promise((resolve, reject) => {
            const grant = (): void => {
                signal.removeEventListener('abort', onAbort);
                this.take();
                resolve();
            };
            const onAbort = (): void => {
                const i = this.waiters.indexOf(grant);
                if (i >= 0) this.waiters.splice(i, 1);
                reject(signal.reason ?? abortError());
            };
            this.waiters.push(grant);
            signal.addEventListener('abort', onAbort, { once: true });
        });
    }

    /** Frees one slot and hands it to the oldest waiter, if any. */
    release(): void {
        this.used = Math.max(0, this.used - 1);
        if (this.used < this.capacity()) this.waiters.shift()?.();
    }

    private take(): void {
        this.used++;
        this.peak = Math.max(this.peak, this.used);
    }
}
