/**
 * `--workbench`'s output: DIR/workbench.json (the shape below) and DIR/workbench.md.
 *
 * Rounds alternate static, zeta, static, zeta...; each policy's numbers are over all its rounds'
 * pauses. `ratio` is zeta over static; below 1 means zeta showed ghost text sooner.
 */
import { createRng } from '../../lib/rng';
import { round } from '../../lib/stats';
import { agreeInSign, ratio, ratioInterval, simRatio, summarize, type PauseTiming, type Summary } from './timing';
import type { RoundEvidence } from './zetaLog';

/** The ratio's bootstrap interval: its level, resamples and seed (seeded: a report is reproducible from its pauses). */
const INTERVAL = { level: 0.9, resamples: 2000, seed: 19 } as const;

export const WORKBENCH_POLICIES = ['static', 'zeta'] as const;
export type WorkbenchPolicy = (typeof WORKBENCH_POLICIES)[number];

/** The policy of round `index` (0-based): static first, then alternating. */
export function roundPolicy(index: number): WorkbenchPolicy {
    return WORKBENCH_POLICIES[index % 2];
}

/** What a policy is in the editor: the router policy and the debounce bounds (ms) the round sets. */
export interface PolicyHandling {
    readonly routerPolicy: WorkbenchPolicy;
    readonly debounceMinMs: number;
    readonly debounceMaxMs: number;
}

export interface RoundResult {
    readonly index: number;
    readonly policy: WorkbenchPolicy;
    /** How the policy was seen in force before the round was typed (the load view's header). */
    readonly verified: string;
    readonly pauses: readonly PauseTiming[];
    /** Bursts whose keys the page did not see (a driver fault; 0 in a good run). */
    readonly missing: number;
    readonly p50: number;
    readonly p95: number;
    readonly unanswered: number;
    /** Whether the document held exactly the file plus the script's text after the round. */
    readonly typedAsScripted: boolean;
    /** What Zeta's log says about the round (null: not read). */
    readonly log: RoundEvidence | null;
}

export interface WorkbenchReport {
    readonly mode: 'workbench';
    readonly generatedAt: string;
    readonly command: string;
    readonly note: string;
    readonly environment: {
        readonly workbench: string;
        readonly browser: string;
        readonly models: string;
        readonly cpus: number;
        readonly node: string;
        /** The 1-minute load average as the run started and as it ended (other work on the machine). */
        readonly loadAverage: { readonly start: number; readonly end: number };
    };
    readonly script: {
        readonly seed: number;
        readonly file: string;
        readonly bursts: number;
        readonly keys: number;
        readonly keyGapMs: readonly [number, number];
        readonly pauseMs: readonly [number, number];
        readonly roundMs: number;
        readonly text: string;
    };
    readonly roundsPerPolicy: number;
    /** Each policy as the rounds set it (bench/policies.ts, the same as the sim's). */
    readonly handling: Record<WorkbenchPolicy, PolicyHandling>;
    readonly rounds: readonly RoundResult[];
    /** Over every pause of the policy's rounds: ms from the last keystroke to ghost text. */
    readonly policies: Record<WorkbenchPolicy, Summary & { readonly servedBy: Record<string, number> }>;
    /** Every round's log showed its policy and debounce in force (false also when a log was not read). */
    readonly policiesInForce: boolean;
    /** zeta / static. */
    readonly ratio: { readonly p50: number; readonly p95: number };
    /** A 90% bootstrap interval of each ratio over the pauses measured: across 1, the sign is open. */
    readonly ratioInterval90: { readonly p50: readonly [number, number]; readonly p95: readonly [number, number] };
    readonly sim: {
        readonly report: string | null;
        /** zeta / static of the sim's `suggestion.waitedFor.p95`. */
        readonly ratioP95: number | null;
        readonly zetaP95: number | null;
        readonly staticP95: number | null;
        readonly note: string;
    };
    /** Whether ratio.p95 and sim.ratioP95 are on the same side of 1; null without a sim ratio. */
    readonly simAgreesInSign: boolean | null;
    readonly runtimeMs: number;
}

export const MEANING_NOTE = 'Measured on this machine with the tiny generated models (.zeta/models/tiny: random weights, under 1.1 MB each) '
    + 'in code-server and headless Chromium sharing the CPU with the models: the absolute times say little about an editor with real models. '
    + 'Only the ratio zeta/static, over the same keystrokes at the same gaps, means anything here.';

export interface ReportInputs {
    readonly command: string;
    readonly environment: WorkbenchReport['environment'];
    readonly script: WorkbenchReport['script'];
    readonly handling: WorkbenchReport['handling'];
    readonly rounds: readonly RoundResult[];
    /** The sim report's path and its parsed JSON (undefined: none given). */
    readonly sim?: { readonly path: string; readonly json: unknown };
    readonly runtimeMs: number;
    readonly generatedAt?: string;
}

export interface RoundParts {
    readonly verified: string;
    readonly pauses: readonly PauseTiming[];
    readonly missing: number;
    readonly typedAsScripted: boolean;
    readonly log?: RoundEvidence;
}

