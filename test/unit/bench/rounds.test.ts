import * as assert from 'node:assert/strict';
import { createRng } from '../../../bench/lib/rng';
import { percentile } from '../../../bench/lib/stats';
import { measured, poolRounds, ratioSummary, roundRatios, roundRun, segmentTrace, shuffledOrders, type RoundRun } from '../../../bench/real/rounds';
import type { RequestRecord } from '../../../bench/replay/harness';
import { computeMetrics, type PolicyMetrics } from '../../../bench/replay/metrics';
import { loadTraceFile, shippedTrace } from '../../../bench/workload/files';
import { parseTrace, serializeTrace, type Trace, type TraceLine } from '../../../bench/workload/trace';

const key = (t: number, doc = 'a.ts'): TraceLine => ({ t, kind: 'completion', doc, promptTokens: 100, maxTokens: 8, items: 1 });
const embed = (t: number, items: number): TraceLine => ({ t, kind: 'embed', doc: `w/${t}-${items}.ts`, promptTokens: 96, maxTokens: 0, items });
const explain = (t: number): TraceLine => ({ t, kind: 'explain', doc: 'a.ts', promptTokens: 200, maxTokens: 48, items: 1 });

/** Bursts of three keystrokes 100 ms apart, every `every` ms from `from`. */
function bursts(from: number, count: number, every: number): TraceLine[] {
    const out: TraceLine[] = [];
    for (let b = 0; b < count; b++) for (let k = 0; k < 3; k++) out.push(key(from + b * every + k * 100));
    return out;
}

