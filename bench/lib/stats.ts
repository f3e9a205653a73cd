/**
 * Order statistics for latency samples. Percentiles use linear interpolation between closest
 * ranks (the "R-7" / NumPy default): p in [0, 100]; an empty sample gives NaN, never a made-up 0.
 */

export function percentile(values: readonly number[], p: number): number {
    if (values.length === 0) return Number.NaN;
    if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
    const sorted = [...values].sort((a, b) => a - b);
    return percentileSorted(sorted, p);
}

/** `sorted` must be ascending. */
export function percentileSorted(sorted: readonly number[], p: number): number {
    if (sorted.length === 0) return Number.NaN;
    const h = (sorted.length - 1) * (p / 100);
    const lo = Math.floor(h);
    const hi = Math.ceil(h);
    return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export interface Quantiles {
    readonly p50: number;
    readonly p95: number;
    readonly p99: number;
}

export function quantiles(values: readonly number[]): Quantiles {
    const sorted = [...values].sort((a, b) => a - b);
    return { p50: percentileSorted(sorted, 50), p95: percentileSorted(sorted, 95), p99: percentileSorted(sorted, 99) };
}

export function mean(values: readonly number[]): number {
    if (values.length === 0) return Number.NaN;
    let s = 0;
    for (const v of values) s += v;
    return s / values.length;
}

/** Rounds for reports: NaN becomes null in JSON anyway, so keep it NaN here. */
export function round(x: number, digits = 1): number {
    if (!Number.isFinite(x)) return x;
    const f = 10 ** digits;
    return Math.round(x * f) / f;
}

/**
 * A percentile bootstrap interval for the `p`-th percentile of `values`: the (1 - level) / 2 and
 * (1 + level) / 2 percentiles of that percentile over `resamples` resamples with replacement,
 * drawn from `next` (uniform in [0, 1)). How far one run's percentile could have landed from the
 * same run's samples alone: a median between two modes with few samples between them has a wide
 * one. Empty `values`: [NaN, NaN].
 */
export function bootstrapInterval(values: readonly number[], p: number, level: number, resamples: number, next: () => number): [number, number] {
    if (values.length === 0) return [Number.NaN, Number.NaN];
    if (!(level > 0 && level < 1)) throw new RangeError(`level must be in (0, 1), got ${level}`);
    const n = values.length;
    const stats = new Array<number>(resamples);
    const draw = new Array<number>(n);
    for (let b = 0; b < resamples; b++) {
        for (let i = 0; i < n; i++) draw[i] = values[Math.floor(next() * n)];
        draw.sort((x, y) => x - y);
        stats[b] = percentileSorted(draw, p);
    }
    stats.sort((x, y) => x - y);
    return [percentileSorted(stats, (100 * (1 - level)) / 2), percentileSorted(stats, (100 * (1 + level)) / 2)];
}
