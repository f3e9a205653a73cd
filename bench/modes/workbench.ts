/**
 * --workbench: time to ghost text in the real editor, static against zeta (issue 19 §5).
 *
 *   npm run bench -- --workbench --out DIR [--rounds N] [--bursts N] [--seed N] [--quick]
 *                    [--sim-report FILE] [--no-build]
 *
 * Zeta packaged as a .vsix and installed into a fresh code-server 4.100.3 profile, driven by
 * headless Debian Chromium through playwright-core, exactly as the e2e suite does it (the process
 * helpers of test/e2e/lib/workbench.mjs, scripts/package.mjs, the tiny generated models). A fixed
 * script of bursts and pauses (workbench/script.ts) is typed at the end of src/geometry.py of a copy
 * of the e2e fixture workspace, in rounds alternating the user setting `zeta.routing.policy`
 * between static and zeta (2 rounds each by default; --quick: 1 each, 6 bursts). Before a round the
 * user settings.json is rewritten, the policy is seen in force in the load view's header (the
 * extension applies settings without a reload), and the file is reverted, so every round types the
 * same text into the same document. In the page, a keydown listener and a MutationObserver take the
 * timestamps (workbench/timing.ts). Writes DIR/workbench.json and DIR/workbench.md
 * (workbench/report.ts); with --sim-report, compares the ratio with the sim's.
 *
 * Everything started here (code-server's process group, Chromium) is stopped on return, on an
 * error and on SIGINT/SIGTERM/SIGHUP; the run's temp folder is removed.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Frame, type LaunchOptions, type Locator, type Page } from 'playwright-core';
import { ensureModels } from '../../scripts/generatedModels';
import { roundPolicy, roundResult, workbenchMarkdown, workbenchReport, type RoundResult, type WorkbenchPolicy, type WorkbenchReport } from './workbench/report';
import { DEFAULT_KEY_GAP_MS, DEFAULT_PAUSE_MS, scriptDurationMs, scriptKeyCount, scriptText, typingScript, type Burst, type TypingScript } from './workbench/script';
import { GHOST_SELECTOR, installRecorder, pauseTimings, type BurstWindow, type KeyEvent } from './workbench/timing';

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

/** The parts of test/e2e/lib/workbench.mjs used here (an untyped .mjs). */
interface WorkbenchTools {
    ensureWorkbenchTools(): void;
    freePort(): Promise<number>;
    quietUserSettings(extra?: Record<string, unknown>): Record<string, unknown>;
    writeUserSettings(userDataDir: string, settings: Record<string, unknown>): void;
    xdgEnv(stateDir: string): Record<string, string>;
    installVsix(vsix: string, opts: { extensionsDir: string; userDataDir: string; env?: Record<string, string> }): string;
    startCodeServer(opts: { port: number; userDataDir: string; extensionsDir: string; stateDir: string; env?: Record<string, string> }): Promise<{ url: string; pid: number; stop(): Promise<void>; output(): string }>;
    killProcessesMentioning(marker: string): number;
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
    const tools = (await import(pathToFileURL(join(ROOT, 'test', 'e2e', 'lib', 'workbench.mjs')).href)) as WorkbenchTools;
    const pkg = (await import(pathToFileURL(join(ROOT, 'scripts', 'package.mjs')).href)) as { packageForHost: PackageForHost };
    return { tools, packageForHost: pkg.packageForHost };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// --- Workbench gestures (the same as test/e2e/ui/workbench.ts's) ---

/** Runs a command from the command palette by its label, e.g. "File: Revert File". */
async function runCommand(page: Page, label: string): Promise<void> {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`>${label}`);
    // The row whose label is exactly this command ("Open User Settings" is also a prefix of "... (JSON)").
    const exact = new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    await page.locator('.quick-input-list .monaco-list-row .label-name', { hasText: exact }).first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
}

