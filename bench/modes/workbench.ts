/**
 * --workbench: time to ghost text in the real editor, static against zeta (issue 19 §5).
 *
 *   npm run bench -- --workbench --out DIR [--rounds N] [--bursts N] [--seed N] [--quick]
 *                    [--sim-report FILE] [--no-build]
 *
 * Zeta packaged as a .vsix and installed into a fresh code-server 4.100.3 profile, driven by
 * headless Debian Chromium through playwright-core, exactly as the e2e suite does it (the process
 * helpers of scripts/workbench.mjs, scripts/package.mjs, the tiny generated models). A fixed
 * script of bursts and pauses (workbench/script.ts) is typed at the end of src/geometry.py of a copy
 * of the e2e fixture workspace, in rounds alternating static and zeta (2 rounds each by default;
 * --quick: 1 each, 6 bursts), each policy as the sim runs it (bench/policies.ts: the router policy
 * and the editor's debounce). Before a round:
 *  - its settings are made in the Settings editor (code-server does not notice settings.json
 *    written from outside), and the load view's header shows the policy in force;
 *  - the file is reverted, closed and reopened: every round types the same text into the same
 *    document, and closing it empties Zeta's completion cache for it (otherwise the pauses of a
 *    round would be answered from what the round before cached at the same places).
 * In the page, a keydown listener and a MutationObserver take the timestamps (workbench/timing.ts).
 * Zeta's log, at debug level, then shows per round the policy of every completion routed and the
 * debounce of every one served (workbench/zetaLog.ts). Writes DIR/workbench.json and
 * DIR/workbench.md (workbench/report.ts); with --sim-report, compares the ratio with the sim's.
 * ZETA_BENCH_KEEP=1 keeps the run's temp folder (profile, workspace, logs).
 *
 * Everything started here (code-server's process group, Chromium) is stopped on return, on an
 * error and on SIGINT/SIGTERM/SIGHUP; the run's temp folder is removed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Frame, type LaunchOptions, type Locator, type Page } from 'playwright-core';
import { ensureModels } from '../../scripts/generatedModels';
import { GHOST_SELECTOR, textWithoutGhost } from '../../scripts/workbenchDom';
import { DEFAULT_SETTINGS } from '../../src/core/userSettings';
import { round } from '../lib/stats';
import { completionHandling } from '../policies';
import { roundPolicy, roundResult, workbenchMarkdown, workbenchReport, type PolicyHandling, type RoundResult, type WorkbenchPolicy, type WorkbenchReport } from './workbench/report';
import { DEFAULT_KEY_GAP_MS, DEFAULT_PAUSE_MS, scriptDurationMs, scriptKeyCount, scriptText, typingScript, type Burst, type TypingScript } from './workbench/script';
import { installRecorder, pauseTimings, type BurstWindow, type KeyEvent, type PauseTiming } from './workbench/timing';
import { parseZetaLog, roundEvidence } from './workbench/zetaLog';

const ROOT = join(__dirname, '..', '..');
/** The file typed into, relative to the workspace (a copy of test/e2e/fixtures/workspace). */
const FILE = 'src/geometry.py';
const STATUS_ID = 'zeta-dev.zeta.zeta.status';

export interface WorkbenchArgs {
    readonly out: string;
    readonly seed: number;
    /** Rounds of each policy (static and zeta alternate). */
    readonly roundsPerPolicy: number;
    readonly bursts: number;
    readonly simReport: string | undefined;
    /** Run `npm run build` first (off: package dist/ as it is). */
    readonly build: boolean;
}

/** `--workbench [--out DIR] [--rounds N] [--bursts N] [--seed N] [--quick] [--sim-report FILE] [--no-build]`. */
export function parseWorkbenchArgs(argv: readonly string[]): WorkbenchArgs {
    let out = join('bench-out', 'workbench');
    let seed = 1;
    let rounds: number | undefined;
    let bursts: number | undefined;
    let quick = false;
    let simReport: string | undefined;
    let build = true;
    const whole = (flag: string, v: string, min: number): number => {
        const n = Number(v);
        if (!(Number.isInteger(n) && n >= min)) throw new Error(`${flag} must be a whole number >= ${min}, got "${v}"`);
        return n;
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = (): string => {
            const v = argv[++i];
            if (v === undefined) throw new Error(`${a} needs a value`);
            return v;
        };
        if (a === '--workbench') continue;
        else if (a === '--out') out = value();
        else if (a === '--seed') seed = whole('--seed', value(), 0);
        else if (a === '--rounds') rounds = whole('--rounds', value(), 1);
        else if (a === '--bursts') bursts = whole('--bursts', value(), 1);
        else if (a === '--quick') quick = true;
        else if (a === '--sim-report') simReport = value();
        else if (a === '--no-build') build = false;
        else throw new Error(`--workbench takes --out, --rounds, --bursts, --seed, --quick, --sim-report and --no-build, not "${a}"`);
    }
    return { out, seed, roundsPerPolicy: rounds ?? (quick ? 1 : 2), bursts: bursts ?? (quick ? 6 : 16), simReport, build };
}

