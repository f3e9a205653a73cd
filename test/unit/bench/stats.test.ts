import * as assert from 'node:assert/strict';
import { mean, percentile, percentileSorted, quantiles } from '../../../bench/stats';

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
});
