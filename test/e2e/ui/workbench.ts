/**
 * Playwright helpers for the UI suites: a fresh headless Chromium (Debian's) per test on the
 * code-server that test/e2e/run.mjs started, and the few workbench gestures the tests need.
 *
 * Environment (set by run.mjs): ZETA_E2E_URL (the workbench), ZETA_E2E_WORKSPACE (the folder),
 * ZETA_E2E_RESULTS_DIR (screenshots of failing tests).
 *
 * Waits: every wait is for an event (an element, a state the load view shows); its timeout is a cap
 * that only catches a hang (HANG_CAP_MS, or the model's MODEL_CAP_MS), never a speed requirement: a
 * busy 2-core machine renders and infers several times slower than an idle one, and that must not
 * fail a test.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Frame, type Locator, type Page } from 'playwright-core';
import { GHOST_SELECTOR, textWithoutGhost } from '../../../scripts/workbenchDom';

export { GHOST_SELECTOR, textWithoutGhost };

export interface Workbench {
    readonly context: BrowserContext;
    readonly page: Page;
    close(): Promise<void>;
}

function env(name: string): string {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run the UI suites through test/e2e/run.mjs`);
    return v;
}

export const workspace = (): string => env('ZETA_E2E_WORKSPACE');

/** Cap on a wait for the workbench itself (an element after a gesture): only a hang reaches it. */
export const HANG_CAP_MS = 60_000;
/** Cap on a wait for the models (a completion, an answer, an index): only a hang reaches it. */
export const MODEL_CAP_MS = 90_000;

/** Opens the workspace in a fresh browser profile and waits until Zeta's models are loaded. */
export async function openWorkbench(): Promise<Workbench> {
    // Inside the run's temp dir (removed by run.mjs whatever happens to this process).
    const profile = mkdtempSync(path.join(process.env.ZETA_E2E_TMP ?? tmpdir(), 'chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.ZETA_CHROMIUM ?? '/usr/bin/chromium',
        headless: true,
        viewport: { width: 1400, height: 900 },
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    const close = async (): Promise<void> => {
        await context.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
    };
    try {
        const page = context.pages()[0] ?? (await context.newPage());
        await page.goto(`${env('ZETA_E2E_URL')}?folder=${encodeURIComponent(workspace())}`);
        await page.locator('.monaco-workbench').waitFor({ timeout: MODEL_CAP_MS });
        await zetaStatus(page).waitFor({ timeout: MODEL_CAP_MS });
        return { context, page, close };
    } catch (e) {
        await close();
        throw e;
    }
}

/** Zeta's status bar item; its accessible label lists each model's state. */
export function zetaStatus(page: Page): Locator {
    return page.locator('.statusbar-item[id="zeta-dev.zeta.zeta.status"], .statusbar-item:has([aria-label^="Zeta:"])').first();
}

/** Waits until the status bar says every model is loaded. */
export async function waitForModelsLoaded(page: Page, timeoutMs = MODEL_CAP_MS): Promise<void> {
    await page.waitForFunction(() => {
        const item = document.getElementById('zeta-dev.zeta.zeta.status');
        const label = item?.getAttribute('aria-label') ?? item?.querySelector('[aria-label]')?.getAttribute('aria-label') ?? '';
        return /coder loaded/.test(label) && /reasoner loaded/.test(label);
    }, undefined, { timeout: timeoutMs, polling: 250 });
}

/**
 * Quick Open (F1, then drop the ">" prefix): opens a workspace file, optionally to the side, and
 * with `line` with the cursor at the start of that line (it never rests anywhere else first).
 */
export async function openFile(page: Page, rel: string, { toSide = false, line }: { toSide?: boolean; line?: number } = {}): Promise<Locator> {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ timeout: HANG_CAP_MS });
    await input.fill(line === undefined ? rel : `${rel}:${line}`);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: path.basename(rel) }).first().waitFor({ timeout: HANG_CAP_MS });
    await page.keyboard.press(toSide ? 'Control+Enter' : 'Enter');
    const editor = page.locator('.editor-group-container.active .monaco-editor[data-uri$="' + rel + '"]');
    await editor.waitFor({ timeout: HANG_CAP_MS });
    return editor;
}

/**
 * Clicks into `editor`'s text (unless `click` is false: the editor was just opened, and a click
 * would move its cursor) and waits until the editor holds the keyboard focus (the workbench moves
 * it there a moment later, and a webview opened just before, e.g. the load view, may still take it
 * on its own): keys typed after this land in the editor.
 */
