import * as assert from 'node:assert/strict';
import { createRng } from '../../../bench/lib/rng';
import { bootstrapInterval, mean, percentile, percentileSorted, quantiles } from '../../../bench/lib/stats';

describe('bench stats', () => {
    it('interpolates percentiles between closest ranks (NumPy default)', () => {
        const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert.equal(percentile(v, 0), 1);
        assert.equal(percentile(v, 100), 10);
        assert.equal(percentile(v, 50), 5.5);
        assert.ok(Math.abs(percentile(v, 95) - 9.55) < 1e-9);
        assert.ok(Math.abs(percentile(v, 99) - 9.91) < 1e-9);
    });

    it('does not depend on input order and does not mutate it', () => {
        const v = [9, 1, 5, 3, 7];
        assert.equal(percentile(v, 50), 5);
        assert.deepEqual(v, [9, 1, 5, 3, 7]);
    });

    it('gives NaN for an empty sample, never a made-up number', () => {
        assert.ok(Number.isNaN(percentile([], 50)));
        assert.ok(Number.isNaN(percentileSorted([], 99)));
        const q = quantiles([]);
        assert.ok(Number.isNaN(q.p50) && Number.isNaN(q.p95) && Number.isNaN(q.p99));
        assert.ok(Number.isNaN(mean([])));
    });

    it('a single sample is every percentile', () => {
        assert.deepEqual(quantiles([42]), { p50: 42, p95: 42, p99: 42 });
    });

    it('rejects percentiles outside [0, 100]', () => {
        assert.throws(() => percentile([1], 101), RangeError);
        assert.throws(() => percentile([1], -1), RangeError);
    });

    it('bootstraps an interval for a percentile: around it, wide where the median sits in a gap between two modes', () => {
        // 15 warm keystrokes at 20-34 ms and 14 that waited, 200-330 ms: the median is one sample.
        const bimodal = [...Array.from({ length: 15 }, (_, i) => 20 + i), ...Array.from({ length: 14 }, (_, i) => 200 + 10 * i)];
        const tight = Array.from({ length: 29 }, (_, i) => 20 + i);
        const [blo, bhi] = bootstrapInterval(bimodal, 50, 0.9, 2000, createRng(7).next);
        const [tlo, thi] = bootstrapInterval(tight, 50, 0.9, 2000, createRng(7).next);
        assert.ok(blo <= percentile(bimodal, 50) && percentile(bimodal, 50) <= bhi);
        assert.ok(tlo <= percentile(tight, 50) && percentile(tight, 50) <= thi);
        assert.ok(blo < 40 && bhi >= 200, `the gap is inside the bimodal interval: ${blo}-${bhi}`);
        assert.ok(thi - tlo < 15, `a sample without a gap gives a narrow one: ${tlo}-${thi}`);
        // Seeded: the same draws give the same interval.
        assert.deepEqual(bootstrapInterval(bimodal, 50, 0.9, 2000, createRng(7).next), [blo, bhi]);
        assert.deepEqual(bootstrapInterval([], 50, 0.9, 100, createRng(1).next).map(Number.isNaN), [true, true]);
        assert.throws(() => bootstrapInterval(tight, 50, 1, 100, createRng(1).next), RangeError);
    });
});
