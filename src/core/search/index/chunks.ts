/**
 * The chunk table: files, chunk rows and content hashes as typed columns, no copy of any text.
 *
 * A row is one chunk of one file version: its file, lines, symbol, content hash and a fingerprint
 * of its text. A hash id is a slot of the vector store: equal texts share one slot, whichever
 * files and rows use them.
 *
 * Invariants:
 * - row ids only grow (a new chunk is appended) until `compact`, which keeps the order of the rows it
 *   keeps; a dead row (tombstone) is never live again;
 * - `fileRows[f]` lists the live rows of file f by start line; a dead file has none and no stamp;
 * - `refs[h]` counts the live rows whose hash is h; rows with hash h are linked from `head[h]`
 *   through `next` (dead ones too, until compaction);
 * - file paths and hashes are interned once: ids stay while any row or live file uses them.
 */
import type { ChunkRef, FileStamp } from '../types';
import { grow, remap } from './growable';
import { StringTable } from './strings';

/** The columns a row is made of (snapshots, loading). */
export interface RowColumns {
    readonly file: Uint32Array;
    readonly start: Uint32Array;
    readonly end: Uint32Array;
    /** Index in the symbol table, or -1. */
    readonly symbol: Int32Array;
    readonly hash: Uint32Array;
    /** FNV-1a of the chunk's text: with the hash and symbol, says a re-read chunk is the same. */
    readonly sig: Uint32Array;
    readonly alive: Uint8Array;
}

export interface FileColumns {
    readonly paths: readonly string[];
    readonly mtimeMs: Float64Array;
    readonly size: Float64Array;
    readonly alive: Uint8Array;
}

export { fnv1a } from '../../hash';

export class ChunkTable {
    paths = new StringTable();
    mtimeMs: Float64Array = new Float64Array(0);
    size: Float64Array = new Float64Array(0);
    fileAlive: Uint8Array = new Uint8Array(0);
    fileRows: number[][] = [];
    liveFiles = 0;

    rowFile: Uint32Array = new Uint32Array(0);
    rowStart: Uint32Array = new Uint32Array(0);
    rowEnd: Uint32Array = new Uint32Array(0);
    rowSymbol: Int32Array = new Int32Array(0);
    rowHash: Uint32Array = new Uint32Array(0);
    rowSig: Uint32Array = new Uint32Array(0);
    rowAlive: Uint8Array = new Uint8Array(0);
    rows = 0;
    liveRows = 0;

    symbols = new StringTable();
    hashes = new StringTable();
    refs: Uint32Array = new Uint32Array(0);
    head: Int32Array = new Int32Array(0);
    next: Int32Array = new Int32Array(0);

    /** A table of these columns (loading): derived state (file rows, refs, links, maps) is rebuilt. */
    static fromColumns(files: FileColumns, rows: RowColumns, symbols: string[], hashes: string[]): ChunkTable {
        const t = new ChunkTable();
        t.paths = new StringTable([...files.paths]);
        t.mtimeMs = files.mtimeMs;
        t.size = files.size;
        t.fileAlive = files.alive;
        t.fileRows = t.paths.list.map(() => []);
        for (let f = 0; f < t.paths.size; f++) if (t.fileAlive[f]) t.liveFiles++;
        t.rows = rows.file.length;
        t.rowFile = rows.file;
        t.rowStart = rows.start;
        t.rowEnd = rows.end;
        t.rowSymbol = rows.symbol;
        t.rowHash = rows.hash;
        t.rowSig = rows.sig;
        t.rowAlive = rows.alive;
        t.symbols = new StringTable(symbols);
        t.hashes = new StringTable(hashes);
        t.refs = new Uint32Array(hashes.length);
        t.head = new Int32Array(hashes.length).fill(-1);
        t.next = new Int32Array(t.rows);
        for (let r = 0; r < t.rows; r++) {
            const h = t.rowHash[r];
            t.next[r] = t.head[h];
            t.head[h] = r;
            if (!t.rowAlive[r]) continue;
            t.liveRows++;
            t.refs[h]++;
            t.fileRows[t.rowFile[r]].push(r);
        }
        for (const list of t.fileRows) t.sortRows(list);
        return t;
    }

    /** Which table has an entry twice (a corrupt snapshot), if any. */
    duplicate(): string | undefined {
        if (this.paths.hasDuplicates()) return 'a file path appears twice';
        if (this.hashes.hasDuplicates()) return 'a content hash appears twice';
        if (this.symbols.hasDuplicates()) return 'a symbol appears twice';
        return undefined;
    }

    fileId(path: string): number | undefined {
        return this.paths.id(path);
    }

    /** The id of `path`, registered (dead, no rows) when new. */
    addFile(path: string): number {
        const f = this.paths.intern(path);
        this.mtimeMs = grow(this.mtimeMs, f + 1);
        this.size = grow(this.size, f + 1);
        this.fileAlive = grow(this.fileAlive, f + 1);
        this.fileRows.push([]);
        return f;
    }

    setAlive(file: number, stamp: FileStamp | undefined): void {
        const was = this.fileAlive[file] === 1;
        if (stamp) {
            this.mtimeMs[file] = stamp.mtimeMs;
            this.size[file] = stamp.size;
        }
        this.fileAlive[file] = stamp ? 1 : 0;
        this.liveFiles += (stamp ? 1 : 0) - (was ? 1 : 0);
    }

    stamp(file: number): FileStamp | undefined {
        return this.fileAlive[file] ? { mtimeMs: this.mtimeMs[file], size: this.size[file] } : undefined;
    }

