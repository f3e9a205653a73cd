/**
 * Postings of one lexical field in typed arrays: which documents (chunk rows, or files for the path
 * field) hold which term, how often.
 *
 * Layout (like Lucene's segments): a mutable tail of (term, doc, tf) triples for the documents added
 * last, and immutable CSR segments: `terms` ascending, `offsets[i]..offsets[i+1]` the postings of
 * `terms[i]` in `docs` (ascending) and `tfs`. About 5 bytes a posting, no object per term or doc.
 *
 * Invariants:
 * - documents are added in ascending id order, each once, so every term's postings are ascending
 *   within a segment, and segment i holds only documents below those of segment i + 1 and of the tail;
 * - the tail is frozen into a segment at TAIL_TRIPLES; the last two segments are merged while the
 *   older is under twice the newer and the merge stays within MAX_MERGED_POSTINGS, so sizes fall
 *   geometrically below that: O(n / MAX_MERGED_POSTINGS + log n) segments;
 * - postings of deleted documents stay (the caller skips dead documents) until `rebuild`, which
 *   drops them and renumbers documents and terms (compaction); `df` counts them until then, as
 *   Lucene's docFreq does;
 * - term frequencies saturate at 255 (BM25 saturates long before).
 */
import { grow } from './growable';

export interface Segment {
    readonly terms: Uint32Array;
    readonly offsets: Uint32Array;
    readonly docs: Uint32Array;
    readonly tfs: Uint8Array;
}

/** Triples in the tail before it is frozen into a segment (~1,000 chunks of code). */
export const TAIL_TRIPLES = 1 << 16;
/**
 * No merge makes a segment of more postings (~5 MB, a few ms to copy): a merge of two large
 * segments would hold the thread for tens of ms. Compaction still makes one segment of everything.
 */
export const MAX_MERGED_POSTINGS = 1 << 20;

const MAX_TF = 255;

/**
 * The segment of `n` (term, doc, tf) triples given in ascending doc order: a counting sort by term.
 * `scratch` has a zero for every term id (and is left so).
 */
function buildSegment(termOf: Uint32Array, docOf: Uint32Array, tfOf: Uint8Array, n: number, scratch: Int32Array): Segment {
    const seen: number[] = [];
    for (let i = 0; i < n; i++) if (scratch[termOf[i]]++ === 0) seen.push(termOf[i]);
    const terms = Uint32Array.from(seen).sort();
    const offsets = new Uint32Array(terms.length + 1);
    for (let j = 0; j < terms.length; j++) offsets[j + 1] = offsets[j] + scratch[terms[j]];
    // scratch[term] becomes the term's next free position.
    for (let j = 0; j < terms.length; j++) scratch[terms[j]] = offsets[j];
    const docs = new Uint32Array(n);
    const tfs = new Uint8Array(n);
    // Triples come in ascending doc order, so each term's postings come out ascending.
    for (let i = 0; i < n; i++) {
        const at = scratch[termOf[i]]++;
        docs[at] = docOf[i];
        tfs[at] = tfOf[i];
    }
    for (let j = 0; j < terms.length; j++) scratch[terms[j]] = 0;
    return { terms, offsets, docs, tfs };
}

