/**
 * Retrieval quality of ranked chunks against judged queries: MRR@10, nDCG@10 and recall@20.
 *
 * A relevant entry names a file, and optionally a line range. With a range, a result is relevant
 * when it is in that file and its lines overlap the range; without one, any result in the file is.
 * A query whose relevant entries are all file-level is judged on files: the ranked chunks become
 * ranked files (each file at its first chunk), so a file found by several chunks counts once.
 * Gains are binary; each relevant entry can be found once. Ranks are 1-based.
 */
import type { ChunkRef } from '../../src/core/search/types';

export interface Relevant {
    readonly file: string;
    readonly startLine?: number;
    readonly endLine?: number;
}

export interface JudgedQuery {
    readonly query: string;
    readonly relevant: readonly Relevant[];
    /** Where it came from: `docstring`, `commit` or `file` (given with --queries). */
    readonly source: 'docstring' | 'commit' | 'file';
}

export interface ChannelScores {
    readonly mrr10: number;
    readonly ndcg10: number;
    readonly recall20: number;
}

export const fileLevel = (q: JudgedQuery): boolean => q.relevant.every((r) => r.startLine === undefined);

function matches(hit: ChunkRef, r: Relevant): boolean {
    if (hit.file !== r.file) return false;
    if (r.startLine === undefined) return true;
    return hit.startLine <= (r.endLine ?? r.startLine) && hit.endLine >= r.startLine;
}

/** The ranking a query is judged on: chunks, or (file-level queries) distinct files in rank order. */
export function judgedRanking(hits: readonly ChunkRef[], q: JudgedQuery): ChunkRef[] {
    if (!fileLevel(q)) return [...hits];
    const seen = new Set<string>();
    const out: ChunkRef[] = [];
    for (const h of hits) {
        if (seen.has(h.file)) continue;
        seen.add(h.file);
        out.push(h);
    }
    return out;
}

/**
 * For each rank (0-based) of `ranking`, the index of the relevant entry it finds first, or -1
 * (not relevant, or its entries already found).
 */
function gains(ranking: readonly ChunkRef[], q: JudgedQuery): number[] {
    const found = new Set<number>();
    return ranking.map((h) => {
        for (let i = 0; i < q.relevant.length; i++) {
            if (!found.has(i) && matches(h, q.relevant[i])) {
                found.add(i);
                return i;
            }
        }
        return -1;
    });
}

export function scoreQuery(hits: readonly ChunkRef[], q: JudgedQuery): ChannelScores {
    const g = gains(judgedRanking(hits, q), q);
    const first = g.findIndex((x) => x >= 0);
    const mrr10 = first >= 0 && first < 10 ? 1 / (first + 1) : 0;
    let dcg = 0;
    for (let i = 0; i < Math.min(10, g.length); i++) if (g[i] >= 0) dcg += 1 / Math.log2(i + 2);
    let idcg = 0;
    for (let i = 0; i < Math.min(10, q.relevant.length); i++) idcg += 1 / Math.log2(i + 2);
    const found20 = g.slice(0, 20).filter((x) => x >= 0).length;
    return { mrr10, ndcg10: idcg > 0 ? dcg / idcg : 0, recall20: q.relevant.length > 0 ? found20 / q.relevant.length : 0 };
}

/** The mean of each metric over the queries (zeros for none). */
export function meanScores(all: readonly ChannelScores[]): ChannelScores {
    if (all.length === 0) return { mrr10: 0, ndcg10: 0, recall20: 0 };
    const sum = (k: keyof ChannelScores): number => all.reduce((a, s) => a + s[k], 0) / all.length;
    return { mrr10: sum('mrr10'), ndcg10: sum('ndcg10'), recall20: sum('recall20') };
}

/** Parses a --queries file: JSON Lines of `{"query": "...", "relevant": [{"file": ..., "startLine"?, "endLine"?}]}`. */
export function parseQueries(text: string, where: string): JudgedQuery[] {
    const out: JudgedQuery[] = [];
    text.split('\n').forEach((line, i) => {
        if (line.trim() === '') return;
        let o: unknown;
        try {
            o = JSON.parse(line);
        } catch (e) {
            throw new Error(`${where}:${i + 1}: not JSON (${(e as Error).message})`);
        }
        const q = o as { query?: unknown; relevant?: unknown };
        if (typeof q.query !== 'string' || q.query.trim() === '') throw new Error(`${where}:${i + 1}: "query" must be a non-empty string`);
        if (!Array.isArray(q.relevant) || q.relevant.length === 0) throw new Error(`${where}:${i + 1}: "relevant" must be a non-empty array`);
        const relevant = q.relevant.map((r: unknown, j: number): Relevant => {
            const x = r as { file?: unknown; startLine?: unknown; endLine?: unknown };
            if (typeof x.file !== 'string' || x.file === '') throw new Error(`${where}:${i + 1}: relevant[${j}].file must be a path`);
            const line = (v: unknown, name: string): number | undefined => {
                if (v === undefined) return undefined;
                if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${where}:${i + 1}: relevant[${j}].${name} must be a line number (1-based)`);
                return v;
            };
            const startLine = line(x.startLine, 'startLine');
            const endLine = line(x.endLine, 'endLine') ?? startLine;
            return { file: x.file.replace(/\\/g, '/').replace(/^\.\//, ''), ...(startLine !== undefined ? { startLine, endLine } : {}) };
        });
        out.push({ query: q.query, relevant, source: 'file' });
    });
    return out;
}