    hashId(hash: string): number | undefined {
        return this.hashes.id(hash);
    }

    /** The id of `hash`, interned when new (the caller sizes the vector store to `hashes.size`). */
    internHash(hash: string): number {
        const known = this.hashes.size;
        const h = this.hashes.intern(hash);
        if (h === known) {
            this.refs = grow(this.refs, h + 1);
            this.head = grow(this.head, h + 1);
            this.head[h] = -1;
        }
        return h;
    }

    symbolId(symbol: string | undefined): number {
        return symbol === undefined ? -1 : (this.symbols.id(symbol) ?? -2);
    }

    /** Appends a live row; the caller adds it to `fileRows` (in line order) and counts its ref. */
    addRow(file: number, chunk: ChunkRef, hash: number, sig: number): number {
        const r = this.rows++;
        const n = r + 1;
        this.rowFile = grow(this.rowFile, n);
        this.rowStart = grow(this.rowStart, n);
        this.rowEnd = grow(this.rowEnd, n);
        this.rowSymbol = grow(this.rowSymbol, n);
        this.rowHash = grow(this.rowHash, n);
        this.rowSig = grow(this.rowSig, n);
        this.rowAlive = grow(this.rowAlive, n);
        this.next = grow(this.next, n);
        this.rowFile[r] = file;
        this.rowStart[r] = chunk.startLine;
        this.rowEnd[r] = chunk.endLine;
        this.rowSymbol[r] = chunk.symbol === undefined ? -1 : this.symbols.intern(chunk.symbol);
        this.rowHash[r] = hash;
        this.rowSig[r] = sig;
        this.rowAlive[r] = 1;
        this.next[r] = this.head[hash];
        this.head[hash] = r;
        this.liveRows++;
        this.refs[hash]++;
        return r;
    }

    /** Tombstones a live row; returns its hash's live rows left. */
    killRow(r: number): number {
        this.rowAlive[r] = 0;
        this.liveRows--;
        return --this.refs[this.rowHash[r]];
    }

    sortRows(list: number[]): void {
        list.sort((a, b) => this.rowStart[a] - this.rowStart[b] || this.rowEnd[a] - this.rowEnd[b] || a - b);
    }

    ref(r: number): ChunkRef {
        const s = this.rowSymbol[r];
        const file = this.paths.list[this.rowFile[r]];
        return s >= 0 ? { file, startLine: this.rowStart[r], endLine: this.rowEnd[r], symbol: this.symbols.list[s] } : { file, startLine: this.rowStart[r], endLine: this.rowEnd[r] };
    }

    /** The live row of exactly this chunk (file and lines), or -1. */
    rowOf(chunk: ChunkRef): number {
        const f = this.paths.id(chunk.file);
        if (f === undefined) return -1;
        for (const r of this.fileRows[f]) if (this.rowStart[r] === chunk.startLine && this.rowEnd[r] === chunk.endLine) return r;
        return -1;
    }

    /**
     * Compaction: a table of the live rows, live files and the hashes some live row uses,
     * renumbered in order, and the maps old id -> new id (-1: dropped) the index's other parts apply.
     */
    compacted(): { table: ChunkTable; rowMap: Int32Array; fileMap: Int32Array; hashMap: Int32Array } {
        const { table: paths, map: fileMap } = this.paths.select((f) => this.fileAlive[f] === 1);
        const { table: hashes, map: hashMap } = this.hashes.select((h) => this.refs[h] > 0);
        const rowMap = new Int32Array(this.rows).fill(-1);
        let rows = 0;
        const usedSymbol = new Uint8Array(this.symbols.size);
        for (let r = 0; r < this.rows; r++) {
            if (!this.rowAlive[r]) continue;
            rowMap[r] = rows++;
            if (this.rowSymbol[r] >= 0) usedSymbol[this.rowSymbol[r]] = 1;
        }
        const { table: symbols, map: symbolMap } = this.symbols.select((s) => usedSymbol[s] === 1);
        const file = remap(this.rowFile, rowMap, rows).map((f) => fileMap[f]);
        const hash = remap(this.rowHash, rowMap, rows).map((h) => hashMap[h]);
        const symbol = remap(this.rowSymbol, rowMap, rows).map((s) => (s >= 0 ? symbolMap[s] : -1));
        const table = ChunkTable.fromColumns(
            { paths: paths.list, mtimeMs: remap(this.mtimeMs, fileMap, paths.size), size: remap(this.size, fileMap, paths.size), alive: new Uint8Array(paths.size).fill(1) },
            { file, start: remap(this.rowStart, rowMap, rows), end: remap(this.rowEnd, rowMap, rows), symbol, hash, sig: remap(this.rowSig, rowMap, rows), alive: new Uint8Array(rows).fill(1) },
            symbols.list,
            hashes.list,
        );
        return { table, rowMap, fileMap, hashMap };
    }

    /** Bytes held in typed arrays, and an estimate for maps and strings. */
    bytes(): number {
        let b = this.mtimeMs.byteLength + this.size.byteLength + this.fileAlive.byteLength;
        b += this.rowFile.byteLength * 6 + this.rowAlive.byteLength + this.next.byteLength;
        b += this.refs.byteLength + this.head.byteLength;
        // fileRows: ~8 bytes a live row and an array per file.
        b += this.liveRows * 8 + this.paths.size * 32;
        return b + this.paths.bytes() + this.symbols.bytes() + this.hashes.bytes();
    }
}
