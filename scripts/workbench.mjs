// Driving a real VS Code workbench (code-server 4.100.3 from tools/workbench) from Node: profiles,
// installing a .vsix, starting and stopping code-server, and the URLs that open a folder or run an
// extension test suite in the extension host. Shared by `npm start` (scripts/start.mjs), the
// workbench tests (test/e2e/run.mjs) and `npm run bench -- --workbench` (bench/modes/workbench.ts). Facts behind each choice: ../shared/ENVIRONMENT.md.
//
// Invariant: every process started here runs in its own process group (detached), and stop() kills
// that whole group, so nothing code-server forks (extension host, file watcher, pty host) outlives it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CODE_SERVER = join(ROOT, 'tools/workbench/node_modules/.bin/code-server');
export const HOST = '127.0.0.1';

/** Runs scripts/setup-workbench.sh unless `--check` says everything is already in place. */
export function ensureWorkbenchTools() {
    const check = spawnSync('bash', [join(ROOT, 'scripts/setup-workbench.sh'), '--check'], { stdio: 'ignore' });
    if (check.status === 0) return;
    const r = spawnSync('bash', [join(ROOT, 'scripts/setup-workbench.sh')], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`scripts/setup-workbench.sh exited ${r.status ?? r.signal}`);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
    return new Promise((res, rej) => {
        const srv = createServer();
        srv.unref();
        srv.on('error', rej);
        srv.listen(0, HOST, () => {
            const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
            srv.close(() => res(port));
        });
    });
}

/** True when something already listens on HOST:port. */
export function portInUse(port) {
    return new Promise((res) => {
        const srv = createServer();
        srv.once('error', () => res(true));
        srv.listen(port, HOST, () => srv.close(() => res(false)));
    });
}

/**
 * User settings for a quiet workbench in which inline suggestions show as ghost text: no start page,
 * no trust prompt, no telemetry or update checks, and no suggest widget (it would turn the ghost text
 * into `ghost-text-decoration-preview`).
 */
export function quietUserSettings(extra = {}) {
    return {
        'workbench.startupEditor': 'none',
        'workbench.welcomePage.walkthroughs.openOnInstall': false,
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'security.workspace.trust.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'extensions.ignoreRecommendations': true,
        'update.mode': 'none',
        'files.hotExit': 'off',
        'window.restoreWindows': 'none',
        'editor.inlineSuggest.enabled': true,
        'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
        'editor.suggestOnTriggerCharacters': false,
        'editor.wordBasedSuggestions': 'off',
        'editor.parameterHints.enabled': false,
        'editor.minimap.enabled': false,
        'editor.accessibilitySupport': 'off',
        'git.enabled': false,
        'chat.commandCenter.enabled': false,
        ...extra,
    };
}

