import assert from 'node:assert/strict';
import { NoCapableModelError, isAbortError } from '../../../src/core/errors';
import type { RouterSnapshot } from '../../../src/core/tasks';
import { chat, completion, makeFixture, makeSettings, spec, submit, texts, words } from './helpers';

describe('router: decision records', () => {
    it('keeps the chosen model, a prediction for every candidate with exclusion reasons, and a reason in words', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await f.clock.advance(5_000);
        const e1 = submit(f, chat('edit', 30, 100));
        await f.clock.advance(5);
        const e2 = submit(f, chat('edit', 30, 100));
        await f.clock.advance(5);
        const c = submit(f, completion('a.ts', words(50)));
        const q = submit(f, { kind: 'embedQuery', texts: ['x'] });
        await f.clock.advance(1);
        const snap = f.router.snapshot();
        const [dq, dc] = snap.recentDecisions;
        assert.equal(dq.kind, 'embedQuery');
        assert.equal(dc.kind, 'completion');
        assert.equal(dc.doc, 'a.ts');
        assert.equal(dc.policy, 'zeta');
        assert.equal(dc.at, f.clock.now() - 1);
        assert.deepEqual(
            dc.candidates.map((x) => x.modelId),
            ['coder', 'reasoner', 'embedder'],
        );
        for (const cand of dc.candidates) {
            assert.equal(cand.excluded, undefined);
            assert.ok(cand.finishMs >= cand.firstTokenMs && cand.firstTokenMs >= cand.waitMs && cand.waitMs >= 0);
            assert.ok(cand.qualityPenaltyMs >= 0);
        }
        assert.equal(dc.candidates[2].qualityPenaltyMs > dc.candidates[0].qualityPenaltyMs, true, 'the small model pays a quality penalty');
        assert.equal(dc.chosen, 'embedder');
        assert.match(dc.reason, /^coder busy \(\d+ waiting, ~\d+ ms\): spilled to embedder, predicted \d+ ms vs \d+ ms$/);
        assert.deepEqual(
            dq.candidates.map((x) => x.excluded),
            ['other embedding space', 'other embedding space', undefined],
        );
        await f.clock.runUntilIdle(600_000);
        assert.ok(e1.outcome?.ok && e2.outcome?.ok && c.outcome?.ok && q.outcome?.ok);
        assert.equal(c.outcome.value.decision.reason, dc.reason);
        await f.router.dispose();
    });

    it('decide() is a dry run: a decision, nothing queued', async () => {
        const f = makeFixture();
        await f.clock.advance(5_000);
        const d = f.router.decide(completion('a.ts', words(20)));
        assert.equal(d.chosen, 'coder');
        assert.match(d.reason, /^coder: predicted \d+ ms, sooner or better than reasoner \d+ ms, embedder \d+ ms$/);
        assert.ok(f.router.snapshot().models.every((m) => m.queued === 0 && m.inFlight === 0));
        assert.equal(f.router.snapshot().recentDecisions.length, 0);
        await f.router.dispose();
    });

    it('a task no model can serve is rejected with the reason', async () => {
        const f = makeFixture({ profiles: { coder: { hasChat: false }, reasoner: { hasChat: false }, embedder: { hasChat: false } } });
        await f.clock.advance(5_000);
        await assert.rejects(f.router.submit(chat('explain', 5, 5)), (e: unknown) => {
            assert.ok(e instanceof NoCapableModelError);
            assert.match(e.message, /^no model can serve explain: no model can take explain now; not considered: coder \(no chat template\), embedder \(no chat template\); reasoner: no chat template$/);
            return true;
        });
        await f.router.dispose();
    });
});

