#!/usr/bin/env node
// The API suite (test/e2e/api) in desktop VS Code through @vscode/test-electron, for machines that
// can download VS Code (update.code.visualstudio.com). It cannot run on the CI machine, which
// reaches only the npm registry and Debian: there test/e2e/run.mjs runs the same suite in
// code-server. Not called by `npm test`.
//
//   node test/e2e/electron/runTests.mjs [--version 1.100.3] [--vsix path]
//
// By default the extension under test is this repository (extensionDevelopmentPath = the root,
// so `npm run build` first); with --vsix, the packaged extension is installed and tested instead.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadAndUnzipVSCode, resolveCliArgsFromVSCodeExecutablePath, runTests } from '@vscode/test-electron';
import { buildApiSuite } from '../build.mjs';
import { quietUserSettings, writeUserSettings } from '../../../scripts/workbench.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const argv = process.argv.slice(2);
const opt = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const version = opt('--version') ?? '1.100.3';
const vsix = opt('--vsix');

const ensureModels = "require('./scripts/generatedModels').ensureModels('tiny').then((m) => console.log(JSON.stringify(m)))";
const models = JSON.parse(spawnSync(join(ROOT, 'node_modules/.bin/tsx'), ['-e', ensureModels], { cwd: ROOT, encoding: 'utf8' }).stdout.trim().split('\n').pop());
const testsPath = await buildApiSuite();

const tmp = mkdtempSync(join(tmpdir(), 'zeta-electron-'));
try {
    const workspace = join(tmp, 'workspace');
    cpSync(join(ROOT, 'test/e2e/fixtures/workspace'), workspace, { recursive: true });
    const userDataDir = join(tmp, 'user-data');
    const extensionsDir = join(tmp, 'extensions');
    writeUserSettings(userDataDir, quietUserSettings({ 'zeta.completion.debounceMinMs': 50, 'zeta.completion.debounceMaxMs': 200, 'zeta.chatMaxTokens': 160 }));
    const vscodeExecutablePath = await downloadAndUnzipVSCode(version);
    let extensionDevelopmentPath = ROOT;
    if (vsix) {
        const [cli, ...args] = resolveCliArgsFromVSCodeExecutablePath(vscodeExecutablePath);
        const r = spawnSync(cli, [...args, '--extensions-dir', extensionsDir, '--install-extension', resolve(vsix)], { stdio: 'inherit', shell: process.platform === 'win32' });
        if (r.status !== 0) throw new Error(`installing ${vsix} failed`);
        const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
        const installed = readdirSync(extensionsDir).find((d) => d.startsWith(`${manifest.publisher}.${manifest.name}-`));
        extensionDevelopmentPath = join(extensionsDir, installed);
    }
    await runTests({
        vscodeExecutablePath,
        extensionDevelopmentPath,
        extensionTestsPath: testsPath,
        launchArgs: [workspace, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
        extensionTestsEnv: {
            ZETA_CODER_MODEL: models.coder,
            ZETA_REASONER_MODEL: models.reasoner,
            ZETA_EMBEDDER_MODEL: models.embedder,
            ZETA_THREADS: '1',
            ZETA_E2E_USER_DATA: userDataDir,
            ZETA_E2E_API_RESULTS: join(tmp, 'api-results.json'),
        },
    });
    console.log('API suite passed in VS Code', version);
} catch (err) {
    console.error(`API suite failed in VS Code ${version}: ${err?.message ?? err}`);
    process.exitCode = 1;
} finally {
    rmSync(tmp, { recursive: true, force: true });
}
