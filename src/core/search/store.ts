/**
 * The search index on disk: one folder per embedder identity (the caller names it, e.g. by
 * `identityKey`), the file system passed in (node:fs/promises in production, a fake in tests).
 *
 * Layout: a generation of three binary parts and a small manifest that names it.
 *
 *   manifest.json      format, version, identity, generation; each part's name, size and SHA-256;
 *                      its own SHA-256 last. Written to a temporary file and renamed: the commit point.
 *   meta.<g>.bin       files (paths, stamps, tombstones) and chunk rows (file, lines, symbol, hash
 *                      id, text fingerprint), the symbol and hash tables
 *   vectors.<g>.bin    int8 vectors and their scales, by hash id; their sign codes and mean
 *   lexical.<g>.bin    the term dictionary, token counts and the postings' CSR segments
 *
 * Each part is a header (magic, format version, part kind, byte order) and typed sections aligned
 * to 8 bytes, so loading takes views of the file's bytes (no parsing, no copies, nothing computed
 * per vector: 100,000 chunks load in well under a second); document frequencies and the Maps are
 * derived again. Why not SQLite, LanceDB or a vector library: no native module on the
 * default path (issue 18 §2), and every structure here is typed arrays already. Why three parts:
 * they change at different rates and sizes (vectors dominate), and a checksum per part says which
 * one is damaged. Why whole generations rather than an append log: a save rewrites live data only
 * as large as the index itself (callers compact first: `SearchIndex.compact()`), so the disk never
 * holds more than one index plus the one being written, and loading needs no log replay.
 *
 * Crash safety (a write interrupted at any point leaves the previous index loadable): a save writes
 * the new generation's parts under new names (each flushed to the disk when the fs can `open`),
 * then the manifest through a temporary file and a rename, and only then deletes the old
 * generation. Until the rename the old manifest names the old, untouched parts; after it the new
 * one names complete parts. A save that fails (a full disk) deletes what it wrote; leftovers of a
 * killed process are deleted by the next save. Against torn writes the OS did not finish (power
 * loss without fsync), the checksums: such an index is set aside and rebuilt, never trusted.
 *
 * Load never throws: a corrupt, truncated or foreign index (or one of a newer format) is renamed
 * aside to `<folder>.corrupt`, `.corrupt.1`, ... (never deleted) and reported with its reason, so
 * the caller rebuilds and says why.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { errorCode, errorMessage } from '../errors';
import { createFileTextStore, syncFolder, writeDurably, type DurableFs } from '../router/textFileStore';
import type { EmbedderIdentity } from './types';
import { restoreSearchIndex, type IndexSnapshot, type InMemorySearchIndex } from './index/index';
import type { Segment } from './index/postings';

/**
 * What the store needs of a file system (node:fs/promises has it all). With `open`, every file a
 * save writes is flushed to the disk (fsync) before the manifest names it, and the folder after
 * the manifest's rename: then even a power loss leaves the old or the new index, not a torn one.
 */
export interface IndexStoreFs extends Partial<DurableFs> {
    readFile(path: string): Promise<Uint8Array>;
    /** `data`: the file's bytes in pieces, written in order. */
    writeFile(path: string, data: Iterable<Uint8Array>): Promise<void>;
    rename(from: string, to: string): Promise<void>;
    mkdir(path: string, options: { recursive: true }): Promise<unknown>;
    readdir(path: string): Promise<string[]>;
    unlink(path: string): Promise<void>;
    access(path: string): Promise<void>;
}

export const INDEX_FORMAT = 'zeta-search-index';
export const INDEX_FORMAT_VERSION = 1;
export const MANIFEST = 'manifest.json';

export type IndexProblem =
    /** Bytes that are not what was written: a checksum, the structure or the manifest is wrong. */
    | 'corrupt'
    /** A part shorter than the manifest says, or missing. */
    | 'truncated'
    /** Not a Zeta index, or one of another embedder (identity) or byte order. */
    | 'foreign'
    /** A Zeta index of a newer format. */
    | 'version'
    /** The file system refused to read it. */
    | 'unreadable';

export type IndexLoad =
    | { readonly kind: 'loaded'; readonly index: InMemorySearchIndex; readonly bytes: number }
    /** No index in the folder (never saved, or set aside before). */
    | { readonly kind: 'empty' }
    /** The folder's index was unusable: renamed to `movedTo` (undefined if the rename failed too). */
    | { readonly kind: 'setAside'; readonly reason: IndexProblem; readonly detail: string; readonly movedTo?: string };

