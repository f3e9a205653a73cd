import assert from 'node:assert/strict';
import { DeadlineError, QueueFullError } from '../../../src/core/errors';
import { chat, completion, makeFixture, makeSettings, pending, ready, spec, submit, texts, words } from './helpers';

const classes = makeSettings().taskClasses;

describe('router: priorities and background work', () => {
    it('zeta runs queued work by priority: a completion overtakes an earlier queued edit', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false, spill: false }, taskClasses: { ...classes, completion: { priority: 100, objectiveFactor: 1000 } } } });
        await ready(f);
        const e1 = submit(f, chat('edit', 10, 20));
        await f.clock.advance(5);
        const e2 = submit(f, chat('edit', 10, 20));
        await f.clock.advance(5);
        const c = submit(f, completion('a.ts', words(10)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(e1.outcome?.ok && e2.outcome?.ok && c.outcome?.ok);
        assert.ok(c.outcome.at < e2.outcome.at, 'completion finished before the second edit');
        await f.router.dispose();
    });

    it('static is FIFO on the fixed model: the earlier edit runs first', async () => {
        const f = makeFixture({ settings: { policy: 'static' } });
        await ready(f);
        const e1 = submit(f, chat('edit', 10, 20));
        await f.clock.advance(5);
        const e2 = submit(f, chat('edit', 10, 20));
        await f.clock.advance(5);
        const c = submit(f, completion('a.ts', words(10)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(e1.outcome?.ok && e2.outcome?.ok && c.outcome?.ok);
        assert.ok(e2.outcome.at < c.outcome.at);
        assert.equal(c.outcome.value.modelId, 'coder');
        await f.router.dispose();
    });

    it('interactive work never waits behind more than one background batch', async () => {
        const f = makeFixture({ settings: { embedBatchSize: 8, levers: { holdSupersedable: false } } });
        await ready(f);
        const index = submit(f, { kind: 'embed', texts: texts(400) });
        const batchMs = 8 * 5;
        const waits: number[] = [];
        for (let i = 0; i < 20; i++) {
            await f.clock.advance(97);
            const q = submit(f, { kind: 'embedQuery', texts: ['find foo'] });
            // A completion spilled onto the embedder is interactive too.
            await f.clock.runUntil(f.clock.now() + batchMs + 6);
            assert.ok(q.outcome?.ok, 'query served within one batch plus its own time');
            waits.push(q.outcome.value.timings.queuedMs);
        }
        assert.ok(Math.max(...waits) <= batchMs, `waits ${waits.join(',')}`);
        await f.clock.runUntilIdle(600_000);
        assert.ok(index.outcome?.ok);
        await f.router.dispose();
    });

    it('starvation freedom: background indexing progresses under a saturating interactive stream', async () => {
        const f = makeFixture({ settings: { embedBatchSize: 4, levers: { holdSupersedable: false } } });
        await ready(f);
        const progress: number[] = [];
        const index = submit(f, { kind: 'embed', texts: texts(40), onProgress: () => progress.push(f.clock.now()) });
        const start = f.clock.now();
        // Queries of 20 texts (100 ms each) every 90 ms: the embedder is never free of interactive work.
        const queries = [];
        for (let t = 0; t < 30_000; t += 90) {
            queries.push(submit(f, { kind: 'embedQuery', texts: texts(20) }));
            await f.clock.advance(90);
        }
        await f.clock.runUntilIdle(600_000);
        assert.ok(index.outcome?.ok);
        assert.equal(progress.length, 10);
        // Each batch waited at most the starvation bound (5 s) plus one query.
        let prev = start;
        for (const p of progress) {
            assert.ok(p - prev <= 5_000 + 200, `gap ${p - prev} ms`);
            prev = p;
        }
        assert.ok(queries.every((q) => q.outcome?.ok));
        await f.router.dispose();
    });
});

