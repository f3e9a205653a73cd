/**
 * An index as plain columns: what the store writes and reads back. No Maps; derived state that is
 * cheap to rebuild (file rows, hash references and links, document frequencies) is rebuilt on load,
 * the vectors' sign codes and mean (O(n x dims)) are kept.
 *
 * `checkSnapshot` is the structural check of data read from disk: every id in range, every
 * length consistent, postings ordered as `PostingsField` assumes (that no path, hash, symbol or
 * term appears twice is checked where their maps are built, `restoreSearchIndex`). A snapshot that passes cannot make
 * the index read out of bounds or loop; one that fails is corrupt (checksums catch torn and flipped
 * bytes first; this catches a writer's bug or a file crafted by hand).
 */
import type { EmbedderIdentity } from '../types';
import type { FileColumns, RowColumns } from './chunks';
import type { Segment } from './postings';
import type { VectorArrays } from './vectors';

export interface IndexSnapshot {
    readonly identity: EmbedderIdentity;
    /** Files, with their path field's token count. */
    readonly files: FileColumns & { readonly pathLen: Uint32Array };
    /** Chunk rows, with their text field's token count. */
    readonly rows: RowColumns & { readonly textLen: Uint32Array };
    readonly symbols: readonly string[];
    /** Content hashes; hash id h is vector slot h. */
    readonly hashes: readonly string[];
    readonly vectors: VectorArrays;
    readonly terms: readonly string[];
    /** Postings of the text field (documents: rows) and of the path field (documents: files). */
    readonly text: readonly Segment[];
    readonly path: readonly Segment[];
}

function checkSegments(name: string, segments: readonly Segment[], terms: number, docs: number): string | undefined {
    let lastDoc = -1;
    for (const [i, s] of segments.entries()) {
        const where = `${name} segment ${i}`;
        if (s.offsets.length !== s.terms.length + 1) return `${where}: ${s.offsets.length} offsets for ${s.terms.length} terms`;
        if (s.tfs.length !== s.docs.length) return `${where}: ${s.tfs.length} frequencies for ${s.docs.length} postings`;
        if (s.offsets[0] !== 0 || s.offsets[s.terms.length] !== s.docs.length) return `${where}: offsets do not span the postings`;
        let maxDoc = -1;
        let minDoc = docs;
        for (let t = 0; t < s.terms.length; t++) {
            if (s.terms[t] >= terms || (t > 0 && s.terms[t] <= s.terms[t - 1])) return `${where}: terms out of order or range at ${t}`;
            const from = s.offsets[t];
            const to = s.offsets[t + 1];
            if (to < from) return `${where}: offsets decrease at term ${t}`;
            for (let p = from; p < to; p++) {
                const d = s.docs[p];
                if (d >= docs || (p > from && d <= s.docs[p - 1]) || s.tfs[p] === 0) return `${where}: posting ${p} out of order or range`;
                if (d > maxDoc) maxDoc = d;
                if (d < minDoc) minDoc = d;
            }
        }
        if (s.docs.length > 0) {
            if (minDoc <= lastDoc) return `${where}: documents overlap the previous segment's`;
            lastDoc = maxDoc;
        }
    }
    return undefined;
}

/** The first inconsistency of `s`, in words, or undefined when it is whole. */
export function checkSnapshot(s: IndexSnapshot): string | undefined {
    const dims = s.identity.dims;
    const F = s.files.paths.length;
    const f = s.files;
    if (f.mtimeMs.length !== F || f.size.length !== F || f.alive.length !== F || f.pathLen.length !== F) return `file columns of unequal lengths (${F} paths)`;
    const r = s.rows;
    const R = r.file.length;
    for (const [name, col] of Object.entries({ start: r.start, end: r.end, symbol: r.symbol, hash: r.hash, sig: r.sig, alive: r.alive, textLen: r.textLen })) {
        if (col.length !== R) return `row column ${name} has ${col.length} rows, not ${R}`;
    }
    const H = s.hashes.length;
    for (let i = 0; i < R; i++) {
        if (r.file[i] >= F || r.hash[i] >= H || r.symbol[i] < -1 || r.symbol[i] >= s.symbols.length || r.alive[i] > 1) return `row ${i} refers out of range`;
        if (r.start[i] > r.end[i]) return `row ${i} ends before it starts`;
        if (r.alive[i] && !f.alive[r.file[i]]) return `row ${i} is live in a deleted file`;
    }
    const v = s.vectors;
    if (v.scales.length !== H || v.has.length !== H || v.q.length !== H * dims) return `vectors for ${v.scales.length} slots and ${v.q.length} values, not ${H} x ${dims}`;
    if (v.codes.length !== H * Math.ceil(dims / 32) || v.mean.length !== dims || v.sum.length !== dims) return 'sign codes, mean or sum of the wrong size';
    if (!(Number.isSafeInteger(v.meanBasis) && v.meanBasis >= 0)) return `mean basis ${v.meanBasis}`;
    for (let h = 0; h < H; h++) if (v.has[h] > 1 || !Number.isFinite(v.scales[h])) return `vector slot ${h} is malformed`;
    return checkSegments('text', s.text, s.terms.length, R) ?? checkSegments('path', s.path, s.terms.length, F);
}
