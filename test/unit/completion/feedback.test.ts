import { strict as assert } from 'node:assert';
import { CompletionFeedback } from '../../../src/core/completion/feedback';
import type { Feedback } from '../../../src/core/tasks';

describe('completion feedback', () => {
    it('reports shown, then accepted or dismissed exactly once', () => {
        const got: Feedback[] = [];
        const f = new CompletionFeedback((x) => got.push(x));
        const a = f.shown('coder');
        f.accepted(a);
        f.accepted(a); // twice: ignored
        const b = f.shown('reasoner');
        f.nextRequest();
        f.nextRequest();
        const c = f.shown('coder');
        f.dismiss();
        f.accepted(c); // too late
        assert.deepEqual(got.map((x) => `${x.modelId}:${x.event}`), [
            'coder:shown', 'coder:accepted', 'reasoner:shown', 'reasoner:dismissed', 'coder:shown', 'coder:dismissed',
        ]);
        assert.ok(b > a && c > b);
        assert.ok(got.every((x) => x.kind === 'completion'));
    });

    it('showing a new completion dismisses the previous one', () => {
        const got: string[] = [];
        const f = new CompletionFeedback((x) => got.push(x.event));
        f.shown('coder');
        f.shown('coder');
        assert.deepEqual(got, ['shown', 'dismissed', 'shown']);
        assert.equal(f.pending?.modelId, 'coder');
    });
});
