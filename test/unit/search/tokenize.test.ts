import { strict as assert } from 'node:assert';
import { pathTokens, tokenize, MAX_WORD_CHARS } from '../../../src/core/search/index/tokenize';
import { createRng } from '../../../bench/lib/rng';

describe('search: the code-aware tokenizer', () => {
    it('splits camelCase and PascalCase, keeps the whole identifier, lower-cases', () => {
        assert.deepEqual(tokenize('getUserById'), ['get', 'user', 'id', 'getuserbyid']);
        assert.deepEqual(tokenize('SearchIndex'), ['search', 'index', 'searchindex']);
    });

    it('ends an acronym before its last capital', () => {
        assert.deepEqual(tokenize('HTTPServer parseJSON IOError'), ['http', 'server', 'httpserver', 'parse', 'json', 'parsejson', 'io', 'error', 'ioerror']);
    });

    it('splits snake_case, SCREAMING_CASE and kebab-case', () => {
        assert.deepEqual(tokenize('parse_config'), ['parse', 'config', 'parse_config']);
        assert.deepEqual(tokenize('MAX_WORD_CHARS'), ['max', 'word', 'chars', 'max_word_chars']);
        assert.deepEqual(tokenize('search-view'), ['search', 'view', 'search-view']);
    });

    it('splits digits off and drops one-character parts', () => {
        assert.deepEqual(tokenize('utf8Decode'), ['utf', 'decode', 'utf8decode']);
        assert.deepEqual(tokenize('x = 404'), ['404']);
    });

    it('drops stop words, alone or as a part, and keeps them inside a whole identifier', () => {
        assert.deepEqual(tokenize('return the value of this'), ['value']);
        assert.deepEqual(tokenize('isReady'), ['ready', 'isready']);
    });

    it('counts repeats (term frequency) and ignores punctuation', () => {
        assert.deepEqual(tokenize('foo(foo, bar); // foo!'), ['foo', 'foo', 'bar', 'foo']);
    });

    it('gives nothing for a word too long to be a name (hashes, base64)', () => {
        assert.deepEqual(tokenize(`id ${'a'.repeat(MAX_WORD_CHARS + 1)} ok`), ['id', 'ok']);
    });

    it('reads letters of any script', () => {
        assert.deepEqual(tokenize('größeBerechnen 计算'), ['größe', 'berechnen', 'größeberechnen', '计算']);
    });

    it('tokenizes a path by its segments and extension', () => {
        assert.deepEqual(pathTokens('src/core/searchIndex.ts'), ['src', 'core', 'search', 'index', 'searchindex', 'ts']);
        assert.deepEqual(pathTokens('lib\\my_module.py'), ['lib', 'my', 'module', 'my_module', 'py']);
    });

    it('the hand-written ASCII scanner gives what the Unicode expressions give', () => {
        // Text with one non-ASCII word goes through the expressions; the same text without it, the scanner.
        const rng = createRng(7);
        const alphabet = 'aAbBzZ09_$-. (){}\n';
        for (let i = 0; i < 5000; i++) {
            const text = Array.from({ length: rng.int(1, 40) }, () => alphabet[rng.int(0, alphabet.length - 1)]).join('');
            assert.deepEqual(tokenize(text), tokenize(`${text} é`), JSON.stringify(text));
        }
    });
});
