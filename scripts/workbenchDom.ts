/**
 * Reading what VS Code's editor shows, in a workbench page driven by playwright-core: shared by the
 * workbench tests (test/e2e/ui/) and `npm run bench -- --workbench` (bench/modes/workbench.ts).
 */
import type { Locator } from 'playwright-core';

/**
 * Where ghost text shows: inline on the cursor's line, and the lines after the first in a view zone
 * below it (a suggestion that starts with a line break has no inline part at all).
 */
export const GHOST_SELECTOR = '[class*="ghost-text-decoration"], .suggest-preview-text .view-line';

/**
 * The editor's visible text without ghost text (which is rendered inside the same lines), with
 * spaces as spaces (VS Code renders them as U+00A0), lines top to bottom (by their `top` in px).
 * Only rendered lines: what the editor's viewport holds.
 */
export async function textWithoutGhost(editor: Locator): Promise<string> {
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
