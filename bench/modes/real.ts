/**
 * Real mode: the generated full models through node-llama-cpp on this machine, wall clock, the
 * same traces and policies as sim mode, plus `simPredicted` from a sim run of the same trace with
 * the speed profile measured just before (issue 4 §3).
 *
 * Token accounting: from each call's own report (UsageLedger), as in sim mode: an aborted prefill
 * counts the chunks that ran.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/backends';
import type { Role } from '../../src/core/backend';
import { createRouter, defaultRoutingSettings } from '../../src/core/router';
import { POLICY_NAMES, type PolicyName } from '../../src/core/tasks';
import { loadTraceFile, shippedTrace } from '../workload/files';
import { measureDecisionCost } from '../sim/decisionCost';
import { replay, wallEnv } from '../replay/harness';
import { computeMetrics, type PolicyMetrics } from '../replay/metrics';
import { measureProfile } from '../real/measure';
import { bracketFactors, measureSpeedCheck, type SpeedCheck } from '../real/speedCheck';
import { loadProfile, scaleProfile, shippedProfile, type SpeedProfile } from '../sim/speedProfile';
import { speedFactorsText } from '../report/markdown';
import { reportHead, type Report } from '../report/report';
import { evaluateTargets } from '../report/targets';
import { writeReport } from '../report/write';
import { MAX_THREADS, machineLoad, realSetup, type RealSetup } from '../real/setup';
import { objectiveFn } from '../sim/run';
import { UsageLedger } from '../replay/usage';
import { runSimSuite, settingsFor, type SimSuite } from '../sim/suite';
import type { CliArgs } from '../types';
import { createRng, hashString } from '../lib/rng';
import { bootstrapInterval } from '../lib/stats';
import { TaskBuilder, calibrate } from '../replay/text';
import { completionsOnly, summarize, withFocus, type Trace } from '../workload/trace';

/** Resamples for the bootstrap interval of each policy's real p50 (`simVsReal.realP50Interval90`). */
const BOOTSTRAP_RESAMPLES = 2000;

