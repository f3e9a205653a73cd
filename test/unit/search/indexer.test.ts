/**
 * The indexer and the query on the real index, store, chunker and fusion, with the router's fake
 * embedder (8 dimensions) on a virtual clock, and the workspace as a map of texts.
 */
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calibrate } from '../../../src/core/search/calibrate';
import { createChunker } from '../../../src/core/search/chunker';
import { hybridRanking } from '../../../src/core/search/fusion';
import { createSearchIndex, type InMemorySearchIndex } from '../../../src/core/search/index/index';
import { DEFAULT_WEIGHTS } from '../../../src/core/search/calibrate';
import { Indexer, LEXICAL_ONLY, isLexicalOnly, type Embeddings, type IndexFiles, type IndexKeeper } from '../../../src/core/search/indexer';
import { searchWorkspace, type SearchResponse } from '../../../src/core/search/query';
import { routerEmbeddings } from '../../../src/core/search/routerEmbeddings';
import { createIndexStore, identityKey } from '../../../src/core/search/store';
import type { ChannelWeights, EmbedderIdentity, FileStamp, MinedQuery } from '../../../src/core/search/types';
import { makeFixture, spec, type Fixture } from '../router/helpers';

/** A workspace as texts, with stamps that change on every write. */
class MemoryWorkspace implements IndexFiles {
    readonly texts = new Map<string, string>();
    private readonly stamps = new Map<string, FileStamp>();
    private tick = 1;
    reads: string[] = [];
    /** Files whose read fails (a vanished or unreadable file). */
    readonly broken = new Set<string>();

    write(file: string, text: string): void {
        this.texts.set(file, text);
        this.stamps.set(file, { mtimeMs: this.tick++, size: text.length });
    }
    remove(file: string): void {
        this.texts.delete(file);
        this.stamps.delete(file);
    }
    async *list(): AsyncGenerator<{ file: string; stamp: FileStamp }> {
        for (const [file, stamp] of [...this.stamps].sort()) yield { file, stamp };
    }
    read(file: string): Promise<{ text: string; stamp: FileStamp } | undefined> {
        this.reads.push(file);
        if (this.broken.has(file)) return Promise.reject(new Error('EIO: the disk said no'));
        const text = this.texts.get(file);
        return Promise.resolve(text === undefined ? undefined : { text, stamp: this.stamps.get(file)! });
    }
}

/** Counts the texts embedded, and can fail. */
function counting(inner: Embeddings): Embeddings & { documentsEmbedded: string[]; fail: boolean; none: boolean } {
    const e = {
        documentsEmbedded: [] as string[],
        fail: false,
        none: false,
        current: () => (e.none ? undefined : inner.current()),
        documents: (texts: readonly string[], id: EmbedderIdentity, signal: AbortSignal) => {
            if (e.fail) return Promise.reject(new Error('the embedder crashed'));
            e.documentsEmbedded.push(...texts);
            return inner.documents(texts, id, signal);
        },
        query: (text: string, id: EmbedderIdentity, signal: AbortSignal) => inner.query(text, id, signal),
    };
    return e;
}

/** The store's real file operations in flight: `settle` lets them finish before virtual time moves on. */
const realIo = new Set<Promise<unknown>>();

function tracked<A extends unknown[], R>(op: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return (...args) => {
        const p = op(...args);
        realIo.add(p);
        const done = (): void => void realIo.delete(p);
        p.then(done, done);
        return p;
    };
}

/** Resolves once no real file operation is in flight and their continuations have run. */
async function realIoDone(): Promise<void> {
    for (;;) {
        await new Promise((r) => setImmediate(r));
        if (realIo.size === 0) return;
        await Promise.allSettled([...realIo]);
    }
}

