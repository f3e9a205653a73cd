/**
 * Seeded pseudo-random numbers for the benchmark: traces and synthetic text are reproducible from
 * a seed. Mulberry32: 32-bit state, period 2^32, good enough for workload generation.
 */

export interface Rng {
    /** Uniform in [0, 1). */
    next(): number;
    /** Uniform integer in [lo, hi] (inclusive). */
    int(lo: number, hi: number): number;
    /** Uniform real in [lo, hi). */
    uniform(lo: number, hi: number): number;
    /** Log-normal with the given median and log-space sigma. */
    logNormal(median: number, sigma: number): number;
    /** True with probability p. */
    chance(p: number): boolean;
    pick<T>(items: readonly T[]): T;
}

export function createRng(seed: number): Rng {
    let state = seed >>> 0;
    const next = (): number => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const normal = (): number => {
        // Box-Muller; 1 - next() is in (0, 1], so the log is finite.
        const u = 1 - next();
        const v = next();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    };
    return {
        next,
        int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
        uniform: (lo, hi) => lo + next() * (hi - lo),
        logNormal: (median, sigma) => median * Math.exp(sigma * normal()),
        chance: (p) => next() < p,
        pick: (items) => items[Math.floor(next() * items.length)],
    };
}

/** Stable seeds from names (FNV-1a, 32 bits). */
export { fnv1a as hashString } from '../../src/core/hash';