/** The parts of scripts/workbench.mjs used here (an untyped .mjs). */
interface WorkbenchTools {
    ensureWorkbenchTools(): void;
    freePort(): Promise<number>;
    quietUserSettings(extra?: Record<string, unknown>): Record<string, unknown>;
    writeUserSettings(userDataDir: string, settings: Record<string, unknown>): void;
    xdgEnv(stateDir: string): Record<string, string>;
    installVsix(vsix: string, opts: { extensionsDir: string; userDataDir: string; env?: Record<string, string> }): string;
    startCodeServer(opts: { port: number; userDataDir: string; extensionsDir: string; stateDir: string; env?: Record<string, string> }): Promise<{ url: string; pid: number; stop(): Promise<void>; output(): string }>;
    killProcessesMentioning(marker: string): number;
    killGroup(pid: number, signal: NodeJS.Signals): void;
    folderUrl(base: string, folder: string): string;
    chromiumLaunchOptions(extraArgs?: string[]): LaunchOptions & { viewport: { width: number; height: number } };
}

/** scripts/package.mjs's packager for this platform (reuses a .vsix whose inputs are unchanged). */
type PackageForHost = (out: string, log?: (m: string) => void) => { vsix: string; reused: boolean };

/**
 * The workbench's process helpers are the e2e suite's (also used by scripts/start.mjs). They are
 * loaded by path at run time: the import graph keeps bench/ from importing test/ statically, and
 * these are tools for driving the editor, not tests.
 */
async function loadTools(): Promise<{ tools: WorkbenchTools; packageForHost: PackageForHost }> {
    const tools = (await import(pathToFileURL(join(ROOT, 'scripts', 'workbench.mjs')).href)) as WorkbenchTools;
    const pkg = (await import(pathToFileURL(join(ROOT, 'scripts', 'package.mjs')).href)) as { packageForHost: PackageForHost };
    return { tools, packageForHost: pkg.packageForHost };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// --- Workbench gestures (the same as test/e2e/ui/workbench.ts's) ---

/**
 * Opens the command palette (F1) and returns its input. Waits for the previous quick input to be
 * gone first: F1 while it is still closing is lost.
 */
async function palette(page: Page): Promise<Locator> {
    const input = page.locator('.quick-input-widget input');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
    await page.keyboard.press('F1');
    await input.waitFor({ timeout: 10_000 });
    return input;
}

/** Runs a command from the command palette by its label, e.g. "File: Revert File". */
async function runCommand(page: Page, label: string): Promise<void> {
    const input = await palette(page);
    await input.fill(`>${label}`);
    // The row whose label is exactly this command, clicked: the focused row (what Enter runs) may be
    // another match ("Preferences: Open User Settings (JSON)", "View: Close Editor Group").
    const exact = new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    await page.locator('.quick-input-list .monaco-list-row', { has: page.locator('.label-name', { hasText: exact }) }).first().click({ timeout: 10_000 });
}

/** Quick Open: brings a workspace file to the front of the active group; returns its editor. */
async function openFile(page: Page, rel: string): Promise<Locator> {
    const input = await palette(page);
    await input.fill(rel);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: rel.split('/').pop() }).first().waitFor({ timeout: 20_000 });
    await page.keyboard.press('Enter');
    const editor = page.locator(`.editor-group-container.active .monaco-editor[data-uri$="${rel}"]`);
    await editor.waitFor({ timeout: 20_000 });
    return editor;
}

