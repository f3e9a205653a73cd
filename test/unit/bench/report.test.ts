import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TASK_KINDS, type RoutingSettings } from '../../../src/core/tasks';
import { BENCH_POLICIES, type BenchPolicy } from '../../../bench/policies';
import { suggestionMetrics, waitedFor, WAITED_FOR_GAP_MS } from '../../../bench/replay/metrics';
import type { RequestRecord } from '../../../bench/replay/harness';
import { loadProfile } from '../../../bench/sim/speedProfile';
import { policyReport, type PolicyReport, type Report } from '../../../bench/report/report';
import { evaluateTargets } from '../../../bench/report/targets';
import { writeReport } from '../../../bench/report/write';
import { runSim } from '../../../bench/sim/run';
import { cdfChart, niceStep } from '../../../bench/report/svg';
import { parseTrace, type Trace } from '../../../bench/workload/trace';
import { createMiniRouter } from './miniRouter';

const ROOT = join(__dirname, '..', '..', '..');

const SETTINGS: RoutingSettings = {
    policy: 'static',
    levers: { prefixAffinity: true, pauseOthers: true, holdSupersedable: true, spill: true, forecastHeadroom: true, coldStart: true },
    taskClasses: Object.fromEntries(TASK_KINDS.map((k) => [k, { priority: 1, objectiveFactor: 4 }])) as RoutingSettings['taskClasses'],
    maxQueue: 64,
    keepAliveMs: 60_000,
    memoryBudgetBytes: undefined,
    cooldownMs: 1000,
    embedBatchSize: 8,
    learnFromFeedback: false,
};

/** The first 12 s of the real-mode typing trace: small enough for a unit test. */
function smallTrace(): Trace {
    const t = parseTrace('real-typing-indexing', readFileSync(join(ROOT, 'bench', 'traces', 'real-typing-indexing.jsonl'), 'utf8'));
    return { name: t.name, lines: t.lines.filter((l) => l.t < 12_000) };
}

describe('bench harness on the simulator', () => {
    it('every request settles, and a run is deterministic', async function () {
        this.timeout(30_000);
        const profile = loadProfile(join(ROOT, 'bench', 'profiles', 'local-generated.json'));
        const trace = smallTrace();
        const a = await runSim(trace, profile, SETTINGS, createMiniRouter);
        assert.equal(a.replay.hung, 0);
        assert.equal(a.replay.records.length, trace.lines.length);
        assert.ok(a.replay.records.every((r) => r.outcome === 'served' || r.outcome === 'cancelled'));
        const c = a.metrics.completion;
        assert.equal(c.served + c.cancelled + c.dropped + c.failed + c.hung, trace.lines.filter((l) => l.kind === 'completion').length);
        assert.ok(c.served > 0 && c.cancelled > 0);
        assert.ok(a.metrics.wastedTokens > 0 && a.metrics.wastedShare > 0 && a.metrics.wastedShare < 1);
        assert.ok(a.metrics.embed.chunks > 0 && a.metrics.embed.chunksPerSec > 0);
        const b = await runSim(trace, profile, SETTINGS, createMiniRouter);
        assert.deepEqual(b.metrics, a.metrics);
    });

    it('keystrokes go through the completion pipeline: a suggestion comes after its request, which comes after the keystroke and its debounce', async function () {
        this.timeout(30_000);
        const profile = loadProfile(join(ROOT, 'bench', 'profiles', 'local-generated.json'));
        const trace = smallTrace();
        const fixed = { prefixTokens: 512, suffixTokens: 128, maxTokens: 64, debounceMinMs: 350, debounceMaxMs: 350 };
        const r = await runSim(trace, profile, SETTINGS, createMiniRouter, { completion: fixed });
        const comps = r.replay.records.filter((x) => x.kind === 'completion');
        const shown = comps.filter((x) => x.suggestionAt !== undefined);
        assert.ok(shown.length > 0, 'no suggestion');
        for (const x of shown) {
            assert.equal(x.debounceMs, 350);
            assert.ok(x.submitAt !== undefined && x.submitAt >= x.keystrokeAt + 350, `submitted at ${x.submitAt} for a keystroke at ${x.keystrokeAt}`);
            assert.ok((x.suggestionAt as number) >= (x.firstTokenAt as number) && (x.firstTokenAt as number) >= x.submitAt);
        }
        // A keystroke followed by another within the debounce never reaches the router.
        const byTime = [...comps].sort((a, b) => a.keystrokeAt - b.keystrokeAt);
        const quick = byTime.filter((x, i) => i + 1 < byTime.length && byTime[i + 1].keystrokeAt - x.keystrokeAt < 300 && byTime[i + 1].line.doc === x.line.doc);
        assert.ok(quick.length > 0);
        assert.ok(quick.every((x) => x.submitAt === undefined && x.outcome === 'cancelled'));
        assert.deepEqual(r.metrics.suggestion, suggestionMetrics(comps));
        assert.equal(r.metrics.suggestion.served.n, shown.length);
        // Without a debounce the same trace sends more requests and shows suggestions sooner.
        const eager = await runSim(trace, profile, SETTINGS, createMiniRouter, { completion: { ...fixed, debounceMinMs: 0, debounceMaxMs: 0 } });
        assert.ok(eager.replay.records.filter((x) => x.submitAt !== undefined && x.kind === 'completion').length > comps.filter((x) => x.submitAt !== undefined).length);
        assert.ok(eager.metrics.suggestion.waitedFor.p50 < r.metrics.suggestion.waitedFor.p50);
    });
});

