/**
 * soak.json: its shape, the RSS slope and the invariants a soak must hold (issue 20 §5). Pure: the
 * run (soak.ts) hands in what it measured.
 *
 * Units: MB are 2^20 bytes; sample times are ms from the session's start; slopes are MB per hour.
 */
import { round } from '../lib/stats';
import type { KindCounts, SettleOutcome } from './ledger';

/** The RSS slope after warm-up must stay under this (MB/hour). */
export const MAX_RSS_SLOPE_MB_PER_HOUR = 20;

/** Fewer samples after warm-up than this and the slope is not judged (null, and an invariant fails). */
export const MIN_SLOPE_SAMPLES = 5;

export interface MemorySample {
    /** ms from the session's start. */
    readonly atMs: number;
    /** Resident set size (process.memoryUsage().rss), MB. */
    readonly rssMB: number;
    /** Anonymous resident memory (Linux /proc/self/status RssAnon: heap, native allocations, KV caches), MB; undefined elsewhere. */
    readonly rssAnonMB?: number;
    /** V8 heap in use after a full collection, MB. */
    readonly heapUsedMB: number;
}

/**
 * Least-squares slope of y on x (y units per x unit), or null with fewer than two points or no
 * spread in x.
 */
export function leastSquaresSlope(xs: readonly number[], ys: readonly number[]): number | null {
    const n = Math.min(xs.length, ys.length);
    if (n < 2) return null;
    let mx = 0;
    let my = 0;
    for (let i = 0; i < n; i++) {
        mx += xs[i];
        my += ys[i];
    }
    mx /= n;
    my /= n;
    let sxy = 0;
    let sxx = 0;
    for (let i = 0; i < n; i++) {
        sxy += (xs[i] - mx) * (ys[i] - my);
        sxx += (xs[i] - mx) ** 2;
    }
    return sxx > 0 ? sxy / sxx : null;
}

/**
 * The slope (MB/hour) of `pick` over the samples taken at or after `warmupMs`, by least squares; null
 * with fewer than MIN_SLOPE_SAMPLES such samples.
 */
export function slopeMBPerHour(samples: readonly MemorySample[], warmupMs: number, pick: (s: MemorySample) => number | undefined = (s) => s.rssMB): number | null {
    const after = samples.filter((s) => s.atMs >= warmupMs && pick(s) !== undefined);
    if (after.length < MIN_SLOPE_SAMPLES) return null;
    const slope = leastSquaresSlope(
        after.map((s) => s.atMs / 3_600_000),
        after.map((s) => pick(s) as number),
    );
    return slope === null ? null : round(slope, 2);
}

export interface LifecycleCounts {
    /** Changes applied through Router.reconfigure, each later undone, by kind. */
    readonly changes: Readonly<Record<string, number>>;
}

export interface SoakReport {
    // The issue's keys, in its order.
    /** Minutes the session ran (less than asked when stopped early). */
    readonly minutes: number;
    readonly requests: number;
    /** Requests settled (resolved or rejected) by the end of the drain, before the router was disposed. */
    readonly settled: number;
    readonly rssMB: readonly number[];
    /** Least squares over the samples after warm-up; null when too few. */
    readonly rssSlopeMBPerHour: number | null;
    /** Sequences held (BackendStats.sequencesHeld) over every backend the router created, after the drain with the router idle. */
    readonly leakedSequences: number;
    /** Contexts open (BackendStats.contextsOpen) over every backend the router created, after the router was disposed (every model unloaded). */
    readonly leakedContexts: number;
    readonly unhandledRejections: number;
    // What the figures above rest on.
    readonly minutesRequested: number;
    readonly stoppedEarly: boolean;
    readonly seed: number;
    readonly models: string;
    /**
     * The allocator's settings from the environment (glibc reads MALLOC_* variables at start):
     * "default" or e.g. "MALLOC_MMAP_THRESHOLD_=131072". With glibc's default dynamic mmap threshold,
     * large buffers freed at a model's unload can stay in the process's heap (RSS) instead of going
     * back to the system; a fixed threshold returns them.
     */
    readonly allocator: string;
    /** Samples before this are warm-up, left out of the slope (ms from the start). */
    readonly warmupMs: number;
    readonly sampleEveryMs: number;
    /** Each rssMB sample's time (ms from the start), and the other memory figures at the same times. */
    readonly sampleAtMs: readonly number[];
    readonly rssAnonMB: readonly (number | null)[];
    readonly heapUsedMB: readonly number[];
    readonly rssAnonSlopeMBPerHour: number | null;
    readonly heapSlopeMBPerHour: number | null;
    /** Sampling ticks skipped because a lifecycle change was in effect or a model was not loaded. */
    readonly samplesSkipped: number;
    readonly outcomes: Readonly<Record<SettleOutcome, number>>;
    readonly byKind: Readonly<Record<string, KindCounts>>;
    readonly errors: ReadonlyArray<{ readonly message: string; readonly count: number }>;
    readonly lifecycle: LifecycleCounts;
    /** Trace epochs played (each a generated trace with its own seed). */
    readonly epochs: number;
    /** Backends the router created over the session (reloads and re-added models create new ones). */
    readonly backendsCreated: number;
    /** Contexts open with every model still loaded, after the drain (each loaded model's own). */
    readonly contextsOpenBeforeDispose: number;
    readonly drainMs: number;
    readonly loadavg1: { readonly start: number; readonly end: number; readonly cores: number };
    readonly routerLog: { readonly warnings: number; readonly errors: number; readonly last: readonly string[] };
    readonly failures: readonly string[];
}

