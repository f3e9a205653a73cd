/**
 * report.json (the shape issue 4 §1 relies on, plus more fields) and report.md with its charts.
 * The targets the report carries are evaluated in targets.ts. Units: ms, tokens, fractions 0..1,
 * µs for the decision cost.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Role } from '../../src/core/backend';
import { POLICY_NAMES, type PolicyName } from '../../src/core/tasks';
import type { DecisionCost } from '../sim/decisionCost';
import { WAITED_FOR_GAP_MS, type PolicyMetrics } from '../replay/metrics';
import { barChart, cdfChart } from './svg';
import type { Quantiles } from '../lib/stats';
import { LEVER_NAMES, type LeverName } from '../types';

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

function cell(x: number, digits = 0): string {
    return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

function pct(x: number): string {
    return Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a';
}

export function policyTable(rows: ReadonlyArray<readonly [string, PolicyReport]>): string {
    const head =
        '| policy | first token p50 / p95 / p99 (ms) | total p50 / p95 (ms) | served / cancelled / dropped | wasted tokens (share; ignoring reuse) | completions coder / embedder / reasoner | explain first token p50 / p95 (ms) | embed chunks/s | index done (s) | objectives met |\n' +
        '|---|---|---|---|---|---|---|---|---|---|\n';
    return (
        head +
        rows
            .map(([name, p]) => {
                const c = p.completion;
                const by = p.completionsByModel;
                return `| ${name} | ${cell(c.firstTokenMs.p50)} / ${cell(c.firstTokenMs.p95)} / ${cell(c.firstTokenMs.p99)} | ${cell(c.totalMs.p50)} / ${cell(c.totalMs.p95)} | ${c.served} / ${c.cancelled} / ${c.dropped + c.failed + c.hung} | ${p.wastedTokens} (${pct(p.wastedShare)}; ${pct(p.wastedShareIgnoringReuse)}) | ${pct(by.coder ?? 0)} / ${pct(by.embedder ?? 0)} / ${pct(by.reasoner ?? 0)} | ${cell(p.explain.firstTokenMs.p50)} / ${cell(p.explain.firstTokenMs.p95)} | ${cell(p.embed.chunksPerSec, 1)} | ${cell(p.embed.indexDoneMs / 1000, 1)} | ${pct(p.objectiveAttainment)} |`;
            })
            .join('\n') +
        '\n'
    );
}

export function targetsTable(targets: readonly Target[]): string {
    return (
        '| target | result | number |\n|---|---|---|\n' +
        targets.map((t) => `| ${t.text} | ${t.met ? 'met' : '**NOT met**'} | ${t.detail} (value ${cell(t.value, 2)}, limit ${cell(t.limit, 2)}) |`).join('\n') +
        '\n'
    );
}

export interface ChartInputs {
    /** Served completions' first-token latencies, ascending, per policy (and "isolated"). */
    readonly firstToken: ReadonlyArray<{ readonly name: string; readonly values: readonly number[] }>;
}

/** Per policy, each model's speed factor: "static coder x0.89, embedder x0.82; zeta ...". */
export function speedFactorsText(f: NonNullable<Report['simSpeedFactors']>): string {
    return POLICY_NAMES.filter((p) => f[p])
        .map(
            (p) =>
                `${p} ${Object.entries(f[p] ?? {})
                    .map(([m, v]) => `${m} x${cell(v ?? Number.NaN, 2)}`)
                    .join(', ')}`,
        )
        .join('; ');
}

