/**
 * Queries mined from a workspace's own docs: a function's or class's docstring or leading comment,
 * turned into prose, is the query, and its chunk is the answer (with the doc left out of it when
 * ranking, `without`). Calibration (calibrate.ts) measures each search channel with them, and
 * the benchmark's `--search-quality` uses them when no query file is given.
 *
 * A doc is kept when its summary (the prose before its first tag, field list or section, first
 * paragraph only) has at least `minWords` words and is not a license header, a TODO, commented-out
 * code, or a doc two chunks share. Sampling is deterministic: each candidate is ranked by a hash of
 * the seed and its chunk's content hash, and the `max` first are kept, so the same workspace gives
 * the same queries, and an edit elsewhere does not change which of the others are chosen.
 */
import { createHash } from 'node:crypto';
import type { ChunkInput, MinedQuery } from './types';

export interface MiningOptions {
    /** Most queries returned. */
    readonly max: number;
    /** Picks the sample when more docs qualify than `max`. */
    readonly seed: number;
    /** Fewest words in a query. */
    readonly minWords: number;
    /** Longest query, characters: a longer summary is cut at a sentence end (or a word) before it. */
    readonly maxChars: number;
}

export const DEFAULT_MINING_OPTIONS: MiningOptions = { max: 200, seed: 1, minWords: 4, maxChars: 300 };

/** Queries from the docs of `chunks`, in file and line order. */
export function mineDocQueries(chunks: readonly ChunkInput[], options: Partial<MiningOptions> = {}): MinedQuery[] {
    const o = { ...DEFAULT_MINING_OPTIONS, ...options };
    const candidates: Array<{ query: string; chunk: ChunkInput; rank: string }> = [];
    const seen = new Map<string, number>();
    for (const chunk of chunks) {
        if (!chunk.doc) continue;
        const query = docQuery(chunk.doc, o);
        if (!query) continue;
        const key = query.toLowerCase();
        seen.set(key, (seen.get(key) ?? 0) + 1);
        candidates.push({ query, chunk, rank: createHash('sha256').update(`${o.seed}\0${chunk.hash}`).digest('hex') });
    }
    // A doc that two chunks share does not tell which one it asks for.
    const unique = candidates.filter((c) => seen.get(c.query.toLowerCase()) === 1);
    unique.sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
    return unique
        .slice(0, Math.max(0, Math.floor(o.max)))
        .sort((a, b) => (a.chunk.file < b.chunk.file ? -1 : a.chunk.file > b.chunk.file ? 1 : a.chunk.startLine - b.chunk.startLine))
        .map(({ query, chunk }) => ({
            query,
            answer: { file: chunk.file, startLine: chunk.startLine, endLine: chunk.endLine, ...(chunk.symbol ? { symbol: chunk.symbol } : {}) },
            without: chunk.doc,
            ...(chunk.embedTextWithoutDoc !== undefined ? { answerEmbedText: chunk.embedTextWithoutDoc } : {}),
        }));
}

const LICENSE = /\b(?:copyright|licen[cs]ed? under|spdx-license|all rights reserved|permission is hereby granted|this program is free software|apache license|mit license|gnu (?:general|lesser))\b|\(c\)\s*\d{4}/i;
const TODO = /^(?:todo|fixme|xxx|hack|deprecated|nocommit)\b/i;
/** Lines that start the part of a doc that is not its summary: tags, fields, sections, examples. */
const SECTION = new RegExp(
    [
        String.raw`^[@\\](?!brief\b|summary\b|description\b|desc\b)\w+`, // JSDoc, Javadoc, Doxygen tags (their text is not the summary)
        String.raw`^:\w+(?:\s[^:]*)?:`, // reST fields (:param x:, :returns:)
        String.raw`^(?:args|arguments|parameters|params|returns?|yields?|raises|throws|exceptions?|examples?|notes?|attributes|see also|references|todo|usage|warnings?|keyword args|other parameters)\s*:?\s*$`, // Google and NumPy sections
        String.raw`^#{1,6}\s`, // Markdown headings (Rust's # Examples, # Panics)
        '^```', // code fences
        '^>>>', // doctests
        String.raw`^-{3,}\s*$|^={3,}\s*$`, // NumPy / reST underlines
    ].join('|'),
    'i',
);

