import { strict as assert } from 'node:assert';
import { CompletionCache } from '../../../src/core/completion/cache';

describe('completion cache', () => {
    it('reuses a completion while the user types along it', () => {
        const c = new CompletionCache();
        c.put('a.ts', 'const x = ', ';', 'foo(1, 2)', 'coder');
        assert.deepEqual(c.get('a.ts', 'const x = ', ';'), { text: 'foo(1, 2)', modelId: 'coder', typed: 0 });
        assert.deepEqual(c.get('a.ts', 'const x = fo', ';'), { text: 'o(1, 2)', modelId: 'coder', typed: 2 });
        assert.deepEqual(c.get('a.ts', 'const x = foo(1, ', ';'), { text: '2)', modelId: 'coder', typed: 7 });
    });

    it('misses when the typing diverges, the completion is used up, or the context differs', () => {
        const c = new CompletionCache();
        c.put('a.ts', 'const x = ', ';', 'foo', 'coder');
        assert.equal(c.get('a.ts', 'const x = fx', ';'), undefined);
        assert.equal(c.get('a.ts', 'const x = foo', ';'), undefined, 'fully typed: nothing left to show');
        assert.equal(c.get('b.ts', 'const x = ', ';'), undefined);
        assert.equal(c.get('a.ts', 'const x = ', ''), undefined, 'line suffix changed');
        assert.equal(c.get('a.ts', 'let x = ', ';'), undefined, 'text before differs');
        assert.equal(c.get('a.ts', 'const x', ';'), undefined, 'deleted back past the start');
    });

    it('compares a bounded tail so long documents stay cheap, and still catches edits near the cursor', () => {
        const c = new CompletionCache();
        const long = 'x'.repeat(100_000) + '\nfunction f() {\n  return ';
        c.put('a.ts', long, '', 'a + b;', 'coder');
        assert.equal(c.get('a.ts', long + 'a', '')?.text, ' + b;');
        const edited = long.slice(0, -3) + 'XX ';
        assert.equal(c.get('a.ts', edited + 'a', ''), undefined);
    });

    it('is bounded (least recently used evicted) and can forget a document', () => {
        const c = new CompletionCache(2);
        c.put('a', 'p1', '', 'one', 'm');
        c.put('a', 'p2', '', 'two', 'm');
        assert.equal(c.get('a', 'p1', '')?.text, 'one'); // p1 now most recent
        c.put('a', 'p3', '', 'three', 'm');
        assert.equal(c.size, 2);
        assert.equal(c.get('a', 'p2', ''), undefined);
        assert.equal(c.get('a', 'p1', '')?.text, 'one');
        c.forget('a');
        assert.equal(c.size, 0);
        c.put('a', 'p', '', '', 'm');
        assert.equal(c.size, 0, 'empty completions are not cached');
    });
});
