/**
 * Sim mode: the trace through the five policies on the simulator (virtual time, deterministic),
 * the isolated replay, the lever ablation, the decision-cost micro-benchmark and, with --seeds,
 * the targets on the trace regenerated with each seed.
 */
import { resolve } from 'node:path';
import { createRouter, defaultRoutingSettings } from '../../src/core/router';
import { BENCH_POLICIES } from '../policies';
import { policyReport, reportHead, type PolicyReport, type Report, type SeedSweep } from '../report/report';
import { evaluateTargets } from '../report/targets';
import { writeReport } from '../report/write';
import { sweepSeeds } from './seeds';
import { measureDecisionCost } from '../sim/decisionCost';
import { loadProfile, shippedProfile } from '../sim/speedProfile';
import { runSimSuite, settingsFor } from '../sim/suite';
import type { CliArgs, LeverName } from '../types';
import { loadTraceFile, shippedTrace } from '../workload/files';
import { summarize, withFocus, type Trace } from '../workload/trace';

export async function runSimMode(args: CliArgs, command: string): Promise<Report> {
    const started = performance.now();
    const traceFile = args.trace ?? shippedTrace('typing-indexing');
    const loaded = loadTraceFile(traceFile, args.seed);
    const focus = (t: Trace): Trace => (args.readAheadMs === undefined ? t : withFocus(t, args.readAheadMs));
    const trace = focus(loaded);
    // Built before the main run, so that a trace that cannot be regenerated fails at once.
    const seedTraces = new Map(args.seeds?.map((sd) => [sd, focus(loadTraceFile(traceFile, sd))] as const));
    // The headline: the trio the walkthrough recommends (the 4B-FIM profile is the second row: --profile).
    const profileFile = args.profile ?? shippedProfile('rtx4090-walkthrough-trio');
    const profile = loadProfile(profileFile);
    const s = summarize(trace);
    console.log(`sim: trace ${trace.name} (${trace.lines.length} lines, ${(s.durationMs / 1000).toFixed(0)} s), profile ${profile.name}`);
    const base = defaultRoutingSettings();
    const suite = await runSimSuite(trace, profile, base, createRouter, { ablation: args.ablation, isolated: args.isolated, log: console.log });
    const cost = await measureDecisionCost(profile, settingsFor(base, 'zeta', profile), createRouter);
    console.log(`  decision cost: p50 ${cost.p50.toFixed(2)} µs, p99 ${cost.p99.toFixed(2)} µs`);
    let seeds: SeedSweep | undefined;
    if (args.seeds) {
        console.log(`the targets on ${trace.name} regenerated with seeds ${args.seeds.join(', ')}:`);
        seeds = await sweepSeeds(args.seeds, (seed) => seedTraces.get(seed) as Trace, profile, base, createRouter, cost, console.log);
    }
    const head = reportHead({ mode: 'sim', trace: trace.name, seed: args.seed, profile: profile.name, command }, suite.policies, suite.isolated, cost);
    const ablation: Partial<Record<LeverName, PolicyReport>> = {};
    for (const [l, m] of Object.entries(suite.ablation)) ablation[l as LeverName] = policyReport(m);
    const report: Report = {
        ...head,
        ablation: args.ablation ? ablation : undefined,
        seeds,
        targets: evaluateTargets('sim', head.policies, head.isolated.suggestion.waitedFor, cost.p99),
        environment: { traceSummary: s, profileFile: resolve(profileFile), node: process.version },
        runtimeMs: performance.now() - started,
    };
    writeReport(
        args.out,
        report,
        {
            suggestion: [...BENCH_POLICIES.map((p) => ({ name: p, values: suite.policies[p].suggestionWaitedForSamples })), { name: 'isolated', values: suite.isolated.suggestionWaitedForSamples }],
        },
        [
            'Simulated: the real router (src/core/router) drives simulated backends on virtual time; see bench/README.md for the model.',
            `Profile sources: ${profile.sources.join(' | ')}`,
        ],
    );
    return report;
}
