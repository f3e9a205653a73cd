/**
 * A change of the memory budget never reloads a model; a smaller budget evicts per residency
 * policy (idle models at once, least recently used first; a busy one as soon as it is idle; never
 * the coder). Counted on the fake backend: backends created and load calls.
 * Profiles (helpers.ts): coder 4 GB, reasoner 8 GB, embedder 2 GB.
 */
import assert from 'node:assert/strict';
import type { ModelSpec } from '../../../src/core/backend';
import { chat, completion, makeFixture, makeSettings, spec, submit, type Fixture } from './helpers';

const GB = 1e9;

function loads(f: Fixture): number {
    return f.created.reduce((n, c) => n + c.backend.calls.filter((x) => x.op === 'load').length, 0);
}

function residency(f: Fixture): Record<string, string> {
    return Object.fromEntries(f.router.snapshot().models.map((m) => [m.id, m.residency]));
}

const trio = (over: Partial<ModelSpec> = {}): ModelSpec[] => [spec('coder', over), spec('reasoner', over), spec('embedder', over)];

describe('router: memory budget changes', () => {
    it('a budget that still fits (raised, lowered, set, removed) reloads nothing', async () => {
        const f = makeFixture();
        await f.clock.advance(5_000);
        assert.deepEqual(residency(f), { coder: 'loaded', reasoner: 'loaded', embedder: 'loaded' });
        const backends = f.created.length;
        const loaded = loads(f);
        assert.equal(backends, 3);
        assert.equal(loaded, 3);
        // The router's budget and the specs' budget (the validator's, set by zeta.memoryBudgetMB) both change.
        for (const budget of [20 * GB, 14.5 * GB, 64 * GB, undefined]) {
            await f.router.reconfigure(trio(budget === undefined ? {} : { memoryBudgetBytes: budget }), makeSettings({ memoryBudgetBytes: budget }));
            await f.clock.advance(5_000);
            assert.deepEqual(residency(f), { coder: 'loaded', reasoner: 'loaded', embedder: 'loaded' }, `budget ${budget}`);
        }
        assert.equal(f.created.length, backends, 'no backend was replaced');
        assert.equal(loads(f), loaded, 'no model was loaded again');
        await f.router.dispose();
    });

    it('a model added by a reconfiguration ahead of another of its role becomes that role\'s preferred model', async () => {
        const f = makeFixture({ settings: { policy: 'static' } });
        await f.clock.advance(5_000);
        await f.router.reconfigure([spec('coder', { id: 'team' }), spec('coder'), spec('reasoner'), spec('embedder')], f.settings);
        await f.clock.advance(5_000);
        assert.deepEqual(
            f.router.snapshot().models.map((m) => m.id),
            ['team', 'coder', 'reasoner', 'embedder'],
        );
        const served = submit(f, completion('file:///a.ts', 'const a = '));
        await f.clock.advance(5_000);
        const outcome = await served.promise;
        assert.equal(outcome.ok && outcome.value.modelId, 'team');
        await f.router.dispose();
    });

    it('a path, context size or slots change reloads that model only', async () => {
        const f = makeFixture();
        await f.clock.advance(5_000);
        await f.router.reconfigure([spec('coder', { path: '/models/coder-v2.gguf' }), spec('reasoner', { contextSize: 8192 }), spec('embedder')], f.settings);
        await f.clock.advance(5_000);
        assert.deepEqual(
            f.created.map((c) => c.id),
            ['coder', 'reasoner', 'embedder', 'coder', 'reasoner'],
        );
        assert.equal(loads(f), 5);
        await f.router.reconfigure([spec('coder', { path: '/models/coder-v2.gguf' }), spec('reasoner', { contextSize: 8192 }), spec('embedder', { slots: 2 })], f.settings);
        await f.clock.advance(5_000);
        assert.equal(f.created.at(-1)?.id, 'embedder');
        assert.equal(loads(f), 6);
        assert.deepEqual(residency(f), { coder: 'loaded', reasoner: 'loaded', embedder: 'loaded' });
        await f.router.dispose();
    });

    it('a smaller budget evicts the least recently used idle model at once, without reloading any', async () => {
        const f = makeFixture({ settings: { levers: { spill: false, holdSupersedable: false } } });
        await f.clock.advance(5_000);
        // The embedder is used last, so the reasoner is the least recently used.
        const q = submit(f, { kind: 'embedQuery', texts: ['hello'] });
        await f.clock.runUntilIdle(60_000);
        assert.ok(q.outcome?.ok);
        const loaded = loads(f);
        // 14 GB resident; 12.5 GB leaves room for coder + embedder (6 GB) or coder + reasoner (12 GB).
        await f.router.reconfigure(trio({ memoryBudgetBytes: 12.5 * GB }), makeSettings({ memoryBudgetBytes: 12.5 * GB, levers: { spill: false, holdSupersedable: false } }));
        assert.deepEqual(residency(f), { coder: 'loaded', reasoner: 'unloaded', embedder: 'loaded' });
        assert.ok(f.log.info.some((l) => /model reasoner unloaded \(the memory budget is now 12500000000 bytes\)/.test(l)), f.log.info.join('\n'));
        assert.equal(f.created.length, 3);
        assert.equal(loads(f), loaded);
        // The reasoner comes back on demand, as under any budget, by evicting the idle embedder.
        const e = submit(f, chat('explain', 10, 5));
        await f.clock.runUntil(f.clock.now() + 10_000);
        assert.ok(e.outcome?.ok);
        assert.equal(e.outcome.value.modelId, 'reasoner');
        assert.deepEqual(residency(f), { coder: 'loaded', reasoner: 'loaded', embedder: 'unloaded' });
        await f.router.dispose();
    });

    it('a busy model over a smaller budget finishes its work, then is unloaded; the coder always stays', async () => {
        const settings = { levers: { spill: false, holdSupersedable: false }, keepAliveMs: 300_000 };
        const f = makeFixture({ settings });
        await f.clock.advance(5_000);
        const long = submit(f, chat('explain', 20, 100)); // ~4 s on the reasoner
        await f.clock.advance(200);
        // 3 GB: only the coder (4 GB, pinned) would be left, and even it does not fit.
        await f.router.reconfigure(trio({ memoryBudgetBytes: 3 * GB }), makeSettings({ ...settings, memoryBudgetBytes: 3 * GB }));
        assert.deepEqual(residency(f), { coder: 'loaded', reasoner: 'loaded', embedder: 'unloaded' });
        await f.clock.runUntilIdle(600_000);
        assert.ok(long.outcome?.ok);
        assert.equal(long.outcome.value.modelId, 'reasoner');
        // Unloaded when its work ended, not after the 300 s keep-alive.
        const unloadedAt = f.log.info.findIndex((l) => /model reasoner unloaded \(the memory budget/.test(l));
        assert.ok(unloadedAt >= 0, f.log.info.join('\n'));
        assert.deepEqual(residency(f), { coder: 'loaded', reasoner: 'unloaded', embedder: 'unloaded' });
        assert.ok(f.log.warn.some((l) => /over the memory budget .*the completion model stays loaded/.test(l)), f.log.warn.join('\n'));
        assert.equal(loads(f), 3);
        await f.router.dispose();
    });

    it('a model that had failed is tried again under a new budget', async () => {
        const f = makeFixture();
        f.backends.get('reasoner')!.failNext(1, new Error('needs more memory than the budget'), ['load']);
        await f.clock.advance(5_000);
        assert.equal(residency(f).reasoner, 'failed');
        await f.router.reconfigure(trio({ memoryBudgetBytes: 32 * GB }), makeSettings({ memoryBudgetBytes: 32 * GB }));
        await f.clock.advance(5_000);
        assert.deepEqual(residency(f), { coder: 'loaded', reasoner: 'loaded', embedder: 'loaded' });
        assert.equal(f.created.length, 3, 'the same backend, inspected again');
        await f.router.dispose();
    });
});
