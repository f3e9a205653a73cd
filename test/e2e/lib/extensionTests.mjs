// Runs a test-electron style suite (`export function run(): Promise<void>`) inside the real Node
// extension host of a code-server workbench: a headless Chromium opens the workbench with the
// extensionDevelopmentPath / extensionTestsPath payload, and the window reports the suite's exit code
// through `codeAutomationExit`, which is exposed to the page here. The extension host forwards its
// console to the page; the suite's lines (marked "[zeta-e2e]") are echoed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumLaunchOptions, extensionTestUrl } from '../../../scripts/workbench.mjs';

/**
 * Resolves { exitCode, console: string[] } once the suite has finished, or rejects after timeoutMs
 * (the page is then screenshotted into `screenshotPath` when one is given). `onCleanup(fn)`, when
 * given, receives a function that closes the browser early.
 */
export async function runExtensionTests({ base, port, folder, extensionPath, testsPath, timeoutMs = 180_000, screenshotPath, echo = true, onCleanup, tmp = tmpdir() }) {
    const profile = mkdtempSync(join(tmp, 'chromium-'));
    const context = await chromium.launchPersistentContext(profile, chromiumLaunchOptions());
    // For a caller that may have to stop early (signal, deadline): closes the browser.
    onCleanup?.(async () => {
        await context.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
    });
    const lines = [];
    try {
        const page = context.pages()[0] ?? await context.newPage();
        let finish;
        const done = new Promise((res) => { finish = res; });
        await page.exposeFunction('codeAutomationExit', (code) => { finish(Number(code)); });
        page.on('console', (msg) => {
            const text = msg.text();
            lines.push(text);
            if (!echo) return;
            for (const line of text.split('\n')) {
                const at = line.indexOf(MARK);
                if (at >= 0) console.log(`  ${line.slice(at + MARK.length + 1)}`);
            }
        });
        page.on('pageerror', (err) => lines.push(`pageerror: ${err.message}`));
        await page.goto(extensionTestUrl(base, { port, folder, extensionPath, testsPath }));
        let timer;
        const timeout = new Promise((_, rej) => {
            timer = setTimeout(() => rej(new Error(`extension test suite did not finish within ${timeoutMs} ms`)), timeoutMs);
        });
        try {
            const exitCode = await Promise.race([done, timeout]);
            return { exitCode, console: lines };
        } catch (err) {
            if (screenshotPath) await page.screenshot({ path: screenshotPath }).catch(() => undefined);
            err.console = lines;
            throw err;
        } finally {
            clearTimeout(timer);
        }
    } finally {
        await context.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
    }
}

// The page's console also carries the workbench's own chatter: only the suite's lines, which
// test/e2e/api/index.ts marks, are echoed.
const MARK = '[zeta-e2e]';
