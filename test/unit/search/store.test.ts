import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { promises as nodeFs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSearchIndex, type InMemorySearchIndex } from '../../../src/core/search/index';
import { createIndexStore, identityKey, MANIFEST, type IndexLoad } from '../../../src/core/search/store';
import type { EmbedderIdentity } from '../../../src/core/search/types';
import { clusteredVectors, identity, windows } from './indexFixtures';
import { Crash, MemoryFs } from './memoryFs';

const DIR = '/storage/search/abc';
const DIMS = 12;

/** An index of `n` files (one removed), every chunk embedded; `variant` changes every file's text. */
function build(n: number, variant = 0, id: EmbedderIdentity = identity(DIMS)): InMemorySearchIndex {
    const index = createSearchIndex(id);
    const next = clusteredVectors(variant + 1, id.dims, 3);
    for (let f = 0; f < n; f++) {
        const file = `src/mod${f % 4}/file${f}.ts`;
        const text = Array.from({ length: 12 }, (_, i) => `export function handle${f}_${i}_${variant}(request) { return route${i}(request); }`).join('\n');
        const todo = index.setFile(file, { mtimeMs: 1000 + f, size: text.length }, windows(file, text, 4));
        index.addVectors(todo.map((c) => ({ hash: c.hash, vector: next() })));
    }
    index.removeFile('src/mod1/file1.ts');
    return index;
}

/** What two indexes must agree on to be "the same index". */
function fingerprint(index: InMemorySearchIndex): unknown {
    const q = clusteredVectors(99, index.identity.dims, 3)();
    return {
        files: [...index.files()],
        stamps: [...index.files()].map((f) => index.stamp(f)),
        chunks: [...index.files()].map((f) => index.chunksOf(f)),
        lexical: index.searchLexical('handle route request', 15),
        vector: index.searchVector(q, 15),
        stats: { ...index.stats(), memoryBytes: 0 },
    };
}

function loaded(r: IndexLoad): InMemorySearchIndex {
    assert.equal(r.kind, 'loaded', JSON.stringify(r));
    return (r as Extract<IndexLoad, { kind: 'loaded' }>).index;
}

function setAside(r: IndexLoad): Extract<IndexLoad, { kind: 'setAside' }> {
    assert.equal(r.kind, 'setAside', JSON.stringify(r));
    return r as Extract<IndexLoad, { kind: 'setAside' }>;
}

/** Rewrites the manifest through `edit` (re-signed, so only what `edit` changes is wrong). */
function editManifest(fs: MemoryFs, edit: (body: Record<string, unknown>) => void): void {
    const outer = JSON.parse(new TextDecoder().decode(fs.files.get(`${DIR}/${MANIFEST}`))) as { body: Record<string, unknown> };
    edit(outer.body);
    const sha256 = createHash('sha256').update(JSON.stringify(outer.body)).digest('hex');
    fs.files.set(`${DIR}/${MANIFEST}`, new TextEncoder().encode(JSON.stringify({ body: outer.body, sha256 })));
}

function partFile(fs: MemoryFs, part: string): string {
    const name = fs.list(DIR).find((n) => n.startsWith(`${part}.`));
    assert.ok(name, `no ${part} part in ${fs.list(DIR).join(', ')}`);
    return `${DIR}/${name}`;
}

