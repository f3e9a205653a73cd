/**
 * Bookkeeping of which evaluated prompt each cache key left in a model's sequences, for backends
 * that model prefix reuse without llama.cpp (the unit-test fake and the benchmark's simulator).
 * Tokens are opaque strings. Invariant: at most `capacity()` keys are kept; the least recently
 * kept is evicted first.
 */
export class KeyedPrefixCache {
    /** Least recently kept first. */
    private readonly entries: Array<{ readonly key: string; readonly tokens: readonly string[] }> = [];

    constructor(private readonly capacity: () => number) {}

    /**
     * Prompt tokens the sequence kept for `key` lets `prompt` skip: the common prefix, but never the
     * whole prompt (at least one token is always evaluated to produce logits).
     */
    reusable(key: string | undefined, prompt: readonly string[]): number {
        if (key === undefined) return 0;
        const kept = this.entries.find((e) => e.key === key);
        if (!kept) return 0;
        const n = Math.min(kept.tokens.length, prompt.length);
        let i = 0;
        while (i < n && kept.tokens[i] === prompt[i]) i++;
        return Math.max(0, Math.min(i, prompt.length - 1));
    }

    /** Records that `key`'s sequence now holds `tokens` (most recently kept). */
    keep(key: string, tokens: readonly string[]): void {
        this.drop(key);
        this.entries.push({ key, tokens });
        while (this.entries.length > this.capacity()) this.entries.shift();
    }

    /** Tokens kept for `key` (0: none). */
    held(key: string): number {
        for (const e of this.entries) if (e.key === key) return e.tokens.length;
        return 0;
    }

    drop(key: string): void {
        const i = this.entries.findIndex((e) => e.key === key);
        if (i >= 0) this.entries.splice(i, 1);
    }

    clear(): void {
        this.entries.length = 0;
    }
}