describe('bench real rounds: segments', () => {
    const options = { targetMs: 5_000, minPauseMs: 1_000, leadMs: 300 };

    it('cuts only at pauses, keeps every line once, rebases times, and each segment is a valid trace', () => {
        const lines = [...bursts(300, 12, 2_000), explain(9_000)].sort((a, b) => a.t - b.t);
        const trace: Trace = { name: 't', lines };
        const segs = segmentTrace(trace, options);
        assert.ok(segs.length >= 3, `${segs.length} segments`);
        // Every line once, at its time less the segment's start.
        const back = segs.flatMap((s) => s.trace.lines.map((l) => ({ ...l, t: l.t + s.fromMs })));
        assert.deepEqual(back, lines);
        for (const [i, s] of segs.entries()) {
            assert.equal(s.index, i);
            if (i > 0) assert.equal(s.fromMs, segs[i - 1].toMs);
            assert.deepEqual(parseTrace(s.trace.name, serializeTrace(s.trace.lines)).lines, s.trace.lines);
            assert.ok(s.trace.lines[0].t >= 0);
            // No burst split: a segment starts at a pause, 300 ms before its first keystroke.
            const firstKey = s.trace.lines.find((l) => l.kind === 'completion');
            if (i > 0) assert.equal(firstKey?.t, 300);
            // All but the last at least the target long.
            if (i < segs.length - 1) assert.ok(s.toMs - s.fromMs >= options.targetMs);
        }
        assert.equal(segs[0].fromMs, 0, 'the first segment keeps the trace start');
    });

    it('a short tail joins the segment before; no pause at all gives one segment', () => {
        // Cuts go at 5.7 s and 11.7 s; the tail after 11.7 s (one burst, 0.5 s) is under half the target.
        const lines = [...bursts(0, 4, 2_000), ...bursts(12_000, 1, 2_000)];
        const segs = segmentTrace({ name: 't', lines }, { ...options, targetMs: 5_500 });
        assert.deepEqual(
            segs.map((s) => [s.fromMs, s.toMs]),
            [
                [0, 5_700],
                [5_700, 12_201],
            ],
        );
        // Three bursts after 11.7 s (4.5 s): a segment of their own.
        const long = [...bursts(0, 4, 2_000), ...bursts(12_000, 3, 2_000)];
        assert.equal(segmentTrace({ name: 't', lines: long }, { ...options, targetMs: 5_500 }).length, 3);
        const typing: TraceLine[] = Array.from({ length: 100 }, (_, i) => key(i * 200));
        assert.equal(segmentTrace({ name: 't', lines: typing }, options).length, 1);
    });

    it('places a workspace queued at once where a sequential indexer reaches each file', () => {
        const lines = [...Array.from({ length: 10 }, () => embed(300, 2)), ...bursts(400, 10, 2_000)].sort((a, b) => a.t - b.t);
        const trace: Trace = { name: 't', lines };
        const atOwnTime = segmentTrace(trace, options);
        assert.equal(atOwnTime[0].trace.lines.filter((l) => l.kind === 'embed').length, 10, 'without a cost: all in the first segment');
        // 1 s a file: files start at 0.3, 1.3, ..., 9.3 s, in the segments those times fall in.
        const spread = segmentTrace(trace, { ...options, embedMs: () => 1_000 });
        const counts = spread.map((s) => s.trace.lines.filter((l) => l.kind === 'embed').length);
        assert.equal(counts.reduce((a, b) => a + b, 0), 10);
        assert.ok(counts[0] < 10 && counts[1] > 0, `spread: ${counts.join(', ')}`);
        for (const s of spread) {
            for (let i = 1; i < s.trace.lines.length; i++) assert.ok(s.trace.lines[i].t >= s.trace.lines[i - 1].t, 'time-ordered');
            for (const l of s.trace.lines.filter((x) => x.kind === 'embed')) assert.equal((l.t + s.fromMs - 300) % 1_000, 0);
        }
    });

    it('a segment that starts in the middle of typing a document first replays the keystroke before the cut there', () => {
        // Typing in a.ts, then b.ts from 6 s, then a.ts again from 12 s.
        const lines = [...bursts(0, 3, 2_000), ...bursts(6_000, 3, 2_000).map((l) => ({ ...l, doc: 'b.ts' })), ...bursts(12_000, 3, 2_000)];
        const segs = segmentTrace({ name: 't', lines }, { ...options, targetMs: 1_500, leadInMs: 1_000 });
        assert.equal(segs[0].leadIn, 0, 'the trace start is cold in the whole trace too');
        for (const s of segs.slice(1)) {
            const first = s.trace.lines[s.leadIn];
            const own = lines.filter((l) => l.t >= s.fromMs && l.t < s.toMs);
            if (s.leadIn === 0) {
                // Only where b.ts is first typed: cold in the whole trace too.
                assert.equal(first.doc, 'b.ts');
                assert.equal(s.fromMs, 5_700);
                assert.deepEqual(s.trace.lines, own.map((l) => ({ ...l, t: l.t - s.fromMs })));
                continue;
            }
            const lead = s.trace.lines[0];
            assert.equal(lead.t, 0);
            assert.equal(lead.doc, first.doc);
            const before = lines.filter((l) => l.doc === first.doc && l.t < s.fromMs).at(-1);
            assert.deepEqual({ ...lead, t: before?.t }, before, 'the last keystroke in that document before the cut');
            assert.deepEqual(s.trace.lines.slice(1), own.map((l) => ({ ...l, t: l.t - s.fromMs + 1_000 })), 'its own lines, 1 s later');
        }
        assert.ok(segs.some((s) => s.leadIn === 1 && s.trace.lines[0].doc === 'a.ts' && s.fromMs === 11_700), 'back to a.ts: read before');
        const records = [0, 1, 2].map((index) => ({ index }) as RequestRecord);
        assert.deepEqual(measured(records, 1).map((r) => r.index), [1, 2]);
    });

    it('cuts the shipped real trace into segments of typing, the indexing in the first ones', () => {
        const trace = loadTraceFile(shippedTrace('real-typing-indexing'), 1);
        const segs = segmentTrace(trace, { ...options, embedMs: (l) => l.items * 100 });
        assert.ok(segs.length >= 6, `${segs.length}`);
        assert.equal(
            segs.reduce((a, s) => a + s.trace.lines.length, 0),
            trace.lines.length,
        );
        for (const s of segs) assert.ok(s.trace.lines.some((l) => l.kind === 'completion'));
        assert.ok(segs[1].trace.lines.some((l) => l.kind === 'embed'), 'indexing spans more than the first segment');
    });
});

