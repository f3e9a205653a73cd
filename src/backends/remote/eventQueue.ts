/**
 * Events read from a stream as they arrive, taken by one consumer at its own pace (it may wait at a
 * gate meanwhile). Invariant: `next()` gives every pushed event once, in order, then the end or the
 * failure; a failure after the consumer left is kept and never thrown anywhere.
 */
export class EventQueue<T = unknown> {
    private readonly items: T[] = [];
    private ended = false;
    private failure: { readonly error: unknown } | undefined;
    private wake: (() => void) | undefined;

    push(item: T): void {
        this.items.push(item);
        this.notify();
    }

    end(): void {
        this.ended = true;
        this.notify();
    }

    fail(error: unknown): void {
        this.failure = { error };
        this.notify();
    }

    /** The next event; the end once the stream ended; rejects with the stream's failure after the events before it. */
    async next(): Promise<IteratorResult<T, undefined>> {
        for (;;) {
            if (this.items.length > 0) return { done: false, value: this.items.shift() as T };
            if (this.failure) throw this.failure.error;
            if (this.ended) return { done: true, value: undefined };
            await new Promise<void>((resolve) => (this.wake = resolve));
        }
    }

    private notify(): void {
        const wake = this.wake;
        this.wake = undefined;
        wake?.();
    }
}