/** One round's result from its pause timings. */
export function roundResult(index: number, r: RoundParts): RoundResult {
    const s = summarize(r.pauses);
    return {
        index, policy: roundPolicy(index), verified: r.verified,
        pauses: r.pauses.map((p) => ({ ...p, ms: round(p.ms) })),
        missing: r.missing, p50: round(s.p50), p95: round(s.p95), unanswered: s.unanswered, typedAsScripted: r.typedAsScripted,
        log: r.log ?? null,
    };
}

function rounded(s: Summary): Summary {
    return { ...s, p50: round(s.p50), p95: round(s.p95), answeredP50: round(s.answeredP50), answeredP95: round(s.answeredP95) };
}

/** Served completions by model over rounds, from their logs. */
function servedBy(rounds: readonly RoundResult[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of rounds) for (const [m, n] of Object.entries(r.log?.servedBy ?? {})) out[m] = (out[m] ?? 0) + n;
    return out;
}

export function workbenchReport(inp: ReportInputs): WorkbenchReport {
    const ms = (p: WorkbenchPolicy): number[] => inp.rounds.filter((r) => r.policy === p).flatMap((r) => r.pauses.map((x) => x.ms));
    const per = (p: WorkbenchPolicy): Summary => summarize(inp.rounds.filter((r) => r.policy === p).flatMap((r) => r.pauses));
    const s = per('static');
    const z = per('zeta');
    const r = { p50: round(ratio(z.p50, s.p50), 3), p95: round(ratio(z.p95, s.p95), 3) };
    const interval = (p: number): [number, number] => {
        const [lo, hi] = ratioInterval(ms('zeta'), ms('static'), p, INTERVAL.level, INTERVAL.resamples, createRng(INTERVAL.seed).next);
        return [round(lo, 3), round(hi, 3)];
    };
    const fromSim = inp.sim ? simRatio(inp.sim.json) : undefined;
    const simRatioP95 = fromSim?.ratio === null || fromSim === undefined ? null : round(fromSim.ratio, 3);
    const simNote = !inp.sim
        ? 'no --sim-report given: run the sim (npm run bench -- --mode sim) and pass its report.json with --sim-report to compare'
        : (fromSim?.note ?? 'zeta/static of policies.<p>.suggestion.waitedFor.p95 in the sim report');
    const perRound = Math.min(...WORKBENCH_POLICIES.map((p) => inp.rounds.filter((x) => x.policy === p).length));
    return {
        mode: 'workbench',
        generatedAt: inp.generatedAt ?? new Date().toISOString(),
        command: inp.command,
        note: MEANING_NOTE,
        environment: inp.environment,
        script: inp.script,
        roundsPerPolicy: perRound,
        handling: inp.handling,
        rounds: inp.rounds,
        policies: {
            static: { ...rounded(s), servedBy: servedBy(inp.rounds.filter((x) => x.policy === 'static')) },
            zeta: { ...rounded(z), servedBy: servedBy(inp.rounds.filter((x) => x.policy === 'zeta')) },
        },
        policiesInForce: inp.rounds.length > 0 && inp.rounds.every((x) => x.log?.inForce === true),
        ratio: r,
        ratioInterval90: { p50: interval(50), p95: interval(95) },
        sim: { report: inp.sim?.path ?? null, ratioP95: simRatioP95, zetaP95: fromSim?.zetaP95 ?? null, staticP95: fromSim?.staticP95 ?? null, note: simNote },
        simAgreesInSign: agreeInSign(Number.isFinite(r.p95) ? r.p95 : null, simRatioP95),
        runtimeMs: Math.round(inp.runtimeMs),
    };
}

const cell = (x: number | null, digits = 0): string => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits));

