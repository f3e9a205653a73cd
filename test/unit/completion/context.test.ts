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
});