export interface IndexStore {
    readonly dir: string;
    readonly identity: EmbedderIdentity;
    load(): Promise<IndexLoad>;
    /**
     * Writes `index` as the folder's new generation (saves run one at a time, in call order).
     * Rejects with the file system's error; the previous index then stays loadable, and what this
     * save wrote is deleted.
     */
    save(index: InMemorySearchIndex): Promise<{ readonly bytes: number; readonly generation: number }>;
}

/** A short, stable name for an identity's folder: vectors of two identities never share a folder. */
export function identityKey(identity: EmbedderIdentity): string {
    const { space, dims, pooling, queryPrefix, documentPrefix } = identity;
    return createHash('sha256').update(JSON.stringify([space, dims, pooling, queryPrefix, documentPrefix])).digest('hex').slice(0, 16);
}

/** The identity fields that decide the vectors (the display name does not). */
function identityMismatch(a: EmbedderIdentity, b: EmbedderIdentity): string | undefined {
    for (const key of ['space', 'dims', 'pooling', 'queryPrefix', 'documentPrefix'] as const) {
        if (a[key] !== b[key]) return `${key} ${JSON.stringify(a[key])}, expected ${JSON.stringify(b[key])}`;
    }
    return undefined;
}

// ---- binary parts ----

type Part = 'meta' | 'vectors' | 'lexical';
const PARTS: readonly Part[] = ['meta', 'vectors', 'lexical'];
const MAGIC = 0x5853_495a; // "ZISX" read as a little-endian u32
const PART_CODE: Record<Part, number> = { meta: 1, vectors: 2, lexical: 3 };
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

type Typed = Uint8Array | Int8Array | Uint32Array | Int32Array | Float32Array | Float64Array;
const TYPE_CODE = new Map<unknown, number>([
    [Uint8Array, 1],
    [Int8Array, 2],
    [Uint32Array, 3],
    [Int32Array, 4],
    [Float32Array, 5],
    [Float64Array, 6],
]);

class CorruptPart extends Error {}

const pad8 = (n: number): number => (8 - (n % 8)) % 8;
const ZEROS = new Uint8Array(8);

/** A part's bytes, as pieces (headers and views of the index's arrays: no copy of the vectors). */
class PartWriter {
    readonly pieces: Uint8Array[] = [];
    bytes = 0;

    constructor(part: Part) {
        this.push(new Uint8Array(Uint32Array.of(MAGIC, INDEX_FORMAT_VERSION, PART_CODE[part], 1).buffer));
    }

    private push(b: Uint8Array): void {
        if (b.byteLength === 0) return;
        this.pieces.push(b);
        this.bytes += b.byteLength;
    }

    /** A section: type code and element count (8 bytes), the elements, zeros to the next multiple of 8. */
    array(a: Typed): this {
        this.push(new Uint8Array(Uint32Array.of(TYPE_CODE.get(a.constructor) as number, a.length).buffer));
        this.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
        this.push(ZEROS.subarray(0, pad8(a.byteLength)));
        return this;
    }

    /** Strings as two sections: their UTF-16 lengths, then their UTF-8 bytes joined. */
    strings(list: readonly string[]): this {
        return this.array(Uint32Array.from(list, (s) => s.length)).array(new TextEncoder().encode(list.join('')));
    }

    segments(list: readonly Segment[]): this {
        this.array(Uint32Array.of(list.length));
        for (const s of list) this.array(s.terms).array(s.offsets).array(s.docs).array(s.tfs);
        return this;
    }
}

/** Reads a part's sections in the order they were written; any mismatch is a CorruptPart. */
class PartReader {
    private at = 16;
    private readonly bytes: Uint8Array;