/** Policies whose time to suggestion (waited for) has p95 `tts[p]` (default 100) and p50 half of it. */
function fakeReport(tts: Partial<Record<BenchPolicy, number>>, over: Partial<PolicyReport> = {}): Record<BenchPolicy, PolicyReport> {
    const out = {} as Record<BenchPolicy, PolicyReport>;
    for (const p of BENCH_POLICIES) {
        const v = tts[p] ?? 100;
        out[p] = {
            completion: { firstTokenMs: { p50: v / 4, p95: v / 2, p99: v }, totalMs: { p50: v, p95: 2 * v, p99: 3 * v }, served: 10, cancelled: 5, dropped: 0, failed: 0, hung: 0, meanPromptTokens: 500, reusedShare: 0.8, meanQueuedMs: 1, firstTokenAllMs: { p50: 1, p95: 2, p99: 3, n: 20 }, waitedForMs: { p50: v / 4, p95: v / 2, p99: v / 2, n: 8, unanswered: 1 } },
            suggestion: { served: { p50: v / 2, p95: v, p99: v, n: 10 }, waitedFor: { p50: v / 2, p95: v, p99: 1.5 * v, n: 8, unanswered: 1 } },
            generatedTokens: 100,
            wastedTokens: 10,
            wastedShare: p === 'zeta' ? 0.1 : 0.5,
            wastedTokensIgnoringReuse: 20,
            wastedShareIgnoringReuse: p === 'zeta' ? 0.2 : 0.6,
            computedTokens: 1000,
            completionsByModel: { coder: p === 'zeta' ? 0.9 : 1, embedder: 0, reasoner: 0 },
            completionsByModelCount: { coder: 9, embedder: 1, reasoner: 0 },
            explain: { firstTokenMs: { p50: 100, p95: 200 }, served: 2, dropped: 0 },
            embed: { chunksPerSec: 10, indexDoneMs: 1000, chunks: 10 },
            objectiveAttainment: 0.9,
            ...over,
        };
    }
    return out;
}

