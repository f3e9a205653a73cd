import { strict as assert } from 'node:assert';
import { completionStops, dropSuffixOverlap, postProcessCompletion } from '../../../src/core/completion/postprocess';

const ctx = (linePrefix: string, lineSuffix = '', suffixAfterLine = '') => ({ linePrefix, lineSuffix, suffixAfterLine });

describe('completion post-processing', () => {
    it('mid-line: one line, without what the rest of the line already has', () => {
        assert.equal(postProcessCompletion('a, b)\nmore();', ctx('  foo(', ')')), 'a, b');
        assert.equal(postProcessCompletion('value];', ctx('x = [', '];')), 'value');
    });

    it('end of a line that opens a block: the body and its closer, nothing after', () => {
        const raw = '\n    return a + b;\n}\nfunction next() {}';
        assert.equal(postProcessCompletion(raw, ctx('function add(a, b) {')), '\n    return a + b;\n}');
    });

    it('end of an ordinary line: stops before a sibling statement', () => {
        assert.equal(postProcessCompletion('1;\nconst y = 2;', ctx('const x = ')), '1;');
    });

    it('at the start of an empty line: several statements of the block, up to a dedent or blank line', () => {
        const raw = 'const a = 1;\n    const b = 2;\n\n    const c = 3;';
        assert.equal(postProcessCompletion(raw, ctx('    ')), 'const a = 1;\n    const b = 2;');
        assert.equal(postProcessCompletion('x();\n  y();\n}', ctx('    ')), 'x();');
    });

    it('drops a line the suffix already has', () => {
        const raw = '\n    return 1;\n}\n';
        assert.equal(postProcessCompletion(raw, ctx('function f() {', '', '\n}\n')), '\n    return 1;');
    });

    it('strips control tokens, trailing whitespace and blank lines; empty when nothing is left', () => {
        assert.equal(postProcessCompletion('x + 1;   <|endoftext|>garbage', ctx('return ')), 'x + 1;');
        assert.equal(postProcessCompletion('done<|fim_pad|>', ctx('a')), 'done');
        assert.equal(postProcessCompletion('ok </s>', ctx('a')), 'ok');
        assert.equal(postProcessCompletion('   \n\n', ctx('a')), '');
        assert.equal(postProcessCompletion('<EOT>', ctx('a')), '');
        assert.equal(postProcessCompletion('a\r\nb', ctx('')), 'a\nb');
        assert.equal(postProcessCompletion('x\u0000y\u000b\ufffdz\tw', ctx('a')), 'xyz\tw');
    });

    it('caps the number of lines', () => {
        const raw = Array.from({ length: 30 }, (_, i) => `s${i}();`).join('\n');
        assert.equal(postProcessCompletion(raw, { ...ctx(''), maxLines: 3 }).split('\n').length, 3);
    });

    it('dropSuffixOverlap cuts the longest overlap or the whole suffix', () => {
        assert.equal(dropSuffixOverlap('foo(a))', ')'), 'foo(a)');
        assert.equal(dropSuffixOverlap('name: x }', ' }'), 'name: x');
        assert.equal(dropSuffixOverlap('abc', ''), 'abc');
        assert.equal(dropSuffixOverlap('x) + y', ') + y'), 'x');
    });

    it('stops at the end of the line mid-line', () => {
        assert.deepEqual(completionStops(')'), ['\n']);
        assert.deepEqual(completionStops('  '), ['\n\n\n']);
    });
});