/** The frame of the webview whose document has `selector`. */
async function webviewFrame(page: Page, selector: string, timeoutMs = 20_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        for (const frame of page.frames()) {
            if (frame === page.mainFrame()) continue;
            if (await frame.$(selector).catch(() => null)) return frame;
        }
        if (Date.now() > deadline) throw new Error(`no webview with ${selector} within ${timeoutMs} ms`);
        await page.waitForTimeout(200);
    }
}

async function waitForModelsLoaded(page: Page, timeoutMs: number): Promise<void> {
    await page.waitForFunction((id) => {
        const item = document.getElementById(id);
        const label = item?.getAttribute('aria-label') ?? item?.querySelector('[aria-label]')?.getAttribute('aria-label') ?? '';
        return /coder loaded/.test(label) && /reasoner loaded/.test(label);
    }, STATUS_ID, { timeout: timeoutMs, polling: 250 });
}

/**
 * A policy as the benchmark runs it (bench/policies.ts, as in the sim): the router policy and the
 * debounce of the editors that use it (static: a fixed 350 ms; zeta: its adaptive 25-600 ms).
 */
export function policyHandling(policy: WorkbenchPolicy): PolicyHandling {
    const h = completionHandling(policy);
    return { routerPolicy: policy, debounceMinMs: h.debounceMinMs, debounceMaxMs: h.debounceMaxMs };
}

/** The user settings that make `policy` what the extension runs. */
function policySettings(policy: WorkbenchPolicy): Record<string, unknown> {
    const h = policyHandling(policy);
    return { 'zeta.routing.policy': h.routerPolicy, 'zeta.completion.debounceMinMs': h.debounceMinMs, 'zeta.completion.debounceMaxMs': h.debounceMaxMs };
}

/** Shows `query`'s settings in the Settings editor (User tab), opened or brought to the front. */
async function searchSettings(page: Page, query: string, shown: Locator): Promise<void> {
    await runCommand(page, 'Preferences: Open User Settings');
    await page.locator('.settings-editor').waitFor({ timeout: 20_000 });
    if (await shown.isVisible()) return;
    await page.locator('.settings-editor .settings-header .suggest-input-container').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(query);
    await shown.waitFor({ timeout: 20_000 });
}

/** The defaults of the settings a round sets: the Settings editor removes a key set to its default. */
const SETTING_DEFAULTS: Record<string, unknown> = {
    'zeta.routing.policy': DEFAULT_SETTINGS.routing.policy,
    'zeta.completion.debounceMinMs': DEFAULT_SETTINGS.completion.debounceMinMs,
    'zeta.completion.debounceMaxMs': DEFAULT_SETTINGS.completion.debounceMaxMs,
};

/** The value in force for `key` by User/settings.json (its default when absent); undefined while the file is being written. */
function settingInFile(file: string, key: string): unknown {
    let current: Record<string, unknown>;
    try {
        current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
        return undefined;
    }
    return key in current ? current[key] : SETTING_DEFAULTS[key];
}

/** Waits until User/settings.json gives `key` the value `value` (the Settings editor writes a typed number after a short wait). */
async function waitForSetting(file: string, key: string, value: unknown, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (settingInFile(file, key) !== value) {
        if (Date.now() > deadline) throw new Error(`${file} did not set ${key} to ${JSON.stringify(value)} within ${timeoutMs} ms (it holds ${JSON.stringify(settingInFile(file, key))})`);
        await sleep(100);
    }
}

/**
 * Puts `policy` in force through the Settings editor (User tab), which stays open as a tab behind
 * the file: the debounce bounds first, one at a time (the editor writes only the last of two quick
 * edits), each once the file shows it, then the router policy, so that the policy's arrival at the
 * router (verifyPolicy) comes after the debounce's. Not by writing User/settings.json:
 * code-server 4.100.3 here does not notice a change made to that file from outside (the load view
 * kept the old policy for 20 s and more), while a change made in the Settings editor reaches the
 * extension at once.
 */
