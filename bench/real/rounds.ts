/**
 * Real mode in interleaved rounds (issue 19 §4): the trace cut into segments at pauses in typing,
 * every policy run on the same segment in each round in a shuffled order, and the statistics over
 * rounds: each policy's ratio to another per round, their median and a bootstrap interval over
 * rounds, and every round's records pooled into one policy's metrics. A shared machine's speed
 * drifts by up to 2x within minutes (FINDINGS F49); policies that run minutes apart see different
 * machines, policies that run seconds apart in the same round nearly the same one, and a ratio
 * within a round cancels what the round's machine did to both. Pure: no clock, no models.
 * Units: ms.
 */
import type { RequestRecord } from '../replay/harness';
import { computeMetrics, waitedFor, type PolicyMetrics, type TokenTotals } from '../replay/metrics';
import { createRng } from '../lib/rng';
import { bootstrapInterval, percentile, quantiles } from '../lib/stats';
import type { Trace, TraceLine } from '../workload/trace';

export interface SegmentOptions {
    /** A segment runs at least this long (ms) before it is cut, at the next pause. */
    readonly targetMs: number;
    /**
     * A gap between consecutive keystrokes at least this long (ms) is a pause, the only place a cut
     * goes: no burst of typing is split, and a segment's last keystroke is one the user waited for
     * in the whole trace too (>= WAITED_FOR_GAP_MS).
     */
    readonly minPauseMs: number;
    /** A segment starts this long (ms) before its first keystroke, at most half the pause before it. */
    readonly leadMs: number;
    /**
     * Per embed line, how long the indexer spends on it (ms). With it, an embed line goes where a
     * sequential indexer reaches it: at its `t` or when the line before it is done, whichever is
     * later (the harness's embed stream), so that a workspace queued at once is indexed across the
     * segments its indexing spans instead of all in the first. Without it, at its own `t`.
     */
    readonly embedMs?: (line: TraceLine) => number;
    /**
     * With a value (ms): a segment that starts in the middle of typing a document (its first
     * keystroke's document was typed in before the cut) starts with a lead-in, the last keystroke
     * in that document before the cut, at 0, and its own lines this much later. In the whole trace
     * the keystrokes before the pause have read that document; without the lead-in every segment
     * would start with a cold read of its document, which the whole trace has only after a switch
     * of document. The lead-in is replayed but not measured (`Segment.leadIn`, `measured`).
     */
    readonly leadInMs?: number;
}

export interface Segment {
    /** 0-based, in trace order. */
    readonly index: number;
    /** Where the segment starts and ends in the source trace (ms); its own times are rebased to `fromMs`. */
    readonly fromMs: number;
    readonly toMs: number;
    /**
     * The trace: its first `leadIn` lines are the lead-in (at 0, not measured), the segment's own
     * lines follow, rebased to `fromMs` and shifted by `SegmentOptions.leadInMs` when there is one.
     */
    readonly trace: Trace;
    readonly leadIn: number;
}

/**
 * The trace cut into consecutive segments of at least `targetMs` (the last may be shorter, but not
 * shorter than half of it: then it joins the one before). Every line lands in exactly one segment,
 * by its time (an embed line by when the indexer reaches it, with `embedMs`); a segment's times are
 * rebased to its start, so each is a valid trace of its own. Focus events are not carried (add them
 * per segment with `withFocus`). A trace without a pause long enough is one segment.
 */
export function segmentTrace(trace: Trace, options: SegmentOptions): Segment[] {
    if (!(options.targetMs > 0)) throw new RangeError(`targetMs must be > 0, got ${options.targetMs}`);
    const at = placedTimes(trace.lines, options.embedMs);
    const keys = trace.lines.filter((l) => l.kind === 'completion');
    // Cut candidates: `leadMs` before the first keystroke after each pause (at most half the pause).
    const candidates: number[] = [];
    for (let i = 1; i < keys.length; i++) {
        const gap = keys[i].t - keys[i - 1].t;
        if (gap >= options.minPauseMs) candidates.push(keys[i].t - Math.min(options.leadMs, gap / 2));
    }
    const end = Math.max(0, ...at) + 1;
    const cuts = [0];
    for (const c of candidates) if (c - cuts[cuts.length - 1] >= options.targetMs) cuts.push(c);
    // A short tail joins the segment before it (every cut has a keystroke after it).
    if (cuts.length > 1 && end - cuts[cuts.length - 1] < options.targetMs / 2) cuts.pop();
    const bounds = [...cuts, Math.max(end, cuts[cuts.length - 1] + 1)];
    const segments: Segment[] = [];
    for (let k = 0; k + 1 < bounds.length; k++) {
        const from = bounds[k];
        const to = bounds[k + 1];
        const own = trace.lines
            .map((l, i) => ({ line: l, t: at[i], i }))
            .filter((x) => x.t >= from && x.t < to)
            // Stable by time: an embed line moved later may pass keystrokes; ties keep trace order.
            .sort((a, b) => a.t - b.t || a.i - b.i);
        const first = own.find((x) => x.line.kind === 'completion')?.line;
        const before = first && options.leadInMs !== undefined ? keys.filter((l) => l.doc === first.doc && l.t < from).at(-1) : undefined;
        const shift = before ? (options.leadInMs ?? 0) : 0;
        const lines = [...(before ? [{ ...before, t: 0 }] : []), ...own.map((x) => ({ ...x.line, t: Math.round(x.t - from + shift) }))];
        const name = `${trace.name} [segment ${k + 1}/${bounds.length - 1}: ${(from / 1000).toFixed(1)}-${(Math.min(to, end) / 1000).toFixed(1)} s${before ? `, lead-in ${shift} ms` : ''}]`;
        segments.push({ index: k, fromMs: from, toMs: to, trace: { name, lines }, leadIn: before ? 1 : 0 });
    }
    return segments;
}

