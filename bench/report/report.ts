/**
 * The report's shape (report.json: the shape issue 4 §1 relies on, plus more fields) and the
 * fields every mode fills the same way (`reportHead`). targets.ts evaluates the targets it carries,
 * markdown.ts formats report.md, write.ts writes the folder. Units: ms, tokens, fractions 0..1, µs
 * for the decision cost.
 */
import type { Role } from '../../src/core/backend';
import { POLICY_NAMES, type PolicyName } from '../../src/core/tasks';
import type { DecisionCost } from '../sim/decisionCost';
import type { PolicyMetrics } from '../replay/metrics';
import type { Quantiles } from '../lib/stats';
import type { LeverName } from '../types';

/** A policy's numbers as report.json carries them: its metrics without the raw latency samples. */
export type PolicyReport = Omit<PolicyMetrics, 'completionFirstTokenSamples'>;

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
    readonly zetaP95: number;
    readonly staticP95: number;
    /** The trace's completions alone on an idle system (the isolated replay), p95 (ms). */
    readonly isolatedP95: number;
    /** The lowest p95 of the four baselines (ms). */
    readonly bestOtherP95: number;
    /** Zeta's p95 over the completions the user waited for, over the lowest baseline's (report's "waited for"). */
    readonly waitedForRatio: number;
    readonly targets: ReadonlyArray<Pick<Target, 'id' | 'value' | 'met'>>;
}

/** A `--seeds` sweep (bench/modes/seeds.ts). */
export interface SeedSweep {
    readonly seeds: readonly number[];
    readonly rows: readonly SeedRow[];
    /** Draws on which zeta's p95 is below every baseline's (real mode's target), and the same over the completions waited for. */
    readonly beatsEveryBaseline: number;
    readonly beatsEveryBaselineWaitedFor: number;
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
    readonly policies: Record<PolicyName, PolicyReport>;
    readonly isolated: { readonly completion: { readonly firstTokenMs: Quantiles; readonly served: number; readonly waitedForMs?: PolicyMetrics['completion']['waitedForMs'] } };
    readonly decisionCostUs: { readonly p50: number; readonly p99: number; readonly decisions: number; readonly models: number; readonly how: string };
    /** zeta with one lever off, per lever. */
    readonly ablation?: Partial<Record<LeverName, PolicyReport>>;
    /** real mode: a sim run of the same trace with the profile just measured. */
    readonly simPredicted?: Partial<
        Record<PolicyName, { readonly firstTokenMs: { readonly p50: number; readonly p95: number }; readonly firstTokenAllMs: { readonly p50: number; readonly p95: number; readonly n: number } }>
    >;
    readonly simVsReal?: Partial<
        Record<
            PolicyName,
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
    readonly simSpeedFactors?: Partial<Record<PolicyName, Partial<Record<Role, number>>>>;
    readonly targets: readonly Target[];
    /** sim with `--seeds`: the targets on the trace regenerated with each seed. */
    readonly seeds?: SeedSweep;
    readonly environment: Record<string, unknown>;
    readonly runtimeMs: number;
}

export function policyReport(m: PolicyMetrics): PolicyReport {
    const { completionFirstTokenSamples: _samples, ...report } = m;
    return report;
}

/** Every policy's report, in POLICY_NAMES order. */
export function policyReports(m: Readonly<Record<PolicyName, PolicyMetrics>>): Record<PolicyName, PolicyReport> {
    const out = {} as Record<PolicyName, PolicyReport>;
    for (const p of POLICY_NAMES) out[p] = policyReport(m[p]);
    return out;
}

export type ReportHead = Pick<Report, 'mode' | 'trace' | 'seed' | 'profile' | 'generatedAt' | 'command' | 'policies' | 'isolated' | 'decisionCostUs'>;

/** The fields every report has, from the run's identity, its policies, the isolated replay and the decision cost. */
export function reportHead(
    run: { readonly mode: Report['mode']; readonly trace: string; readonly seed: number; readonly profile: string; readonly command: string },
    metrics: Readonly<Record<PolicyName, PolicyMetrics>>,
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
        isolated: { completion: { firstTokenMs: isolated.completion.firstTokenMs, served: isolated.completion.served, waitedForMs: isolated.completion.waitedForMs } },
        decisionCostUs: { p50: cost.p50, p99: cost.p99, decisions: cost.decisions, models: cost.models, how: cost.how },
    };
}