/** Writes report.json, report.md and the SVG charts into `dir`. */
export function writeReport(dir: string, report: Report, charts: ChartInputs, notes: readonly string[]): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    const cdf = cdfChart(`Completion time to first token (${report.mode}, ${report.trace})`, charts.firstToken, { xLabel: 'ms from keystroke to first token' });
    writeFileSync(join(dir, 'completion-first-token-cdf.svg'), cdf);
    const bars = barChart(
        'Completion first token: p50 / p95 / p99',
        ['p50', 'p95', 'p99'],
        [
            ...POLICY_NAMES.map((p) => {
                const q = report.policies[p].completion.firstTokenMs;
                return { name: p, values: [q.p50, q.p95, q.p99] };
            }),
            { name: 'isolated', values: [report.isolated.completion.firstTokenMs.p50, report.isolated.completion.firstTokenMs.p95, report.isolated.completion.firstTokenMs.p99] },
        ],
    );
    writeFileSync(join(dir, 'completion-first-token-bars.svg'), bars);

    const md: string[] = [];
    md.push(`# Zeta benchmark: ${report.mode} mode, trace \`${report.trace}\``, '');
    md.push(`Command: \`${report.command}\`  `, `Profile: \`${report.profile}\`, seed ${report.seed}, generated ${report.generatedAt}, ran in ${(report.runtimeMs / 1000).toFixed(1)} s.`, '');
    md.push('## Policies side by side', '');
    md.push(policyTable(POLICY_NAMES.map((p) => [p, report.policies[p]] as const)));
    const iso = report.isolated.completion.firstTokenMs;
    md.push(`Isolated (the trace's completions alone on an idle system, static handling): first token p50 ${cell(iso.p50)} ms, p95 ${cell(iso.p95)} ms, p99 ${cell(iso.p99)} ms over ${report.isolated.completion.served} served completions.`, '');
    md.push('Latencies are of served requests; "dropped" counts deadline drops, queue-full rejections and failures. Wasted tokens: tokens computed that no served request used: the prompt tokens evaluated and the tokens generated for requests that were not served (superseded, dropped, reads ahead), less the prompt tokens a served request then reused from them; share of all generate/chat tokens computed (embeddings not counted). "Ignoring reuse" counts the reused ones as wasted too.', '');
    md.push(`### The completions the user waited for`, '');
    md.push(
        `Served-only latencies depend on what each policy serves: a policy that leaves a slow completion unanswered until the next keystroke drops it from its distribution. Here, the same requests for every policy: each completion request followed by no other for at least ${WAITED_FOR_GAP_MS} ms (a pause in typing), with its first token, or the whole pause when none came before the next keystroke ("unanswered").`,
        '',
    );
    md.push('| policy | first token p50 / p95 / p99 (ms) | requests | unanswered |\n|---|---|---|---|');
    for (const [name, c] of [...POLICY_NAMES.map((p) => [p, report.policies[p].completion] as const), ['isolated', report.isolated.completion] as const]) {
        const w = c.waitedForMs;
        if (w) md.push(`| ${name} | ${cell(w.p50)} / ${cell(w.p95)} / ${cell(w.p99)} | ${w.n} | ${w.unanswered} |`);
    }
    md.push('');
    md.push('![CDF of completion first-token latency](completion-first-token-cdf.svg)', '');
    md.push('![p50/p95/p99 bars](completion-first-token-bars.svg)', '');
    if (report.ablation) {
        md.push('## Lever ablation (zeta with one lever off)', '');
        md.push(policyTable([['zeta (all levers)', report.policies.zeta] as const, ...LEVER_NAMES.filter((l) => report.ablation?.[l]).map((l) => [`zeta without ${l}`, report.ablation?.[l] as PolicyReport] as const)]));
        const z95 = report.policies.zeta.completion.firstTokenMs.p95;
        md.push(
            LEVER_NAMES.filter((l) => report.ablation?.[l])
                .map((l) => {
                    const a = report.ablation?.[l] as PolicyReport;
                    return `- ${l}: p95 first token ${cell(a.completion.firstTokenMs.p95)} ms without it vs ${cell(z95)} ms with all levers (${cell(a.completion.firstTokenMs.p95 / z95, 2)}x); wasted share ${pct(a.wastedShare)} vs ${pct(report.policies.zeta.wastedShare)}.`;
                })
                .join('\n'),
            '',
        );
    }
    if (report.simVsReal) {
        md.push('## Simulator vs real (same trace, profile just measured)', '');
        const f = report.simSpeedFactors;
        if (f) {
            md.push(
                `The sim runs the profile measured at the start of this run with each model's times scaled by how fast the speed checks just before and just after each policy's run found it (bench/real/speedCheck.ts \`measureSpeedCheck\`, \`bracketFactors\`): ${speedFactorsText(f)}. "unscaled": the profile as measured.`,
                '',
            );
        }
        md.push('| policy | real p50 (ms) | real p50, 90% interval (ms) | sim p50 (ms) | sim/real | within ±30% | sim p50 unscaled (ms) | real p95 (ms) | sim p95 (ms) | all first tokens: real p50 / sim p50 (ms), sim/real, n real / sim |\n|---|---|---|---|---|---|---|---|---|---|');
        for (const p of POLICY_NAMES) {
            const v = report.simVsReal[p];
            if (!v) continue;
            const sp = report.simPredicted?.[p];
            md.push(
                `| ${p} | ${cell(v.realP50)} | ${v.realP50Interval90 ? `${cell(v.realP50Interval90[0])}-${cell(v.realP50Interval90[1])}` : 'n/a'} | ${cell(v.simP50)} | ${cell(v.ratio, 2)} | ${v.within30 ? 'yes' : 'NO'} | ${cell(v.simP50Unscaled ?? Number.NaN)} | ${cell(report.policies[p].completion.firstTokenMs.p95)} | ${cell(sp?.firstTokenMs.p95 ?? Number.NaN)} | ${cell(v.realAllP50)} / ${cell(v.simAllP50)}, ${cell(v.allRatio, 2)}, ${report.policies[p].completion.firstTokenAllMs.n} / ${sp?.firstTokenAllMs.n ?? 0} |`,
            );
        }
        md.push(
            '',
            'Served completions are few in a 60 s real trace (the last keystroke of each burst), so their p50 is a small sample: the 90% interval is a bootstrap over this run\'s own served completions, where its median could as well have landed (wide when the median falls between a warm and a waited-for mode). "All first tokens" also counts completions superseded after their first token.',
        );
        md.push('');
    }
    md.push('## Targets (issue 4 §5)', '');
    md.push(targetsTable(report.targets));
    md.push(`Router decision cost: p50 ${cell(report.decisionCostUs.p50, 2)} µs, p99 ${cell(report.decisionCostUs.p99, 2)} µs over ${report.decisionCostUs.decisions} decisions with ${report.decisionCostUs.models} models (${report.decisionCostUs.how}).`, '');
    if (report.seeds) {
        md.push('## Across seeds', '');
        md.push(`The same targets on \`${report.trace}\` regenerated with each seed (\`--seeds\`; bench/modes/seeds.ts): one seed is one draw of the typing, explains and workspace. Values are ratios as in the targets table; bold: not met. "isolated / static" is the ratio to static's p95 that the same completions reach alone on an idle system: on a draw where it is above 0.5, the first target is beyond what an idle system reaches too.`, '');
        md.push(seedsMarkdown(report.seeds));
    }
    if (notes.length > 0) md.push('## Notes', '', ...notes.map((n) => `- ${n}`), '');
    writeFileSync(join(dir, 'report.md'), md.join('\n'));
}

