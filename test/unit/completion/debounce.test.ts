import { strict as assert } from 'node:assert';
import { TypingCadence, adaptiveDebounceMs, debounceInputs } from '../../../src/core/completion/debounce';
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
            at: 0, policy: 'zeta', recentDecisions: [], forecast: {},
            models: [m('reasoner', { queued: 9 }), m('coder', { queued: 2, inFlight: 1, slots: 2, firstTokenMs: 300, utilisation: 0.5 })],
        };
        assert.deepEqual(debounceInputs(snap, 120), { firstTokenMs: 300, pending: 3, slots: 2, utilisation: 0.5, typingIntervalMs: 120 });
        const failedCoder: RouterSnapshot = { ...snap, models: [m('coder', { residency: 'failed' }), m('reasoner', { firstTokenMs: 500 })] };
        assert.equal(debounceInputs(failedCoder, undefined).firstTokenMs, 500);
        assert.equal(debounceInputs({ ...snap, models: [] }, undefined).pending, 0);
    });
});

describe('typing cadence', () => {
    it('is the median recent gap, undefined after a pause', () => {
        const c = new TypingCadence(8, 1000);
        assert.equal(c.intervalMs(0), undefined);
        for (const t of [0, 100, 250, 350, 2000, 2120]) c.record(t);
        // gaps 100,150,100,(1650 ignored),120 -> sorted 100,100,120,150 -> median index 2 -> 120
        assert.equal(c.intervalMs(2150), 120);
        assert.equal(c.intervalMs(4000), undefined);
    });
});
