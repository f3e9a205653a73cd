// Bundles the API suite (test/e2e/api/*.ts) for the extension host: out/test/e2e/api/index.js is
// the extensionTestsPath, zeta.test.js the file it hands to mocha. `vscode` comes from the host and
// `mocha` from the repository's node_modules (resolved from out/, which lies inside the repository).
import { build } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const API_OUT = join(ROOT, 'out/test/e2e/api');

export async function buildApiSuite() {
    await build({
        entryPoints: [join(ROOT, 'test/e2e/api/index.ts'), join(ROOT, 'test/e2e/api/zeta.test.ts'), join(ROOT, 'test/e2e/api/limits.test.ts'), join(ROOT, 'test/e2e/api/remoteModels.test.ts')],
        outdir: API_OUT,
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        sourcemap: 'inline',
        external: ['vscode', 'mocha'],
        logLevel: 'warning',
    });
    return join(API_OUT, 'index');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildApiSuite();
