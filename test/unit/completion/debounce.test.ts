import { strict as assert } from 'node:assert';
import { adaptiveDebounceMs, debounceInputs } from '../../../src/core/completion/debounce';
import { Cadence, TYPING_PAUSE_MS } from '../../../src/core/router/forecast';
import { makeFixture } from '../router/helpers';
import type { ModelSnapshot, RouterSnapshot } from '../../../src/core/tasks';

const bounds = { minMs: 20, maxMs: 600 };
const idleFast = { firstTokenMs: 80, pending: 0, slots: 2, utilisation: 0, typingIntervalMs: undefined };

describe('adaptive debounce', () => {
    it('is short when the model is idle and fast', () => {
        assert.equal(adaptiveDebounceMs(idleFast, bounds), 20);
    });

    it('grows with measured latency, backlog and utilisation', () => {
        const slow = adaptiveDebounceMs({ ...idleFast, firstTokenMs: 900 }, bounds);
        const slowBusy = adaptiveDebounceMs({ ...idleFast, firstTokenMs: 900, pending: 4, utilisation: 0.9 }, bounds);
        assert.ok(slow > 20, `slow ${slow}`);
        assert.ok(slowBusy > slow, `${slowBusy} > ${slow}`);
        assert.equal(adaptiveDebounceMs({ ...idleFast, firstTokenMs: 5000, pending: 20 }, bounds), 600);
    });

    it('waits out most of a keystroke gap when typing outpaces the model', () => {
        const typing = adaptiveDebounceMs({ ...idleFast, firstTokenMs: 700, typingIntervalMs: 200 }, bounds);
        assert.equal(typing, 150);
        // A fast model does not need to wait for the typist.
        assert.equal(adaptiveDebounceMs({ ...idleFast, typingIntervalMs: 200 }, bounds), 20);
    });

    it('reads the coder from a router snapshot', () => {
        const m = (role: ModelSnapshot['role'], over: Partial<ModelSnapshot>): ModelSnapshot => ({
            id: role, role, name: role, residency: 'loaded', queued: 0, queuedTokens: 0, inFlight: 0, slots: 1, paused: 0,
            firstTokenMs: undefined, promptTokensPerSec: undefined, decodeTokensPerSec: undefined, utilisation: 0, memoryBytes: 0,
            served: 0, failed: 0, ...over,
        });
        const snap: RouterSnapshot = {
            at: 0, policy: 'zeta', recentDecisions: [], forecast: {}, typingIntervalMs: 120, waits: [],
            models: [m('reasoner', { queued: 9 }), m('coder', { queued: 2, inFlight: 1, slots: 2, firstTokenMs: 300, utilisation: 0.5 })],
        };
        assert.deepEqual(debounceInputs(snap), { firstTokenMs: 300, pending: 3, slots: 2, utilisation: 0.5, typingIntervalMs: 120 });
        const failedCoder: RouterSnapshot = { ...snap, models: [m('coder', { residency: 'failed' }), m('reasoner', { firstTokenMs: 500 })] };
        assert.equal(debounceInputs(failedCoder).firstTokenMs, 500);
        assert.equal(debounceInputs({ ...snap, models: [] }).pending, 0);
    });
});

describe('typing cadence for the debounce (the router\'s one cadence model)', () => {
    it('is the median recent gap, leaving pauses out, and undefined after a pause', () => {
        const c = new Cadence();
        assert.equal(c.typingIntervalMs(0), undefined);
        // Gaps 100 (x4), 150 (x3) and one 1,650 ms pause: the median of the typing gaps is in the 100 ms bin.
        for (const t of [0, 100, 200, 300, 400, 550, 700, 850, 2500]) c.keystroke('a.ts', t);
        const median = c.typingIntervalMs(2500 + 10);
        assert.ok(median !== undefined && median > 100 && median < 125, `median ${median}`);
        assert.equal(c.typingIntervalMs(2500 + TYPING_PAUSE_MS + 1), undefined, 'a pause since the last keystroke');
    });

    it('reaches the debounce through the router snapshot', async () => {
        const f = makeFixture();
        await f.clock.advance(1_000);
        for (let i = 0; i < 10; i++) {
            f.router.activity({ type: 'keystroke', doc: 'a.ts' });
            await f.clock.advance(180);
        }
        const typing = debounceInputs(f.router.snapshot()).typingIntervalMs;
        assert.ok(typing !== undefined && typing > 150 && typing <= 200, `typing interval ${typing}`);
        await f.clock.advance(TYPING_PAUSE_MS + 1);
        assert.equal(debounceInputs(f.router.snapshot()).typingIntervalMs, undefined);
        await f.router.dispose();
    });
});