export async function focusEditor(editor: Locator, { click = true } = {}): Promise<void> {
    if (click) await editor.locator('.view-lines').click();
    await editor.page().waitForFunction(
        (el) => el.classList.contains('focused') && el.contains(document.activeElement),
        await editor.elementHandle({ timeout: HANG_CAP_MS }),
        { timeout: HANG_CAP_MS, polling: 50 },
    ).catch(async (e: unknown) => {
        const where = await editor.page().evaluate(() => {
            const a = document.activeElement;
            return a ? `${a.tagName.toLowerCase()}${a.className ? `.${String(a.className).split(' ').join('.')}` : ''}` : 'nothing';
        }).catch(() => '?');
        throw new Error(`the editor did not take the keyboard focus (focus is on ${where}): ${String(e)}`);
    });
}

/**
 * Types `text` into `editor`, which has the keyboard focus (focusEditor), and waits until the
 * editor shows it: what comes next (a completion, a save) acts on the typed text. Returns the
 * editor's text (without ghost text).
 */
export async function typeInEditor(editor: Locator, text: string, delay = 40): Promise<string> {
    await editor.page().keyboard.type(text, { delay });
    return waitForEditorText(editor, (t) => t.includes(text));
}

/** Runs a command from the command palette by its label, e.g. "Zeta: Explain Selection". */
export async function runCommand(page: Page, label: string): Promise<void> {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ timeout: HANG_CAP_MS });
    await input.fill(`>${label}`);
    // The palette filters as it goes: wait for the row whose label is exactly this command.
    await page.locator('.quick-input-list .monaco-list-row .label-name', { hasText: label }).first().waitFor({ timeout: HANG_CAP_MS });
    await page.keyboard.press('Enter');
}

/**
 * The frame of a webview whose document has `selector` (webviews are nested iframes; their
 * number and order depend on what else is open, so each frame is asked).
 */
export async function webviewFrame(page: Page, selector: string, timeoutMs = HANG_CAP_MS): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        for (const frame of page.frames()) {
            if (frame === page.mainFrame()) continue;
            const found = await frame.$(selector).catch(() => null);
            if (found) return frame;
        }
        if (Date.now() > deadline) throw new Error(`no webview with ${selector} within ${timeoutMs} ms (a hang)`);
        await page.waitForTimeout(200);
    }
}


/**
 * Waits until the editor's text (without ghost text) satisfies `ok`, and returns it; the view renders
 * an edit a frame after the ghost text goes. Throws with the last text seen after `timeoutMs` (a hang).
 */
export async function waitForEditorText(editor: Locator, ok: (text: string) => boolean, timeoutMs = HANG_CAP_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const text = await textWithoutGhost(editor);
        if (ok(text)) return text;
        if (Date.now() > deadline) throw new Error(`the editor's text did not change as expected within ${timeoutMs} ms: ${JSON.stringify(text)}`);
        await editor.page().waitForTimeout(100);
    }
}


/** The ghost text shown in the editor as one string (inline part, then the lines below), spaces as spaces. */
export async function ghostSuggestion(editor: Locator): Promise<string> {
    const inline = await editor.locator('.view-lines [class*="ghost-text-decoration"]').allTextContents();
    const below = await editor.locator('.suggest-preview-text .view-line').evaluateAll((els) => els
        .map((line) => ({ top: parseFloat((line as HTMLElement).style.top) || 0, text: line.textContent ?? '' }))
        .sort((a, b) => a.top - b.top)
        .map((l) => l.text));
    return [inline.join(''), ...below].join('\n').replace(/\u00a0/g, ' ');
}

/** Closes every editor and webview (View: Close All Editor Groups), discarding nothing on disk. */
export async function closeAllEditors(page: Page): Promise<void> {
    await page.keyboard.press('Escape');
    await runCommand(page, 'View: Close All Editor Groups');
    // An unsaved file asks whether to save, whenever its turn to close comes: don't (the workspace is
    // the run's own copy). Until every editor is gone, or the cap (a hang) passes.
    const dontSave = page.getByRole('button', { name: "Don't Save" });
    const open = page.locator('.editor-group-container .monaco-editor, .editor-group-container iframe.webview');
    const deadline = Date.now() + HANG_CAP_MS;
    while ((await open.count()) > 0 && Date.now() < deadline) {
        if (await dontSave.isVisible().catch(() => false)) await dontSave.click().catch(() => undefined);
        await page.waitForTimeout(100);
    }
}

