/**
 * Zeta's webviews under hostile text, in the real workbench (code-server + headless Chromium):
 * model output in the answer panel and file contents (and a file name) in the search view.
 *
 * The model's answer is forced through the e2e build's fixture hook (src/vscode/e2eFixtureAnswer.ts,
 * compiled only into the e2e runner's .vsix): the test writes `zeta-e2e-answer.md` beside the
 * workspace folder, and the next Explain Selection streams that file through the panel's real path
 * instead of a model. Search reads the committed fixture notes/hostile.md and a file this test
 * creates with a hostile name. What "nothing happened" means is in securityHelpers.ts: no marker
 * global, no request to the loopback canary, no CSP violation report, no script / handler / URL
 * attribute in the rendered DOM; each wait is for an event (the panel's status, a result shown,
 * the copy acknowledged, the canary hit by the one link the test clicks), capped only for hangs.
 */
import * as assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { closeAllEditors, focusEditor, openFile, openWorkbench, runCommand, screenshot, waitForModelsLoaded, webviewFrame, workspace, type Workbench } from './workbench';
import {
    dangerousDom, hostileAnswer, hostileFile, installProbes, LONG_LINE_BYTES, probeReport, pwnedAnywhere, SEARCH_WORD, startCanary, type Canary,
} from './securityHelpers';

/** The e2e build's fixture answer (src/vscode/e2eFixtureAnswer.ts: FIXTURE_FILE, beside the workspace folder). */
const fixtureAnswerFile = (): string => path.join(path.dirname(workspace()), 'zeta-e2e-answer.md');

/** Waits until the answer panel's status says the run ended, and returns the status. */
async function answerEnded(frame: Frame): Promise<string> {
    await frame.waitForFunction(() => /^(Done|Failed|Stopped)/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 60_000, polling: 100 });
    return frame.locator('#status').innerText();
}

/** Puts `markdown` up as the next answer, runs Explain Selection, and waits for the panel to finish it. */
async function explainWithFixture(page: Page, markdown: string, frame?: Frame): Promise<Frame> {
    writeFileSync(fixtureAnswerFile(), markdown);
    // The status of an earlier run would read "Done" too: clear it, so that only this run's end counts.
    await frame?.evaluate(() => {
        const status = document.getElementById('status');
        if (status) status.textContent = '';
    });
    await runCommand(page, 'Zeta: Explain Selection');
    const panel = frame ?? (await webviewFrame(page, '#content'));
    const status = await answerEnded(panel);
    assert.match(status, /^Done/, `the panel's status: ${status}`);
    assert.ok(!existsSync(fixtureAnswerFile()), 'the fixture answer was not used (is this the e2e build?)');
    return panel;
}