    constructor(
        file: Uint8Array,
        private readonly name: string,
        part: Part,
    ) {
        // Views need aligned offsets; a small file may sit unaligned in a pooled buffer.
        this.bytes = file.byteOffset % 8 === 0 ? file : file.slice();
        if (this.bytes.byteLength < 16) throw new CorruptPart(`${name}: no header`);
        const h = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, 4);
        if (h[0] !== MAGIC || h[2] !== PART_CODE[part]) throw new CorruptPart(`${name}: not a ${part} part`);
        if (h[1] !== INDEX_FORMAT_VERSION) throw new CorruptPart(`${name}: part format ${h[1]}`);
        if (h[3] !== 1) throw new CorruptPart(`${name}: written with the other byte order`);
    }

    private read<T extends Typed>(type: new (buffer: ArrayBufferLike, offset: number, length: number) => T, size: number): T {
        const b = this.bytes;
        if (this.at + 8 > b.byteLength) throw new CorruptPart(`${this.name}: ends before section at byte ${this.at}`);
        const [code, count] = new Uint32Array(b.buffer, b.byteOffset + this.at, 2);
        if (code !== TYPE_CODE.get(type)) throw new CorruptPart(`${this.name}: section at byte ${this.at} has type ${code}, expected ${TYPE_CODE.get(type)}`);
        const start = this.at + 8;
        const length = count * size;
        if (start + length > b.byteLength) throw new CorruptPart(`${this.name}: section at byte ${this.at} runs past the end`);
        this.at = start + length + pad8(length);
        return new type(b.buffer, b.byteOffset + start, count);
    }

    u8 = (): Uint8Array => this.read(Uint8Array, 1);
    i8 = (): Int8Array => this.read(Int8Array, 1);
    u32 = (): Uint32Array => this.read(Uint32Array, 4);
    i32 = (): Int32Array => this.read(Int32Array, 4);
    f32 = (): Float32Array => this.read(Float32Array, 4);
    f64 = (): Float64Array => this.read(Float64Array, 8);

    strings(): string[] {
        const lengths = this.u32();
        const text = new TextDecoder('utf-8', { fatal: true }).decode(this.u8());
        const out = new Array<string>(lengths.length);
        let at = 0;
        for (let i = 0; i < lengths.length; i++) {
            out[i] = text.slice(at, at + lengths[i]);
            at += lengths[i];
        }
        if (at !== text.length) throw new CorruptPart(`${this.name}: string lengths do not match their text`);
        return out;
    }

    segments(): Segment[] {
        const [n] = this.u32();
        const out: Segment[] = [];
        for (let i = 0; i < (n ?? 0); i++) out.push({ terms: this.u32(), offsets: this.u32(), docs: this.u32(), tfs: this.u8() });
        return out;
    }

    end(): void {
        if (this.at !== this.bytes.byteLength) throw new CorruptPart(`${this.name}: ${this.bytes.byteLength - this.at} bytes after the last section`);
    }
}

function encode(s: IndexSnapshot): Record<Part, PartWriter> {
    const f = s.files;
    const r = s.rows;
    const meta = new PartWriter('meta').strings(f.paths).array(f.mtimeMs).array(f.size).array(f.alive);
    meta.array(r.file).array(r.start).array(r.end).array(r.symbol).array(r.hash).array(r.sig).array(r.alive);
    meta.strings(s.symbols).strings(s.hashes);
    const v = s.vectors;
    const vectors = new PartWriter('vectors').array(v.q).array(v.scales).array(v.has).array(v.codes).array(v.mean).array(v.sum).array(Float64Array.of(v.meanBasis));
    const lexical = new PartWriter('lexical').strings(s.terms).array(f.pathLen).array(r.textLen).segments(s.text).segments(s.path);
    return { meta, vectors, lexical };
}

function decode(identity: EmbedderIdentity, files: Record<Part, { bytes: Uint8Array; name: string }>): IndexSnapshot {
    const m = new PartReader(files.meta.bytes, files.meta.name, 'meta');
    const paths = m.strings();
    const mtimeMs = m.f64();
    const size = m.f64();
    const fileAlive = m.u8();
    const rowCols = { file: m.u32(), start: m.u32(), end: m.u32(), symbol: m.i32(), hash: m.u32(), sig: m.u32(), alive: m.u8() };
    const symbols = m.strings();
    const hashes = m.strings();
    m.end();
    const v = new PartReader(files.vectors.bytes, files.vectors.name, 'vectors');
    const vectors = { q: v.i8(), scales: v.f32(), has: v.u8(), codes: v.u32(), mean: v.f32(), sum: v.f64(), meanBasis: v.f64()[0] ?? -1 };
    v.end();
    const x = new PartReader(files.lexical.bytes, files.lexical.name, 'lexical');
    const terms = x.strings();
    const pathLen = x.u32();
    const textLen = x.u32();
    const text = x.segments();
    const path = x.segments();
    x.end();
    return {
        identity,
        files: { paths, mtimeMs, size, alive: fileAlive, pathLen },
        rows: { ...rowCols, textLen },
        symbols,
        hashes,
        vectors,
        terms,
        text,
        path,
    };
}

