/**
 * How much each channel earns on this workspace, and the fusion weights that follow from it.
 *
 * Each mined query (a docstring as the query, its function as the answer) is run through both
 * channels with the answer's docstring taken out of the answer: the lexical channel scores the
 * answer as if the docstring were not in it (`without`), the vector channel ranks it by its text
 * embedded without the docstring (`replace`), so neither channel is handed the answer. MRR@10 of
 * each channel and of their fusion at each weight in VECTOR_WEIGHTS (lexical weight 1; RRF only
 * reads the ratio) are measured on the same queries.
 *
 * The choice: the vector weight of the best hybrid MRR@10 among the weights whose gain over
 * lexical alone is significant on these queries (paired per query, one-sided, z >= SIGNIFICANCE_Z),
 * ties to the smaller weight; none significant: vector weight 0, and hybrid is exactly lexical.
 * So a vector channel that earns nothing (random vectors) cannot pull hybrid below lexical, not
 * even by the luck of a small query set; one that earns gets the weight that earned most.
 *
 * Pure apart from `embed`; reads the index, never changes it.
 */
import { fuse } from './fusion';
import type { ChannelWeights, ChunkRef, MinedQuery, SearchHit, SearchIndex } from './types';

/** Vector weights tried against lexical weight 1, ascending (0: lexical alone). */
export const VECTOR_WEIGHTS: readonly number[] = [0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4];
/**
 * A weight's gain over lexical alone counts when its mean exceeds this many standard errors
 * (one-sided 1%): with nine weights tried, a channel that earns nothing rarely passes by chance.
 */
export const SIGNIFICANCE_Z = 2.33;
/** Ranked results per channel that fusion reads (deep enough that fusion's top 10 is exact in practice). */
export const FUSION_DEPTH = 100;
/** Reciprocal rank counts up to this rank (MRR@10). */
export const MRR_AT = 10;

/**
 * Before any calibration (or with no usable query): words alone rank, as with a vector channel that
 * earned nothing; the query puts matches by meaning after them (query.ts), so an embedder that
 * was never measured on this workspace cannot make results worse than lexical search.
 */
export const DEFAULT_WEIGHTS: ChannelWeights = Object.freeze({ lexical: 1, vector: 0, basis: 'default' as const });

/**
 * A mined query as calibration takes it: with `without` set, `answerEmbedText` is required
 * (otherwise the query is skipped: the answer's own vector holds the docstring, and the vector
 * channel would be handed the answer).
 */
export type CalibrationQuery = MinedQuery;

export interface CalibrationInput {
    readonly index: SearchIndex;
    readonly queries: readonly CalibrationQuery[];
    /** Embeds a text as a query or as a document (the caller adds the model's prefixes). */
    readonly embed: (text: string, as: 'query' | 'document', signal: AbortSignal) => Promise<ArrayLike<number>>;
    readonly signal: AbortSignal;
}

const same = (a: ChunkRef, b: ChunkRef): boolean => a.file === b.file && a.startLine === b.startLine && a.endLine === b.endLine;

/** 1 / the answer's rank when within MRR_AT, else 0. */
function reciprocalRank(hits: readonly { chunk: ChunkRef }[], answer: ChunkRef): number {
    const i = hits.slice(0, MRR_AT).findIndex((h) => same(h.chunk, answer));
    return i < 0 ? 0 : 1 / (i + 1);
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Whether the per-query gains `d` are significantly above 0 (paired, one-sided). */
function significantGain(d: readonly number[]): boolean {
    const n = d.length;
    const m = mean(d);
    if (n < 2 || m <= 0) return false;
    const variance = d.reduce((s, x) => s + (x - m) ** 2, 0) / (n - 1);
    return variance === 0 || m / Math.sqrt(variance / n) >= SIGNIFICANCE_Z;
}

/**
 * Measures both channels on `queries` and picks the fusion weights (see the file's comment).
 * Queries whose answer is not in the index, or that lack `answerEmbedText` while having `without`,
 * are skipped; with none left, DEFAULT_WEIGHTS. Rejects with `signal.reason` when aborted.
 */
export async function calibrate(input: CalibrationInput): Promise<ChannelWeights> {
    const { index, signal } = input;
    const runs: Array<{ answer: ChunkRef; lexical: SearchHit[]; vector: SearchHit[] }> = [];
    for (const q of input.queries) {
        signal.throwIfAborted();
        if (!index.chunksOf(q.answer.file).some((c) => same(c, q.answer))) continue;
        if (q.without !== undefined && q.answerEmbedText === undefined) continue;
        const lexical = index.searchLexical(q.query, FUSION_DEPTH, q.without !== undefined ? { without: { chunk: q.answer, text: q.without } } : undefined);
        const queryVector = await input.embed(q.query, 'query', signal);
        signal.throwIfAborted();
        const replace = q.answerEmbedText !== undefined ? { chunk: q.answer, vector: await input.embed(q.answerEmbedText, 'document', signal) } : undefined;
        signal.throwIfAborted();
        const vector = index.searchVector(queryVector, FUSION_DEPTH, replace ? { replace } : undefined);
        runs.push({ answer: q.answer, lexical, vector });
    }
    if (runs.length === 0) return DEFAULT_WEIGHTS;
    const lexicalRR = runs.map((r) => reciprocalRank(r.lexical, r.answer));
    const vectorRR = runs.map((r) => reciprocalRank(r.vector, r.answer));
    let best = { weight: 0, rr: lexicalRR };
    for (const w of VECTOR_WEIGHTS) {
        if (w === 0) continue;
        const rr = runs.map((r) => reciprocalRank(fuse(r.lexical, r.vector, { lexical: 1, vector: w }, MRR_AT), r.answer));
        if (!significantGain(rr.map((x, i) => x - lexicalRR[i]))) continue;
        if (mean(rr) > mean(best.rr)) best = { weight: w, rr };
    }
    return {
        lexical: 1,
        vector: best.weight,
        basis: { queries: runs.length, lexicalMrr: mean(lexicalRR), vectorMrr: mean(vectorRR), hybridMrr: mean(best.rr) },
    };
}