/** A replay's records less the lead-in's (the first `leadIn` lines of its segment's trace). */
export function measured(records: readonly RequestRecord[], leadIn: number): RequestRecord[] {
    return records.filter((r) => r.index >= leadIn);
}

/**
 * A round's run from its replay's records and token totals: the records and every latency without
 * the lead-in's requests (`measured`), the token counts with them: the lead-in's read is what the
 * keystroke before the cut read in the whole trace, used by the keystrokes after it, not waste.
 */
export function roundRun(records: readonly RequestRecord[], leadIn: number, tokens: TokenTotals, objectiveMs: (r: RequestRecord) => number): RoundRun {
    const kept = measured(records, leadIn);
    const metrics = computeMetrics(kept, tokens, objectiveMs);
    if (leadIn === 0) return { records: kept, metrics };
    const all = computeMetrics(records, tokens, objectiveMs);
    return { records: kept, metrics: { ...metrics, ...wasteOf(all) } };
}

type Waste = Pick<PolicyMetrics, 'wastedTokens' | 'wastedShare' | 'wastedTokensIgnoringReuse' | 'wastedShareIgnoringReuse'>;

function wasteOf(m: PolicyMetrics): Waste {
    return { wastedTokens: m.wastedTokens, wastedShare: m.wastedShare, wastedTokensIgnoringReuse: m.wastedTokensIgnoringReuse, wastedShareIgnoringReuse: m.wastedShareIgnoringReuse };
}

/** Each line's time; embed lines where a sequential indexer reaches them (`SegmentOptions.embedMs`). */
function placedTimes(lines: readonly TraceLine[], embedMs: SegmentOptions['embedMs']): number[] {
    let free = 0;
    return lines.map((l) => {
        if (l.kind !== 'embed' || !embedMs) return l.t;
        const start = Math.max(l.t, free);
        free = start + embedMs(l);
        return start;
    });
}

/**
 * `rounds` orders of `items`, each a seeded shuffle (Fisher-Yates on one `createRng(seed)` stream):
 * which policy runs first in a round (on a machine that may be speeding up or slowing down) is
 * left to chance, the same chance for every run with the same seed.
 */
export function shuffledOrders<T>(items: readonly T[], rounds: number, seed: number): T[][] {
    const rng = createRng(seed);
    const out: T[][] = [];
    for (let r = 0; r < rounds; r++) {
        const order = [...items];
        for (let i = order.length - 1; i > 0; i--) {
            const j = rng.int(0, i);
            [order[i], order[j]] = [order[j], order[i]];
        }
        out.push(order);
    }
    return out;
}

/** A ratio over rounds: per round, the median over rounds, and a 90% bootstrap interval of that median. */
export interface RatioSummary {
    /** One per round; NaN where a round has no number for either side. */
    readonly perRound: number[];
    readonly median: number;
    readonly ci90: [number, number];
}

/** Bootstrap resamples over rounds. */
export const RATIO_RESAMPLES = 4000;

/**
 * The median of per-round ratios and its 90% percentile-bootstrap interval, resampling rounds
 * (bench/lib/stats.ts `bootstrapInterval`): how far the median could have landed had the machine
 * dealt other rounds. Rounds with a non-finite ratio are left out of both. With few rounds the
 * interval is coarse (with 6 it cannot be narrower than the middle rounds' spread) and honest about it.
 */
export function ratioSummary(perRound: readonly number[], next: () => number, resamples = RATIO_RESAMPLES): RatioSummary {
    const finite = perRound.filter((x) => Number.isFinite(x));
    return { perRound: [...perRound], median: percentile(finite, 50), ci90: bootstrapInterval(finite, 50, 0.9, resamples, next) };
}

/** The time-to-suggestion numbers a round's ratios are taken of. */
export const RATIO_QUANTITIES = ['waitedForP50', 'waitedForP95', 'servedP50', 'servedP95'] as const;
export type RatioQuantity = (typeof RATIO_QUANTITIES)[number];

export function quantity(s: PolicyMetrics['suggestion'], q: RatioQuantity): number {
    switch (q) {
        case 'waitedForP50':
            return s.waitedFor.p50;
        case 'waitedForP95':
            return s.waitedFor.p95;
        case 'servedP50':
            return s.served.p50;
        case 'servedP95':
            return s.served.p95;
    }
}

