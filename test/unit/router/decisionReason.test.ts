import assert from 'node:assert/strict';
import { Candidate, DecisionRecordImpl } from '../../../src/core/router/decision';

function candidate(modelId: string, fields: Partial<Candidate>): Candidate {
    return Object.assign(new Candidate(modelId), fields);
}

describe('router: decision reasons', () => {
    it('a spill names the preferred model busy only when something runs or waits on it', () => {
        const reason = (coder: Partial<Candidate>): string =>
            new DecisionRecordImpl(1, 'completion', 'file:///a.py', 0, 'zeta', 'reasoner', [candidate('coder', { finishMs: 314, ...coder }), candidate('reasoner', { finishMs: 136 })], 'spill', 'coder').reason;
        assert.equal(reason({}), 'coder idle but slower for this task: spilled to reasoner, predicted 136 ms vs 314 ms');
        assert.equal(reason({ inFlight: 1, waitMs: 250 }), 'coder busy (0 waiting, ~250 ms): spilled to reasoner, predicted 136 ms vs 314 ms');
        assert.equal(reason({ queued: 2 }), 'coder busy (2 waiting, ~0 ms): spilled to reasoner, predicted 136 ms vs 314 ms');
        assert.equal(reason({ excluded: 'not loaded' }), 'coder not loaded: spilled to reasoner, predicted 136 ms');
        assert.equal(reason({ reusedTokens: 280 }), 'coder idle but slower for this task: spilled to reasoner, predicted 136 ms vs 314 ms though coder holds 280 cached prompt tokens of this document');
    });
});
