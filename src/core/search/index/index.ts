/**
 * The in-memory search index: `createSearchIndex(identity)`, or `restoreSearchIndex(snapshot)`
 * for one read back by the store. It joins three parts that share row, file and hash ids:
 *
 *   chunks.ts    the chunk table: files, rows (chunks as ranges), interned hashes and symbols
 *   lexical.ts   BM25 over the chunks' text and their paths (postings.ts, tokenize.ts)
 *   vectors.ts   quantised vectors per hash, the two-stage search
 *
 * Invariants:
 * - vector slot h is hash id h: the hash -> vector cache; a hash keeps its vector while any row
 *   uses it, dead rows included, so a file deleted and re-created with the same chunks embeds
 *   nothing until compaction drops the dead rows;
 * - `setFile` keeps the rows of chunks that did not change (same hash, symbol and text, lines
 *   updated) and tombstones the others: an edit adds only the chunks it changed;
 * - every change is visible to the next search (no background work, no I/O).
 */
import type { ChunkInput, ChunkRef, EmbedderIdentity, FileStamp, IndexStats, RejectedVector, SearchHit, SearchIndex } from '../types';
import { ChunkTable, fnv1a } from './chunks';
import { LexicalIndex } from './lexical';
import { checkSnapshot, type IndexSnapshot } from './snapshot';
import { TopK } from './topK';
import { VectorStore } from './vectors';

export type { IndexSnapshot } from './snapshot';

/** Dead rows, dead vectors or dead files above this share of theirs make `compact()` compact. */
export const COMPACT_DEAD_SHARE = 0.25;

/** The index the store can write: its state as plain columns. */
export interface InMemorySearchIndex extends SearchIndex {
    /** The state as columns: views of the index's arrays, valid until its next change. */
    snapshot(): IndexSnapshot;
}

class MemoryIndex implements InMemorySearchIndex {
    /** Live rows whose hash has a vector. */
    private rowsWithVectors = 0;

    constructor(
        readonly identity: EmbedderIdentity,
        private table: ChunkTable,
        private lexical: LexicalIndex,
        private vectors: VectorStore,
    ) {
        for (let h = 0; h < table.hashes.size; h++) {
            vectors.setLive(h, table.refs[h] > 0);
            if (vectors.hasVector(h)) this.rowsWithVectors += table.refs[h];
        }
    }

    setFile(file: string, stamp: FileStamp, chunks: readonly ChunkInput[]): ChunkInput[] {
        const t = this.table;
        let f = t.fileId(file);
        if (f === undefined) {
            f = t.addFile(file);
            this.lexical.addFile(f, file);
        } else if (!t.fileAlive[f]) this.lexical.setFileLive(f, true);
        t.setAlive(f, stamp);

        // Old rows by what makes a chunk the same: hash, symbol, text fingerprint.
        const key = (hash: number, symbol: number, sig: number): string => `${hash}:${symbol}:${sig}`;
        const old = new Map<string, number[]>();
        for (const r of t.fileRows[f]) {
            const k = key(t.rowHash[r], t.rowSymbol[r], t.rowSig[r]);
            const list = old.get(k);
            if (list) list.push(r);
            else old.set(k, [r]);
        }
        const rows: number[] = [];
        const missing = new Map<string, ChunkInput>();
        for (const c of chunks) {
            const sig = fnv1a(c.text);
            const h = t.hashId(c.hash);
            const same = h === undefined ? undefined : old.get(key(h, t.symbolId(c.symbol), sig))?.pop();
            if (same !== undefined) {
                t.rowStart[same] = c.startLine;
                t.rowEnd[same] = c.endLine;
                rows.push(same);
            } else {
                const hash = t.internHash(c.hash);
                this.vectors.ensure(t.hashes.size);
                const r = t.addRow(f, c, hash, sig);
                this.lexical.addRow(r, c.text);
                if (t.refs[hash] === 1) this.vectors.setLive(hash, true);
                if (this.vectors.hasVector(hash)) this.rowsWithVectors++;
                rows.push(r);
            }
            if (!this.vectors.hasVector(t.hashId(c.hash) as number)) missing.set(c.hash, c);
        }
        for (const list of old.values()) for (const r of list) this.kill(r);
        t.sortRows(rows);
        t.fileRows[f] = rows;
        return [...missing.values()];
    }

