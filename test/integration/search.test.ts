/**
 * Workspace search end to end on the real parts: a folder on disk (with ignored files), the
 * file rules, the tree-sitter chunker, the index and its store, and embeddings from the generated
 * embedder through the real router and llama.cpp backend, while completions run on the coder.
 * Waits are bounded by the events waited for (generous caps only catch a hang); nothing asserts a
 * duration.
 */
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createLlamaCppBackendFactory, createLlamaProvider, type LlamaProvider } from '../../src/backends';
import { createTreeSitterParser, type TreeSitterParser } from '../../src/backends/treeSitter';
import type { ModelSpec, Role } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import { createRouter, defaultRoutingSettings, type ZetaRouter } from '../../src/core/router';
import { calibrate } from '../../src/core/search/calibrate';
import { createChunker } from '../../src/core/search/chunker';
import { workspaceFiles, workspaceFsFromNode } from '../../src/core/search/files';
import { hybridRanking } from '../../src/core/search/fusion';
import { createSearchIndex, type InMemorySearchIndex } from '../../src/core/search/index/index';
import { Indexer, type Embeddings, type IndexKeeper } from '../../src/core/search/indexer';
import { mineDocQueries } from '../../src/core/search/mining';
import { searchWorkspace } from '../../src/core/search/query';
import { routerEmbeddings } from '../../src/core/search/routerEmbeddings';
import { createIndexStore } from '../../src/core/search/store';
import { folderFiles } from '../../src/core/search/workspaceFolders';
import type { TaskResult } from '../../src/core/tasks';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';

const GRAMMARS = dirname(require.resolve('@vscode/tree-sitter-wasm'));

const FILES: Record<string, string> = {
    'src/stats.ts': `/** The arithmetic mean of a list of numbers. */\nexport function mean(values: number[]): number {\n    return values.reduce((a, b) => a + b, 0) / values.length;\n}\n\n/** The spread between the largest and the smallest value. */\nexport function spread(values: number[]): number {\n    return Math.max(...values) - Math.min(...values);\n}\n`,
    'src/geometry.py': `import math\n\n\ndef distance(a, b):\n    """Euclidean distance between two points."""\n    return math.hypot(a[0] - b[0], a[1] - b[1])\n\n\nclass Polygon:\n    """A closed shape made of points."""\n\n    def __init__(self, points):\n        self.points = points\n\n    def perimeter(self):\n        """Sum of the lengths of the sides."""\n        return sum(distance(p, q) for p, q in zip(self.points, self.points[1:] + self.points[:1]))\n`,
    'README.md': '# Sample\n\nA workspace for the search test.\n',
    '.gitignore': 'build/\n',
    'build/out.js': 'function generatedBuildOutput() {}\n',
    'node_modules/dep/index.js': 'function dependencyCode() {}\n',
};

function settled(p: Promise<TaskResult>): Promise<boolean> {
    return p.then(
        () => true,
        () => false,
    );
}

/** Polls `done` every 50 ms until it holds, or fails after `capMs` (only a hang reaches it). */
async function until(done: () => boolean, capMs: number, what: string): Promise<void> {
    for (let waited = 0; !done(); waited += 50) {
        if (waited > capMs) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
    }
}

