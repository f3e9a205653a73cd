/**
 * The team scenario's report (issue 21 §4): per phase of the shared server (saturated by teammates,
 * idle), time to suggestion for zeta and static pooled over rounds, and zeta's p95 over static's
 * within each round with its median and 90% bootstrap interval over rounds (bench/real/rounds.ts
 * `ratioSummary`). report.json carries `team` in exactly the shape the issue names, plus the
 * rounds, the load generator's counts and the targets; report.md the same as tables.
 *
 * Time to suggestion is the benchmark's headline quantity (bench/replay/metrics.ts `waitedFor`):
 * from the keystroke to the finished, post-processed completion, over the keystrokes followed by a
 * pause the user waited through. Units: ms; ratios are plain numbers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, hashString } from '../lib/rng';
import { percentile, round } from '../lib/stats';
import { poolRounds, ratioSummary, roundRatios, type RoundRun } from '../real/rounds';
import type { RequestRecord } from '../replay/harness';
import type { PolicyMetrics } from '../replay/metrics';
import type { Target } from './report';
import { TEAM_PHASES, type LoadCounts, type TeamPhase } from '../workload/teamSchedule';

export type { LoadCounts } from '../workload/teamSchedule';

/** The two policies the team scenario compares: zeta, and static (always the server, as editors do today). */
export type TeamPolicy = 'zeta' | 'static';
export const TEAM_POLICIES: readonly TeamPolicy[] = ['zeta', 'static'];

export interface Percentiles {
    readonly p50: number;
    readonly p95: number;
}

/** One phase as report.json's `team` carries it (the shape). */
export interface TeamPhaseResult {
    readonly zeta: Percentiles;
    readonly static: Percentiles;
    readonly p95Ratio: { readonly median: number; readonly ci90: [number, number] };
}

export type TeamSection = Record<TeamPhase, TeamPhaseResult>;

/** The target limits on the p95 ratio zeta / static, per phase. */
export const TEAM_LIMITS: Readonly<Record<TeamPhase, number>> = { saturated: 0.5, idle: 1.1 };

/** One policy in one phase of one round: its replay and what the load generator did beside it. */
export interface TeamRun {
    readonly run: RoundRun;
    readonly load: LoadCounts;
    /** Wall (real) or virtual (sim) ms the replay took, warm-up included. */
    readonly wallMs: number;
}

export type TeamRound = Record<TeamPhase, Record<TeamPolicy, TeamRun>>;

/** A round as report.json lists it. */
export interface TeamRoundRow {
    readonly round: number;
    /** The order the four replays ran in: "phase/policy". */
    readonly order: readonly string[];
    readonly loadavg1Before?: number;
    readonly phases: Record<
        TeamPhase,
        {
            readonly zeta: Percentiles & { readonly n: number; readonly unanswered: number; readonly byModel: Record<string, number> };
            readonly static: Percentiles & { readonly n: number; readonly unanswered: number; readonly byModel: Record<string, number> };
            readonly p95Ratio: number;
            readonly load: Record<TeamPolicy, LoadCounts>;
        }
    >;
}

/** Per phase and policy, pooled over rounds: more than the `team` shape carries. */
export interface TeamPooled {
    readonly waitedFor: PolicyMetrics['suggestion']['waitedFor'];
    readonly served: PolicyMetrics['suggestion']['served'];
    /** Share of served completions per model id. */
    readonly completionsByModel: Record<string, number>;
    readonly completions: { readonly served: number; readonly cancelled: number; readonly dropped: number; readonly failed: number; readonly hung: number };
    /**
     * Served completions from their submission to the router (after the debounce) to the
     * suggestion: the part routing and the model decide, without the policy's debounce (static
     * waits a fixed 350 ms first, zeta its adaptive 25-600 ms).
     */
    readonly afterDebounce: Percentiles & { readonly n: number };
    readonly load: LoadCounts;
}

export interface TeamReport {
    readonly mode: 'sim' | 'real';
    readonly scenario: 'team';
    readonly generatedAt: string;
    readonly command: string;
    readonly team: TeamSection;
    readonly targets: readonly Target[];
    readonly rounds: number;
    readonly pooled: Record<TeamPhase, Record<TeamPolicy, TeamPooled>>;
    readonly roundRows: readonly TeamRoundRow[];
    readonly environment: Record<string, unknown>;
    readonly runtimeMs: number;
}

/** Resamples of the bootstrap over rounds (`ratioSummary`). */
export const TEAM_RESAMPLES = 4000;

function sumLoad(xs: readonly LoadCounts[]): LoadCounts {
    const z: LoadCounts = { due: 0, sent: 0, skipped: 0, completed: 0, failed: 0, aborted: 0 };
    return xs.reduce((a, x) => ({ due: a.due + x.due, sent: a.sent + x.sent, skipped: a.skipped + x.skipped, completed: a.completed + x.completed, failed: a.failed + x.failed, aborted: a.aborted + x.aborted }), z);
}

