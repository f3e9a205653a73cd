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

/**
 * Streamed text with stop strings, for engines whose pieces arrive as text (llama-server's SSE
 * `content`): the same semantics as the in-process backend's TextStream (llamaCpp/textStream.ts).
 *
 * Invariants: the text never contains a stop string (it is cut before the first one); no piece of
 * a stop string is ever emitted (a tail that could start one is held back until the text moves on
 * or ends); `emit` receives `text` exactly once, in order, in pieces.
 */
export class StopText {
    text = '';
    private emitted = 0;
    private readonly longestStop: number;

    constructor(
        private readonly stops: readonly string[],
        private readonly emit: (piece: string) => void,
    ) {
        this.longestStop = stops.reduce((n, s) => Math.max(n, s.length), 0);
    }

    /** Adds a piece; returns true when a stop string completed (the text is then cut before it). */
    push(piece: string): boolean {
        if (piece === '') return false;
        const before = this.text.length;
        this.text += piece;
        if (this.longestStop > 0) {
            const from = Math.max(0, before - this.longestStop + 1);
            let cut = -1;
            for (const s of this.stops) {
                if (s === '') continue;
                const i = this.text.indexOf(s, from);
                if (i >= 0 && (cut < 0 || i < cut)) cut = i;
            }
            if (cut >= 0) {
                this.text = this.text.slice(0, cut);
                this.emitUpTo(this.text.length);
                return true;
            }
        }
        this.emitUpTo(this.text.length - this.heldForStops());
        return false;
    }

    /** Emits what was held back (the generation ended without completing a stop string). */
    flush(): void {
        this.emitUpTo(this.text.length);
    }

    /** Length of the longest tail of `text` that is a proper prefix of some stop string. */
    private heldForStops(): number {
        let held = 0;
        for (const s of this.stops) {
            for (let k = Math.min(s.length - 1, this.text.length); k > held; k--) {
                if (this.text.endsWith(s.slice(0, k))) {
                    held = k;
                    break;
                }
            }
        }
        return held;
    }

    private emitUpTo(end: number): void {
        if (end <= this.emitted) return;
        const piece = this.text.slice(this.emitted, end);
        this.emitted = end;
        this.emit(piece);
    }
}