describe('bench metrics: the completions the user waited for', () => {
    const rec = (index: number, keystrokeAt: number, answerMs?: number, endMs?: number): RequestRecord =>
        ({
            index,
            line: { t: keystrokeAt, kind: 'completion', doc: 'a', promptTokens: 10, maxTokens: 8, items: 1 },
            kind: 'completion',
            keystrokeAt,
            ...(answerMs === undefined ? {} : { firstTokenAt: keystrokeAt + answerMs / 2, suggestionAt: keystrokeAt + answerMs }),
            ...(endMs === undefined ? {} : { endAt: keystrokeAt + endMs }),
        }) as RequestRecord;

    it('takes the keystrokes before a pause, whatever the policy served; an unanswered one counts as its whole pause', () => {
        const gap = WAITED_FOR_GAP_MS;
        const records = [
            rec(0, 0), // superseded 100 ms later: not waited for
            rec(1, 100, 30), // then a pause of 2 s: waited for, answered in 30 ms
            rec(2, 2_100), // then 100 ms: not waited for
            rec(3, 2_200, undefined, gap + 300), // a pause of gap + 300 ms and no answer: counts as the pause
            rec(4, 2_200 + gap + 300, 40, 90), // the last keystroke: answered in 40 ms
            rec(5, 10_000, 3_000), // answered only after the next keystroke: the pause counts, unanswered
            rec(6, 12_000, 10),
        ];
        // Shuffled input, same answer (the records are ordered by keystroke).
        const w = waitedFor([records[3], records[0], records[4], records[2], records[1], records[6], records[5]], (r) => r.suggestionAt);
        assert.deepEqual(w.samples, [30, gap + 300, 40, 2_000, 10]);
        assert.equal(w.unanswered, 2);
        // First tokens: the same keystrokes, another answer time.
        assert.deepEqual(waitedFor(records, (r) => r.firstTokenAt).samples, [15, gap + 300, 20, 1_500, 5]);
        // The last keystroke unanswered: it waited until its request settled.
        assert.deepEqual(waitedFor([rec(0, 0, undefined, 1_234)], (r) => r.suggestionAt), { samples: [1_234], unanswered: 1 });
        const m = suggestionMetrics(records);
        assert.equal(m.served.n, 4);
        assert.equal(m.waitedFor.n, 5);
        assert.equal(m.waitedFor.unanswered, 2);
    });
});

/** A report around `policies` with fixed run details and no targets (the caller adds its own). */
function reportOf(mode: Report['mode'], policies: Record<BenchPolicy, PolicyReport>): Report {
    return {
        mode,
        trace: 'x',
        seed: 1,
        profile: 'p',
        generatedAt: 'now',
        command: `npm run bench -- --mode ${mode}`,
        policies,
        isolated: { completion: { firstTokenMs: { p50: 1, p95: 2, p99: 3 }, served: 3 }, suggestion: policies.zeta.suggestion },
        decisionCostUs: { p50: 1, p99: 2, decisions: 100000, models: 3, how: 'test' },
        targets: [],
        environment: {},
        runtimeMs: 1,
    };
}

