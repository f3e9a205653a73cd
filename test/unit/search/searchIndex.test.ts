import { strict as assert } from 'node:assert';
import { createSearchIndex, restoreSearchIndex } from '../../../src/core/search/index';
import type { ChunkInput, SearchIndex } from '../../../src/core/search/types';
import { chunk, clusteredVectors, identity, STAMP, windows } from './indexFixtures';

const files = (hits: ReadonlyArray<{ chunk: { file: string; startLine: number } }>): string[] => hits.map((h) => `${h.chunk.file}:${h.chunk.startLine}`);

/** Gives every chunk `setFile` asks for a vector from `next`, keyed by hash. */
function embedAll(index: SearchIndex, chunks: readonly ChunkInput[], next: () => Float32Array, vectors = new Map<string, Float32Array>()): Map<string, Float32Array> {
    const items = chunks.map((c) => {
        const v = vectors.get(c.hash) ?? next();
        vectors.set(c.hash, v);
        return { hash: c.hash, vector: v };
    });
    assert.deepEqual(index.addVectors(items), []);
    return vectors;
}

describe('search: the index, lexical channel (BM25)', () => {
    it('ranks the chunk that defines a thing above chunks that mention it', () => {
        const index = createSearchIndex(identity());
        index.setFile('src/config.ts', STAMP, [
            chunk('src/config.ts', 1, 8, 'export function parseConfig(text: string): Config {\n  const config = JSON.parse(text);\n  return validateConfig(config);\n}', 'parseConfig'),
            chunk('src/config.ts', 10, 14, 'export function saveSettings(path: string) {\n  // writes the config file\n  write(path);\n}', 'saveSettings'),
        ]);
        index.setFile('src/app.ts', STAMP, [chunk('src/app.ts', 1, 3, 'import { start } from "./server";\nstart(8080);')]);
        assert.deepEqual(files(index.searchLexical('parse config', 10)), ['src/config.ts:1', 'src/config.ts:10']);
        assert.deepEqual(files(index.searchLexical('parseConfig', 10)), ['src/config.ts:1', 'src/config.ts:10']);
        assert.deepEqual(index.searchLexical('nothing matches this', 10), []);
    });

    it('weighs rare terms above common ones, and a short chunk above a long one with the same match', () => {
        const index = createSearchIndex(identity());
        const filler = Array.from({ length: 30 }, (_, i) => `value${i} = compute(value);`).join('\n');
        index.setFile('a.ts', STAMP, [
            chunk('a.ts', 1, 1, 'compute tokenizer'),
            chunk('a.ts', 2, 2, 'compute value'),
            chunk('a.ts', 3, 33, `tokenizer\n${filler}`),
            chunk('a.ts', 34, 34, 'compute compute'),
        ]);
        const hits = files(index.searchLexical('tokenizer compute', 10));
        assert.equal(hits[0], 'a.ts:1', 'both terms');
        assert.ok(hits.indexOf('a.ts:3') < hits.indexOf('a.ts:2'), 'the rare term outweighs the common one');
        const short = files(index.searchLexical('tokenizer', 10));
        assert.deepEqual(short, ['a.ts:1', 'a.ts:3'], 'same term frequency: the shorter chunk first');
    });

    it('matches the path as its own field, below a match in the text', () => {
        const index = createSearchIndex(identity());
        index.setFile('src/search/tokenizer.ts', STAMP, [chunk('src/search/tokenizer.ts', 1, 2, 'export function split(text) {\n  return text.split(" ");\n}')]);
        index.setFile('src/other.ts', STAMP, [chunk('src/other.ts', 1, 1, 'const tokenizer = makeTokenizer();')]);
        index.setFile('src/third.ts', STAMP, [chunk('src/third.ts', 1, 1, 'unrelated()')]);
        assert.deepEqual(files(index.searchLexical('tokenizer', 10)), ['src/other.ts:1', 'src/search/tokenizer.ts:1']);
        assert.deepEqual(files(index.searchLexical('search split', 10)), ['src/search/tokenizer.ts:1']);
    });

    it('`without` ranks a chunk as if a text (a mined docstring) were not in it', () => {
        const index = createSearchIndex(identity());
        const doc = 'Compute the checksum of a downloaded archive.';
        const target = chunk('dl.ts', 1, 4, `/** ${doc} */\nfunction verify(bytes) {\n  return sha(bytes);\n}`);
        index.setFile('dl.ts', STAMP, [target, chunk('dl.ts', 5, 6, 'function archive(files) { return zip(files); }')]);
        assert.deepEqual(files(index.searchLexical(doc, 10)), ['dl.ts:1', 'dl.ts:5']);
        const hits = index.searchLexical(doc, 10, { without: { chunk: target, text: doc } });
        assert.deepEqual(files(hits), ['dl.ts:5'], 'only the other chunk has "archive" once the docstring is out');
        assert.deepEqual(files(index.searchLexical('verify sha', 10, { without: { chunk: target, text: doc } })), ['dl.ts:1'], 'the rest of the chunk still matches');
    });

    it('an edit is searchable at once, a deleted file never returns', () => {
        const index = createSearchIndex(identity());
        index.setFile('a.py', STAMP, [chunk('a.py', 1, 2, 'def load_user(uid):\n    pass')]);
        index.setFile('b.py', STAMP, [chunk('b.py', 1, 1, 'load_user(3)')]);
        index.setFile('a.py', { mtimeMs: 2, size: 2 }, [chunk('a.py', 1, 2, 'def fetch_account(uid):\n    pass')]);
        assert.deepEqual(files(index.searchLexical('load user', 10)), ['b.py:1']);
        assert.deepEqual(files(index.searchLexical('fetch account', 10)), ['a.py:1']);
        index.removeFile('b.py');
        assert.deepEqual(index.searchLexical('load user', 10), []);
        assert.deepEqual([...index.files()], ['a.py']);
        assert.equal(index.stamp('b.py'), undefined);
        assert.deepEqual(index.stamp('a.py'), { mtimeMs: 2, size: 2 });
    });
});

