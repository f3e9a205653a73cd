/**
 * Zeta as a user meets it: headless Chromium on the real workbench (code-server), the packaged
 * extension, the generated models. One window (fresh browser profile, one extension host, models
 * loaded once) serves the tests in order; each test starts with every editor closed. A failing test
 * leaves a screenshot in test-results/.
 *
 * No wait here is a speed requirement: each waits for an event (the router's state in the load
 * view, then the DOM), and its timeout (workbench.ts HANG_CAP_MS, MODEL_CAP_MS) only catches a hang.
 */
import * as assert from 'node:assert/strict';
import type { Frame, Page } from 'playwright-core';
import {
    closeAllEditors, focusEditor, ghostSuggestion, GHOST_SELECTOR, HANG_CAP_MS, MODEL_CAP_MS, openFile, openLoadView, openWorkbench, routerView, runCommand, screenshot, textWithoutGhost,
    typeInEditor, waitForEditorText, waitForGhostText, waitForModelsLoaded, webviewFrame, type Workbench,
} from './workbench';

/** A card's numbers in the load view: model id -> { served, ... } as displayed. */
async function loadCards(frame: Frame): Promise<Record<string, Record<string, string>>> {
    return frame.$$eval('#models article.card', (cards) => Object.fromEntries(cards.map((card) => {
        const id = card.querySelector('.card-head strong')?.textContent ?? '?';
        const stats: Record<string, string> = {};
        const dts = card.querySelectorAll('dl.stats dt');
        dts.forEach((dt) => { stats[dt.textContent ?? ''] = dt.nextElementSibling?.textContent ?? ''; });
        return [id, stats];
    })));
}

