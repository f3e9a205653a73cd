/**
 * Hostile workspace files for the real indexer on a real temporary folder (files.ts over
 * node:fs/promises, the chunker, the index, the store; embeddings from the project's fake
 * embedder behind the real router: the embedding is not what is tested here). Huge files, binary
 * files, invalid UTF-8, symlink loops, a FIFO and a link to /dev/zero (reading either would never
 * end), files that vanish mid-read, unreadable files, very deep folders and odd names.
 *
 * Every hostile file is left out with its reason, counted in the status the view shows, problems
 * logged; the rest of the workspace is indexed and searchable; nothing fails or hangs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workspaceFsFromNode, type WorkspaceFs } from '../../src/core/search/files';
import { statusText } from '../../src/core/search/status';
import { DEFAULT_WEIGHTS } from '../../src/core/search/calibrate';
import { fsError, permissionsIgnored } from './support/filesFaults';
import { search, settle, startHarness, type Harness } from './support/filesHarness';

const MB = 1024 * 1024;

/** Names a file system may hold that code often mishandles (each file defines `oddName<i>`). */
const ODD_NAMES = ['with space.ts', 'ünïcödé-日本語.ts', 'emoji-🙂.ts', 'new\nline.ts', 'back\\slash.ts', '#hash%20percent.ts', '-leading-dash.ts', 'quote\'"s.ts', 'glob[*?]{a,b}.ts', '.hidden.ts', 'trailing-dot..ts', ' leading-space.ts'];
const DEPTH = 400;
const DEEP = ['deep', ...Array.from({ length: DEPTH }, () => 'd')].join('/');

/** node's file system, with the faults these tests inject: a file deleted for real between the walk and the read, a file that lies (stat works, read says ENOENT), a read refused (EACCES). */
function hostileFs(root: string): WorkspaceFs & { statsOf: Map<string, number> } {
    const real = workspaceFsFromNode(fsp);
    const statsOf = new Map<string, number>();
    return {
        statsOf,
        readDirectory: (p, s) => real.readDirectory(p, s),
        realpath: (p, s) => real.realpath(p, s),
        async stat(p, s) {
            const n = (statsOf.get(p) ?? 0) + 1;
            statsOf.set(p, n);
            // The walk stats it first; the indexer's read stats it again: it is gone by then.
            if (p === `${root}/vanished-deleted.ts` && n === 2) await fsp.unlink(p);
            return real.stat(p, s);
        },
        async readFile(p, s) {
            if (p === `${root}/vanished-lied.ts`) throw fsError('ENOENT', 'open', p);
            if (p === `${root}/refused.ts`) throw fsError('EACCES', 'open', p);
            return real.readFile(p, s);
        },
    };
}

const fn = (name: string): string => `// ${name}\nexport function ${name}(input: string): string {\n    return input.trim();\n}\n`;