async function setPolicy(page: Page, policy: WorkbenchPolicy, settingsFile: string): Promise<void> {
    const h = policyHandling(policy);
    const min = page.locator('.settings-editor input[aria-label="zeta.completion.debounceMinMs"]');
    const max = page.locator('.settings-editor input[aria-label="zeta.completion.debounceMaxMs"]');
    await searchSettings(page, 'zeta.completion.debounce', min);
    // Raise the maximum before the minimum and lower the minimum before the maximum: the pair
    // stays ordered at every step (an unordered pair is refused and the previous one kept).
    const steps: Array<[Locator, string, number]> = [[max, 'zeta.completion.debounceMaxMs', h.debounceMaxMs], [min, 'zeta.completion.debounceMinMs', h.debounceMinMs]];
    if (h.debounceMaxMs < Number(settingInFile(settingsFile, 'zeta.completion.debounceMaxMs'))) steps.reverse();
    for (const [input, key, value] of steps) {
        if (settingInFile(settingsFile, key) === value) continue;
        await input.fill(String(value));
        await waitForSetting(settingsFile, key, value);
    }
    const select = page.locator('.settings-editor select[aria-label="zeta.routing.policy"]');
    await searchSettings(page, 'zeta.routing.policy', select);
    await select.selectOption(h.routerPolicy);
    await waitForSetting(settingsFile, 'zeta.routing.policy', h.routerPolicy);
}

/** Zeta's output channel at debug level: it then logs each completion's route and debounce. */
async function zetaLogToDebug(page: Page): Promise<void> {
    await runCommand(page, 'Developer: Set Log Level...');
    const input = page.locator('.quick-input-widget input');
    await page.waitForFunction(() => document.querySelector('.quick-input-widget input')?.getAttribute('placeholder') === 'Set Log Level', undefined, { timeout: 10_000 });
    // Enter picks the focused row: wait until the filter has put the one wanted there.
    const focused = (label: RegExp): Locator => page.locator('.quick-input-list .monaco-list-row.focused', { hasText: label });
    await page.keyboard.insertText('Zeta');
    await focused(/^Zeta$/).waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    // The levels for Zeta: a fresh list, the filter cleared. (Whether the level took is checked in
    // the log after the warm-up.)
    await page.waitForFunction(() => (document.querySelector('.quick-input-widget input') as HTMLInputElement | null)?.value === '', undefined, { timeout: 10_000 });
    await page.keyboard.insertText('Debug');
    await focused(/^Debug/).waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 10_000 });
}

/** The Zeta output channel's log files of this run (one per extension host). */
function zetaLogFiles(userDataDir: string): string[] {
    const logs = join(userDataDir, 'logs');
    const out: string[] = [];
    for (const session of readdirSync(logs)) {
        for (const host of readdirSync(join(logs, session)).filter((d) => d.startsWith('exthost'))) {
            const file = join(logs, session, host, 'zeta-dev.zeta', 'Zeta.log');
            if (existsSync(file)) out.push(file);
        }
    }
    return out;
}

/**
 * Shows the load view and waits until its header names `policy`: the settings change reached the
 * router. The view is left as a hidden tab when the file comes back to the front (hidden, it does
 * no work).
 */
async function verifyPolicy(page: Page, policy: WorkbenchPolicy): Promise<string> {
    await runCommand(page, 'Zeta: Show Model Load');
    const frame = await webviewFrame(page, '#policy');
    const t = Date.now();
    try {
        await frame.waitForFunction((p) => document.getElementById('policy')?.textContent === `policy: ${p}`, policy, { timeout: 20_000, polling: 100 });
    } catch (e) {
        const seen = await frame.evaluate(() => document.getElementById('policy')?.textContent).catch(() => undefined);
        throw new Error(`the load view did not show "policy: ${policy}" within 20 s (it shows ${JSON.stringify(seen)}): the settings change did not reach the router`, { cause: e });
    }
    return `load view: "policy: ${policy}" (${Date.now() - t} ms)`;
}

/**
 * Reverts the file (File: Revert File), closes it (Zeta forgets the document: its cached
 * suggestions and prompt anchors) and opens it again, the cursor at its end, the editor focused.
 */
async function revertAndPlaceCursor(page: Page): Promise<void> {
    let editor = await openFile(page, FILE);
    await runCommand(page, 'File: Revert File');
    await page.locator('.tabs-container .tab.active:not(.dirty)').waitFor({ timeout: 10_000 });
    await runCommand(page, 'View: Close Editor');
    await editor.waitFor({ state: 'detached', timeout: 10_000 });
    editor = await openFile(page, FILE);
    await editor.locator('.view-lines').click();
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+End');
}

/** The benchmark file's text as its editor shows it, ghost text left out (the file fits the window). */
function editorText(page: Page): Promise<string> {
    return textWithoutGhost(page.locator(`.editor-group-container.active .monaco-editor[data-uri$="${FILE}"]`));
}

