/**
 * Quantised vectors, one per slot (a slot is a distinct chunk hash), and the two-stage search:
 * sign codes first, exact int8 rescoring second.
 *
 * Storage per slot: the L2-normalised vector as int8 with a per-vector scale (value = q * scale,
 * scale = max |x| / 127), and a 1-bit sign code of (vector - mean) in Uint32 words.
 * At 384 dims that is 384 + 4 + 48 bytes.
 *
 * Search (`search`): a Hamming pass over the sign codes (popcount on Uint32 words) keeps the
 * nearest WIDE * `candidates`; an asymmetric estimate (real query against sign codes) keeps the
 * best `candidates`; those are rescored exactly, query (float) . int8 * scale, and the best k
 * kept. Embedding models put most vectors in a narrow cone, so signs of the raw vectors are nearly
 * all alike; centring on the mean first makes each bit carry information.
 *
 * Invariants:
 * - `has[s]` iff slot s holds a vector; `live[s]` is the caller's (some live chunk uses the slot);
 *   the search sees slots that are both;
 * - `mean` is the mean of the stored vectors when `meanBasis` of them were stored; it is
 *   recomputed, and every code with it, each time the count of vectors reaches twice `meanBasis`
 *   while `meanBasis` < MEAN_SAMPLE, and at `rebuild`; codes always agree with the current mean;
 * - `sum` is the exact sum of the dequantised stored vectors.
 */
import type { RejectedVector } from '../types';
import { grow, remap } from './growable';
import { TopK } from './topK';

/** Candidates rescored exactly: ~1 ms of int8 dot products at 768 dims on one core. */
export const DEFAULT_CANDIDATES = 1000;
/**
 * The Hamming pass keeps WIDE times the candidates for the asymmetric estimate. Measured on
 * 100,000 uniform random 384-dim vectors (the hardest case for sign codes), recall@10 against exact
 * search: Hamming alone to 1,000 candidates 0.58; with this pass 0.85 for ~3 ms more; the
 * asymmetric estimate over every vector 0.87 at twice the time. On clustered vectors all reach the
 * int8 rescoring's own 0.95.
 */
export const WIDE = 10;

/**
 * The mean the sign codes are taken against is refreshed (every code re-encoded) each time the
 * vectors double, until it rests on this many; after that only at `rebuild` (compaction). Later
 * vectors move it only by sampling noise, and re-encoding 100,000 codes would hold the thread for
 * ~200 ms; a code needs the mean near the centre of the vectors, not exact.
 */
export const MEAN_SAMPLE = 4096;

/** Popcount of every 16-bit value. */
const POPCOUNT16 = (() => {
    const t = new Uint8Array(1 << 16);
    for (let i = 1; i < t.length; i++) t[i] = t[i >> 1] + (i & 1);
    return t;
})();

/**
 * A store's state as arrays: the quantised vectors (`q`: slots x dims, `scales`, `has`), and what
 * is derived from them but kept so that loading computes nothing: the sign codes (slots x words),
 * the mean they are relative to, the sum of the vectors and the count the mean was taken at.
 */
export interface VectorArrays {
    readonly q: Int8Array;
    readonly scales: Float32Array;
    readonly has: Uint8Array;
    readonly codes: Uint32Array;
    readonly mean: Float32Array;
    readonly sum: Float64Array;
    readonly meanBasis: number;
}

/** Why `set` refused a vector. */
export type VectorProblem = RejectedVector['problem'];

export class VectorStore {
    readonly words: number;
    /** Slots allocated (with or without a vector). */
    count = 0;
    /** Slots holding a vector. */
    stored = 0;
    private q: Int8Array = new Int8Array(0);
    private scales: Float32Array = new Float32Array(0);
    private codes: Uint32Array = new Uint32Array(0);
    private has: Uint8Array = new Uint8Array(0);
    private live: Uint8Array = new Uint8Array(0);
    private readonly sum: Float64Array;
    private readonly mean: Float32Array;
    private meanBasis = 0;
    private dist: Uint16Array = new Uint16Array(0);

    constructor(readonly dims: number) {
        if (!(Number.isInteger(dims) && dims > 0 && dims < 65536)) throw new RangeError(`dims must be a whole number in 1..65535, got ${dims}`);
        this.words = Math.ceil(dims / 32);
        this.sum = new Float64Array(dims);
        this.mean = new Float32Array(dims);
    }

    /** A store of these arrays (loading; `arrays()` gave them): nothing is computed again. */
    static fromArrays(dims: number, a: VectorArrays): VectorStore {
        const v = new VectorStore(dims);
        v.count = a.scales.length;
        v.q = a.q;
        v.scales = a.scales;
        v.has = a.has;
        v.codes = a.codes;
        v.mean.set(a.mean);
        v.sum.set(a.sum);
        v.meanBasis = a.meanBasis;
        v.live = new Uint8Array(v.count);
        for (let s = 0; s < v.count; s++) v.stored += a.has[s];
        return v;
    }

