/**
 * Real mode: the generated full models through node-llama-cpp on this machine, wall clock, the
 * same policies as sim mode in interleaved rounds (issue 19 §4), plus `simPredicted` from sim runs
 * of the same segments with the speed profile measured first, scaled per round by the speed checks
 * around it.
 *
 * Rounds (bench/real/rounds.ts): the trace is cut at pauses into segments of a few seconds; round r
 * runs every policy (and the isolated reference) on segment r in a seeded shuffled order, then a
 * speed check. A policy's ratio to another is taken within each round, where both ran on the same
 * segment within a minute on the same machine; the report carries the median over rounds and its
 * bootstrap interval, and each policy's metrics pooled over its rounds (`poolRounds`).
 *
 * Token accounting: from each call's own report (UsageLedger), as in sim mode: an aborted prefill
 * counts the chunks that ran.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/backends';
import type { Role } from '../../src/core/backend';
import { createRouter, defaultRoutingSettings } from '../../src/core/router';
import { BASELINES, BENCH_POLICIES, completionHandling, routerPolicy, type BenchPolicy } from '../policies';
import { loadTraceFile, shippedTrace } from '../workload/files';
import { measureDecisionCost } from '../sim/decisionCost';
import { replay, wallEnv } from '../replay/harness';
import type { PolicyMetrics } from '../replay/metrics';
import { measureProfile } from '../real/measure';
import { bracketFactors, measureSpeedCheck, speedFactors, type SpeedCheck } from '../real/speedCheck';
import { RATIO_QUANTITIES, poolRounds, ratioSummary, roundRatios, roundRun, segmentTrace, shuffledOrders, tokenTotals, type RatioQuantity, type RatioSummary, type RoundRun, type Segment } from '../real/rounds';
import { loadProfile, scaleProfile, shippedProfile, type SpeedProfile } from '../sim/speedProfile';
import { reportHead, type RealRound, type RealRounds, type Report, type RoundSuggestion, type ZetaVs } from '../report/report';
import { evaluateTargets } from '../report/targets';
import { writeReport } from '../report/write';
import { MAX_THREADS, machineLoad, realSetup, type RealSetup } from '../real/setup';
import { objectiveFn, runSim } from '../sim/run';
import { UsageLedger } from '../replay/usage';
import { settingsFor } from '../sim/suite';
import type { CliArgs } from '../types';
import { createRng, hashString } from '../lib/rng';
import { bootstrapInterval } from '../lib/stats';
import { TaskBuilder, calibrate, countWords } from '../replay/text';
import { completionsOnly, summarize, withFocus, type Trace, type TraceLine } from '../workload/trace';

/** Resamples for the bootstrap interval of each policy's pooled real p50 (`simVsReal.realP50Interval90`). */
const BOOTSTRAP_RESAMPLES = 2000;

/**
 * Rounds and segment length (ms). A default run on this 2-core machine: the profile (~1.5 min),
 * then per round 7 replays (six policies and isolated) of a 5-8 s segment (up to 1 s of it its
 * lead-in), each plus ~1.5 s of loading and draining, and a ~5 s speed check: about 50 s a round,
 * 8 rounds over the trace's first ~53 s; the sim prediction and the decision cost take seconds.
 * About 8-9 minutes in all; RUN_BUDGET_MS drops rounds on a slower machine.
 * `--quick`: 2 rounds of 3-6 s segments (~3 minutes, most of it the profile).
 */
const PLAN = { full: { rounds: 8, segmentMs: 5000 }, quick: { rounds: 2, segmentMs: 3000 } } as const;

/**
 * A gap between keystrokes this long (ms) is a pause a segment may be cut at; the segment starts
 * SEGMENT_LEAD_MS before its first keystroke, after a lead-in SEGMENT_LEAD_IN_MS long where it
 * starts in the middle of typing a document (`SegmentOptions.leadInMs`).
 */
const SEGMENT_PAUSE_MS = 1000;
const SEGMENT_LEAD_MS = 300;
const SEGMENT_LEAD_IN_MS = 1000;

/**
 * No round starts unless the longest round so far fits before this (ms since the mode started) with
 * TAIL_MS left for the sim prediction, the decision cost and the report: a whole run stays within 10
 * minutes when the machine is slower than planned, with fewer rounds (the report says how many).
 */
