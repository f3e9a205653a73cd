/**
 * Interned strings: file paths, content hashes, symbols and terms get dense ids (`list[id]`), so
 * that the index's columns hold numbers, not strings.
 * Invariants: `id(list[i]) === i`; a string is kept as its own copy (`ownCopy`), never as a view of
 * the text it was cut from; ids are stable until `select` builds a renumbered table (compaction).
 */

/**
 * A copy of `s` that holds no other string alive. V8 represents a substring of 13 or more
 * characters as a view of its parent (and toLowerCase of a lower-case string is the string itself),
 * so a token or symbol interned as it comes would keep the whole chunk or file text it was cut from
 * in memory.
 */
export function ownCopy(s: string): string {
    return s.length < 13 ? s : s.split('').join('');
}

export class StringTable {
    private readonly ids = new Map<string, number>();

    /** A table of `list` (taken, not copied), in its order. */
    constructor(readonly list: string[] = []) {
        list.forEach((s, i) => this.ids.set(s, i));
    }

    get size(): number {
        return this.list.length;
    }

    id(s: string): number | undefined {
        return this.ids.get(s);
    }

    /** The id of `s`, added (as its own copy) when new. */
    intern(s: string): number {
        let i = this.ids.get(s);
        if (i === undefined) {
            i = this.list.length;
            const own = ownCopy(s);
            this.list.push(own);
            this.ids.set(own, i);
        }
        return i;
    }

    /** Whether the list it was built from had a string twice (a corrupt snapshot). */
    hasDuplicates(): boolean {
        return this.ids.size !== this.list.length;
    }

    /** The table of the strings `keep` keeps, in order, and the map old id -> new id (-1: dropped). */
    select(keep: (id: number) => boolean): { table: StringTable; map: Int32Array } {
        const map = new Int32Array(this.list.length).fill(-1);
        const list: string[] = [];
        for (let i = 0; i < this.list.length; i++) if (keep(i)) map[i] = list.push(this.list[i]) - 1;
        return { table: new StringTable(list), map };
    }

    /**
     * An estimate of the memory: per string a ~16-byte header and a byte a character (Latin-1),
     * its array slot and its Map entry (~40 bytes).
     */
    bytes(): number {
        let b = 0;
        for (const s of this.list) b += 64 + s.length;
        return b;
    }
}