function fileKeeper(dir: string): IndexKeeper<InMemorySearchIndex> {
    const fs = {
        readFile: tracked((p: string) => fsp.readFile(p)),
        writeFile: tracked((p: string, d: Iterable<Uint8Array>) => fsp.writeFile(p, d)),
        rename: tracked((from: string, to: string) => fsp.rename(from, to)),
        mkdir: tracked((p: string, o?: { recursive?: boolean }) => fsp.mkdir(p, o)),
        readdir: tracked((p: string) => fsp.readdir(p)),
        unlink: tracked((p: string) => fsp.unlink(p)),
        access: tracked((p: string) => fsp.access(p)),
    };
    const weights = new Map<string, ChannelWeights>();
    const storeOf = (id: EmbedderIdentity) => createIndexStore(join(dir, isLexicalOnly(id) ? 'lexical' : identityKey(id)), id, fs);
    return {
        async load(id) {
            const r = await storeOf(id).load();
            if (r.kind === 'loaded') return { index: r.index, ...(weights.has(id.space) ? { weights: weights.get(id.space)! } : {}) };
            return r.kind === 'setAside' ? { problem: `the stored index could not be used (${r.reason}: ${r.detail})` } : {};
        },
        async save(index, w) {
            await storeOf(index.identity).save(index);
            weights.set(index.identity.space, w);
        },
    };
}

const CODE = (name: string, words: string): string => `// ${name}: ${words}\nfunction ${name}(a, b) {\n  return a + b;\n}\n`;

interface Harness {
    f: Fixture;
    ws: MemoryWorkspace;
    embeddings: ReturnType<typeof counting>;
    indexer: Indexer<InMemorySearchIndex>;
    logs: string[];
    calibrations: number;
}

function harness(f: Fixture, ws: MemoryWorkspace, dir: string, mine: (texts: readonly string[]) => MinedQuery[] = () => [], rebuilds: string[] = []): Harness {
    const embeddings = counting(routerEmbeddings(f.router));
    const logs: string[] = [];
    const h: Harness = { f, ws, embeddings, logs, calibrations: 0, indexer: undefined as never };
    h.indexer = new Indexer<InMemorySearchIndex>({
        files: ws,
        chunker: createChunker(undefined, { windowLines: 4, overlapLines: 0, maxChunkLines: 4 }),
        store: fileKeeper(dir),
        embeddings,
        createIndex: createSearchIndex,
        mine: (chunks) => mine(chunks.map((c) => c.text)),
        calibrate: (input) => {
            h.calibrations++;
            return calibrate(input);
        },
        clock: f.clock,
        logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m) },
        onRebuild: (problem) => rebuilds.push(problem),
    });
    return h;
}

/**
 * Runs virtual time until the indexer is idle (or `limitMs` of virtual time passes). The store
 * writes real files, so after each step of virtual time the real I/O it started completes before the
 * next step: how long the disk takes never changes how much virtual time passes meanwhile.
 */
async function settle(h: Harness, limitMs = 120_000): Promise<void> {
    for (let t = 0; t < limitMs; t += 100) {
        await h.f.clock.advance(100);
        await realIoDone();
        const p = h.indexer.progress();
        if ((p.state === 'idle' || p.state === 'paused' || p.state === 'disabled' || p.state === 'failed') && t > 200) return;
    }
    throw new Error(`indexer not idle after ${limitMs} ms: ${JSON.stringify(h.indexer.progress())}`);
}

async function search(h: Harness, query: string): Promise<SearchResponse> {
    const p = searchWorkspace({ source: h.indexer, fuse: hybridRanking, readLines: (file, s, e) => Promise.resolve(h.ws.texts.get(file)?.split('\n').slice(s - 1, e)) }, query, new AbortController().signal);
    await h.f.clock.advance(1_000);
    return p;
}

