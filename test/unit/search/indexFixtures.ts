/**
 * Fixtures for the search index's tests: chunks built from text the way the chunker hands them
 * over, an identity, seeded vectors (clustered, like an embedding model's), exact search to
 * compare with.
 */
import { createHash } from 'node:crypto';
import type { ChunkInput, EmbedderIdentity } from '../../../src/core/search/types';
import { createRng, type Rng } from '../../../bench/lib/rng';

export function identity(dims = 32, over: Partial<EmbedderIdentity> = {}): EmbedderIdentity {
    return { space: 'test-space', dims, pooling: 'mean', model: 'test-embedder', queryPrefix: '', documentPrefix: '', ...over };
}

export function hashOf(text: string): string {
    return createHash('sha256').update(text).digest('hex');
}

/** A chunk of `file` at lines `start..end` with this text (embedded as the symbol and the text). */
export function chunk(file: string, start: number, end: number, text: string, symbol?: string): ChunkInput {
    const embedText = symbol ? `${symbol}\n${text}` : text;
    return { file, startLine: start, endLine: end, text, embedText, hash: hashOf(embedText), ...(symbol ? { symbol } : {}) };
}

/** The chunks of a file's text in windows of `lines` lines (the tests' stand-in for the chunker). */
export function windows(file: string, text: string, lines = 3): ChunkInput[] {
    const all = text.split('\n');
    const out: ChunkInput[] = [];
    for (let i = 0; i < all.length; i += lines) out.push(chunk(file, i + 1, Math.min(all.length, i + lines), all.slice(i, i + lines).join('\n')));
    return out;
}

export const STAMP = { mtimeMs: 1, size: 1 };

export function gaussian(rng: Rng): number {
    const u = 1 - rng.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * Seeded vectors in clusters around a common direction, as embedding models give (a narrow cone,
 * topics): `common` and `noise` set how strong the shared direction and the spread are.
 */
export function clusteredVectors(seed: number, dims: number, clusters: number, opts: { common?: number; noise?: number } = {}): () => Float32Array {
    const rng = createRng(seed);
    const common = Array.from({ length: dims }, () => gaussian(rng) * (opts.common ?? 1.5));
    const centres = Array.from({ length: clusters }, () => Array.from({ length: dims }, () => gaussian(rng)));
    return () => {
        const c = centres[rng.int(0, clusters - 1)];
        const v = new Float32Array(dims);
        for (let j = 0; j < dims; j++) v[j] = common[j] + c[j] + (opts.noise ?? 0.8) * gaussian(rng);
        return v;
    };
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let j = 0; j < a.length; j++) {
        dot += a[j] * b[j];
        na += a[j] * a[j];
        nb += b[j] * b[j];
    }
    return dot / Math.sqrt(na * nb);
}

/** Ids of the k vectors nearest `q` by exact cosine similarity. */
export function exactTopK(vectors: readonly ArrayLike<number>[], q: ArrayLike<number>, k: number): number[] {
    return vectors
        .map((v, i) => [cosine(v, q), i] as const)
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, k)
        .map(([, i]) => i);
}