// ---- the manifest ----

interface PartEntry {
    readonly file: string;
    readonly bytes: number;
    readonly sha256: string;
}

interface Manifest {
    readonly format: string;
    readonly version: number;
    readonly generation: number;
    readonly littleEndian: boolean;
    readonly identity: EmbedderIdentity;
    readonly parts: Record<Part, PartEntry>;
}

const sha256 = (pieces: Iterable<Uint8Array>): string => {
    const h = createHash('sha256');
    for (const p of pieces) h.update(p);
    return h.digest('hex');
};

/** The manifest's text: its body, then the body's SHA-256 (a torn or edited manifest does not parse as whole). */
function manifestText(m: Manifest): string {
    const body = JSON.stringify(m);
    return JSON.stringify({ body: m, sha256: sha256([new TextEncoder().encode(body)]) }, null, 1);
}

/** The manifest in `text`, or the problem with it. */
function readManifest(text: string, identity: EmbedderIdentity): Manifest | { reason: IndexProblem; detail: string } {
    let outer: unknown;
    try {
        outer = JSON.parse(text);
    } catch {
        return { reason: 'corrupt', detail: `${MANIFEST} is not JSON` };
    }
    const o = outer as { body?: Manifest; sha256?: unknown };
    if (typeof o !== 'object' || o === null || typeof o.body !== 'object' || o.body === null) return { reason: 'foreign', detail: `${MANIFEST} is not a Zeta index manifest` };
    const m = o.body;
    if (m.format !== INDEX_FORMAT) return { reason: 'foreign', detail: `${MANIFEST} is of format ${JSON.stringify(m.format)}` };
    if (o.sha256 !== sha256([new TextEncoder().encode(JSON.stringify(m))])) return { reason: 'corrupt', detail: `${MANIFEST}: checksum mismatch` };
    if (typeof m.version !== 'number' || m.version > INDEX_FORMAT_VERSION) return { reason: 'version', detail: `format version ${String(m.version)}; this Zeta reads ${INDEX_FORMAT_VERSION}` };
    if (m.version !== INDEX_FORMAT_VERSION) return { reason: 'corrupt', detail: `format version ${m.version}` };
    if (m.littleEndian !== LITTLE_ENDIAN) return { reason: 'foreign', detail: 'written on a machine of the other byte order' };
    const mismatch = typeof m.identity === 'object' && m.identity !== null ? identityMismatch(m.identity, identity) : 'no identity';
    if (mismatch) return { reason: 'foreign', detail: `another embedder's index: ${mismatch}` };
    for (const p of PARTS) {
        const e = m.parts?.[p];
        if (!e || typeof e.file !== 'string' || !/^[a-z]+\.\d+\.bin$/.test(e.file) || !Number.isSafeInteger(e.bytes) || typeof e.sha256 !== 'string') {
            return { reason: 'corrupt', detail: `${MANIFEST}: part ${p} is malformed` };
        }
    }
    if (!Number.isSafeInteger(m.generation)) return { reason: 'corrupt', detail: `${MANIFEST}: generation ${String(m.generation)}` };
    return m;
}

const GENERATION_FILE = /^(meta|vectors|lexical)\.(\d+)\.bin$/;

