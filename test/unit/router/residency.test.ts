import assert from 'node:assert/strict';
import { chat, completion, makeFixture, pending, submit, words } from './helpers';
import type { Fixture } from './helpers';

const GB = 1e9;

/** Tracks the largest resident memory seen at any change. */
function watchMemory(f: Fixture): { max: number } {
    const seen = { max: 0 };
    f.router.onDidChange(() => {
        const used = f.router.snapshot().models.reduce((s, m) => s + m.memoryBytes, 0);
        seen.max = Math.max(seen.max, used);
    });
    return seen;
}

describe('router: residency under a memory budget', () => {
    it('loads everything that fits at start; the coder first', async () => {
        const f = makeFixture();
        await f.clock.advance(5_000);
        const snap = f.router.snapshot();
        assert.deepEqual(
            snap.models.map((m) => m.residency),
            ['loaded', 'loaded', 'loaded'],
        );
        const loads = f.created.map((c) => ({ id: c.id, at: c.backend.calls.find((x) => x.op === 'load')?.at ?? -1 }));
        assert.equal(loads.sort((a, b) => a.at - b.at)[0].id, 'coder');
        // One load at a time: each starts after the previous ended.
        const spans = f.created.map((c) => c.backend.calls.find((x) => x.op === 'load')!).sort((a, b) => a.at - b.at);
        for (let i = 1; i < spans.length; i++) assert.ok(spans[i].at >= spans[i - 1].endAt!);
        await f.router.dispose();
    });

    it('keeps the coder resident, loads others on demand by evicting idle ones, and never exceeds the budget', async () => {
        // coder 4 GB + embedder 2 GB fit; the 8 GB reasoner needs the embedder out.
        const f = makeFixture({ settings: { memoryBudgetBytes: 12.5 * GB, keepAliveMs: 60_000, levers: { spill: false, holdSupersedable: false } } });
        const mem = watchMemory(f);
        await f.clock.advance(5_000);
        let snap = f.router.snapshot();
        assert.deepEqual(
            snap.models.map((m) => [m.id, m.residency]),
            [
                ['coder', 'loaded'],
                ['reasoner', 'loaded'],
                ['embedder', 'unloaded'],
            ],
        );
        // An embedding needs the embedder: the idle reasoner is evicted, never the coder.
        const q = submit(f, { kind: 'embedQuery', texts: ['hello'] });
        await f.clock.advance(1);
        const pred = f.router.snapshot().recentDecisions[0].candidates.find((c) => c.modelId === 'embedder')!;
        assert.ok(pred.waitMs > 0, 'load time counts in the estimate');
        await f.clock.runUntil(f.clock.now() + 2_000);
        assert.ok(q.outcome?.ok);
        snap = f.router.snapshot();
        assert.equal(snap.models.find((m) => m.id === 'coder')!.residency, 'loaded');
        assert.equal(snap.models.find((m) => m.id === 'reasoner')!.residency, 'unloaded');
        assert.equal(snap.models.find((m) => m.id === 'embedder')!.residency, 'loaded');
        // An explanation brings the reasoner back (spill is off, so it must go there).
        const e = submit(f, chat('explain', 20, 10));
        await f.clock.runUntil(f.clock.now() + 5_000);
        assert.ok(e.outcome?.ok);
        assert.equal(e.outcome.value.modelId, 'reasoner');
        assert.ok(mem.max <= 12.5 * GB, `resident memory peaked at ${mem.max}`);
        assert.ok(f.log.info.some((l) => /unloaded \(memory: making room for/.test(l)));
        await f.router.dispose();
    });

    it('a busy model is never evicted: the load waits until it is idle', async () => {
        const f = makeFixture({ settings: { memoryBudgetBytes: 12.5 * GB, levers: { spill: false, holdSupersedable: false } } });
        await f.clock.advance(5_000);
        const long = submit(f, chat('explain', 20, 100)); // ~4 s on the reasoner
        await f.clock.advance(100);
        const q = submit(f, { kind: 'embedQuery', texts: ['hello'] });
        await f.clock.advance(1_000);
        assert.equal(pending(q), true);
        assert.equal(f.router.snapshot().models.find((m) => m.id === 'reasoner')!.residency, 'loaded');
        await f.clock.runUntilIdle(600_000);
        assert.ok(long.outcome?.ok && q.outcome?.ok);
        assert.ok(q.outcome.at > long.outcome.at);
        await f.router.dispose();
    });

    it('an idle model is unloaded after the keep-alive when memory is short; never when it is not', async () => {
        const short = makeFixture({ settings: { memoryBudgetBytes: 12.5 * GB, keepAliveMs: 30_000, policy: 'static' } });
        await short.clock.advance(5_000);
        const e = submit(short, chat('explain', 10, 5));
        await short.clock.advance(2_000);
        assert.ok(e.outcome?.ok);
        await short.clock.runUntil(e.outcome.at + 29_000);
        assert.equal(short.router.snapshot().models.find((m) => m.id === 'reasoner')!.residency, 'loaded');
        await short.clock.runUntil(e.outcome.at + 30_001);
        assert.equal(short.router.snapshot().models.find((m) => m.id === 'reasoner')!.residency, 'unloaded');
        assert.equal(short.router.snapshot().models.find((m) => m.id === 'coder')!.residency, 'loaded');
        await short.router.dispose();

        const ample = makeFixture({ settings: { keepAliveMs: 30_000 } });
        await ample.clock.advance(5_000);
        const e2 = submit(ample, chat('explain', 10, 5));
        await ample.clock.runUntilIdle(600_000);
        assert.ok(e2.outcome?.ok);
        assert.ok(ample.router.snapshot().models.every((m) => m.residency === 'loaded'));
        await ample.router.dispose();
    });

    it('a model that fails to load is marked failed and its work goes elsewhere', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        // The reasoner's load will fail.
        const reasoner = f.backends.get('reasoner')!;
        reasoner.failNext(1, new Error('out of memory'), ['load']);
        await f.clock.advance(5_000);
        const snap = f.router.snapshot().models.find((m) => m.id === 'reasoner')!;
        assert.equal(snap.residency, 'failed');
        assert.equal(snap.error, 'out of memory');
        const e = submit(f, chat('explain', 10, 5));
        await f.clock.runUntilIdle(60_000);
        assert.ok(e.outcome?.ok);
        assert.equal(e.outcome.value.modelId, 'coder');
        assert.match(e.outcome.value.decision.candidates.find((c) => c.modelId === 'reasoner')!.excluded!, /failed: out of memory/);
        const c = submit(f, completion('a.ts', words(10)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok);
        await f.router.dispose();
    });
});