describe('search indexer', () => {
    let dir: string;
    beforeEach(() => {
        dir = mkdtempSync(join(tmpdir(), 'zeta-indexer-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    async function start(files: Record<string, string>): Promise<Harness> {
        const f = makeFixture({ models: [spec('coder'), spec('embedder')] });
        await f.clock.advance(5_000);
        const ws = new MemoryWorkspace();
        for (const [file, text] of Object.entries(files)) ws.write(file, text);
        const h = harness(f, ws, dir);
        h.indexer.start();
        await settle(h);
        return h;
    }

    it('indexes every file: searchable by words, then by meaning; progress counts files and chunks', async () => {
        const h = await start({ 'src/a.js': CODE('addNumbers', 'sum of two numbers'), 'src/b.js': CODE('parseTrace', 'reads a trace file'), 'README.md': '# Zeta\n\nA local assistant.\n' });
        const p = h.indexer.progress();
        assert.equal(p.state, 'idle');
        assert.equal(p.files, 3);
        assert.equal(p.filesDone, 3);
        assert.ok(p.chunks >= 3 && p.chunksWithVectors === p.chunks, JSON.stringify(p));
        const r = await search(h, 'parse trace');
        assert.equal(r.phase, 'final');
        assert.equal(r.vectors, 'used');
        assert.equal(r.results[0].chunk.file, 'src/b.js');
        assert.ok(r.results[0].snippet.some((l) => l.marks.length > 0), 'the query words are marked in the snippet');
        const kinds = h.f.router.snapshot().recentDecisions.map((d) => d.kind);
        assert.ok(kinds.includes('embed'), 'documents went through the router as background embed work');
        await h.indexer.dispose();
        await h.f.router.dispose();
    });

    it('an edit re-embeds exactly its changed chunks and is searchable at once by its words', async () => {
        const h = await start({ 'a.js': `${CODE('one', 'first')}${CODE('two', 'second')}`, 'b.js': CODE('three', 'third') });
        h.embeddings.documentsEmbedded.length = 0;
        const version = h.indexer.version;
        h.ws.write('a.js', `${CODE('one', 'first')}${CODE('zebraStripes', 'counts the stripes of a zebra')}`);
        h.indexer.changed('a.js');
        await h.f.clock.advance(1);
        // What the index holds changed: an answer shown from before is out of date (status.ts answerOutdated).
        assert.ok(h.indexer.version > version, `the version did not move from ${version}`);
        const before = await search(h, 'zebra');
        assert.equal(before.results[0]?.chunk.file, 'a.js', 'searchable by its words');
        await settle(h);
        assert.equal(h.embeddings.documentsEmbedded.length, 1, `re-embedded: ${JSON.stringify(h.embeddings.documentsEmbedded)}`);
        assert.match(h.embeddings.documentsEmbedded[0], /zebraStripes/);
        await h.indexer.dispose();
        await h.f.router.dispose();
    });

    it('a rename (delete + create) re-embeds nothing; a deleted file leaves the results', async () => {
        const h = await start({ 'old.js': CODE('movedFunction', 'this will move'), 'gone.js': CODE('deletedFunction', 'this will go') });
        h.embeddings.documentsEmbedded.length = 0;
        h.ws.write('new.js', h.ws.texts.get('old.js')!);
        h.ws.remove('old.js');
        h.ws.remove('gone.js');
        h.indexer.deleted('old.js');
        h.indexer.changed('new.js');
        h.indexer.deleted('gone.js');
        await settle(h);
        assert.deepEqual(h.embeddings.documentsEmbedded, [], 'the moved chunks keep their vectors');
        assert.equal((await search(h, 'movedFunction')).results[0]?.chunk.file, 'new.js');
        assert.ok(!(await search(h, 'deletedFunction')).results.some((r) => r.chunk.file === 'gone.js'));
        await h.indexer.dispose();
        await h.f.router.dispose();
    });

    it('a restart loads the saved index and reads and embeds only what changed meanwhile', async () => {
        const h = await start({ 'a.js': CODE('alpha', 'first'), 'b.js': CODE('beta', 'second') });
        await h.indexer.dispose();
        await h.f.router.dispose();
        const f = makeFixture({ models: [spec('coder'), spec('embedder')] });
        await f.clock.advance(5_000);
        h.ws.write('b.js', CODE('betaChanged', 'second, changed'));
        h.ws.reads = [];
        const again = harness(f, h.ws, dir);
        again.indexer.start();
        await settle(again);
        assert.deepEqual(again.ws.reads, ['b.js'], 'only the changed file is read');
        assert.equal(again.embeddings.documentsEmbedded.length, 1);
        assert.equal((await search(again, 'alpha')).results[0]?.chunk.file, 'a.js', 'the stored index answers');
        await again.indexer.dispose();
        await f.router.dispose();
    });

    it('a corrupt stored index is set aside with a message and rebuilt; search goes on', async () => {
        const h = await start({ 'a.js': CODE('alpha', 'first') });
        await h.indexer.dispose();
        await h.f.router.dispose();
        // Damage every part of the stored generation.
        const id = h.indexer.index!.identity;
        const folder = join(dir, identityKey(id));
        for (const name of await fsp.readdir(folder)) if (name.endsWith('.bin')) await fsp.writeFile(join(folder, name), 'not an index');
        const f = makeFixture({ models: [spec('coder'), spec('embedder')] });
        await f.clock.advance(5_000);
        const rebuilds: string[] = [];
        const again = harness(f, h.ws, dir, () => [], rebuilds);
        again.indexer.start();
        await settle(again);
        assert.equal(rebuilds.length, 1);
        assert.match(rebuilds[0], /could not be used \((corrupt|truncated)/);
        assert.equal((await search(again, 'alpha')).results[0]?.chunk.file, 'a.js', 'rebuilt from the files');
        assert.ok((await fsp.readdir(dir)).some((n) => n.includes('.corrupt')), 'the damaged index was set aside, not deleted');
        await again.indexer.dispose();
        await f.router.dispose();
    });

    it('paused: files stay searchable by words and nothing is embedded until it resumes', async () => {
        const f = makeFixture({ models: [spec('coder'), spec('embedder')] });
        await f.clock.advance(5_000);
        const ws = new MemoryWorkspace();
        ws.write('a.js', CODE('pausedWork', 'waits'));
        const h = harness(f, ws, dir);
        h.indexer.pause();
        h.indexer.start();
        await settle(h);
        assert.equal(h.indexer.progress().state, 'paused');
        assert.equal(h.embeddings.documentsEmbedded.length, 0);
        assert.equal((await search(h, 'pausedWork')).results[0]?.chunk.file, 'a.js');
        h.indexer.resume();
        await settle(h);
        assert.equal(h.indexer.progress().state, 'idle');
        assert.ok(h.embeddings.documentsEmbedded.length > 0);
        await h.indexer.dispose();
        await f.router.dispose();
    });

    it('a file that cannot be read, and chunks that cannot be embedded, are skipped and logged; the rest goes on', async () => {
        const f = makeFixture({ models: [spec('coder'), spec('embedder')] });
        await f.clock.advance(5_000);
        const ws = new MemoryWorkspace();
        ws.write('bad.js', CODE('broken', 'x'));
        ws.write('good.js', CODE('healthy', 'y'));
        ws.broken.add('bad.js');
        const h = harness(f, ws, dir);
        h.embeddings.fail = true;
        h.indexer.start();
        await settle(h);
        assert.ok(h.logs.some((l) => /skipped bad\.js: EIO/.test(l)), h.logs.join('\n'));
        assert.ok(h.logs.some((l) => /embedding \d+ chunks failed \(the embedder crashed\)/.test(l)), h.logs.join('\n'));
        assert.equal(h.indexer.progress().state, 'idle');
        const r = await search(h, 'healthy');
        assert.equal(r.results[0]?.chunk.file, 'good.js', 'still searchable by its words');
        await h.indexer.dispose();
        await f.router.dispose();
    });

    it('without an embedder the index is by words only; an embedder configured later gets its own index', async () => {
        const f = makeFixture({ models: [spec('coder'), spec('embedder')] });
        await f.clock.advance(5_000);
        const ws = new MemoryWorkspace();
        ws.write('a.js', CODE('lexicalOnly', 'words'));
        const h = harness(f, ws, dir);
        h.embeddings.none = true;
        h.indexer.start();
        await settle(h);
        assert.equal(h.indexer.index?.identity, LEXICAL_ONLY);
        const r = await search(h, 'lexicalOnly');
        assert.equal(r.vectors, 'unavailable');
        assert.equal(r.results[0]?.chunk.file, 'a.js');
        h.embeddings.none = false;
        h.indexer.embedderChanged();
        await settle(h);
        assert.equal(h.indexer.index?.identity.space, 'space-embedder');
        assert.equal(h.indexer.progress().chunksWithVectors, h.indexer.progress().chunks);
        await h.indexer.dispose();
        await f.router.dispose();
    });

    it('disabled (restricted mode, search off): nothing is read', async () => {
        const f = makeFixture({ models: [spec('coder'), spec('embedder')] });
        const ws = new MemoryWorkspace();
        ws.write('a.js', CODE('x', 'y'));
        const h = harness(f, ws, dir);
        h.indexer.disable('restricted mode');
        await f.clock.advance(5_000);
        assert.deepEqual(ws.reads, []);
        assert.equal(h.indexer.progress().state, 'disabled');
        assert.equal(h.indexer.progress().detail, 'restricted mode');
        await h.indexer.dispose();
        await f.router.dispose();
    });
});

describe('search query', () => {
    it('answers by words at once, then with meaning; a vector weight of 0 keeps the word ranking and appends matches by meaning', async () => {
        const index = createSearchIndex({ space: 's', dims: 2, pooling: 'mean', model: 'm', queryPrefix: '', documentPrefix: '' });
        const chunk = (file: string, text: string, hash: string) => ({ file, startLine: 1, endLine: 1, text, embedText: text, hash });
        index.setFile('words.js', { mtimeMs: 1, size: 1 }, [chunk('words.js', 'alpha beta', 'h1')]);
        index.setFile('meaning.js', { mtimeMs: 1, size: 1 }, [chunk('meaning.js', 'gamma delta', 'h2')]);
        index.addVectors([
            { hash: 'h1', vector: [1, 0] },
            { hash: 'h2', vector: [0, 1] },
        ]);
        const updates: SearchResponse[] = [];
        let weights: ChannelWeights = DEFAULT_WEIGHTS;
        const source = {
            index,
            get weights() {
                return weights;
            },
            progress: () => ({ files: 2, filesDone: 2, chunks: 2, chunksWithVectors: 2, state: 'idle' as const }),
            embedQuery: () => Promise.resolve([0, 1]),
        };
        const deps = { source, fuse: hybridRanking, readLines: () => Promise.resolve(['line']) };
        const final = await searchWorkspace(deps, 'alpha', new AbortController().signal, (r) => updates.push(r));
        assert.deepEqual(updates.map((u) => u.phase), ['lexical', 'final']);
        assert.deepEqual(updates[0].results.map((r) => r.chunk.file), ['words.js']);
        assert.deepEqual(final.results.map((r) => r.chunk.file), ['words.js', 'meaning.js'], 'words first, meaning fills in');
        weights = { lexical: 1, vector: 4, basis: { queries: 10, lexicalMrr: 0.2, vectorMrr: 0.6, hybridMrr: 0.7 } };
        const fused = await searchWorkspace(deps, 'alpha', new AbortController().signal);
        assert.deepEqual(
            fused.results.map((r) => [r.chunk.file, r.lexicalRank, r.vectorRank]),
            [
                ['words.js', 1, 2],
                ['meaning.js', undefined, 1],
            ],
        );
        assert.ok(Math.abs(fused.results[1].score - 4 / 61) < 1e-12, 'weighted reciprocal rank fusion');
        const controller = new AbortController();
        controller.abort(new Error('typed over'));
        await assert.rejects(searchWorkspace(deps, 'alpha', controller.signal), /typed over/);
        assert.deepEqual((await searchWorkspace(deps, '   ', new AbortController().signal)).results, []);
    });
});
