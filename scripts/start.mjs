#!/usr/bin/env node
// `npm start [-- --port N]`: Zeta in a real VS Code workbench (code-server 4.100.3, tools/workbench),
// on a demo workspace, bound to 127.0.0.1. Builds, packages the extension for this platform and
// installs it into a fresh extensions folder, generates the demo models when no model paths are
// configured, prints the URL, and on Ctrl+C (SIGINT/SIGTERM/SIGHUP) stops everything it started.
//
// State lives under .zeta/ (gitignored):
//   .zeta/start/user-data     the workbench profile (User/settings.json: your edits are kept)
//   .zeta/start/extensions    recreated on every start, holding only Zeta
//   .zeta/start/xdg           code-server's own config/data (XDG_* point here, not at ~)
//   .zeta/models/full         the generated demo models (when no model paths are configured)
//   .zeta/demo-workspace      the demo folder; its sample files are rewritten on every start
//
// Options: --port N (default 8080), --no-build (use dist/ as it is), --folder DIR (open DIR instead).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import {
    ROOT, ensureWorkbenchTools, folderUrl, installVsix, portInUse, quietUserSettings, startCodeServer, writeUserSettings, xdgEnv,
} from './workbench.mjs';
import { packageForHost } from './package.mjs';

const ROLES = ['coder', 'reasoner', 'embedder'];
const ENV_NAMES = { coder: 'ZETA_CODER_MODEL', reasoner: 'ZETA_REASONER_MODEL', embedder: 'ZETA_EMBEDDER_MODEL' };

function parseArgs(argv) {
    const opts = { port: 8080, build: true, folder: undefined };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--port' || a === '-p') opts.port = Number(argv[++i]);
        else if (a.startsWith('--port=')) opts.port = Number(a.slice(7));
        else if (a === '--no-build') opts.build = false;
        else if (a === '--folder') opts.folder = resolve(argv[++i]);
        else if (a === '--help' || a === '-h') {
            console.log('usage: npm start [-- --port N] [--no-build] [--folder DIR]');
            process.exit(0);
        } else throw new Error(`unknown option ${a} (try --help)`);
    }
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new Error(`--port wants a port number, got ${opts.port}`);
    return opts;
}

const t0 = Date.now();
const log = (msg) => console.log(`[zeta start ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${msg}`);

function run(cmd, args, what) {
    const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal})`);
}

/** JSON with comments and trailing commas (settings.json), or undefined when it cannot be read. */
function readJsonc(file) {
    try {
        const text = readFileSync(file, 'utf8')
            .replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (_m, str) => str ?? '')
            .replace(/,(\s*[}\]])/g, '$1');
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}

/** Model paths set in the profile's settings or the environment, per role. */
function configuredModels(userSettings) {
    const found = {};
    for (const role of ROLES) {
        const fromEnv = process.env[ENV_NAMES[role]];
        const fromSettings = userSettings?.[`zeta.models.${role}.path`];
        if (fromEnv) found[role] = `${ENV_NAMES[role]}=${fromEnv}`;
        else if (typeof fromSettings === 'string' && fromSettings.trim()) found[role] = `zeta.models.${role}.path=${fromSettings}`;
    }
    return found;
}

/** Generates (when missing or stale) the full-preset demo models; returns their paths. */
function ensureDemoModels() {
    const script = "require('./scripts/generatedModels').ensureModels('full').then((m) => console.log(JSON.stringify(m)))";
    const r = spawnSync(join(ROOT, 'node_modules/.bin/tsx'), ['-e', script], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`generating the demo models failed (${r.status ?? r.signal})`);
    const models = JSON.parse(r.stdout.trim().split('\n').pop());
    return { coder: models.coder, reasoner: models.reasoner, embedder: models.embedder };
}

/**
 * Creates .zeta/demo-workspace from demo/workspace, rewriting the sample files (files you add
 * there are left alone). The samples are in the repository as files so that the benchmark can
 * measure search on them too (bench/quality/demo-queries.jsonl).
 */
function refreshDemoWorkspace(dir) {
    cpSync(join(ROOT, 'demo/workspace'), dir, { recursive: true, force: true });
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    if (await portInUse(opts.port)) throw new Error(`127.0.0.1:${opts.port} is already in use; pick another with npm start -- --port N`);

    ensureWorkbenchTools();
    if (opts.build) {
        log('building (npm run build)');
        run(process.execPath, ['scripts/build.mjs'], 'npm run build');
    }
    if (!existsSync(join(ROOT, 'dist/extension.js'))) throw new Error('dist/extension.js is missing: run npm run build');

    const state = join(ROOT, '.zeta/start');
    const userDataDir = join(state, 'user-data');
    const extensionsDir = join(state, 'extensions');
    const settingsFile = join(userDataDir, 'User/settings.json');

    // The profile keeps your edits; the quiet defaults fill in what is not set.
    const existing = existsSync(settingsFile) ? readJsonc(settingsFile) : {};
    if (existing === undefined) log(`${settingsFile} is not valid JSON; left as it is`);
    else writeUserSettings(userDataDir, { ...quietUserSettings(), ...existing });

    const env = {};
    // On two cores llama.cpp's default thread count makes every model crawl (each model's threads
    // fight the others' and the workbench's): one thread per evaluation is fastest there.
    if (!process.env.ZETA_THREADS && availableParallelism() <= 2) {
        env.ZETA_THREADS = '1';
        log(`${availableParallelism()} cores: ZETA_THREADS=1 (set ZETA_THREADS to override)`);
    }
    const configured = configuredModels(existing);
    if (Object.keys(configured).length > 0) {
        log(`model paths configured: ${Object.values(configured).join(', ')}`);
    } else {
        log('no model paths configured: generating the demo models into .zeta/models/full');
        const models = ensureDemoModels();
        for (const role of ROLES) env[ENV_NAMES[role]] = models[role];
        log(`demo models: ${ROLES.map((r) => `${ENV_NAMES[r]}=${models[r]}`).join(' ')}`);
    }

    const { vsix } = packageForHost(join(state, 'vsix'), (m) => log(m.trim()));
    rmSync(extensionsDir, { recursive: true, force: true });
    installVsix(vsix, { extensionsDir, userDataDir, env: { ...env, ...xdgEnv(state) } });
    log(`installed into ${extensionsDir}`);

    const folder = opts.folder ?? join(ROOT, '.zeta/demo-workspace');
    if (!opts.folder) refreshDemoWorkspace(folder);

    const cs = await startCodeServer({
        port: opts.port, userDataDir, extensionsDir, stateDir: state, folder, env,
        onLine: (line) => { if (/error|warn/i.test(line) && !/open-vsx|ENOTFOUND/.test(line)) console.log(`[code-server] ${line}`); },
    });

    let stopping = false;
    const shutdown = async (why) => {
        if (stopping) return;
        stopping = true;
        log(`${why}: stopping code-server (process group ${cs.pid})`);
        await cs.stop();
        log('stopped');
        process.exit(0);
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void shutdown(sig));

    console.log(`\n  Zeta is running in VS Code (code-server 4.100.3):\n\n      ${folderUrl(cs.url, folder)}\n\n  Ctrl+C stops it.\n`);
    for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        const ex = cs.exited();
        if (ex && !stopping) {
            console.error(`code-server exited (${ex.code ?? ex.signal}):\n${cs.output().slice(-4000)}`);
            await cs.stop();
            process.exit(1);
        }
    }
}

main().catch((err) => {
    console.error(`npm start: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
});
