/**
 * The editor's side of a trace in text: documents and cursors for keystrokes (`TraceDocuments`),
 * which the completion pipeline turns into requests as it does in the editor, and router tasks for
 * chat and embeddings (`TaskBuilder`).
 *
 * Every document has a deterministic word sequence (seeded by its name), so the same document
 * always yields the same text before the cursor and a later keystroke's shares all but its last
 * word with the previous one: exactly what prefix reuse feeds on. The trace's `lineTokens` (the
 * cursor line's tokens before the cursor) gives where lines start, so the pipeline's FIM middle
 * split (chooseMiddleStart in src/core/completion/context) anchors as it does on real code. With
 * the simulator's tokenizer one word is one token; for a real tokenizer `tokensPerWord` (measured
 * with `calibrate`) converts token budgets to word counts.
 */
import type { ChatMessage, TokenListener } from '../../src/core/backend';
import type { TokenCounter } from '../../src/core/completion/context';
import type { CursorPosition } from '../../src/core/completion/pipeline';
import { CompletionRequestBuilder } from '../../src/core/completion/requestBuilder';
import type { ChatTask, CompletionTask, EmbedTask } from '../../src/core/tasks';
import { hashString } from '../lib/rng';
import type { TraceLine } from '../workload/trace';

/** Code-like words; all lower-case ASCII so any byte-level tokenizer handles them. */
const WORDS: readonly string[] = [
    'const', 'value', 'return', 'index', 'result', 'items', 'length', 'function', 'string', 'number',
    'export', 'import', 'from', 'await', 'async', 'if', 'else', 'for', 'of', 'let', 'new', 'this',
    'map', 'filter', 'reduce', 'push', 'count', 'total', 'name', 'data', 'node', 'list', 'key',
    'error', 'throw', 'true', 'false', 'null', 'type', 'interface', 'class', 'extends', 'private',
    'readonly', 'public', 'static', 'get', 'set', 'size', 'start', 'end', 'next', 'prev', 'child',
];

/** Word i of a document's stream; deterministic in (doc, stream, i). */
export function docWord(doc: string, stream: string, i: number): string {
    const h = hashString(`${stream}:${doc}`);
    const idx = ((h ^ Math.imul(i + 1, 2654435761)) >>> 0) % WORDS.length;
    return WORDS[idx];
}

/**
 * Per (stream, doc): the text of the words generated so far and where each word starts, so any
 * run of words is one substring (memoised: a trace asks for the same document's text thousands
 * of times).
 */
interface WordStream {
    text: string;
    /** starts[i]: offset of word i in `text`; starts[n] = text.length + 1 (past the last space). */
    starts: number[];
    readonly seed: number;
}
const streams = new Map<string, WordStream>();

function words(doc: string, stream: string, from: number, count: number): string {
    if (count <= 0) return '';
    const key = `${stream}:${doc}`;
    let ws = streams.get(key);
    if (!ws) {
        ws = { text: '', starts: [0], seed: hashString(key) };
        streams.set(key, ws);
    }
    const need = from + count;
    if (ws.starts.length - 1 < need) {
        const parts: string[] = [];
        let n = ws.starts.length - 1;
        let offset = ws.starts[n];
        // Grow geometrically so repeated small extensions stay cheap.
        const target = Math.max(need, 2 * n);
        for (; n < target; n++) {
            const w = WORDS[((ws.seed ^ Math.imul(n + 1, 2654435761)) >>> 0) % WORDS.length];
            parts.push(w);
            offset += w.length + 1;
            ws.starts.push(offset);
        }
        ws.text = (ws.text.length > 0 ? ws.text + ' ' : '') + parts.join(' ');
    }
    return ws.text.slice(ws.starts[from], ws.starts[need] - 1);
}

/** Words per line of the text a document has before the first keystroke the trace shows in it. */
export const LINE_WORDS = 10;

/** Tokens before the cursor line (the same for every keystroke of a line; the FIM markers not counted). */
function tokensBeforeLine(line: TraceLine): number {
    return line.promptTokens - (line.suffixTokens ?? 0) - 3 - (line.lineTokens ?? 0);
}

/** Per document: its line structure, in word indices (see `TraceDocuments`). */
interface DocLayout {
    /** Words before the first line the trace types on; laid out LINE_WORDS to a line. */
    readonly gridEnd: number;
    /** Words that start a line at or after `gridEnd` (from the trace's `lineTokens`). */
    readonly starts: Set<number>;
    /** Keystrokes seen: makes the word being typed differ between keystrokes. */
    keystrokes: number;
    /** The line the last keystroke was on: its tokens before the line, and the word that starts it. */
    line?: { readonly tokensBefore: number; readonly start: number };
}

