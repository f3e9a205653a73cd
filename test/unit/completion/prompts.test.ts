import { strict as assert } from 'node:assert';
import { editMessages, explainMessages, extractEditedCode, refactorPlanMessages } from '../../../src/vscode/prompts';

describe('chat prompts and edit answers', () => {
    it('fences the selection with its language and names the file', () => {
        const m = explainMessages('let a = 1;', 'typescript', 'a.ts');
        assert.equal(m[0].role, 'system');
        assert.match(m[1].content, /a\.ts:\n\n```typescript\nlet a = 1;\n```$/);
        // A selection holding ``` gets a different fence, so it cannot close ours early.
        assert.match(explainMessages('x = """```"""', 'python', 'b.py')[1].content, /~~~~python\n/);
    });

    it('sends a long selection whole (a selection too large for the context is refused before, never cut)', () => {
        const m = refactorPlanMessages('x'.repeat(20_000), 'js', 'big.js', 'split it');
        assert.match(m[1].content, /The goal: split it\./);
        assert.ok(m[1].content.includes('x'.repeat(20_000)));
    });

    it('edit prompt carries the instruction', () => {
        assert.match(editMessages('a', 'go', ' rename it ')[1].content, /^Instruction: rename it\n/);
    });

    it('extracts the first fenced block, keeping the original trailing newline', () => {
        assert.equal(extractEditedCode('Here:\n```ts\nconst b = 2;\n```\nDone.', 'const a = 1;\n'), 'const b = 2;\n');
        assert.equal(extractEditedCode('```\nx()\n', 'y()'), 'x()', 'unclosed fence takes the rest');
        assert.equal(extractEditedCode('  plain()  \n\n', 'old()\n'), '  plain()\n', 'no fence: the whole answer');
        assert.equal(extractEditedCode('~~~py\nprint(1)\n~~~', 'print(0)'), 'print(1)');
    });
});
