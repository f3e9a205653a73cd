/**
 * Faults in the search index on disk (src/core/search/store.ts), on real temporary folders:
 *   - a save killed with SIGKILL at many points (a child process that kills itself: nothing of
 *     the store runs after it, as when the extension host is killed);
 *   - a save on a disk that fills part-way (an injected fs whose writes stop after N bytes with
 *     ENOSPC), through the store and through the running indexer;
 *   - a corrupt, truncated or missing index file, found by the real indexer at start: set aside
 *     byte for byte, rebuilt with a message, searchable again, never a crash.
 * "Still serving" means the loaded index answers queries by words and by vectors with the content
 * of one whole version ("old" or "new"), never a mix.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIndexStore, MANIFEST, type IndexLoad } from '../../src/core/search/store';
import type { InMemorySearchIndex } from '../../src/core/search/index/index';
import { fsError } from './support/filesFaults';
import { indexDir, search, settle, startHarness, type Harness } from './support/filesHarness';
import { buildIndex, IDENTITY, storeFs, vectorOf, versionOf } from './support/filesIndex';

const WRITER = join(__dirname, 'support', 'filesIndexWriter.ts');

/** Runs the writer child to its end; resolves with how it ended. The cap only catches a hang. */
function runWriter(dir: string, point: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--require', 'tsx/cjs', WRITER, dir, point], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const cap = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`the writer (${point}) did not end`));
        }, 90_000);
        child.on('error', reject);
        child.on('exit', (code, signal) => {
            clearTimeout(cap);
            resolve({ code, signal, stderr });
        });
    });
}

function loaded(r: IndexLoad): InMemorySearchIndex {
    assert.equal(r.kind, 'loaded', `the index loads: ${JSON.stringify(r)}`);
    return (r as Extract<IndexLoad, { kind: 'loaded' }>).index;
}

/** The index answers by words and by vectors, with `version`'s content. */
function assertServes(index: InMemorySearchIndex, version: 'old' | 'new'): void {
    assert.equal(versionOf(index), version);
    const word = index.searchLexical(`${version}marker3x2`, 3);
    assert.equal(index.chunksOf(`src/${version}/file3.ts`).length, 6);
    assert.ok(word.length > 0, 'found by words');
    const text = `export function ${version}marker3x2(request: Request) {\n    return ${version}marker route 3 2;\n}`;
    const nearest = index.searchVector(vectorOf(text), 1);
    assert.equal(nearest[0]?.chunk.file, `src/${version}/file3.ts`, 'found by its vector');
    assert.equal(nearest[0]?.chunk.startLine, 7);
}