describe('workspace search over the real router and llama.cpp (tiny generated models)', function () {
    this.timeout(120_000);
    let models: SyntheticModels;
    let provider: LlamaProvider;
    let parser: TreeSitterParser;
    let dir: string;
    let router: ZetaRouter;
    let indexer: Indexer<InMemorySearchIndex>;
    /** Another indexer on the same files, store and router (a restart of the extension). */
    let makeIndexer: () => Indexer<InMemorySearchIndex>;
    let embedded: string[];

    before(async function () {
        this.timeout(180_000);
        models = await ensureModels('tiny');
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
        parser = createTreeSitterParser({ dir: GRAMMARS });
    });

    after(async () => {
        parser?.dispose();
        await provider?.dispose();
    });

    beforeEach(() => {
        dir = mkdtempSync(join(tmpdir(), 'zeta-search-'));
        for (const [file, text] of Object.entries(FILES)) {
            mkdirSync(dirname(join(dir, 'ws', file)), { recursive: true });
            writeFileSync(join(dir, 'ws', file), text);
        }
        const clock = new SystemClock();
        const turns = new EvalTurns();
        const factory = createLlamaCppBackendFactory({ runtime: provider, clock, turns });
        const spec = (role: Role): ModelSpec => ({ id: role, role, path: models[role], contextSize: 2048, slots: 2, threads: 1, gpuLayers: 0, fimTemplate: 'auto' });
        router = createRouter({ clock, turns, settings: defaultRoutingSettings(), models: [spec('coder'), spec('embedder')], createBackend: factory });
        const inner = routerEmbeddings(router);
        embedded = [];
        const embeddings: Embeddings = {
            current: () => inner.current(),
            documents: (texts, id, signal) => {
                embedded.push(...texts);
                return inner.documents(texts, id, signal);
            },
            query: (text, id, signal) => inner.query(text, id, signal),
        };
        const storeFs = { readFile: (p: string) => fsp.readFile(p), writeFile: (p: string, d: Iterable<Uint8Array>) => fsp.writeFile(p, d), rename: fsp.rename, mkdir: fsp.mkdir, readdir: (p: string) => fsp.readdir(p), unlink: fsp.unlink, access: (p: string) => fsp.access(p) };
        const keeper: IndexKeeper<InMemorySearchIndex> = {
            async load(identity) {
                const r = await createIndexStore(join(dir, 'index'), identity, storeFs).load();
                return r.kind === 'loaded' ? { index: r.index } : {};
            },
            async save(index) {
                await createIndexStore(join(dir, 'index'), index.identity, storeFs).save(index);
            },
        };
        const files = folderFiles([{ name: 'ws', root: join(dir, 'ws'), files: workspaceFiles(workspaceFsFromNode(fsp), join(dir, 'ws'), { maxFileKB: 512 }) }]);
        makeIndexer = () =>
            new Indexer<InMemorySearchIndex>({
                files,
                chunker: createChunker(parser),
                store: keeper,
                embeddings,
                createIndex: createSearchIndex,
                mine: (chunks) => mineDocQueries(chunks),
                calibrate,
                clock,
            });
        indexer = makeIndexer();
        // As the extension does: the router's model changes may bring the embedder (or another one).
        router.onDidChange(() => indexer.embedderChanged());
    });

    afterEach(async () => {
        await indexer?.dispose();
        await router?.dispose();
        rmSync(dir, { recursive: true, force: true });
    });

    it('indexes the folder (ignored files left out) while completions run, searches by words and meaning, and follows an edit', async () => {
        // Completions on the coder the whole time the workspace is indexed.
        const completions: Array<Promise<boolean>> = [];
        let typing = true;
        const typist = (async () => {
            for (let i = 0; typing; i++) {
                completions.push(settled(router.submit({ kind: 'completion', doc: 'file:///typing.ts', prefix: `const value${i} = `, suffix: '\n', maxTokens: 4 })));
                await new Promise((r) => setTimeout(r, 40));
            }
        })();
        indexer.start();
        await until(() => indexer.progress().state === 'idle' && indexer.progress().files > 0, 90_000, 'the index');
        typing = false;
        await typist;
        const served = await Promise.all(completions);
        assert.ok(served.length > 0 && served.some((x) => x), 'completions were served while indexing');

        const p = indexer.progress();
        assert.deepEqual([...indexer.index!.files()].sort(), ['.gitignore', 'README.md', 'src/geometry.py', 'src/stats.ts'], 'build/ and node_modules/ are not indexed');
        assert.ok(p.chunks > 0 && p.chunksWithVectors === p.chunks, JSON.stringify(p));
        assert.ok(router.snapshot().recentDecisions.some((d) => d.kind === 'embed' && d.chosen === 'embedder'), 'embedded as background work on the embedder');

        const r = await searchWorkspace({ source: indexer, fuse: hybridRanking, readLines: (f, s, e) => fsp.readFile(join(dir, 'ws', f), 'utf8').then((t) => t.split('\n').slice(s - 1, e)) }, 'perimeter of the polygon', new AbortController().signal);
        assert.equal(r.vectors, 'used', 'the query was embedded through the router');
        assert.equal(r.results[0].chunk.file, 'src/geometry.py');
        assert.ok(r.results[0].snippet.length > 0);

        // An edit: only its changed chunks are embedded again, and it is searchable.
        embedded.length = 0;
        writeFileSync(join(dir, 'ws', 'src/stats.ts'), `${FILES['src/stats.ts']}\n/** The median of a sorted list. */\nexport function median(sorted: number[]): number {\n    return sorted[Math.floor(sorted.length / 2)];\n}\n`);
        indexer.changed('src/stats.ts');
        await until(() => indexer.index!.searchLexical('median', 5).some((h) => h.chunk.file === 'src/stats.ts'), 60_000, 'the edit to be searchable');
        await until(() => indexer.progress().state === 'idle' && indexer.progress().chunksWithVectors === indexer.progress().chunks, 60_000, 'its vectors');
        assert.equal(embedded.length, 1, `embedded again: ${JSON.stringify(embedded)}`);
        assert.match(embedded[0], /median/);
    });

    it('a restart with the same embedder reads the saved index and embeds nothing again', async () => {
        indexer.start();
        await until(() => indexer.progress().state === 'idle' && indexer.progress().files > 0, 90_000, 'the index');
        const chunks = indexer.progress().chunks;
        await indexer.dispose();
        embedded.length = 0;
        // A new indexer on the same store and files (the router and its models stay).
        const again = makeIndexer();
        router.onDidChange(() => again.embedderChanged());
        again.start();
        await until(() => again.progress().state === 'idle' && again.progress().files > 0, 60_000, 'the stored index');
        assert.equal(again.progress().chunks, chunks);
        assert.deepEqual(embedded, []);
        await again.dispose();
    });
});