/** The first line where `got` and `want` differ, both shown. */
function firstDifference(got: string, want: string): string {
    const a = got.split('\n');
    const b = want.split('\n');
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
        if (a[i] !== b[i]) return `line ${i + 1}: ${JSON.stringify(a[i] ?? null)}, expected ${JSON.stringify(b[i] ?? null)}`;
    }
    return 'none';
}

/** Page time now (ms, `performance.now()` in the page). */
const pageNow = (page: Page): Promise<number> => page.evaluate(() => performance.now());

/**
 * Types the bursts at their gaps (scheduled from the burst's start, so that slow sends do not add
 * up) and waits each pause out. Returns each burst's window in page time.
 */
async function typeBursts(page: Page, bursts: readonly Burst[]): Promise<BurstWindow[]> {
    const windows: BurstWindow[] = [];
    for (const b of bursts) {
        const start = await pageNow(page);
        const t0 = Date.now();
        let at = 0;
        for (let i = 0; i < b.keys.length; i++) {
            at += b.gapsMs[i];
            const wait = t0 + at - Date.now();
            if (wait > 0) await sleep(wait);
            const key = b.keys[i];
            if (key === 'Enter') await page.keyboard.press('Enter');
            else await page.keyboard.type(key);
        }
        await sleep(b.pauseMs);
        windows.push({ start, end: await pageNow(page) });
    }
    return windows;
}

async function takeLog(page: Page): Promise<{ keys: KeyEvent[]; ghosts: number[] }> {
    return page.evaluate(() => (window as unknown as { __zetaBench: { take(): { keys: KeyEvent[]; ghosts: number[] } } }).__zetaBench.take());
}

interface RoundRun {
    readonly verified: string;
    readonly pauses: PauseTiming[];
    readonly missing: number;
    readonly typedAsScripted: boolean;
    /** Wall clock (ms) from the end of the verification to the end of the last pause. */
    readonly from: number;
    readonly to: number;
}

/** One round: the policy set and seen in force, the file reverted, the script typed. */
async function runRound(page: Page, index: number, script: TypingScript, expected: string, settingsFile: string, log: (m: string) => void): Promise<RoundRun> {
    const policy = roundPolicy(index);
    await setPolicy(page, policy, settingsFile);
    const verified = await verifyPolicy(page, policy);
    const from = Date.now();
    await revertAndPlaceCursor(page);
    // A lead-in as long as the longest pause: the editor settles as it would before typing starts.
    await sleep(DEFAULT_PAUSE_MS[1]);
    await takeLog(page);
    const bursts = await typeBursts(page, script.bursts);
    const to = Date.now();
    const { keys, ghosts } = await takeLog(page);
    const text = await editorText(page);
    const typedAsScripted = text.trimEnd() === expected.trimEnd();
    if (!typedAsScripted) {
        log(`round ${index + 1}: the document differs from the script: ${firstDifference(text.trimEnd(), expected.trimEnd())}`);
    }
    const { pauses, missing } = pauseTimings({ keys, ghosts, bursts });
    return { verified, pauses, missing, typedAsScripted, from, to };
}

/**
 * Removes `dir` once this process has exited, however it exits: a detached shell that polls this
 * process's pid (twice a second) and ends as soon as it is gone. It gets `dir` through its
 * environment, not its command line, so that killProcessesMentioning(dir) leaves it alone.
 */
function removeAfterExit(dir: string): void {
    spawn('sh', ['-c', 'while kill -0 "$ZETA_BENCH_PID" 2>/dev/null; do sleep 0.5; done; rm -rf "$ZETA_BENCH_TMP"'], {
        detached: true,
        stdio: 'ignore',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ZETA_BENCH_PID: String(process.pid), ZETA_BENCH_TMP: dir },
    }).unref();
}

function readJson(file: string): unknown {
    return JSON.parse(readFileSync(file, 'utf8'));
}

