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

function keep(token: string): boolean {
    return token.length >= MIN_TOKEN_CHARS && !STOP_WORDS.has(token);
}

/** Appends the tokens of `text` to `out` (in text order, repeats kept: term frequency counts them) and returns it. */
export function tokenize(text: string, out: string[] = []): string[] {
    for (const m of text.matchAll(WORD)) {
        const word = m[0];
        if (word.length > MAX_WORD_CHARS) continue;
        const whole = word.toLowerCase();
        for (const p of word.matchAll(PART)) {
            const part = p[0].toLowerCase();
            if (part !== whole && keep(part)) out.push(part);
        }
        if (keep(whole)) out.push(whole);
    }
    return out;
}

/** The tokens of a workspace-relative path: each segment's, the extension's included (`src/core/index.ts` -> src, core, index, ts). */
export function pathTokens(path: string): string[] {
    return tokenize(path.replace(/[/\\.]/g, ' '));
}