describe('faults: hostile workspace files, on the real indexer', function () {
    this.timeout(300_000);
    let root: string;
    let ws: string;
    let h: Harness;
    const expected = new Map<string, string>();

    before(async () => {
        root = await fsp.mkdtemp(join(tmpdir(), 'zeta-hostile-'));
        ws = join(root, 'ws');
        await fsp.mkdir(join(ws, 'src'), { recursive: true });
        for (let i = 0; i < 8; i++) await fsp.writeFile(join(ws, 'src', `good${i}.ts`), fn(`goodFunction${i}`));
        for (const [i, name] of ODD_NAMES.entries()) await fsp.writeFile(join(ws, name), fn(`oddName${i}`));
        await fsp.mkdir(join(ws, DEEP), { recursive: true });
        await fsp.writeFile(join(ws, DEEP, 'leaf.ts'), fn('deepestLeaf'));

        // Huge: 50 MB of text lines, and 10 MB on one line (both over maxFileKB 512: left out by their size, unread).
        await fsp.writeFile(join(ws, 'huge.log'), Buffer.alloc(50 * MB, 'a line of a huge log file 0123456789\n'));
        expected.set('huge.log', 'tooLarge');
        await fsp.writeFile(join(ws, 'oneline.js'), Buffer.alloc(10 * MB, 'x=1;'));
        expected.set('oneline.js', 'tooLarge');
        // Binary by content, by extension, and by content without an extension.
        await fsp.writeFile(join(ws, 'nul.ts'), Buffer.concat([Buffer.from(fn('nulFunction')), Buffer.from([0, 1, 2]), Buffer.from(fn('afterNul'))]));
        expected.set('nul.ts', 'binary');
        const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
        await fsp.writeFile(join(ws, 'image.png'), png);
        expected.set('image.png', 'binary');
        await fsp.writeFile(join(ws, 'picture'), png);
        expected.set('picture', 'binary');
        await fsp.writeFile(join(ws, 'model.gguf'), Buffer.concat([Buffer.from('GGUF'), Buffer.from(Uint32Array.of(3, 0, 0, 0, 0).buffer)]));
        expected.set('model.gguf', 'binary');
        // Invalid UTF-8: Latin-1 text, and a lone continuation byte in otherwise fine code.
        await fsp.writeFile(join(ws, 'latin1.ts'), Buffer.from('// caf\xe9 cr\xe8me\nexport const dessert = 1;\n', 'latin1'));
        expected.set('latin1.ts', 'invalidUtf8');
        await fsp.writeFile(join(ws, 'stray.ts'), Buffer.concat([Buffer.from(fn('strayByte')), Buffer.from([0x80]), Buffer.from('\n')]));
        expected.set('stray.ts', 'invalidUtf8');
        // Symlink loops: a -> b -> a, a folder linked into itself, a link to its parent.
        await fsp.symlink('loopB', join(ws, 'loopA'));
        await fsp.symlink('loopA', join(ws, 'loopB'));
        expected.set('loopA', 'symlinkLoop');
        expected.set('loopB', 'symlinkLoop');
        await fsp.symlink('.', join(ws, 'self'));
        expected.set('self', 'symlinkLoop');
        await fsp.symlink('..', join(ws, 'src', 'up'));
        expected.set('src/up', 'symlinkLoop');
        await fsp.symlink('does-not-exist.ts', join(ws, 'dangling.ts'));
        expected.set('dangling.ts', 'vanished');
        // Files whose reading never ends: a FIFO nobody writes to, and a link to /dev/zero.
        execFileSync('mkfifo', [join(ws, 'pipe.ts')]);
        expected.set('pipe.ts', 'notAFile');
        if (existsSync('/dev/zero')) {
            await fsp.symlink('/dev/zero', join(ws, 'zeros.ts'));
            expected.set('zeros.ts', 'notAFile');
        }
        // A name that is not UTF-8 (Linux allows any bytes but "/" and NUL).
        await fsp.writeFile(Buffer.concat([Buffer.from(`${ws}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.ts')]), fn('badNameFunction'));
        expected.set('bad-\uFFFD\uFFFD.ts', 'unreadable');
        // Vanishing and refused reads (injected by hostileFs).
        await fsp.writeFile(join(ws, 'vanished-deleted.ts'), fn('deletedMidRead'));
        expected.set('vanished-deleted.ts', 'vanished');
        await fsp.writeFile(join(ws, 'vanished-lied.ts'), fn('liedMidRead'));
        expected.set('vanished-lied.ts', 'vanished');
        await fsp.writeFile(join(ws, 'refused.ts'), fn('refusedRead'));
        expected.set('refused.ts', 'unreadable');

        h = await startHarness({ root: ws, storage: join(root, 'storage'), workspaceFs: hostileFs(ws) });
        h.indexer.start();
        await settle(h);
    });

    after(async () => {
        await h?.dispose();
        await fsp.rm(root, { recursive: true, force: true });
    });

    it('indexing ends idle, not failed, with no error logged', () => {
        const p = h.indexer.progress();
        assert.equal(p.state, 'idle', JSON.stringify(p));
        assert.deepEqual(h.logs.filter((l) => l.level === 'error'), []);
    });

    it('every hostile file is left out with its reason', () => {
        const got = new Map(h.skipped.map(({ file, skip }) => [file, skip.reason]));
        for (const [file, reason] of expected) assert.equal(got.get(file), reason, `${JSON.stringify(file)}: ${JSON.stringify(h.skipped.find((s) => s.file === file)?.skip)}`);
        const index = h.indexer.index!;
        for (const file of expected.keys()) assert.equal(index.chunksOf(file).length, 0, `${JSON.stringify(file)} is not in the index`);
    });

    it('the status counts them by reason, in words', () => {
        const p = h.indexer.progress();
        const want: Record<string, number> = {};
        for (const r of expected.values()) want[r] = (want[r] ?? 0) + 1;
        assert.deepEqual(p.skipped?.byReason, want);
        const summary = statusText(p, DEFAULT_WEIGHTS, false).summary;
        assert.match(summary, new RegExp(`; ${expected.size} files left out: `));
        assert.match(summary, new RegExp(`${want.binary} binary`));
        assert.match(summary, /2 over zeta\.search\.maxFileKB/);
        assert.match(summary, new RegExp(`${want.symlinkLoop} symlink loops`));
        assert.match(summary, /2 unreadable \(see the log\)/);
    });

    it('problems (unreadable, symlink loops) are logged, each with what happened', () => {
        const warned = h.logs.filter((l) => l.level === 'warn').map((l) => l.message);
        for (const [file, reason] of expected) {
            if (reason !== 'unreadable' && reason !== 'symlinkLoop') continue;
            assert.ok(warned.some((w) => w.startsWith(`search index: skipped ${file}: `)), `${JSON.stringify(file)} in ${warned.join('\n')}`);
        }
        assert.ok(warned.some((w) => w.includes('bad-') && w.includes('not valid UTF-8')), 'a name that is not UTF-8 says so, not "vanished"');
    });

    it('the rest of the workspace is indexed and searchable, odd names and the deepest folder included', async () => {
        const index = h.indexer.index!;
        for (let i = 0; i < 8; i++) assert.ok(index.chunksOf(`src/good${i}.ts`).length > 0, `src/good${i}.ts`);
        for (const name of ODD_NAMES) assert.ok(index.chunksOf(name).length > 0, JSON.stringify(name));
        assert.ok(index.chunksOf(`${DEEP}/leaf.ts`).length > 0, 'a file 400 folders deep');
        const p = h.indexer.progress();
        assert.equal(p.files, 8 + ODD_NAMES.length + 1);
        assert.equal(p.chunksWithVectors, p.chunks, 'every indexed chunk was embedded');
        for (const [query, file] of [['goodFunction5', 'src/good5.ts'], ['oddName3', ODD_NAMES[3]], ['oddName7', ODD_NAMES[7]], ['deepestLeaf', `${DEEP}/leaf.ts`]] as const) {
            const r = await search(h, query);
            assert.equal(r.results[0]?.chunk.file, file, `${query}: ${JSON.stringify(r.results.map((x) => x.chunk.file))}`);
            assert.ok(r.results[0].snippet.length > 0, 'its lines are read back for the snippet');
        }
    });

    it('a file indexed once and then deleted between the walk and the read leaves the index', async () => {
        await fsp.writeFile(join(ws, 'comesAndGoes.ts'), fn('comesAndGoes'));
        h.indexer.changed('comesAndGoes.ts');
        await settle(h);
        assert.ok(h.indexer.index!.chunksOf('comesAndGoes.ts').length > 0);
        await fsp.unlink(join(ws, 'comesAndGoes.ts'));
        h.indexer.changed('comesAndGoes.ts'); // a change event whose file is gone when read
        await settle(h);
        assert.equal(h.indexer.index!.chunksOf('comesAndGoes.ts').length, 0);
        assert.ok(!(await search(h, 'comesAndGoes')).results.some((r) => r.chunk.file === 'comesAndGoes.ts'));
        assert.equal(h.indexer.progress().state, 'idle');
    });
});

describe('faults: hostile workspace files, one at a time', function () {
    this.timeout(120_000);
    let root: string;
    beforeEach(async () => {
        root = await fsp.mkdtemp(join(tmpdir(), 'zeta-hostile-one-'));
        await fsp.mkdir(join(root, 'ws'));
    });
    afterEach(async () => {
        await fsp.chmod(join(root, 'ws', 'secret.ts'), 0o600).catch(() => undefined);
        await fsp.rm(root, { recursive: true, force: true });
    });

    it('with a large maxFileKB, a 10 MB single line is read and left out as minified; one long line among short ones is indexed', async () => {
        const ws = join(root, 'ws');
        await fsp.writeFile(join(ws, 'bundle.js'), Buffer.alloc(10 * MB, 'var a=1;'));
        const lines = Array.from({ length: 1000 }, (_, i) => `const value${i} = ${i};`);
        lines[500] = `const blob = "${'q'.repeat(300_000)}";`;
        lines[20] = 'export function findMeNearTheLongLine() { return 1; }';
        await fsp.writeFile(join(ws, 'data.ts'), lines.join('\n'));
        await fsp.writeFile(join(ws, 'ok.ts'), fn('plainOkFunction'));
        const h = await startHarness({ root: ws, storage: join(root, 'storage'), rules: { maxFileKB: 20 * 1024 } });
        h.indexer.start();
        await settle(h);
        assert.equal(h.indexer.progress().state, 'idle');
        assert.equal(h.skipped.find((s) => s.file === 'bundle.js')?.skip.reason, 'minified');
        assert.match(statusText(h.indexer.progress(), DEFAULT_WEIGHTS, false).summary, /1 file left out: 1 minified/);
        assert.ok(h.indexer.index!.chunksOf('data.ts').length > 0);
        assert.equal((await search(h, 'findMeNearTheLongLine')).results[0]?.chunk.file, 'data.ts');
        assert.equal((await search(h, 'plainOkFunction')).results[0]?.chunk.file, 'ok.ts');
        await h.dispose();
    });

    it('a file that cannot be read (chmod 000) is left out as unreadable, and logged', async function () {
        const ws = join(root, 'ws');
        if (await permissionsIgnored(ws)) {
            this.test!.title += ' (skipped: this process ignores file permissions, e.g. root; the injected EACCES file of the workspace above covers it)';
            this.skip();
        }
        await fsp.writeFile(join(ws, 'secret.ts'), fn('secretFunction'));
        await fsp.chmod(join(ws, 'secret.ts'), 0o000);
        await fsp.writeFile(join(ws, 'ok.ts'), fn('plainOkFunction'));
        const h = await startHarness({ root: ws, storage: join(root, 'storage') });
        h.indexer.start();
        await settle(h);
        assert.equal(h.skipped.find((s) => s.file === 'secret.ts')?.skip.reason, 'unreadable');
        assert.ok(h.logs.some((l) => l.level === 'warn' && l.message.startsWith('search index: skipped secret.ts: ') && /EACCES/.test(l.message)));
        assert.equal((await search(h, 'plainOkFunction')).results[0]?.chunk.file, 'ok.ts');
        await h.dispose();
    });

    it('thirty self-linked files: logged up to a limit, then counted in the status; the rest indexed', async () => {
        const ws = join(root, 'ws');
        for (let i = 0; i < 30; i++) await fsp.symlink(`loop${i}`, join(ws, `loop${i}`));
        await fsp.writeFile(join(ws, 'ok.ts'), fn('plainOkFunction'));
        const h = await startHarness({ root: ws, storage: join(root, 'storage') });
        h.indexer.start();
        await settle(h);
        const loops = h.logs.filter((l) => l.level === 'warn' && l.message.startsWith('search index: skipped loop'));
        assert.equal(loops.length, 20, 'one line each for the first 20');
        assert.ok(h.logs.some((l) => l.message.startsWith('search index: more files skipped')));
        assert.equal(h.indexer.progress().skipped?.byReason.symlinkLoop, 30, 'all counted in the status');
        assert.equal((await search(h, 'plainOkFunction')).results[0]?.chunk.file, 'ok.ts');
        await h.dispose();
    });
});
