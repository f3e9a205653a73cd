/**
 * The prefix and suffix windows sent with a completion, measured in tokens around the cursor.
 * Windows are cut at line boundaries where the budget allows (a whole line or none), except the
 * cursor's own line, which is always kept in full on both sides of the cursor so the model sees
 * what it is completing.
 * Units: tokens (from the `countTokens` passed in), characters for offsets.
 */

/** Counts tokens of a text. The VS Code layer passes a model tokenizer when it has one. */
export type TokenCounter = (text: string) => number;

/**
 * A tokenizer-free estimate for code: a run of letters/digits counts one token per 4 characters
 * (rounded up), each punctuation character one, a run of whitespace one, a newline one. It errs on
 * the high side for code, so windows stay within the model's context.
 */
export function estimateTokens(text: string): number {
    let n = 0;
    const re = /[A-Za-z0-9_]+|\n|[ \t]+|[^A-Za-z0-9_\s]|\s/g;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        const t = m[0];
        n += /^[A-Za-z0-9_]/.test(t) ? Math.ceil(t.length / 4) : 1;
    }
    return n;
}

export interface ContextWindow {
    /** Text before the cursor, starting at a line start. */
    readonly prefix: string;
    /** Text after the cursor, ending at a line end. */
    readonly suffix: string;
    readonly prefixTokens: number;
    readonly suffixTokens: number;
    /** Offset of the first character of `prefix` in the document. */
    readonly prefixStart: number;
    /** The cursor line's text before and after the cursor. */
    readonly linePrefix: string;
    readonly lineSuffix: string;
}

export interface WindowLimits {
    readonly prefixTokens: number;
    readonly suffixTokens: number;
}

/**
 * When a prefix window has to move, it starts far enough down that this share of the prefix budget
 * is left free for the text typed next: the window start then stays put for that many tokens.
 */
export const PREFIX_WINDOW_SLACK = 0.25;

/**
 * Builds the windows for a cursor at `offset` in `text`.
 *
 * `anchor` is the previous `prefixStart` for this document. The model backend reuses the evaluated
 * tokens of the previous prompt up to the first difference, so a prefix window whose start slides
 * with every keystroke would be re-evaluated in full each time. The window therefore keeps its
 * anchor while the text from the anchor to the cursor fits the budget, and when it must move it
 * moves in a large step (leaving PREFIX_WINDOW_SLACK of the budget free), not a line at a time.
 */
export function buildContextWindow(
    text: string,
    offset: number,
    limits: WindowLimits,
    countTokens: TokenCounter = estimateTokens,
    anchor?: number,
): ContextWindow {
    const cursor = Math.max(0, Math.min(offset, text.length));
    const lineStart = text.lastIndexOf('\n', cursor - 1) + 1;
    let lineEnd = text.indexOf('\n', cursor);
    if (lineEnd < 0) lineEnd = text.length;
    const linePrefix = text.slice(lineStart, cursor);
    const lineSuffix = text.slice(cursor, lineEnd);

    // Prefix: the anchor when it still fits; else the cursor line's start, then whole earlier
    // lines while they fit (within the budget less the slack when the window is moving).
    let prefixTokens = countTokens(linePrefix);
    let start = lineStart;
    const anchored = anchor !== undefined && anchor >= 0 && anchor <= lineStart && (anchor === 0 || text[anchor - 1] === '\n');
    const anchoredTokens = anchored ? prefixTokens + countTokens(text.slice(anchor, lineStart)) : Number.POSITIVE_INFINITY;
    if (anchored && anchoredTokens <= limits.prefixTokens) {
        start = anchor;
        prefixTokens = anchoredTokens;
    } else {
        const budget = anchored ? Math.floor(limits.prefixTokens * (1 - PREFIX_WINDOW_SLACK)) : limits.prefixTokens;
        while (start > 0) {
            const prevStart = text.lastIndexOf('\n', start - 2) + 1;
            const line = text.slice(prevStart, start); // includes its newline
            const cost = countTokens(line);
            if (prefixTokens + cost > budget) break;
            prefixTokens += cost;
            start = prevStart;
        }
    }

    // Suffix: the rest of the cursor line, then whole later lines while they fit.
    let suffixTokens = limits.suffixTokens > 0 ? countTokens(lineSuffix) : 0;
    let end = limits.suffixTokens > 0 ? lineEnd : cursor;
    while (limits.suffixTokens > 0 && end < text.length) {
        let next = text.indexOf('\n', end + 1);
        if (next < 0) next = text.length;
        const line = text.slice(end, next); // starts with the newline
        const cost = countTokens(line);
        if (suffixTokens + cost > limits.suffixTokens) break;
        suffixTokens += cost;
        end = next;
    }

    return {
        prefix: text.slice(start, cursor),
        suffix: text.slice(cursor, end),
        prefixTokens,
        suffixTokens,
        prefixStart: start,
        linePrefix,
        lineSuffix,
    };
}