describe('search: the index, hash -> vector cache', () => {
    const dims = 16;

    it('asks for each new hash once, and for nothing once it has a vector', () => {
        const index = createSearchIndex(identity(dims));
        const a = windows('a.ts', 'one\ntwo\nthree\nfour\nfive\nsix\nseven', 3);
        const todo = index.setFile('a.ts', STAMP, a);
        assert.deepEqual(todo.map((c) => c.startLine), [1, 4, 7]);
        embedAll(index, todo, clusteredVectors(1, dims, 2));
        assert.deepEqual(index.setFile('a.ts', STAMP, a), []);
        assert.equal(index.stats().chunksWithVectors, 3);
    });

    it('an edit re-embeds exactly its changed chunks, even when lines move', () => {
        const index = createSearchIndex(identity(dims));
        const text = Array.from({ length: 12 }, (_, i) => `line ${i}`).join('\n');
        const before = windows('a.ts', text, 3);
        embedAll(index, index.setFile('a.ts', STAMP, before), clusteredVectors(1, dims, 2));
        // Edit the second window; then insert a line at the top, which moves every window.
        const edited = before.map((c, i) => (i === 1 ? chunk('a.ts', c.startLine, c.endLine, 'line 3 changed\nline 4\nline 5') : c));
        assert.deepEqual(index.setFile('a.ts', STAMP, edited).map((c) => c.text), ['line 3 changed\nline 4\nline 5']);
        const moved = edited.map((c) => chunk('a.ts', c.startLine + 1, c.endLine + 1, c.text));
        assert.deepEqual(index.setFile('a.ts', STAMP, moved).map((c) => c.text), ['line 3 changed\nline 4\nline 5'], 'the changed chunk still has no vector; nothing else is asked for');
        assert.deepEqual(index.chunksOf('a.ts').map((c) => c.startLine), [2, 5, 8, 11]);
        assert.equal(index.stats().deadChunks, 1, 'only the edited chunk left a tombstone');
    });

    it('equal texts in two files share one vector', () => {
        const index = createSearchIndex(identity(dims));
        const same = 'export const VERSION = 3;';
        assert.equal(index.setFile('a.ts', STAMP, [chunk('a.ts', 1, 1, same)]).length, 1);
        assert.equal(index.setFile('b.ts', STAMP, [chunk('b.ts', 1, 1, same)]).length, 1, 'not embedded yet: asked again');
        embedAll(index, [chunk('a.ts', 1, 1, same)], clusteredVectors(1, dims, 2));
        assert.equal(index.stats().vectors, 1);
        assert.equal(index.stats().chunksWithVectors, 2);
        assert.deepEqual(index.setFile('c.ts', STAMP, [chunk('c.ts', 1, 1, same)]), []);
    });

    it('a file deleted and re-created (rename, branch switch) embeds nothing until compaction drops its rows', () => {
        const index = createSearchIndex(identity(dims));
        const a = windows('a.ts', 'alpha\nbeta\ngamma\ndelta', 2);
        embedAll(index, index.setFile('a.ts', STAMP, a), clusteredVectors(1, dims, 2));
        index.removeFile('a.ts');
        const renamed = a.map((c) => chunk('b.ts', c.startLine, c.endLine, c.text));
        assert.deepEqual(index.setFile('b.ts', STAMP, renamed), [], 'a rename');
        index.removeFile('b.ts');
        assert.deepEqual(index.setFile('a.ts', STAMP, a), [], 'a branch switch back');
        index.removeFile('a.ts');
        assert.equal(index.compact(true), true);
        assert.equal(index.stats().vectors, 0);
        assert.equal(index.setFile('a.ts', STAMP, a).length, 2);
    });

    it('ignores vectors for unknown hashes and returns refused ones', () => {
        const index = createSearchIndex(identity(3));
        const c = chunk('a.ts', 1, 1, 'x');
        index.setFile('a.ts', STAMP, [c]);
        assert.deepEqual(index.addVectors([{ hash: 'unknown', vector: [1, 2, 3] }]), []);
        assert.deepEqual(index.addVectors([{ hash: c.hash, vector: [1, 2] }, { hash: c.hash, vector: [0, 0, 0] }]), [
            { hash: c.hash, problem: 'dims' },
            { hash: c.hash, problem: 'zero' },
        ]);
        assert.equal(index.hasVector(c.hash), false);
    });
});

