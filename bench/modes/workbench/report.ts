/**
 * `--workbench`'s output: DIR/workbench.json (the shape below) and DIR/workbench.md.
 *
 * Rounds alternate static, zeta, static, zeta...; each policy's numbers are over all its rounds'
 * pauses. `ratio` is zeta over static; below 1 means zeta showed ghost text sooner.
 */
import { round } from '../../lib/stats';
import { agreeInSign, ratio, simRatio, summarize, type PauseTiming, type Summary } from './timing';

export const WORKBENCH_POLICIES = ['static', 'zeta'] as const;
export type WorkbenchPolicy = (typeof WORKBENCH_POLICIES)[number];

/** The policy of round `index` (0-based): static first, then alternating. */
export function roundPolicy(index: number): WorkbenchPolicy {
    return WORKBENCH_POLICIES[index % 2];
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
    readonly rounds: readonly RoundResult[];
    /** Over every pause of the policy's rounds: ms from the last keystroke to ghost text. */
    readonly policies: Record<WorkbenchPolicy, Summary>;
    /** zeta / static. */
    readonly ratio: { readonly p50: number; readonly p95: number };
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
    readonly rounds: readonly RoundResult[];
    /** The sim report's path and its parsed JSON (undefined: none given). */
    readonly sim?: { readonly path: string; readonly json: unknown };
    readonly runtimeMs: number;
    readonly generatedAt?: string;
}

/** One round's result from its pause timings. */
export function roundResult(index: number, verified: string, pauses: readonly PauseTiming[], missing: number, typedAsScripted: boolean): RoundResult {
    const s = summarize(pauses);
    return {
        index, policy: roundPolicy(index), verified,
        pauses: pauses.map((p) => ({ ...p, ms: round(p.ms) })),
        missing, p50: round(s.p50), p95: round(s.p95), unanswered: s.unanswered, typedAsScripted,
    };
}

function rounded(s: Summary): Summary {
    return { ...s, p50: round(s.p50), p95: round(s.p95), answeredP50: round(s.answeredP50), answeredP95: round(s.answeredP95) };
}

export function workbenchReport(inp: ReportInputs): WorkbenchReport {
    const per = (p: WorkbenchPolicy): Summary => summarize(inp.rounds.filter((r) => r.policy === p).flatMap((r) => r.pauses));
    const s = per('static');
    const z = per('zeta');
    const r = { p50: round(ratio(z.p50, s.p50), 3), p95: round(ratio(z.p95, s.p95), 3) };
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
        rounds: inp.rounds,
        policies: { static: rounded(s), zeta: rounded(z) },
        ratio: r,
        sim: { report: inp.sim?.path ?? null, ratioP95: simRatioP95, zetaP95: fromSim?.zetaP95 ?? null, staticP95: fromSim?.staticP95 ?? null, note: simNote },
        simAgreesInSign: agreeInSign(Number.isFinite(r.p95) ? r.p95 : null, simRatioP95),
        runtimeMs: Math.round(inp.runtimeMs),
    };
}

const cell = (x: number | null, digits = 0): string => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits));

export function workbenchMarkdown(rep: WorkbenchReport): string {
    const lines: string[] = [];
    lines.push('# Zeta in the real editor: time to ghost text, static vs zeta', '');
    lines.push(`\`${rep.command}\`, ${rep.generatedAt}; ${rep.environment.workbench}, ${rep.environment.browser}, ${rep.environment.models}, ${rep.environment.cpus} CPUs.`, '');
    lines.push(`> ${rep.note}`, '');
    lines.push(`The script (seed ${rep.script.seed}): ${rep.script.bursts} bursts, ${rep.script.keys} keys, ${rep.script.keyGapMs[0]}-${rep.script.keyGapMs[1]} ms between keys, `
        + `pauses of ${rep.script.pauseMs[0]}-${rep.script.pauseMs[1]} ms, about ${(rep.script.roundMs / 1000).toFixed(0)} s a round, typed at the end of \`${rep.script.file}\`; `
        + `${rep.rounds.length} rounds alternating static and zeta (${rep.roundsPerPolicy} each), the file reverted before each.`, '');
    lines.push('Time to suggestion: from the last keystroke of a burst (its key event) to the first ghost text in the DOM during the pause; a pause with none counts as the whole pause (unanswered).', '');
    lines.push('| policy | pauses | unanswered | p50 ms | p95 ms | answered p50 ms | answered p95 ms |', '|---|---|---|---|---|---|---|');
    for (const p of WORKBENCH_POLICIES) {
        const s = rep.policies[p];
        lines.push(`| ${p} | ${s.n} | ${s.unanswered} | ${cell(s.p50)} | ${cell(s.p95)} | ${cell(s.answeredP50)} | ${cell(s.answeredP95)} |`);
    }
    lines.push(`| **zeta / static** | | | **${cell(rep.ratio.p50, 2)}** | **${cell(rep.ratio.p95, 2)}** | | |`, '');
    lines.push('Rounds:', '', '| round | policy | verified | p50 ms | p95 ms | unanswered |', '|---|---|---|---|---|---|');
    for (const r of rep.rounds) {
        const faults = [r.missing > 0 ? `${r.missing} bursts missed` : '', r.typedAsScripted ? '' : 'the document did not hold the script\'s text'].filter(Boolean).join('; ');
        lines.push(`| ${r.index + 1} | ${r.policy} | ${r.verified} | ${cell(r.p50)} | ${cell(r.p95)} | ${r.unanswered}${faults ? ` (${faults})` : ''} |`);
    }
    lines.push('');
    const agree = rep.simAgreesInSign === null ? 'not compared' : rep.simAgreesInSign ? 'yes' : 'no';
    lines.push(`Sim: p95 ratio ${cell(rep.sim.ratioP95, 2)} (${rep.sim.note}); the workbench and the sim agree in sign: ${agree}.`, '');
    return lines.join('\n');
}