/**
 * The editor's side of a trace: for each keystroke (a `completion` line), the document's whole text
 * and the cursor in it, which the completion pipeline (src/core/completion/pipeline.ts) turns into
 * a request exactly as it does in the editor.
 *
 * The text before the cursor is the document's deterministic word stream: as many words as the
 * trace's tokens before the cursor (`promptTokens - suffixTokens - 3`, the 3 being the FIM markers;
 * `tokensPerWord` converts), the last one the partial word being typed (it differs between
 * keystrokes). Words are separated by spaces and line breaks: the text before the first line the
 * trace types on in a document is laid out LINE_WORDS words to a line, and from there on a line
 * starts where the trace's `lineTokens` says the cursor line starts (a new start is kept for the
 * document's later keystrokes, as an Enter stays in the text). After the cursor: a line break and
 * `suffixTokens` of the document's tail words, LINE_WORDS to a line. So a later keystroke's text
 * shares all but the word being typed with the previous one, which is what prompt reuse feeds on.
 * Keystrokes must come in trace order per document.
 */
export class TraceDocuments {
    private readonly layouts = new Map<string, DocLayout>();

    constructor(readonly tokensPerWord = 1) {}

    private wordsFor(tokens: number): number {
        return Math.max(0, Math.round(tokens / this.tokensPerWord));
    }

    /** The document and cursor as `line`'s keystroke leaves them. */
    keystroke(line: TraceLine): CursorPosition {
        const layout = this.layoutAt(line);
        this.layouts.set(line.doc, layout);
        layout.keystrokes++;
        const { beforeWords, lineStart, enter } = this.cursor(line, layout);
        // A start past the partial word (rounding tokens to words) waits for the line to grow.
        if (lineStart <= beforeWords) {
            layout.starts.add(lineStart);
            layout.line = { tokensBefore: tokensBeforeLine(line), start: lineStart };
        }
        let before: string;
        if (enter) {
            // Enter: the line typed is complete, the cursor at the start of an empty line.
            before = this.body(line.doc, layout, beforeWords) + '\n';
        } else {
            const typed = docWord(line.doc, 'body', beforeWords - 1);
            const partial = (typed + 'xyzw').slice(0, 1 + (layout.keystrokes % 4));
            before = this.body(line.doc, layout, beforeWords - 1) + this.separator(layout, beforeWords - 1) + partial;
        }
        return { doc: line.doc, text: before + this.tail(line), offset: before.length };
    }

    /**
     * The document as the editor shows it just before `line`'s keystroke (a read-ahead's position):
     * `line`'s text without the word typed (or, for an Enter, without the line break), the cursor
     * where the keystroke types. Changes no state; call it before `keystroke(line)`.
     */
    beforeKeystroke(line: TraceLine): CursorPosition {
        const layout = this.layoutAt(line);
        const { beforeWords, lineStart, enter } = this.cursor(line, layout);
        const l = { ...layout, starts: lineStart <= beforeWords ? new Set(layout.starts).add(lineStart) : layout.starts };
        const before = enter ? this.body(line.doc, l, beforeWords) : this.body(line.doc, l, beforeWords - 1) + this.separator(l, beforeWords - 1);
        return { doc: line.doc, text: before + this.tail(line), offset: before.length };
    }

    /** The document's layout, or the one it would get at `line` (a document's first line sets its grid). */
    private layoutAt(line: TraceLine): DocLayout {
        return this.layouts.get(line.doc) ?? { gridEnd: this.cursor(line).lineStart, starts: new Set(), keystrokes: 0 };
    }

    /**
     * Words before the cursor (the last one partial, but after an Enter), and the word that starts
     * the cursor line. The line's start depends only on the tokens before the line (the same while
     * the line is typed) and its first token, so it stays put within a line. An Enter (lineTokens 0)
     * leaves the cursor on an empty line after every word: the next keystroke starts its first word.
     */
    private cursor(line: TraceLine, layout?: DocLayout): { beforeWords: number; lineStart: number; enter: boolean } {
        const suffixTokens = line.suffixTokens ?? 0;
        const lineTokens = line.lineTokens ?? 0;
        const beforeWords = Math.max(1, this.wordsFor(line.promptTokens - suffixTokens - 3));
        if (lineTokens === 0) return { beforeWords, lineStart: beforeWords, enter: true };
        // Still on the last keystroke's line (same tokens before it): the same start, whatever the
        // rounding of tokens to words would say now.
        if (layout?.line?.tokensBefore === tokensBeforeLine(line)) return { beforeWords, lineStart: layout.line.start, enter: false };
        const lineStart = Math.max(0, this.wordsFor(line.promptTokens - suffixTokens - 3 - lineTokens + 1) - 1);
        return { beforeWords, lineStart, enter: false };
    }

