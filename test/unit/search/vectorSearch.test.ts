import { strict as assert } from 'node:assert';
import { VectorStore } from '../../../src/core/search/index/vectors';
import { createRng } from '../../../bench/lib/rng';
import { clusteredVectors, cosine, exactTopK, gaussian } from './indexFixtures';

/** Mean recall@k of `store.search` (with `candidates`) against exact float search, over `queries`. */
function recall(store: VectorStore, vectors: readonly Float32Array[], queries: readonly Float32Array[], k: number, candidates: number): number {
    let sum = 0;
    for (const q of queries) {
        const qn = store.normalise(q) as Float32Array;
        const got = new Set(store.search(qn, k, candidates).map((h) => h.id));
        sum += exactTopK(vectors, q, k).filter((i) => got.has(i)).length / k;
    }
    return sum / queries.length;
}

function storeOf(vectors: readonly Float32Array[], dims: number): VectorStore {
    const s = new VectorStore(dims);
    s.ensure(vectors.length);
    vectors.forEach((v, i) => {
        assert.equal(s.set(i, v), undefined);
        s.setLive(i, true);
    });
    return s;
}

describe('search: quantised vectors and the two-stage search', () => {
    it('two-stage search keeps recall@10 >= 0.9 against exact search, rescoring 2% of the vectors (0.94 when written)', () => {
        const dims = 96;
        const next = clusteredVectors(11, dims, 40);
        const vectors = Array.from({ length: 10_000 }, next);
        const queries = Array.from({ length: 40 }, next);
        const store = storeOf(vectors, dims);
        const r = recall(store, vectors, queries, 10, 200);
        assert.ok(r >= 0.9, `recall@10 ${r.toFixed(3)}`);
    });

    it('on uniform random vectors too (no structure for the sign codes to use), with 10% rescored (0.96 when written)', () => {
        const dims = 256;
        const rng = createRng(5);
        const vectors = Array.from({ length: 4000 }, () => Float32Array.from({ length: dims }, () => gaussian(rng)));
        const queries = Array.from({ length: 40 }, () => Float32Array.from({ length: dims }, () => gaussian(rng)));
        const r = recall(storeOf(vectors, dims), vectors, queries, 10, 400);
        assert.ok(r >= 0.9, `recall@10 ${r.toFixed(3)}`);
    });

    it('scores are cosine similarities within int8 rounding, best first', () => {
        const dims = 48;
        const next = clusteredVectors(3, dims, 5);
        const vectors = Array.from({ length: 300 }, next);
        const store = storeOf(vectors, dims);
        const q = next();
        const hits = store.search(store.normalise(q) as Float32Array, 20, 300);
        assert.equal(hits.length, 20);
        for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].score >= hits[i].score);
        for (const h of hits) assert.ok(Math.abs(h.score - cosine(vectors[h.id], q)) < 0.01, `slot ${h.id}: ${h.score} vs ${cosine(vectors[h.id], q)}`);
    });

    it('with every vector a candidate, the best hit is the exact nearest', () => {
        const dims = 32;
        const next = clusteredVectors(8, dims, 10);
        const vectors = Array.from({ length: 500 }, next);
        const store = storeOf(vectors, dims);
        for (let i = 0; i < 10; i++) {
            const q = next();
            assert.equal(store.search(store.normalise(q) as Float32Array, 1, 500)[0].id, exactTopK(vectors, q, 1)[0]);
        }
    });

    it('sees only live slots with vectors', () => {
        const store = storeOf([Float32Array.of(1, 0), Float32Array.of(0, 1), Float32Array.of(1, 1)], 2);
        store.setLive(0, false);
        store.ensure(4); // slot 3: no vector yet
        store.setLive(3, true);
        const ids = store.search(Float32Array.of(1, 0), 10).map((h) => h.id);
        assert.deepEqual(ids, [2, 1]);
    });

    it('refuses a vector of the wrong length, with a value not finite, or all zero', () => {
        const store = new VectorStore(3);
        store.ensure(1);
        assert.equal(store.set(0, [1, 2]), 'dims');
        assert.equal(store.set(0, [1, Number.NaN, 2]), 'notFinite');
        assert.equal(store.set(0, [0, 0, 0]), 'zero');
        assert.equal(store.hasVector(0), false);
        assert.equal(store.set(0, [3, 0, 4]), undefined);
        assert.equal(store.hasVector(0), true);
    });

    it('compaction keeps the kept slots\' vectors and search results', () => {
        const dims = 16;
        const next = clusteredVectors(2, dims, 4);
        const vectors = Array.from({ length: 50 }, next);
        const store = storeOf(vectors, dims);
        const map = new Int32Array(50).map((_, i) => (i % 2 === 0 ? i / 2 : -1));
        store.rebuild(map, 25);
        const q = next();
        const kept = vectors.filter((_, i) => i % 2 === 0);
        const hits = store.search(store.normalise(q) as Float32Array, 5, 25);
        assert.deepEqual(hits.map((h) => h.id), exactTopK(kept, q, 5));
    });
});