export async function runWorkbenchMode(args: WorkbenchArgs, command: string): Promise<WorkbenchReport> {
    const t0 = Date.now();
    const loadAtStart = loadavg()[0];
    const log = (m: string): void => console.log(`[workbench ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${m}`);
    const sim = args.simReport ? { path: args.simReport, json: readJson(args.simReport) } : undefined;
    const script = typingScript({ seed: args.seed, bursts: args.bursts });

    process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';
    const { tools, packageForHost } = await loadTools();
    tools.ensureWorkbenchTools();
    const models = await ensureModels('tiny');
    if (args.build) {
        const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`npm run build failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    }
    const { vsix } = packageForHost(join(ROOT, 'out', 'bench', 'vsix'), (m) => log(m.trim()));

    const cleanups: Array<() => unknown> = [];
    // One cleanup, however many callers (a second Ctrl+C, the run's own finally) wait for it.
    let cleaning: Promise<void> | undefined;
    const cleanup = (): Promise<void> => {
        cleaning ??= (async () => {
            for (const fn of cleanups.splice(0).reverse()) {
                try {
                    await fn();
                } catch (e) {
                    console.error(`cleanup: ${e instanceof Error ? e.message : String(e)}`);
                }
            }
        })();
        return cleaning;
    };
    /** Registers what to stop; once stopping has begun, stops it at once and ends the run. */
    const own = (fn: () => unknown): void => {
        if (cleaning) {
            void Promise.resolve().then(fn).catch(() => undefined);
            throw new Error('stopped');
        }
        cleanups.push(fn);
    };
    // Under `npm run bench`, tsx relays a signal to this process and SIGKILLs it when it does not
    // confirm within 30 ms, which a busy cleanup can miss: the processes are signalled at once,
    // synchronously, in the handler (a few ms), the cleanup then finishes the job, and the temp
    // folder goes even if this process does not live to remove it (removeAfterExit).
    const hardStops: Array<() => void> = [];
    const onSignal = (sig: NodeJS.Signals): void => {
        for (const stop of hardStops.splice(0)) {
            try {
                stop();
            } catch {
                // Best effort: the cleanup below tries again.
            }
        }
        log(`${sig}: stopping`);
        void cleanup().finally(() => process.exit(130));
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    let failed = false;
    for (const s of signals) process.on(s, onSignal);

    try {
        const tmp = mkdtempSync(join(tmpdir(), 'zeta-bench-workbench-'));
        if (process.env.ZETA_BENCH_KEEP) log(`keeping ${tmp} (ZETA_BENCH_KEEP)`);
        else {
            own(() => rmSync(tmp, { recursive: true, force: true }));
            removeAfterExit(tmp);
        }
        // Before the folder goes: anything of this run still alive (Chromium keeps its own group).
        own(() => tools.killProcessesMentioning(tmp));
        hardStops.unshift(() => tools.killProcessesMentioning(tmp));
        const userDataDir = join(tmp, 'user-data');
        const extensionsDir = join(tmp, 'extensions');
        const workspace = join(tmp, 'workspace');
        cpSync(join(ROOT, 'test', 'e2e', 'fixtures', 'workspace'), workspace, { recursive: true });
        // The default debounce (the user's experience); no auto-closed brackets, so that the cursor
        // is always at the end of its line; no auto-save (on by default in a web workbench: a
        // revert would then bring back what the last round typed).
        tools.writeUserSettings(userDataDir, tools.quietUserSettings({
            'files.autoSave': 'off',
            'editor.autoClosingBrackets': 'never',
            'editor.autoClosingQuotes': 'never',
            'editor.autoSurround': 'never',
            ...policySettings(roundPolicy(0)),
        }));
        const settingsFile = join(userDataDir, 'User', 'settings.json');
        tools.installVsix(vsix, { extensionsDir, userDataDir, env: tools.xdgEnv(tmp) });
        if (!readdirSync(extensionsDir).some((d) => d.startsWith('zeta-dev.zeta-'))) throw new Error(`the .vsix did not install into ${extensionsDir}`);

        const port = await tools.freePort();
        const cs = await tools.startCodeServer({
            port, userDataDir, extensionsDir, stateDir: tmp,
            env: { ZETA_CODER_MODEL: models.coder, ZETA_REASONER_MODEL: models.reasoner, ZETA_EMBEDDER_MODEL: models.embedder, ZETA_THREADS: '1' },
        });
        own(() => cs.stop());
        hardStops.unshift(() => tools.killGroup(cs.pid, 'SIGTERM'));
        log(`code-server on ${cs.url} (process group ${cs.pid})`);

        const profile = join(tmp, 'chromium');
        mkdirSync(profile);
        const context: BrowserContext = await chromium.launchPersistentContext(profile, tools.chromiumLaunchOptions());
        own(() => context.close());
        const page = context.pages()[0] ?? (await context.newPage());
        own(async () => {
            if (!failed) return;
            mkdirSync(args.out, { recursive: true });
            const shot = join(args.out, 'workbench-failure.png');
            await page.screenshot({ path: shot }).catch(() => undefined);
            log(`failed: the page as it was is in ${shot}`);
        });
        await page.goto(tools.folderUrl(cs.url, workspace));
        await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
        await waitForModelsLoaded(page, 120_000);
        log('workbench open, models loaded');
        await page.evaluate(installRecorder, GHOST_SELECTOR);
        await zetaLogToDebug(page);

        // Warm-up, not measured: the first bursts once, so that the first round is not the one that
        // pays for first use (code paths, the document's first read).
        await verifyPolicy(page, roundPolicy(0));
        await revertAndPlaceCursor(page);
        await typeBursts(page, script.bursts.slice(0, 3));
        if (!zetaLogFiles(userDataDir).some((f) => /\[debug\] (route|completion) #/.test(readFileSync(f, 'utf8')))) {
            throw new Error('Zeta\'s log has no debug line after the warm-up: its level could not be set to Debug (Developer: Set Log Level...)');
        }
        log('warmed up');

        // What every round leaves in the document: the file as it is on disk, then the script's text.
        const expected = readFileSync(join(ROOT, 'test', 'e2e', 'fixtures', 'workspace', FILE), 'utf8') + scriptText(script);
        const runs: RoundRun[] = [];
        for (let i = 0; i < 2 * args.roundsPerPolicy; i++) {
            const r = await runRound(page, i, script, expected, settingsFile, log);
            runs.push(r);
            const s = roundResult(i, r);
            log(`round ${i + 1} (${s.policy}): p50 ${s.p50} ms, p95 ${s.p95} ms, ${s.unanswered} of ${s.pauses.length} unanswered`
                + `${r.missing ? `, ${r.missing} bursts missed` : ''}${r.typedAsScripted ? '' : '; the document does not hold the script\'s text'}`);
        }
        await revertAndPlaceCursor(page);
        // The log's evidence, per round: which policy routed its completions, what debounce they waited.
        const entries = zetaLogFiles(userDataDir).flatMap((f) => parseZetaLog(readFileSync(f, 'utf8')));
        const rounds: RoundResult[] = runs.map((r, i) => {
            const h = policyHandling(roundPolicy(i));
            const evidence = roundEvidence(entries, r.from, r.to, { policy: h.routerPolicy, minMs: h.debounceMinMs, maxMs: h.debounceMaxMs });
            if (!evidence.inForce) log(`round ${i + 1}: the Zeta log does not show ${roundPolicy(i)} in force: ${JSON.stringify(evidence)}`);
            return roundResult(i, { ...r, log: evidence });
        });
        const browser = await page.evaluate(() => navigator.userAgent.match(/(?:Headless)?Chrome\/[\d.]+/)?.[0] ?? navigator.userAgent);

        const codeServerVersion = (readJson(join(ROOT, 'tools', 'workbench', 'node_modules', 'code-server', 'package.json')) as { version: string }).version;
        const report = workbenchReport({
            command,
            environment: {
                workbench: `code-server ${codeServerVersion}`,
                browser: `${browser} (headless, playwright-core)`,
                models: 'tiny generated models (.zeta/models/tiny), 1 thread each',
                cpus: availableParallelism(),
                node: process.version,
                loadAverage: { start: round(loadAtStart, 2), end: round(loadavg()[0], 2) },
            },
            script: {
                seed: script.seed,
                file: FILE,
                bursts: script.bursts.length,
                keys: scriptKeyCount(script),
                keyGapMs: DEFAULT_KEY_GAP_MS,
                pauseMs: DEFAULT_PAUSE_MS,
                roundMs: scriptDurationMs(script),
                text: scriptText(script),
            },
            handling: { static: policyHandling('static'), zeta: policyHandling('zeta') },
            rounds,
            sim,
            runtimeMs: Date.now() - t0,
        });
        mkdirSync(args.out, { recursive: true });
        writeFileSync(join(args.out, 'workbench.json'), JSON.stringify(report, null, 2) + '\n');
        writeFileSync(join(args.out, 'workbench.md'), workbenchMarkdown(report));
        return report;
    } catch (e) {
        failed = true;
        throw e;
    } finally {
        for (const s of signals) process.off(s, onSignal);
        await cleanup();
    }
}

