import { strict as assert } from 'node:assert';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
    decodeSource,
    workspaceFiles,
    workspaceFsFromNode,
    type DirEntry,
    type FileRules,
    type FileStat,
    type WalkItem,
    type WorkspaceFs,
} from '../../../src/core/search/files';

const RULES: FileRules = { maxFileKB: 64 };

async function collect(items: AsyncIterable<WalkItem>): Promise<{ files: string[]; skipped: Map<string, string> }> {
    const files: string[] = [];
    const skipped = new Map<string, string>();
    for await (const item of items) {
        if (item.kind === 'file') files.push(item.path);
        else skipped.set(item.path, item.reason);
    }
    return { files, skipped };
}

/** Writes `tree` (relative path -> content) under a fresh temporary folder. */
async function makeTree(tree: Record<string, string | Uint8Array>): Promise<string> {
    const root = await fsp.mkdtemp(join(tmpdir(), 'zeta-files-'));
    for (const [path, content] of Object.entries(tree)) {
        await fsp.mkdir(join(root, path, '..'), { recursive: true });
        await fsp.writeFile(join(root, path), content);
    }
    return root;
}

const nodeFs = workspaceFsFromNode(fsp);

/**
 * An in-memory WorkspaceFs: files, folders and symlinks (targets relative to the root), errors
 * with Node's codes. `hooks` run before a call and may change the tree (a file vanishing) or wait.
 */
class FakeFs implements WorkspaceFs {
    readonly calls: string[] = [];
    hooks: { beforeList?: (path: string) => Promise<void> | void; beforeStat?: (path: string) => void; beforeRead?: (path: string) => void } = {};

    constructor(readonly nodes: Map<string, { file: Uint8Array } | { dir: true } | { link: string }>) {}

    static of(tree: Record<string, string | { link: string }>): FakeFs {
        const nodes = new Map<string, { file: Uint8Array } | { dir: true } | { link: string }>([['/ws', { dir: true }]]);
        for (const [path, value] of Object.entries(tree)) {
            const parts = path.split('/');
            for (let i = 1; i < parts.length; i++) nodes.set(`/ws/${parts.slice(0, i).join('/')}`, { dir: true });
            nodes.set(`/ws/${path}`, typeof value === 'string' ? { file: new TextEncoder().encode(value) } : { link: `/ws/${value.link}`.replace(/\/$/, '') });
        }
        return new FakeFs(nodes);
    }

    /** Follows links (at most 8, then ELOOP) in every segment. */
    resolve(path: string): string {
        let hops = 0;
        const parts = path.split('/').filter(Boolean);
        let current = '';
        for (let i = 0; i < parts.length; i++) {
            current = `${current}/${parts[i]}`;
            let node = this.nodes.get(current);
            while (node && 'link' in node) {
                if (++hops > 8) throw Object.assign(new Error(`ELOOP: ${path}`), { code: 'ELOOP' });
                current = node.link;
                node = this.nodes.get(current);
            }
            if (!node) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
        }
        return current;
    }

    async readDirectory(path: string): Promise<DirEntry[]> {
        this.calls.push(`list ${path}`);
        await this.hooks.beforeList?.(path);
        const real = this.resolve(path);
        if (!('dir' in this.nodes.get(real)!)) throw Object.assign(new Error(`ENOTDIR: ${path}`), { code: 'ENOTDIR' });
        const out: DirEntry[] = [];
        for (const [p, node] of this.nodes) {
            if (p.startsWith(`${real}/`) && !p.slice(real.length + 1).includes('/')) {
                out.push({ name: p.slice(real.length + 1), type: 'file' in node ? 'file' : 'dir' in node ? 'directory' : 'symlink' });
            }
        }
        return out.reverse(); // not sorted: the walk sorts
    }

    async stat(path: string): Promise<FileStat> {
        this.calls.push(`stat ${path}`);
        this.hooks.beforeStat?.(path);
        const node = this.nodes.get(this.resolve(path))!;
        return 'file' in node ? { type: 'file', size: node.file.length, mtimeMs: 1000 } : { type: 'directory', size: 0, mtimeMs: 1000 };
    }

