import assert from 'node:assert/strict';
import { SpeedMonitor, MIN_RATE_SAMPLE_TOKENS } from '../../../src/core/router/speedMonitor';

const PRIOR = { prefillMsPerToken: 2.7, decodeMsPerToken: 12, overheadMs: 10, embedMsPerText: 20, loadMs: 1000 };

describe('SpeedMonitor: learning speeds from measured generations', () => {
    it('a first token after only a few evaluated tokens does not set the prefill rate on its own', () => {
        const lm = new SpeedMonitor(PRIOR);
        // 9 tokens in 160 ms, most of it spent waiting behind another model's work.
        lm.observeGeneration(9, 160, 1, 0);
        assert.equal(lm.prefillMsPerToken, PRIOR.prefillMsPerToken);
        assert.equal(lm.prefillMeasured, false);
        assert.ok(9 < MIN_RATE_SAMPLE_TOKENS);
    });

    it('small samples stay out of the fit: two of them cannot fit a near-zero rate', () => {
        const lm = new SpeedMonitor(PRIOR);
        lm.observeGeneration(9, 141, 1, 0);
        lm.observeGeneration(23, 142, 1, 0);
        assert.equal(lm.prefillMsPerToken, PRIOR.prefillMsPerToken);
        assert.equal(lm.overheadMs, PRIOR.overheadMs);
        lm.observeGeneration(417, 10 + 417 * 2, 8, 7 * 12);
        assert.ok(Math.abs(lm.prefillMsPerToken - 2) < 1e-9, `${lm.prefillMsPerToken}`);
    });

    it('a sample with enough tokens sets it, and later samples move it', () => {
        const lm = new SpeedMonitor(PRIOR);
        lm.observeGeneration(400, 10 + 400 * 3, 8, 7 * 12);
        assert.ok(Math.abs(lm.prefillMsPerToken - 3) < 1e-9, `${lm.prefillMsPerToken}`);
        assert.equal(lm.prefillMeasured, true);
        lm.observeGeneration(400, 10 + 400 * 3, 8, 7 * 12);
        // Two samples of one size: no spread for a fit, the rate stays what they say.
        assert.ok(Math.abs(lm.prefillMsPerToken - 3) < 1e-9, `${lm.prefillMsPerToken}`);
    });

    it('with spread in prompt sizes it fits overhead and rate together', () => {
        const lm = new SpeedMonitor(PRIOR);
        for (const n of [40, 400, 100, 480, 60, 300]) lm.observeGeneration(n, 25 + n * 2.5, 8, 7 * 12);
        assert.ok(Math.abs(lm.prefillMsPerToken - 2.5) < 0.01, `rate ${lm.prefillMsPerToken}`);
        assert.ok(Math.abs(lm.overheadMs - 25) < 1, `overhead ${lm.overheadMs}`);
        assert.ok(Math.abs(lm.decodeMsPerToken - 12) < 1e-9);
    });
});

describe('SpeedMonitor: embedding speed stands in for an unmeasured prefill', () => {
    it('embedding calls set the prefill rate until a generation measures it; scaled priors do not replace it', () => {
        const lm = new SpeedMonitor(PRIOR);
        lm.observeEmbed(1, 110, 96);
        assert.ok(Math.abs(lm.prefillMsPerToken - 110 / 96) < 1e-9, `${lm.prefillMsPerToken}`);
        lm.setPrior({ ...PRIOR, prefillMsPerToken: 6.3 });
        assert.ok(Math.abs(lm.prefillMsPerToken - 110 / 96) < 1e-9, 'a prior scaled from another model does not replace it');
        // Too few tokens to say anything.
        lm.observeEmbed(1, 50, 8);
        assert.ok(Math.abs(lm.prefillMsPerToken - 110 / 96) < 1e-9);
        // A measured generation takes over, and later embeddings leave it alone.
        lm.observeGeneration(400, 10 + 400 * 0.7, 8, 7 * 12);
        assert.ok(Math.abs(lm.prefillMsPerToken - 0.7) < 1e-9, `${lm.prefillMsPerToken}`);
        lm.observeEmbed(1, 200, 96);
        assert.ok(Math.abs(lm.prefillMsPerToken - 0.7) < 1e-9);
    });
});

describe('SpeedMonitor: the overhead stays physical (bench/FINDINGS.md F21)', () => {
    it('prompts of similar size do not fit a free overhead: long explains slowed by other work leave it alone', () => {
        const lm = new SpeedMonitor(PRIOR);
        // 2,000-2,400-token explains whose first tokens were delayed by other models' work: on a
        // line, 0.1 ms per token over a 900 ms overhead.
        for (const [n, ms] of [[2000, 1100], [2200, 1120], [2400, 1140]]) lm.observeGeneration(n, ms, 8, 7 * 12);
        assert.ok(lm.overheadMs <= PRIOR.overheadMs, `overhead ${lm.overheadMs}`);
        assert.equal(lm.prefillMeasured, true);
    });

    it('the fitted overhead never exceeds what calls that evaluated a few tokens took', () => {
        const lm = new SpeedMonitor(PRIOR);
        for (let i = 0; i < 5; i++) lm.observeGeneration(2, 20, 8, 7 * 12);
        // Widely spread prompts whose line fits a 300 ms intercept (contention on the small ones).
        for (const n of [40, 400, 100, 480, 60, 300]) lm.observeGeneration(n, 300 + n * 0.5, 8, 7 * 12);
        assert.ok(lm.overheadMs <= 20 + 1e-9, `overhead ${lm.overheadMs}`);
        // Through the capped intercept, the rate takes the rest.
        assert.ok(lm.prefillMsPerToken > 0.5, `rate ${lm.prefillMsPerToken}`);
        // Nor does a prior scaled from another model bring a larger one back.
        const other = new SpeedMonitor(PRIOR);
        other.observeGeneration(1, 15, 8, 7 * 12);
        other.setPrior({ ...PRIOR, overheadMs: 622 });
        assert.equal(other.overheadMs, 15);
    });

    it('a call that only reads a prompt measures the prefill', () => {
        const lm = new SpeedMonitor(PRIOR);
        lm.observePrefill(500, 10 + 500 * 0.4);
        assert.equal(lm.prefillMeasured, true);
        assert.ok(Math.abs(lm.prefillMsPerToken - 0.4) < 1e-9, `${lm.prefillMsPerToken}`);
        // A handful of tokens says nothing about the rate.
        lm.observePrefill(5, 400);
        assert.ok(Math.abs(lm.prefillMsPerToken - 0.4) < 1e-9);
    });
});