    /** What goes between word i-1 and word i (i >= 1); "" before the first word. */
    private separator(layout: DocLayout, i: number): string {
        if (i <= 0) return '';
        return (i < layout.gridEnd && i % LINE_WORDS === 0) || i === layout.gridEnd || layout.starts.has(i) ? '\n' : ' ';
    }

    /** Words 0..count-1 of the document's body with their separators. */
    private body(doc: string, layout: DocLayout, count: number): string {
        if (count <= 0) return '';
        const ws = words(doc, 'body', 0, count).split(' ');
        let out = ws[0];
        for (let i = 1; i < ws.length; i++) out += this.separator(layout, i) + ws[i];
        return out;
    }

    /** The text after the cursor: a line break, then the suffix's words, LINE_WORDS to a line. */
    private tail(line: TraceLine): string {
        const n = this.wordsFor(line.suffixTokens ?? 0);
        if (n === 0) return '';
        const ws = words(line.doc, 'tail', 0, n).split(' ');
        const lines: string[] = [];
        for (let i = 0; i < ws.length; i += LINE_WORDS) lines.push(ws.slice(i, i + LINE_WORDS).join(' '));
        return '\n' + lines.join('\n');
    }
}

/** One token per whitespace-separated word: the simulator's tokenizer, as a token counter. */
export function countWords(text: string): number {
    let n = 0;
    for (const w of text.split(/\s+/)) if (w.length > 0) n++;
    return n;
}

/**
 * Router tasks straight from trace lines, for what does not go through the completion pipeline:
 * chat and embeddings, and completions where a micro-benchmark needs the task itself (built by the
 * pipeline's own request builder, src/core/completion/requestBuilder.ts, on `TraceDocuments`).
 */
export class TaskBuilder {
    private readonly documents: TraceDocuments;
    private readonly requests: CompletionRequestBuilder;

    /**
     * @param tokensPerWord tokens the target tokenizer spends per synthetic word (1 in the simulator).
     * @param countTokens the completion windows' token counter (default: one a word).
     */
    constructor(readonly tokensPerWord = 1, countTokens: TokenCounter = countWords) {
        this.documents = new TraceDocuments(tokensPerWord);
        this.requests = new CompletionRequestBuilder(countTokens);
    }

    /** `line`'s keystroke as the pipeline's request builder makes it, with windows wide enough for the whole trace line. */
    completion(line: TraceLine): CompletionTask {
        const at = this.documents.keystroke(line);
        const limits = { prefixTokens: line.promptTokens + 16, suffixTokens: (line.suffixTokens ?? 0) + 16, maxTokens: line.maxTokens };
        return this.requests.build(at.doc, at.text, at.offset, limits).task;
    }

    private wordsFor(tokens: number): number {
        return Math.max(0, Math.round(tokens / this.tokensPerWord));
    }

    chat(line: TraceLine, onToken?: TokenListener): ChatTask {
        if (line.kind !== 'edit' && line.kind !== 'explain' && line.kind !== 'refactorPlan') throw new Error(`not a chat line: ${line.kind}`);
        // ~8 tokens go to the instruction and the chat template.
        const messages: ChatMessage[] = [
            { role: 'system', content: 'explain the code' },
            { role: 'user', content: words(line.doc, 'body', 0, this.wordsFor(Math.max(1, line.promptTokens - 8))) },
        ];
        return { kind: line.kind, doc: line.doc, messages, maxTokens: line.maxTokens, onToken };
    }

    embed(line: TraceLine): EmbedTask {
        if (line.kind !== 'embed' && line.kind !== 'embedQuery') throw new Error(`not an embed line: ${line.kind}`);
        const per = this.wordsFor(line.promptTokens);
        const texts: string[] = [];
        for (let i = 0; i < line.items; i++) texts.push(words(line.doc, line.kind === 'embed' ? 'body' : 'query', i * per, Math.max(1, per)));
        return { kind: line.kind, texts };
    }
}

/** Tokens per synthetic word for a tokenizer, measured on a long sample of the word stream. */
export function calibrate(countTokens: (text: string) => number, sampleWords = 2000): number {
    const text = words('calibration.ts', 'body', 0, sampleWords);
    return Math.max(0.25, countTokens(text) / sampleWords);
}