describe('faults: the search index on disk', function () {
    this.timeout(120_000);
    let root: string;
    beforeEach(async () => {
        root = await fsp.mkdtemp(join(tmpdir(), 'zeta-index-faults-'));
    });
    afterEach(async () => {
        await fsp.rm(root, { recursive: true, force: true });
    });

    describe('a save killed (SIGKILL, a child process) at any point leaves a loadable index', () => {
        let total = 0;
        before(async () => {
            // The bytes one save of the "new" index writes, measured by saving it once.
            const dir = await fsp.mkdtemp(join(tmpdir(), 'zeta-index-size-'));
            const fs = storeFs();
            await createIndexStore(dir, IDENTITY, fs).save(buildIndex('new'));
            total = fs.written;
            await fsp.rm(dir, { recursive: true, force: true });
            assert.ok(total > 10_000, `a save writes ${total} bytes`);
        });

        const points: Array<[string, (total: number) => string, 'old' | 'new']> = [
            ['after the first byte', () => 'bytes:1', 'old'],
            ['in the middle of the first part', () => 'bytes:700', 'old'],
            ['a quarter through', (t) => `bytes:${Math.floor(t / 4)}`, 'old'],
            ['half way', (t) => `bytes:${Math.floor(t / 2)}`, 'old'],
            ['three quarters through', (t) => `bytes:${Math.floor((3 * t) / 4)}`, 'old'],
            ['in the temporary manifest', (t) => `bytes:${t - 40}`, 'old'],
            ['before the manifest\'s rename', () => 'beforeRename', 'old'],
            ['right after the manifest\'s rename', () => 'afterRename', 'new'],
            ['while deleting the old generation', () => 'cleanup', 'new'],
        ];
        for (const [name, point, expected] of points) {
            it(`killed ${name}: the ${expected} index loads and answers; the next save cleans up`, async () => {
                const dir = join(root, 'index');
                await createIndexStore(dir, IDENTITY, storeFs()).save(buildIndex('old'));
                const r = await runWriter(dir, point(total));
                assert.equal(r.signal, 'SIGKILL', `the writer was killed at ${point(total)} (exit ${r.code}): ${r.stderr}`);
                const index = loaded(await createIndexStore(dir, IDENTITY, storeFs()).load());
                assertServes(index, expected);

                // The process that comes next saves over whatever the killed one left.
                index.removeFile(`src/${expected}/file0.ts`);
                await createIndexStore(dir, IDENTITY, storeFs()).save(index);
                const names = (await fsp.readdir(dir)).sort();
                assert.equal(names.length, 4, `one generation and its manifest: ${names.join(', ')}`);
                assert.ok(names.includes(MANIFEST));
                const again = loaded(await createIndexStore(dir, IDENTITY, storeFs()).load());
                assertServes(again, expected);
                assert.equal(again.chunksOf(`src/${expected}/file0.ts`).length, 0);
            });
        }

        it('not killed: the writer completes and the new index loads (the harness itself works)', async () => {
            const dir = join(root, 'index');
            await createIndexStore(dir, IDENTITY, storeFs()).save(buildIndex('old'));
            const r = await runWriter(dir, 'none');
            assert.equal(r.code, 0, r.stderr);
            assertServes(loaded(await createIndexStore(dir, IDENTITY, storeFs()).load()), 'new');
        });
    });

    describe('a disk that fills during a save (injected ENOSPC after N bytes)', () => {
        for (const fraction of [0, 0.1, 0.5, 0.9, 0.999]) {
            it(`full after ${fraction * 100}% of the save: the save rejects with ENOSPC, the old index loads, nothing of the failed save is left`, async () => {
                const dir = join(root, 'index');
                await createIndexStore(dir, IDENTITY, storeFs()).save(buildIndex('old'));
                const before = (await fsp.readdir(dir)).sort();
                const probe = storeFs();
                await createIndexStore(join(root, 'probe'), IDENTITY, probe).save(buildIndex('new'));
                const limit = Math.floor(probe.written * fraction);
                const full = storeFs({
                    beforeWrite: (path, written, n) => {
                        if (written + n > limit) {
                            if (written < limit) return limit - written;
                            throw fsError('ENOSPC', 'write', path);
                        }
                        return n;
                    },
                });
                await assert.rejects(createIndexStore(dir, IDENTITY, full).save(buildIndex('new')), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
                assert.deepEqual((await fsp.readdir(dir)).sort(), before, 'the failed save deleted what it wrote');
                assertServes(loaded(await createIndexStore(dir, IDENTITY, storeFs()).load()), 'old');
                await createIndexStore(dir, IDENTITY, storeFs()).save(buildIndex('new'));
                assertServes(loaded(await createIndexStore(dir, IDENTITY, storeFs()).load()), 'new');
            });
        }
    });

    describe('the running indexer', () => {
        async function workspace(): Promise<string> {
            const ws = join(root, 'ws');
            await fsp.mkdir(join(ws, 'src'), { recursive: true });
            for (let i = 0; i < 6; i++) await fsp.writeFile(join(ws, 'src', `mod${i}.ts`), `// module ${i}\nexport function computeThing${i}(x: number): number {\n    return x * ${i} + ${i};\n}\n`);
            await fsp.writeFile(join(ws, 'README.md'), '# Faults\n\nThe zebrafish workspace.\n');
            return ws;
        }

        async function indexed(storage: string, ws: string): Promise<Harness> {
            const h = await startHarness({ root: ws, storage });
            h.indexer.start();
            await settle(h);
            return h;
        }

        it('a disk that fills while it saves: one warning with what to do, the previous index stays on disk, search goes on, and it saves once there is room', async () => {
            const ws = await workspace();
            const storage = join(root, 'storage');
            const first = await indexed(storage, ws);
            await first.dispose();

            let full = true;
            const fs = () => storeFs({ beforeWrite: (path, written, n) => (full && written + n > 300 ? (written < 300 ? 300 - written : Promise.reject(fsError('ENOSPC', 'write', path))) : n) });
            const h = await startHarness({ root: ws, storage, storeFs: fs });
            h.indexer.start();
            await settle(h);
            const dir = indexDir(storage, h.indexer.index!.identity);
            const onDisk = (await fsp.readdir(dir)).sort();
            for (let i = 0; i < 3; i++) {
                await fsp.writeFile(join(ws, 'src', `new${i}.ts`), `export function freshlyAdded${i}() { return ${i}; }\n`);
                h.indexer.changed(`src/new${i}.ts`);
                await settle(h);
                assert.deepEqual((await fsp.readdir(dir)).sort(), onDisk, 'nothing of the failed saves is left on disk');
            }
            const warned = h.logs.filter((l) => l.level === 'warn' && l.message.startsWith('search index: could not save'));
            assert.equal(warned.length, 1, `once: ${h.logs.map((l) => l.message).join('\n')}`);
            assert.match(warned[0].message, /ENOSPC.*the disk is full: free some space.*the previous one/);
            const r = await search(h, 'freshlyAdded2');
            assert.equal(r.results[0]?.chunk.file, 'src/new2.ts', 'search goes on from memory');
            const stored = loaded(await createIndexStore(dir, h.indexer.index!.identity, storeFs()).load());
            assert.equal(stored.chunksOf('src/mod3.ts').length > 0, true, 'the previous index is on disk');
            assert.equal(stored.chunksOf('src/new2.ts').length, 0);

            full = false;
            await fsp.writeFile(join(ws, 'src', 'after.ts'), 'export function roomAgain() {}\n');
            h.indexer.changed('src/after.ts');
            await settle(h);
            assert.ok(h.logs.some((l) => l.level === 'info' && /^search index: saved again after \d+ failed saves?$/.test(l.message)), h.logs.map((l) => l.message).join('\n'));
            await h.dispose();
            const saved = loaded(await createIndexStore(dir, stored.identity, storeFs()).load());
            assert.ok(saved.chunksOf('src/new2.ts').length > 0 && saved.chunksOf('src/after.ts').length > 0, 'saved once there was room');
        });

        const damage: Array<[string, RegExp, (dir: string) => Promise<void>]> = [
            ['a flipped byte in the vectors part', /corrupt: vectors\.\d+\.bin: checksum mismatch/, async (dir) => {
                const f = join(dir, (await fsp.readdir(dir)).find((n) => n.startsWith('vectors.'))!);
                const b = await fsp.readFile(f);
                b[b.length >> 1] ^= 0xff;
                await fsp.writeFile(f, b);
            }],
            ['the meta part truncated to half', /truncated: meta\.\d+\.bin has \d+ of its \d+ bytes/, async (dir) => {
                const f = join(dir, (await fsp.readdir(dir)).find((n) => n.startsWith('meta.'))!);
                await fsp.truncate(f, (await fsp.stat(f)).size >> 1);
            }],
            ['the lexical part missing', /truncated: lexical\.\d+\.bin is missing/, async (dir) => {
                await fsp.unlink(join(dir, (await fsp.readdir(dir)).find((n) => n.startsWith('lexical.'))!));
            }],
            ['a manifest of garbage bytes', /corrupt: manifest\.json is not JSON/, async (dir) => {
                await fsp.writeFile(join(dir, MANIFEST), Uint8Array.from({ length: 600 }, (_, i) => (i * 97) & 0xff));
            }],
            ['an empty manifest', /corrupt: manifest\.json is not JSON/, async (dir) => {
                await fsp.writeFile(join(dir, MANIFEST), '');
            }],
            ['a manifest cut in half', /corrupt: manifest\.json is not JSON/, async (dir) => {
                const text = await fsp.readFile(join(dir, MANIFEST), 'utf8');
                await fsp.writeFile(join(dir, MANIFEST), text.slice(0, text.length >> 1));
            }],
            ['a part replaced by another file of the same size', /corrupt: meta\.\d+\.bin: checksum mismatch/, async (dir) => {
                const f = join(dir, (await fsp.readdir(dir)).find((n) => n.startsWith('meta.'))!);
                await fsp.writeFile(f, Buffer.alloc((await fsp.stat(f)).size, 0x41));
            }],
        ];
        for (const [name, reason, harm] of damage) {
            it(`at start, ${name}: detected, set aside byte for byte, rebuilt with a message, searchable again`, async () => {
                const ws = await workspace();
                const storage = join(root, 'storage');
                const first = await indexed(storage, ws);
                const dir = indexDir(storage, first.indexer.index!.identity);
                await first.dispose();
                await harm(dir);
                const harmed = new Map<string, Buffer>();
                for (const n of await fsp.readdir(dir)) harmed.set(n, await fsp.readFile(join(dir, n)));

                const h = await indexed(storage, ws);
                assert.equal(h.rebuilds.length, 1, 'the editor is told once (onRebuild shows the message)');
                assert.match(h.rebuilds[0], reason);
                assert.match(h.rebuilds[0], /set aside at .*\.corrupt/);
                assert.ok(h.logs.some((l) => l.level === 'warn' && l.message.includes('rebuilding it')));
                assert.equal(h.indexer.progress().state, 'idle');
                const r = await search(h, 'computeThing4');
                assert.equal(r.results[0]?.chunk.file, 'src/mod4.ts', 'rebuilt and searchable');
                assert.equal(h.indexer.progress().chunksWithVectors, h.indexer.progress().chunks, 'embedded again');
                await h.dispose();
                for (const [n, bytes] of harmed) assert.deepEqual(await fsp.readFile(join(`${dir}.corrupt`, n)), bytes, `${n} was kept as it was`);
                loaded(await createIndexStore(dir, h.indexer.index!.identity, storeFs()).load());
            });
        }
    });
});
