#!/usr/bin/env node
// The workbench tests: Zeta packaged as a .vsix, installed into a fresh code-server 4.100.3 and
// driven for real. Called by `npm test` (scripts/test.mjs) and `npm run test:e2e`.
//
//  1. tools: scripts/setup-workbench.sh --check (installs what is missing)
//  2. models: the tiny generated models (.zeta/models/tiny, regenerated only when stale)
//  3. npm run build, the host platform's .vsix (out/e2e/vsix, reused while its inputs are unchanged),
//     and the API suite bundled for the extension host (out/test/e2e/api)
//  4. a fresh temp dir per run holding the extensions dir (the .vsix installed once)
//  5. API suite (mocha inside the real Node extension host: the installed extension's folder is the
//     extensionDevelopmentPath) then each UI suite file (mocha in Node, playwright-core + Debian
//     chromium), each in a workbench of its own: its own code-server on a free port of 127.0.0.1,
//     profile (quiet settings), workspace (test/e2e/fixtures copied) and XDG dirs. Nothing one suite
//     leaves behind (measured speeds, feedback, a search index, files, editors, workspace storage
//     locks) reaches another: each starts from the same known state whatever ran before it.
//  6. totals {"passed","failed","skipped"} to $ZETA_RESULTS_FILE; exit 1 on any failure
//
// Everything started here is stopped on exit (code-server's process group), also on SIGINT/SIGTERM
// and on the overall deadline. Screenshots of failing UI tests, and each workbench's logs (Zeta's
// output channel among them) when anything failed, land in test-results/ (workbench-logs/<suite>).
//
// Environment: ZETA_E2E_ONLY=api|ui (one phase), ZETA_E2E_KEEP=1 (keep the temp dir),
// ZETA_E2E_DEADLINE_S (default 1200), ZETA_E2E_NO_BUILD=1 (use dist/ as it is), ZETA_E2E_VERBOSE=1
// (code-server --verbose: Zeta's log at debug level, every completion's routing included).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageForHost } from '../../scripts/package.mjs';
import { buildApiSuite } from './build.mjs';
import { runExtensionTests } from './lib/extensionTests.mjs';
import {
    ROOT, ensureWorkbenchTools, freePort, installVsix, killGroup, killProcessesMentioning, quietUserSettings, sleep, startCodeServer, writeUserSettings, xdgEnv,
} from '../../scripts/workbench.mjs';

process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';
const t0 = Date.now();
const log = (msg) => console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
const only = process.env.ZETA_E2E_ONLY;
const deadlineS = Number(process.env.ZETA_E2E_DEADLINE_S ?? 1200);
const resultsDir = join(ROOT, 'test-results');

const totals = { passed: 0, failed: 0, skipped: 0 };
const phases = [];
const cleanups = [];
let finished = false;

async function cleanup() {
    for (const fn of cleanups.splice(0).reverse()) {
        try { await fn(); } catch (e) { console.error(`cleanup: ${e?.message ?? e}`); }
    }
}

async function finish(code) {
    if (finished) return;
    finished = true;
    await cleanup();
    const file = process.env.ZETA_RESULTS_FILE;
    if (file) writeFileSync(file, JSON.stringify(totals));
    for (const p of phases) console.log(`  ${p}`);
    log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
    process.exit(code !== 0 || totals.failed > 0 ? 1 : 0);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
        log(`${sig}: stopping`);
        totals.failed += 1;
        void finish(1);
    });
}
// The deadlines here (whole run, API suite, UI phase) are hang caps, well above what a busy 2-core
// machine needs; they never judge speed (a slow machine must not turn the run red).
const deadline = setTimeout(() => {
    log(`the workbench tests ran past ${deadlineS} s: stopping (counted as a failure)`);
    totals.failed += 1;
    void finish(1);
}, deadlineS * 1000);
deadline.unref();