describe('bench report', () => {
    it('evaluates the time-to-suggestion targets and their guards from the numbers', () => {
        const iso = { p50: 40, p95: 80 };
        const t = evaluateTargets('sim', fakeReport({ static: 200, 'static-nodebounce': 100, 'round-robin': 150, zeta: 90 }), iso, 3);
        const byId = Object.fromEntries(t.map((x) => [x.id, x]));
        assert.equal(byId['tts-p95-vs-static'].met, true); // 90 <= 120
        assert.equal(byId['tts-p50-vs-static'].met, true); // 45 <= 60
        assert.equal(byId['tts-p95-vs-nodebounce'].met, true); // 90 <= 90
        assert.equal(byId['tts-p95-vs-others'].met, false); // least-busy / lowest-latency at 100: 90 > 80
        assert.equal(byId['tts-p95-vs-isolated'].met, true); // 90 <= 96
        assert.equal(byId['tts-p50-vs-isolated'].met, true); // 45 <= 48
        assert.equal(byId['coder-share'].met, true);
        assert.equal(byId['explain-p95'].met, true);
        assert.equal(byId['index-done'].met, true);
        assert.equal(byId['decision-cost'].met, true);
        assert.equal(t.some((x) => x.id === 'wasted-share'), false, 'waste is reported, not a target');
        assert.equal(evaluateTargets('sim', fakeReport({ zeta: 90 }), iso, 60).find((x) => x.id === 'decision-cost')?.met, false);
        const slowExplain = fakeReport({ zeta: 90 });
        const z = slowExplain.zeta;
        slowExplain.zeta = { ...z, explain: { ...z.explain, firstTokenMs: { p50: 100, p95: 201 } } };
        assert.equal(evaluateTargets('sim', slowExplain, iso, 3).find((x) => x.id === 'explain-p95')?.met, false);
        const real = evaluateTargets('real', fakeReport({ zeta: 99 }), iso, 3, { zeta: { realP50: 100, simP50: 140, ratio: 1.4, within30: false, realAllP50: 100, simAllP50: 110, allRatio: 1.1 } });
        assert.equal(real.find((x) => x.id === 'sim-fidelity')?.met, false);
        assert.equal(real.find((x) => x.id === 'tts-p95-vs-static'), undefined);
    });

    it('writes report.json with the shape issue 4 relies on, report.md and SVG charts', () => {
        const dir = mkdtempSync(join(tmpdir(), 'zeta-bench-'));
        const policies = fakeReport({ static: 200, zeta: 90 });
        const report: Report = { ...reportOf('sim', policies), ablation: { spill: policies.zeta }, targets: evaluateTargets('sim', policies, { p50: 2, p95: 2 }, 2) };
        writeReport(dir, report, { suggestion: [{ name: 'zeta', values: [1, 2, 3] }, { name: 'static', values: [] }] }, ['a note']);
        const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Record<string, unknown>;
        assert.equal(json.mode, 'sim');
        assert.equal(json.trace, 'x');
        assert.equal(json.seed, 1);
        const pol = json.policies as Record<string, Record<string, unknown>>;
        assert.deepEqual(Object.keys(pol).sort(), [...BENCH_POLICIES].sort());
        for (const p of BENCH_POLICIES) {
            const r = pol[p];
            const c = r.completion as Record<string, Record<string, number> | number>;
            for (const q of ['p50', 'p95', 'p99']) {
                assert.equal(typeof (c.firstTokenMs as Record<string, number>)[q], 'number');
                assert.equal(typeof (c.totalMs as Record<string, number>)[q], 'number');
            }
            for (const k of ['served', 'cancelled', 'dropped']) assert.equal(typeof c[k], 'number');
            for (const k of ['generatedTokens', 'wastedTokens', 'wastedShare', 'objectiveAttainment']) assert.equal(typeof r[k], 'number');
            assert.deepEqual(Object.keys(r.completionsByModel as object).sort(), ['coder', 'embedder', 'reasoner']);
            const ex = (r.explain as Record<string, Record<string, number>>).firstTokenMs;
            assert.equal(typeof ex.p50, 'number');
            assert.equal(typeof ex.p95, 'number');
            // Issue 19's shape: time to suggestion, served and waited for.
            const sug = r.suggestion as Record<string, Record<string, number>>;
            for (const q of ['p50', 'p95', 'p99', 'n']) {
                assert.equal(typeof sug.served[q], 'number');
                assert.equal(typeof sug.waitedFor[q], 'number');
            }
            assert.equal(typeof sug.waitedFor.unanswered, 'number');
            const em = r.embed as Record<string, number>;
            assert.equal(typeof em.chunksPerSec, 'number');
            assert.equal(typeof em.indexDoneMs, 'number');
        }
        const iso = (json.isolated as Record<string, Record<string, Record<string, number>>>).completion.firstTokenMs;
        assert.deepEqual([iso.p50, iso.p95, iso.p99], [1, 2, 3]);
        const cost = json.decisionCostUs as Record<string, number>;
        assert.equal(typeof cost.p50, 'number');
        assert.equal(typeof cost.p99, 'number');
        const md = readFileSync(join(dir, 'report.md'), 'utf8');
        assert.match(md, /\| policy \|/);
        assert.match(md, /Targets/);
        assert.match(md, /NOT met|met/);
        assert.match(md, /time-to-suggestion-cdf\.svg/);
        // The first table is time to suggestion: a row per policy, and isolated.
        assert.ok(md.indexOf('## Time to suggestion') < md.indexOf('## Policies side by side'));
        assert.match(md, /\| zeta \| 45 \/ 90 \/ 135 \| 8 \(1\) \| 45 \/ 90 \/ 90 \| 10 \|/);
        assert.match(md, /\| static-nodebounce \| 50 \/ 100 \/ 150 \|/);
        assert.match(md, /\| isolated \| 45 \/ 90 \/ 135 \| 8 \(1\) \|/);
        // The ablation says what each lever earns on time to suggestion.
        assert.match(md, /- spill: time to suggestion p50 \/ p95 45 \/ 90 ms without it vs 45 \/ 90 ms with all levers \(1\.00x \/ 1\.00x\)/);
        const svgs = readdirSync(dir).filter((f) => f.endsWith('.svg'));
        assert.ok(svgs.length >= 2);
        for (const f of svgs) assert.match(readFileSync(join(dir, f), 'utf8'), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*<\/svg>\n$/);
    });

    it('real mode: the sim-vs-real table carries each real p50 with its bootstrap interval, and each policy its speed factors', () => {
        const dir = mkdtempSync(join(tmpdir(), 'zeta-bench-'));
        const policies = fakeReport({ static: 200, zeta: 90 });
        const simVsReal: NonNullable<Report['simVsReal']> = {};
        for (const p of BENCH_POLICIES) simVsReal[p] = { realP50: 40, simP50: 44, ratio: 1.1, within30: true, realAllP50: 30, simAllP50: 31, allRatio: 1.03, realP50Interval90: [31, 212] };
        const simSpeedFactors = { static: { coder: 1.25, embedder: 0.8 }, zeta: { coder: 0.9 } };
        const report: Report = { ...reportOf('real', policies), simVsReal, simSpeedFactors, targets: evaluateTargets('real', policies, { p50: 2, p95: 2 }, 2, simVsReal) };
        writeReport(dir, report, { suggestion: [{ name: 'zeta', values: [1, 2, 3] }] }, []);
        const md = readFileSync(join(dir, 'report.md'), 'utf8');
        assert.match(md, /\| real p50, 90% interval \(ms\) \|/);
        assert.match(md, /\| round-robin \| 40 \| 31-212 \| 44 \| 1\.10 \| yes \|/);
        assert.match(md, /before and just after each policy's run[^\n]*: static coder x1\.25, embedder x0\.80; zeta coder x0\.90\. "unscaled"/);
        const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { simVsReal: Record<string, { realP50Interval90: number[] }> };
        assert.deepEqual(json.simVsReal.zeta.realP50Interval90, [31, 212]);
    });

    it('policyReport keeps the reported fields and drops the raw samples', () => {
        const r = policyReport({ ...fakeReport({}).zeta, completionFirstTokenSamples: [1, 2], suggestionWaitedForSamples: [3] } as never);
        assert.equal('completionFirstTokenSamples' in r, false);
        assert.equal('suggestionWaitedForSamples' in r, false);
    });

    it('the SVG writer escapes names and picks round tick steps', () => {
        assert.equal(niceStep(1000), 200);
        assert.equal(niceStep(37), 10);
        const svg = cdfChart('a < b', [{ name: 'x&y', values: [1, 2] }]);
        assert.ok(svg.includes('a &lt; b') && svg.includes('x&amp;y'));
    });
});
