/**
 * Generated tokens as text, for the llama.cpp backend's token loop (generate.ts).
 */
import type { LlamaModel, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import { StopText } from '../stopText';

/** A piece that still ends in U+FFFD after this many tokens is emitted as is (not a split UTF-8 char). */
const MAX_UTF8_HOLD_TOKENS = 4;
/** Tokens of context the detokenizer looks back at to place spaces correctly. */
export const DETOKENIZER_LOOKBACK = 3;

/**
 * Streams generated tokens as text: holds back a split UTF-8 character until it is complete, and
 * hands the text to a StopText (the stop strings' hold-back and cut, shared with the remote backends).
 * Invariant: `text` is what StopText kept, and its emitted part has been passed to `emit`, in order.
 */
export class TextStream {
    private pending: Token[] = [];
    private readonly out: StopText;

    constructor(
        private readonly model: LlamaModel,
        private lastTokens: Token[],
        stops: readonly string[],
        emit: (piece: string) => void,
    ) {
        this.out = new StopText(stops, emit);
    }

    get text(): string {
        return this.out.text;
    }

    /** Adds one token; returns true when a stop string completed (the text is cut before it). */
    push(token: Token): boolean {
        this.pending.push(token);
        const piece = this.model.detokenize(this.pending, false, this.lastTokens);
        if (piece.endsWith('\uFFFD') && this.pending.length < MAX_UTF8_HOLD_TOKENS) return false;
        this.lastTokens = [...this.lastTokens, ...this.pending].slice(-DETOKENIZER_LOOKBACK);
        this.pending = [];
        return this.out.push(piece);
    }

    /** Emits everything held back (generation ended without a stop string). */
    flush(): void {
        if (this.pending.length > 0) {
            const piece = this.model.detokenize(this.pending, false, this.lastTokens);
            this.pending = [];
            if (this.out.push(piece)) return;
        }
        this.out.flush();
    }
}
