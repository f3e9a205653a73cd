/**
 * Token counts for a model whose tokenizer is in another process: `countTokens` must answer
 * synchronously (the router sizes every prompt on its hot path), so it is an estimate from the
 * characters per token this model's tokenizer has shown, and exact for the texts whose count the
 * engine returned recently.
 *
 * Invariants: `count('')` is 0 and any other text counts at least 1; an exact count, once learned,
 * is returned for that text until RECENT_TEXTS newer texts have been learned; the ratio moves only
 * from samples of at least MIN_SAMPLE_CHARS characters (short texts carry a token's rounding).
 * Units: characters are UTF-16 code units (`string.length`).
 */

/** Characters per token before any exact count: about right for code and English with BPE vocabularies. */
export const DEFAULT_CHARS_PER_TOKEN = 4;
/** Exact counts kept (least recently learned or used dropped first). */
export const RECENT_TEXTS = 512;
/** Texts shorter than this do not move the ratio. */
const MIN_SAMPLE_CHARS = 32;
/** Weight of a new sample in the ratio's moving average, per 1,000 characters of it (capped at 0.5). */
const WEIGHT_PER_KCHAR = 0.25;

export class TokenEstimate {
    private ratio: number;
    /** Insertion order is recency (Map iteration order): the first key is the oldest. */
    private readonly exact = new Map<string, number>();
    private samples = 0;

    constructor(initialCharsPerToken = DEFAULT_CHARS_PER_TOKEN) {
        this.ratio = initialCharsPerToken;
    }

    /** Characters per token now. */
    get charsPerToken(): number {
        return this.ratio;
    }

    /** Samples that moved the ratio so far. */
    get learned(): number {
        return this.samples;
    }

    /** Tokens in `text`: exact when it was learned recently, else estimated from the ratio. */
    count(text: string): number {
        if (text.length === 0) return 0;
        const known = this.exact.get(text);
        if (known !== undefined) {
            // Used again: it becomes the most recent.
            this.exact.delete(text);
            this.exact.set(text, known);
            return known;
        }
        return Math.max(1, Math.round(text.length / this.ratio));
    }

    /** Whether `text`'s exact count is known (without making it more recent). */
    knows(text: string): boolean {
        return this.exact.has(text);
    }

    /** An exact count the engine returned for `text` (its `/tokenize`). */
    learnExact(text: string, tokens: number): void {
        if (text.length === 0 || !(tokens >= 0)) return;
        this.exact.delete(text);
        this.exact.set(text, tokens);
        while (this.exact.size > RECENT_TEXTS) {
            const oldest = this.exact.keys().next().value as string;
            this.exact.delete(oldest);
        }
        this.learnRatio(text.length, tokens);
    }

    /**
     * A measured pair without the text itself (e.g. a prompt's characters and the tokens the engine
     * reported for it, less the template's markers).
     */
    learnRatio(chars: number, tokens: number): void {
        if (!(chars >= MIN_SAMPLE_CHARS) || !(tokens >= 1)) return;
        const sample = chars / tokens;
        const w = Math.min(0.5, (WEIGHT_PER_KCHAR * chars) / 1000);
        // The first sample replaces the prior outright: it is this tokenizer's, the prior is not.
        this.ratio = this.samples === 0 ? sample : this.ratio + w * (sample - this.ratio);
        this.samples++;
    }
}
