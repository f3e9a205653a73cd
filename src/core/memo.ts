/**
 * The results of a pure, costly function for the last few distinct keys. Typing asks for the same
 * texts again and again: a completion's prefix and suffix stay the same while the cursor's line is
 * typed, and every keystroke tokenizes them (the router to predict, the backend to evaluate).
 * Invariant: at most `capacity` entries; the least recently used is evicted first.
 *
 * A Map in insertion order is the whole of it: a general LRU library (lru-cache) would add a
 * runtime dependency to the bundle for these few lines.
 */
/**
 * Distinct texts whose tokens a backend keeps per model: a keystroke's prefix, middle and suffix,
 * each counted by the router and tokenized by the backend, for a few documents.
 */
export const RECENT_TEXTS = 24;

export class RecentMemo<K, V> {
    /** Least recently used first (Map iteration order is insertion order). */
    private readonly entries = new Map<K, V>();

    constructor(private readonly capacity: number) {
        if (!(capacity >= 1)) throw new RangeError(`capacity must be at least 1, not ${capacity}`);
    }

    /** `compute(key)`, or what it returned for `key` before if that is still kept. */
    get(key: K, compute: (key: K) => V): V {
        if (this.entries.has(key)) {
            const v = this.entries.get(key) as V;
            this.entries.delete(key);
            this.entries.set(key, v);
            return v;
        }
        const v = compute(key);
        this.entries.set(key, v);
        if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as K);
        return v;
    }

    get size(): number {
        return this.entries.size;
    }

    clear(): void {
        this.entries.clear();
    }
}