describe('bench real rounds: orders', () => {
    it('every round is a permutation; the same seed gives the same orders, another seed others', () => {
        const items = ['static', 'static-nodebounce', 'round-robin', 'least-busy', 'lowest-latency', 'zeta', 'isolated'];
        const orders = shuffledOrders(items, 8, 42);
        assert.equal(orders.length, 8);
        for (const o of orders) assert.deepEqual([...o].sort(), [...items].sort());
        assert.deepEqual(shuffledOrders(items, 8, 42), orders);
        assert.notDeepEqual(shuffledOrders(items, 8, 43), orders);
        assert.ok(new Set(orders.map((o) => o.join())).size > 1, 'rounds differ');
        assert.ok(new Set(orders.map((o) => o[0])).size > 1, 'no policy always goes first');
        assert.deepEqual(items[0], 'static', 'the input is not shuffled in place');
    });
});

describe('bench real rounds: ratios over rounds', () => {
    it('median over rounds with a bootstrap interval around it; rounds without a number are left out', () => {
        const perRound = [0.5, 0.6, 0.55, 0.7, Number.NaN, 0.65];
        const s = ratioSummary(perRound, createRng(3).next);
        assert.equal(s.median, percentile([0.5, 0.6, 0.55, 0.7, 0.65], 50));
        assert.ok(s.ci90[0] <= s.median && s.median <= s.ci90[1]);
        assert.ok(s.ci90[0] >= 0.5 && s.ci90[1] <= 0.7);
        assert.equal(s.perRound.length, 6);
        assert.deepEqual(ratioSummary(perRound, createRng(3).next), s, 'seeded');
        const flat = ratioSummary([0.8, 0.8, 0.8], createRng(1).next);
        assert.deepEqual([flat.median, ...flat.ci90], [0.8, 0.8, 0.8]);
        const none = ratioSummary([Number.NaN], createRng(1).next);
        assert.ok(Number.isNaN(none.median) && Number.isNaN(none.ci90[1]));
    });

    it('one bad round moves the interval, not the median', () => {
        const steady = ratioSummary([0.6, 0.62, 0.58, 0.61, 0.59, 0.6, 0.63], createRng(5).next);
        const oneBad = ratioSummary([0.6, 0.62, 0.58, 1.8, 0.59, 0.6, 0.63], createRng(5).next);
        assert.ok(Math.abs(oneBad.median - steady.median) < 0.02);
        assert.ok(oneBad.ci90[1] < 1, `one round of seven does not lift the upper end past 1: ${oneBad.ci90[1]}`);
    });

    it('takes each round ratio of the chosen quantity', () => {
        const sugg = (w95: number, s95: number): PolicyMetrics['suggestion'] => ({
            waitedFor: { p50: w95 / 2, p95: w95, p99: w95, n: 3, unanswered: 0 },
            served: { p50: s95 / 2, p95: s95, p99: s95, n: 3 },
        });
        const rounds = [
            { zeta: sugg(100, 80), static: sugg(400, 200) },
            { zeta: sugg(300, 90), static: sugg(600, 300) },
        ];
        assert.deepEqual(roundRatios(rounds, 'zeta', 'static', 'waitedForP95'), [0.25, 0.5]);
        assert.deepEqual(roundRatios(rounds, 'zeta', 'static', 'servedP95'), [0.4, 0.3]);
        assert.deepEqual(roundRatios(rounds, 'zeta', 'static', 'waitedForP50'), [0.25, 0.5]);
    });
});