/**
 * The FIM middle (the text after llama.cpp's middle marker) may span several lines: it starts at an
 * anchor, a line start that stays put while the user types on. The backend reuses the previous
 * prompt's tokens up to the first difference, and the suffix comes before the middle, so a line
 * that moved from middle to prefix at Enter would make the whole suffix (100+ tokens) be evaluated
 * again; with the anchor, Enter only appends to the middle. The model sees the same text before the
 * cursor either way (prefix + middle), split at another line start. The anchor moves to the cursor
 * line after this many complete lines in the middle (units: lines), so the suffix is re-read once
 * every MIDDLE_MAX_LINES new lines and the middle stays a few lines long.
 */
export const MIDDLE_MAX_LINES = 8;

/** Whether a middle anchor may stay with `completeLinesInMiddle` whole lines before the cursor line. */
export function keepsMiddleAnchor(completeLinesInMiddle: number): boolean {
    return completeLinesInMiddle < MIDDLE_MAX_LINES;
}

/** Where a document's FIM middle started last time, and what lay before it then (offsets in characters). */
export interface MiddleAnchor {
    /** Offset of the middle's first character: a line start. */
    readonly start: number;
    /** text.slice(prefixStart, start) when last used. */
    readonly prefix: string;
    /** The prefix window's start when last used. */
    readonly prefixStart: number;
}

/** The anchor to keep for a document after a request whose middle started at `start`. */
export function middleAnchor(text: string, window: ContextWindow, start: number): MiddleAnchor {
    return { start, prefix: text.slice(window.prefixStart, start), prefixStart: window.prefixStart };
}

/**
 * Returns the offset where the FIM middle starts for this window: a line start with
 * prefixStart <= result <= the cursor line's start. That is `previous.start` while it is still a
 * line start in that range, the text from the window's start to it is unchanged (the same window
 * start, no edit above it) and fewer than MIDDLE_MAX_LINES complete lines lie between it and the
 * cursor line; otherwise (or without `previous`) the cursor line's start.
 */
export function chooseMiddleStart(text: string, window: ContextWindow, cursor: number, previous?: MiddleAnchor): number {
    const lineStart = Math.max(0, Math.min(cursor, text.length)) - window.linePrefix.length;
    if (previous === undefined) return lineStart;
    const a = previous.start;
    if (a < window.prefixStart || a > lineStart || (a > 0 && text[a - 1] !== '\n')) return lineStart;
    if (previous.prefixStart !== window.prefixStart || a - window.prefixStart !== previous.prefix.length || !text.startsWith(previous.prefix, window.prefixStart)) {
        return lineStart;
    }
    // Complete lines in the middle: newlines from the anchor to the cursor line's start (counted
    // only as far as the limit, so a distant anchor costs no long scan).
    let lines = 0;
    for (let i = text.indexOf('\n', a); i >= 0 && i < lineStart && keepsMiddleAnchor(lines); i = text.indexOf('\n', i + 1)) lines++;
    return keepsMiddleAnchor(lines) ? a : lineStart;
}
