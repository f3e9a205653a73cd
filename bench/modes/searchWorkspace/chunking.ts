/**
 * The benchmark's chunker: fixed windows of WINDOW_LINES lines, no overlap, hashed as the real
 * chunker hashes (SHA-256 of the embedded text). It has the shape of `Chunker` in
 * src/core/search/chunker.ts, which can take its place (`createChunker(undefined, { windowLines:
 * 16, overlapLines: 0 })` cuts a file without a grammar the same way, at blank lines aside).
 */
import { createHash } from 'node:crypto';
import type { ChunkInput } from '../../../src/core/search/types';
import { WINDOW_LINES } from './workspace';

export interface BenchChunker {
    chunk(file: string, text: string): Promise<ChunkInput[]>;
}

export const lineWindows: BenchChunker = {
    async chunk(file, text) {
        const lines = text.split('\n');
        const out: ChunkInput[] = [];
        for (let i = 0; i < lines.length; i += WINDOW_LINES) {
            const body = lines.slice(i, i + WINDOW_LINES).join('\n');
            out.push({ file, startLine: i + 1, endLine: Math.min(lines.length, i + WINDOW_LINES), text: body, embedText: body, hash: createHash('sha256').update(body).digest('hex') });
        }
        return out;
    },
};
