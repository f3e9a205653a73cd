import { strict as assert } from 'node:assert';
import { DEFAULT_CHARS_PER_TOKEN, RECENT_TEXTS, TokenEstimate } from '../../../src/backends/remote/tokenEstimate';

describe('TokenEstimate', () => {
    it('estimates from the prior until it learns, 0 for an empty text and at least 1 otherwise', () => {
        const e = new TokenEstimate();
        assert.equal(e.count(''), 0);
        assert.equal(e.count('a'), 1);
        assert.equal(e.count('x'.repeat(400)), 400 / DEFAULT_CHARS_PER_TOKEN);
    });

    it('is exact for a learned text, and the first long sample replaces the prior ratio', () => {
        const e = new TokenEstimate();
        const text = 'function add(a, b) { return a + b; }'.repeat(4);
        e.learnExact(text, 48);
        assert.equal(e.count(text), 48);
        assert.equal(e.charsPerToken, text.length / 48);
        assert.equal(e.count('y'.repeat(300)), Math.round(300 / (text.length / 48)));
    });

    it('moves the ratio towards later samples, more for longer ones; short samples do not move it', () => {
        const e = new TokenEstimate();
        e.learnRatio(1000, 500); // 2 chars per token
        e.learnRatio(10, 1); // too short
        assert.equal(e.charsPerToken, 2);
        e.learnRatio(100, 10); // 10 chars per token, weight 0.025
        const small = e.charsPerToken;
        assert.ok(small > 2 && small < 2.5, `${small}`);
        e.learnRatio(4000, 400); // 10 chars per token, weight 0.5
        assert.ok(e.charsPerToken > small + 3, `${e.charsPerToken}`);
        assert.equal(e.learned, 3);
    });

    it('keeps the most recent exact counts only', () => {
        const e = new TokenEstimate(1);
        const first = 'first text';
        e.learnExact(first, 3);
        for (let i = 0; i < RECENT_TEXTS; i++) e.learnExact(`text ${i}`, 2);
        assert.notEqual(e.count(first), 3, 'dropped after RECENT_TEXTS newer ones');
        assert.equal(e.count(`text ${RECENT_TEXTS - 1}`), 2);
    });
});