    /** Grows to `slots` slots (new ones empty, not live). */
    ensure(slots: number): void {
        if (slots <= this.count) return;
        this.scales = grow(this.scales, slots);
        this.has = grow(this.has, slots);
        this.live = grow(this.live, slots);
        this.q = grow(this.q, this.scales.length * this.dims);
        this.codes = grow(this.codes, this.scales.length * this.words);
        this.count = slots;
    }

    hasVector(slot: number): boolean {
        return slot < this.count && this.has[slot] === 1;
    }

    setLive(slot: number, live: boolean): void {
        this.live[slot] = live ? 1 : 0;
    }

    /** Stores `vector` (normalised and quantised here) in `slot`; a problem leaves the slot as it was. */
    set(slot: number, vector: ArrayLike<number>): VectorProblem | undefined {
        const d = this.dims;
        if (vector.length !== d) return 'dims';
        let norm = 0;
        let max = 0;
        for (let j = 0; j < d; j++) {
            const x = vector[j];
            if (!Number.isFinite(x)) return 'notFinite';
            norm += x * x;
            if (Math.abs(x) > max) max = Math.abs(x);
        }
        if (norm === 0) return 'zero';
        norm = Math.sqrt(norm);
        if (this.has[slot]) this.addToSum(slot, -1);
        else this.stored++;
        const scale = max / norm / 127;
        const o = slot * d;
        for (let j = 0; j < d; j++) this.q[o + j] = Math.round(vector[j] / norm / scale);
        this.scales[slot] = scale;
        this.has[slot] = 1;
        this.addToSum(slot, 1);
        if (this.stored >= 2 * this.meanBasis && this.meanBasis < MEAN_SAMPLE) this.refreshMean();
        else this.encode(slot);
        return undefined;
    }

    private addToSum(slot: number, sign: 1 | -1): void {
        const d = this.dims;
        const o = slot * d;
        const s = sign * this.scales[slot];
        for (let j = 0; j < d; j++) this.sum[j] += s * this.q[o + j];
    }

    private refreshMean(): void {
        const n = Math.max(1, this.stored);
        for (let j = 0; j < this.dims; j++) this.mean[j] = this.sum[j] / n;
        this.meanBasis = this.stored;
        for (let s = 0; s < this.count; s++) if (this.has[s]) this.encode(s);
    }

    /** The sign code of slot's vector minus the mean. */
    private encode(slot: number): void {
        const d = this.dims;
        const o = slot * d;
        const scale = this.scales[slot];
        const w0 = slot * this.words;
        for (let w = 0; w < this.words; w++) {
            let bits = 0;
            const end = Math.min(32, d - w * 32);
            for (let b = 0; b < end; b++) {
                const j = w * 32 + b;
                if (this.q[o + j] * scale > this.mean[j]) bits |= 1 << b;
            }
            this.codes[w0 + w] = bits >>> 0;
        }
    }

    /** `query` normalised as a Float32Array, or a problem. */
    normalise(query: ArrayLike<number>): Float32Array | VectorProblem {
        if (query.length !== this.dims) return 'dims';
        let norm = 0;
        for (let j = 0; j < this.dims; j++) {
            if (!Number.isFinite(query[j])) return 'notFinite';
            norm += query[j] * query[j];
        }
        if (norm === 0) return 'zero';
        norm = Math.sqrt(norm);
        const out = new Float32Array(this.dims);
        for (let j = 0; j < this.dims; j++) out[j] = query[j] / norm;
        return out;
    }

    /** Cosine similarity of the normalised query and slot's stored vector. */
    score(query: Float32Array, slot: number): number {
        const d = this.dims;
        const o = slot * d;
        const q = this.q;
        let dot = 0;
        for (let j = 0; j < d; j++) dot += query[j] * q[o + j];
        return dot * this.scales[slot];
    }

    /**
     * The `k` live slots nearest to the normalised `query`, best first, in three passes:
     * 1. Hamming distance (popcount of XOR, 16 bits a lookup) between the query's sign code and
     *    every live slot's keeps the `WIDE * candidates` nearest (a histogram threshold: O(n), no sort);
     * 2. an asymmetric estimate over those: the query stays real-valued against each sign code,
     *    sum_j (q_j - mean_j) * (bit_j ? +1 : -1), read a code byte at a time from a table of 256
     *    partial sums per byte; keeps the `candidates` best;
     * 3. exact rescoring of those: query (float) . int8 * scale; keeps the k best.
     * With `candidates` >= the live slots it is exact search (over the int8 vectors).
     */
    search(query: Float32Array, k: number, candidates = DEFAULT_CANDIDATES): Array<{ id: number; score: number }> {
        if (k <= 0 || this.stored === 0) return [];
        const keep = Math.max(candidates, k);
        const second = new TopK(keep);
        const estimate = this.estimator(query);
        this.nearestByHamming(query, keep * WIDE, (s) => second.push(estimate(s), s));
        const top = new TopK(k);
        for (const c of second.sorted()) top.push(this.score(query, c.id), c.id);
        return top.sorted();
    }

