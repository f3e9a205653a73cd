/**
 * The lexical channel's tokenizer, code-aware: an identifier gives its whole self and its parts.
 *
 *   getUserById    -> getuserbyid, get, user, id          (camelCase; "by" is a stop word)
 *   HTTPServer     -> httpserver, http, server            (an acronym ends before its last capital)
 *   parse_config   -> parse_config, parse, config         (snake_case)
 *   search-view    -> search-view, search, view           (kebab-case)
 *   utf8Decode     -> utf8decode, utf, decode             (digits split off; parts of one character dropped)
 *
 * Invariants: every token is lower-case, 2 to MAX_TOKEN_CHARS characters long, and not a stop word;
 * a word longer than MAX_WORD_CHARS (a hash, base64, a minified line) gives no token; the same
 * function tokenizes chunks, paths and queries, so a query matches exactly what was indexed.
 */

/** Longest word (identifier or number) tokenized; longer ones are data, not names. */
export const MAX_WORD_CHARS = 64;
/** Shortest token kept: one letter or digit matches nearly every chunk. */
export const MIN_TOKEN_CHARS = 2;

/**
 * A small stop list: English function words (queries are often sentences: docstrings, commit
 * subjects) and keywords so common in code that they rank nothing, only fill postings.
 */
export const STOP_WORDS: ReadonlySet<string> = new Set([
    'a', 'an', 'and', 'are', 'as', 'at', 'be', 'by', 'for', 'from', 'if', 'in', 'into', 'is', 'it', 'its', 'of', 'on',
    'or', 'that', 'the', 'this', 'to', 'was', 'were', 'will', 'with',
    'const', 'let', 'var', 'def', 'self', 'return', 'else', 'import', 'export', 'public', 'private', 'static', 'void',
    'true', 'false', 'null', 'undefined', 'none',
]);

/** A word: letters, digits, `_` and `$`, joined by single hyphens (kebab-case). */
const WORD = /[\p{L}\p{N}_$]+(?:-[\p{L}\p{N}_$]+)*/gu;
/**
 * The parts of a word between `_`, `-` and `$`: an acronym (capitals not followed by a lower-case
 * letter), a capitalised or lower-case run, a number, or a run of letters without case (CJK).
 */
const PART = /\p{Lu}+(?!\p{Ll})|\p{Lu}?\p{Ll}+|\p{N}+|\p{L}+/gu;
const NOT_ASCII = /[\u0080-\uffff]/;

function keep(token: string): boolean {
    return token.length >= MIN_TOKEN_CHARS && !STOP_WORDS.has(token);
}

/** ASCII character classes: 1 upper, 2 lower, 3 digit, 4 `_` or `$`, 0 other. */
const ASCII_CLASS = (() => {
    const c = new Uint8Array(128);
    for (let i = 65; i <= 90; i++) c[i] = 1;
    for (let i = 97; i <= 122; i++) c[i] = 2;
    for (let i = 48; i <= 57; i++) c[i] = 3;
    c[95] = 4;
    c[36] = 4;
    return c;
})();

/** The parts of an ASCII word, as PART finds them, read from its lower-cased copy `lower`. */
function asciiParts(word: string, lower: string, out: string[]): void {
    const n = word.length;
    let k = 0;
    while (k < n) {
        const c = word.charCodeAt(k);
        const cls = c === 45 ? 4 : ASCII_CLASS[c];
        const start = k;
        if (cls === 3) {
            while (k < n && ASCII_CLASS[word.charCodeAt(k)] === 3) k++;
        } else if (cls === 2) {
            while (k < n && ASCII_CLASS[word.charCodeAt(k)] === 2) k++;
        } else if (cls === 1) {
            while (k < n && ASCII_CLASS[word.charCodeAt(k)] === 1) k++;
            if (k < n && ASCII_CLASS[word.charCodeAt(k)] === 2) {
                // The last capital starts a capitalised word; the ones before it are an acronym.
                if (k - 1 > start) emitPart(lower.slice(start, k - 1), lower, out);
                const s2 = k - 1;
                while (k < n && ASCII_CLASS[word.charCodeAt(k)] === 2) k++;
                emitPart(lower.slice(s2, k), lower, out);
                continue;
            }
        } else {
            k++;
            continue;
        }
        emitPart(lower.slice(start, k), lower, out);
    }
}

function emitPart(part: string, whole: string, out: string[]): void {
    if (part !== whole && keep(part)) out.push(part);
}

function emitWord(word: string, out: string[]): void {
    if (word.length > MAX_WORD_CHARS) return;
    const whole = word.toLowerCase();
    if (NOT_ASCII.test(word)) {
        for (const p of word.matchAll(PART)) emitPart(p[0].toLowerCase(), whole, out);
    } else asciiParts(word, whole, out);
    if (keep(whole)) out.push(whole);
}

/** Appends the tokens of `text` to `out` (in text order, repeats kept: term frequency counts them) and returns it. */
export function tokenize(text: string, out: string[] = []): string[] {
    // ASCII text (nearly all code) is scanned by hand; a word with other characters goes through
    // the Unicode expressions. Both give the tokens WORD and PART define.
    if (NOT_ASCII.test(text)) {
        for (const m of text.matchAll(WORD)) emitWord(m[0], out);
        return out;
    }
    const n = text.length;
    let i = 0;
    while (i < n) {
        if (ASCII_CLASS[text.charCodeAt(i)] === 0) {
            i++;
            continue;
        }
        let j = i + 1;
        for (;;) {
            if (j < n && ASCII_CLASS[text.charCodeAt(j)] !== 0) j++;
            else if (j + 1 < n && text.charCodeAt(j) === 45 && ASCII_CLASS[text.charCodeAt(j + 1)] !== 0) j += 2;
            else break;
        }
        emitWord(text.slice(i, j), out);
        i = j;
    }
    return out;
}

/** The tokens of a workspace-relative path: each segment's, the extension's included (`src/core/index.ts` -> src, core, index, ts). */
export function pathTokens(path: string): string[] {
    return tokenize(path.replace(/[/\\.]/g, ' '));
}