describe('router: deadlines, queue bounds, cooldown and retry', () => {
    it('a completion that cannot meet its objective anywhere is dropped early with DeadlineError', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await ready(f);
        const e = submit(f, chat('edit', 10, 200));
        const x = submit(f, chat('explain', 10, 200));
        const q = submit(f, { kind: 'embedQuery', texts: texts(400) });
        await f.clock.advance(50);
        const c = submit(f, completion('a.ts', words(50)));
        await f.clock.advance(1);
        assert.ok(c.outcome && !c.outcome.ok);
        assert.ok(c.outcome.error instanceof DeadlineError, String(c.outcome.error));
        assert.match((c.outcome.error as Error).message, /completion dropped: cannot finish within its \d+ ms objective/);
        assert.match(f.router.snapshot().recentDecisions[0].reason, /dropped: predicted \d+ ms exceeds the \d+ ms objective/);
        await f.clock.runUntilIdle(600_000);
        assert.ok(e.outcome?.ok && x.outcome?.ok && q.outcome?.ok);
        await f.router.dispose();
    });

    it('a queued completion is dropped when its latest start time passes (mispredicted work ahead)', async () => {
        // Priors say the coder is fast; it is in fact 10x slower, so the edit ahead overruns.
        const f = makeFixture({ models: [spec('coder')], profiles: { coder: { decodeTokensPerSec: 5 } }, settings: { levers: { holdSupersedable: false } } });
        await ready(f);
        const e = submit(f, chat('edit', 10, 10));
        await f.clock.advance(10);
        const c = submit(f, completion('a.ts', words(20), 4));
        await f.clock.advance(1);
        assert.equal(pending(c), true, 'queued, not dropped at once');
        await f.clock.advance(3_000);
        assert.ok(c.outcome && !c.outcome.ok && c.outcome.error instanceof DeadlineError, String(c.outcome?.ok));
        await f.clock.runUntilIdle(600_000);
        assert.ok(e.outcome?.ok);
        assert.ok(c.outcome.at < e.outcome.at, 'dropped while the edit still ran');
        await f.router.dispose();
    });

    it('static never drops: it serves late', async () => {
        const f = makeFixture({ settings: { policy: 'static' } });
        await ready(f);
        const e = submit(f, chat('edit', 10, 200));
        await f.clock.advance(50);
        const c = submit(f, completion('a.ts', words(50)));
        await f.clock.runUntilIdle(600_000);
        assert.ok(e.outcome?.ok && c.outcome?.ok);
        await f.router.dispose();
    });

    it('a full queue rejects with QueueFullError naming the model and how many wait', async () => {
        const f = makeFixture({ settings: { policy: 'static', maxQueue: 2 } });
        await ready(f);
        const ok = [submit(f, chat('edit', 10, 20)), submit(f, chat('edit', 10, 20)), submit(f, chat('edit', 10, 20))];
        await f.clock.advance(1);
        const refused = submit(f, chat('edit', 10, 20));
        await f.clock.advance(1);
        assert.ok(refused.outcome && !refused.outcome.ok);
        const err = refused.outcome.error as QueueFullError;
        assert.ok(err instanceof QueueFullError, String(err));
        assert.equal(err.modelId, 'coder');
        assert.equal(err.waiting, 2);
        assert.equal(err.message, 'queue full on coder: 2 waiting (limit 2); try again when it drains');
        await f.clock.runUntilIdle(60_000);
        assert.ok(ok.every((t) => t.outcome?.ok));
        await f.router.dispose();
    });

    it('a failing model goes on cooldown and the request is retried once on another capable model', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false }, cooldownMs: 10_000 } });
        await ready(f);
        f.backends.get('coder')!.failNext(1, new Error('GPU hiccup'));
        const c = submit(f, completion('a.ts', words(20)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok, String(!c.outcome?.ok && c.outcome?.error));
        assert.notEqual(c.outcome.value.modelId, 'coder');
        assert.match(c.outcome.value.decision.reason, /retry after coder failed/);
        const snap = f.router.snapshot().models.find((m) => m.id === 'coder')!;
        assert.equal(snap.failed, 1);
        assert.ok(snap.coolingDownUntil !== undefined && snap.coolingDownUntil > f.clock.now());
        assert.equal(snap.error, 'GPU hiccup');
        // While cooling down, the coder is not chosen.
        const during = submit(f, completion('b.ts', words(20)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(during.outcome?.ok);
        assert.notEqual(during.outcome.value.modelId, 'coder');
        assert.equal(during.outcome.value.decision.candidates.find((x) => x.modelId === 'coder')!.excluded, 'cooling down after an error');
        await f.clock.advance(10_000);
        const after = submit(f, completion('c.ts', words(20)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(after.outcome?.ok);
        assert.equal(after.outcome.value.modelId, 'coder');
        assert.ok(f.log.warn.some((w) => /model coder failed completion task \d+: GPU hiccup; cooling down 10000 ms/.test(w)));
        await f.router.dispose();
    });

    it('a request that fails on two models rejects with the error', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await ready(f);
        for (const b of f.backends.values()) b.failNext(1, new Error('broken'));
        const c = submit(f, completion('a.ts', words(20)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome && !c.outcome.ok);
        assert.equal((c.outcome.error as Error).message, 'broken');
        const failed = f.router.snapshot().models.filter((m) => m.failed > 0);
        assert.equal(failed.length, 2);
        await f.router.dispose();
    });

    it('with every capable model cooling down, the task still runs rather than failing', async () => {
        const f = makeFixture({ models: [spec('coder')], settings: { levers: { holdSupersedable: false } } });
        await ready(f);
        f.backends.get('coder')!.failNext(1, new Error('once'));
        const a = submit(f, completion('a.ts', words(20)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(a.outcome && !a.outcome.ok);
        const b = submit(f, completion('b.ts', words(20)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(b.outcome?.ok);
        await f.router.dispose();
    });
});
