import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { createTreeSitterParser, GRAMMARS, RUNTIME_WASM, type TreeSitterParser } from '../../../src/backends/treeSitter';
import type { SyntaxNode } from '../../../src/core/search/types';

const GRAMMAR_DIR = dirname(require.resolve('@vscode/tree-sitter-wasm'));
const ROOT = resolve(__dirname, '..', '..', '..');

function find(node: SyntaxNode, type: string): SyntaxNode | undefined {
    if (node.type === type) return node;
    for (const c of node.children) {
        const f = find(c, type);
        if (f) return f;
    }
    return undefined;
}

describe('backends/treeSitter: the SyntaxParser over web-tree-sitter', function () {
    this.timeout(60_000);
    const temps: string[] = [];
    const temp = (): string => {
        const d = mkdtempSync(join(tmpdir(), 'zeta-ts-'));
        temps.push(d);
        return d;
    };
    let parser: TreeSitterParser;
    before(() => {
        parser = createTreeSitterParser({ dir: GRAMMAR_DIR });
    });
    after(() => {
        parser.dispose();
        for (const d of temps) rmSync(d, { recursive: true, force: true });
    });

    it('has a grammar for every language of its table, each file present in the package', () => {
        assert.deepEqual([...parser.languages].sort(), Object.keys(GRAMMARS).sort());
        for (const lang of ['typescript', 'typescriptreact', 'javascript', 'python']) assert.ok(parser.languages.has(lang), lang);
    });

    it('parses into plain nodes: types, named fields, inclusive rows, UTF-16 indices, text', async () => {
        const text = '// café 😀\n/** Doc. */\nexport class Foo {\n    bar(): string { return "é"; }\n}\n';
        const root = await parser.parse('typescript', text);
        assert.ok(root);
        assert.equal(root.type, 'program');
        assert.deepEqual(root.children.map((c) => c.type), ['comment', 'comment', 'export_statement']);
        const cls = find(root, 'class_declaration')!;
        assert.equal(cls.childForField('name')?.text, 'Foo');
        assert.equal(cls.childForField('nothing'), undefined);
        assert.deepEqual([cls.startRow, cls.endRow], [2, 4]);
        const method = find(root, 'method_definition')!;
        assert.equal(method.text, 'bar(): string { return "é"; }');
        assert.equal(text.slice(method.startIndex, method.endIndex), method.text, 'indices are string offsets, after a non-BMP character');
        assert.equal(root.children[0].text, '// café 😀');
        assert.deepEqual(find(method, 'formal_parameters')?.children.map((c) => [c.type, c.isNamed]), [['(', false], [')', false]], 'anonymous nodes are kept, flagged');
    });

    it('a node ending with its newline ends on that row (Rust doc comments)', async () => {
        const root = await parser.parse('rust', '/// Doc.\nfn f() {}\n');
        const comment = root!.children[0];
        assert.equal(comment.type, 'line_comment');
        assert.deepEqual([comment.startRow, comment.endRow], [0, 0]);
    });

    it('parses Python, Go, Java, C#, C++, Ruby, PHP, shell and TSX', async () => {
        const samples: Array<[string, string, string]> = [
            ['python', 'def f():\n    return 1\n', 'function_definition'],
            ['go', 'package p\nfunc F() {}\n', 'function_declaration'],
            ['java', 'class A { void m() {} }\n', 'method_declaration'],
            ['csharp', 'class A { void M() {} }\n', 'method_declaration'],
            ['cpp', 'int f() { return 1; }\n', 'function_definition'],
            ['c', 'int f(void) { return 1; }\n', 'function_definition'],
            ['ruby', 'def f\n  1\nend\n', 'method'],
            ['php', '<?php\nfunction f() { return 1; }\n', 'function_definition'],
            ['shellscript', 'f() { echo hi; }\n', 'function_definition'],
            ['typescriptreact', 'export const A = () => <div>hi</div>;\n', 'jsx_element'],
            ['javascriptreact', 'const A = () => <b>hi</b>;\n', 'jsx_element'],
        ];
        for (const [lang, text, type] of samples) {
            const root = await parser.parse(lang, text);
            assert.ok(root && find(root, type), `${lang}: ${type}`);
        }
    });

    it('gives undefined for a language without a grammar, and for text over maxChars', async () => {
        assert.equal(await parser.parse('markdown', '# Title\n'), undefined);
        const small = createTreeSitterParser({ dir: GRAMMAR_DIR, maxChars: 10 });
        assert.equal(await small.parse('typescript', 'const a = 1; const b = 2;\n'), undefined);
        assert.ok(await small.parse('typescript', 'let a;\n'));
        small.dispose();
    });

    it('gives up past its time limit (a parse that cannot stall), and parses the next text afresh', async () => {
        let clock = 0;
        let ticking = false;
        const slow = createTreeSitterParser({ dir: GRAMMAR_DIR, timeoutMs: 50, now: () => (ticking ? (clock += 10) : clock) });
        const big = Array.from({ length: 20_000 }, (_, i) => `const v${i} = f(${i});`).join('\n');
        await slow.parse('typescript', 'let warm;\n'); // the grammar loads while the clock stands still
        ticking = true;
        assert.equal(await slow.parse('typescript', big), undefined);
        ticking = false;
        const next = await slow.parse('typescript', 'let a = 1;\n');
        assert.equal(next?.children[0].type, 'lexical_declaration');
        slow.dispose();
    });

    it('rejects with the signal\'s reason, before or during a parse', async () => {
        const before = new AbortController();
        before.abort(new Error('cancelled before'));
        await assert.rejects(parser.parse('typescript', 'let a;', before.signal), /cancelled before/);
        const during = new AbortController();
        let armed = false;
        let calls = 0;
        const p = createTreeSitterParser({
            dir: GRAMMAR_DIR,
            // The clock is read once before parsing, then by the parse's progress callback: abort there.
            now: () => {
                if (armed && ++calls === 3) during.abort(new Error('cancelled during'));
                return 0;
            },
        });
        await p.parse('typescript', 'let warm;\n');
        armed = true;
        const big = Array.from({ length: 20_000 }, (_, i) => `const v${i} = f(${i});`).join('\n');
        await assert.rejects(p.parse('typescript', big, during.signal), /cancelled during/);
        p.dispose();
    });

    it('copies deep trees without recursion', async () => {
        const depth = 3000;
        const text = `const x = ${'['.repeat(depth)}1${']'.repeat(depth)};\n`;
        const root = await parser.parse('javascript', text);
        assert.ok(root);
        let deepest = 0;
        const stack: Array<[SyntaxNode, number]> = [[root, 1]];
        while (stack.length > 0) {
            const [n, d] = stack.pop()!;
            deepest = Math.max(deepest, d);
            for (const c of n.children) stack.push([c, d + 1]);
        }
        assert.ok(deepest > depth, `${deepest} levels`);
    });

    it('a grammar that fails to load is reported once, and its files give undefined', async () => {
        const dir = temp();
        copyFileSync(join(GRAMMAR_DIR, RUNTIME_WASM), join(dir, RUNTIME_WASM));
        writeFileSync(join(dir, GRAMMARS.python), 'not wasm');
        const errors: string[] = [];
        const broken = createTreeSitterParser({ dir, onError: (m) => errors.push(m) });
        assert.deepEqual([...broken.languages], ['python'], 'only languages whose grammar file is present');
        assert.equal(await broken.parse('python', 'x = 1\n'), undefined);
        assert.equal(await broken.parse('python', 'y = 2\n'), undefined);
        assert.equal(await broken.parse('typescript', 'let a;\n'), undefined);
        assert.equal(errors.length, 1);
        assert.match(errors[0], /tree-sitter-python\.wasm did not load/);
        broken.dispose();
    });

    it('gives undefined after dispose', async () => {
        const p = createTreeSitterParser({ dir: GRAMMAR_DIR });
        assert.ok(await p.parse('python', 'x = 1\n'));
        p.dispose();
        assert.equal(await p.parse('python', 'x = 1\n'), undefined);
    });

    it('works bundled by esbuild as the extension is (the runtime inside the bundle, the WASM files from the folder given)', async () => {
        const dir = temp();
        const entry = join(dir, 'entry.ts');
        writeFileSync(entry, [
            `import { createTreeSitterParser } from ${JSON.stringify(join(ROOT, 'src/backends/treeSitter'))};`,
            'export async function run(dir: string): Promise<string | undefined> {',
            '    const p = createTreeSitterParser({ dir });',
            "    const root = await p.parse('python', 'def f():\\n    return 1\\n');",
            '    p.dispose();',
            '    return root?.children[0].type;',
            '}',
        ].join('\n'));
        const outfile = join(dir, 'bundle.js');
        await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'cjs', target: 'node20', external: ['vscode', 'node-llama-cpp'], logLevel: 'silent' });
        const code = readFileSync(outfile, 'utf8');
        assert.ok(!/require\(["']@vscode\/tree-sitter-wasm["']\)/.test(code), 'the runtime is inside the bundle');
        const wasm = temp();
        for (const f of [RUNTIME_WASM, GRAMMARS.python]) copyFileSync(join(GRAMMAR_DIR, f), join(wasm, f));
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const bundle = require(outfile) as { run(dir: string): Promise<string | undefined> };
        assert.equal(await bundle.run(wasm), 'function_definition');
    });

    it('the build copies exactly the WASM files this adapter names', async () => {
        const buildScript = (await import(pathToFileURL(join(ROOT, 'scripts/build.mjs')).href)) as { grammarFiles(): string[] };
        assert.deepEqual(buildScript.grammarFiles(), [...new Set([RUNTIME_WASM, ...Object.values(GRAMMARS)])].sort());
    });
});