export function workbenchMarkdown(rep: WorkbenchReport): string {
    const lines: string[] = [];
    lines.push('# Zeta in the real editor: time to ghost text, static vs zeta', '');
    const load = rep.environment.loadAverage;
    lines.push(`\`${rep.command}\`, ${rep.generatedAt}; ${rep.environment.workbench}, ${rep.environment.browser}, ${rep.environment.models}, ${rep.environment.cpus} CPUs `
        + `(load average ${load.start.toFixed(1)} at the start, ${load.end.toFixed(1)} at the end).`, '');
    lines.push(`> ${rep.note}`, '');
    lines.push(`The script (seed ${rep.script.seed}): ${rep.script.bursts} bursts, ${rep.script.keys} keys, ${rep.script.keyGapMs[0]}-${rep.script.keyGapMs[1]} ms between keys, `
        + `pauses of ${rep.script.pauseMs[0]}-${rep.script.pauseMs[1]} ms, about ${(rep.script.roundMs / 1000).toFixed(0)} s a round, typed at the end of \`${rep.script.file}\`; `
        + `${rep.rounds.length} rounds alternating static and zeta (${rep.roundsPerPolicy} each), the file reverted, closed and reopened before each `
        + '(closing it empties Zeta\'s completion cache for it: otherwise a round\'s pauses would be answered from what the round before cached at the same places).', '');
    const how = (p: WorkbenchPolicy): string => {
        const h = rep.handling[p];
        const debounce = h.debounceMinMs === h.debounceMaxMs ? `a fixed ${h.debounceMinMs} ms debounce` : `its adaptive debounce (${h.debounceMinMs}-${h.debounceMaxMs} ms)`;
        return `\`${p}\` is the router policy ${h.routerPolicy} with ${debounce}`;
    };
    lines.push(`Each policy as the sim runs it (bench/policies.ts), set in the Settings editor before its round: ${how('static')}; ${how('zeta')}. `
        + `The load view showed the policy in force before each round, and Zeta's log (debug level) named, for each round, the policy of every completion routed and the debounce of every one served: `
        + `${rep.policiesInForce ? 'each as set' : '**not every round as set** (see the rounds)'}.`, '');
    lines.push('Time to suggestion: from the last keystroke of a burst (its key event) to the first ghost text in the DOM during the pause; a pause with none counts as the whole pause (unanswered).', '');
    lines.push('| policy | pauses | unanswered | p50 ms | p95 ms | answered p50 ms | answered p95 ms |', '|---|---|---|---|---|---|---|');
    for (const p of WORKBENCH_POLICIES) {
        const s = rep.policies[p];
        lines.push(`| ${p} | ${s.n} | ${s.unanswered} | ${cell(s.p50)} | ${cell(s.p95)} | ${cell(s.answeredP50)} | ${cell(s.answeredP95)} |`);
    }
    lines.push(`| **zeta / static** | | | **${cell(rep.ratio.p50, 2)}** | **${cell(rep.ratio.p95, 2)}** | | |`);
    const iv = (x: readonly [number, number]): string => `${cell(x[0], 2)}-${cell(x[1], 2)}`;
    lines.push(`| 90% bootstrap interval | | | ${iv(rep.ratioInterval90.p50)} | ${iv(rep.ratioInterval90.p95)} | | |`, '');
    const across = (x: readonly [number, number]): boolean => x[0] <= 1 && x[1] >= 1;
    if (across(rep.ratioInterval90.p50) || across(rep.ratioInterval90.p95)) {
        lines.push(`An interval that holds 1 leaves that ratio's sign open on these ${rep.policies.static.n + rep.policies.zeta.n} pauses.`, '');
    }
    // With one debounce per policy in the logs, the p50 less it is the rest of the way: the request,
    // the model, the extension host and the workbench rendering the ghost text.
    const debounces = (p: WorkbenchPolicy): number[] => [...new Set(rep.rounds.filter((r) => r.policy === p).flatMap((r) => r.log?.debounceMs ?? []))];
    const single = WORKBENCH_POLICIES.map((p) => debounces(p));
    if (single.every((d) => d.length === 1)) {
        const parts = WORKBENCH_POLICIES.map((p, i) => `${p} ${cell(rep.policies[p].p50 - single[i][0])} ms (debounce ${single[i][0]} ms)`);
        lines.push(`Every served completion of a policy waited the same debounce; the p50 less it: ${parts.join(', ')}.`, '');
    }
    const counts = (c: Record<string, number>): string => Object.entries(c).map(([k, n]) => `${k} ${n}`).join(', ') || '-';
    lines.push(`Served completions by model: static ${counts(rep.policies.static.servedBy)}; zeta ${counts(rep.policies.zeta.servedBy)}.`, '');
    lines.push('Rounds:', '', '| round | policy | verified | routed (log) | debounce ms (log) | p50 ms | p95 ms | unanswered |', '|---|---|---|---|---|---|---|---|');
    for (const r of rep.rounds) {
        const faults = [
            r.missing > 0 ? `${r.missing} bursts missed` : '',
            r.typedAsScripted ? '' : 'the document did not hold the script\'s text',
            r.log?.inForce === false ? 'the log shows other settings' : '',
        ].filter(Boolean).join('; ');
        const routed = r.log ? counts(r.log.routedBy) : 'not read';
        const debounce = r.log?.debounceMs ? (r.log.debounceMs[0] === r.log.debounceMs[1] ? `${r.log.debounceMs[0]}` : `${r.log.debounceMs[0]}-${r.log.debounceMs[1]}`) : '-';
        lines.push(`| ${r.index + 1} | ${r.policy} | ${r.verified} | ${routed} | ${debounce} | ${cell(r.p50)} | ${cell(r.p95)} | ${r.unanswered}${faults ? ` (${faults})` : ''} |`);
    }
    lines.push('');
    const agree = rep.simAgreesInSign === null ? 'not compared' : rep.simAgreesInSign ? 'yes' : 'no';
    lines.push(`Sim: p95 ratio ${cell(rep.sim.ratioP95, 2)} (${rep.sim.note}); the workbench and the sim agree in sign: ${agree}.`, '');
    return lines.join('\n');
}
