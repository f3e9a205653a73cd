/**
 * The report's shape (report.json: the shape issue 4 §1 relies on, plus more fields) and the
 * fields every mode fills the same way (`reportHead`). targets.ts evaluates the targets it carries,
 * markdown.ts formats report.md, write.ts writes the folder. Units: ms, tokens, fractions 0..1, µs
 * for the decision cost.
 */
import type { Role } from '../../src/core/backend';
import { BENCH_POLICIES, type BenchPolicy } from '../policies';
import type { DecisionCost } from '../sim/decisionCost';
import type { PolicyMetrics } from '../replay/metrics';
import type { Quantiles } from '../lib/stats';
import type { LeverName } from '../types';

/** A policy's numbers as report.json carries them: its metrics without the raw latency samples. */
export type PolicyReport = Omit<PolicyMetrics, 'completionFirstTokenSamples' | 'suggestionWaitedForSamples'>;

export interface Target {
    readonly id: string;
    readonly text: string;
    readonly value: number;
    readonly limit: number;
    readonly met: boolean;
    readonly detail: string;
}

export interface SeedRow {
    readonly seed: number;
    /** Time to suggestion over the completions the user waited for (ms). */
    readonly zeta: { readonly p50: number; readonly p95: number };
    readonly static: { readonly p50: number; readonly p95: number };
    readonly isolated: { readonly p50: number; readonly p95: number };
    readonly targets: ReadonlyArray<Pick<Target, 'id' | 'value' | 'met'>>;
}

/** A `--seeds` sweep (bench/modes/seeds.ts). */
export interface SeedSweep {
    readonly seeds: readonly number[];
    readonly rows: readonly SeedRow[];
    /** Draws on which every target was met. */
    readonly allMet: number;
    /** Per target, in the order of the targets table: on how many seeds it was met, and the range of its value. */
    readonly summary: ReadonlyArray<{ readonly id: string; readonly text: string; readonly limit: number; readonly met: number; readonly of: number; readonly min: number; readonly max: number }>;
}

export interface Report {
    readonly mode: 'sim' | 'real';
    readonly trace: string;
    readonly seed: number;
    readonly profile: string;
    readonly generatedAt: string;
    readonly command: string;
    readonly policies: Record<BenchPolicy, PolicyReport>;
    /** zeta's pipeline and router on the trace's completions alone (an otherwise idle system). */
    readonly isolated: {
        readonly completion: { readonly firstTokenMs: Quantiles; readonly served: number; readonly waitedForMs?: PolicyMetrics['completion']['waitedForMs'] };
        readonly suggestion: PolicyMetrics['suggestion'];
    };
    readonly decisionCostUs: { readonly p50: number; readonly p99: number; readonly decisions: number; readonly models: number; readonly how: string };
    /** zeta with one lever off, per lever. */
    readonly ablation?: Partial<Record<LeverName, PolicyReport>>;
    /**
     * real mode: a sim run of the same trace with the profile just measured: time to suggestion
     * over the completions waited for (`suggestionWaitedForMs`), and every first token.
     */
    readonly simPredicted?: Partial<
        Record<BenchPolicy, { readonly suggestionWaitedForMs: { readonly p50: number; readonly p95: number }; readonly firstTokenAllMs: { readonly p50: number; readonly p95: number; readonly n: number } }>
    >;
    readonly simVsReal?: Partial<
        Record<
            BenchPolicy,
            {
                readonly realP50: number;
                readonly simP50: number;
                readonly ratio: number;
                readonly within30: boolean;
                readonly realAllP50: number;
                readonly simAllP50: number;
                readonly allRatio: number;
                /** The sim p50 with the profile as measured, before the speed checks' scaling. */
                readonly simP50Unscaled?: number;
                /**
                 * A 90% bootstrap interval for the real p50 from this run's own served completions
                 * (bench/lib/stats.ts `bootstrapInterval`): where this run's median could have landed.
                 */
                readonly realP50Interval90?: readonly [number, number];
            }
        >
    >;
    /**
     * real mode: per policy, per model, how much slower than the profile measured it the speed
     * checks just before and just after that policy's run found the machine (bench/real/speedCheck.ts
     * `bracketFactors`); that policy's `simPredicted` used the profile with each model's times
     * scaled by its factor.
     */
    readonly simSpeedFactors?: Partial<Record<BenchPolicy, Partial<Record<Role, number>>>>;
    /** real mode: how many interleaved rounds ran (bench/real/rounds.ts); `policies` pools them. */
    readonly rounds?: number;
    /**
     * real mode: zeta's time to suggestion over each baseline's, per round, as the median over
     * rounds and its 90% bootstrap interval over rounds; p95 and p50, waited for and served.
     */
    readonly zetaVs?: Partial<Record<BenchPolicy, ZetaVs>>;
    /** real mode: the rounds one by one, and every policy's ratios to static over them. */
    readonly realRounds?: RealRounds;
    readonly targets: readonly Target[];
    /** sim with `--seeds`: the targets on the trace regenerated with each seed. */
    readonly seeds?: SeedSweep;
    readonly environment: Record<string, unknown>;
    readonly runtimeMs: number;
}

