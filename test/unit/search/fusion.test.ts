import { strict as assert } from 'node:assert';
import { fuse, hybridRanking, RRF_K } from '../../../src/core/search/fusion';
import { createSearchIndex } from '../../../src/core/search/index';
import type { SearchHit } from '../../../src/core/search/types';
import { chunk, identity, STAMP } from './indexFixtures';

const hit = (file: string, score = 1): SearchHit => ({ chunk: { file, startLine: 1, endLine: 2 }, score });
const names = (hits: ReadonlyArray<{ chunk: { file: string } }>): string[] => hits.map((h) => h.chunk.file);

describe('search: reciprocal rank fusion', () => {
    it('sums w / (RRF_K + rank) over the channels that ranked a chunk, and reports each rank', () => {
        const fused = fuse([hit('a'), hit('b'), hit('c')], [hit('c'), hit('d')], { lexical: 1, vector: 1 }, 10);
        assert.deepEqual(names(fused), ['c', 'a', 'b', 'd']);
        const c = fused[0];
        assert.equal(c.score, 1 / (RRF_K + 3) + 1 / (RRF_K + 1));
        assert.equal(c.lexicalRank, 3);
        assert.equal(c.vectorRank, 1);
        assert.equal(fused[1].vectorRank, undefined);
        assert.deepEqual(names(fuse([hit('a'), hit('b'), hit('c')], [hit('c'), hit('d')], { lexical: 1, vector: 1 }, 2)), ['c', 'a']);
    });

    it('a channel of weight 0 does not change the order of the other', () => {
        const lexical = ['a', 'b', 'c', 'd', 'e'].map((f) => hit(f));
        const vector = ['e', 'd', 'x', 'c', 'y'].map((f) => hit(f));
        assert.deepEqual(names(fuse(lexical, vector, { lexical: 1, vector: 0 }, 10)), ['a', 'b', 'c', 'd', 'e']);
        assert.deepEqual(names(fuse(lexical, vector, { lexical: 0, vector: 2 }, 10)), ['e', 'd', 'x', 'c', 'y']);
    });

    it('a heavier channel wins ties and moves its chunks up', () => {
        const lexical = [hit('a'), hit('b')];
        const vector = [hit('b'), hit('a')];
        assert.deepEqual(names(fuse(lexical, vector, { lexical: 1, vector: 1 }, 10)), ['a', 'b'], 'tie: the lexical rank decides at equal weights');
        assert.deepEqual(names(fuse(lexical, vector, { lexical: 1, vector: 1.5 }, 10)), ['b', 'a']);
    });

    it('refuses negative weights and two zero weights', () => {
        assert.throws(() => fuse([], [], { lexical: -1, vector: 1 }, 5), RangeError);
        assert.throws(() => fuse([], [], { lexical: 0, vector: 0 }, 5), RangeError);
    });

    it('fuses the index\'s two channels on synthetic vectors: each finds what the other misses', () => {
        const index = createSearchIndex(identity(3));
        const chunks = [
            chunk('retry.ts', 1, 5, 'function retryWithBackoff(call, attempts) { /* exponential delay */ }'),
            chunk('net.ts', 1, 5, 'function resend(request) { wait(); return send(request); }'),
            chunk('ui.ts', 1, 5, 'function renderButton(label) { return h("button", label); }'),
        ];
        // Vectors: "resend" and "retryWithBackoff" mean the same thing; the button means something else.
        const vectors = [[1, 0.1, 0], [0.9, 0.2, 0], [0, 0, 1]];
        for (const c of chunks) index.setFile(c.file, STAMP, [c]);
        index.addVectors(chunks.map((c, i) => ({ hash: c.hash, vector: vectors[i] })));
        const lexical = index.searchLexical('retry with backoff', 10);
        const vector = index.searchVector([1, 0.15, 0], 2);
        assert.deepEqual(names(lexical), ['retry.ts']);
        assert.deepEqual(names(vector), ['retry.ts', 'net.ts']);
        const fused = fuse(lexical, vector, { lexical: 1, vector: 1 }, 10);
        assert.deepEqual(names(fused), ['retry.ts', 'net.ts']);
        assert.deepEqual([fused[0].lexicalRank, fused[0].vectorRank, fused[1].lexicalRank, fused[1].vectorRank], [1, 1, undefined, 2]);
        assert.deepEqual(names(fuse(lexical, vector, { lexical: 1, vector: 0 }, 10)), ['retry.ts']);
    });
});

describe('the ranking search shows (hybridRanking)', () => {
    const hit = (name: string): SearchHit => ({ chunk: { file: `${name}.ts`, startLine: 1, endLine: 1 }, score: 1 });
    const names = (hits: readonly { chunk: { file: string } }[]): string[] => hits.map((h) => h.chunk.file.replace('.ts', ''));

    it('with a vector weight of 0: the lexical ranking exactly, then what only meaning found', () => {
        const r = hybridRanking([hit('a'), hit('b')], [hit('x'), hit('b'), hit('y')], { lexical: 1, vector: 0 }, 10);
        assert.deepEqual(names(r), ['a', 'b', 'x', 'y']);
        assert.equal(r[2].vectorRank, 1);
        assert.equal(r[2].score, 0);
        assert.deepEqual(names(hybridRanking([hit('a'), hit('b')], [hit('x')], { lexical: 1, vector: 0 }, 2)), ['a', 'b'], 'within k');
    });

    it('with a vector weight above 0: the fusion', () => {
        const lexical = [hit('a'), hit('b')];
        const vector = [hit('x'), hit('b')];
        assert.deepEqual(hybridRanking(lexical, vector, { lexical: 1, vector: 1 }, 10), fuse(lexical, vector, { lexical: 1, vector: 1 }, 10));
    });
});