describe('router: snapshot and events', () => {
    it('snapshot() returns copies with live numbers', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await f.clock.advance(5_000);
        for (let i = 0; i < 5; i++) {
            void submit(f, completion(`d${i}.ts`, words(40), 20)).promise;
            await f.clock.runUntilIdle(60_000);
        }
        const e = submit(f, chat('edit', 10, 50));
        void submit(f, chat('edit', 10, 50)).promise;
        await f.clock.advance(5);
        const a = f.router.snapshot();
        const coder = a.models.find((m) => m.id === 'coder')!;
        assert.equal(coder.inFlight, 1);
        assert.equal(coder.residency, 'loaded');
        assert.equal(coder.slots, 1);
        assert.ok(coder.served >= 5);
        assert.ok(coder.decodeTokensPerSec! > 45 && coder.decodeTokensPerSec! < 55, String(coder.decodeTokensPerSec));
        assert.ok(coder.utilisation > 0 && coder.utilisation <= 1);
        assert.equal(coder.memoryBytes, 4e9);
        // Mutating a snapshot changes nothing inside the router.
        (a.models as unknown as RouterSnapshot['models'][number][]).length = 0;
        (a.recentDecisions[0] as { chosen: string }).chosen = 'nobody';
        const b = f.router.snapshot();
        assert.equal(b.models.length, 3);
        assert.notEqual(b.recentDecisions[0].chosen, 'nobody');
        assert.notEqual(a.recentDecisions, b.recentDecisions);
        await f.clock.runUntilIdle(600_000);
        assert.ok(e.outcome?.ok);
        await f.router.dispose();
    });

    it('onDidChange fires on queue, start, finish and residency changes; a disposed listener stops', async () => {
        const f = makeFixture();
        let n = 0;
        const sub = f.router.onDidChange(() => n++);
        await f.clock.advance(5_000);
        assert.ok(n >= 3, 'model loads fired events');
        const before = n;
        const c = submit(f, completion('a.ts', words(10)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok);
        assert.ok(n >= before + 2);
        sub.dispose();
        const after = n;
        void submit(f, completion('b.ts', words(10))).promise;
        await f.clock.runUntilIdle(60_000);
        assert.equal(n, after);
        await f.router.dispose();
    });

    it('a throwing listener is logged and does not break routing', async () => {
        const f = makeFixture();
        f.router.onDidChange(() => {
            throw new Error('view gone');
        });
        await f.clock.advance(5_000);
        const c = submit(f, completion('a.ts', words(10)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok);
        assert.ok(f.log.warn.some((w) => w.includes('view gone')));
        await f.router.dispose();
    });
});

describe('router: reconfigure', () => {
    it('applies a new policy and levers without a restart', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await f.clock.advance(5_000);
        await f.router.reconfigure([spec('coder'), spec('reasoner'), spec('embedder')], makeSettings({ policy: 'round-robin' }));
        const out = [];
        for (let i = 0; i < 3; i++) {
            out.push(submit(f, completion(`d${i}`, words(10))));
            await f.clock.runUntilIdle(60_000);
        }
        assert.deepEqual(
            out.map((t) => (t.outcome?.ok ? t.outcome.value.modelId : '')),
            ['coder', 'reasoner', 'embedder'],
        );
        assert.equal(f.router.snapshot().policy, 'round-robin');
        await f.router.dispose();
    });

    it('a model whose path changed reloads; running work finishes on the old one first', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await f.clock.advance(5_000);
        const old = f.backends.get('coder')!;
        const running = submit(f, chat('edit', 10, 20));
        await f.clock.advance(50);
        await f.router.reconfigure([spec('coder', { path: '/models/coder-v2.gguf' }), spec('reasoner'), spec('embedder')], f.settings);
        const fresh = f.backends.get('coder')!;
        assert.notEqual(fresh, old);
        await f.clock.runUntilIdle(60_000);
        assert.ok(running.outcome?.ok);
        assert.equal(running.outcome.value.modelId, 'coder');
        assert.equal(old.isLoaded, false, 'the old backend was unloaded');
        assert.equal(fresh.isLoaded, true);
        assert.equal(f.router.modelInfo('coder')?.path, '/models/coder-v2.gguf');
        const c = submit(f, completion('a.ts', words(10)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok);
        assert.equal(fresh.calls.filter((x) => x.op === 'generate').length, 1);
        await f.router.dispose();
    });

    it('removes a model (its queued work goes elsewhere or fails cleanly) and adds a new one', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false }, embedBatchSize: 4 } });
        await f.clock.advance(5_000);
        const index = submit(f, { kind: 'embed', texts: texts(100) });
        await f.clock.advance(30);
        await f.router.reconfigure([spec('coder'), spec('reasoner'), spec('coder', { id: 'coder2', path: '/models/coder2.gguf' })], f.settings);
        await f.clock.runUntilIdle(600_000);
        assert.ok(index.outcome && !index.outcome.ok);
        assert.ok(index.outcome.error instanceof NoCapableModelError, String(index.outcome.error));
        assert.deepEqual(
            f.router.snapshot().models.map((m) => m.id),
            ['coder', 'reasoner', 'coder2'],
        );
        assert.equal(f.backends.get('embedder')!.isLoaded, false);
        const e1 = submit(f, chat('edit', 10, 100));
        await f.clock.advance(10);
        const c = submit(f, completion('a.ts', words(20)));
        await f.clock.runUntilIdle(600_000);
        assert.ok(e1.outcome?.ok && c.outcome?.ok);
        assert.equal(c.outcome.value.modelId, 'coder2');
        await f.router.dispose();
    });
});

describe('router: dispose', () => {
    it('settles every task in every state, unloads every model, refuses new work', async () => {
        const f = makeFixture();
        const early = submit(f, completion('early.ts', words(10))); // before models are even inspected
        await f.clock.advance(5_000);
        for (let i = 0; i < 15; i++) {
            f.router.activity({ type: 'keystroke', doc: 'typing.ts' });
            await f.clock.advance(100);
        }
        const tasks = [
            submit(f, chat('edit', 10, 200)),
            submit(f, chat('edit', 10, 200)),
            submit(f, chat('explain', 10, 200)),
            submit(f, { kind: 'embed', texts: texts(500) }),
            submit(f, { kind: 'embedQuery', texts: ['x'] }),
        ];
        f.router.activity({ type: 'keystroke', doc: 'typing.ts' });
        const held = submit(f, completion('typing.ts', words(30)));
        await f.clock.advance(20);
        const snap = f.router.snapshot();
        assert.ok(snap.models.some((m) => m.inFlight > 0) && snap.models.some((m) => m.queued > 0));
        await f.router.dispose();
        await f.clock.runUntilIdle(60_000);
        for (const t of [...tasks, held]) {
            assert.ok(t.outcome, 'every task settled');
            if (!t.outcome.ok) assert.ok(isAbortError(t.outcome.error));
        }
        for (const t of [tasks[0], tasks[1], tasks[2], tasks[3], held]) assert.ok(t.outcome && !t.outcome.ok, 'long and waiting work was cancelled');
        assert.ok(early.outcome?.ok || (early.outcome && isAbortError(early.outcome.error)));
        for (const b of f.created.map((c) => c.backend)) {
            assert.equal(b.stats().inFlight, 0);
            assert.equal(b.isLoaded, false);
        }
        assert.equal(f.clock.pending, 0, 'no timer left behind');
        await assert.rejects(f.router.submit(completion('late.ts', 'x')), (e: unknown) => isAbortError(e));
    });

    it('a task submitted before the models are ready is served once they are', async () => {
        const f = makeFixture();
        const c = submit(f, completion('a.ts', words(10)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok);
        assert.ok(c.outcome.value.timings.queuedMs >= 300, 'waited for the coder to load');
        await f.router.dispose();
    });
});