const RUN_BUDGET_MS = 570_000;
const TAIL_MS = 20_000;

/** One entry of a round: a policy, or zeta's pipeline and router on the segment's completions alone. */
type Entry = BenchPolicy | 'isolated';

/**
 * One policy on one trace with the real models: what the replay recorded, and its metrics, both
 * without the first `leadIn` lines' requests (a segment's lead-in, `segmentTrace`; `roundRun`).
 */
export async function runReal(setup: RealSetup, trace: Trace, leadIn: number, policy: BenchPolicy, profile: SpeedProfile, tokensPerWord: number): Promise<RoundRun> {
    const base = defaultRoutingSettings();
    const settings = settingsFor(base, routerPolicy(policy), profile);
    const usage = new UsageLedger();
    const result = await replay({
        trace,
        settings,
        models: setup.specs,
        createRouter,
        createBackend: (spec) => usage.observe(setup.createBackend(spec), spec.id),
        builder: new TaskBuilder(tokensPerWord),
        completion: completionHandling(policy),
        // The windows count the synthetic words at the tokenizer's measured rate (`calibrate`).
        countTokens: (text) => Math.round(countWords(text) * tokensPerWord),
        env: wallEnv(setup.clock),
        drainLimitMs: 60_000,
        onStart: () => usage.start(),
    });
    if (result.hung > 0) throw new Error(`real ${policy}: ${result.hung} requests never settled`);
    return roundRun(result.records, leadIn, usage.totals(), objectiveFn(profile, settings));
}

async function getProfile(args: CliArgs, setup: RealSetup, log: (l: string) => void): Promise<{ profile: SpeedProfile; tokensPerWord: number }> {
    if (args.profile) {
        const profile = loadProfile(args.profile);
        const b = setup.createBackend(setup.specs[1]);
        await b.load(setup.specs[1], new AbortController().signal);
        const tokensPerWord = calibrate((t) => b.countTokens(t));
        await b.unload();
        return { profile, tokensPerWord };
    }
    log('measuring the speed profile of the generated models (bench/real/measure.ts)...');
    return measureProfile(setup, { log, reps: 3 });
}

/**
 * How long the indexer spends on an embed line (ms), from the shipped profile of this machine's
 * embedder, so that the segments are the same on every run (the measured profile moves): places
 * the workspace queued at the trace's start across the segments its indexing spans.
 */
function shippedEmbedMs(): (line: TraceLine) => number {
    const e = loadProfile(shippedProfile('local-generated')).models.embedder;
    return (l) => l.items * (e.embedOverheadMsPerItem + (l.promptTokens * 1000) / e.embedTokensPerSec);
}

function roundSuggestion(m: PolicyMetrics): RoundSuggestion {
    const w = m.suggestion.waitedFor;
    const s = m.suggestion.served;
    return { waitedFor: { p50: w.p50, p95: w.p95, n: w.n, unanswered: w.unanswered }, served: { p50: s.p50, p95: s.p95, n: s.n } };
}

/** Per quantity, `num` over `den` in every round, with the median and interval over rounds. */
function ratioDetail(rounds: ReadonlyArray<Record<BenchPolicy, PolicyMetrics['suggestion']>>, num: BenchPolicy, den: BenchPolicy): Record<RatioQuantity, RatioSummary> {
    const out = {} as Record<RatioQuantity, RatioSummary>;
    for (const q of RATIO_QUANTITIES) out[q] = ratioSummary(roundRatios(rounds, num, den, q), createRng(hashString(`${num}/${den}:${q}`)).next);
    return out;
}