describe('bench real rounds: pooling', () => {
    const completion = (index: number, keystrokeAt: number, answerMs: number | undefined, endMs: number): RequestRecord =>
        ({
            index,
            line: { t: keystrokeAt, kind: 'completion', doc: 'a', promptTokens: 10, maxTokens: 8, items: 1 },
            kind: 'completion',
            keystrokeAt,
            submitAt: keystrokeAt,
            ...(answerMs === undefined ? { outcome: 'cancelled' } : { firstTokenAt: keystrokeAt + answerMs / 2, suggestionAt: keystrokeAt + answerMs, outcome: 'served', modelId: 'coder', promptTokens: 10, generatedTokens: 8 }),
            endAt: keystrokeAt + endMs,
        }) as RequestRecord;
    const embedRec = (index: number, at: number, ms: number, items: number): RequestRecord =>
        ({ index, line: embed(at, items), kind: 'embed', keystrokeAt: at, submitAt: at, firstTokenAt: at + ms, endAt: at + ms, outcome: 'served' }) as RequestRecord;
    const round = (records: RequestRecord[], tokens = { computed: 100, generated: 20, recovered: 5 }): RoundRun => ({ records, metrics: computeMetrics(records, tokens, () => 1_000) });

    it('merges the rounds as one run: waited-for per round, counts, tokens and indexing summed', () => {
        // Round 1: a keystroke superseded 100 ms later, then one answered in 40 ms; indexing 2 s.
        const r1 = round([completion(0, 0, undefined, 100), completion(1, 100, 40, 60), embedRec(2, 0, 2_000, 4)]);
        // Round 2: its last keystroke never answered: it counts until it settled (700 ms), not until a next round.
        const r2 = round([completion(0, 300, 200, 250), completion(1, 1_500, undefined, 700)], { computed: 50, generated: 10, recovered: 0 });
        const pooled = poolRounds([r1, r2], () => 1_000);
        assert.deepEqual(pooled.suggestionWaitedForSamples, [40, 200, 700]);
        assert.equal(pooled.suggestion.waitedFor.n, 3);
        assert.equal(pooled.suggestion.waitedFor.unanswered, 1);
        assert.equal(pooled.suggestion.waitedFor.p50, 200);
        assert.equal(pooled.suggestion.served.n, 2);
        assert.equal(pooled.completion.waitedForMs.n, 3);
        assert.equal(pooled.completion.served, 2);
        assert.equal(pooled.completion.cancelled, 2);
        assert.equal(pooled.computedTokens, 150);
        assert.equal(pooled.generatedTokens, 30);
        assert.equal(pooled.wastedTokens, r1.metrics.wastedTokens + r2.metrics.wastedTokens);
        assert.equal(pooled.embed.chunks, 4);
        assert.equal(pooled.embed.indexDoneMs, 2_000);
        assert.equal(pooled.embed.chunksPerSec, 2);
        assert.equal(pooled.completionsByModelCount.coder, 2);
        // The same as each round's own numbers where a round is alone.
        assert.deepEqual(poolRounds([r1], () => 1_000).suggestion, r1.metrics.suggestion);
    });

    it("a round's lead-in is replayed, not measured: out of its latencies, but its read is no waste", () => {
        // The lead-in (line 0) answered in 900 ms, then the segment's own keystroke in 30 ms.
        const records = [completion(0, 0, 900, 950), completion(1, 2_000, 30, 40)];
        // Both served 10 prompt + 8 generated tokens: 36 computed, all used.
        const r = roundRun(records, 1, { computed: 36, generated: 16, recovered: 0 }, () => 1_000);
        assert.deepEqual(r.records.map((x) => x.index), [1]);
        assert.deepEqual(r.metrics.suggestionWaitedForSamples, [30]);
        assert.equal(r.metrics.completion.served, 1);
        assert.equal(r.metrics.wastedTokens, 0);
        assert.equal(r.metrics.computedTokens, 36);
        assert.equal(poolRounds([r, r], () => 1_000).wastedTokens, 0);
        // Without a lead-in: the records as they are.
        assert.deepEqual(roundRun(records, 0, { computed: 36, generated: 16, recovered: 0 }, () => 1_000).metrics.suggestionWaitedForSamples, [30, 900]);
    });
});
