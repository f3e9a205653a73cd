/**
 * Bookkeeping of what a model's sequences hold, for backends that model prefix reuse without
 * llama.cpp (the unit-test fake and the benchmark's simulator). It follows the llama.cpp backend's
 * choice of a sequence (pickFreeSlot): a call with a cache key takes its key's sequence, else a
 * free one, else one no key holds, else evicts the least recently kept key; a call without a key
 * (a chat) takes the keyless sequence sharing the longest prefix with its prompt, else a free
 * one, else evicts the least recently kept key. So with one slot, a chat evicts the document a
 * completion left there, as it does on llama.cpp.
 * Tokens are opaque strings. Invariant: at most `capacity()` sequences, with a key or without,
 * are recorded; each key at most once.
 */
interface Entry {
    readonly key: string | undefined;
    readonly tokens: readonly string[];
}

/** Length of the longest common prefix of two token sequences. */
export function commonPrefixLength<T>(a: readonly T[], b: readonly T[]): number {
    const n = Math.min(a.length, b.length);
    let i = 0;
    while (i < n && a[i] === b[i]) i++;
    return i;
}

export class KeyedPrefixCache {
    /** Least recently kept first. */
    private readonly entries: Entry[] = [];

    constructor(private readonly capacity: () => number) {}

    /**
     * Prompt tokens the sequence this call would take lets `prompt` skip: the common prefix, but
     * never the whole prompt (at least one token is always evaluated to produce logits).
     */
    reusable(key: string | undefined, prompt: readonly string[]): number {
        const i = key === undefined ? this.bestKeyless(prompt) : this.entries.findIndex((e) => e.key === key);
        if (i < 0) return 0;
        return Math.max(0, Math.min(commonPrefixLength(this.entries[i].tokens, prompt), prompt.length - 1));
    }

    /** Records that the sequence a call with `key` (or none) took now holds `tokens` (most recently kept). */
    keep(key: string | undefined, tokens: readonly string[]): void {
        let i = key === undefined ? this.bestKeyless(tokens) : this.entries.findIndex((e) => e.key === key);
        if (i < 0 && key !== undefined && this.entries.length >= this.capacity()) i = this.entries.findIndex((e) => e.key === undefined);
        if (i >= 0) this.entries.splice(i, 1);
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

    /** Index of the keyless entry sharing the longest prefix with `tokens` (ties: least recent), or -1. */
    private bestKeyless(tokens: readonly string[]): number {
        let best = -1;
        let bestShared = -1;
        for (let i = 0; i < this.entries.length; i++) {
            const e = this.entries[i];
            if (e.key !== undefined) continue;
            const shared = commonPrefixLength(e.tokens, tokens);
            if (shared > bestShared) {
                best = i;
                bestShared = shared;
            }
        }
        return best;
    }
}