describe('Webviews under hostile text (Chromium)', function () {
    this.timeout(120_000);
    let wb: Workbench | undefined;
    let page: Page | undefined;
    let canary: Canary | undefined;
    const created: string[] = [];

    before(async function () {
        this.timeout(150_000);
        canary = await startCanary();
        wb = await openWorkbench();
        page = wb.page;
        // Copy is checked by reading the browser's clipboard, which the workbench writes for VS Code's API.
        await wb.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(page.url()).origin });
        await waitForModelsLoaded(page, 120_000);
    });

    beforeEach(async () => {
        if (page) await closeAllEditors(page);
    });

    afterEach(async function () {
        if (this.currentTest?.state === 'failed') {
            const file = await screenshot(page, this.currentTest.fullTitle());
            if (file) console.log(`      screenshot: ${file}`);
        }
    });

    after(async () => {
        // The window goes with nothing open (each test file has a workbench of its own: run.mjs).
        if (page) await closeAllEditors(page).catch(() => undefined);
        await wb?.close();
        await canary?.close();
        for (const f of [...created, fixtureAnswerFile()]) rmSync(f, { force: true });
        wb = undefined;
        page = undefined;
    });

    it('the answer panel shows hostile model output as text: nothing runs or loads, a 200 KB line renders, links open only through the extension, Copy copies the exact markdown', async () => {
        const p = page!;
        const c = canary!;
        const editor = await openFile(p, 'src/geometry.py');
        await focusEditor(editor);
        await p.keyboard.press('Control+A');

        // A harmless answer first: it opens the panel, whose document then gets the probes before the hostile one.
        const frame = await explainWithFixture(p, '# Warm-up\n\nA *harmless* answer.');
        assert.match(await frame.locator('#routing').innerText(), /e2e-fixture/, 'the answer did not come from the fixture');
        await installProbes(frame);
        const before = await probeReport(frame);

        const { markdown, safeLink } = hostileAnswer(c);
        await explainWithFixture(p, markdown, frame);

        const text = await frame.locator('#content').evaluate((el) => el.textContent ?? '');
        assert.ok(text.includes('The end.'), 'the answer did not render to its end');
        assert.ok(text.length > LONG_LINE_BYTES, `the 200 KB line did not render (${text.length} characters shown)`);
        // The markup is shown as text, as the model wrote it.
        for (const shown of ['<img src=x onerror=', '<script>window.__zetaPwned', '</style><script>', '<div style="background:url(', '<iframe src=', '[javascript link](javascript:']) {
            assert.ok(text.includes(shown), `${JSON.stringify(shown)} is not shown as text`);
        }
        assert.deepEqual(await dangerousDom(frame, '#content'), [], 'the rendered answer holds something that could run or load');
        const targets = await frame.locator('#content [data-href]').evaluateAll((els) => els.map((el) => el.getAttribute('data-href') ?? ''));
        assert.ok(targets.includes(safeLink), `the safe link is not a link: ${JSON.stringify(targets)}`);
        for (const t of targets) assert.match(t, /^https?:\/\/127\.0\.0\.1:\d+\//, 'a link target that is not http(s)');
        assert.equal(await frame.locator('#content a[href], #content img').count(), 0);

        const after = await probeReport(frame);
        assert.deepEqual(after.violations, [], 'CSP violations: something tried to load or run');
        assert.equal(after.pwned, undefined, `a payload ran in the webview: ${after.pwned}`);
        assert.equal(after.href, before.href, 'the webview navigated');
        assert.deepEqual(await pwnedAnywhere(p), []);

        // The panel still answers: Copy copies the exact model text (markdown, 200 KB line and all).
        await frame.evaluate(() => {
            const copied = document.getElementById('copied');
            if (copied) copied.textContent = '';
        });
        await frame.locator('#copy').click();
        await frame.waitForFunction(() => (document.getElementById('copied')?.textContent ?? '') !== '', undefined, { timeout: 30_000, polling: 100 });
        assert.equal(await frame.locator('#copied').innerText(), `Copied ${markdown.length.toLocaleString('en-US')} characters of markdown.`);
        const clipboard = await p.evaluate(() => navigator.clipboard.readText());
        assert.ok(clipboard === markdown, `the clipboard holds ${clipboard.length} characters, not the answer's ${markdown.length} (starts ${JSON.stringify(clipboard.slice(0, 80))})`);

        // The one safe link, clicked, is opened by the extension outside the webview: the workbench
        // navigates a browser page of its own to the canary (code-server's opener keeps only the
        // origin of a loopback URL). That navigation is the last thing the test waits for; a payload
        // that ran at render time would have reached the canary long before it.
        await frame.locator(`#content [data-href="${safeLink}"]`).click();
        const opened = (): string | undefined => c.details.find((d) => / mode=navigate$/.test(d) && d.includes(`referer=${new URL(p.url()).origin}/`));
        for (let i = 0; !opened(); i++) {
            if (i > 300) throw new Error(`the safe link was not opened by the workbench: canary saw ${JSON.stringify(c.details)}`);
            await p.waitForTimeout(100);
        }
        const others = c.details.filter((d) => d !== opened() && !d.includes(' /favicon.ico '));
        assert.deepEqual(others, [], 'payloads reached the canary');
        assert.equal((await probeReport(frame)).href, before.href, 'clicking a link navigated the webview');
        for (const other of wb!.context.pages()) if (other !== p) await other.close();
    });

    it('the search view shows hostile file contents and a hostile file name as text: nothing runs or loads, and it still opens a result', async () => {
        const p = page!;
        const c = canary!;
        const file = hostileFile(c);
        const full = path.join(workspace(), 'notes', file.name);
        writeFileSync(full, file.text);
        created.push(full);

        await runCommand(p, 'Zeta: Search Workspace');
        const frame = await webviewFrame(p, '#query');
        // The view's script has run (and the extension answered its "ready") once the index status shows.
        await frame.waitForFunction(() => (document.getElementById('summary')?.textContent ?? '') !== '', undefined, { timeout: 30_000, polling: 100 });
        await installProbes(frame);
        const before = await probeReport(frame);
        const errors: string[] = [];
        p.on('console', (m) => {
            if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text().slice(0, 300)}`);
        });
        frame.page().on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
        await frame.locator('#query').fill(SEARCH_WORD);
        // Results from the committed fixture and from the file created above (indexed as it appeared).
        await frame.waitForFunction(([name]) => {
            const files = Array.from(document.querySelectorAll('#results .result .file')).map((f) => f.textContent);
            return files.includes('notes/hostile.md') && files.includes(`notes/${name}`);
        }, [file.name] as const, { timeout: 60_000, polling: 200 }).catch(async (e: unknown) => {
            const state = await frame.evaluate(() => ({
                query: (document.getElementById('query') as HTMLInputElement | null)?.value,
                note: document.getElementById('note')?.textContent,
                summary: document.getElementById('summary')?.textContent,
                files: Array.from(document.querySelectorAll('#results .result .file')).map((f) => f.textContent),
            })).catch((x: unknown) => String(x));
            throw new Error(`${String(e)}\nview: ${JSON.stringify(state)}\nframe detached: ${frame.isDetached()}\nconsole: ${errors.slice(-20).join('\n')}`);
        });

        const text = await frame.locator('#results').evaluate((el) => el.textContent ?? '');
        for (const shown of ['<img src=x onerror=', '<script>window.__zetaPwned', '</style><script>', `"><img src=x onerror="window.__zetaPwned='file-name'">`]) {
            assert.ok(text.includes(shown), `${JSON.stringify(shown)} is not shown as text`);
        }
        // Long lines arrive cut (240 characters and an ellipsis) and are shown on one line each.
        const longest = await frame.locator('#results .line code').evaluateAll((els) => Math.max(...els.map((el) => (el.textContent ?? '').length)));
        assert.ok(longest <= 241, `a snippet line of ${longest} characters`);
        assert.deepEqual(await dangerousDom(frame, '#results'), [], 'the results hold something that could run or load');

        // The view still works: the first result of the fixture opens from the keyboard.
        const index = await frame.locator('#results .result .file').evaluateAll((els) => els.findIndex((el) => el.textContent === 'notes/hostile.md'));
        await frame.locator('#query').focus();
        for (let i = 0; i <= index; i++) await frame.locator('#query').press('ArrowDown');
        await frame.locator('#query').press('Enter');
        await p.locator('.editor-group-container .monaco-editor[data-uri$="notes/hostile.md"]').waitFor({ timeout: 20_000 });

        const after = await probeReport(frame);
        assert.deepEqual(after.violations, [], 'CSP violations: something tried to load or run');
        assert.equal(after.pwned, undefined, `a payload ran in the search view: ${after.pwned}`);
        assert.equal(after.href, before.href, 'the search view navigated');
        assert.deepEqual(await pwnedAnywhere(p), []);
        assert.deepEqual(c.hits.filter((h) => h.startsWith('/search')), [], `payloads reached the canary: ${JSON.stringify(c.hits)}`);
    });
});
