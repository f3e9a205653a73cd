import assert from 'node:assert/strict';
import { makeFixture, ready, submit, completion, chat, texts, words } from './helpers';

describe('router: basics', () => {
    it('serves each kind on its natural model when idle', async () => {
        const f = makeFixture();
        await ready(f);
        const c = submit(f, completion('a.ts', words(50)));
        const e = submit(f, chat('explain', 40, 20));
        const q = submit(f, { kind: 'embedQuery', texts: ['hello'] });
        await f.clock.runUntilIdle(60_000);
        for (const [t, model] of [[c, 'coder'], [e, 'reasoner'], [q, 'embedder']] as const) {
            assert.ok(t.outcome?.ok, JSON.stringify(t.outcome));
            if (t.outcome.ok) assert.equal(t.outcome.value.modelId, model, t.outcome.value.decision.reason);
        }
        const idx = submit(f, { kind: 'embed', texts: texts(20) });
        await f.clock.runUntilIdle(60_000);
        assert.ok(idx.outcome?.ok);
        if (idx.outcome.ok) assert.equal(idx.outcome.value.vectors?.length, 20);
        await f.router.dispose();
    });
});
