/**
 * Weighted reciprocal rank fusion of the lexical and vector channels (Cormack, Clarke and
 * Büttcher, SIGIR 2009):
 *
 *   score(chunk) = w_lexical / (RRF_K + rank_lexical) + w_vector / (RRF_K + rank_vector)
 *
 * with 1-based ranks, a term only for the channels that ranked the chunk. RRF uses ranks, not
 * scores, so BM25 and cosine need no common scale; RRF_K = 60 is the paper's constant: it flattens
 * the head so that rank 1 of one channel is not worth much more than rank 5 of the other, and
 * only the ratio of the weights matters.
 *
 * Invariants: a channel of weight 0 contributes nothing and breaks no tie, so the result is the
 * other channel's list in its order (its own chunks only); order is deterministic (ties: the
 * heavier channel's rank, then the other's, then path and line).
 */
import type { ChunkRef, FusedHit, SearchHit } from './types';

export const RRF_K = 60;

export interface FusionWeights {
    readonly lexical: number;
    readonly vector: number;
}

const keyOf = (c: ChunkRef): string => `${c.file}\n${c.startLine}\n${c.endLine}`;

/** The `k` best chunks of the two ranked lists (best first each), fused. */
export function fuse(lexical: readonly SearchHit[], vector: readonly SearchHit[], weights: FusionWeights, k: number): FusedHit[] {
    const { lexical: wl, vector: wv } = weights;
    if (!(wl >= 0 && wv >= 0 && wl + wv > 0)) throw new RangeError(`fusion weights must be >= 0 and not both 0, got lexical ${wl}, vector ${wv}`);
    const byKey = new Map<string, { chunk: ChunkRef; score: number; lexicalRank?: number; vectorRank?: number }>();
    const add = (hits: readonly SearchHit[], weight: number, rankKey: 'lexicalRank' | 'vectorRank'): void => {
        hits.forEach((h, i) => {
            const key = keyOf(h.chunk);
            let e = byKey.get(key);
            if (!e) {
                e = { chunk: h.chunk, score: 0 };
                byKey.set(key, e);
            }
            if (e[rankKey] !== undefined) return; // a chunk listed twice counts at its best rank
            e[rankKey] = i + 1;
            e.score += weight / (RRF_K + i + 1);
        });
    };
    add(lexical, wl, 'lexicalRank');
    add(vector, wv, 'vectorRank');
    const [first, second] = wl >= wv ? (['lexicalRank', 'vectorRank'] as const) : (['vectorRank', 'lexicalRank'] as const);
    const rank = (e: { lexicalRank?: number; vectorRank?: number }, key: 'lexicalRank' | 'vectorRank'): number => e[key] ?? Number.POSITIVE_INFINITY;
    return [...byKey.values()]
        .filter((e) => e.score > 0)
        .sort(
            (a, b) =>
                b.score - a.score ||
                rank(a, first) - rank(b, first) ||
                rank(a, second) - rank(b, second) ||
                (a.chunk.file < b.chunk.file ? -1 : a.chunk.file > b.chunk.file ? 1 : 0) ||
                a.chunk.startLine - b.chunk.startLine,
        )
        .slice(0, Math.max(0, k))
        .map((e) => ({ chunk: e.chunk, score: e.score, ...(e.lexicalRank !== undefined ? { lexicalRank: e.lexicalRank } : {}), ...(e.vectorRank !== undefined ? { vectorRank: e.vectorRank } : {}) }));
}

/**
 * The ranking search shows: the fusion, and with a vector weight of 0 (the embedder not measured
 * on this workspace yet, or it earned nothing here) the lexical ranking exactly, followed by the
 * matches by meaning that words did not find. So a query whose words appear nowhere still finds
 * something, and no result found by words moves.
 */
export function hybridRanking(lexical: readonly SearchHit[], vector: readonly SearchHit[], weights: FusionWeights, k: number): FusedHit[] {
    const fused = fuse(lexical, vector, weights, k);
    if (weights.vector > 0 || vector.length === 0 || fused.length >= k) return fused;
    const have = new Set(fused.map((h) => keyOf(h.chunk)));
    vector.forEach((h, i) => {
        if (fused.length < k && !have.has(keyOf(h.chunk))) fused.push({ chunk: h.chunk, score: 0, vectorRank: i + 1 });
    });
    return fused;
}
