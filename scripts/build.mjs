#!/usr/bin/env node
// Bundles the extension with esbuild into dist/, and the webview scripts into dist/webview/.
// `vscode` is provided by the host and `node-llama-cpp` is ESM-only with native binaries: both stay
// external (the latter is loaded with a dynamic import() at run time and shipped in node_modules).
// Webview scripts run in the browser sandbox of a webview: IIFE bundles, no Node, no externals.
//
// Workspace search parses code with web-tree-sitter (@vscode/tree-sitter-wasm): its JavaScript
// runtime is bundled into dist/extension.js like any other dependency, and its WASM files are
// copied into dist/tree-sitter/: the runtime's tree-sitter.wasm and the grammars that
// src/backends/treeSitter.ts names (its GRAMMARS table), no others. The .vsix ships dist/ as it is.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the extension finds the WASM files at run time (the adapter is given this folder). */
export const GRAMMAR_DIR = 'dist/tree-sitter';

/** The WASM files the adapter loads: tree-sitter.wasm and each grammar file named in src/backends/treeSitter.ts. */
export function grammarFiles() {
    const adapter = readFileSync(join(ROOT, 'src/backends/treeSitter.ts'), 'utf8');
    return [...new Set(adapter.match(/\btree-sitter(?:-[a-z0-9_]+)*\.wasm\b/g) ?? [])].sort();
}

/** Copies the WASM files into dist/tree-sitter/ (and removes any the adapter no longer names). Returns their names and total bytes. */
export function copyGrammars() {
    const source = dirname(createRequire(import.meta.url).resolve('@vscode/tree-sitter-wasm'));
    const target = join(ROOT, GRAMMAR_DIR);
    const files = grammarFiles();
    mkdirSync(target, { recursive: true });
    for (const stale of readdirSync(target)) if (!files.includes(stale)) rmSync(join(target, stale), { force: true });
    let bytes = 0;
    for (const file of files) {
        if (!existsSync(join(source, file))) throw new Error(`${file} is named in src/backends/treeSitter.ts but @vscode/tree-sitter-wasm has no such file`);
        copyFileSync(join(source, file), join(target, file));
        bytes += readFileSync(join(target, file)).length;
    }
    return { files, bytes };
}

/**
 * esbuild options of the extension bundle. `e2e: false` (dist/, everything that ships) defines
 * `__ZETA_E2E__` as false, and esbuild drops the code it guards (the e2e fixture answers of
 * src/vscode/e2eFixtureAnswer.ts); `e2e: true` is only for the e2e runner's own .vsix
 * (scripts/package.mjs, packageForHost with { e2e: true }), bundled into its staging folder.
 */
export function extensionBuildOptions({ e2e = false, outfile = join(ROOT, 'dist/extension.js'), minify = false } = {}) {
    return {
        bundle: true,
        sourcemap: true,
        minify,
        absWorkingDir: ROOT,
        entryPoints: [join(ROOT, 'src/vscode/extension.ts')],
        outfile,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        external: ['vscode', 'node-llama-cpp'],
        define: { __ZETA_E2E__: e2e ? 'true' : 'false' },
    };
}

/** A string that only the e2e build's bundle contains (the fixture file's name): package.mjs refuses to ship it. */
export const E2E_ONLY_MARKER = 'zeta-e2e-answer.md';

async function main() {
    const watch = process.argv.includes('--watch');
    const common = { bundle: true, sourcemap: true, logLevel: 'info', minify: process.argv.includes('--minify') };
    await Promise.all([
        build({ ...extensionBuildOptions({ minify: common.minify }), logLevel: 'info' }),
        build({
            ...common,
            entryPoints: { answer: 'src/webview/answer.ts', load: 'src/webview/load.ts', search: 'src/webview/search.ts' },
            outdir: 'dist/webview',
            platform: 'browser',
            format: 'iife',
            target: 'chrome120',
        }),
    ]);
    const { files, bytes } = copyGrammars();
    console.log(`  ${GRAMMAR_DIR}/: ${files.length} WASM files, ${(bytes / 1024 / 1024).toFixed(1)} MB (${files.join(', ')})`);
    if (watch) console.log('watch mode is not supported; rerun npm run build');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