/** The load view (from Zeta's status bar item): the router's state, live while it is visible. */
export async function openLoadView(page: Page): Promise<Frame> {
    await zetaStatus(page).click();
    const frame = await webviewFrame(page, '#decisions');
    await frame.locator('#models article.card').first().waitFor({ timeout: HANG_CAP_MS });
    return frame;
}

/** The router as the load view shows it (its snapshot, refreshed at most 4 times a second). */
export interface RouterView {
    /** The newest task id among the routing decisions listed; 0 with none. */
    readonly lastTask: number;
    /** Completion tasks routed for the document asked about (workspace-relative path), newest first. */
    readonly completions: number[];
    /** No model runs anything and no task waits. */
    readonly idle: boolean;
    /** The newest decisions as listed, for failure messages. */
    readonly decisions: string[];
}

export async function routerView(loadView: Frame, doc: string): Promise<RouterView> {
    return loadView.evaluate((d) => {
        const items = Array.from(document.querySelectorAll<HTMLElement>('#decisions li[data-task]'));
        const tasks = items.map((li) => Number(li.dataset.task));
        const completions = items
            .filter((li) => /^completion\b/.test(li.querySelector('.kind')?.textContent ?? '') && li.querySelector('.doc')?.textContent === d)
            .map((li) => Number(li.dataset.task))
            .sort((a, b) => b - a);
        let idle = document.querySelectorAll('#waits li:not(.muted)').length === 0;
        for (const card of Array.from(document.querySelectorAll('#models article.card'))) {
            const stats = new Map(Array.from(card.querySelectorAll('dl.stats dt')).map((dt) => [dt.textContent ?? '', dt.nextElementSibling?.textContent ?? '']));
            if (!/^0\b/.test(stats.get('running') ?? '') || !/^0\b/.test(stats.get('waiting') ?? '')) idle = false;
        }
        return { lastTask: Math.max(0, ...tasks), completions, idle, decisions: items.slice(0, 6).map((li) => li.textContent ?? '') };
    }, doc);
}

/**
 * Waits for ghost text in `editor` (showing `doc`, a workspace-relative path), bounded by what the
 * model needs, not by a fixed time: it returns as soon as ghost text shows. Until then it watches the
 * router in the load view (`loadView`, which must stay visible): once a completion for `doc` newer
 * than task `since` has been routed and the router is idle again (nothing runs, nothing waits),
 * that completion was served without a visible suggestion (empty, or dropped as late on a busy
 * machine): only then does it ask again (Alt+\), at most `asks` times. Asking again never cancels a
 * completion in progress, and a suggestion already served comes back from the completion cache at
 * once. `capMs` only catches a hang.
 */
export async function waitForGhostText(editor: Locator, loadView: Frame, doc: string, since: number, { asks = 5, capMs = MODEL_CAP_MS } = {}): Promise<void> {
    const page = editor.page();
    const ghost = editor.locator(GHOST_SELECTOR);
    let deadline = Date.now() + capMs;
    let asked = 0;
    // Whether a completion for `doc` newer than `since` was seen routed (the list shows the newest
    // decisions only: remembered once seen).
    let routed = false;
    for (;;) {
        if ((await ghost.count()) > 0) return;
        const view = await routerView(loadView, doc);
        routed ||= view.completions.some((t) => t > since);
        if (routed && view.idle) {
            // Ghost text may render a moment after the router's snapshot showed it idle: look again
            // (and if it comes later still, asking again returns it from the completion cache).
            if ((await ghost.count()) > 0) return;
            if (asked >= asks) throw new Error(`no ghost text after ${asked + 1} completions for ${doc} were routed and settled; latest decisions: ${JSON.stringify(view.decisions)}`);
            asked++;
            since = view.lastTask;
            routed = false;
            deadline = Date.now() + capMs;
            await page.keyboard.press('Alt+Backslash');
        }
        if (Date.now() > deadline) throw new Error(`no ghost text, and no completion for ${doc} after task ${since} settled, within ${capMs} ms (a hang); latest decisions: ${JSON.stringify(view.decisions)}`);
        await page.waitForTimeout(200);
    }
}

/** Saves a screenshot of `page` into test-results/ (named after the test). */
export async function screenshot(page: Page | undefined, title: string): Promise<string | undefined> {
    if (!page) return undefined;
    const dir = process.env.ZETA_E2E_RESULTS_DIR ?? path.resolve('test-results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${title.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 80)}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    return file;
}