export async function runRealMode(args: CliArgs, command: string): Promise<Report> {
    const started = performance.now();
    const log = console.log;
    const setup = await realSetup(MAX_THREADS);
    const trace = loadTraceFile(args.trace ?? shippedTrace('real-typing-indexing'), args.seed);
    const plan = args.quick ? PLAN.quick : PLAN.full;
    const segments = segmentTrace(trace, { targetMs: plan.segmentMs, minPauseMs: SEGMENT_PAUSE_MS, leadMs: SEGMENT_LEAD_MS, leadInMs: SEGMENT_LEAD_IN_MS, embedMs: shippedEmbedMs() }).slice(0, plan.rounds);
    // Editor focus events (--read-ahead) are added per segment, before its first keystroke in each document.
    const withEvents = (s: Segment): Trace => (args.readAheadMs !== undefined ? withFocus(s.trace, args.readAheadMs) : s.trace);
    const { profile, tokensPerWord } = await getProfile(args, setup, log);
    mkdirSync(args.out, { recursive: true });
    writeFileSync(join(args.out, 'profile.json'), JSON.stringify(profile, null, 2) + '\n');
    if (args.save) writeFileSync(shippedProfile('local-generated'), JSON.stringify(profile, null, 2) + '\n');
    const s = summarize(trace);
    log(
        `real: trace ${trace.name} (${trace.lines.length} lines, ${(s.durationMs / 1000).toFixed(0)} s), ${tokensPerWord.toFixed(2)} tokens per word; ` +
            `${segments.length} rounds on segments ${segments.map((g) => `${(g.fromMs / 1000).toFixed(1)}-${(g.toMs / 1000).toFixed(1)} s`).join(', ')}`,
    );

    const entries: Entry[] = args.isolated ? [...BENCH_POLICIES, 'isolated'] : [...BENCH_POLICIES];
    const orderSeed = hashString(`real-rounds:${args.seed}`);
    const orders = shuffledOrders(entries, segments.length, orderSeed);
    // Round r ran between checks r and r + 1: its sim prediction scales the profile by those two.
    const checks: SpeedCheck[] = [await measureSpeedCheck(setup, tokensPerWord)];
    const runs: Array<Partial<Record<Entry, RoundRun>>> = [];
    const rounds: Array<Omit<RealRound, 'speedFactors' | 'sim'>> = [];
    let longestMs = 0;
    for (const [r, segment] of segments.entries()) {
        const elapsed = performance.now() - started;
        if (r > 0 && elapsed + longestMs + TAIL_MS > RUN_BUDGET_MS) {
            log(`  stopping after ${r} rounds: another (up to ${(longestMs / 1000).toFixed(0)} s) would end past the run's budget (${(elapsed / 1000).toFixed(0)} s gone of ${RUN_BUDGET_MS / 1000} s)`);
            break;
        }
        const t0 = performance.now();
        const before = machineLoad();
        const seg = withEvents(segment);
        const round: Partial<Record<Entry, RoundRun>> = {};
        for (const e of orders[r]) {
            round[e] = e === 'isolated' ? await runReal(setup, completionsOnly(seg), segment.leadIn, 'zeta', profile, tokensPerWord) : await runReal(setup, seg, segment.leadIn, e, profile, tokensPerWord);
        }
        checks.push(await measureSpeedCheck(setup, tokensPerWord));
        const wallMs = performance.now() - t0;
        longestMs = Math.max(longestMs, wallMs);
        runs.push(round);
        const real: RealRound['real'] = {};
        for (const e of entries) real[e] = roundSuggestion((round[e] as RoundRun).metrics);
        rounds.push({
            segment: {
                index: segment.index,
                fromMs: segment.fromMs,
                toMs: segment.toMs,
                lines: seg.lines.length - segment.leadIn,
                keystrokes: seg.lines.filter((l) => l.kind === 'completion').length - segment.leadIn,
                leadIn: segment.leadIn,
            },
            order: orders[r],
            loadavg1Before: before.loadavg1,
            wallMs: Math.round(wallMs),
            real,
        });
        const p95 = (p: Entry): string => (real[p]?.waitedFor.p95 ?? Number.NaN).toFixed(0);
        log(
            `  round ${r + 1}/${segments.length} (${(segment.fromMs / 1000).toFixed(1)}-${(segment.toMs / 1000).toFixed(1)} s; ${orders[r].join(', ')}): time to suggestion waited for p95 ` +
                `${entries.map((p) => `${p} ${p95(p)}`).join(', ')} ms (${(wallMs / 1000).toFixed(0)} s, load ${before.loadavg1}; speed ${factorsText(speedFactors(profile, checks.slice(r, r + 2)))})`,
        );
    }
    const n = runs.length;
    const factors = bracketFactors(profile, checks);

    log('sim prediction: each round with the profile scaled by the speed checks around it...');
    const base = defaultRoutingSettings();
    // The simulated models get the real run's texts and tokens: the generated models share one
    // vocabulary, so the coder's tokenizer counts for all three.
    const tokenizer = await loadTokenizer(setup.provider, setup.models.coder);
    const simRuns: Array<Record<BenchPolicy, RoundRun>> = [];
    const unscaledRuns: Array<Record<BenchPolicy, RoundRun>> = [];
    try {
        const tokenize = (text: string): string[] => Array.from(tokenizer.tokenize(text), String);
        const options = { tokenizer: { tokenize, tokensPerWord } };
        const simRound = async (segment: Segment, pp: SpeedProfile): Promise<Record<BenchPolicy, RoundRun>> => {
            const out = {} as Record<BenchPolicy, RoundRun>;
            for (const p of BENCH_POLICIES) {
                const settings = settingsFor(base, routerPolicy(p), pp);
                const run = await runSim(withEvents(segment), pp, settings, createRouter, { ...options, completion: completionHandling(p) });
                out[p] = roundRun(run.replay.records, segment.leadIn, tokenTotals(run.metrics), objectiveFn(pp, settings));
            }
            return out;
        };
        for (let r = 0; r < n; r++) {
            simRuns.push(await simRound(segments[r], scaleProfile(profile, factors[r], `times scaled per model by the speed checks just before and after round ${r + 1}: ${JSON.stringify(factors[r])}`)));
            unscaledRuns.push(await simRound(segments[r], profile));
        }
    } finally {
        await tokenizer.dispose();
        await setup.provider.dispose();
    }

    // Pooled: each policy's rounds as one run (`poolRounds`).
    const objective = (p: BenchPolicy): ReturnType<typeof objectiveFn> => objectiveFn(profile, settingsFor(base, routerPolicy(p), profile));
    const pool = (rs: ReadonlyArray<Partial<Record<Entry, RoundRun>>>, e: Entry): PolicyMetrics =>
        poolRounds(
            rs.map((x) => x[e] as RoundRun),
            objective(e === 'isolated' ? 'zeta' : e),
        );
    const metrics = {} as Record<BenchPolicy, PolicyMetrics>;
    const simMetrics = {} as Record<BenchPolicy, PolicyMetrics>;
    const unscaledMetrics = {} as Record<BenchPolicy, PolicyMetrics>;
    for (const p of BENCH_POLICIES) {
        metrics[p] = pool(runs, p);
        simMetrics[p] = pool(simRuns, p);
        unscaledMetrics[p] = pool(unscaledRuns, p);
    }
    const isolated = args.isolated ? pool(runs, 'isolated') : metrics.zeta;

    const simPredicted: NonNullable<Report['simPredicted']> = {};
    const simVsReal: NonNullable<Report['simVsReal']> = {};
    for (const p of BENCH_POLICIES) {
        // Time to suggestion over the completions the user waited for; all first tokens beside it.
        const q = simMetrics[p].suggestion.waitedFor;
        const qa = simMetrics[p].completion.firstTokenAllMs;
        simPredicted[p] = { suggestionWaitedForMs: { p50: q.p50, p95: q.p95 }, firstTokenAllMs: { p50: qa.p50, p95: qa.p95, n: qa.n } };
        const real50 = metrics[p].suggestion.waitedFor.p50;
        const realAll50 = metrics[p].completion.firstTokenAllMs.p50;
        const ratio = q.p50 / real50;
        simVsReal[p] = {
            realP50: real50,
            simP50: q.p50,
            ratio,
            within30: Math.abs(ratio - 1) <= 0.3,
            realAllP50: realAll50,
            simAllP50: qa.p50,
            allRatio: qa.p50 / realAll50,
            simP50Unscaled: unscaledMetrics[p].suggestion.waitedFor.p50,
            realP50Interval90: bootstrapInterval(metrics[p].suggestionWaitedForSamples, 50, 0.9, BOOTSTRAP_RESAMPLES, createRng(hashString(p)).next),
        };
    }

    // Ratios within each round: every policy to static, zeta to every baseline.
    const perRound = runs.map((round) => Object.fromEntries(BENCH_POLICIES.map((p) => [p, (round[p] as RoundRun).metrics.suggestion])) as Record<BenchPolicy, PolicyMetrics['suggestion']>);
    const vsStatic: RealRounds['vsStatic'] = {};
    for (const p of BENCH_POLICIES) if (p !== 'static') vsStatic[p] = ratioDetail(perRound, p, 'static');
    const zetaVsDetail: RealRounds['zetaVs'] = {};
    const zetaVs: NonNullable<Report['zetaVs']> = {};
    for (const b of BASELINES) {
        const d = ratioDetail(perRound, 'zeta', b);
        zetaVsDetail[b] = d;
        const summary = (x: RatioSummary): ZetaVs['waitedForP95Ratio'] => ({ median: x.median, ci90: x.ci90 });
        zetaVs[b] = { waitedForP95Ratio: summary(d.waitedForP95), servedP95Ratio: summary(d.servedP95), waitedForP50Ratio: summary(d.waitedForP50), servedP50Ratio: summary(d.servedP50) };
    }
    const realRounds: RealRounds = {
        segmentTargetMs: plan.segmentMs,
        orderSeed,
        rounds: rounds.map((x, r) => ({
            ...x,
            speedFactors: factors[r],
            sim: Object.fromEntries(BENCH_POLICIES.map((p) => [p, roundSuggestion(simRuns[r][p].metrics)])),
        })),
        vsStatic,
        zetaVs: zetaVsDetail,
    };
    for (const b of BASELINES) {
        const z = zetaVs[b]?.waitedForP95Ratio;
        if (z) log(`  zeta / ${b} time to suggestion p95 (waited for): median ${z.median.toFixed(2)}, 90% interval ${z.ci90[0].toFixed(2)}-${z.ci90[1].toFixed(2)} over ${n} rounds`);
    }

    const cost = await measureDecisionCost(profile, settingsFor(base, 'zeta', profile), createRouter);
    const head = reportHead({ mode: 'real', trace: trace.name, seed: args.seed, profile: profile.name, command }, metrics, isolated, cost);
    const loads = rounds.map((x) => x.loadavg1Before);
    const report: Report = {
        ...head,
        simPredicted,
        simVsReal,
        rounds: n,
        zetaVs,
        realRounds,
        targets: evaluateTargets('real', head.policies, isolated.suggestion.waitedFor, cost.p99, simVsReal, zetaVs),
        environment: {
            traceSummary: s,
            segments: segments.slice(0, n).map((g) => ({ fromMs: g.fromMs, toMs: g.toMs, name: g.trace.name })),
            tokensPerWord,
            maxThreads: MAX_THREADS,
            machineLoadBeforeRounds: loads,
            node: process.version,
            profileMeasurement: profile.sources,
            speedChecks: checks,
        },
        runtimeMs: performance.now() - started,
    };
    writeReport(
        args.out,
        report,
        {
            suggestion: [...BENCH_POLICIES.map((p) => ({ name: p, values: metrics[p].suggestionWaitedForSamples })), { name: 'isolated', values: isolated.suggestionWaitedForSamples }],
        },
        [
            `Real: the generated full models (${setup.models.dir}) through node-llama-cpp, 1 thread per model, at most ${MAX_THREADS} threads at once; wall clock.`,
            `${n} interleaved rounds: round r runs every policy${args.isolated ? ' and isolated' : ''} on segment r of the trace (cut at pauses, times rebased to 0), in a shuffled order, then a speed check; the policies' numbers above pool every round's requests (bench/real/rounds.ts \`poolRounds\`).`,
            `Machine noise: 1-minute load average before each round ${loads.join(', ')} on ${machineLoad().cores} cores (highest ${Math.max(...loads)}); other work on the machine slows every policy and widens the tails, which the ratios within rounds cancel in part.`,
            'Computed tokens come from each call\'s own report, as in sim mode: an aborted prefill counts the chunks that ran.',
            `Profile: ${profile.sources.join(' | ')}`,
        ],
    );
    return report;
}

/** A round's speed factors as text, for the log: "coder x1.12, reasoner x0.95, embedder x1.02". */
function factorsText(f: Partial<Record<Role, number>>): string {
    return Object.entries(f)
        .map(([m, v]) => `${m} x${(v ?? Number.NaN).toFixed(2)}`)
        .join(', ');
}
