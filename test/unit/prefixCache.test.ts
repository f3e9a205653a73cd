import { strict as assert } from 'node:assert';
import { KeyedPrefixCache } from '../../src/core/prefixCache';

const toks = (s: string): string[] => s.split(' ');

describe('KeyedPrefixCache', () => {
    it('reuses the common prefix of the kept prompt, never the whole prompt', () => {
        const cache = new KeyedPrefixCache(() => 2);
        cache.keep('a', toks('x y z'));
        assert.equal(cache.reusable('a', toks('x y w v')), 2);
        assert.equal(cache.reusable('a', toks('x y z')), 2, 'one token is always evaluated');
        assert.equal(cache.reusable('a', toks('q')), 0);
        assert.equal(cache.reusable('b', toks('x y z')), 0);
        assert.equal(cache.reusable(undefined, toks('x y z')), 0);
        assert.equal(cache.reusable('a', []), 0);
    });

    it('keeps at most capacity keys, evicting the least recently kept', () => {
        let capacity = 2;
        const cache = new KeyedPrefixCache(() => capacity);
        cache.keep('a', toks('1 2'));
        cache.keep('b', toks('1 2'));
        cache.keep('a', toks('1 2 3'));
        cache.keep('c', toks('1 2'));
        assert.equal(cache.reusable('b', toks('1 2 3')), 0, 'b was the least recently kept');
        assert.equal(cache.reusable('a', toks('1 2 3 4')), 3);
        capacity = 1;
        cache.keep('d', toks('1'));
        assert.equal(cache.reusable('a', toks('1 2 3 4')), 0);
        assert.equal(cache.reusable('c', toks('1 2 3')), 0);
    });

    it('drop and clear forget kept prompts', () => {
        const cache = new KeyedPrefixCache(() => 4);
        cache.keep('a', toks('1 2 3'));
        cache.keep('b', toks('1 2 3'));
        cache.drop('a');
        assert.equal(cache.reusable('a', toks('1 2 3 4')), 0);
        assert.equal(cache.reusable('b', toks('1 2 3 4')), 3);
        cache.clear();
        assert.equal(cache.reusable('b', toks('1 2 3 4')), 0);
    });

    it('a call without a key takes a sequence too: with every slot keyed it evicts the least recently kept key', () => {
        let capacity = 1;
        const cache = new KeyedPrefixCache(() => capacity);
        cache.keep('doc', toks('p 1 2 3'));
        cache.keep(undefined, toks('chat a b'));
        assert.equal(cache.reusable('doc', toks('p 1 2 3 4')), 0, 'the chat took the only sequence');
        assert.equal(cache.reusable(undefined, toks('chat a c')), 2, 'a later chat reuses what the chat left');
        capacity = 2;
        cache.keep('doc', toks('p 1 2 3'));
        cache.keep(undefined, toks('chat a b'));
        assert.equal(cache.reusable('doc', toks('p 1 2 3 4')), 4, 'with a second slot the document stays');
        cache.keep(undefined, toks('chat a b c'));
        assert.equal(cache.reusable('doc', toks('p 1 2 3 4')), 4, 'a chat takes the keyless sequence sharing the longest prefix');
        assert.equal(cache.held('doc'), 4);
    });

    it('a call with a key takes a keyless sequence before it evicts another key', () => {
        const cache = new KeyedPrefixCache(() => 2);
        cache.keep('a', toks('1 2'));
        cache.keep(undefined, toks('chat'));
        cache.keep('b', toks('3 4'));
        assert.equal(cache.reusable('a', toks('1 2 5')), 2, 'a stays: b took the chat\'s sequence');
        assert.equal(cache.reusable('b', toks('3 4 5')), 2);
        assert.equal(cache.reusable(undefined, toks('chat x')), 0);
    });
});