export async function runReal(setup: RealSetup, trace: Trace, policy: PolicyName, profile: SpeedProfile, tokensPerWord: number): Promise<PolicyMetrics> {
    const base = defaultRoutingSettings();
    const settings = settingsFor(base, policy, profile);
    const usage = new UsageLedger();
    const result = await replay({
        trace,
        settings,
        models: setup.specs,
        createRouter,
        createBackend: (spec) => usage.observe(setup.createBackend(spec), spec.id),
        builder: new TaskBuilder(tokensPerWord),
        env: wallEnv(setup.clock),
        drainLimitMs: 60_000,
        onStart: () => usage.start(),
    });
    const metrics = computeMetrics(result.records, usage.totals(), objectiveFn(profile, settings));
    if (result.hung > 0) throw new Error(`real ${policy}: ${result.hung} requests never settled`);
    return metrics;
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

export async function runRealMode(args: CliArgs, command: string): Promise<Report> {
    const started = performance.now();
    const log = console.log;
    const setup = await realSetup(MAX_THREADS);
    let trace = loadTraceFile(args.trace ?? shippedTrace('real-typing-indexing'), args.seed);
    if (args.quick) trace = { name: trace.name, lines: trace.lines.filter((l) => l.t < 20_000) };
    if (args.readAheadMs !== undefined) trace = withFocus(trace, args.readAheadMs);
    const { profile, tokensPerWord } = await getProfile(args, setup, log);
    mkdirSync(args.out, { recursive: true });
    writeFileSync(join(args.out, 'profile.json'), JSON.stringify(profile, null, 2) + '\n');
    if (args.save) writeFileSync(shippedProfile('local-generated'), JSON.stringify(profile, null, 2) + '\n');
    const s = summarize(trace);
    log(`real: trace ${trace.name} (${trace.lines.length} lines, ${(s.durationMs / 1000).toFixed(0)} s), ${tokensPerWord.toFixed(2)} tokens per word`);

    const metrics = {} as Record<PolicyName, PolicyMetrics>;
    const loads: Record<string, unknown> = {};
    // How fast the machine is while the policies run, sampled before each and after the last: each
    // policy's prediction scales the profile by the two checks around its run (bracketFactors).
    const checks: SpeedCheck[] = [];
    for (const p of POLICY_NAMES) {
        checks.push(await measureSpeedCheck(setup, tokensPerWord));
        const before = machineLoad();
        const t0 = performance.now();
        metrics[p] = await runReal(setup, trace, p, profile, tokensPerWord);
        loads[p] = { before, after: machineLoad(), wallMs: Math.round(performance.now() - t0) };
        log(`  ${p}: first token p50 ${metrics[p].completion.firstTokenMs.p50.toFixed(0)} ms, p95 ${metrics[p].completion.firstTokenMs.p95.toFixed(0)} ms, ${metrics[p].completion.served} served (${((performance.now() - t0) / 1000).toFixed(0)} s, load ${before.loadavg1})`);
    }
    checks.push(await measureSpeedCheck(setup, tokensPerWord));
    let isolated = metrics.static;
    if (args.isolated) {
        isolated = await runReal(setup, completionsOnly(trace), 'static', profile, tokensPerWord);
        log(`  isolated: first token p95 ${isolated.completion.firstTokenMs.p95.toFixed(0)} ms`);
    }
    const factors = {} as Record<PolicyName, Partial<Record<Role, number>>>;
    for (const [i, f] of bracketFactors(profile, checks).entries()) factors[POLICY_NAMES[i]] = f;
    log(`speed checks against the profile, around each policy's run: ${speedFactorsText(factors)}`);

    log('sim prediction with the measured profile...');
    const base = defaultRoutingSettings();
    // The simulated models get the real run's texts and tokens: the generated models share one
    // vocabulary, so the coder's tokenizer counts for all three.
    const tokenizer = await loadTokenizer(setup.provider, setup.models.coder);
    let sim: SimSuite;
    let unscaled: SimSuite;
    try {
        const tokenize = (text: string): string[] => Array.from(tokenizer.tokenize(text), String);
        const options = { ablation: false, isolated: false, log, tokenizer: { tokenize, tokensPerWord } };
        const profileFor = (p: PolicyName): SpeedProfile =>
            scaleProfile(profile, factors[p], `times scaled per model by the speed checks just before and after the ${p} run: ${JSON.stringify(factors[p])}`);
        sim = await runSimSuite(trace, profile, base, createRouter, { ...options, profileFor });
        unscaled = await runSimSuite(trace, profile, base, createRouter, { ...options, log: () => undefined });
    } finally {
        await tokenizer.dispose();
        await setup.provider.dispose();
    }
    const simPredicted: NonNullable<Report['simPredicted']> = {};
    const simVsReal: NonNullable<Report['simVsReal']> = {};
    for (const p of POLICY_NAMES) {
        const q = sim.policies[p].completion.firstTokenMs;
        const qa = sim.policies[p].completion.firstTokenAllMs;
        simPredicted[p] = { firstTokenMs: { p50: q.p50, p95: q.p95 }, firstTokenAllMs: { p50: qa.p50, p95: qa.p95, n: qa.n } };
        const real50 = metrics[p].completion.firstTokenMs.p50;
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
            simP50Unscaled: unscaled.policies[p].completion.firstTokenMs.p50,
            realP50Interval90: bootstrapInterval(metrics[p].completionFirstTokenSamples, 50, 0.9, BOOTSTRAP_RESAMPLES, createRng(hashString(p)).next),
        };
    }
    const cost = await measureDecisionCost(profile, settingsFor(base, 'zeta', profile), createRouter);
    const head = reportHead({ mode: 'real', trace: trace.name, seed: args.seed, profile: profile.name, command }, metrics, isolated, cost);
    const report: Report = {
        ...head,
        simPredicted,
        simVsReal,
        simSpeedFactors: factors,
        targets: evaluateTargets('real', head.policies, isolated.completion.firstTokenMs.p95, cost.p99, simVsReal),
        environment: { traceSummary: s, tokensPerWord, maxThreads: MAX_THREADS, machineLoad: loads, node: process.version, profileMeasurement: profile.sources, speedChecks: checks },
        runtimeMs: performance.now() - started,
    };
    const busiest = Math.max(...Object.values(loads).map((l) => (l as { before: { loadavg1: number } }).before.loadavg1));
    writeReport(
        args.out,
        report,
        {
            firstToken: [...POLICY_NAMES.map((p) => ({ name: p, values: metrics[p].completionFirstTokenSamples })), { name: 'isolated', values: isolated.completionFirstTokenSamples }],
        },
        [
            `Real: the generated full models (${setup.models.dir}) through node-llama-cpp, 1 thread per model, at most ${MAX_THREADS} threads at once; wall clock.`,
            `Machine noise: 1-minute load average before each policy run ${Object.entries(loads)
                .map(([p, l]) => `${p} ${(l as { before: { loadavg1: number } }).before.loadavg1}`)
                .join(', ')} on ${machineLoad().cores} cores (highest ${busiest}); other work on the machine slows every policy and widens the tails.`,
            'Computed tokens come from each call\'s own report, as in sim mode: an aborted prefill counts the chunks that ran.',
            `Profile: ${profile.sources.join(' | ')}`,
        ],
    );
    return report;
}