function outcomes(records: readonly RequestRecord[]): TeamPooled['completions'] {
    const c = { served: 0, cancelled: 0, dropped: 0, failed: 0, hung: 0 };
    for (const r of records) if (r.kind === 'completion' && r.outcome) c[r.outcome]++;
    return c;
}

function afterDebounce(records: readonly RequestRecord[]): TeamPooled['afterDebounce'] {
    const ms: number[] = [];
    for (const r of records) if (r.kind === 'completion' && r.outcome === 'served' && r.submitAt !== undefined && r.suggestionAt !== undefined) ms.push(r.suggestionAt - r.submitAt);
    return { p50: round(percentile(ms, 50)), p95: round(percentile(ms, 95)), n: ms.length };
}

/**
 * The `team` section and the pooled numbers from the rounds. Per phase: each policy's rounds
 * pooled into one run (`poolRounds`); the ratio is zeta's waited-for p95 over static's within each
 * round, their median and 90% interval over rounds, seeded by the phase's name (the same rounds
 * give the same interval).
 */
export function teamSummary(rounds: readonly TeamRound[], objectiveMs: (r: RequestRecord) => number, resamples = TEAM_RESAMPLES): { team: TeamSection; pooled: TeamReport['pooled']; perRound: Record<TeamPhase, number[]> } {
    const team = {} as TeamSection;
    const pooled = {} as TeamReport['pooled'];
    const perRound = {} as Record<TeamPhase, number[]>;
    for (const phase of TEAM_PHASES) {
        const byPolicy = {} as Record<TeamPolicy, TeamPooled>;
        for (const p of TEAM_POLICIES) {
            const runs = rounds.map((r) => r[phase][p]);
            const m = poolRounds(
                runs.map((x) => x.run),
                objectiveMs,
            );
            byPolicy[p] = {
                waitedFor: m.suggestion.waitedFor,
                served: m.suggestion.served,
                completionsByModel: nonZero(m.completionsByModel),
                completions: outcomes(runs.flatMap((x) => x.run.records)),
                afterDebounce: afterDebounce(runs.flatMap((x) => x.run.records)),
                load: sumLoad(runs.map((x) => x.load)),
            };
        }
        pooled[phase] = byPolicy;
        const suggestions = rounds.map((r) => ({ zeta: r[phase].zeta.run.metrics.suggestion, static: r[phase].static.run.metrics.suggestion }));
        const ratios = roundRatios(suggestions, 'zeta', 'static', 'waitedForP95');
        perRound[phase] = ratios;
        const s = ratioSummary(ratios, createRng(hashString(`team:${phase}:zeta/static`)).next, resamples);
        const pct = (p: TeamPolicy): Percentiles => ({ p50: round(byPolicy[p].waitedFor.p50), p95: round(byPolicy[p].waitedFor.p95) });
        team[phase] = { zeta: pct('zeta'), static: pct('static'), p95Ratio: { median: round(s.median, 3), ci90: [round(s.ci90[0], 3), round(s.ci90[1], 3)] } };
    }
    return { team, pooled, perRound };
}

/**
 * The two targets, judged on the median ratio over rounds (the headline); the detail says whether
 * the interval's upper end meets the limit too (the claim at 90% confidence).
 */
export function teamTargets(team: TeamSection): Target[] {
    return TEAM_PHASES.map((phase) => {
        const r = team[phase].p95Ratio;
        const limit = TEAM_LIMITS[phase];
        const met = Number.isFinite(r.median) && r.median <= limit;
        const upperMet = Number.isFinite(r.ci90[1]) && r.ci90[1] <= limit;
        const text = phase === 'saturated' ? `server saturated: zeta p95 <= ${limit}x static p95` : `server idle: zeta p95 <= ${limit}x static p95`;
        const detail =
            `median ${r.median} (90% interval ${r.ci90[0]}-${r.ci90[1]}; upper end ${upperMet ? 'within' : 'beyond'} the limit): ` +
            `zeta p95 ${team[phase].zeta.p95} ms, static p95 ${team[phase].static.p95} ms`;
        return { id: `team-${phase}`, text, value: r.median, limit, met, detail };
    });
}

