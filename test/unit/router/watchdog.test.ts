/**
 * The router's watchdog (src/core/router/execute.ts) on the deterministic fake backend and a
 * virtual clock: a call that stops making progress is given up on, its model cools down with the
 * reason shown in the snapshot and the decisions, and the task is served by another capable model;
 * a slow call that keeps making progress is left alone. Times here are virtual milliseconds.
 */
import assert from 'node:assert/strict';
import { StalledError } from '../../../src/core/errors';
import type { ModelBackend, ModelSpec } from '../../../src/core/backend';
import { VirtualClock } from '../../../src/core/clock';
import type { RouterLogger } from '../../../src/core/tasks';
import { FakeBackend } from '../../../src/backends/fakeBackend';
import { createRouter, type ZetaRouter } from '../../../src/core/router';
import { stallMs } from '../../../src/core/router/execute';
import { STALL_FACTOR, STALL_MIN_MS } from '../../../src/core/router/tuning';
import { FaultyBackend } from '../../faults/support/faultyBackend';
import { PROFILES, completion, makeSettings, spec, track, words, type Fixture, type Logged } from './helpers';

interface WatchFixture {
    clock: VirtualClock;
    router: ZetaRouter;
    faulty: Map<string, FaultyBackend>;
    fakes: Map<string, FakeBackend>;
    log: Logged;
}

function makeWatched(models: ModelSpec[] = [spec('coder'), spec('reasoner'), spec('embedder')], profiles: Record<string, object> = {}): WatchFixture {
    const clock = new VirtualClock(0);
    const faulty = new Map<string, FaultyBackend>();
    const fakes = new Map<string, FakeBackend>();
    const log: Logged = { info: [], warn: [], error: [] };
    const logger: RouterLogger = { info: (m) => log.info.push(m), warn: (m) => log.warn.push(m), error: (m) => log.error.push(m) };
    const router = createRouter({
        clock,
        // No hold before routing: each completion starts when submitted.
        settings: makeSettings({ levers: { holdSupersedable: false }, cooldownMs: 30_000 }),
        models,
        logger,
        createBackend: (s): ModelBackend => {
            const fake = new FakeBackend(clock, { ...PROFILES[s.role], ...(profiles[s.id] ?? {}) });
            const b = new FaultyBackend(fake);
            fakes.set(s.id, fake);
            faulty.set(s.id, b);
            return b;
        },
    });
    return { clock, router, faulty, fakes, log };
}

/** The `Fixture` shape `track` needs. */
function asFixture(w: WatchFixture): Fixture {
    return { clock: w.clock } as Fixture;
}