/** Quick Open: brings a workspace file to the front of the active group; returns its editor. */
async function openFile(page: Page, rel: string): Promise<Locator> {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
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
 * Sets the user setting `zeta.routing.policy` in the Settings editor (User tab), which stays open
 * as a tab behind the file. Not by writing User/settings.json: code-server 4.100.3 here does not
 * notice a change made to that file from outside (the load view kept the old policy for 20 s and
 * more), while a change made in the Settings editor reaches the extension at once.
 */
async function setPolicy(page: Page, policy: WorkbenchPolicy): Promise<void> {
    await runCommand(page, 'Preferences: Open User Settings');
    await page.locator('.settings-editor').waitFor({ timeout: 20_000 });
    const select = page.locator('.settings-editor select[aria-label="zeta.routing.policy"]');
    // The first time, the search box has the focus: the query leaves the one setting. The editor
    // keeps its query when it comes back to the front.
    if (!(await select.isVisible())) {
        await page.keyboard.press('Control+A');
        await page.keyboard.insertText('zeta.routing.policy');
    }
    await select.waitFor({ timeout: 20_000 });
    await select.selectOption(policy);
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

/** Reverts the file (File: Revert File) and puts the cursor at its end, the editor focused. */
async function revertAndPlaceCursor(page: Page): Promise<void> {
    const editor = await openFile(page, FILE);
    await runCommand(page, 'File: Revert File');
    await page.locator('.tabs-container .tab.active:not(.dirty)').waitFor({ timeout: 10_000 });
    await editor.locator('.view-lines').click();
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+End');
}

/**
 * The editor's text as shown, ghost text left out, spaces as spaces (the view renders them as
 * U+00A0), lines top to bottom. Only rendered lines: the file is short enough to fit the window.
 */
async function editorText(page: Page): Promise<string> {
    const editor = page.locator(`.editor-group-container.active .monaco-editor[data-uri$="${FILE}"]`);
    const lines = await editor.locator('.view-lines .view-line').evaluateAll((els) => els
        .map((line) => {
            const copy = line.cloneNode(true) as HTMLElement;
            copy.querySelectorAll('[class*="ghost-text"]').forEach((g) => g.remove());
            return { top: parseFloat((line as HTMLElement).style.top) || 0, text: copy.textContent ?? '' };
        })
        .sort((a, b) => a.top - b.top)
        .map((l) => l.text));
    return lines.join('\n').replace(/\u00a0/g, ' ');
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

/** One round: the policy set and seen in force, the file reverted, the script typed. */
async function runRound(page: Page, index: number, script: TypingScript, expected: string, log: (m: string) => void): Promise<RoundResult> {
    const policy = roundPolicy(index);
    await setPolicy(page, policy);
    const verified = await verifyPolicy(page, policy);
    await revertAndPlaceCursor(page);
    // A lead-in as long as the longest pause: the editor settles as it would before typing starts.
    await sleep(DEFAULT_PAUSE_MS[1]);
    await takeLog(page);
    const bursts = await typeBursts(page, script.bursts);
    const { keys, ghosts } = await takeLog(page);
    const text = await editorText(page);
    const typedAsScripted = text.trimEnd() === expected.trimEnd();
    if (!typedAsScripted) {
        log(`round ${index + 1}: the document differs from the script: ${firstDifference(text.trimEnd(), expected.trimEnd())}`);
    }
    const { pauses, missing } = pauseTimings({ keys, ghosts, bursts });
    const r = roundResult(index, verified, pauses, missing, typedAsScripted);
    log(`round ${index + 1} (${policy}): p50 ${r.p50} ms, p95 ${r.p95} ms, ${r.unanswered} of ${pauses.length} unanswered${missing ? `, ${missing} bursts missed` : ''}`
        + `${typedAsScripted ? '' : '; the document does not hold the script\'s text'}`);
    return r;
}

function readJson(file: string): unknown {
    return JSON.parse(readFileSync(file, 'utf8'));
}

export async function runWorkbenchMode(args: WorkbenchArgs, command: string): Promise<WorkbenchReport> {
    const t0 = Date.now();
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
    const cleanup = async (): Promise<void> => {
        for (const fn of cleanups.splice(0).reverse()) {
            try {
                await fn();
            } catch (e) {
                console.error(`cleanup: ${e instanceof Error ? e.message : String(e)}`);
            }
        }
    };
    const onSignal = (sig: NodeJS.Signals): void => {
        log(`${sig}: stopping`);
        void cleanup().finally(() => process.exit(130));
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of signals) process.on(s, onSignal);

    try {
        const tmp = mkdtempSync(join(tmpdir(), 'zeta-bench-workbench-'));
        if (process.env.ZETA_BENCH_KEEP) log(`keeping ${tmp} (ZETA_BENCH_KEEP)`);
        else cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
        // Before the folder goes: anything of this run still alive (Chromium keeps its own group).
        cleanups.push(() => tools.killProcessesMentioning(tmp));
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
            'zeta.routing.policy': roundPolicy(0),
        }));
        tools.installVsix(vsix, { extensionsDir, userDataDir, env: tools.xdgEnv(tmp) });
        if (!readdirSync(extensionsDir).some((d) => d.startsWith('zeta-dev.zeta-'))) throw new Error(`the .vsix did not install into ${extensionsDir}`);

        const port = await tools.freePort();
        const cs = await tools.startCodeServer({
            port, userDataDir, extensionsDir, stateDir: tmp,
            env: { ZETA_CODER_MODEL: models.coder, ZETA_REASONER_MODEL: models.reasoner, ZETA_EMBEDDER_MODEL: models.embedder, ZETA_THREADS: '1' },
        });
        cleanups.push(() => cs.stop());
        log(`code-server on ${cs.url} (process group ${cs.pid})`);

        const profile = join(tmp, 'chromium');
        mkdirSync(profile);
        const context: BrowserContext = await chromium.launchPersistentContext(profile, tools.chromiumLaunchOptions());
        cleanups.push(() => context.close());
        const page = context.pages()[0] ?? (await context.newPage());
        await page.goto(tools.folderUrl(cs.url, workspace));
        await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
        await waitForModelsLoaded(page, 120_000);
        log('workbench open, models loaded');
        await page.evaluate(installRecorder, GHOST_SELECTOR);

        // Warm-up, not measured: the first bursts once, so that the first round is not the one that
        // pays for first use (code paths, the document's first read).
        await verifyPolicy(page, roundPolicy(0));
        await revertAndPlaceCursor(page);
        await typeBursts(page, script.bursts.slice(0, 3));
        log('warmed up');

        // What every round leaves in the document: the file as it is on disk, then the script's text.
        const expected = readFileSync(join(ROOT, 'test', 'e2e', 'fixtures', 'workspace', FILE), 'utf8') + scriptText(script);
        const rounds: RoundResult[] = [];
        try {
            for (let i = 0; i < 2 * args.roundsPerPolicy; i++) {
                rounds.push(await runRound(page, i, script, expected, log));
            }
        } catch (e) {
            mkdirSync(args.out, { recursive: true });
            const shot = join(args.out, 'workbench-failure.png');
            await page.screenshot({ path: shot }).catch(() => undefined);
            log(`failed; screenshot ${shot}`);
            throw e;
        }
        await revertAndPlaceCursor(page);
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
            rounds,
            sim,
            runtimeMs: Date.now() - t0,
        });
        mkdirSync(args.out, { recursive: true });
        writeFileSync(join(args.out, 'workbench.json'), JSON.stringify(report, null, 2) + '\n');
        writeFileSync(join(args.out, 'workbench.md'), workbenchMarkdown(report));
        return report;
    } finally {
        for (const s of signals) process.off(s, onSignal);
        await cleanup();
    }
}