/** A ratio over rounds: its median and a 90% bootstrap interval of the median, resampling rounds. */
export interface RoundRatio {
    readonly median: number;
    readonly ci90: readonly [number, number];
}

/** zeta's ratios to one baseline (real mode's `zetaVs`). */
export interface ZetaVs {
    readonly waitedForP95Ratio: RoundRatio;
    readonly servedP95Ratio: RoundRatio;
    readonly waitedForP50Ratio: RoundRatio;
    readonly servedP50Ratio: RoundRatio;
}

/** A ratio's value in each round, with its median and interval over them. */
export interface RoundRatioDetail extends RoundRatio {
    /** One per round; null in JSON where a round has no number for either side. */
    readonly perRound: readonly number[];
}

/** One real-mode round: a segment of the trace, every policy on it in a shuffled order, a speed check after. */
export interface RealRound {
    /** Where the segment lies in the trace (ms), its lines and keystrokes, and its lead-in's lines (replayed first, not measured). */
    readonly segment: { readonly index: number; readonly fromMs: number; readonly toMs: number; readonly lines: number; readonly keystrokes: number; readonly leadIn: number };
    /** The order the policies ran in ("isolated": zeta on the segment's completions alone). */
    readonly order: readonly string[];
    /** Per model, the speed factors of the checks just before and after the round (the sim's scaling). */
    readonly speedFactors: Partial<Record<Role, number>>;
    readonly loadavg1Before: number;
    readonly wallMs: number;
    /** Per policy, time to suggestion in this round (ms): real, and the sim's prediction. */
    readonly real: Partial<Record<BenchPolicy | 'isolated', RoundSuggestion>>;
    readonly sim: Partial<Record<BenchPolicy, RoundSuggestion>>;
}

export interface RoundSuggestion {
    readonly waitedFor: { readonly p50: number; readonly p95: number; readonly n: number; readonly unanswered: number };
    readonly served: { readonly p50: number; readonly p95: number; readonly n: number };
}

export interface RealRounds {
    /** The segments' target length (ms): each is cut at the first pause after it. */
    readonly segmentTargetMs: number;
    /** The seed of the rounds' shuffled orders. */
    readonly orderSeed: number;
    readonly rounds: readonly RealRound[];
    /** Per policy, its ratio to static per round, median and 90% interval over rounds. */
    readonly vsStatic: Partial<Record<BenchPolicy, Record<'waitedForP50' | 'waitedForP95' | 'servedP50' | 'servedP95', RoundRatioDetail>>>;
    /** zeta over each baseline per round (the inputs of `zetaVs`). */
    readonly zetaVs: Partial<Record<BenchPolicy, Record<'waitedForP50' | 'waitedForP95' | 'servedP50' | 'servedP95', RoundRatioDetail>>>;
}

export function policyReport(m: PolicyMetrics): PolicyReport {
    const { completionFirstTokenSamples: _samples, suggestionWaitedForSamples: _waited, ...report } = m;
    return report;
}

/** Every policy's report, in POLICY_NAMES order. */
export function policyReports(m: Readonly<Record<BenchPolicy, PolicyMetrics>>): Record<BenchPolicy, PolicyReport> {
    const out = {} as Record<BenchPolicy, PolicyReport>;
    for (const p of BENCH_POLICIES) out[p] = policyReport(m[p]);
    return out;
}

export type ReportHead = Pick<Report, 'mode' | 'trace' | 'seed' | 'profile' | 'generatedAt' | 'command' | 'policies' | 'isolated' | 'decisionCostUs'>;

/** The fields every report has, from the run's identity, its policies, the isolated replay and the decision cost. */
export function reportHead(
    run: { readonly mode: Report['mode']; readonly trace: string; readonly seed: number; readonly profile: string; readonly command: string },
    metrics: Readonly<Record<BenchPolicy, PolicyMetrics>>,
    isolated: PolicyMetrics,
    cost: DecisionCost,
): ReportHead {
    return {
        mode: run.mode,
        trace: run.trace,
        seed: run.seed,
        profile: run.profile,
        generatedAt: new Date().toISOString(),
        command: run.command,
        policies: policyReports(metrics),
        isolated: {
            completion: { firstTokenMs: isolated.completion.firstTokenMs, served: isolated.completion.served, waitedForMs: isolated.completion.waitedForMs },
            suggestion: isolated.suggestion,
        },
        decisionCostUs: { p50: cost.p50, p99: cost.p99, decisions: cost.decisions, models: cost.models, how: cost.how },
    };
}