describe('search: the index store', () => {
    it('round trip: what is saved loads back as the same index', async () => {
        const fs = new MemoryFs();
        const index = build(20);
        const saved = await createIndexStore(DIR, index.identity, fs).save(index);
        assert.deepEqual(fs.list(DIR), ['lexical.1.bin', MANIFEST, 'meta.1.bin', 'vectors.1.bin']);
        const r = await createIndexStore(DIR, index.identity, fs.restart()).load();
        const back = loaded(r);
        assert.deepEqual(fingerprint(back), fingerprint(index));
        assert.equal(r.kind === 'loaded' && r.bytes, saved.bytes);
        // The loaded index goes on like the original.
        for (const x of [index, back]) x.setFile('new.ts', { mtimeMs: 1, size: 1 }, windows('new.ts', 'export const handleNew = route(request);'));
        assert.deepEqual(fingerprint(back), fingerprint(index));
    });

    it('on the real file system (node:fs/promises): round trip, then a damaged part set aside', async () => {
        const root = await nodeFs.mkdtemp(join(tmpdir(), 'zeta-store-'));
        try {
            const dir = join(root, 'search', identityKey(identity(DIMS)));
            const index = build(10);
            await createIndexStore(dir, index.identity, nodeFs).save(index);
            assert.deepEqual(fingerprint(loaded(await createIndexStore(dir, index.identity, nodeFs).load())), fingerprint(index));
            const vectors = (await nodeFs.readdir(dir)).find((n) => n.startsWith('vectors.')) as string;
            await nodeFs.truncate(join(dir, vectors), 40);
            const r = setAside(await createIndexStore(dir, index.identity, nodeFs).load());
            assert.equal(r.reason, 'truncated');
            assert.equal(r.movedTo, `${dir}.corrupt`);
            assert.ok((await nodeFs.readdir(`${dir}.corrupt`)).includes(vectors));
        } finally {
            await nodeFs.rm(root, { recursive: true, force: true });
        }
    });

    it('an empty or missing folder loads as empty', async () => {
        const fs = new MemoryFs();
        assert.deepEqual(await createIndexStore(DIR, identity(DIMS), fs).load(), { kind: 'empty' });
        await fs.mkdir(DIR);
        assert.deepEqual(await createIndexStore(DIR, identity(DIMS), fs).load(), { kind: 'empty' });
    });

    it('a save replaces the previous generation: one index on disk, of a bounded size, however often it is saved', async () => {
        const fs = new MemoryFs();
        const index = build(12);
        const store = createIndexStore(DIR, index.identity, fs);
        const first = await store.save(index);
        const next = clusteredVectors(5, DIMS, 3);
        for (let round = 1; round <= 10; round++) {
            // A full reindex: every file deleted and written again, then compacted, then saved.
            for (const f of [...index.files()]) {
                const chunks = windows(f, `export function handle_${f}_${round % 2}() { return route(request); }\n`.repeat(6), 4);
                index.removeFile(f);
                index.addVectors(index.setFile(f, { mtimeMs: round, size: 1 }, chunks).map((c) => ({ hash: c.hash, vector: next() })));
            }
            index.compact();
            const s = await store.save(index);
            assert.equal(s.generation, round + 1);
            assert.deepEqual(fs.list(DIR), [`lexical.${round + 1}.bin`, MANIFEST, `meta.${round + 1}.bin`, `vectors.${round + 1}.bin`]);
            assert.ok(s.bytes <= first.bytes * 1.1, `round ${round}: ${s.bytes} bytes vs ${first.bytes}`);
        }
        assert.deepEqual(fingerprint(loaded(await createIndexStore(DIR, index.identity, fs.restart()).load())), fingerprint(index));
    });

    for (const torn of [false, true]) {
        it(`a crash at every write step of a save (${torn ? 'the crashing write torn in half' : 'the step not done'}) leaves the previous index loadable`, async () => {
            const before = build(10, 0);
            const after = build(14, 1);
            const base = new MemoryFs();
            await createIndexStore(DIR, before.identity, base).save(before);
            const dry = base.restart();
            await createIndexStore(DIR, after.identity, dry).save(after);
            const steps = dry.steps;
            assert.ok(steps >= 6, `a save takes ${steps} write steps`);
            const expectBefore = fingerprint(before);
            const expectAfter = fingerprint(after);
            for (let n = 1; n <= steps; n++) {
                const fs = base.restart(n, torn);
                // A crash while deleting the old generation may go unnoticed: those deletions are best effort.
                await createIndexStore(DIR, after.identity, fs)
                    .save(after)
                    .then(
                        () => assert.ok(n > steps - 3, `a crash at step ${n} must fail the save`),
                        (e: unknown) => assert.ok(e instanceof Crash, String(e)),
                    );
                const restarted = fs.restart();
                const got = fingerprint(loaded(await createIndexStore(DIR, after.identity, restarted).load()));
                // Before the manifest's rename the old index is what loads; after it, the new one.
                assert.ok(
                    JSON.stringify(got) === JSON.stringify(expectBefore) || JSON.stringify(got) === JSON.stringify(expectAfter),
                    `crash at step ${n} of ${steps}: loaded neither the previous nor the new index`,
                );
                // The next save succeeds and leaves no leftovers.
                await createIndexStore(DIR, after.identity, restarted).save(after);
                assert.equal(restarted.list(DIR).length, 4, `after step ${n}: ${restarted.list(DIR).join(', ')}`);
                assert.deepEqual(fingerprint(loaded(await createIndexStore(DIR, after.identity, restarted.restart()).load())), expectAfter);
            }
        });
    }

    it('a crash during the first save ever leaves an empty folder or the whole index, never a broken one', async () => {
        const index = build(6);
        const dry = new MemoryFs();
        await createIndexStore(DIR, index.identity, dry).save(index);
        for (let n = 1; n <= dry.steps; n++) {
            const fs = new MemoryFs(n, true);
            await assert.rejects(createIndexStore(DIR, index.identity, fs).save(index), Crash);
            const r = await createIndexStore(DIR, index.identity, fs.restart()).load();
            assert.ok(r.kind === 'empty' || r.kind === 'loaded', `step ${n}: ${JSON.stringify(r)}`);
        }
    });

    describe('an unusable index is set aside (renamed, never deleted) with its reason', () => {
        async function saved(): Promise<MemoryFs> {
            const fs = new MemoryFs();
            await createIndexStore(DIR, identity(DIMS), fs).save(build(8));
            return fs.restart();
        }

        async function expectSetAside(fs: MemoryFs, reason: string, detail: RegExp, id = identity(DIMS)): Promise<void> {
            const names = fs.list(DIR);
            const r = setAside(await createIndexStore(DIR, id, fs).load());
            assert.equal(r.reason, reason);
            assert.match(r.detail, detail);
            assert.equal(r.movedTo, `${DIR}.corrupt`);
            assert.deepEqual(fs.list(`${DIR}.corrupt`), names, 'every file kept');
            assert.deepEqual(await createIndexStore(DIR, id, fs).load(), { kind: 'empty' }, 'the caller rebuilds into an empty folder');
        }

        it('corrupt: a flipped byte in a part (checksum)', async () => {
            const fs = await saved();
            const file = partFile(fs, 'vectors');
            const bytes = fs.files.get(file) as Uint8Array;
            bytes[bytes.length >> 1] ^= 0x40;
            await expectSetAside(fs, 'corrupt', /vectors\.1\.bin: checksum mismatch/);
        });

        it('corrupt: a manifest that is not JSON, or edited without its checksum', async () => {
            const fs = await saved();
            fs.files.set(`${DIR}/${MANIFEST}`, new TextEncoder().encode('{"body": {"format": "zeta-sea'));
            await expectSetAside(fs, 'corrupt', /not JSON/);
            const fs2 = await saved();
            const text = new TextDecoder().decode(fs2.files.get(`${DIR}/${MANIFEST}`)).replace('"generation": 1', '"generation": 2');
            fs2.files.set(`${DIR}/${MANIFEST}`, new TextEncoder().encode(text));
            await expectSetAside(fs2, 'corrupt', /checksum mismatch/);
        });

        it('corrupt: a part whose checksum matches but whose structure does not (ids out of range)', async () => {
            const fs = await saved();
            const file = partFile(fs, 'meta');
            const bytes = (fs.files.get(file) as Uint8Array).slice();
            // The first row's file id: after the header, the paths' two sections and three file columns.
            const u32 = new Uint32Array(bytes.buffer);
            let at = 16;
            const skip = (size: number): void => {
                const count = u32[at / 4 + 1];
                at += 8 + count * size + ((8 - ((count * size) % 8)) % 8);
            };
            for (const size of [4, 1, 8, 8, 1]) skip(size);
            u32[at / 4 + 2] = 1_000_000;
            fs.files.set(file, bytes);
            editManifest(fs, (body) => {
                (body.parts as Record<string, { sha256: string }>).meta.sha256 = createHash('sha256').update(bytes).digest('hex');
            });
            await expectSetAside(fs, 'corrupt', /row 0 refers out of range/);
        });

        it('truncated: a part cut short, or missing', async () => {
            const fs = await saved();
            const file = partFile(fs, 'lexical');
            fs.files.set(file, (fs.files.get(file) as Uint8Array).slice(0, 100));
            await expectSetAside(fs, 'truncated', /lexical\.1\.bin has 100 of its \d+ bytes/);
            const fs2 = await saved();
            fs2.files.delete(partFile(fs2, 'meta'));
            await expectSetAside(fs2, 'truncated', /meta\.1\.bin is missing/);
        });

        it("foreign: another embedder's index, or not a Zeta index at all", async () => {
            await expectSetAside(await saved(), 'foreign', /dims 12, expected 16/, identity(16));
            await expectSetAside(await saved(), 'foreign', /space "test-space", expected "other"/, identity(DIMS, { space: 'other' }));
            const fs = await saved();
            fs.files.set(`${DIR}/${MANIFEST}`, new TextEncoder().encode('{"name": "something else"}'));
            await expectSetAside(fs, 'foreign', /not a Zeta index manifest/);
        });

        it('version: a newer format', async () => {
            const fs = await saved();
            editManifest(fs, (body) => {
                body.version = 99;
            });
            await expectSetAside(fs, 'version', /format version 99/);
        });

        it('a second set-aside takes the next free name', async () => {
            const fs = await saved();
            fs.files.set(`${DIR}/${MANIFEST}`, new TextEncoder().encode('garbage'));
            setAside(await createIndexStore(DIR, identity(DIMS), fs).load());
            await createIndexStore(DIR, identity(DIMS), fs).save(build(3));
            fs.files.set(`${DIR}/${MANIFEST}`, new TextEncoder().encode('garbage'));
            assert.equal(setAside(await createIndexStore(DIR, identity(DIMS), fs).load()).movedTo, `${DIR}.corrupt.1`);
        });
    });

    it("refuses to save another embedder's index; identities differing in what decides vectors get different folders", async () => {
        const store = createIndexStore(DIR, identity(DIMS), new MemoryFs());
        await assert.rejects(store.save(build(2, 0, identity(DIMS, { pooling: 'cls' }))), /pooling "cls", expected "mean"/);
        assert.notEqual(identityKey(identity(DIMS)), identityKey(identity(DIMS, { documentPrefix: 'search_document: ' })));
        assert.equal(identityKey(identity(DIMS)), identityKey(identity(DIMS, { model: 'renamed display name' })));
    });
});
