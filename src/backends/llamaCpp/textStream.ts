/**
 * Generated tokens as text, for the llama.cpp backend's token loop (generate.ts).
 */
import type { LlamaModel, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

/** A piece that still ends in U+FFFD after this many tokens is emitted as is (not a split UTF-8 char). */
const MAX_UTF8_HOLD_TOKENS = 4;
/** Tokens of context the detokenizer looks back at to place spaces correctly. */
export const DETOKENIZER_LOOKBACK = 3;

/**
 * Streams generated tokens as text: holds back a split UTF-8 character until it is complete and any
 * tail that could be the start of a stop string, and cuts the text before the first stop string.
 * Invariant: `emitted <= text.length`, and `text.slice(0, emitted)` has been passed to `emit`, in order.
 */
export class TextStream {
    text = '';
    private emitted = 0;
    private pending: Token[] = [];
    private readonly longestStop: number;

    constructor(
        private readonly model: LlamaModel,
        private lastTokens: Token[],
        private readonly stops: readonly string[],
        private readonly emit: (piece: string) => void,
    ) {
        this.longestStop = stops.reduce((n, s) => Math.max(n, s.length), 0);
    }

    /** Adds one token; returns true when a stop string completed (the text is cut before it). */
    push(token: Token): boolean {
        this.pending.push(token);
        const piece = this.model.detokenize(this.pending, false, this.lastTokens);
        if (piece.endsWith('\uFFFD') && this.pending.length < MAX_UTF8_HOLD_TOKENS) return false;
        this.lastTokens = [...this.lastTokens, ...this.pending].slice(-DETOKENIZER_LOOKBACK);
        this.pending = [];
        const before = this.text.length;
        this.text += piece;
        if (this.stops.length > 0) {
            const from = Math.max(0, before - this.longestStop + 1);
            let cut = -1;
            for (const s of this.stops) {
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

    /** Emits everything held back (generation ended without a stop string). */
    flush(): void {
        if (this.pending.length > 0) {
            this.text += this.model.detokenize(this.pending, false, this.lastTokens);
            this.pending = [];
        }
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
