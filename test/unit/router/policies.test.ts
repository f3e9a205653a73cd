import assert from 'node:assert/strict';
import { chat, completion, makeFixture, submit, words } from './helpers';
import type { PolicyName } from '../../../src/core/tasks';

async function sequence(policy: PolicyName, count: number, waitEach: boolean): Promise<string[]> {
    const f = makeFixture({ settings: { policy } });
    await f.clock.advance(5_000);
    const out = [];
    for (let i = 0; i < count; i++) {
        out.push(submit(f, completion(`doc${i}.ts`, words(30))));
        if (waitEach) await f.clock.runUntilIdle(60_000);
        else await f.clock.advance(1);
    }
    await f.clock.runUntilIdle(600_000);
    await f.router.dispose();
    return out.map((t) => {
        assert.ok(t.outcome?.ok, String(t.outcome));
        return t.outcome.value.modelId;
    });
}

describe('baseline policies: each choice rule', () => {
    it('static: a fixed model per task kind, whatever the load', async () => {
        const f = makeFixture({ settings: { policy: 'static' } });
        await f.clock.advance(5_000);
        const e = submit(f, chat('edit', 10, 50));
        const c = [submit(f, completion('a.ts', words(10))), submit(f, completion('b.ts', words(10)))];
        const x = submit(f, chat('explain', 10, 5));
        const p = submit(f, chat('refactorPlan', 10, 5));
        const q = submit(f, { kind: 'embedQuery', texts: ['q'] });
        await f.clock.runUntilIdle(600_000);
        const model = (t: typeof e): string => (t.outcome?.ok ? t.outcome.value.modelId : 'failed');
        assert.deepEqual([e, ...c, x, p, q].map(model), ['coder', 'coder', 'coder', 'reasoner', 'reasoner', 'embedder']);
        assert.ok(c[0].outcome?.ok);
        assert.equal(c[0].outcome.value.decision.reason, 'static policy: completion always goes to coder');
        await f.router.dispose();
    });

    it('round-robin: the next capable model in turn', async () => {
        assert.deepEqual(await sequence('round-robin', 6, true), ['coder', 'reasoner', 'embedder', 'coder', 'reasoner', 'embedder']);
    });

    it('round-robin skips models that cannot serve the kind', async () => {
        const f = makeFixture({ settings: { policy: 'round-robin' }, profiles: { reasoner: { fim: undefined } } });
        await f.clock.advance(5_000);
        const out = [];
        for (let i = 0; i < 4; i++) {
            out.push(submit(f, completion(`d${i}`, words(10))));
            await f.clock.runUntilIdle(60_000);
        }
        assert.deepEqual(
            out.map((t) => (t.outcome?.ok ? t.outcome.value.modelId : '')),
            ['coder', 'embedder', 'coder', 'embedder'],
        );
        await f.router.dispose();
    });

    it('least-busy: fewest running + waiting, ties to the kind’s own model', async () => {
        assert.deepEqual(await sequence('least-busy', 4, false), ['coder', 'reasoner', 'embedder', 'coder']);
    });

    it('lowest-latency: lowest mean of the last 10 latencies; untried models first', async () => {
        assert.deepEqual(await sequence('lowest-latency', 5, true), ['coder', 'reasoner', 'embedder', 'embedder', 'embedder']);
    });

    it('lowest-latency reason names the averages', async () => {
        const f = makeFixture({ settings: { policy: 'lowest-latency' } });
        await f.clock.advance(5_000);
        for (let i = 0; i < 3; i++) {
            void submit(f, completion(`d${i}`, words(10))).promise;
            await f.clock.runUntilIdle(60_000);
        }
        const t = submit(f, completion('x', words(10)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(t.outcome?.ok);
        assert.match(t.outcome.value.decision.reason, /^lowest latency: embedder averages \d+ ms over its last 10 tasks \(coder \d+ ms, reasoner \d+ ms\)$/);
        await f.router.dispose();
    });

    it('baselines are FIFO and never hold, pause or drop', async () => {
        for (const policy of ['static', 'round-robin', 'least-busy', 'lowest-latency'] as const) {
            const f = makeFixture({ settings: { policy } });
            await f.clock.advance(5_000);
            for (let i = 0; i < 20; i++) {
                f.router.activity({ type: 'keystroke', doc: 'a.ts' });
                await f.clock.advance(100);
            }
            const x = submit(f, chat('explain', 10, 40));
            await f.clock.advance(300);
            f.router.activity({ type: 'keystroke', doc: 'a.ts' });
            const c = submit(f, completion('a.ts', words(300)));
            await f.clock.advance(1);
            const snap = f.router.snapshot();
            assert.equal(snap.models.reduce((s, m) => s + m.paused, 0), 0, policy);
            await f.clock.runUntilIdle(600_000);
            assert.ok(x.outcome?.ok && c.outcome?.ok, policy);
            assert.doesNotMatch(c.outcome.value.decision.reason, /held/);
            await f.router.dispose();
        }
    });
});