    /** Calls `take(slot)` for the `want` live slots whose sign codes are nearest the query's. */
    private nearestByHamming(query: Float32Array, want: number, take: (slot: number) => void): void {
        const words = this.words;
        const qcode = new Uint32Array(words);
        for (let j = 0; j < this.dims; j++) if (query[j] > this.mean[j]) qcode[j >>> 5] |= 1 << (j & 31);
        this.dist = grow(this.dist, this.count);
        const dist = this.dist;
        const hist = new Uint32Array(this.dims + 1);
        const { codes, live, has } = this;
        let eligible = 0;
        for (let s = 0, o = 0; s < this.count; s++, o += words) {
            if (!(live[s] & has[s])) continue;
            let h = 0;
            for (let w = 0; w < words; w++) {
                const x = codes[o + w] ^ qcode[w];
                h += POPCOUNT16[x & 0xffff] + POPCOUNT16[x >>> 16];
            }
            dist[s] = h;
            hist[h]++;
            eligible++;
        }
        // Every slot nearer than `cut`, and slots at `cut` while room is left.
        want = Math.min(want, eligible);
        let cut = 0;
        let below = 0;
        while (cut <= this.dims && below + hist[cut] < want) below += hist[cut++];
        let atCut = want - below;
        for (let s = 0; s < this.count; s++) {
            if (!(live[s] & has[s]) || dist[s] > cut) continue;
            if (dist[s] === cut && atCut-- <= 0) continue;
            take(s);
        }
    }

    /** The asymmetric estimate of slot . query from its sign code (pass 2 of `search`). */
    private estimator(query: Float32Array): (slot: number) => number {
        const d = this.dims;
        const bytes = this.words * 4;
        const table = new Float32Array(bytes * 256);
        for (let B = 0; B < bytes; B++) {
            // Words are little-endian: byte B of a code holds dims 8B .. 8B + 7.
            for (let bit = 0; bit < 8; bit++) {
                const j = B * 8 + bit;
                const x = j < d ? query[j] - this.mean[j] : 0;
                for (let v = 0; v < 256; v++) table[B * 256 + v] += v & (1 << bit) ? x : -x;
            }
        }
        const codes = new Uint8Array(this.codes.buffer, this.codes.byteOffset, this.count * bytes);
        return (s) => {
            let e = 0;
            for (let B = 0, t = 0, o = s * bytes; B < bytes; B++, t += 256) e += table[t + codes[o + B]];
            return e;
        };
    }

    /** Compaction: keeps slot s as `slotMap[s]` (>= 0), drops the others; capacity becomes exact. */
    rebuild(slotMap: Int32Array, slots: number): void {
        const d = this.dims;
        const q = new Int8Array(slots * d);
        for (let s = 0; s < this.count; s++) if (slotMap[s] >= 0) q.set(this.q.subarray(s * d, s * d + d), slotMap[s] * d);
        this.q = q;
        this.scales = remap(this.scales, slotMap, slots);
        this.has = remap(this.has, slotMap, slots);
        this.live = remap(this.live, slotMap, slots);
        this.codes = new Uint32Array(slots * this.words);
        this.dist = new Uint16Array(0);
        this.count = slots;
        this.stored = 0;
        this.sum.fill(0);
        for (let s = 0; s < slots; s++) {
            if (!this.has[s]) continue;
            this.stored++;
            this.addToSum(s, 1);
        }
        this.refreshMean();
    }

    /** The allocated slots' arrays (views, not copies: what the store writes). */
    arrays(): VectorArrays {
        const n = this.count;
        return {
            q: this.q.subarray(0, n * this.dims),
            scales: this.scales.subarray(0, n),
            has: this.has.subarray(0, n),
            codes: this.codes.subarray(0, n * this.words),
            mean: this.mean,
            sum: this.sum,
            meanBasis: this.meanBasis,
        };
    }

    /** Bytes held in typed arrays. */
    bytes(): number {
        return this.q.byteLength + this.scales.byteLength + this.codes.byteLength + this.has.byteLength + this.live.byteLength + this.dist.byteLength + this.sum.byteLength + this.mean.byteLength;
    }
}
