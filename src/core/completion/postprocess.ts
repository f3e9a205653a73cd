/**
 * Turns a model's raw fill-in-the-middle output into the text shown as ghost text:
 * - strips control tokens and end markers a template may leave behind, control characters and
 *   U+FFFD replacement characters;
 * - mid-line (code after the cursor): one line at most;
 * - otherwise stops at the end of the block: the first line indented less than the cursor's
 *   block (a line that only closes a bracket at the block's level is kept when the suffix does not
 *   already close it), or a blank line after content, and at most `maxLines` lines;
 * - drops text that repeats the suffix: a line equal to the next non-empty suffix line ends the
 *   completion there, and text that the rest of the cursor line already has is cut off the end;
 * - trims trailing whitespace on every line and trailing blank lines.
 * Returns "" when nothing useful is left.
 */

export interface PostProcessContext {
    /** The cursor line before the cursor. */
    readonly linePrefix: string;
    /** The cursor line after the cursor. */
    readonly lineSuffix: string;
    /** Text after the cursor line (from its newline on); only its first lines are looked at. */
    readonly suffixAfterLine: string;
    readonly maxLines?: number;
}

const CONTROL_TOKENS = /<\|[a-z_]+\|>|<｜[^｜]*｜>|<fim[_-][a-z]+>|<(?:PRE|SUF|MID|EOT)>|\[(?:PREFIX|SUFFIX|MIDDLE)\]|<\/?s>|<\|endoftext\|>|<file_sep>|<repo_name>/g;

/** Control characters other than tab and newline, and U+FFFD (an undecodable byte): never code. */
// eslint-disable-next-line no-control-regex
const JUNK_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/g;

function indentOf(line: string): number {
    let n = 0;
    for (const ch of line) {
        if (ch === ' ') n += 1;
        else if (ch === '\t') n += 4;
        else break;
    }
    return n;
}

const CLOSER = /^\s*[)\]}]+[;,]?\s*$/;

export function postProcessCompletion(raw: string, ctx: PostProcessContext): string {
    let text = raw;
    const cut = text.search(CONTROL_TOKENS);
    if (cut >= 0) text = text.slice(0, cut);
    text = text.replace(/\r\n?/g, '\n').replace(JUNK_CHARS, '');
    const maxLines = ctx.maxLines ?? 12;

    const midLine = ctx.lineSuffix.trim() !== '';
    let lines = text.split('\n');
    if (midLine) lines = lines.slice(0, 1);

    const nextSuffixLine = ctx.suffixAfterLine.split('\n').map((l) => l.trim()).find((l) => l !== '');
    const baseIndent = indentOf(ctx.linePrefix);
    // At the start of an empty line several statements of the block may follow; after code on the
    // line, only the body of a block the first line opens.
    const atLineStart = ctx.linePrefix.trim() === '';
    const out: string[] = [];
    let sawContent = false;
    for (let i = 0; i < lines.length && out.length < maxLines; i++) {
        const line = lines[i].replace(/[ \t]+$/, '');
        if (i === 0) {
            out.push(line);
            if (line.trim() !== '') sawContent = true;
            continue;
        }
        if (line.trim() === '') {
            if (sawContent) break; // a blank line after content ends the block
            out.push(line);
            continue;
        }
        if (nextSuffixLine !== undefined && line.trim() === nextSuffixLine) break; // the suffix already has it
        const indent = indentOf(line);
        if (indent < baseIndent) break; // dedented out of the cursor's block
        if (indent === baseIndent) {
            if (CLOSER.test(line)) {
                out.push(line); // closes the block the completion opened
                break;
            }
            if (!atLineStart) break; // a sibling statement after a completed line
        }
        out.push(line);
        sawContent = true;
    }
    while (out.length > 1 && out[out.length - 1].trim() === '') out.pop();
    let result = out.join('\n');

    // Text the rest of the cursor line already has: drop the overlap at the end.
    if (midLine) result = dropSuffixOverlap(result, ctx.lineSuffix);
    if (result.trim() === '') return '';
    return result;
}

/**
 * Removes the longest end of `text` that the start of `lineSuffix` repeats, e.g. completion
 * "foo(a, b))" before suffix ")" becomes "foo(a, b)". Also cuts at the first occurrence of the whole
 * (trimmed) suffix inside the completion.
 */
export function dropSuffixOverlap(text: string, lineSuffix: string): string {
    const suffix = lineSuffix.trimEnd();
    if (suffix === '') return text;
    const whole = suffix.trim();
    if (whole.length >= 2) {
        const at = text.indexOf(whole);
        if (at >= 0) return text.slice(0, at).trimEnd() === '' ? '' : text.slice(0, at);
    }
    for (let n = Math.min(text.length, suffix.length); n > 0; n--) {
        if (text.endsWith(suffix.slice(0, n))) return text.slice(0, text.length - n);
    }
    return text;
}

/** Stop strings for the request: one line mid-line; a blank line otherwise. */
export function completionStops(lineSuffix: string): string[] {
    return lineSuffix.trim() !== '' ? ['\n'] : ['\n\n\n'];
}
