import { strict as assert } from 'node:assert';
import { buildContextWindow, estimateTokens } from '../../../src/core/completion/context';

/** One token per character: makes budgets easy to reason about. */
const chars = (s: string): number => s.length;

describe('completion context window', () => {
    const doc = 'line1\nline2\nline3\nab|cd\nline5\nline6\n';
    const cursor = doc.indexOf('|');
    const text = doc.replace('|', '');

    it('keeps whole lines within the token budgets, cursor line always whole', () => {
        const w = buildContextWindow(text, cursor, { prefixTokens: 14, suffixTokens: 8 }, chars);
        // "ab" (2) + "line3\n" (6) + "line2\n" (6) = 14; "line1\n" would exceed.
        assert.equal(w.prefix, 'line2\nline3\nab');
        assert.equal(w.prefixTokens, 14);
        assert.equal(w.prefixStart, text.indexOf('line2'));
        // "cd" (2) + "\nline5" (6) = 8.
        assert.equal(w.suffix, 'cd\nline5');
        assert.equal(w.linePrefix, 'ab');
        assert.equal(w.lineSuffix, 'cd');
    });

    it('takes the whole document when it fits', () => {
        const w = buildContextWindow(text, cursor, { prefixTokens: 1000, suffixTokens: 1000 }, chars);
        assert.equal(w.prefix + w.suffix, text);
    });

    it('a zero suffix budget sends no suffix', () => {
        const w = buildContextWindow(text, cursor, { prefixTokens: 2, suffixTokens: 0 }, chars);
        assert.equal(w.prefix, 'ab');
        assert.equal(w.suffix, '');
    });

    it('handles the start and end of the document', () => {
        assert.equal(buildContextWindow('abc', 0, { prefixTokens: 10, suffixTokens: 10 }, chars).suffix, 'abc');
        const end = buildContextWindow('x\ny', 3, { prefixTokens: 10, suffixTokens: 10 }, chars);
        assert.equal(end.prefix, 'x\ny');
        assert.equal(end.suffix, '');
    });

    it('measures with the estimator by default: identifiers cost by length, symbols one each', () => {
        assert.equal(estimateTokens('foo'), 1);
        assert.equal(estimateTokens('averyLongIdentifier'), 5);
        assert.equal(estimateTokens('a(b);'), 5);
        assert.equal(estimateTokens('    x\n'), 3);
        const big = Array.from({ length: 500 }, (_, i) => `const v${i} = ${i};`).join('\n');
        const w = buildContextWindow(big, big.length, { prefixTokens: 100, suffixTokens: 10 });
        assert.ok(w.prefixTokens <= 100 && w.prefixTokens > 80, `prefix tokens ${w.prefixTokens}`);
        assert.ok(w.prefix.startsWith('const v'));
    });

    describe('anchored prefix window (prefix reuse across keystrokes)', () => {
        // 40 lines of 10 characters (9 + newline); one token per character.
        const lines = Array.from({ length: 40 }, (_, i) => `l${String(i).padStart(7, '0')};`).join('\n') + '\n';
        const limits = { prefixTokens: 100, suffixTokens: 0 };

        it('keeps the previous start while the text from it to the cursor fits', () => {
            // A window that fits with room to spare (as one that has just moved does).
            const first = buildContextWindow(lines, lines.length, { prefixTokens: 80, suffixTokens: 0 }, chars);
            const typed = lines + 'abc';
            const next = buildContextWindow(typed, typed.length, limits, chars, first.prefixStart);
            assert.equal(next.prefixStart, first.prefixStart);
            assert.ok(next.prefix.startsWith(first.prefix), 'the new prefix extends the old one');
            assert.ok(next.prefixTokens <= limits.prefixTokens);
        });

        it('when the budget is exceeded, moves in one large step that leaves room to type', () => {
            const first = buildContextWindow(lines, lines.length, limits, chars);
            let text = lines;
            let anchor = first.prefixStart;
            const starts = new Set<number>();
            // Type 6 more lines, one character at a time: the start moves only a few times.
            for (let i = 0; i < 60; i++) {
                text += i % 10 === 9 ? '\n' : 'x';
                const w = buildContextWindow(text, text.length, limits, chars, anchor);
                assert.ok(w.prefixTokens <= limits.prefixTokens, `budget kept at step ${i}`);
                anchor = w.prefixStart;
                starts.add(anchor);
            }
            assert.ok(starts.size <= 3, `window start moved ${starts.size} times in 60 keystrokes`);
            const moved = buildContextWindow(text, text.length, limits, chars, first.prefixStart);
            assert.ok(moved.prefixTokens <= limits.prefixTokens * 0.75 + 10, 'a moved window leaves about a quarter of the budget free');
        });

        it('ignores an anchor that is not a line start or lies after the cursor line', () => {
            const plain = buildContextWindow(lines, 55, limits, chars);
            assert.deepEqual(buildContextWindow(lines, 55, limits, chars, 3), plain);
            assert.deepEqual(buildContextWindow(lines, 55, limits, chars, 300), plain);
        });
    });
});

