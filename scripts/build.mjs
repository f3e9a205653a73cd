#!/usr/bin/env node
// Bundles the extension with esbuild into dist/. `vscode` is provided by the host and
// `node-llama-cpp` is ESM-only with native binaries: both stay external (the latter is loaded with a
// dynamic import() at run time and shipped in node_modules).
import { build } from 'esbuild';

const watch = process.argv.includes('--watch');
const common = { bundle: true, sourcemap: true, logLevel: 'info', minify: process.argv.includes('--minify') };

await build({
    ...common,
    entryPoints: ['src/vscode/extension.ts'],
    outfile: 'dist/extension.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'node-llama-cpp'],
});
if (watch) console.log('watch mode is not supported; rerun npm run build');
