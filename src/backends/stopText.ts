/**
 * Streamed text with stop strings, one semantics for every backend: the in-process backend feeds it
 * the text of its tokens (llamaCpp/textStream.ts), the remote ones the pieces their engines stream.
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