/** The query a doc gives: its summary as plain prose, or undefined when it is not worth asking. */
export function docQuery(doc: string, options: Pick<MiningOptions, 'minWords' | 'maxChars'> = DEFAULT_MINING_OPTIONS): string | undefined {
    if (LICENSE.test(doc)) return undefined;
    const summary: string[] = [];
    for (const raw of xmlDocToText(doc).split('\n')) {
        const line = raw.trim();
        if (!line) {
            if (summary.length > 0) break; // the first paragraph only
            continue;
        }
        if (SECTION.test(line)) break;
        summary.push(line.replace(/^[@\\](?:brief|summary|description|desc)\b\s*/i, ''));
    }
    const text = prose(summary.join(' '));
    if (!text || TODO.test(text) || looksLikeCode(text)) return undefined;
    if (text.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).length < options.minWords) return undefined;
    return shorten(text, options.maxChars);
}

/** C#'s XML doc comments: the summary's text, <see cref="X"/> as X, other elements dropped. */
function xmlDocToText(doc: string): string {
    if (!/<\/?(?:summary|remarks|param|returns|see|c|code|para|value|exception)\b/.test(doc)) return doc;
    const summary = /<summary>([\s\S]*?)<\/summary>/i.exec(doc);
    const body = summary ? summary[1] : doc.replace(/<(param|typeparam|returns|exception|example|value)\b[\s\S]*?<\/\1>/gi, '');
    return body
        .replace(/<(?:see|seealso|paramref|typeparamref)\s+(?:cref|name|langword)="([^"]*)"\s*\/>/gi, (_, name: string) => name.replace(/^[A-Z]:/, ''))
        .replace(/<\/?(?:c|code|para|b|i|em|strong)>/gi, '')
        .replace(/<[^>]+>/g, '');
}

/** Inline markup to plain text: JSDoc inline tags, Markdown and reST emphasis, code and links. */
function prose(text: string): string {
    return text
        .replace(/\{@(?:link|linkplain|linkcode|code|literal)\s+([^}|\s]+)(?:[\s|]+([^}]*))?\}/g, (_, target: string, label?: string) => label?.trim() || target)
        .replace(/\{@inheritDoc\}/gi, '')
        .replace(/\[([^\]]+)\]\((?:[^)]+)\)/g, '$1') // [text](url)
        .replace(/\[`?([^\]`]+)`?\]/g, '$1') // [`Foo`] (rustdoc intra-doc links)
        .replace(/:(?:py:)?(?:func|meth|class|attr|mod|obj|data|exc|const|ref):`~?([^`]+)`/g, '$1') // reST roles
        .replace(/`{1,2}([^`]+)`{1,2}/g, '$1')
        .replace(/(\*\*|__)(.+?)\1/g, '$2')
        .replace(/(^|\s)[*_]([^*_\s][^*_]*)[*_](?=\s|[.,;:!?]|$)/g, '$1$2')
        .replace(/\s+/g, ' ')
        .trim();
}

/** Commented-out code rather than prose: many code characters, or a statement's shape. */
function looksLikeCode(text: string): boolean {
    const symbols = (text.match(/[{}();=<>[\]]/g) ?? []).length;
    return symbols / text.length > 0.08 || /^(?:import|from|return|if|for|while|const|let|var|def|class|function)\b.*[;:{(]\s*$/.test(text);
}

/** At most `max` characters, cut at the last sentence end, else the last word, before it. */
function shorten(text: string, max: number): string {
    if (text.length <= max) return text;
    const cut = text.slice(0, max);
    const sentence = cut.search(/[.!?]\s[^.!?]*$/);
    if (sentence > max / 3) return cut.slice(0, sentence + 1);
    const space = cut.lastIndexOf(' ');
    return space > 0 ? cut.slice(0, space) : cut;
}