    async readFile(path: string): Promise<Uint8Array> {
        this.calls.push(`read ${path}`);
        this.hooks.beforeRead?.(path);
        const node = this.nodes.get(this.resolve(path))!;
        if (!('file' in node)) throw Object.assign(new Error(`EISDIR: ${path}`), { code: 'EISDIR' });
        return node.file;
    }

    async realpath(path: string): Promise<string> {
        return this.resolve(path);
    }
}

describe('search/files: which files are indexed', () => {
    describe('on a temporary folder with the real file system', () => {
        const roots: string[] = [];
        afterEach(async () => {
            for (const r of roots.splice(0)) await fsp.rm(r, { recursive: true, force: true });
        });
        const tree = async (t: Record<string, string | Uint8Array>): Promise<string> => {
            const root = await makeTree(t);
            roots.push(root);
            return root;
        };

        it('honours .gitignore files at every level, nested ones relative to their folder, with negation', async () => {
            const root = await tree({
                '.gitignore': '*.log\n/generated-out/\n*.txt\n!keep.txt\n',
                'app.ts': 'export const a = 1;\n',
                'debug.log': 'x',
                'keep.txt': 'kept',
                'notes.txt': 'ignored',
                'secret.ts': 'root secret.ts is not ignored\n',
                'generated-out/x.ts': 'x',
                'pkg/.gitignore': '!important.log\nsecret.ts\n',
                'pkg/important.log': 'kept by negation in pkg/.gitignore',
                'pkg/other.log': 'still ignored by the root',
                'pkg/secret.ts': 'ignored by pkg/.gitignore',
                'pkg/generated-out/y.ts': 'anchored pattern: only the root folder is ignored',
                'pkg/sub/.gitignore': '*.tmp\n',
                'pkg/sub/a.tmp': 'x',
                'a.tmp': 'only pkg/sub ignores .tmp',
            });
            const { files, skipped } = await collect(workspaceFiles(nodeFs, root, RULES).walk());
            assert.deepEqual(files.sort(), [
                '.gitignore', 'a.tmp', 'app.ts', 'keep.txt', 'pkg/.gitignore', 'pkg/generated-out/y.ts', 'pkg/important.log', 'pkg/sub/.gitignore', 'secret.ts',
            ]);
            for (const p of ['debug.log', 'notes.txt', 'generated-out', 'pkg/other.log', 'pkg/secret.ts', 'pkg/sub/a.tmp']) assert.equal(skipped.get(p), 'gitignored', p);
        });

        it('also honours .git/info/exclude, and skips .git itself', async () => {
            const root = await tree({ '.git/info/exclude': 'local-only.ts\n', '.git/HEAD': 'ref: x', 'local-only.ts': 'x', 'a.ts': 'x' });
            const { files, skipped } = await collect(workspaceFiles(nodeFs, root, RULES).walk());
            assert.deepEqual(files, ['a.ts']);
            assert.equal(skipped.get('local-only.ts'), 'gitignored');
            assert.equal(skipped.get('.git'), 'denied');
        });

        it('applies files.exclude and search.exclude with VS Code semantics (merged, false re-includes, when-siblings)', async () => {
            const root = await tree({
                'src/a.ts': 'x', 'src/a.js': 'compiled from a.ts', 'src/b.js': 'hand-written',
                'src/__snapshots__/x.snap': 'x', 'docs/guide.md': 'x', 'deep/er/fixtures-big/f.json': '{}', '.hidden/h.ts': 'x',
            });
            const rules: FileRules = {
                maxFileKB: 64,
                filesExclude: { '**/__snapshots__': true, 'docs': true, '**/.hidden': true },
                searchExclude: { '**/fixtures-big': true, '**/*.js': { when: '$(basename).ts' }, '**/.hidden': false },
            };
            const { files, skipped } = await collect(workspaceFiles(nodeFs, root, rules).walk());
            assert.deepEqual(files.sort(), ['.hidden/h.ts', 'src/a.ts', 'src/b.js']);
            for (const p of ['src/__snapshots__', 'docs', 'deep/er/fixtures-big', 'src/a.js']) assert.equal(skipped.get(p), 'excluded', p);
        });

        it('skips the deny-list without git: dependency and build folders, lockfiles, minified, maps, binaries by name', async () => {
            const root = await tree({
                'index.js': 'x',
                'node_modules/left-pad/index.js': 'x', 'lib/node_modules/x/y.js': 'x',
                'dist/out.js': 'x', 'build/a.js': 'x', 'target/debug/x.rs': 'x', '.venv/lib/site.py': 'x', 'pkg/__pycache__/a.pyc': 'x',
                'thing.egg-info/PKG-INFO': 'x',
                'package-lock.json': '{}', 'yarn.lock': 'x', 'Cargo.lock': 'x', 'go.sum': 'x',
                'app.min.js': 'x', 'app.js.map': '{}', 'vendor.bundle.js': 'x', 'logo.png': 'x', 'model.gguf': 'x',
            });
            const { files, skipped } = await collect(workspaceFiles(nodeFs, root, RULES).walk());
            assert.deepEqual(files, ['index.js']);
            for (const p of ['node_modules', 'lib/node_modules', 'dist', 'build', 'target', '.venv', 'pkg/__pycache__', 'thing.egg-info', 'package-lock.json', 'yarn.lock', 'Cargo.lock', 'go.sum', 'app.min.js', 'app.js.map', 'vendor.bundle.js']) {
                assert.equal(skipped.get(p), 'denied', p);
            }
            assert.equal(skipped.get('logo.png'), 'binary');
            assert.equal(skipped.get('model.gguf'), 'binary');
        });

        it('skips files over maxFileKB by their size, before reading them', async () => {
            const root = await tree({ 'big.ts': 'x'.repeat(3 * 1024), 'small.ts': 'x' });
            const files = workspaceFiles(nodeFs, root, { maxFileKB: 2 });
            const { skipped } = await collect(files.walk());
            assert.equal(skipped.get('big.ts'), 'tooLarge');
            const read = await files.read('big.ts');
            assert.equal(read.kind === 'skipped' && read.reason, 'tooLarge');
        });

        it('reads text, and skips binary content, invalid UTF-8, generated and minified files with a reason', async () => {
            const root = await tree({
                'ok.ts': '\uFEFFexport const café = "☕";\n',
                'data.txt': new Uint8Array([0x68, 0x69, 0x00, 0x01]),
                'latin1.txt': new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]),
                'api.pb.go': '// Code generated by protoc-gen-go. DO NOT EDIT.\npackage api\n',
                'schema.py': '# -*- coding: utf-8 -*-\n# @generated by the schema tool\nX = 1\n',
                'bundle.js': `var a=1;${'function f(a,b){return a+b};'.repeat(400)}\n`,
            });
            const files = workspaceFiles(nodeFs, root, RULES);
            const ok = await files.read('ok.ts');
            assert.equal(ok.kind, 'text');
            assert.equal(ok.kind === 'text' && ok.text, 'export const café = "☕";\n', 'the BOM is dropped');
            const reasons: Record<string, string> = {};
            for (const p of ['data.txt', 'latin1.txt', 'api.pb.go', 'schema.py', 'bundle.js']) {
                const r = await files.read(p);
                reasons[p] = r.kind === 'skipped' ? r.reason : 'text';
            }
            assert.deepEqual(reasons, { 'data.txt': 'binary', 'latin1.txt': 'invalidUtf8', 'api.pb.go': 'generated', 'schema.py': 'generated', 'bundle.js': 'minified' });
        });

        it('skips a symlink loop and a duplicate link, walks a link to a folder outside, never hangs', async function () {
            const root = await tree({ 'src/a.ts': 'x', 'src/deeper/b.ts': 'x' });
            const outside = await tree({ 'shared.ts': 'x' });
            await fsp.symlink(root, join(root, 'src/deeper/up'), 'dir'); // loops back to the root
            await fsp.symlink(join(root, 'src'), join(root, 'alias'), 'dir'); // the same folder twice
            await fsp.symlink(outside, join(root, 'linked'), 'dir');
            await fsp.symlink(join(root, 'self'), join(root, 'self')); // ELOOP
            await fsp.symlink(join(root, 'missing.ts'), join(root, 'broken.ts'));
            await fsp.symlink(join(root, 'src/a.ts'), join(root, 'a-link.ts'));
            const { files, skipped } = await collect(workspaceFiles(nodeFs, root, RULES).walk());
            assert.deepEqual(files.sort(), ['a-link.ts', 'linked/shared.ts', 'src/a.ts', 'src/deeper/b.ts']);
            assert.equal(skipped.get('src/deeper/up'), 'symlinkLoop');
            assert.equal(skipped.get('alias'), 'duplicate');
            assert.equal(skipped.get('self'), 'symlinkLoop');
            assert.equal(skipped.get('broken.ts'), 'vanished');
        });

        it('reports a file that vanished between the walk and the read, and goes on', async () => {
            const root = await tree({ 'a.ts': 'a', 'b.ts': 'b' });
            const files = workspaceFiles(nodeFs, root, RULES);
            const { files: found } = await collect(files.walk());
            assert.deepEqual(found, ['a.ts', 'b.ts']);
            await fsp.rm(join(root, 'a.ts'));
            const a = await files.read('a.ts');
            assert.equal(a.kind === 'skipped' && a.reason, 'vanished');
            assert.equal((await files.read('b.ts')).kind, 'text');
        });

        it('checks one path by the same rules (for file events), and sees a changed .gitignore after invalidate', async () => {
            const root = await tree({ '.gitignore': 'tmp/\n', 'tmp/x.ts': 'x', 'src/ok.ts': 'x', 'node_modules/m/i.js': 'x', 'src/new.ts': 'x' });
            const files = workspaceFiles(nodeFs, root, RULES);
            const verdict = async (p: string): Promise<string> => {
                const r = await files.check(p);
                return r.kind === 'file' ? 'file' : `${r.path} ${r.reason}`;
            };
            assert.equal(await verdict('src/ok.ts'), 'file');
            assert.equal(await verdict('tmp/x.ts'), 'tmp gitignored');
            assert.equal(await verdict('node_modules/m/i.js'), 'node_modules denied');
            assert.equal(await verdict('src/gone.ts'), 'src/gone.ts vanished');
            await fsp.writeFile(join(root, '.gitignore'), 'tmp/\nnew.ts\n');
            assert.equal(await verdict('src/new.ts'), 'file', 'rules are cached until invalidated');
            files.invalidate('.gitignore');
            assert.equal(await verdict('src/new.ts'), 'src/new.ts gitignored');
        });
    });

    describe('on a fake file system', () => {
        it('streams: the first folder\'s files arrive before the next folder is listed', async () => {
            const fs = FakeFs.of({ 'a/1.ts': 'x', 'b/2.ts': 'x', 'top.ts': 'x' });
            let release!: () => void;
            const gate = new Promise<void>((r) => (release = r));
            fs.hooks.beforeList = (p) => (p === '/ws/b' ? gate : undefined);
            const it = workspaceFiles(fs, '/ws', RULES).walk();
            const seen: string[] = [];
            for (;;) {
                const next = await it.next();
                assert.ok(!next.done);
                seen.push(next.value.path);
                if (next.value.path === 'a/1.ts') break;
            }
            assert.deepEqual(seen, ['top.ts', 'a/1.ts']);
            assert.ok(!fs.calls.includes('stat /ws/b/2.ts'));
            release();
            const rest = await collect({ [Symbol.asyncIterator]: () => it });
            assert.deepEqual(rest.files, ['b/2.ts']);
        });

        it('a file that vanishes between listing and stat, or a folder between listing and walking, is skipped', async () => {
            const fs = FakeFs.of({ 'gone.ts': 'x', 'kept.ts': 'x', 'dir/x.ts': 'x', 'later/y.ts': 'x' });
            fs.hooks.beforeStat = (p) => {
                if (p === '/ws/gone.ts') fs.nodes.delete(p);
            };
            fs.hooks.beforeList = (p) => {
                if (p === '/ws/dir') fs.nodes.delete('/ws/dir');
            };
            const { files, skipped } = await collect(workspaceFiles(fs, '/ws', RULES).walk());
            assert.deepEqual(files, ['kept.ts', 'later/y.ts']);
            assert.equal(skipped.get('gone.ts'), 'vanished');
            assert.equal(skipped.get('dir'), 'vanished');
        });

        it('a symlink cycle between two folders ends, reported once', async () => {
            const fs = FakeFs.of({ 'a/f.ts': 'x', 'a/to-b': { link: 'b' }, 'b/g.ts': 'x', 'b/to-a': { link: 'a' } });
            const { files, skipped } = await collect(workspaceFiles(fs, '/ws', RULES).walk());
            assert.deepEqual(files, ['a/f.ts', 'b/g.ts']);
            assert.equal(skipped.get('a/to-b'), 'duplicate');
            assert.equal(skipped.get('b/to-a'), 'duplicate');
        });

        it('skips symlinks when followSymlinks is off', async () => {
            const fs = FakeFs.of({ 'a/f.ts': 'x', 'l': { link: 'a' } });
            const { files, skipped } = await collect(workspaceFiles(fs, '/ws', { maxFileKB: 64, followSymlinks: false }).walk());
            assert.deepEqual(files, ['a/f.ts']);
            assert.equal(skipped.get('l'), 'symlink');
        });

        it('an unreadable subfolder is reported and the walk goes on; an unreadable root is an error', async () => {
            const fs = FakeFs.of({ 'locked/x.ts': 'x', 'z.ts': 'x' });
            fs.hooks.beforeList = (p) => {
                if (p === '/ws/locked') throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
            };
            const { files, skipped } = await collect(workspaceFiles(fs, '/ws', RULES).walk());
            assert.deepEqual(files, ['z.ts']);
            assert.equal(skipped.get('locked'), 'unreadable');
            await assert.rejects(collect(workspaceFiles(FakeFs.of({}), '/nowhere', RULES).walk()), /ENOENT/);
        });

        it('stops with the signal\'s reason when aborted mid-walk', async () => {
            const fs = FakeFs.of({ 'a/1.ts': 'x', 'b/2.ts': 'x' });
            const controller = new AbortController();
            fs.hooks.beforeList = (p) => {
                if (p === '/ws/b') controller.abort(new Error('stopped'));
            };
            await assert.rejects(collect(workspaceFiles(fs, '/ws', RULES).walk(controller.signal)), /stopped/);
        });

        it('reads only the ignore files that the listing shows', async () => {
            const fs = FakeFs.of({ 'a/.gitignore': 'x.ts\n', 'a/x.ts': 'x', 'b/y.ts': 'y' });
            const { files } = await collect(workspaceFiles(fs, '/ws', RULES).walk());
            assert.deepEqual(files, ['a/.gitignore', 'b/y.ts']);
            assert.deepEqual(fs.calls.filter((c) => c.startsWith('read')), ['read /ws/.git/info/exclude', 'read /ws/a/.gitignore']);
        });
    });

    describe('decodeSource', () => {
        it('keeps ordinary code, including comments that mention generation', () => {
            const code = '// Builds the generated models for the tests.\nexport const x = 1;\n';
            assert.equal(decodeSource(new TextEncoder().encode(code)), code);
            const prose = `# Notes\n\n${'A paragraph written on one long line, as Markdown allows. '.repeat(12)}\n`;
            assert.equal(typeof decodeSource(new TextEncoder().encode(prose.repeat(10))), 'string');
        });

        it('finds a NUL only in the first 8 KB, like git', () => {
            const bytes = new TextEncoder().encode(`${'const x = 1;\n'.repeat(800)}\u0000`);
            assert.equal(typeof decodeSource(bytes), 'string');
        });
    });
});
