/**
 * npm run bench -- --mode sim|real|profile [--trace FILE] [--seed N] [--profile FILE] --out DIR
 *
 *   sim      the trace through the five policies on the simulator (virtual time, deterministic),
 *            plus the isolated replay, the lever ablation and the decision-cost micro-benchmark.
 *            Default trace bench/traces/typing-indexing.jsonl, default profile
 *            bench/profiles/rtx4090-qwen2.5-trio.json.
 *   real     the generated full models through node-llama-cpp on this machine (wall clock), the
 *            same policies, plus a sim prediction from a speed profile measured first (or --profile).
 *            Default trace bench/traces/real-typing-indexing.jsonl.
 *   profile  only measures the speed profile of the generated models (bench/real/measure.ts) and
 *            writes it to DIR/profile.json (and bench/profiles/local-generated.json with --save).
 *
 * Other flags: --no-ablation, --no-isolated, --quick (real: a 20 s slice of the trace),
 * --read-ahead MS (editor events: the document shown MS before the first keystroke after each
 * switch of document, passed to Router.readAhead; the shipped traces have none), --seeds LIST
 * (sim: also the §5 targets on the shipped trace regenerated with each seed, e.g. 1-12; bench/seeds.ts).
 */
import { join, resolve } from 'node:path';
import { createRouter, defaultRoutingSettings } from '../src/core/router';
import { POLICY_NAMES } from '../src/core/tasks';
import { measureDecisionCost } from './sim/decisionCost';
import { loadProfile, shippedProfile } from './sim/speedProfile';
import { evaluateTargets, policyReport, reportHead, writeReport, type PolicyReport, type Report } from './report';
import { runProfileMode } from './modes/profile';
import { runRealMode } from './modes/real';
import { parseSeeds, sweepSeeds, type SeedSweep } from './seeds';
import { runSimSuite, settingsFor } from './sim/suite';
import { summarize, withFocus, type Trace } from './workload/trace';
import { loadTraceFile, shippedTrace } from './workload/files';
import type { CliArgs, LeverName } from './types';
import { DEFAULT_TRACE_SEED } from './workload/generate';

export function parseArgs(argv: readonly string[]): CliArgs {
    let mode: CliArgs['mode'] | undefined;
    let trace: string | undefined;
    let seed = DEFAULT_TRACE_SEED;
    let out: string | undefined;
    let profile: string | undefined;
    let ablation = true;
    let isolated = true;
    let save = false;
    let quick = false;
    let readAheadMs: number | undefined;
    let seeds: number[] | undefined;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = (): string => {
            const v = argv[++i];
            if (v === undefined) throw new Error(`${a} needs a value`);
            return v;
        };
        switch (a) {
            case '--mode': {
                const m = value();
                if (m !== 'sim' && m !== 'real' && m !== 'profile') throw new Error(`--mode must be sim, real or profile, got "${m}"`);
                mode = m;
                break;
            }
            case '--trace':
                trace = value();
                break;
            case '--seed':
                seed = Number(value());
                if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got "${argv[i]}"`);
                break;
            case '--out':
                out = value();
                break;
            case '--profile':
                profile = value();
                break;
            case '--no-ablation':
                ablation = false;
                break;
            case '--no-isolated':
                isolated = false;
                break;
            case '--save':
                save = true;
                break;
            case '--quick':
                quick = true;
                break;
            case '--read-ahead':
                readAheadMs = Number(value());
                if (!Number.isInteger(readAheadMs) || readAheadMs < 0) throw new Error(`--read-ahead must be a whole number of ms, got "${argv[i]}"`);
                break;
            case '--seeds':
                seeds = parseSeeds(value());
                break;
            default:
                throw new Error(`unknown argument "${a}" (see bench/cli.ts for usage)`);
        }
    }
    if (!mode) throw new Error('--mode sim|real|profile is required');
    if (seeds !== undefined && mode !== 'sim') throw new Error('--seeds is for --mode sim (a real run of one seed takes most of 10 minutes)');
    return { mode, trace, seed, out: out ?? join('bench-out', mode), profile, ablation, isolated, save, quick, readAheadMs, seeds };
}

async function runSimMode(args: CliArgs, command: string): Promise<Report> {
    const started = performance.now();
    const traceFile = args.trace ?? shippedTrace('typing-indexing');
    const loaded = loadTraceFile(traceFile, args.seed);
    const focus = (t: Trace): Trace => (args.readAheadMs === undefined ? t : withFocus(t, args.readAheadMs));
    const trace = focus(loaded);
    // Built before the main run, so that a trace that cannot be regenerated fails at once.
    const seedTraces = new Map(args.seeds?.map((sd) => [sd, focus(loadTraceFile(traceFile, sd))] as const));
    const profileFile = args.profile ?? shippedProfile('rtx4090-qwen2.5-trio');
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
        targets: evaluateTargets('sim', head.policies, head.isolated.completion.firstTokenMs.p95, cost.p99),
        environment: { traceSummary: s, profileFile: resolve(profileFile), node: process.version },
        runtimeMs: performance.now() - started,
    };
    writeReport(
        args.out,
        report,
        {
            firstToken: [
                ...POLICY_NAMES.map((p) => ({ name: p, values: suite.policies[p].completionFirstTokenSamples })),
                { name: 'isolated', values: suite.isolated.completionFirstTokenSamples },
            ],
        },
        [
            'Simulated: the real router (src/core/router) drives simulated backends on virtual time; see bench/README.md for the model.',
            `Profile sources: ${profile.sources.join(' | ')}`,
        ],
    );
    return report;
}

async function main(): Promise<void> {
    const argv = process.argv.slice(2);
    const args = parseArgs(argv);
    const command = `npm run bench -- ${argv.join(' ')}`;
    let report: Report | undefined;
    if (args.mode === 'sim') report = await runSimMode(args, command);
    else if (args.mode === 'real') report = await runRealMode(args, command);
    else await runProfileMode(args);
    if (report) {
        console.log(`\nwrote ${join(args.out, 'report.json')} and report.md (${(report.runtimeMs / 1000).toFixed(1)} s)`);
        for (const t of report.targets) console.log(`  ${t.met ? 'met    ' : 'NOT met'}  ${t.text}: ${t.detail}`);
        const sw = report.seeds;
        if (sw) {
            for (const t of sw.summary) console.log(`  seeds: ${t.text}: met on ${t.met} of ${t.of}`);
            console.log(`  seeds: zeta completion p95 below every baseline's: ${sw.beatsEveryBaseline} of ${sw.rows.length} (over the completions waited for: ${sw.beatsEveryBaselineWaitedFor})`);
        }
    }
}

if (require.main === module) {
    main().then(
        () => process.exit(0),
        (e: unknown) => {
            console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
            process.exit(1);
        },
    );
}