describe('search: the index, vector channel', () => {
    const dims = 24;

    function indexed(): { index: SearchIndex; vectors: Map<string, Float32Array>; chunks: ChunkInput[] } {
        const index = createSearchIndex(identity(dims));
        const next = clusteredVectors(4, dims, 6);
        const vectors = new Map<string, Float32Array>();
        const chunks: ChunkInput[] = [];
        for (let f = 0; f < 20; f++) {
            const cs = Array.from({ length: 5 }, (_, i) => chunk(`f${f}.ts`, i * 10 + 1, i * 10 + 9, `file ${f} part ${i}`));
            chunks.push(...cs);
            embedAll(index, index.setFile(`f${f}.ts`, STAMP, cs), next, vectors);
        }
        return { index, vectors, chunks };
    }

    it('finds the nearest chunks by cosine similarity, only those with vectors', () => {
        const { index, vectors, chunks } = indexed();
        const target = chunks[37];
        const hits = index.searchVector(vectors.get(target.hash) as Float32Array, 3);
        assert.equal(hits[0].chunk.file, target.file);
        assert.equal(hits[0].chunk.startLine, target.startLine);
        assert.ok(hits[0].score > 0.99);
        index.setFile('new.ts', STAMP, [chunk('new.ts', 1, 1, 'no vector yet')]);
        assert.ok(index.searchVector(vectors.get(target.hash) as Float32Array, 200).every((h) => h.chunk.file !== 'new.ts'));
    });

    it('`replace` ranks a chunk by another vector (its text without the docstring)', () => {
        const { index, vectors, chunks } = indexed();
        const q = vectors.get(chunks[10].hash) as Float32Array;
        const far = Float32Array.from(q, (x) => -x);
        const hits = index.searchVector(q, 5, { replace: { chunk: chunks[10], vector: far } });
        assert.ok(hits.every((h) => !(h.chunk.file === chunks[10].file && h.chunk.startLine === chunks[10].startLine)));
        const near = index.searchVector(far, 1, { replace: { chunk: chunks[10], vector: far } });
        assert.equal(near[0].chunk.file, chunks[10].file);
        assert.ok(near[0].score > 0.99);
    });

    it('a query vector of another model (other dims) is a RangeError', () => {
        const { index } = indexed();
        assert.throws(() => index.searchVector(new Float32Array(dims + 1), 5), RangeError);
        assert.deepEqual(index.searchVector(new Float32Array(dims), 5), [], 'a zero vector matches nothing');
    });
});

