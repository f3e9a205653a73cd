import assert from 'node:assert/strict';
import type { ModelInfo } from '../../../src/core/backend';
import { embedderIdentity, embedderPrefixes, sameEmbedder } from '../../../src/core/search/embedders';
import { markWords, queryWords } from '../../../src/core/search/query';
import { routerEmbeddings } from '../../../src/core/search/routerEmbeddings';
import { answerOutdated, describeWeights, statusText } from '../../../src/core/search/status';
import { makeFixture, spec } from '../router/helpers';

const info = (name: string, path = `/m/${name}.gguf`): ModelInfo => ({
    id: 'embedder',
    path,
    architecture: 'bert',
    name,
    fim: undefined,
    hasChat: false,
    embeddingDims: 768,
    embeddingSpace: 'gguf-sha256:abc',
    embeddingPooling: 'mean',
    trainContextSize: 2048,
    contextSize: 2048,
    slots: 1,
    estimatedMemory: { ramBytes: 1, vramBytes: 0 },
    gpu: false,
});

describe('search: the embedder an index belongs to', () => {
    it('chooses the query and document prefixes each model family expects, none for unknown models', () => {
        assert.deepEqual(embedderPrefixes(info('nomic-embed-text-v1.5')), { queryPrefix: 'search_query: ', documentPrefix: 'search_document: ' });
        assert.match(embedderPrefixes(info('Qwen3-Embedding-4B')).queryPrefix, /^Instruct: .*\nQuery: $/);
        assert.equal(embedderPrefixes(info('Qwen3-Embedding-4B')).documentPrefix, '');
        assert.deepEqual(embedderPrefixes(info('multilingual-e5-large')), { queryPrefix: 'query: ', documentPrefix: 'passage: ' });
        assert.equal(embedderPrefixes(info('generated', '/x/bge-small-en-v1.5-q8_0.gguf')).documentPrefix, '', 'the file name counts too');
        assert.match(embedderPrefixes(info('generated', '/x/bge-small-en-v1.5-q8_0.gguf')).queryPrefix, /^Represent this sentence/);
        assert.deepEqual(embedderPrefixes(info('Zeta generated embedder')), { queryPrefix: '', documentPrefix: '' });
    });

    it('an identity records space, dims, pooling and prefixes; another model or pooling is another index', () => {
        const a = embedderIdentity(info('nomic-embed-text-v1.5'));
        assert.deepEqual({ space: a.space, dims: a.dims, pooling: a.pooling }, { space: 'gguf-sha256:abc', dims: 768, pooling: 'mean' });
        assert.ok(sameEmbedder(a, { ...a, model: 'renamed' }), 'the display name is not part of the space');
        assert.ok(!sameEmbedder(a, { ...a, space: 'gguf-sha256:def' }));
        assert.ok(!sameEmbedder(a, { ...a, pooling: 'cls' }));
        assert.ok(!sameEmbedder(a, { ...a, queryPrefix: '' }));
    });

    it('embeds documents and queries through the router, in the index space, with the prefixes', async () => {
        const f = makeFixture({ models: [spec('coder'), spec('embedder')] });
        const e = routerEmbeddings(f.router);
        assert.equal(e.current(), 'pending', 'before the router has read the model files');
        await f.clock.advance(5_000);
        const id = e.current();
        assert.ok(id && id !== 'pending', 'the embedder role gives the identity');
        assert.equal(id.space, 'space-embedder');
        assert.equal(id.dims, 8);
        const docs = e.documents(['alpha', 'beta'], id, new AbortController().signal);
        const q = e.query('alpha', id, new AbortController().signal);
        await f.clock.runUntilIdle(10_000);
        const [vectors, query] = await Promise.all([docs, q]);
        assert.equal(vectors.length, 2);
        assert.equal(query.length, 8);
        assert.deepEqual(query, vectors[0], 'no prefixes for this model: the same text, the same vector');
        const kinds = f.router.snapshot().recentDecisions.map((d) => d.kind);
        assert.ok(kinds.includes('embed') && kinds.includes('embedQuery'), 'documents are background work, the query interactive');
        const wrong = e.documents(['x'], { ...id, dims: 4 }, new AbortController().signal);
        wrong.catch(() => undefined);
        await f.clock.runUntilIdle(1_000);
        await assert.rejects(wrong, /returned 8 dimensions; the index has 4/);
        await f.router.dispose();
    });

    it('without an embedder model there is no identity: search is lexical', async () => {
        const f = makeFixture({ models: [spec('coder')] });
        await f.clock.advance(5_000);
        assert.equal(routerEmbeddings(f.router).current(), undefined);
        await f.router.dispose();
    });
});

describe('search: words marked in snippets, and the status in words', () => {
    it('splits a query into words and identifier parts', () => {
        assert.deepEqual(queryWords('parseTraceFile'), ['parsetracefile', 'parse', 'trace', 'file']);
        assert.deepEqual(queryWords('read_speed x'), ['read_speed', 'speed', 'read']);
        assert.deepEqual(queryWords('  '), []);
    });

    it('marks every occurrence, case-insensitively, merging overlaps', () => {
        assert.deepEqual(markWords('function parseTrace(trace) {', ['parse', 'trace']), [
            [9, 19],
            [20, 25],
        ]);
        assert.deepEqual(markWords('nothing here', ['zzz']), []);
    });

    it('a shown answer is asked again when out of date: a partial one as indexing moves on, a complete one after any change to the index', () => {
        // Partial: every 10 more points of progress, and at 100; its content changing meanwhile (files
        // being indexed) does not by itself ask again.
        assert.equal(answerOutdated({ percent: 40, version: 3 }, { percent: 45, version: 9 }, 10), false);
        assert.equal(answerOutdated({ percent: 40, version: 3 }, { percent: 50, version: 9 }, 10), true);
        assert.equal(answerOutdated({ percent: 95, version: 3 }, { percent: 100, version: 4 }, 10), true);
        // Complete: a file saved after the query ran (its event arrived after the answer) is not
        // left out of the results shown, whatever the progress says.
        assert.equal(answerOutdated({ percent: 100, version: 3 }, { percent: 100, version: 3 }, 10), false);
        assert.equal(answerOutdated({ percent: 100, version: 3 }, { percent: 100, version: 4 }, 10), true);
        assert.equal(answerOutdated({ percent: 100, version: 3 }, { percent: 90, version: 4 }, 10), true);
    });

    it('says how far indexing got and how the channels are weighted', () => {
        const p = { files: 10_000, filesDone: 8_412, chunks: 100, chunksWithVectors: 84, state: 'indexing' as const };
        assert.equal(statusText(p, { lexical: 1, vector: 0, basis: 'default' }, false).summary, 'indexing 8,412 / 10,000 files');
        assert.equal(statusText({ ...p, state: 'idle' }, { lexical: 1, vector: 0, basis: 'default' }, false).percent, 84);
        assert.match(statusText({ ...p, state: 'idle' }, { lexical: 1, vector: 0, basis: 'default' }, true).summary, /by words only/);
        assert.match(describeWeights({ lexical: 1, vector: 0, basis: { queries: 40, lexicalMrr: 0.5, vectorMrr: 0.05, hybridMrr: 0.5 } }), /^Meaning weighs 0/);
        assert.match(describeWeights({ lexical: 1, vector: 0.5, basis: { queries: 40, lexicalMrr: 0.4, vectorMrr: 0.3, hybridMrr: 0.46 } }), /Words weigh 1, meaning 0.5, measured on 40 queries/);
    });
});