describe('router watchdog: a call that stops making progress', () => {
    it('is given up on within two stall windows; its model cools down ("stalled") and the task is served elsewhere', async () => {
        const w = makeWatched();
        await w.clock.advance(5_000);
        const coder = w.faulty.get('coder')!;
        coder.next({ kind: 'hang', afterTokens: 2, honoursAbort: true });
        let struckAt: number | undefined;
        coder.onStrike = () => (struckAt = w.clock.now());
        const c = track(asFixture(w), w.router.submit(completion('a.ts', words(20), 8)));
        await w.clock.runUntilIdle(120_000);
        assert.ok(c.outcome?.ok, String(c.outcome && !c.outcome.ok && c.outcome.error));
        assert.notEqual(c.outcome.value.modelId, 'coder');
        assert.ok(struckAt !== undefined, 'the hang struck');
        // Found within two stall windows of the last progress (checks run once per window).
        const window = STALL_MIN_MS;
        assert.ok(c.outcome.at - struckAt <= 2 * window + 1_000, `served ${c.outcome.at - struckAt} ms after the hang`);
        assert.ok(c.outcome.at - struckAt >= window, 'not before a whole window of silence');
        assert.match(c.outcome.value.decision.reason, /retry after coder stalled \(no progress for \d+ ms\); coder cooling down/);
        const snap = w.router.snapshot().models.find((m) => m.id === 'coder')!;
        assert.ok(snap.coolingDownUntil !== undefined && snap.coolingDownUntil > w.clock.now());
        assert.match(snap.error ?? '', /^stalled: coder stopped responding: its completion call made no progress for \d+ ms \(its measured speed predicted a token every ~\d+ ms\)/);
        assert.equal(snap.failed, 1);
        assert.equal(coder.log.hanging, 0, 'the hung call was aborted and ended');
        assert.equal(w.fakes.get('coder')!.stats().sequencesHeld, 0);
        assert.ok(w.log.warn.some((l) => /model coder stalled on completion task \d+: .*cooling down 30000 ms/.test(l)), w.log.warn.join('\n'));

        // While it cools down, decisions leave it out and say why; afterwards it serves again.
        const during = track(asFixture(w), w.router.submit(completion('b.ts', words(20), 4)));
        await w.clock.runUntilIdle(120_000);
        assert.ok(during.outcome?.ok);
        assert.notEqual(during.outcome.value.modelId, 'coder');
        assert.match(during.outcome.value.decision.candidates.find((x) => x.modelId === 'coder')!.excluded ?? '', /^cooling down: stalled \(no progress for \d+ ms\)$/);
        await w.clock.advance(30_000);
        const after = track(asFixture(w), w.router.submit(completion('c.ts', words(20), 4)));
        await w.clock.runUntilIdle(120_000);
        assert.ok(after.outcome?.ok);
        assert.equal(after.outcome.value.modelId, 'coder');
        await w.router.dispose();
    });

    it('a call that ignores its abort is abandoned: the task settles elsewhere, and the model takes no work until the call returns', async () => {
        const w = makeWatched();
        await w.clock.advance(5_000);
        const coder = w.faulty.get('coder')!;
        coder.next({ kind: 'hang', afterTokens: 1, honoursAbort: false });
        const c = track(asFixture(w), w.router.submit(completion('a.ts', words(20), 8)));
        await w.clock.runUntilIdle(120_000);
        assert.ok(c.outcome?.ok, String(c.outcome && !c.outcome.ok && c.outcome.error));
        assert.notEqual(c.outcome.value.modelId, 'coder');
        assert.equal(coder.log.unsettled, 1, 'the backend never settled the call');
        assert.equal(w.fakes.get('coder')!.stats().sequencesHeld, 1, 'and still holds its sequence');
        // Its one slot holds a call that never returned: left out even after the cooldown.
        await w.clock.advance(31_000);
        const blocked = track(asFixture(w), w.router.submit(completion('b.ts', words(20), 4)));
        await w.clock.runUntilIdle(120_000);
        assert.ok(blocked.outcome?.ok);
        assert.notEqual(blocked.outcome.value.modelId, 'coder');
        assert.equal(blocked.outcome.value.decision.candidates.find((x) => x.modelId === 'coder')!.excluded, 'stopped responding: every slot holds a call that never returned');
        // The call returns at last: the slot is the model's again.
        coder.release();
        await w.clock.runUntilIdle(120_000);
        assert.equal(coder.log.unsettled, 0);
        assert.equal(w.fakes.get('coder')!.stats().sequencesHeld, 0);
        const back = track(asFixture(w), w.router.submit(completion('c.ts', words(20), 4)));
        await w.clock.runUntilIdle(120_000);
        assert.ok(back.outcome?.ok);
        assert.equal(back.outcome.value.modelId, 'coder');
        await w.router.dispose();
    });

    it('with no other capable model, the task fails with a StalledError that says what happened and what to do', async () => {
        const w = makeWatched([spec('coder')]);
        await w.clock.advance(5_000);
        w.faulty.get('coder')!.next({ kind: 'hang', afterTokens: 0, honoursAbort: true });
        const c = track(asFixture(w), w.router.submit(completion('a.ts', words(20), 8)));
        await w.clock.runUntilIdle(120_000);
        assert.ok(c.outcome && !c.outcome.ok);
        const e = c.outcome.error;
        assert.ok(e instanceof StalledError, String(e));
        assert.equal(e.modelId, 'coder');
        assert.match(e.message, /^coder stopped responding: its completion call made no progress for \d+ ms \(its measured speed predicted its first token within ~\d+ ms\); its tasks go to other models while it cools down/);
        // Still serving: the next request (the only model, cooling down, is still the soonest) succeeds.
        const next = track(asFixture(w), w.router.submit(completion('b.ts', words(20), 4)));
        await w.clock.runUntilIdle(120_000);
        assert.ok(next.outcome?.ok, String(next.outcome && !next.outcome.ok && next.outcome.error));
        await w.router.dispose();
    });

    it('a cancelled call that does not stop is given up on too: the task settles with its cancellation', async () => {
        const w = makeWatched();
        await w.clock.advance(5_000);
        const coder = w.faulty.get('coder')!;
        coder.next({ kind: 'hang', afterTokens: 1, honoursAbort: false });
        const ac = new AbortController();
        const c = track(asFixture(w), w.router.submit(completion('a.ts', words(20), 8), ac.signal));
        let struck = false;
        coder.onStrike = () => (struck = true);
        while (!struck) await w.clock.advance(10);
        ac.abort(new Error('user pressed Escape'));
        await w.clock.runUntilIdle(120_000);
        assert.ok(c.outcome && !c.outcome.ok);
        assert.equal((c.outcome.error as Error).message, 'user pressed Escape');
        const snap = w.router.snapshot().models.find((m) => m.id === 'coder')!;
        assert.match(snap.error ?? '', /its completion call did not stop after it was cancelled/);
        coder.release();
        await w.router.dispose();
    });

    it('a slow call that keeps making progress is never stalled, however long it takes', async () => {
        // One token every 3 s (under STALL_MIN_MS), 6 tokens: 15 s of decoding.
        const w = makeWatched([spec('coder'), spec('reasoner')], { coder: { decodeTokensPerSec: 1 / 3 } });
        await w.clock.advance(5_000);
        const c = track(asFixture(w), w.router.submit({ kind: 'edit', doc: 'a.ts', messages: [{ role: 'user', content: words(10) }], maxTokens: 6 }));
        await w.clock.runUntilIdle(120_000);
        assert.ok(c.outcome?.ok, String(c.outcome && !c.outcome.ok && c.outcome.error));
        assert.equal(c.outcome.value.modelId, 'coder');
        assert.ok(c.outcome.value.timings.totalMs > 3 * STALL_MIN_MS, `took ${c.outcome.value.timings.totalMs} virtual ms`);
        const snap = w.router.snapshot().models.find((m) => m.id === 'coder')!;
        assert.equal(snap.failed, 0);
        assert.equal(snap.error, undefined);
        await w.router.dispose();
    });

    it('the stall window follows the measured speed: STALL_FACTOR predicted gaps, at least STALL_MIN_MS', () => {
        const job = { tokensSeen: 0, firstMs: 10_000 } as Parameters<typeof stallMs>[0];
        const m = { speed: { decodeMsPerToken: 20 } } as Parameters<typeof stallMs>[1];
        assert.equal(stallMs(job, m), STALL_FACTOR * 10_000, 'before the first token: the predicted time to it');
        assert.equal(stallMs({ ...job, tokensSeen: 3 } as typeof job, m), STALL_MIN_MS, 'after it: one decode step, floored');
        assert.equal(stallMs({ ...job, tokensSeen: 3 } as typeof job, { speed: { decodeMsPerToken: 2_000 } } as typeof m), STALL_FACTOR * 2_000);
        // An embedding call shows no progress until it returns: the whole call's predicted time.
        assert.equal(stallMs(job, { speed: { embedMsPerText: 20 } } as typeof m, 1_000), STALL_FACTOR * 20 * 1_000, 'an embedding call: all its texts');
        assert.equal(stallMs(job, { speed: { embedMsPerText: 20 } } as typeof m, 1), STALL_MIN_MS);
    });
});