/** Writes `<userDataDir>/User/settings.json` (code-server's --user-data-dir layout). */
export function writeUserSettings(userDataDir, settings) {
    mkdirSync(join(userDataDir, 'User'), { recursive: true });
    writeFileSync(join(userDataDir, 'User', 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
}

/** code-server writes to ~/.config and ~/.local/share unless the XDG_* variables point elsewhere. */
export function xdgEnv(stateDir) {
    const env = {};
    for (const [name, sub] of [['XDG_CONFIG_HOME', 'config'], ['XDG_DATA_HOME', 'data'], ['XDG_CACHE_HOME', 'cache'], ['XDG_STATE_HOME', 'state']]) {
        env[name] = join(stateDir, 'xdg', sub);
        mkdirSync(env[name], { recursive: true });
    }
    return env;
}

/** `code-server --install-extension vsix --extensions-dir dir`; throws with code-server's output. */
export function installVsix(vsix, { extensionsDir, userDataDir, env = {} }) {
    mkdirSync(extensionsDir, { recursive: true });
    const r = spawnSync(CODE_SERVER, ['--install-extension', vsix, '--force', '--extensions-dir', extensionsDir, '--user-data-dir', userDataDir], {
        encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000,
    });
    if (r.status !== 0) throw new Error(`installing ${vsix} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout.trim();
}

/**
 * Starts code-server on HOST:port and waits for /healthz. Returns { url, pid, stop(), output() }.
 * `output()` is everything code-server printed so far (for failure reports); `onLine` sees each line.
 */
export async function startCodeServer({ port, userDataDir, extensionsDir, stateDir, folder, env = {}, onLine, timeoutMs = 60_000 }) {
    if (!existsSync(CODE_SERVER)) throw new Error(`${CODE_SERVER} is missing: run scripts/setup-workbench.sh`);
    const args = [
        '--bind-addr', `${HOST}:${port}`, '--auth', 'none',
        '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
        '--disable-getting-started-override', '--ignore-last-opened',
        '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir,
    ];
    if (process.env.ZETA_E2E_VERBOSE) args.push('--verbose');
    if (folder) args.push(folder);
    const child = spawn(CODE_SERVER, args, {
        detached: true, // its own process group: stop() kills the group
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...xdgEnv(stateDir), ...env },
    });
    let out = '';
    let exited = null;
    const take = (chunk) => {
        const text = chunk.toString();
        out += text;
        if (onLine) for (const line of text.split('\n')) if (line.trim()) onLine(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('exit', (code, signal) => { exited = { code, signal }; });

    let stopped = false;
    const stop = async () => {
        if (stopped) return;
        stopped = true;
        killGroup(child.pid, 'SIGTERM');
        const t0 = Date.now();
        while (exited === null && Date.now() - t0 < 5000) await sleep(100);
        // The group may outlive its leader (extension host, pty host): always finish it off.
        killGroup(child.pid, 'SIGKILL');
    };

    const url = `http://${HOST}:${port}/`;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (exited) throw new Error(`code-server exited (${exited.code ?? exited.signal}) before answering /healthz:\n${out}`);
        try {
            const res = await fetch(`${url}healthz`, { signal: AbortSignal.timeout(2000) });
            if (res.ok) break;
        } catch { /* not listening yet */ }
        if (Date.now() > deadline) {
            await stop();
            throw new Error(`code-server did not answer ${url}healthz within ${timeoutMs} ms:\n${out}`);
        }
        await sleep(200);
    }
    return { url, pid: child.pid, stop, output: () => out, exited: () => exited };
}

/** Kills a process group by its leader's pid; a group that is already gone is fine. */
export function killGroup(pid, signal) {
    if (!pid) return;
    try { process.kill(-pid, signal); } catch { /* ESRCH: already gone */ }
}

/**
 * SIGKILLs, by pid, every process whose command line mentions `marker` (a run's own mkdtemp path,
 * e.g. Chromium's --user-data-dir inside it): what a killed test process may leave behind.
 * Returns how many were found.
 */
export function killProcessesMentioning(marker) {
    let n = 0;
    for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
        let cmdline;
        try { cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8'); } catch { continue; }
        if (!cmdline.includes(marker)) continue;
        try { process.kill(Number(entry), 'SIGKILL'); n++; } catch { /* already gone */ }
    }
    return n;
}

/** The workbench URL that opens `folder`. */
export function folderUrl(base, folder) {
    return `${base}?folder=${encodeURIComponent(folder)}`;
}

/**
 * The workbench URL that loads the extension at `extensionPath` (an absolute path on this machine)
 * as the development extension and runs the test-electron style suite `testsPath` (a module whose
 * `run()` returns a promise) in the real Node extension host. The window then calls
 * `codeAutomationExit(code)`, which the page must expose (Playwright's page.exposeFunction).
 */
export function extensionTestUrl(base, { port, folder, extensionPath, testsPath }) {
    const remote = (p) => `vscode-remote://${HOST}:${port}${p}`;
    const payload = [['extensionDevelopmentPath', remote(extensionPath)], ['extensionTestsPath', remote(testsPath)]];
    return `${base}?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** Options for launching Debian's chromium headless through playwright-core. */
export function chromiumLaunchOptions(extraArgs = []) {
    return {
        executablePath: process.env.ZETA_CHROMIUM ?? '/usr/bin/chromium',
        headless: true,
        viewport: { width: 1400, height: 900 },
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', ...extraArgs],
    };
}

export function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}