describe('Zeta in the workbench (Chromium)', function () {
    // Hang caps: each wait inside has its own (MODEL_CAP_MS per model event).
    this.timeout(240_000);
    let wb: Workbench | undefined;
    let page: Page | undefined;

    before(async function () {
        this.timeout(240_000);
        wb = await openWorkbench();
        page = wb.page;
        try {
            await waitForModelsLoaded(page, 120_000);
        } catch (e) {
            const file = await screenshot(page, 'models-not-loaded');
            throw new Error(`${e instanceof Error ? e.message : String(e)} (screenshot: ${file})`);
        }
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
        await wb?.close();
        wb = undefined;
        page = undefined;
    });

    it('shows ghost text from the coder model while typing, and Tab accepts it', async () => {
        const p = page!;
        // The load view beside the editor shows the router's state: when a completion was routed and
        // served, however long the model took on this machine.
        const loadView = await openLoadView(p);
        const editor = await openFile(p, 'src/typing.py', { toSide: true });
        await focusEditor(editor);
        await p.keyboard.press('Control+End');
        await p.keyboard.press('Enter');
        const since = (await routerView(loadView, 'src/typing.py')).lastTask;
        const typed = 'def answer():';
        await typeInEditor(editor, typed);

        // Typing asks for a completion (after Zeta's adaptive debounce); it is asked for again only
        // once the router has served one for this file without a visible suggestion.
        await waitForGhostText(editor, loadView, 'src/typing.py', since);
        const ghostText = await ghostSuggestion(editor);
        assert.ok(ghostText.trim().length > 0, `the ghost text is empty: ${JSON.stringify(ghostText)}`);
        const before = await textWithoutGhost(editor);
        assert.ok(!before.includes(`${typed}${ghostText}`), 'the ghost text is already part of the text');

        await p.keyboard.press('Tab');
        await p.waitForFunction((sel) => document.querySelectorAll(sel).length === 0, GHOST_SELECTOR, { timeout: HANG_CAP_MS });
        // Tab inserts exactly the suggestion shown.
        const after = await waitForEditorText(editor, (t) => t !== before);
        assert.ok(after.includes(`${typed}${ghostText}`), `the accepted ghost text ${JSON.stringify(ghostText)} is not in the editor: ${JSON.stringify(after)}`);
    });

    it('"Zeta: Explain Selection" from the command palette streams an answer into its panel', async () => {
        const p = page!;
        const editor = await openFile(p, 'src/geometry.py');
        await focusEditor(editor);
        await p.keyboard.press('Control+A');
        await runCommand(p, 'Zeta: Explain Selection');

        const frame = await webviewFrame(p, '#content');
        const done = async (): Promise<void> => {
            await frame.waitForFunction(() => /^(Done|Failed|Stopped)/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: MODEL_CAP_MS, polling: 100 });
            const status = await frame.locator('#status').innerText();
            assert.match(status, /^Done/, `the panel's status is ${JSON.stringify(status)}`);
        };
        await done();
        assert.ok((await frame.locator('#content').innerText()).trim().length > 0, 'the panel stayed empty');
        assert.match(await frame.locator('#routing').innerText(), /reasoner/i, 'the panel does not say which model answered');

        // The first answer may finish before the new webview has loaded (it then shows the final
        // state at once). Ask again in the now-ready panel and record every change of the answer.
        await frame.evaluate(() => {
            const content = document.getElementById('content');
            const w = window as unknown as { zetaLengths: number[] };
            w.zetaLengths = [];
            if (content) new MutationObserver(() => w.zetaLengths.push(content.textContent?.length ?? 0)).observe(content, { childList: true, subtree: true, characterData: true });
        });
        await runCommand(p, 'Zeta: Explain Selection');
        await frame.waitForFunction(() => (window as unknown as { zetaLengths: number[] }).zetaLengths.length > 0, undefined, { timeout: MODEL_CAP_MS, polling: 50 });
        await done();
        const lengths = await frame.evaluate(() => (window as unknown as { zetaLengths: number[] }).zetaLengths);
        const partial = new Set(lengths.filter((n) => n > 0));
        assert.ok(partial.size >= 2, `the answer arrived in one piece (content lengths seen: ${JSON.stringify(lengths)}): not streamed`);
    });

    it('the coder reads a file where the cursor rests before the first keystroke, and holds it when the keystroke comes (load view)', async () => {
        const p = page!;
        const frame = await openLoadView(p);
        // A file no other test opens, so that the coder holds none of it and the read is this test's.
        // It opens with the cursor at its end (line 36 is the empty line after the last newline), the
        // only place the cursor rests: a read of the text before any other place (where the editor
        // first put the cursor, or where a click did, once the cursor rested there long enough on a
        // busy machine) would be another prompt, and the keystroke at the end would reuse none of it.
        const editor = await openFile(p, 'src/shapes.py', { toSide: true, line: 36 });
        await focusEditor(editor, { click: false });
        await p.waitForFunction(() => /Ln 36, Col 1\b/.test(document.getElementById('status.editor.selection')?.textContent ?? ''), undefined, { timeout: HANG_CAP_MS });
        // The cursor rests at the end of the file: the coder reads the text before it.
        const readHandle = await frame.waitForFunction(() => {
            const li = Array.from(document.querySelectorAll<HTMLElement>('#decisions li')).find((x) => /read ahead/.test(x.textContent ?? '') && x.querySelector('.doc')?.textContent === 'src/shapes.py');
            return li !== undefined && /coder/.test(li.querySelector('strong')?.textContent ?? '') ? Number(li.dataset.task) : undefined;
        }, undefined, { timeout: MODEL_CAP_MS, polling: 200 });
        const readTask = (await readHandle.jsonValue()) as number;
        // Let the read finish (it no longer waits, and nothing runs or waits on the coder), then type.
        await frame.waitForFunction((id) => {
            if (Array.from(document.querySelectorAll('#waits li')).some((li) => li.textContent?.includes(`#${id}`))) return false;
            for (const card of Array.from(document.querySelectorAll('#models article.card'))) {
                if (card.querySelector('.card-head strong')?.textContent !== 'coder') continue;
                const stats = new Map(Array.from(card.querySelectorAll('dl.stats dt')).map((dt) => [dt.textContent ?? '', dt.nextElementSibling?.textContent ?? '']));
                return /^0\b/.test(stats.get('running') ?? '') && /^0\b/.test(stats.get('waiting') ?? '');
            }
            return false;
        }, readTask, { timeout: MODEL_CAP_MS, polling: 200 });
        // One keystroke: its completion is the first completion decision after the read.
        await p.keyboard.type('d');
        const first = await frame.waitForFunction((id) => {
            const after = Array.from(document.querySelectorAll<HTMLElement>('#decisions li'))
                .filter((li) => Number(li.dataset.task) > id && /^completion\b/.test(li.querySelector('.kind')?.textContent ?? ''))
                .sort((a, b) => Number(a.dataset.task) - Number(b.dataset.task));
            return after.length > 0 ? after[0].textContent : undefined;
        }, readTask, { timeout: MODEL_CAP_MS, polling: 200 });
        const text = (await first.jsonValue()) as string;
        // The router knows the coder holds the text read: the completion reuses it there, or, when the
        // router finds another model still sooner (it may: the models' measured speeds decide), its
        // reason names what the coder held.
        const m = /(?:reuses|holds) (\d+) cached prompt tokens/.exec(text);
        assert.ok(m && Number(m[1]) >= 100, `the first keystroke after the read (task ${readTask}): ${text}; latest decisions: ${JSON.stringify(await frame.locator('#decisions li').allTextContents())}`);
        await runCommand(p, 'File: Revert File');
    });

    it('the load view (from the status bar item) shows activity after a request', async () => {
        const p = page!;
        const frame = await openLoadView(p);
        await frame.locator('#models article.card').nth(2).waitFor({ timeout: HANG_CAP_MS });
        const before = await loadCards(frame);
        const servedBefore = Number.parseInt(before.reasoner?.served ?? 'NaN', 10);
        assert.ok(Number.isFinite(servedBefore), `no reasoner card with a served count: ${JSON.stringify(before)}`);
        const decisionsBefore = await frame.locator('#decisions li').allTextContents();

        // A request from an editor opened beside the load view, which stays visible (and live).
        const editor = await openFile(p, 'src/stats.py', { toSide: true });
        await focusEditor(editor);
        await p.keyboard.press('Control+A');
        await runCommand(p, 'Zeta: Plan Refactor');

        await frame.waitForFunction((n) => {
            for (const card of Array.from(document.querySelectorAll('#models article.card'))) {
                if (card.querySelector('.card-head strong')?.textContent !== 'reasoner') continue;
                for (const dt of Array.from(card.querySelectorAll('dl.stats dt'))) {
                    if (dt.textContent === 'served') return Number.parseInt(dt.nextElementSibling?.textContent ?? '', 10) > n;
                }
            }
            return false;
        }, servedBefore, { timeout: MODEL_CAP_MS, polling: 200 });
        const decisionsAfter = await frame.locator('#decisions li').allTextContents();
        assert.notDeepEqual(decisionsAfter, decisionsBefore, 'the routing decisions did not change');
        assert.ok(decisionsAfter.some((d) => /refactorPlan/.test(d) && /reasoner/.test(d)), `no refactorPlan decision listed: ${JSON.stringify(decisionsAfter.slice(0, 3))}`);
        // Why tasks wait: one row per waiting task (stage, task, reason), or a line saying none does.
        const waits = await frame.locator('#waits li').allTextContents();
        assert.ok(waits.length > 0 && waits.every((w) => /Nothing is waiting|^(held|queued|loading|sequence|turn|paused)#\d+/.test(w)), `the waits list: ${JSON.stringify(waits)}`);
    });

    it('Search Workspace: results from the index, Enter opens the right file at the right line, and an edit becomes searchable', async () => {
        const p = page!;
        await runCommand(p, 'Zeta: Search Workspace');
        const frame = await webviewFrame(p, '#query');
        /** Waits until a result in `file` shows `text` (the answer to the query in the box, not an earlier one). */
        const answer = async (view: Frame, file: string, text: string): Promise<string[]> => {
            await view.waitForFunction(
                ([f, t]) => Array.from(document.querySelectorAll('#results .result')).some((r) => r.querySelector('.file')?.textContent === f && (r.querySelector('.snippet')?.textContent ?? '').includes(t)),
                [file, text] as const,
                { timeout: MODEL_CAP_MS, polling: 200 },
            );
            return view.locator('#results .result').allTextContents();
        };
        await frame.locator('#query').fill('spread values');
        const found = await answer(frame, 'src/stats.py', 'def spread');
        // The chunk that holds `def spread` (line 5), whatever range the chunker gave it.
        const range = /^src\/stats\.py:(\d+)-(\d+)/.exec(found[0]);
        assert.ok(range && Number(range[1]) <= 5 && Number(range[2]) >= 5, `the first result: ${JSON.stringify(found.slice(0, 2))}`);
        assert.match(await frame.locator('#summary').innerText(), /indexed|indexing|files/, 'the index progress is shown');
        // Keyboard: the first result selected, Enter opens it at its first line.
        await frame.locator('#query').press('ArrowDown');
        await frame.locator('#query').press('Enter');
        await p.locator('.editor-group-container .monaco-editor[data-uri$="src/stats.py"]').waitFor({ timeout: HANG_CAP_MS });
        await p.waitForFunction((line) => new RegExp(`Ln ${line},`).test(document.getElementById('status.editor.selection')?.textContent ?? ''), range[1], { timeout: HANG_CAP_MS });

        // An edit, saved, is searchable by its words, and the view shows it without being asked again:
        // the query is in the box before the save, and its answer follows the index when the file
        // event brings the edit in (however late that event comes after the save).
        const editor = await openFile(p, 'src/geometry.py');
        await focusEditor(editor);
        await p.keyboard.press('Control+End');
        await p.keyboard.press('Enter');
        await typeInEditor(editor, 'def zebra_stripes(count):', 10);
        await p.keyboard.press('Escape');
        await runCommand(p, 'Zeta: Search Workspace');
        // The view as the command revealed it (a view may be resolved anew when revealed).
        const view = await webviewFrame(p, '#query');
        await view.locator('#query').fill('zebra stripes');
        await focusEditor(editor);
        await p.keyboard.press('Control+S');
        await p.locator('.tab.active.dirty').waitFor({ state: 'detached', timeout: HANG_CAP_MS });
        const edited = await answer(view, 'src/geometry.py', 'zebra_stripes');
        assert.match(edited[0], /src\/geometry\.py/, `after the edit: ${JSON.stringify(edited.slice(0, 2))}`);
        await runCommand(p, 'File: Revert File');
    });
});
