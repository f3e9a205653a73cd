/**
 * Turns trace lines into router tasks with synthetic text of the right size.
 *
 * Every document has a deterministic word sequence (seeded by its name), so the same document
 * always yields the same text before the cursor and a later keystroke's shares all but its last
 * word with the previous one: exactly what prefix reuse feeds on. A completion's text before the
 * cursor is split as the extension splits it (chooseMiddleStart in src/core/completion/context):
 * `middle` runs from an anchor, the start of a line, to the cursor (ending with the word being
 * typed), the rest is `prefix`. The anchor stays put across keystrokes and Enters until the middle
 * holds MIDDLE_MAX_LINES complete lines (keepsMiddleAnchor), then moves to the cursor line's start,
 * so within a document `prefix` and `suffix` stay the same and only `middle` grows between
 * re-anchorings. The trace's `lineTokens` (the cursor line's tokens before the cursor) gives where
 * lines start. With the simulator's tokenizer one word is one token; for a real tokenizer
 * `tokensPerWord` (measured with `calibrate`) converts token budgets to word counts.
 */
import type { ChatMessage, TokenListener } from '../../src/core/backend';
import { keepsMiddleAnchor } from '../../src/core/completion/context';
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

/** Per document: where its middle starts and which line the last request was on. */
interface MiddleState {
    /** Words of the document before the middle (the prefix's words). */
    anchorWords: number;
    /**
     * Tokens before the last request's cursor line (promptTokens - suffixTokens - 3 - lineTokens):
     * the same for every keystroke of a line and changed by each Enter, including the keystroke
     * after it (the trace's Enter adds no token and the line's first character adds one).
     */
    lineStartTokens: number;
    /** Lines started since the anchor was set: complete lines in the middle. */
    completeLines: number;
}

export class TaskBuilder {
    /** Keystrokes seen per document: makes the word being typed differ between keystrokes. */
    private readonly keystrokes = new Map<string, number>();
    private readonly middles = new Map<string, MiddleState>();

    /** @param tokensPerWord tokens the target tokenizer spends per synthetic word (1 in the simulator). */
    constructor(readonly tokensPerWord = 1) {}

    private wordsFor(tokens: number): number {
        return Math.max(0, Math.round(tokens / this.tokensPerWord));
    }

    /**
     * The text before the cursor is `beforeWords` words of the document's body, the last one the
     * partial word being typed; the words from the document's anchor on are `middle` (with `prefix`
     * keeping the space before them, so `prefix + middle` is the same text whatever the split), the
     * rest `prefix`. The middle always holds at least the partial word. Requests must come in trace
     * order per document: the anchor depends on the earlier ones.
     */
    completion(line: TraceLine, onToken?: TokenListener): CompletionTask {
        const k = (this.keystrokes.get(line.doc) ?? 0) + 1;
        this.keystrokes.set(line.doc, k);
        const { beforeWords, state, prefix, middleBeforePartial, suffix } = this.plan(line);
        this.middles.set(line.doc, state);
        const typed = docWord(line.doc, 'body', beforeWords - 1);
        const partial = (typed + 'xyzw').slice(0, 1 + (k % 4));
        return { kind: 'completion', doc: line.doc, prefix, suffix, middle: middleBeforePartial + partial, maxTokens: line.maxTokens, onToken };
    }

    /**
     * The prompt the editor shows before `line`'s keystroke (a read-ahead hint): `line`'s text before
     * the cursor without the partial word its keystroke types, so that the keystroke's prompt only
     * appends to it. Reads the document's state without changing it; call it before `completion(line)`.
     */
    readAhead(line: TraceLine): CompletionTask {
        const { prefix, middleBeforePartial, suffix } = this.plan(line);
        return { kind: 'completion', doc: line.doc, prefix, suffix, middle: middleBeforePartial, maxTokens: line.maxTokens };
    }

    /**
     * `line`'s layout, without changing any state: the words before the cursor, the document's middle
     * state after this line (for `completion` to keep), and the prompt's texts but for the partial
     * word being typed (which the middle always ends with).
     */
    private plan(line: TraceLine): { beforeWords: number; state: MiddleState; prefix: string; middleBeforePartial: string; suffix: string } {
        const suffixTokens = line.suffixTokens ?? 0;
        const lineTokens = line.lineTokens ?? 0;
        // 3 tokens go to the FIM markers.
        const beforeWords = Math.max(1, this.wordsFor(line.promptTokens - suffixTokens - 3));
        // The line's start in words depends only on the tokens before the line (the same while the
        // line is typed) and the line's first token, which starts the line's first word: so
        // lineStartWords stays put within a line and the line holds >= 1 word. Rounding
        // wordsFor(lineTokens) instead would move a word across the line start within a line
        // whenever tokensPerWord is not 1. With 1 (the simulator) the line is exactly lineTokens
        // words. An empty line (lineTokens 0, right after Enter) starts just before the partial
        // word, which the text before the cursor always ends with: lineStartWords <= beforeWords - 1.
        const lineStartWords = lineTokens === 0 ? beforeWords - 1 : Math.max(0, this.wordsFor(line.promptTokens - suffixTokens - 3 - lineTokens + 1) - 1);
        const lineStartTokens = line.promptTokens - suffixTokens - 3 - lineTokens;
        const prev = this.middles.get(line.doc);
        // A new line (its start moved) completes one more line of the middle.
        const completeLines = prev === undefined ? 0 : prev.completeLines + (prev.lineStartTokens !== lineStartTokens ? 1 : 0);
        const state: MiddleState =
            prev === undefined || lineStartWords < prev.anchorWords || !keepsMiddleAnchor(completeLines)
                ? { anchorWords: lineStartWords, lineStartTokens, completeLines: 0 }
                : { anchorWords: prev.anchorWords, lineStartTokens, completeLines };
        // words() of the whole words before the partial one, each run followed by its separating space.
        const run = (from: number, count: number): string => (count > 0 ? words(line.doc, 'body', from, count) + ' ' : '');
        return {
            beforeWords,
            state,
            prefix: run(0, state.anchorWords),
            middleBeforePartial: run(state.anchorWords, beforeWords - 1 - state.anchorWords),
            suffix: words(line.doc, 'tail', 0, this.wordsFor(suffixTokens)),
        };
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