export function createIndexStore(dir: string, identity: EmbedderIdentity, fs: IndexStoreFs): IndexStore {
    let queue: Promise<unknown> = Promise.resolve();

    /** Renames the folder aside by the project's rule for unusable files (router/textFileStore.ts). */
    async function setAside(reason: IndexProblem, detail: string): Promise<IndexLoad> {
        const folder = createFileTextStore(dir, {
            readFile: async (path) => new TextDecoder().decode(await fs.readFile(path)),
            writeFile: (path, data) => fs.writeFile(path, [new TextEncoder().encode(data)]),
            rename: (from, to) => fs.rename(from, to),
            mkdir: (path, options) => fs.mkdir(path, options),
            access: (path) => fs.access(path),
        });
        try {
            const movedTo = await folder.setAside(`${reason}: ${detail}`);
            return movedTo ? { kind: 'setAside', reason, detail, movedTo } : { kind: 'setAside', reason, detail: `${detail} (and it could not be set aside: gone, or no free name)` };
        } catch (e) {
            return { kind: 'setAside', reason, detail: `${detail} (and it could not be set aside: ${errorMessage(e)})` };
        }
    }

    async function load(): Promise<IndexLoad> {
        let raw: Uint8Array;
        try {
            raw = await fs.readFile(join(dir, MANIFEST));
        } catch (e) {
            if (errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR') return { kind: 'empty' };
            return setAside('unreadable', `${MANIFEST}: ${errorMessage(e)}`);
        }
        const m = readManifest(new TextDecoder().decode(raw), identity);
        if ('reason' in m) return setAside(m.reason, m.detail);
        const files = {} as Record<Part, { bytes: Uint8Array; name: string }>;
        let total = raw.byteLength;
        for (const p of PARTS) {
            const e = m.parts[p];
            let bytes: Uint8Array;
            try {
                bytes = await fs.readFile(join(dir, e.file));
            } catch (err) {
                if (errorCode(err) === 'ENOENT') return setAside('truncated', `${e.file} is missing`);
                return setAside('unreadable', `${e.file}: ${errorMessage(err)}`);
            }
            if (bytes.byteLength < e.bytes) return setAside('truncated', `${e.file} has ${bytes.byteLength} of its ${e.bytes} bytes`);
            if (bytes.byteLength > e.bytes) return setAside('corrupt', `${e.file} has ${bytes.byteLength} bytes, not ${e.bytes}`);
            if (sha256([bytes]) !== e.sha256) return setAside('corrupt', `${e.file}: checksum mismatch`);
            files[p] = { bytes, name: e.file };
            total += bytes.byteLength;
        }
        try {
            return { kind: 'loaded', index: restoreSearchIndex(decode(m.identity, files)), bytes: total };
        } catch (e) {
            return setAside('corrupt', errorMessage(e));
        }
    }

    async function save(index: InMemorySearchIndex): Promise<{ bytes: number; generation: number }> {
        const mismatch = identityMismatch(index.identity, identity);
        if (mismatch) throw new RangeError(`the store at ${dir} holds another embedder's index: ${mismatch}`);
        await fs.mkdir(dir, { recursive: true });
        // A new generation number, above every one in the folder: nothing a manifest names is overwritten.
        const names = await fs.readdir(dir);
        let generation = 1;
        for (const n of names) {
            const g = GENERATION_FILE.exec(n);
            if (g) generation = Math.max(generation, Number(g[2]) + 1);
        }
        const parts = encode(index.snapshot());
        const entries = {} as Record<Part, PartEntry>;
        let bytes = 0;
        const written: string[] = [];
        const write = async (file: string, pieces: Iterable<Uint8Array>): Promise<void> => {
            written.push(file);
            if (fs.open) await writeDurably(fs as DurableFs, join(dir, file), pieces);
            else await fs.writeFile(join(dir, file), pieces);
        };
        const tmp = `${MANIFEST}.tmp`;
        let manifest: Uint8Array;
        try {
            for (const p of PARTS) {
                const file = `${p}.${generation}.bin`;
                await write(file, parts[p].pieces);
                entries[p] = { file, bytes: parts[p].bytes, sha256: sha256(parts[p].pieces) };
                bytes += parts[p].bytes;
            }
            manifest = new TextEncoder().encode(manifestText({ format: INDEX_FORMAT, version: INDEX_FORMAT_VERSION, generation, littleEndian: LITTLE_ENDIAN, identity, parts: entries }));
            await write(tmp, [manifest]);
            await fs.rename(join(dir, tmp), join(dir, MANIFEST));
        } catch (e) {
            // Not committed: the previous manifest names the previous parts. What this save wrote
            // is garbage, and on a full disk it is the space the next save needs.
            for (const file of written) await fs.unlink(join(dir, file)).catch(() => undefined);
            throw e;
        }
        await syncFolder(fs, dir);
        // Committed. What the new manifest does not name is garbage: older generations, leftovers.
        const keep = new Set([MANIFEST, ...PARTS.map((p) => entries[p].file)]);
        for (const n of await fs.readdir(dir).catch(() => [] as string[])) {
            if (keep.has(n) || !(GENERATION_FILE.test(n) || n === `${MANIFEST}.tmp`)) continue;
            await fs.unlink(join(dir, n)).catch(() => undefined);
        }
        return { bytes: bytes + manifest.byteLength, generation };
    }

    return {
        dir,
        identity,
        load: () => {
            const p = queue.then(load, load);
            queue = p;
            return p;
        },
        save: (index) => {
            const p = queue.then(
                () => save(index),
                () => save(index),
            );
            queue = p.catch(() => undefined);
            return p;
        },
    };
}
