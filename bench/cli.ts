/**
 * The benchmark's command line: parses the arguments and runs the mode (bench/modes/).
 *
 *   npm run bench -- --mode sim|real|profile [--trace FILE] [--seed N] [--profile FILE] --out DIR
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
 *   npm run bench -- --search --out DIR [--seed N] [--files N]
 *
 *   --search  workspace search's speed and size on a generated workspace (bench/modes/search.ts):
 *            DIR/search.json with the keys of issue 18 §5; --files (default 10,000) sizes it.
 *
 * Other flags: --no-ablation, --no-isolated, --quick (real: 2 short rounds),
 * --read-ahead MS (editor events: the document shown MS before the first keystroke after each
 * switch of document, passed to Router.readAhead; the shipped traces have none), --seeds LIST
 * (sim: also the §5 targets on the shipped trace regenerated with each seed, e.g. 1-12; bench/modes/seeds.ts).
 *
 *   npm run bench -- --mode real|sim --scenario team --out DIR [--rounds N] [--quick] [--local coder|tiny]
 *            the shared team server (issue 21 §4, bench/modes/team.ts): the coder on llama-server
 *            (real: on loopback; sim: a simulated engine with an RTT) kept busy by a load generator,
 *            a local coder in process, zeta against static with the server saturated and idle:
 *            DIR/report.json (`team`) and report.md.
 *
 *   npm run bench -- --search-quality --workspace DIR [--queries FILE] [--embedder generated|use-lite|PATH.gguf] --out DIR
 *            retrieval quality of workspace search on any folder (bench/modes/searchQuality.ts).
 *
 *   npm run bench -- --workbench --out DIR [--rounds N] [--bursts N] [--seed N] [--quick] [--sim-report FILE] [--no-build]
 *            time from a keystroke to ghost text in the real editor (code-server + headless
 *            Chromium, the tiny generated models), static against zeta in alternating rounds
 *            (bench/modes/workbench.ts): DIR/workbench.json and workbench.md.
 */
import { join } from 'node:path';
import { runProfileMode } from './modes/profile';
import { runRealMode } from './modes/real';
import { runSearchMode, type SearchArgs } from './modes/search';
import { parseSearchQualityArgs, runSearchQuality } from './modes/searchQuality';
import { runSimMode } from './modes/sim';
import { runTeamReal, runTeamSim } from './modes/team';
import { parseWorkbenchArgs, runWorkbenchMode } from './modes/workbench';
import type { Report } from './report/report';
import type { CliArgs } from './types';
import { DEFAULT_TRACE_SEED } from './workload/generate';

/** The most seeds one sweep runs (each is a full five-policy run plus the isolated replay). */
export const MAX_SEEDS = 50;

/** "3", "1-12" or "1,4,9" (and mixes: "1-3,7"): distinct whole seeds, ascending. */
export function parseSeeds(text: string): number[] {
    const out = new Set<number>();
    for (const part of text.split(',')) {
        const m = /^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?$/.exec(part);
        if (!m) throw new Error(`--seeds takes seeds like "1-12" or "1,4,9", got "${text}"`);
        const a = Number(m[1]);
        const b = m[2] === undefined ? a : Number(m[2]);
        if (b < a) throw new Error(`--seeds: the range "${part.trim()}" ends before it starts`);
        for (let s = a; s <= b; s++) {
            out.add(s);
            if (out.size > MAX_SEEDS) throw new Error(`--seeds: at most ${MAX_SEEDS} seeds in one sweep`);
        }
    }
    return [...out].sort((x, y) => x - y);
}

