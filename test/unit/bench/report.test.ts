import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POLICY_NAMES, TASK_KINDS, type PolicyName, type RoutingSettings } from '../../../src/core/tasks';
import { waitedFor, WAITED_FOR_GAP_MS } from '../../../bench/replay/metrics';
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
});

function fakeReport(p95: Partial<Record<PolicyName, number>>, over: Partial<PolicyReport> = {}): Record<PolicyName, PolicyReport> {
    const out = {} as Record<PolicyName, PolicyReport>;
    for (const p of POLICY_NAMES) {
        const v = p95[p] ?? 100;
        out[p] = {
            completion: { firstTokenMs: { p50: v / 2, p95: v, p99: v * 1.2 }, totalMs: { p50: v, p95: 2 * v, p99: 3 * v }, served: 10, cancelled: 5, dropped: 0, failed: 0, hung: 0, meanPromptTokens: 500, reusedShare: 0.8, meanQueuedMs: 1, firstTokenAllMs: { p50: 1, p95: 2, p99: 3, n: 20 }, waitedForMs: { p50: v / 2, p95: v, p99: v, n: 8, unanswered: 1 } },
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
    const rec = (index: number, submitAt: number, firstTokenMs?: number, endMs?: number): RequestRecord =>
        ({
            index,
            line: { t: submitAt, kind: 'completion', doc: 'a', promptTokens: 10, maxTokens: 8, items: 1 },
            kind: 'completion',
            submitAt,
            ...(firstTokenMs === undefined ? {} : { firstTokenAt: submitAt + firstTokenMs }),
            ...(endMs === undefined ? {} : { endAt: submitAt + endMs }),
        }) as RequestRecord;

    it('takes the requests before a pause, whatever the policy served; an unanswered one counts as its whole pause', () => {
        const gap = WAITED_FOR_GAP_MS;
        const records = [
            rec(0, 0), // superseded 100 ms later: not waited for
            rec(1, 100, 30), // then a pause of 2 s: waited for, answered in 30 ms
            rec(2, 2_100), // then 100 ms: not waited for
            rec(3, 2_200, undefined, gap + 300), // a pause of gap + 300 ms and no first token: counts as the pause
            rec(4, 2_200 + gap + 300, 40, 90), // the last request: answered in 40 ms
        ];
        // Shuffled input, same answer (the records are ordered by submission).
        const w = waitedFor([records[3], records[0], records[4], records[2], records[1]]);
        assert.deepEqual(w.samples, [30, gap + 300, 40]);
        assert.equal(w.unanswered, 1);
        // The last request unanswered: it waited until it settled.
        assert.deepEqual(waitedFor([rec(0, 0, undefined, 1_234)]), { samples: [1_234], unanswered: 1 });
    });
});

/** A report around `policies` with fixed run details and no targets (the caller adds its own). */
function reportOf(mode: Report['mode'], policies: Record<PolicyName, PolicyReport>): Report {
    return {
        mode,
        trace: 'x',
        seed: 1,
        profile: 'p',
        generatedAt: 'now',
        command: `npm run bench -- --mode ${mode}`,
        policies,
        isolated: { completion: { firstTokenMs: { p50: 1, p95: 2, p99: 3 }, served: 3 } },
        decisionCostUs: { p50: 1, p99: 2, decisions: 100000, models: 3, how: 'test' },
        targets: [],
        environment: {},
        runtimeMs: 1,
    };
}

describe('bench report', () => {
    it('evaluates the §5 targets from the numbers', () => {
        const t = evaluateTargets('sim', fakeReport({ static: 200, 'round-robin': 150, zeta: 90 }), 80, 3);
        const byId = Object.fromEntries(t.map((x) => [x.id, x]));
        assert.equal(byId['p95-vs-static'].met, true); // 90 <= 100
        assert.equal(byId['p95-vs-best-baseline'].met, false); // least-busy/lowest-latency at 100: 90 > 80
        assert.equal(byId['p95-vs-isolated'].met, true); // 90 <= 104
        assert.equal(byId['wasted-share'].met, true);
        assert.equal(byId['coder-share'].met, true);
        assert.equal(byId['decision-cost'].met, true);
        assert.equal(evaluateTargets('sim', fakeReport({ zeta: 90 }), 80, 60).find((x) => x.id === 'decision-cost')?.met, false);
        const real = evaluateTargets('real', fakeReport({ zeta: 99 }), 80, 3, { zeta: { realP50: 100, simP50: 140, ratio: 1.4, within30: false, realAllP50: 100, simAllP50: 110, allRatio: 1.1 } });
        assert.equal(real.find((x) => x.id === 'real-beats-all')?.met, true);
        assert.equal(real.find((x) => x.id === 'sim-fidelity')?.met, false);
        assert.equal(real.find((x) => x.id === 'p95-vs-static'), undefined);
    });

    it('writes report.json with the shape issue 4 relies on, report.md and SVG charts', () => {
        const dir = mkdtempSync(join(tmpdir(), 'zeta-bench-'));
        const policies = fakeReport({ static: 200, zeta: 90 });
        const report: Report = { ...reportOf('sim', policies), ablation: { spill: policies.zeta }, targets: evaluateTargets('sim', policies, 2, 2) };
        writeReport(dir, report, { firstToken: [{ name: 'zeta', values: [1, 2, 3] }, { name: 'static', values: [] }] }, ['a note']);
        const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Record<string, unknown>;
        assert.equal(json.mode, 'sim');
        assert.equal(json.trace, 'x');
        assert.equal(json.seed, 1);
        const pol = json.policies as Record<string, Record<string, unknown>>;
        assert.deepEqual(Object.keys(pol).sort(), [...POLICY_NAMES].sort());
        for (const p of POLICY_NAMES) {
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
        assert.match(md, /completion-first-token-cdf\.svg/);
        // The completions the user waited for: one row per policy (isolated has none here).
        assert.match(md, /The completions the user waited for/);
        assert.match(md, /\| zeta \| 45 \/ 90 \/ 90 \| 8 \| 1 \|/);
        assert.doesNotMatch(md, /\| isolated \| .* \| \d+ \| \d+ \|/);
        const svgs = readdirSync(dir).filter((f) => f.endsWith('.svg'));
        assert.ok(svgs.length >= 2);
        for (const f of svgs) assert.match(readFileSync(join(dir, f), 'utf8'), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*<\/svg>\n$/);
    });

    it('real mode: the sim-vs-real table carries each real p50 with its bootstrap interval, and each policy its speed factors', () => {
        const dir = mkdtempSync(join(tmpdir(), 'zeta-bench-'));
        const policies = fakeReport({ static: 200, zeta: 90 });
        const simVsReal: NonNullable<Report['simVsReal']> = {};
        for (const p of POLICY_NAMES) simVsReal[p] = { realP50: 40, simP50: 44, ratio: 1.1, within30: true, realAllP50: 30, simAllP50: 31, allRatio: 1.03, realP50Interval90: [31, 212] };
        const simSpeedFactors = { static: { coder: 1.25, embedder: 0.8 }, zeta: { coder: 0.9 } };
        const report: Report = { ...reportOf('real', policies), simVsReal, simSpeedFactors, targets: evaluateTargets('real', policies, 2, 2, simVsReal) };
        writeReport(dir, report, { firstToken: [{ name: 'zeta', values: [1, 2, 3] }] }, []);
        const md = readFileSync(join(dir, 'report.md'), 'utf8');
        assert.match(md, /\| real p50, 90% interval \(ms\) \|/);
        assert.match(md, /\| round-robin \| 40 \| 31-212 \| 44 \| 1\.10 \| yes \|/);
        assert.match(md, /before and just after each policy's run[^\n]*: static coder x1\.25, embedder x0\.80; zeta coder x0\.90\. "unscaled"/);
        const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { simVsReal: Record<string, { realP50Interval90: number[] }> };
        assert.deepEqual(json.simVsReal.zeta.realP50Interval90, [31, 212]);
    });

    it('policyReport keeps the reported fields and drops the raw samples', () => {
        const r = policyReport({ ...fakeReport({}).zeta, completionFirstTokenSamples: [1, 2] } as never);
        assert.equal('completionFirstTokenSamples' in r, false);
    });

    it('the SVG writer escapes names and picks round tick steps', () => {
        assert.equal(niceStep(1000), 200);
        assert.equal(niceStep(37), 10);
        const svg = cdfChart('a < b', [{ name: 'x&y', values: [1, 2] }]);
        assert.ok(svg.includes('a &lt; b') && svg.includes('x&amp;y'));
    });
});
