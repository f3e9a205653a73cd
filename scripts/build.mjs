#!/usr/bin/env node
// Bundles the extension with esbuild into dist/, and the webview scripts into dist/webview/.
// `vscode` is provided by the host and `node-llama-cpp` is ESM-only with native binaries: both stay
// external (the latter is loaded with a dynamic import() at run time and shipped in node_modules).
// Webview scripts run in the browser sandbox of a webview: IIFE bundles, no Node, no externals.
import { build } from 'esbuild';

const watch = process.argv.includes('--watch');
const common = { bundle: true, sourcemap: true, logLevel: 'info', minify: process.argv.includes('--minify') };

await Promise.all([
    build({
        ...common,
        entryPoints: ['src/vscode/extension.ts'],
        outfile: 'dist/extension.js',
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        external: ['vscode', 'node-llama-cpp'],
    }),
    build({
        ...common,
        entryPoints: { answer: 'src/webview/answer.ts', load: 'src/webview/load.ts' },
        outdir: 'dist/webview',
        platform: 'browser',
        format: 'iife',
        target: 'chrome120',
    }),
]);
if (watch) console.log('watch mode is not supported; rerun npm run build');
