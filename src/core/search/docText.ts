/**
 * Comments and docstrings as plain text: comment markers and quotes removed, indentation made
 * common, blank edges dropped. Markup inside (JSDoc tags, XML doc tags, reST fields) is kept here;
 * `mining.ts` turns it into prose where it needs to.
 */

/** Tool directives, not documentation: `eslint-disable`, `@ts-ignore`, `noqa`, `type: ignore`, a shebang, an editor modeline, ... */
const DIRECTIVE = /^(?:eslint[- ]|eslint$|@ts-|prettier-ignore|istanbul |c8 |v8 |tslint:|jshint |jscs:|noqa\b|type:\s*ignore|pylint:|pyright:|mypy:|fmt:\s*(?:off|on|skip)|nolint\b|go:(?:build|generate|embed|noinline|linkname)|\+build |#?(?:end)?region\b|-\*-|!|vim?:|rubocop:|frozen_string_literal:|coding[:=]|nosec\b|pragma\b|NOLINT|clang-format |@formatter:|cspell:|spell-checker:)/i;

/** The text of one comment (`//`, `///`, `//!`, `#`, `--`, `/* *\/`, `/** *\/`, `<!-- -->`), markers removed. */
export function commentText(raw: string): string {
    let text = raw.replace(/\r/g, '');
    const block = /^\s*\/\*[*!]?/.exec(text);
    if (block) {
        text = text.slice(block[0].length).replace(/\*+\/\s*$/, '');
        // Leading ` * ` decoration, when every continuation line has it.
        const lines = text.split('\n');
        const rest = lines.slice(1).filter((l) => l.trim());
        if (rest.length > 0 && rest.every((l) => /^\s*\*/.test(l))) {
            text = [lines[0], ...lines.slice(1).map((l) => l.replace(/^\s*\*(?!\/) ?/, ''))].join('\n');
        }
        return tidy(text);
    }
    const html = /^\s*<!--/.exec(text);
    if (html) return tidy(text.slice(html[0].length).replace(/-->\s*$/, ''));
    return tidy(
        text
            .split('\n')
            .map((l) => l.replace(/^\s*(?:\/\/[/!]?|#+|--|;+) ?/, ''))
            .join('\n'),
    );
}

/** Whether a comment (its text, markers removed) is a tool directive rather than documentation. */
export function isDirective(text: string): boolean {
    return DIRECTIVE.test(text.trim());
}

/** The text of a Python string literal used as a docstring (prefixes and quotes removed, dedented as `inspect.cleandoc` does). */
export function docstringText(raw: string): string {
    const m = /^[rRuUbBfF]{0,2}("""|'''|"|')([\s\S]*)\1\s*$/.exec(raw.trim());
    return tidy(m ? m[2] : raw, true);
}

/**
 * Common indentation removed (the first line's own indentation is not counted when `firstApart`,
 * as in a docstring whose first line follows the quotes), trailing spaces and blank edges dropped.
 */
function tidy(text: string, firstApart = false): string {
    const lines = text.split('\n').map((l) => l.replace(/\s+$/, ''));
    const counted = firstApart ? lines.slice(1) : lines;
    let indent = Infinity;
    for (const l of counted) if (l.trim()) indent = Math.min(indent, /^\s*/.exec(l)![0].length);
    if (!Number.isFinite(indent)) indent = 0;
    const out = lines.map((l, i) => (firstApart && i === 0 ? l.trim() : l.slice(indent)));
    while (out.length > 0 && !out[0].trim()) out.shift();
    while (out.length > 0 && !out[out.length - 1].trim()) out.pop();
    return out.join('\n');
}
