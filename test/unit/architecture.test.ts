/**
 * The import graph's rules, read by dpdm with the TypeScript compiler (the project's own
 * typescript): every `import`, `import type`, `export ... from`, `require()` and dynamic `import()`
 * of a module is an edge, type-only ones included. dpdm does not see `import('./x').T` type
 * references nor lines marked `// @dpdm-ignore`: write type imports as `import type`.
 *
 * - no import cycle in src/, and none in bench/;
 * - bench/'s parts import only the parts below them in BENCH_LAYERS (bench/README.md draws them);
 * - bench/ never imports test/ (tests import the benchmark to test it, not the other way round);
 * - src/ imports nothing from bench/, test/ or scripts/.
 */
import * as assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { parseCircular, parseDependencyTree, type DependencyTree } from 'dpdm';

const ROOT = resolve(__dirname, '..', '..');

/** bench/'s parts, top to bottom: a file may import files of its own part and of the parts below. */
const BENCH_LAYERS = ['bench/cli.ts', 'bench/soak/', 'bench/modes/', 'bench/quality/', 'bench/report/', 'bench/real/', 'bench/sim/', 'bench/replay/', 'bench/policies.ts', 'bench/workload/', 'bench/lib/', 'bench/types.ts'];

/** Every .ts file under `folder` and all it imports, keyed by path relative to the repository. */
async function importGraph(folder: string): Promise<DependencyTree> {
    return parseDependencyTree(`${folder}/**/*.ts`, {
        cwd: ROOT,
        context: ROOT,
        tsconfig: join(ROOT, 'tsconfig.json'),
        transform: false,
        skipDynamicImports: false,
    });
}

/** The cycles through `folder`, each as "a.ts -> b.ts -> a.ts". */
function cyclesIn(tree: DependencyTree, folder: string): string[] {
    return parseCircular(tree, false)
        .filter((cycle) => cycle.some((file) => file.startsWith(`${folder}/`)))
        .map((cycle) => [...cycle, cycle[0]].join(' -> '));
}

/** Imports from files under `from` of files under any of `to`, as "issuer -> imported". */
function importsBetween(tree: DependencyTree, from: string, to: readonly string[]): string[] {
    const out: string[] = [];
    for (const [file, deps] of Object.entries(tree)) {
        if (!file.startsWith(`${from}/`) || !deps) continue;
        for (const d of deps) if (d.id !== null && to.some((t) => d.id?.startsWith(`${t}/`))) out.push(`${file} -> ${d.id}`);
    }
    return out;
}

/** Imports within bench/ that go up BENCH_LAYERS, or from or to a file in no layer. */
function benchImportsUpward(tree: DependencyTree): string[] {
    const layer = (file: string): number => BENCH_LAYERS.findIndex((l) => file === l || (l.endsWith('/') && file.startsWith(l)));
    const out: string[] = [];
    for (const [file, deps] of Object.entries(tree)) {
        if (!file.startsWith('bench/') || !deps) continue;
        for (const d of deps) {
            if (d.id === null || !d.id.startsWith('bench/')) continue;
            const from = layer(file);
            const to = layer(d.id);
            if (from < 0 || to < 0 || to < from) out.push(`${file} -> ${d.id}`);
        }
    }
    return out;
}

/** Relative imports the tool could not resolve: a graph with holes would pass every check here. */
function unresolved(tree: DependencyTree): string[] {
    return Object.values(tree)
        .flatMap((deps) => deps ?? [])
        .filter((d) => d.id === null && d.request.startsWith('.'))
        .map((d) => `${d.issuer}: ${d.request}`);
}

describe('architecture: the import graph', function () {
    this.timeout(60_000);
    let src: DependencyTree;
    let bench: DependencyTree;

    before(async () => {
        [src, bench] = await Promise.all([importGraph('src'), importGraph('bench')]);
    });

    it('reads the whole graph: many files, every relative import resolved', () => {
        for (const [name, tree] of [['src', src], ['bench', bench]] as const) {
            assert.ok(Object.keys(tree).filter((f) => f.startsWith(`${name}/`)).length >= 20, `${name}: too few files read`);
            assert.deepEqual(unresolved(tree), [], `${name}: imports dpdm could not resolve`);
        }
    });

    it('no import cycle in src', () => {
        assert.deepEqual(cyclesIn(src, 'src'), []);
    });

    it('no import cycle in bench', () => {
        assert.deepEqual(cyclesIn(bench, 'bench'), []);
    });

    it("bench's parts import only the parts below them", () => {
        assert.deepEqual(benchImportsUpward(bench), []);
    });

    it('bench never imports test/', () => {
        assert.deepEqual(importsBetween(bench, 'bench', ['test']), []);
    });

    it('src imports nothing from bench/, test/ or scripts/', () => {
        assert.deepEqual(importsBetween(src, 'src', ['bench', 'test', 'scripts']), []);
    });
});
