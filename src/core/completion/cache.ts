/**
 * Reuses a completion while the user types along it: when the text typed since a completion was
 * made is a prefix of that completion, the rest of it is still the answer, with no model call.
 *
 * Entries are matched on the document, the text before the cursor (compared through a bounded tail
 * so lookups cost O(tail) whatever the document size) and the rest of the cursor line after it.
 * Bounded: least recently used entries are evicted first.
 */

export interface CachedCompletion {
    /** The part of the completion still ahead of the cursor. */
    readonly text: string;
    readonly modelId: string;
    /** Characters of the original completion already typed by the user. */
    readonly typed: number;
}

interface Entry {
    readonly doc: string;
    /** Length of the text before the cursor when the completion was made. */
    readonly beforeLength: number;
    /** The last TAIL characters of that text. */
    readonly beforeTail: string;
    readonly lineSuffix: string;
    readonly completion: string;
    readonly modelId: string;
}

const TAIL = 256;

export class CompletionCache {
    /** Most recently used last. */
    private entries: Entry[] = [];

    constructor(private readonly capacity = 32) {}

    /**
     * `before`: the document text before the cursor (whole, or at least from a fixed start: it must
     * grow only by what the user typed). `lineSuffix`: the cursor line after the cursor.
     */
    put(doc: string, before: string, lineSuffix: string, completion: string, modelId: string): void {
        if (completion === '') return;
        this.entries = this.entries.filter((e) => !(e.doc === doc && e.beforeLength === before.length && e.beforeTail === before.slice(-TAIL)));
        this.entries.push({ doc, beforeLength: before.length, beforeTail: before.slice(-TAIL), lineSuffix, completion, modelId });
        if (this.entries.length > this.capacity) this.entries.shift();
    }

    get(doc: string, before: string, lineSuffix: string): CachedCompletion | undefined {
        for (let i = this.entries.length - 1; i >= 0; i--) {
            const e = this.entries[i];
            if (e.doc !== doc || e.lineSuffix !== lineSuffix || before.length < e.beforeLength) continue;
            const typed = before.slice(e.beforeLength);
            if (typed.length >= e.completion.length || !e.completion.startsWith(typed)) continue;
            const tailStart = e.beforeLength - e.beforeTail.length;
            if (before.slice(tailStart, e.beforeLength) !== e.beforeTail) continue;
            this.entries.splice(i, 1);
            this.entries.push(e);
            return { text: e.completion.slice(typed.length), modelId: e.modelId, typed: typed.length };
        }
        return undefined;
    }

    /** Drops a document's entries (closed, or edited elsewhere). */
    forget(doc: string): void {
        this.entries = this.entries.filter((e) => e.doc !== doc);
    }

    clear(): void {
        this.entries = [];
    }

    get size(): number {
        return this.entries.length;
    }
}