/** Per round, `num`'s time to suggestion `q` over `den`'s. */
export function roundRatios<P extends string>(rounds: ReadonlyArray<Readonly<Record<P, PolicyMetrics['suggestion']>>>, num: P, den: P, q: RatioQuantity): number[] {
    return rounds.map((r) => quantity(r[num], q) / quantity(r[den], q));
}

/** One round of one policy: what its replay recorded and the metrics of that alone. */
export interface RoundRun {
    readonly records: readonly RequestRecord[];
    readonly metrics: PolicyMetrics;
}

/** Virtual time between pooled rounds (ms), longer than any pause that counts. */
const POOL_GAP_MS = 60_000;

/**
 * One policy's metrics over all its rounds, as if one run: the rounds' records one after another
 * (each round's times offset past the end of the round before, by POOL_GAP_MS more), their
 * latencies, counts, explains, objectives and completions by model computed over all of them
 * (`computeMetrics`), and the token counts (computed, generated, wasted) summed over the rounds'
 * metrics, shares of the sums. Two things are per round, then merged: the
 * completions waited for (`waitedFor` within each round, its samples and unanswered pooled: a
 * round's last keystroke is waited for until it is answered or settles, not until the next
 * round's first), and indexing (`indexDoneMs`: each round's time from its start to its last embed
 * settling, summed; `chunksPerSec`: all chunks over the summed indexing spans).
 */
export function poolRounds(rounds: readonly RoundRun[], objectiveMs: (r: RequestRecord) => number): PolicyMetrics {
    const records: RequestRecord[] = [];
    let offset = 0;
    for (const r of rounds) {
        let span = 0;
        for (const rec of r.records) {
            records.push(shifted(rec, offset));
            span = Math.max(span, rec.keystrokeAt, rec.endAt ?? 0, rec.suggestionAt ?? 0);
        }
        offset += span + POOL_GAP_MS;
    }
    const computed = sum(rounds.map((r) => r.metrics.computedTokens));
    const all = computeMetrics(records, { computed, generated: sum(rounds.map((r) => r.metrics.generatedTokens)), recovered: 0 }, objectiveMs);
    const wasted = sum(rounds.map((r) => r.metrics.wastedTokens));
    const wastedIgnoringReuse = sum(rounds.map((r) => r.metrics.wastedTokensIgnoringReuse));
    const comps = rounds.map((r) => r.records.filter((x) => x.kind === 'completion'));
    const bySuggestion = comps.map((c) => waitedFor(c, (x) => x.suggestionAt));
    const byFirstToken = comps.map((c) => waitedFor(c, (x) => x.firstTokenAt));
    const suggestionSamples = bySuggestion.flatMap((w) => w.samples).sort((a, b) => a - b);
    const firstTokenSamples = byFirstToken.flatMap((w) => w.samples);
    let chunks = 0;
    let spanMs = 0;
    for (const r of rounds) {
        const embeds = r.records.filter((x) => x.kind === 'embed');
        if (embeds.length === 0) continue;
        chunks += r.metrics.embed.chunks;
        spanMs += Math.max(...embeds.map((x) => x.endAt ?? 0)) - Math.min(...embeds.map((x) => x.submitAt ?? x.keystrokeAt));
    }
    return {
        ...all,
        wastedTokens: wasted,
        wastedShare: computed > 0 ? wasted / computed : 0,
        wastedTokensIgnoringReuse: wastedIgnoringReuse,
        wastedShareIgnoringReuse: computed > 0 ? wastedIgnoringReuse / computed : 0,
        completion: {
            ...all.completion,
            waitedForMs: { ...quantiles(firstTokenSamples), n: firstTokenSamples.length, unanswered: sum(byFirstToken.map((w) => w.unanswered)) },
        },
        suggestion: {
            served: all.suggestion.served,
            waitedFor: { ...quantiles(suggestionSamples), n: suggestionSamples.length, unanswered: sum(bySuggestion.map((w) => w.unanswered)) },
        },
        embed: { chunks, chunksPerSec: spanMs > 0 ? chunks / (spanMs / 1000) : 0, indexDoneMs: sum(rounds.map((r) => r.metrics.embed.indexDoneMs)) },
        suggestionWaitedForSamples: suggestionSamples,
    };
}

/** The token totals `computeMetrics` made `m` from (recovered: wasted = wastedIgnoringReuse - recovered). */
export function tokenTotals(m: PolicyMetrics): TokenTotals {
    return { computed: m.computedTokens, generated: m.generatedTokens, recovered: m.wastedTokensIgnoringReuse - m.wastedTokens };
}

function shifted(r: RequestRecord, by: number): RequestRecord {
    const s = (x: number | undefined): number | undefined => (x === undefined ? undefined : x + by);
    return { ...r, keystrokeAt: r.keystrokeAt + by, submitAt: s(r.submitAt), suggestionAt: s(r.suggestionAt), firstTokenAt: s(r.firstTokenAt), endAt: s(r.endAt) };
}

function sum(xs: readonly number[]): number {
    return xs.reduce((a, x) => a + x, 0);
}
