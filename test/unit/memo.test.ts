import { strict as assert } from 'node:assert';
import { RecentMemo } from '../../src/core/memo';

describe('RecentMemo', () => {
    it('computes a key once while it is kept, and returns the same value', () => {
        const calls: string[] = [];
        const memo = new RecentMemo<string, number[]>(2);
        const f = (k: string): number[] => {
            calls.push(k);
            return [k.length];
        };
        const first = memo.get('abc', f);
        assert.deepEqual(first, [3]);
        assert.equal(memo.get('abc', f), first);
        assert.deepEqual(calls, ['abc']);
    });

    it('evicts the least recently used key beyond its capacity', () => {
        const calls: string[] = [];
        const memo = new RecentMemo<string, string>(2);
        const f = (k: string): string => {
            calls.push(k);
            return k.toUpperCase();
        };
        memo.get('a', f);
        memo.get('b', f);
        memo.get('a', f); // a is now the most recently used
        memo.get('c', f); // evicts b
        assert.equal(memo.size, 2);
        memo.get('a', f);
        memo.get('b', f); // computed again, evicts c
        memo.get('c', f);
        assert.deepEqual(calls, ['a', 'b', 'c', 'b', 'c']);
    });

    it('keeps nothing after clear, and refuses a capacity below 1', () => {
        const memo = new RecentMemo<string, number>(1);
        let n = 0;
        memo.get('x', () => ++n);
        memo.clear();
        assert.equal(memo.get('x', () => ++n), 2);
        assert.throws(() => new RecentMemo(0), RangeError);
    });
});