    private kill(r: number): void {
        const t = this.table;
        const h = t.rowHash[r];
        if (this.vectors.hasVector(h)) this.rowsWithVectors--;
        if (t.killRow(r) === 0) this.vectors.setLive(h, false);
        this.lexical.killRow(r);
    }

    removeFile(file: string): void {
        const t = this.table;
        const f = t.fileId(file);
        if (f === undefined || !t.fileAlive[f]) return;
        for (const r of t.fileRows[f]) this.kill(r);
        t.fileRows[f] = [];
        t.setAlive(f, undefined);
        this.lexical.setFileLive(f, false);
    }

    addVectors(items: ReadonlyArray<{ readonly hash: string; readonly vector: ArrayLike<number> }>): RejectedVector[] {
        const rejected: RejectedVector[] = [];
        for (const { hash, vector } of items) {
            const h = this.table.hashId(hash);
            if (h === undefined) continue;
            const had = this.vectors.hasVector(h);
            const problem = this.vectors.set(h, vector);
            if (problem) rejected.push({ hash, problem });
            else if (!had) this.rowsWithVectors += this.table.refs[h];
        }
        return rejected;
    }

    hasVector(hash: string): boolean {
        const h = this.table.hashId(hash);
        return h !== undefined && this.vectors.hasVector(h);
    }

    stamp(file: string): FileStamp | undefined {
        const f = this.table.fileId(file);
        return f === undefined ? undefined : this.table.stamp(f);
    }

    *files(): IterableIterator<string> {
        const t = this.table;
        for (let f = 0; f < t.paths.size; f++) if (t.fileAlive[f]) yield t.paths.list[f];
    }

    chunksOf(file: string): readonly ChunkRef[] {
        const f = this.table.fileId(file);
        return f === undefined ? [] : this.table.fileRows[f].map((r) => this.table.ref(r));
    }

    stats(): IndexStats {
        const t = this.table;
        return {
            files: t.liveFiles,
            chunks: t.liveRows,
            chunksWithVectors: this.rowsWithVectors,
            vectors: this.vectors.stored,
            deadChunks: t.rows - t.liveRows,
            memoryBytes: t.bytes() + this.lexical.bytes() + this.vectors.bytes(),
        };
    }

    searchLexical(query: string, k: number, options?: { readonly without?: { readonly chunk: ChunkRef; readonly text: string } }): SearchHit[] {
        const t = this.table;
        const w = options?.without;
        const row = w ? t.rowOf(w.chunk) : -1;
        const hits = this.lexical.search(query, k, t, row >= 0 && w ? { row, text: w.text } : undefined);
        return hits.map((h) => ({ chunk: t.ref(h.id), score: h.score }));
    }

    searchVector(query: ArrayLike<number>, k: number, options?: { readonly replace?: { readonly chunk: ChunkRef; readonly vector: ArrayLike<number> } }): SearchHit[] {
        const q = this.vectors.normalise(query);
        if (q === 'dims') throw new RangeError(`query vector has ${query.length} dimensions; this index's embedder (${this.identity.model}) has ${this.identity.dims}`);
        if (typeof q === 'string' || k <= 0) return [];
        const t = this.table;
        const r = options?.replace;
        const target = r ? t.rowOf(r.chunk) : -1;
        const top = new TopK(k);
        if (target >= 0 && r) {
            const v = this.vectors.normalise(r.vector);
            if (typeof v !== 'string') {
                let dot = 0;
                for (let j = 0; j < v.length; j++) dot += v[j] * q[j];
                top.push(dot, target);
            }
        }
        // The k best slots (k + 1 when the target's own may be among them) give at least k live rows.
        for (const s of this.vectors.search(q, target >= 0 ? k + 1 : k)) {
            for (let row = t.head[s.id]; row >= 0; row = t.next[row]) if (t.rowAlive[row] && row !== target) top.push(s.score, row);
        }
        return top.sorted().map((h) => ({ chunk: t.ref(h.id), score: h.score }));
    }