/** Index of `term` in the ascending `terms`, or -1. */
export function findTerm(terms: Uint32Array, term: number): number {
    let lo = 0;
    let hi = terms.length - 1;
    while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const t = terms[mid];
        if (t === term) return mid;
        if (t < term) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/** `older` and `newer` as one segment (every doc of `older` is below every doc of `newer`). */
function mergeSegments(older: Segment, newer: Segment): Segment {
    const a = older.terms;
    const b = newer.terms;
    let u = 0;
    for (let i = 0, j = 0; i < a.length || j < b.length; u++) {
        if (j >= b.length || (i < a.length && a[i] < b[j])) i++;
        else if (i >= a.length || b[j] < a[i]) j++;
        else {
            i++;
            j++;
        }
    }
    const terms = new Uint32Array(u);
    const offsets = new Uint32Array(u + 1);
    const docs = new Uint32Array(older.docs.length + newer.docs.length);
    const tfs = new Uint8Array(docs.length);
    let at = 0;
    const copy = (s: Segment, k: number): void => {
        const from = s.offsets[k];
        const to = s.offsets[k + 1];
        docs.set(s.docs.subarray(from, to), at);
        tfs.set(s.tfs.subarray(from, to), at);
        at += to - from;
    };
    for (let i = 0, j = 0, t = 0; t < u; t++) {
        if (j >= b.length || (i < a.length && a[i] < b[j])) {
            terms[t] = a[i];
            copy(older, i++);
        } else if (i >= a.length || b[j] < a[i]) {
            terms[t] = b[j];
            copy(newer, j++);
        } else {
            terms[t] = a[i];
            copy(older, i++);
            copy(newer, j++);
        }
        offsets[t + 1] = at;
    }
    return { terms, offsets, docs, tfs };
}

function postingCount(s: Segment): number {
    return s.docs.length;
}

export class PostingsField {
    private segs: Segment[] = [];
    private tailTerm: Uint32Array = new Uint32Array(1024);
    private tailDoc: Uint32Array = new Uint32Array(1024);
    private tailTf: Uint8Array = new Uint8Array(1024);
    private tailN = 0;
    /** Per term: documents with a posting (deleted ones included until `rebuild`). */
    private dfs: Uint32Array = new Uint32Array(1024);
    private lastDoc = -1;
    /** Zero for every term between uses (buildSegment's counts). */
    private scratch: Int32Array = new Int32Array(0);
    /** Documents added (deleted ones included until `rebuild`). */
    docCount = 0;

    /** A field of these segments (loading); `docCount` is the number of documents they cover. */
    static fromSegments(segments: readonly Segment[], terms: number, docCount: number): PostingsField {
        const f = new PostingsField();
        f.segs = [...segments];
        f.dfs = new Uint32Array(Math.max(terms, 16));
        for (const s of segments) for (let i = 0; i < s.terms.length; i++) f.dfs[s.terms[i]] += s.offsets[i + 1] - s.offsets[i];
        f.docCount = docCount;
        f.lastDoc = docCount - 1;
        return f;
    }

    df(term: number): number {
        return term < this.dfs.length ? this.dfs[term] : 0;
    }

    /** Adds document `doc` (above every document added so far): `terms[i]` occurs `tfs[i]` times, each term once. */
    add(doc: number, terms: ArrayLike<number>, tfs: ArrayLike<number>, count: number): void {
        if (doc <= this.lastDoc) throw new RangeError(`postings: document ${doc} added after ${this.lastDoc}`);
        this.lastDoc = doc;
        this.docCount++;
        const need = this.tailN + count;
        this.tailTerm = grow(this.tailTerm, need);
        this.tailDoc = grow(this.tailDoc, need);
        this.tailTf = grow(this.tailTf, need);
        for (let i = 0; i < count; i++) {
            const term = terms[i];
            this.tailTerm[this.tailN] = term;
            this.tailDoc[this.tailN] = doc;
            this.tailTf[this.tailN] = Math.min(tfs[i], MAX_TF);
            this.tailN++;
            if (term >= this.dfs.length) this.dfs = grow(this.dfs, term + 1);
            this.dfs[term]++;
        }
        if (this.tailN >= TAIL_TRIPLES) this.freeze();
    }

    /** Moves the tail into a segment and merges segments as the size invariant asks. */
    freeze(): void {
        if (this.tailN === 0) return;
        this.scratch = grow(this.scratch, this.dfs.length);
        this.segs.push(buildSegment(this.tailTerm, this.tailDoc, this.tailTf, this.tailN, this.scratch));
        this.tailN = 0;
        if (this.tailTerm.length > 2 * TAIL_TRIPLES) {
            this.tailTerm = new Uint32Array(1024);
            this.tailDoc = new Uint32Array(1024);
            this.tailTf = new Uint8Array(1024);
        }
        while (this.segs.length >= 2) {
            const n = this.segs.length;
            const older = postingCount(this.segs[n - 2]);
            const newer = postingCount(this.segs[n - 1]);
            if (older >= 2 * newer || older + newer > MAX_MERGED_POSTINGS) break;
            const merged = mergeSegments(this.segs[n - 2], this.segs[n - 1]);
            this.segs.splice(n - 2, 2, merged);
        }
    }

    /** The segments, the tail frozen first (what the store writes). */
    segments(): readonly Segment[] {
        this.freeze();
        return this.segs;
    }

    /**
     * Calls `visit(q, doc, tf)` for every posting of `terms[q]`, for every q, dead documents
     * included. `mark` is scratch of at least the vocabulary's size, all zero (left all zero);
     * at most 65,535 terms.
     */
    scan(terms: readonly number[], mark: Uint16Array, visit: (q: number, doc: number, tf: number) => void): void {
        for (const s of this.segs) {
            for (let q = 0; q < terms.length; q++) {
                const i = findTerm(s.terms, terms[q]);
                if (i < 0) continue;
                for (let p = s.offsets[i], end = s.offsets[i + 1]; p < end; p++) visit(q, s.docs[p], s.tfs[p]);
            }
        }
        if (this.tailN === 0) return;
        // The tail is scanned once for all query terms: mark[t] = 1 + the term's index in `terms`.
        for (let q = 0; q < terms.length; q++) if (terms[q] < mark.length && mark[terms[q]] === 0) mark[terms[q]] = q + 1;
        for (let i = 0; i < this.tailN; i++) {
            const t = this.tailTerm[i];
            if (t < mark.length && mark[t] !== 0) visit(mark[t] - 1, this.tailDoc[i], this.tailTf[i]);
        }
        for (const t of terms) if (t < mark.length) mark[t] = 0;
    }

    /** Adds to `counts[term]` the postings of documents `alive(doc)` keeps. */
    countLive(alive: (doc: number) => boolean, counts: Uint32Array): void {
        for (const s of this.segments()) {
            for (let i = 0; i < s.terms.length; i++) {
                let c = 0;
                for (let p = s.offsets[i]; p < s.offsets[i + 1]; p++) if (alive(s.docs[p])) c++;
                counts[s.terms[i]] += c;
            }
        }
    }

    /**
     * Compaction: one segment of the postings whose document `docMap` keeps (`docMap[doc] >= 0`,
     * the new id, ascending with the old one) under the new term ids `termMap[term]` (>= 0 for every
     * term a kept posting has). `docCount` becomes `docs`.
     */
    rebuild(docMap: Int32Array, termMap: Int32Array, terms: number, docs: number): void {
        const segs = this.segments();
        const counts = new Uint32Array(terms + 1);
        for (const s of segs) {
            for (let i = 0; i < s.terms.length; i++) {
                const t = termMap[s.terms[i]];
                for (let p = s.offsets[i]; p < s.offsets[i + 1]; p++) if (docMap[s.docs[p]] >= 0) counts[t + 1]++;
            }
        }
        // counts[t + 1] -> offsets of the new terms; terms with no posting are left out.
        const kept: number[] = [];
        for (let t = 0; t < terms; t++) if (counts[t + 1] > 0) kept.push(t);
        const termsArr = Uint32Array.from(kept);
        const offsets = new Uint32Array(kept.length + 1);
        const slot = new Int32Array(terms).fill(-1);
        for (let j = 0; j < kept.length; j++) {
            offsets[j + 1] = offsets[j] + counts[kept[j] + 1];
            slot[kept[j]] = j;
        }
        const cursor = offsets.slice(0, kept.length);
        const total = offsets[kept.length];
        const docsArr = new Uint32Array(total);
        const tfs = new Uint8Array(total);
        // Segments in order, each term's postings ascending: new postings come out ascending too.
        for (const s of segs) {
            for (let i = 0; i < s.terms.length; i++) {
                const j = slot[termMap[s.terms[i]]];
                for (let p = s.offsets[i]; p < s.offsets[i + 1]; p++) {
                    const d = docMap[s.docs[p]];
                    if (d < 0) continue;
                    const at = cursor[j]++;
                    docsArr[at] = d;
                    tfs[at] = s.tfs[p];
                }
            }
        }
        const seg: Segment = { terms: termsArr, offsets, docs: docsArr, tfs };
        this.segs = total > 0 ? [seg] : [];
        this.dfs = new Uint32Array(Math.max(terms, 16));
        for (let j = 0; j < kept.length; j++) this.dfs[kept[j]] = offsets[j + 1] - offsets[j];
        this.scratch = new Int32Array(0);
        this.docCount = docs;
        this.lastDoc = docs - 1;
    }

    /** Bytes held in typed arrays. */
    bytes(): number {
        let b = this.tailTerm.byteLength + this.tailDoc.byteLength + this.tailTf.byteLength + this.dfs.byteLength + this.scratch.byteLength;
        for (const s of this.segs) b += s.terms.byteLength + s.offsets.byteLength + s.docs.byteLength + s.tfs.byteLength;
        return b;
    }

    /** Postings held (dead documents' included). */
    postings(): number {
        let n = this.tailN;
        for (const s of this.segs) n += s.docs.length;
        return n;
    }
}