function runOrThrow(cmd, args, what, opts = {}) {
    const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
    if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}):\n${r.stdout ?? ''}\n${r.stderr ?? ''}`);
    return r.stdout ?? '';
}

/** The tiny generated models (coder/reasoner/embedder), regenerated only when missing or stale. */
function ensureTinyModels() {
    const script = "require('./scripts/generatedModels').ensureModels('tiny').then((m) => console.log(JSON.stringify(m)))";
    const out = runOrThrow(join(ROOT, 'node_modules/.bin/tsx'), ['-e', script], 'generating the tiny models');
    return JSON.parse(out.trim().split('\n').pop());
}

/** Runs mocha over one UI suite file in a child process; resolves with its totals. */
function runUiSuite(spec, env, timeoutMs) {
    const resultsFile = join(env.ZETA_E2E_TMP, 'ui-results.json');
    return new Promise((resolve) => {
        const child = spawn(join(ROOT, 'node_modules/.bin/mocha'), [
            '--require', 'tsx/cjs', '--timeout', '90000', '--reporter', './scripts/mocha-count-reporter.cjs', spec,
        ], {
            cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env, ZETA_RESULTS_FILE: resultsFile },
            detached: true, // its own process group, with the Chromium it launches: stopped as a whole
        });
        const stop = async () => {
            killGroup(child.pid, 'SIGTERM');
            await sleep(1000);
            killGroup(child.pid, 'SIGKILL');
        };
        const timer = setTimeout(() => void stop(), timeoutMs);
        cleanups.push(stop);
        child.on('exit', (code, signal) => {
            clearTimeout(timer);
            let counts;
            try {
                counts = JSON.parse(readFileSync(resultsFile, 'utf8'));
            } catch {
                counts = { passed: 0, failed: 1, skipped: 0 };
                log(`${spec} exited ${code ?? signal} without reporting results: counted as 1 failure`);
            }
            if (code !== 0 && counts.failed === 0) counts.failed = 1;
            resolve(counts);
        });
    });
}

async function main() {
    ensureWorkbenchTools();
    const models = ensureTinyModels();
    log(`tiny models in ${models.dir}`);

    if (!process.env.ZETA_E2E_NO_BUILD) {
        runOrThrow(process.execPath, ['scripts/build.mjs'], 'npm run build');
        log('built dist/');
    }
    const { vsix } = packageForHost(join(ROOT, 'out/e2e/vsix'), (m) => log(m.trim()), { e2e: true }); // with the e2e test hook (scripts/package.mjs)
    const testsPath = await buildApiSuite();
    log('bundled the API suite');

    const tmp = mkdtempSync(join(tmpdir(), 'zeta-e2e-'));
    if (!process.env.ZETA_E2E_KEEP) cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
    else log(`keeping ${tmp}`);
    // Before the temp dir goes (cleanups run in reverse): anything of this run still alive, e.g. the
    // Chromium of a UI process that was killed (Chromium runs in a process group of its own).
    cleanups.push(() => {
        const n = killProcessesMentioning(tmp);
        if (n > 0) log(`killed ${n} leftover process(es) of this run`);
    });
    // On failure each workbench's logs (Zeta's output channel included) go beside the screenshots.
    const workbenches = [];
    cleanups.push(() => {
        if (totals.failed === 0) return;
        rmSync(join(resultsDir, 'workbench-logs'), { recursive: true, force: true });
        for (const { name, dir } of workbenches) {
            const logs = join(dir, 'user-data', 'logs');
            if (existsSync(logs)) cpSync(logs, join(resultsDir, 'workbench-logs', name), { recursive: true });
        }
        log(`workbench logs copied to ${join(resultsDir, 'workbench-logs')}`);
    });
    const extensionsDir = join(tmp, 'extensions');
    installVsix(vsix, { extensionsDir, userDataDir: join(tmp, 'install-profile'), env: xdgEnv(join(tmp, 'install')) });
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const installed = readdirSync(extensionsDir).find((d) => d.startsWith(`${manifest.publisher}.${manifest.name}-`));
    if (!installed) throw new Error(`the .vsix did not install into ${extensionsDir}`);
    const extensionPath = join(extensionsDir, installed);
    log(`installed ${installed}`);
    mkdirSync(resultsDir, { recursive: true });

    /**
     * A workbench of its own for one suite: a fresh profile (quiet settings), a fresh copy of the
     * fixture workspace, XDG dirs and a code-server on a free port, sharing only the installed
     * extension. Stopped by the returned stop() (and on exit).
     */
    async function startWorkbench(name, extraEnv = {}) {
        const dir = join(tmp, name);
        const userDataDir = join(dir, 'user-data');
        const workspace = join(dir, 'workspace');
        cpSync(join(ROOT, 'test/e2e/fixtures/workspace'), workspace, { recursive: true });
        writeUserSettings(userDataDir, quietUserSettings({
            // Short debounce for quick ghost text; answers long enough (~0.5 s from the tiny reasoner)
            // that the answer panel visibly streams.
            'zeta.completion.debounceMinMs': 50,
            'zeta.completion.debounceMaxMs': 200,
            'zeta.chatMaxTokens': 160,
        }));
        workbenches.push({ name, dir });
        const port = await freePort();
        const env = {
            ZETA_CODER_MODEL: models.coder,
            ZETA_REASONER_MODEL: models.reasoner,
            ZETA_EMBEDDER_MODEL: models.embedder,
            ZETA_THREADS: '1',
            ZETA_E2E_WORKSPACE: workspace,
            ZETA_E2E_USER_DATA: userDataDir,
            ...extraEnv,
        };
        const cs = await startCodeServer({ port, userDataDir, extensionsDir, stateDir: dir, env });
        cleanups.push(() => cs.stop());
        log(`${name}: code-server on ${cs.url} (process group ${cs.pid})`);
        return { cs, port, dir, workspace, userDataDir };
    }

    if (!only || only === 'api') {
        const t = Date.now();
        const apiResults = join(tmp, 'api-results.json');
        const wb = await startWorkbench('api', { ZETA_E2E_API_RESULTS: apiResults });
        let counts;
        try {
            const r = await runExtensionTests({
                base: wb.cs.url, port: wb.port, folder: wb.workspace, extensionPath, testsPath, timeoutMs: 400_000,
                screenshotPath: join(resultsDir, 'api-suite-timeout.png'), onCleanup: (fn) => cleanups.push(fn), tmp: wb.dir,
            });
            counts = existsSync(apiResults) ? JSON.parse(readFileSync(apiResults, 'utf8')) : undefined;
            if (!counts) {
                log(`the API suite exited ${r.exitCode} without reporting results: counted as 1 failure`);
                console.log(r.console.slice(-40).join('\n'));
                counts = { passed: 0, failed: 1, skipped: 0 };
            } else if (r.exitCode !== 0 && counts.failed === 0) counts.failed = 1;
        } catch (e) {
            log(`API suite: ${e.message}`);
            console.log((e.console ?? []).slice(-40).join('\n'));
            console.log(wb.cs.output().slice(-3000));
            counts = { passed: 0, failed: 1, skipped: 0 };
        }
        await wb.cs.stop();
        add('API suite (extension host)', counts, t);
    }

    if (!only || only === 'ui') {
        // One workbench per suite file, in alphabetical order; the UI phase's hang cap covers them all.
        const specs = readdirSync(join(ROOT, 'test/e2e/ui')).filter((f) => f.endsWith('.test.ts')).sort();
        const phaseEnd = Date.now() + 900_000;
        for (const file of specs) {
            const t = Date.now();
            const name = file.replace(/\.test\.ts$/, '');
            const wb = await startWorkbench(name);
            const counts = await runUiSuite(`test/e2e/ui/${file}`, {
                ZETA_E2E_URL: wb.cs.url, ZETA_E2E_PORT: String(wb.port), ZETA_E2E_WORKSPACE: wb.workspace, ZETA_E2E_TMP: wb.dir,
                ZETA_E2E_RESULTS_DIR: resultsDir,
            }, Math.max(1000, phaseEnd - Date.now()));
            await wb.cs.stop();
            add(`UI suite ${file} (Chromium)`, counts, t);
        }
    }
}

function add(name, counts, since) {
    totals.passed += counts.passed;
    totals.failed += counts.failed;
    totals.skipped += counts.skipped ?? 0;
    phases.push(`${name}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped ?? 0} skipped (${((Date.now() - since) / 1000).toFixed(0)} s)`);
}

main().then(() => finish(0), (err) => {
    console.error(`e2e: ${err?.stack ?? err}`);
    totals.failed += 1;
    return finish(1);
});
