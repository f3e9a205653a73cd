/**
 * report.md's text from a report: the policy and target tables, the ablation, sim vs real, the
 * sweep across seeds. Formats what it is given; computes no number of its own but ratios for
 * display. Also the speed factors as one line of text (real mode logs it too).
 */
import { POLICY_NAMES } from '../../src/core/tasks';
import { WAITED_FOR_GAP_MS } from '../replay/metrics';
import { LEVER_NAMES } from '../types';
import type { PolicyReport, Report, SeedSweep, Target } from './report';

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

/** report.md: the tables, the targets, the sweep across seeds and `notes`, for a report whose charts lie beside it. */
export function reportMarkdown(report: Report, notes: readonly string[]): string {
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
    return md.join('\n');
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