/** The issue's keys of soak.json, in its order: a report starts with them. */
export const ISSUE_KEYS = ['minutes', 'requests', 'settled', 'rssMB', 'rssSlopeMBPerHour', 'leakedSequences', 'leakedContexts', 'unhandledRejections'] as const;

/** What a run measured, beside the memory samples (soak.ts). */
export type SoakMeasurements = Omit<
    SoakReport,
    'rssMB' | 'rssSlopeMBPerHour' | 'sampleAtMs' | 'rssAnonMB' | 'heapUsedMB' | 'rssAnonSlopeMBPerHour' | 'heapSlopeMBPerHour' | 'failures'
> & { readonly samples: readonly MemorySample[] };

/** soak.json from what a run measured: the samples' series and slopes, and the invariants' failures. */
export function soakReport(m: SoakMeasurements): SoakReport {
    const { samples, minutes, requests, settled, leakedSequences, leakedContexts, unhandledRejections, ...rest } = m;
    const body: Omit<SoakReport, 'failures'> = {
        minutes,
        requests,
        settled,
        rssMB: samples.map((s) => s.rssMB),
        rssSlopeMBPerHour: slopeMBPerHour(samples, m.warmupMs),
        leakedSequences,
        leakedContexts,
        unhandledRejections,
        ...rest,
        sampleAtMs: samples.map((s) => s.atMs),
        rssAnonMB: samples.map((s) => s.rssAnonMB ?? null),
        heapUsedMB: samples.map((s) => s.heapUsedMB),
        rssAnonSlopeMBPerHour: slopeMBPerHour(samples, m.warmupMs, (s) => s.rssAnonMB),
        heapSlopeMBPerHour: slopeMBPerHour(samples, m.warmupMs, (s) => s.heapUsedMB),
    };
    return { ...body, failures: invariantFailures(body) };
}

/** Why `report` fails the soak's invariants; empty when it holds them all. */
export function invariantFailures(report: Omit<SoakReport, 'failures'>): string[] {
    const out: string[] = [];
    if (report.requests !== report.settled) out.push(`${report.requests - report.settled} of ${report.requests} requests never settled`);
    if (report.leakedSequences !== 0) out.push(`${report.leakedSequences} sequences still held with every request settled and the router idle`);
    if (report.leakedContexts !== 0) out.push(`${report.leakedContexts} contexts still open after every model was unloaded`);
    if (report.unhandledRejections !== 0) out.push(`${report.unhandledRejections} unhandled promise rejections`);
    if (report.rssSlopeMBPerHour === null) out.push(`too few RSS samples after the warm-up to judge the slope (fewer than ${MIN_SLOPE_SAMPLES}; run longer)`);
    else if (report.rssSlopeMBPerHour >= MAX_RSS_SLOPE_MB_PER_HOUR) out.push(`RSS grew ${report.rssSlopeMBPerHour} MB/hour after the warm-up (limit ${MAX_RSS_SLOPE_MB_PER_HOUR})`);
    return out;
}
