/**
 * One workspace search, as the view runs it: lexical results at once, then, when the query's
 * embedding arrives (an interactive `embedQuery` through the router, on the model that built the
 * index), the two channels fused with the weights measured on this workspace. Each result carries
 * a short snippet read from the file now (the index keeps ranges, never copies) with the query's
 * words marked. Cancellation: the caller's signal stops the embedding and the snippet reads.
 * Units: lines (1-based), characters within a line.
 */
import { errorMessage, isAbortError } from '../errors';
import type { ChannelWeights, FusedHit, IndexProgress, SearchHit, SearchIndex } from './types';

/** Lines of a chunk shown as its snippet at most. */
export const SNIPPET_LINES = 8;
/** Characters of a snippet line kept (very long lines are cut). */
export const SNIPPET_LINE_CHARS = 240;
/** Results per channel before fusion, and after it. */
export const CHANNEL_K = 50;
export const RESULTS_K = 30;

export interface SnippetLine {
    readonly line: number;
    readonly text: string;
    /** [start, end) character ranges of the query's words in `text`. */
    readonly marks: ReadonlyArray<readonly [number, number]>;
}

export interface SearchResult extends FusedHit {
    /** The chunk's first lines as they are on disk now; empty when the file could not be read. */
    readonly snippet: readonly SnippetLine[];
}

export interface SearchResponse {
    readonly query: string;
    readonly results: readonly SearchResult[];
    /** `lexical`: the first answer; `final`: with the vector channel (or all there will be). */
    readonly phase: 'lexical' | 'final';
    /** What the vector channel did: used, not available (no embedder, nothing embedded yet), or why it failed. */
    readonly vectors: 'used' | 'unavailable' | { readonly failed: string };
    readonly weights: ChannelWeights;
    readonly progress: IndexProgress;
}

export interface SearchDeps {
    /** The index in force, its weights, its progress, and the query embedding on its embedder. */
    readonly source: {
        readonly index: SearchIndex | undefined;
        readonly weights: ChannelWeights;
        progress(): IndexProgress;
        embedQuery(text: string, signal: AbortSignal): Promise<number[] | undefined>;
    };
    /** The ranking shown (fusion.ts `hybridRanking`). */
    readonly fuse: (lexical: readonly SearchHit[], vector: readonly SearchHit[], weights: ChannelWeights, k: number) => FusedHit[];
    /** Lines `start..end` (1-based, inclusive) of `file` now, or undefined when it cannot be read. */
    readonly readLines: (file: string, start: number, end: number, signal: AbortSignal) => Promise<readonly string[] | undefined>;
}

/**
 * Runs `query`: calls `onUpdate` with the lexical answer first, then resolves with the final one
 * (also passed to `onUpdate`). Rejects only with the signal's reason.
 */
export async function searchWorkspace(deps: SearchDeps, query: string, signal: AbortSignal, onUpdate?: (r: SearchResponse) => void): Promise<SearchResponse> {
    signal.throwIfAborted();
    const { source } = deps;
    const index = source.index;
    const q = query.trim();
    const empty = (): SearchResponse => ({ query, results: [], phase: 'final', vectors: 'unavailable', weights: source.weights, progress: source.progress() });
    if (!index || q === '') return empty();
    const lexical = index.searchLexical(q, CHANNEL_K);
    const withVectors = index.identity.dims > 0 && index.stats().chunksWithVectors > 0;
    const first = await respond(deps, query, deps.fuse(lexical, [], source.weights, RESULTS_K), withVectors ? 'lexical' : 'final', 'unavailable', signal);
    if (!withVectors) {
        onUpdate?.(first);
        return first;
    }
    onUpdate?.(first);
    let vector: SearchHit[] = [];
    let status: SearchResponse['vectors'] = 'used';
    try {
        const v = await source.embedQuery(q, signal);
        if (v === undefined) status = 'unavailable';
        else vector = index.searchVector(v, CHANNEL_K);
    } catch (e) {
        if (isAbortError(e) && signal.aborted) throw e;
        status = { failed: errorMessage(e) };
    }
    const final = await respond(deps, query, deps.fuse(lexical, vector, source.weights, RESULTS_K), 'final', status, signal);
    onUpdate?.(final);
    return final;
}

async function respond(deps: SearchDeps, query: string, hits: readonly FusedHit[], phase: SearchResponse['phase'], vectors: SearchResponse['vectors'], signal: AbortSignal): Promise<SearchResponse> {
    const words = queryWords(query);
    const results = await Promise.all(
        hits.map(async (h): Promise<SearchResult> => {
            const end = Math.min(h.chunk.endLine, h.chunk.startLine + SNIPPET_LINES - 1);
            const lines = await deps.readLines(h.chunk.file, h.chunk.startLine, end, signal).catch((e: unknown) => {
                if (signal.aborted) throw e;
                return undefined;
            });
            const snippet = (lines ?? []).map((raw, i) => {
                const text = raw.length > SNIPPET_LINE_CHARS ? `${raw.slice(0, SNIPPET_LINE_CHARS)}…` : raw;
                return { line: h.chunk.startLine + i, text, marks: markWords(text, words) };
            });
            return { ...h, snippet };
        }),
    );
    signal.throwIfAborted();
    return { query, results, phase, vectors, weights: deps.source.weights, progress: deps.source.progress() };
}

/**
 * The words of a query to mark in snippets, lower-cased: each run of letters and digits, and the
 * parts of a camelCase or snake_case identifier; two characters or more.
 */
export function queryWords(query: string): string[] {
    const out = new Set<string>();
    for (const token of query.match(/[\p{L}\p{N}_]+/gu) ?? []) {
        const parts = token.split(/_+|(?<=[\p{Ll}\p{N}])(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll})/u);
        for (const w of [token, ...parts]) if (w.length >= 2) out.add(w.toLowerCase());
    }
    return [...out].sort((a, b) => b.length - a.length);
}

/** [start, end) ranges in `text` where any of `words` occurs (case-insensitive), merged, in order. */
export function markWords(text: string, words: readonly string[]): Array<[number, number]> {
    if (words.length === 0 || text.length === 0) return [];
    const lower = text.toLowerCase();
    // Offsets are the text's own only where lower-casing kept every length (not for a few scripts).
    if (lower.length !== text.length) return [];
    const ranges: Array<[number, number]> = [];
    for (const w of words) {
        for (let i = lower.indexOf(w); i >= 0; i = lower.indexOf(w, i + w.length)) ranges.push([i, i + w.length]);
    }
    ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    const merged: Array<[number, number]> = [];
    for (const r of ranges) {
        const last = merged[merged.length - 1];
        if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
        else merged.push([r[0], r[1]]);
    }
    return merged;
}