/** A `--seeds` sweep (bench/modes/seeds.ts) as markdown: a line per target (met on how many seeds, range), then a row per seed. */
export function seedsMarkdown(s: SeedSweep): string {
    const lines: string[] = [];
    lines.push('| target | met on | value min / max (limit) |', '|---|---|---|');
    for (const t of s.summary) lines.push(`| ${t.text} | ${t.met} of ${t.of} seeds | ${cell(t.min, 2)} / ${cell(t.max, 2)} (${cell(t.limit, 2)}) |`);
    lines.push('');
    lines.push(
        `Zeta's completion p95 first token below every baseline's (real mode's target; a profile measured on the CPU predicts it): on ${s.beatsEveryBaseline} of ${s.rows.length} draws; over the completions the user waited for (a pause of ${WAITED_FOR_GAP_MS} ms or more after them): on ${s.beatsEveryBaselineWaitedFor}.`,
        '',
    );
    // isolated / static: the p95 ratio to static that the same completions reach on an idle system.
    lines.push(`| seed | zeta / static / isolated p95 (ms) | isolated / static | zeta / best other p95 | waited for: zeta / best other p95 | ${s.summary.map((t) => t.id).join(' | ')} |`, `|---|---|---|---|---|${s.summary.map(() => '---|').join('')}`);
    for (const r of s.rows) {
        const cells = r.targets.map((t) => (t.met ? cell(t.value, 2) : `**${cell(t.value, 2)}**`));
        lines.push(`| ${r.seed} | ${cell(r.zetaP95, 1)} / ${cell(r.staticP95, 1)} / ${cell(r.isolatedP95, 1)} | ${cell(r.isolatedP95 / r.staticP95, 2)} | ${cell(r.zetaP95 / r.bestOtherP95, 2)} | ${cell(r.waitedForRatio, 2)} | ${cells.join(' | ')} |`);
    }
    lines.push('');
    return lines.join('\n');
}