    compact(force = false): boolean {
        const t = this.table;
        const deadRows = t.rows - t.liveRows;
        let deadSlots = 0;
        for (let h = 0; h < t.hashes.size; h++) if (t.refs[h] === 0) deadSlots++;
        const deadFiles = t.paths.size - t.liveFiles;
        const share = COMPACT_DEAD_SHARE;
        const due = deadRows > share * t.rows || deadSlots > share * t.hashes.size || deadFiles > share * t.paths.size;
        if (!force && !due) return false;
        const { table, rowMap, fileMap, hashMap } = t.compacted();
        this.lexical.compact(rowMap, table.rows, fileMap, table.paths.size);
        this.vectors.rebuild(hashMap, table.hashes.size);
        this.table = table;
        return true;
    }

    snapshot(): IndexSnapshot {
        const t = this.table;
        const x = this.lexical;
        const F = t.paths.size;
        const R = t.rows;
        return {
            identity: this.identity,
            files: { paths: t.paths.list, mtimeMs: t.mtimeMs.subarray(0, F), size: t.size.subarray(0, F), alive: t.fileAlive.subarray(0, F), pathLen: x.fileLen.subarray(0, F) },
            rows: {
                file: t.rowFile.subarray(0, R),
                start: t.rowStart.subarray(0, R),
                end: t.rowEnd.subarray(0, R),
                symbol: t.rowSymbol.subarray(0, R),
                hash: t.rowHash.subarray(0, R),
                sig: t.rowSig.subarray(0, R),
                alive: t.rowAlive.subarray(0, R),
                textLen: x.rowLen.subarray(0, R),
            },
            symbols: t.symbols.list,
            hashes: t.hashes.list,
            vectors: this.vectors.arrays(),
            terms: x.terms.list,
            text: x.text.segments(),
            path: x.path.segments(),
        };
    }
}

function checkIdentity(identity: EmbedderIdentity): void {
    if (!(Number.isInteger(identity.dims) && identity.dims > 0)) throw new RangeError(`embedder ${identity.model}: dims must be a positive whole number, got ${identity.dims}`);
}

/** An empty index for vectors of `identity`'s embedding space. */
export function createSearchIndex(identity: EmbedderIdentity): InMemorySearchIndex {
    checkIdentity(identity);
    return new MemoryIndex(identity, new ChunkTable(), new LexicalIndex(), new VectorStore(identity.dims));
}

/**
 * The index a snapshot describes (the store's load). Throws a RangeError naming the first
 * inconsistency when it is not whole (`checkSnapshot`); it takes the snapshot's arrays, not copies.
 */
export function restoreSearchIndex(s: IndexSnapshot): InMemorySearchIndex {
    checkIdentity(s.identity);
    const problem = checkSnapshot(s);
    if (problem) throw new RangeError(`index snapshot: ${problem}`);
    const table = ChunkTable.fromColumns(s.files, s.rows, [...s.symbols], [...s.hashes]);
    const lexical = LexicalIndex.fromParts(
        { terms: [...s.terms], text: s.text, path: s.path, rowLen: s.rows.textLen, fileLen: s.files.pathLen },
        s.rows.alive,
        s.files.alive,
    );
    const twice = table.duplicate() ?? lexical.duplicate();
    if (twice) throw new RangeError(`index snapshot: ${twice}`);
    const vectors = VectorStore.fromArrays(s.identity.dims, s.vectors);
    return new MemoryIndex(s.identity, table, lexical, vectors);
}