/** The value after flag `argv[i]`. */
function valueOf(argv: readonly string[], i: number): string {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value`);
    return v;
}

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
    let scenario: 'team' | undefined;
    let local: 'coder' | 'tiny' | undefined;
    let rounds: number | undefined;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = (): string => valueOf(argv, i++);
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
            case '--scenario': {
                const v = value();
                if (v !== 'team') throw new Error(`--scenario takes "team", got "${v}"`);
                scenario = v;
                break;
            }
            case '--local': {
                const v = value();
                if (v !== 'coder' && v !== 'tiny') throw new Error(`--local takes "coder" or "tiny", got "${v}"`);
                local = v;
                break;
            }
            case '--rounds':
                rounds = Number(value());
                if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a whole number >= 1, got "${argv[i]}"`);
                break;
            default:
                throw new Error(`unknown argument "${a}" (see bench/cli.ts for usage)`);
        }
    }
    if (!mode) throw new Error('--mode sim|real|profile is required');
    if (seeds !== undefined && mode !== 'sim') throw new Error('--seeds is for --mode sim (a real run of one seed takes most of 10 minutes)');
    if (scenario === 'team' && mode === 'profile') throw new Error('--scenario team is for --mode sim or real');
    if ((local !== undefined || rounds !== undefined) && scenario !== 'team') throw new Error('--local and --rounds are for --scenario team');
    const defaultOut = scenario ? join('bench-out', `${mode}-${scenario}`) : join('bench-out', mode);
    return { mode, trace, seed, out: out ?? defaultOut, profile, ablation, isolated, save, quick, readAheadMs, seeds, scenario, local, rounds };
}

/** `--search [--out DIR] [--seed N] [--files N]`: the search benchmark's own flags. */
export function parseSearchArgs(argv: readonly string[]): SearchArgs {
    let out = join('bench-out', 'search');
    let seed = 1;
    let files = 10_000;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = (): string => valueOf(argv, i++);
        if (a === '--search') continue;
        else if (a === '--out') out = value();
        else if (a === '--seed') seed = Number(value());
        else if (a === '--files') files = Number(value());
        else throw new Error(`--search takes --out, --seed and --files, not "${a}"`);
    }
    if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got "${seed}"`);
    if (!(Number.isInteger(files) && files >= 2)) throw new Error(`--files must be a whole number >= 2, got "${files}"`);
    return { out, seed, files, sim: true };
}

async function main(): Promise<void> {
    const argv = process.argv.slice(2);
    if (argv.includes('--search-quality')) {
        await runSearchQuality(parseSearchQualityArgs(argv));
        return;
    }
    if (argv.includes('--workbench')) {
        const args = parseWorkbenchArgs(argv);
        const r = await runWorkbenchMode(args, `npm run bench -- ${argv.join(' ')}`);
        console.log(`\nwrote ${join(args.out, 'workbench.json')} and workbench.md (${(r.runtimeMs / 1000).toFixed(1)} s)`);
        for (const p of ['static', 'zeta'] as const) console.log(`  ${p}: p50 ${r.policies[p].p50} ms, p95 ${r.policies[p].p95} ms, ${r.policies[p].unanswered} of ${r.policies[p].n} pauses unanswered`);
        console.log(`  zeta/static: p50 ${r.ratio.p50}, p95 ${r.ratio.p95}; sim p95 ratio ${r.sim.ratioP95 ?? '-'}, agrees in sign: ${r.simAgreesInSign ?? '-'}`);
        return;
    }
    if (argv.includes('--search')) {
        const { report, targets, runtimeMs } = await runSearchMode(parseSearchArgs(argv));
        console.log(`\nwrote ${join(parseSearchArgs(argv).out, 'search.json')} (${(runtimeMs / 1000).toFixed(1)} s)`);
        console.log(JSON.stringify(report));
        for (const t of targets) console.log(`  ${t.met ? 'met    ' : 'NOT met'}  ${t.text}: ${t.detail}`);
        return;
    }
    const args = parseArgs(argv);
    const command = `npm run bench -- ${argv.join(' ')}`;
    if (args.scenario === 'team' && args.mode !== 'profile') {
        const team = { mode: args.mode, out: args.out, seed: args.seed, quick: args.quick, trace: args.trace, local: args.local ?? 'coder', rounds: args.rounds };
        const r = args.mode === 'sim' ? await runTeamSim(team, command) : await runTeamReal(team, command);
        console.log(`\nwrote ${join(args.out, 'report.json')} and report.md (${(r.runtimeMs / 1000).toFixed(1)} s, ${r.rounds} rounds)`);
        console.log(JSON.stringify({ team: r.team }));
        for (const t of r.targets) console.log(`  ${t.met ? 'met    ' : 'NOT met'}  ${t.text}: ${t.detail}`);
        return;
    }
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
            console.log(`  seeds: every target met on ${sw.allMet} of ${sw.rows.length}`);
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
