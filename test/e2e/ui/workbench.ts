/**
 * Playwright helpers for the UI suites: a fresh headless Chromium (Debian's) per test on the
 * code-server that test/e2e/run.mjs started, and the few workbench gestures the tests need.
 *
 * Environment (set by run.mjs): ZETA_E2E_URL (the workbench), ZETA_E2E_WORKSPACE (the folder),
 * ZETA_E2E_RESULTS_DIR (screenshots of failing tests).
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
        await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
        await zetaStatus(page).waitFor({ timeout: 60_000 });
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
export async function waitForModelsLoaded(page: Page, timeoutMs = 60_000): Promise<void> {
    await page.waitForFunction(() => {
        const item = document.getElementById('zeta-dev.zeta.zeta.status');
        const label = item?.getAttribute('aria-label') ?? item?.querySelector('[aria-label]')?.getAttribute('aria-label') ?? '';
        return /coder loaded/.test(label) && /reasoner loaded/.test(label);
    }, undefined, { timeout: timeoutMs, polling: 250 });
}

/** Quick Open (F1, then drop the ">" prefix): opens a workspace file, optionally to the side. */
export async function openFile(page: Page, rel: string, { toSide = false } = {}): Promise<Locator> {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(rel);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: path.basename(rel) }).first().waitFor({ timeout: 20_000 });
    await page.keyboard.press(toSide ? 'Control+Enter' : 'Enter');
    const editor = page.locator('.editor-group-container.active .monaco-editor[data-uri$="' + rel + '"]');
    await editor.waitFor({ timeout: 20_000 });
    return editor;
}

/** Runs a command from the command palette by its label, e.g. "Zeta: Explain Selection". */
export async function runCommand(page: Page, label: string): Promise<void> {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`>${label}`);
    // The palette filters as it goes: wait for the row whose label is exactly this command.
    await page.locator('.quick-input-list .monaco-list-row .label-name', { hasText: label }).first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
}

/**
 * The frame of a webview whose document has `selector` (webviews are nested iframes; their
 * number and order depend on what else is open, so each frame is asked).
 */
export async function webviewFrame(page: Page, selector: string, timeoutMs = 20_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        for (const frame of page.frames()) {
            if (frame === page.mainFrame()) continue;
            const found = await frame.$(selector).catch(() => null);
            if (found) return frame;
        }
        if (Date.now() > deadline) throw new Error(`no webview with ${selector} within ${timeoutMs} ms`);
        await page.waitForTimeout(200);
    }
}


/**
 * Waits until the editor's text (without ghost text) satisfies `ok`, and returns it; the view renders
 * an edit a frame after the ghost text goes. Throws with the last text seen after `timeoutMs`.
 */
export async function waitForEditorText(editor: Locator, ok: (text: string) => boolean, timeoutMs = 5_000): Promise<string> {
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
    // An unsaved file asks whether to save: don't (the workspace is the run's own copy).
    const dontSave = page.getByRole('button', { name: "Don't Save" });
    if (await dontSave.isVisible({ timeout: 1_000 }).catch(() => false)) await dontSave.click();
    await page.locator('.editor-group-container .monaco-editor, .editor-group-container iframe.webview').first()
        .waitFor({ state: 'detached', timeout: 10_000 }).catch(() => undefined);
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
