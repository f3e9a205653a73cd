import assert from 'node:assert/strict';
import { prefillChunkSize, type TokenGate } from '../../src/core/backend';

describe('prefillChunkSize: a gate may shorten a prefill chunk, never lengthen it', () => {
    const gate = (cap: number | undefined): TokenGate => ({ wait: () => undefined, chunkTokens: () => cap });

    it('without a gate, a cap or a smaller cap, the backend keeps its own size', () => {
        assert.equal(prefillChunkSize(64, undefined), 64);
        assert.equal(prefillChunkSize(64, { wait: () => undefined }), 64);
        assert.equal(prefillChunkSize(64, gate(undefined)), 64);
        assert.equal(prefillChunkSize(64, gate(64)), 64);
        assert.equal(prefillChunkSize(64, gate(1000)), 64);
        assert.equal(prefillChunkSize(64, gate(Number.POSITIVE_INFINITY)), 64);
    });

    it('a smaller cap is taken in whole tokens, at least one; a nonsensical one changes nothing', () => {
        assert.equal(prefillChunkSize(64, gate(27.9)), 27);
        assert.equal(prefillChunkSize(64, gate(0)), 1);
        assert.equal(prefillChunkSize(64, gate(-5)), 1);
        assert.equal(prefillChunkSize(64, gate(Number.NaN)), 64);
    });
});