describe('search: the index, tombstones and compaction', () => {
    const dims = 16;
    const text = (f: number, edit: number): string => Array.from({ length: 20 }, (_, i) => `function f${f}_${i}_v${i === 0 ? edit : 0}() { return call${i}(); }`).join('\n');

    it('stays bounded over repeated reindexing of the same files, and keeps answering', () => {
        const index = createSearchIndex(identity(dims));
        const next = clusteredVectors(9, dims, 4);
        const vectors = new Map<string, Float32Array>();
        const sizes: Array<{ rows: number; memory: number; vectors: number; terms: number }> = [];
        for (let round = 0; round < 12; round++) {
            for (let f = 0; f < 30; f++) {
                const name = `src/f${f}.ts`;
                // Every round: the file deleted and re-created (a branch switch), and one chunk edited.
                index.removeFile(name);
                embedAll(index, index.setFile(name, STAMP, windows(name, text(f, round), 4)), next, vectors);
            }
            index.compact();
            const s = index.stats();
            const snap = index.snapshot();
            sizes.push({ rows: s.chunks + s.deadChunks, memory: s.memoryBytes, vectors: s.vectors, terms: snap.terms.length });
            assert.equal(s.chunks, 150);
            assert.deepEqual(files(index.searchLexical(`f7_0_v${round}`, 1)), ['src/f7.ts:1']);
        }
        const first = sizes[0];
        for (const s of sizes) {
            assert.ok(s.rows <= 150 / (1 - 0.25) + 1, `rows ${s.rows}`);
            assert.ok(s.vectors <= 150 / (1 - 0.25) + 1, `vectors ${s.vectors}`);
            assert.ok(s.terms <= first.terms * 1.5, `terms ${s.terms} vs ${first.terms}`);
        }
        assert.ok(sizes[11].memory <= sizes[0].memory * 1.5, `memory ${sizes[11].memory} vs ${sizes[0].memory}`);
    });

    it('compacts only when dead rows are a large share, always when forced', () => {
        const index = createSearchIndex(identity(dims));
        for (let f = 0; f < 10; f++) index.setFile(`f${f}.ts`, STAMP, [chunk(`f${f}.ts`, 1, 1, `text ${f}`)]);
        index.removeFile('f0.ts');
        assert.equal(index.compact(), false, '1 dead row of 10');
        assert.equal(index.stats().deadChunks, 1);
        assert.equal(index.compact(true), true);
        assert.equal(index.stats().deadChunks, 0);
        for (let f = 1; f < 5; f++) index.removeFile(`f${f}.ts`);
        assert.equal(index.compact(), true, '4 dead rows of 9');
        assert.deepEqual([...index.files()].sort(), ['f5.ts', 'f6.ts', 'f7.ts', 'f8.ts', 'f9.ts']);
        assert.deepEqual(files(index.searchLexical('text', 10)).sort(), ['f5.ts:1', 'f6.ts:1', 'f7.ts:1', 'f8.ts:1', 'f9.ts:1']);
    });

    it('a snapshot restores an index that answers the same', () => {
        const index = createSearchIndex(identity(dims));
        const next = clusteredVectors(6, dims, 3);
        for (let f = 0; f < 40; f++) embedAll(index, index.setFile(`dir${f % 3}/f${f}.ts`, { mtimeMs: f, size: f * 10 }, windows(`dir${f % 3}/f${f}.ts`, text(f, 0), 5)), next);
        index.removeFile('dir1/f4.ts');
        const copy = restoreSearchIndex(index.snapshot());
        for (const q of ['call3', 'dir2 f11', 'function return']) assert.deepEqual(copy.searchLexical(q, 20), index.searchLexical(q, 20));
        const qv = next();
        assert.deepEqual(copy.searchVector(qv, 10), index.searchVector(qv, 10));
        assert.deepEqual({ ...copy.stats(), memoryBytes: 0 }, { ...index.stats(), memoryBytes: 0 }, 'the same but for spare capacity');
        assert.deepEqual(copy.stamp('dir0/f3.ts'), { mtimeMs: 3, size: 30 });
        assert.deepEqual([...copy.files()], [...index.files()]);
    });
});