/** A round's row for report.json. */
export function roundRow(index: number, teamRound: TeamRound, order: readonly string[], ratios: Record<TeamPhase, number[]>, loadavg1Before?: number): TeamRoundRow {
    const phases = {} as TeamRoundRow['phases'];
    for (const phase of TEAM_PHASES) {
        const one = (p: TeamPolicy): TeamRoundRow['phases']['idle']['zeta'] => {
            const m = teamRound[phase][p].run.metrics;
            const w = m.suggestion.waitedFor;
            return { p50: roundMs(w.p50), p95: roundMs(w.p95), n: w.n, unanswered: w.unanswered, byModel: nonZero(m.completionsByModelCount) };
        };
        phases[phase] = { zeta: one('zeta'), static: one('static'), p95Ratio: round(ratios[phase][index], 3), load: { zeta: teamRound[phase].zeta.load, static: teamRound[phase].static.load } };
    }
    return { round: index + 1, order, loadavg1Before, phases };
}

/** Entries above 0 (the metrics list every role, even one no model of the scenario has). */
function nonZero(byModel: Record<string, number>): Record<string, number> {
    return Object.fromEntries(Object.entries(byModel).filter(([, v]) => v > 0));
}

function roundMs(x: number): number {
    return round(x, 0);
}

function fmt(x: number, digits = 0): string {
    return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

function shares(byModel: Record<string, number>): string {
    const e = Object.entries(byModel);
    return e.length === 0 ? '-' : e.map(([m, v]) => `${m} ${(100 * v).toFixed(0)}%`).join(', ');
}

/** report.md: the headline table, the targets, the rounds, the load generator, and the notes. */
export function teamMarkdown(r: TeamReport, notes: readonly string[]): string {
    const lines: string[] = [];
    lines.push(`# Team server benchmark (${r.mode})`, '', `\`${r.command}\` — ${r.generatedAt}, ${r.rounds} rounds, ${(r.runtimeMs / 1000).toFixed(0)} s`, '');
    lines.push('Time to suggestion (keystroke to finished completion, keystrokes the user waited for), pooled over rounds; ratio: zeta p95 / static p95 within each round, median over rounds (90% bootstrap interval).', '');
    lines.push('| server | zeta p50 | zeta p95 | static p50 | static p95 | p95 ratio (90% interval) | target | met |', '|---|---|---|---|---|---|---|---|');
    for (const phase of TEAM_PHASES) {
        const t = r.team[phase];
        const target = r.targets.find((x) => x.id === `team-${phase}`);
        lines.push(
            `| ${phase} | ${fmt(t.zeta.p50)} ms | ${fmt(t.zeta.p95)} ms | ${fmt(t.static.p50)} ms | ${fmt(t.static.p95)} ms | ${fmt(t.p95Ratio.median, 2)} (${fmt(t.p95Ratio.ci90[0], 2)}-${fmt(t.p95Ratio.ci90[1], 2)}) | <= ${TEAM_LIMITS[phase]} | ${target?.met ? 'met' : 'not met'} |`,
        );
    }
    lines.push('', '## Targets', '');
    for (const t of r.targets) lines.push(`- ${t.met ? 'met' : '**not met**'}: ${t.text}: ${t.detail}`);
    lines.push('', '## Pooled', '', '| server | policy | n waited for | unanswered | served p95 | after the debounce p50 / p95 | completions by model | served / cancelled / dropped / failed | teammates\' requests sent / skipped / completed |', '|---|---|---|---|---|---|---|---|---|');
    for (const phase of TEAM_PHASES) {
        for (const p of TEAM_POLICIES) {
            const x = r.pooled[phase][p];
            const c = x.completions;
            lines.push(`| ${phase} | ${p} | ${x.waitedFor.n} | ${x.waitedFor.unanswered} | ${fmt(x.served.p95)} ms | ${fmt(x.afterDebounce.p50)} / ${fmt(x.afterDebounce.p95)} ms | ${shares(x.completionsByModel)} | ${c.served} / ${c.cancelled} / ${c.dropped} / ${c.failed + c.hung} | ${x.load.sent} / ${x.load.skipped} / ${x.load.completed} |`);
        }
    }
    lines.push('', '## Rounds', '', '| round | order | load | saturated zeta p95 | saturated static p95 | ratio | idle zeta p95 | idle static p95 | ratio |', '|---|---|---|---|---|---|---|---|---|');
    for (const row of r.roundRows) {
        const s = row.phases.saturated;
        const i = row.phases.idle;
        lines.push(`| ${row.round} | ${row.order.join(', ')} | ${row.loadavg1Before ?? '-'} | ${fmt(s.zeta.p95)} | ${fmt(s.static.p95)} | ${fmt(s.p95Ratio, 2)} | ${fmt(i.zeta.p95)} | ${fmt(i.static.p95)} | ${fmt(i.p95Ratio, 2)} |`);
    }
    lines.push('', '## Notes', '', ...notes.map((n) => `- ${n}`), '');
    return lines.join('\n');
}

/** Writes DIR/report.json and DIR/report.md. */
export function writeTeamReport(dir: string, report: TeamReport, notes: readonly string[]): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileSync(join(dir, 'report.md'), teamMarkdown(report, notes));
}
