/**
 * report.md's text from a report: the policy and target tables, the ablation, sim vs real, the
 * sweep across seeds. Formats what it is given; computes no number of its own but ratios for
 * display. Also the speed factors as one line of text (real mode logs it too).
 */
import { BENCH_POLICIES, BASELINE_DEBOUNCE_MS } from '../policies';
import { WAITED_FOR_GAP_MS } from '../replay/metrics';
import { LEVER_NAMES } from '../types';
import type { PolicyReport, RealRounds, Report, RoundRatio, SeedSweep, Target } from './report';

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

/** Time to suggestion per row: over served completions and over the completions the user waited for. */
export function suggestionTable(rows: ReadonlyArray<readonly [string, PolicyReport['suggestion'], PolicyReport | undefined]>): string {
    const head =
        '| policy | waited for: p50 / p95 / p99 (ms) | waited for: n (unanswered) | served: p50 / p95 / p99 (ms) | served: n | first token p50 / p95 (ms) | wasted share | explain first token p95 (ms) | index done (s) | coder share |\n' +
        '|---|---|---|---|---|---|---|---|---|---|\n';
    return (
        head +
        rows
            .map(([name, s, p]) => {
                const w = s.waitedFor;
                const v = s.served;
                const rest = p
                    ? `${cell(p.completion.firstTokenMs.p50)} / ${cell(p.completion.firstTokenMs.p95)} | ${pct(p.wastedShare)} | ${cell(p.explain.firstTokenMs.p95)} | ${cell(p.embed.indexDoneMs / 1000, 1)} | ${pct(p.completionsByModel.coder ?? 0)}`
                    : ' | | | | ';
                return `| ${name} | ${cell(w.p50)} / ${cell(w.p95)} / ${cell(w.p99)} | ${w.n} (${w.unanswered}) | ${cell(v.p50)} / ${cell(v.p95)} / ${cell(v.p99)} | ${v.n} | ${rest} |`;
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
    return BENCH_POLICIES.filter((p) => f[p])
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
    md.push('## Time to suggestion', '');
    md.push(
        `From the keystroke to the suggestion the provider returns (complete and post-processed: what VS Code shows), through the completion pipeline the editor runs (src/core/completion/pipeline.ts), debounce included. "Waited for": the keystrokes followed by a pause of at least ${WAITED_FOR_GAP_MS} ms, the same for every policy; a pause that ended with no suggestion counts as the whole pause ("unanswered"). The baselines ask after a fixed ${BASELINE_DEBOUNCE_MS} ms debounce (Continue's default), static-nodebounce at every keystroke, zeta after its adaptive debounce; isolated is zeta's pipeline and router on the trace's completions alone.`,
        '',
    );
    md.push(suggestionTable([...BENCH_POLICIES.map((p) => [p, report.policies[p].suggestion, report.policies[p]] as const), ['isolated', report.isolated.suggestion, undefined] as const]));
    md.push('![CDF of time to suggestion](time-to-suggestion-cdf.svg)', '');
    md.push('![p50/p95/p99 bars](time-to-suggestion-bars.svg)', '');
    md.push('## Targets (issue 19 §3)', '');
    md.push(targetsTable(report.targets));
    md.push(`Router decision cost: p50 ${cell(report.decisionCostUs.p50, 2)} µs, p99 ${cell(report.decisionCostUs.p99, 2)} µs over ${report.decisionCostUs.decisions} decisions with ${report.decisionCostUs.models} models (${report.decisionCostUs.how}).`, '');
    if (report.realRounds) md.push(roundsMarkdown(report.realRounds));
    md.push('## Policies side by side', '');
    md.push(policyTable(BENCH_POLICIES.map((p) => [p, report.policies[p]] as const)));
    md.push('First token and total: from the task\'s submission to the router (after the debounce). Latencies are of served requests; "dropped" counts deadline drops, queue-full rejections and failures. Wasted tokens: tokens computed that no served request used: the prompt tokens evaluated and the tokens generated for requests that were not served (superseded, dropped, reads ahead), less the prompt tokens a served request then reused from them; share of all generate/chat tokens computed (embeddings not counted). "Ignoring reuse" counts the reused ones as wasted too.', '');
    md.push(`### First token, the completions the user waited for`, '');
    md.push(`From the keystroke (debounce included) to the first token, over the same keystrokes as above; a pause with no first token counts whole ("unanswered").`, '');
    md.push('| policy | first token p50 / p95 / p99 (ms) | requests | unanswered |\n|---|---|---|---|');
    for (const [name, c] of [...BENCH_POLICIES.map((p) => [p, report.policies[p].completion] as const), ['isolated', report.isolated.completion] as const]) {
        const w = c.waitedForMs;
        if (w) md.push(`| ${name} | ${cell(w.p50)} / ${cell(w.p95)} / ${cell(w.p99)} | ${w.n} | ${w.unanswered} |`);
    }
    md.push('');
    if (report.ablation) {
        md.push('## Lever ablation (zeta with one lever off)', '');
        md.push(suggestionTable([['zeta (all levers)', report.policies.zeta.suggestion, report.policies.zeta] as const, ...LEVER_NAMES.filter((l) => report.ablation?.[l]).map((l) => [`zeta without ${l}`, (report.ablation?.[l] as PolicyReport).suggestion, report.ablation?.[l] as PolicyReport] as const)]));
        const z = report.policies.zeta;
        md.push(
            LEVER_NAMES.filter((l) => report.ablation?.[l])
                .map((l) => {
                    const a = report.ablation?.[l] as PolicyReport;
                    const ratio = (q: 'p50' | 'p95'): string => cell(a.suggestion.waitedFor[q] / z.suggestion.waitedFor[q], 2);
                    return `- ${l}: time to suggestion p50 / p95 ${cell(a.suggestion.waitedFor.p50)} / ${cell(a.suggestion.waitedFor.p95)} ms without it vs ${cell(z.suggestion.waitedFor.p50)} / ${cell(z.suggestion.waitedFor.p95)} ms with all levers (${ratio('p50')}x / ${ratio('p95')}x); explain p95 ${cell(a.explain.firstTokenMs.p95)} vs ${cell(z.explain.firstTokenMs.p95)} ms; index done ${cell(a.embed.indexDoneMs / 1000, 1)} vs ${cell(z.embed.indexDoneMs / 1000, 1)} s; wasted share ${pct(a.wastedShare)} vs ${pct(z.wastedShare)}.`;
                })
                .join('\n'),
            '',
        );
    }
    if (report.simVsReal) {
        md.push('## Simulator vs real (same trace, profile just measured)', '');
        md.push('p50 and p95: time to suggestion over the completions the user waited for, real and as the sim predicted it.', '');
        const f = report.simSpeedFactors;
        if (f) {
            md.push(
                `The sim runs the profile measured at the start of this run with each model's times scaled by how fast the speed checks just before and just after each policy's run found it (bench/real/speedCheck.ts \`measureSpeedCheck\`, \`bracketFactors\`): ${speedFactorsText(f)}. "unscaled": the profile as measured.`,
                '',
            );
        }
        md.push('| policy | real p50 (ms) | real p50, 90% interval (ms) | sim p50 (ms) | sim/real | within ±30% | sim p50 unscaled (ms) | real p95 (ms) | sim p95 (ms) | all first tokens: real p50 / sim p50 (ms), sim/real, n real / sim |\n|---|---|---|---|---|---|---|---|---|---|');
        for (const p of BENCH_POLICIES) {
            const v = report.simVsReal[p];
            if (!v) continue;
            const sp = report.simPredicted?.[p];
            md.push(
                `| ${p} | ${cell(v.realP50)} | ${v.realP50Interval90 ? `${cell(v.realP50Interval90[0])}-${cell(v.realP50Interval90[1])}` : 'n/a'} | ${cell(v.simP50)} | ${cell(v.ratio, 2)} | ${v.within30 ? 'yes' : 'NO'} | ${cell(v.simP50Unscaled ?? Number.NaN)} | ${cell(report.policies[p].suggestion.waitedFor.p95)} | ${cell(sp?.suggestionWaitedForMs.p95 ?? Number.NaN)} | ${cell(v.realAllP50)} / ${cell(v.simAllP50)}, ${cell(v.allRatio, 2)}, ${report.policies[p].completion.firstTokenAllMs.n} / ${sp?.firstTokenAllMs.n ?? 0} |`,
            );
        }
        md.push(
            '',
            'Served completions are few in a 60 s real trace (the last keystroke of each burst), so their p50 is a small sample: the 90% interval is a bootstrap over this run\'s own served completions, where its median could as well have landed (wide when the median falls between a warm and a waited-for mode). "All first tokens" also counts completions superseded after their first token.',
        );
        md.push('');
    }
    if (report.seeds) {
        md.push('## Across seeds', '');
        md.push(`The same targets on \`${report.trace}\` regenerated with each seed (\`--seeds\`; bench/modes/seeds.ts): one seed is one draw of the typing, explains and workspace. Values are ratios as in the targets table; bold: not met.`, '');
        md.push(seedsMarkdown(report.seeds));
    }
    if (notes.length > 0) md.push('## Notes', '', ...notes.map((n) => `- ${n}`), '');
    return md.join('\n');
}

/** A ratio over rounds: "0.62 (0.48-0.81)", median (90% interval). */
function ratioCell(x: RoundRatio | undefined): string {
    return x ? `${cell(x.median, 2)} (${cell(x.ci90[0], 2)}-${cell(x.ci90[1], 2)})` : 'n/a';
}

/** Real mode's interleaved rounds (bench/real/rounds.ts): the ratios over rounds, then each round. */
export function roundsMarkdown(r: RealRounds): string {
    const md: string[] = [];
    const quantities = [
        ['waitedForP95', 'waited for p95'],
        ['servedP95', 'served p95'],
        ['waitedForP50', 'waited for p50'],
        ['servedP50', 'served p50'],
    ] as const;
    md.push(`## Rounds (${r.rounds.length})`, '');
    md.push(
        `Each round runs every policy on the same segment of the trace (cut at a pause of typing, at least ${cell(r.segmentTargetMs / 1000, 1)} s, times rebased to 0; a segment that starts in the middle of typing a document first replays the keystroke before the cut there, not measured, so that the document is read as in the whole trace), one after another in a shuffled order (seed ${r.orderSeed}), then a speed check. A ratio is taken within each round, where both policies met nearly the same machine; below, its median over rounds and, in brackets, the 90% bootstrap interval of that median (resampling rounds). Time to suggestion, ms.`,
        '',
    );
    md.push(`zeta over each baseline:`, '');
    md.push(`| baseline | ${quantities.map(([, t]) => t).join(' | ')} |`, `|---|${quantities.map(() => '---|').join('')}`);
    for (const p of BENCH_POLICIES) {
        const z = r.zetaVs[p];
        if (z) md.push(`| ${p} | ${quantities.map(([q]) => ratioCell(z[q])).join(' | ')} |`);
    }
    md.push('', 'Each policy over static:', '');
    md.push(`| policy | ${quantities.map(([, t]) => t).join(' | ')} |`, `|---|${quantities.map(() => '---|').join('')}`);
    for (const p of BENCH_POLICIES) {
        const v = r.vsStatic[p];
        if (v) md.push(`| ${p} | ${quantities.map(([q]) => ratioCell(v[q])).join(' | ')} |`);
    }
    md.push('', 'Round by round: time to suggestion waited for, p95 real (sim) in ms, and the ratio to static; the speed factors of the checks before and after the round (> 1: slower than the profile), which scale the sim.', '');
    const policies = BENCH_POLICIES.filter((p) => r.rounds.some((x) => x.real[p]));
    md.push(`| round | segment (s) | order | load | speed: coder / reasoner / embedder | ${policies.join(' | ')} |`, `|---|---|---|---|---|${policies.map(() => '---|').join('')}`);
    for (const [i, x] of r.rounds.entries()) {
        const st = x.real.static?.waitedFor.p95 ?? Number.NaN;
        const f = x.speedFactors;
        const cells = policies.map((p) => {
            const v = x.real[p]?.waitedFor.p95 ?? Number.NaN;
            return `${cell(v)} (${cell(x.sim[p]?.waitedFor.p95 ?? Number.NaN)}), x${cell(v / st, 2)}`;
        });
        md.push(
            `| ${i + 1} | ${cell(x.segment.fromMs / 1000, 1)}-${cell(x.segment.toMs / 1000, 1)} (${x.segment.keystrokes} keys${x.segment.leadIn > 0 ? ', lead-in' : ''}) | ${x.order.join(', ')} | ${cell(x.loadavg1Before, 2)} | ${cell(f.coder ?? Number.NaN, 2)} / ${cell(f.reasoner ?? Number.NaN, 2)} / ${cell(f.embedder ?? Number.NaN, 2)} | ${cells.join(' | ')} |`,
        );
    }
    md.push('');
    return md.join('\n');
}

/** A `--seeds` sweep (bench/modes/seeds.ts) as markdown: a line per target (met on how many seeds, range), then a row per seed. */
export function seedsMarkdown(s: SeedSweep): string {
    const lines: string[] = [];
    lines.push('| target | met on | value min / max (limit) |', '|---|---|---|');
    for (const t of s.summary) lines.push(`| ${t.text} | ${t.met} of ${t.of} seeds | ${cell(t.min, 2)} / ${cell(t.max, 2)} (${cell(t.limit, 2)}) |`);
    lines.push('', `Every target met on ${s.allMet} of ${s.rows.length} draws.`, '');
    lines.push(`| seed | time to suggestion p50 / p95 (ms): zeta, static, isolated | ${s.summary.map((t) => t.id).join(' | ')} |`, `|---|---|${s.summary.map(() => '---|').join('')}`);
    for (const r of s.rows) {
        const cells = r.targets.map((t) => (t.met ? cell(t.value, 2) : `**${cell(t.value, 2)}**`));
        lines.push(`| ${r.seed} | ${cell(r.zeta.p50)} / ${cell(r.zeta.p95)}, ${cell(r.static.p50)} / ${cell(r.static.p95)}, ${cell(r.isolated.p50)} / ${cell(r.isolated.p95)} | ${cells.join(' | ')} |`);
    }
    lines.push('');
    return lines.join('\n');
}
