import assert from 'node:assert/strict';
import { SupersededError, isAbortError } from '../../../src/core/errors';
import { chat, completion, makeFixture, makeSettings, ready, submit, words } from './helpers';

const patient = { ...makeSettings().taskClasses, completion: { priority: 100, objectiveFactor: 1000 } };

describe('router: supersession and cancellation', () => {
    it('a newer completion for the same document supersedes queued and running ones; all settle', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false, spill: false }, taskClasses: patient } });
        await ready(f);
        const t0 = f.clock.now();
        const edit = submit(f, chat('edit', 10, 10)); // occupies the coder's only slot
        await f.clock.advance(5);
        const c1 = submit(f, completion('x.ts', words(20)));
        await f.clock.advance(5);
        assert.equal(f.router.snapshot().models.find((m) => m.id === 'coder')!.queued, 1);
        const c2 = submit(f, completion('x.ts', words(21)));
        await f.clock.advance(1);
        // c1 was queued: removed and rejected at once, never reaching the backend.
        assert.ok(c1.outcome && !c1.outcome.ok);
        assert.ok(c1.outcome.error instanceof SupersededError);
        assert.equal(c1.outcome.at, t0 + 10);
        assert.equal(f.router.snapshot().models.find((m) => m.id === 'coder')!.queued, 1);
        // Let c2 start, then supersede it while it runs.
        await f.clock.runUntil(t0 + 250);
        const coder = f.backends.get('coder')!;
        assert.equal(coder.stats().inFlight, 1);
        const c3 = submit(f, completion('x.ts', words(22)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(edit.outcome?.ok);
        assert.ok(c2.outcome && !c2.outcome.ok && c2.outcome.error instanceof SupersededError, String(c2.outcome));
        assert.ok(isAbortError(c2.outcome.error));
        assert.ok(c3.outcome?.ok);
        const gens = coder.calls.filter((c) => c.op === 'generate');
        assert.deepEqual(
            gens.map((g) => g.outcome),
            ['aborted', 'ok'],
        );
        assert.equal(coder.stats().inFlight, 0);
        await f.router.dispose();
    });

    it('completions for different documents do not supersede each other', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await ready(f);
        const a = submit(f, completion('a.ts', words(20)));
        const b = submit(f, completion('b.ts', words(20)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(a.outcome?.ok && b.outcome?.ok);
        await f.router.dispose();
    });

    it('a burst of 50 keystrokes: every request settles, only the last is served, nothing leaks', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await ready(f);
        const all = [];
        let prefix = words(100);
        for (let i = 0; i < 50; i++) {
            prefix += ` k${i}`;
            all.push(submit(f, completion('burst.ts', prefix)));
            await f.clock.advance(30);
        }
        await f.clock.runUntilIdle(60_000);
        const served = all.filter((t) => t.outcome?.ok);
        assert.equal(all.filter((t) => t.outcome === undefined).length, 0);
        assert.equal(served.length, 1);
        assert.equal(all[49].outcome?.ok, true);
        for (const t of all.slice(0, 49)) assert.ok(t.outcome && !t.outcome.ok && t.outcome.error instanceof SupersededError);
        for (const b of f.backends.values()) assert.equal(b.stats().inFlight, 0);
        await f.router.dispose();
    });

    it('external cancellation in two phases: a queued task is removed and rejected with the reason; a running one is aborted', async () => {
        const f = makeFixture({ settings: { policy: 'static' } });
        await ready(f);
        const running = new AbortController();
        const queued = new AbortController();
        const r = submit(f, chat('edit', 10, 50), running.signal);
        await f.clock.advance(10);
        const q = submit(f, chat('edit', 10, 50), queued.signal);
        await f.clock.advance(10);
        assert.equal(f.router.snapshot().models.find((m) => m.id === 'coder')!.queued, 1);
        const reasonQ = new Error('user moved on');
        reasonQ.name = 'AbortError';
        queued.abort(reasonQ);
        await f.clock.advance(0);
        assert.ok(q.outcome && !q.outcome.ok);
        assert.equal(q.outcome.error, reasonQ);
        assert.equal(f.router.snapshot().models.find((m) => m.id === 'coder')!.queued, 0);
        const reasonR = new Error('closed');
        running.abort(reasonR);
        await f.clock.advance(50);
        assert.ok(r.outcome && !r.outcome.ok);
        assert.equal(r.outcome.error, reasonR);
        const coder = f.backends.get('coder')!;
        assert.equal(coder.stats().inFlight, 0);
        assert.equal(coder.calls.filter((c) => c.op === 'chat').length, 1);
        assert.equal(coder.calls[coder.calls.length - 1].outcome, 'aborted');
        await f.router.dispose();
    });

    it('an already aborted signal rejects at once with its reason', async () => {
        const f = makeFixture();
        const ac = new AbortController();
        const reason = new Error('gone');
        ac.abort(reason);
        await assert.rejects(f.router.submit(completion('a', 'b'), ac.signal), (e) => e === reason);
        await f.router.dispose();
    });
});
