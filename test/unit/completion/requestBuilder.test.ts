import { strict as assert } from 'node:assert';
import { MIDDLE_MAX_LINES } from '../../../src/core/completion/context';
import { CompletionRequestBuilder } from '../../../src/core/completion/requestBuilder';
import type { CompletionTask } from '../../../src/core/tasks';

/** One token per character: makes budgets easy to reason about. */
const chars = (s: string): number => s.length;
const limits = { prefixTokens: 1000, suffixTokens: 1000, maxTokens: 48 };

/** A document as text with `|` at the cursor. */
function at(doc: string): { text: string; offset: number } {
    return { text: doc.replace('|', ''), offset: doc.indexOf('|') };
}

function build(b: CompletionRequestBuilder, doc: string, l = limits, uri = 'file:///a.ts'): CompletionTask {
    const { text, offset } = at(doc);
    return b.build(uri, text, offset, l).task;
}

/** The prompt's texts in llama.cpp's /infill order: what a model's sequence holds. */
const prompt = (t: CompletionTask): string => `${t.prefix}<S>${t.suffix}<M>${t.middle ?? ''}`;

describe('completion request builder', () => {
    it('builds a fill-in-the-middle task: the text before the cursor split at the cursor line, the text after, stops', () => {
        const b = new CompletionRequestBuilder(chars);
        const t = build(b, 'function f() {\n  return a|b;\n}\n');
        assert.equal(t.kind, 'completion');
        assert.equal(t.doc, 'file:///a.ts');
        assert.equal(t.prefix, 'function f() {\n');
        assert.equal(t.middle, '  return a');
        assert.equal(t.suffix, 'b;\n}\n');
        assert.equal(t.maxTokens, 48);
        assert.deepEqual(t.stop, ['\n'], 'text after the cursor on its line: complete the line only');
        assert.deepEqual(build(b, 'x\n  |\n', limits, 'file:///b.ts').stop, ['\n\n\n'], 'an empty rest of line: a block may follow');
    });

    it('keeps prefix + middle equal to the window before the cursor, within the token budgets', () => {
        const b = new CompletionRequestBuilder(chars);
        const lines = Array.from({ length: 50 }, (_, i) => `line${String(i).padStart(2, '0')}`).join('\n');
        const { text, offset } = at(`${lines}\nab|cd\n${lines}`);
        const { task, window } = b.build('file:///big.ts', text, offset, { prefixTokens: 40, suffixTokens: 20, maxTokens: 8 });
        assert.equal(task.prefix + task.middle, window.prefix);
        assert.ok(window.prefixTokens <= 40 && window.suffixTokens <= 20, `${window.prefixTokens} / ${window.suffixTokens}`);
        assert.ok(text.slice(0, offset).endsWith(window.prefix));
        assert.ok(text.slice(offset).startsWith(task.suffix));
    });

    it('typing, Enter included, only appends to the previous prompt', () => {
        const b = new CompletionRequestBuilder(chars);
        const before = 'a\nb\n  x';
        const after = '\nc\nd\n';
        let typed = '';
        let previous = prompt(build(b, `${before}|${after}`));
        for (const key of ['y', '\n', ' ', ' ', 'z', '\n', 'w']) {
            typed += key;
            const next = prompt(build(b, `${before}${typed}|${after}`));
            assert.ok(next.startsWith(previous), `after typing ${JSON.stringify(typed)}:\n${next}\ndoes not extend\n${previous}`);
            previous = next;
        }
    });

    it('moves the middle to the cursor line after MIDDLE_MAX_LINES new lines, so the middle stays short', () => {
        const b = new CompletionRequestBuilder(chars);
        const head = 'head\n';
        build(b, `${head}|\ntail\n`);
        let body = '';
        for (let i = 0; i < MIDDLE_MAX_LINES; i++) {
            body += `l${i}\n`;
            const t = build(b, `${head}${body}|\ntail\n`);
            const expected = i + 1 < MIDDLE_MAX_LINES ? head : head + body;
            assert.equal(t.prefix, expected, `after ${i + 1} new lines`);
        }
    });

    it('an edit above the middle starts the middle at the cursor line again', () => {
        const b = new CompletionRequestBuilder(chars);
        build(b, 'one\ntwo\n|\n');
        build(b, 'one\ntwo\nx\n|\n');
        const t = build(b, 'ONE\ntwo\nx\n|\n');
        assert.equal(t.prefix, 'ONE\ntwo\nx\n');
        assert.equal(t.middle, '');
    });

    it('keeps anchors per document, and forgets a closed document', () => {
        const b = new CompletionRequestBuilder(chars);
        build(b, 'a\n|', limits, 'file:///one.ts');
        build(b, 'a\nb\n|', limits, 'file:///one.ts');
        const other = build(b, 'a\nb\n|', limits, 'file:///two.ts');
        assert.equal(other.prefix, 'a\nb\n', 'another document has its own anchor');
        assert.equal(build(b, 'a\nb\nc\n|', limits, 'file:///one.ts').prefix, 'a\n', 'the anchor holds');
        b.forget('file:///one.ts');
        assert.equal(build(b, 'a\nb\nc\nd\n|', limits, 'file:///one.ts').prefix, 'a\nb\nc\nd\n', 'a forgotten document starts afresh');
    });

    it('keeps the prefix window start put while the budget allows, so the model reuses the prefix', () => {
        const b = new CompletionRequestBuilder(chars);
        const lines = Array.from({ length: 40 }, (_, i) => `l${String(i).padStart(2, '0')}`).join('\n') + '\n';
        const small = { prefixTokens: 60, suffixTokens: 10, maxTokens: 8 };
        const first = b.build('file:///w.ts', lines + 'x', lines.length + 1, small).window;
        const second = b.build('file:///w.ts', lines + 'xy', lines.length + 2, small).window;
        assert.equal(second.prefixStart, first.prefixStart);
    });
});
