import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '../../../bench/lib/rng';
import { percentile } from '../../../bench/lib/stats';
import { roundRun } from '../../../bench/real/rounds';
import type { RequestRecord } from '../../../bench/replay/harness';
import { TEAM_LIMITS, roundRow, teamSummary, teamTargets, writeTeamReport, type LoadCounts, type TeamReport, type TeamRound, type TeamRun, type TeamSection } from '../../../bench/report/team';

const NO_LOAD: LoadCounts = { due: 0, sent: 0, skipped: 0, completed: 0, failed: 0, aborted: 0 };
const objective = (): number => 1000;

/** Keystrokes 5 s apart (every one waited for, answered before the next), each answered `latencies[i]` ms later by `model`. */
function run(latencies: readonly number[], model: string, load: LoadCounts = NO_LOAD): TeamRun {
    const records: RequestRecord[] = latencies.map((ms, i) => {
        const t = i * 5000;
        return {
            index: i,
            line: { t, kind: 'completion', doc: 'a.ts', promptTokens: 100, maxTokens: 8, items: 1 },
            kind: 'completion',
            keystrokeAt: t,
            // Submitted after a 25 ms debounce.
            submitAt: t + 25,
            firstTokenAt: t + ms / 2,
            suggestionAt: t + ms,
            endAt: t + ms,
            outcome: 'served',
            modelId: model,
            promptTokens: 100,
            generatedTokens: 8,
        };
    });
    return { run: roundRun(records, 0, { computed: 108 * latencies.length, generated: 8 * latencies.length, recovered: 0 }, objective), load, wallMs: 0 };
}

/** Random latencies for one replay, from a seeded stream (the test's inputs, not its answers). */
function draws(next: () => number, n: number, lo: number, hi: number): number[] {
    return Array.from({ length: n }, () => Math.round(lo + next() * (hi - lo)));
}

describe('bench team: the report', () => {
    const rng = createRng(11);
    const inputs = Array.from({ length: 6 }, () => ({
        satZeta: draws(rng.next, 5, 100, 600),
        satStatic: draws(rng.next, 5, 800, 3000),
        idleZeta: draws(rng.next, 5, 50, 400),
        idleStatic: draws(rng.next, 5, 300, 700),
    }));
    const rounds: TeamRound[] = inputs.map((x) => ({
        saturated: { zeta: run(x.satZeta, 'local', { ...NO_LOAD, sent: 4, completed: 3, aborted: 1, due: 5, skipped: 1 }), static: run(x.satStatic, 'server', { ...NO_LOAD, sent: 4, completed: 4, due: 4 }) },
        idle: { zeta: run(x.idleZeta, 'server'), static: run(x.idleStatic, 'server') },
    }));

    it('carries exactly the shape issue 21 names: per phase zeta and static p50/p95 and the p95 ratio with its interval', () => {
        const { team } = teamSummary(rounds, objective, 500);
        assert.deepEqual(Object.keys(team).sort(), ['idle', 'saturated']);
        for (const phase of ['saturated', 'idle'] as const) {
            assert.deepEqual(Object.keys(team[phase]).sort(), ['p95Ratio', 'static', 'zeta']);
            assert.deepEqual(Object.keys(team[phase].zeta).sort(), ['p50', 'p95']);
            assert.deepEqual(Object.keys(team[phase].static).sort(), ['p50', 'p95']);
            assert.deepEqual(Object.keys(team[phase].p95Ratio).sort(), ['ci90', 'median']);
            assert.equal(team[phase].p95Ratio.ci90.length, 2);
        }
    });

    it('pools each policy\'s rounds for p50/p95 and takes the ratio within rounds, its median over rounds inside the interval', () => {
        const { team, perRound, pooled } = teamSummary(rounds, objective, 500);
        const all = (f: (x: (typeof inputs)[number]) => number[]): number[] => inputs.flatMap(f);
        const near = (a: number, b: number, tol: number): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
        near(team.saturated.zeta.p95, percentile(all((x) => x.satZeta), 95), 0.05);
        near(team.saturated.static.p50, percentile(all((x) => x.satStatic), 50), 0.05);
        near(team.idle.zeta.p50, percentile(all((x) => x.idleZeta), 50), 0.05);
        near(team.idle.static.p95, percentile(all((x) => x.idleStatic), 95), 0.05);
        const expected = inputs.map((x) => percentile(x.satZeta, 95) / percentile(x.satStatic, 95));
        perRound.saturated.forEach((r, i) => near(r, expected[i], 1e-9));
        near(team.saturated.p95Ratio.median, percentile(expected, 50), 5e-4);
        for (const phase of ['saturated', 'idle'] as const) {
            const r = team[phase].p95Ratio;
            assert.ok(r.ci90[0] <= r.median && r.median <= r.ci90[1], `${phase}: ${r.median} outside ${r.ci90.join('-')}`);
            // The interval of a median over rounds lies within the rounds' range.
            assert.ok(r.ci90[0] >= Math.min(...perRound[phase]) - 5e-4 && r.ci90[1] <= Math.max(...perRound[phase]) + 5e-4);
        }
        assert.deepEqual(pooled.saturated.zeta.completionsByModel, { local: 1 });
        assert.equal(pooled.saturated.zeta.load.sent, 4 * rounds.length);
        assert.equal(pooled.saturated.zeta.load.skipped, rounds.length);
        assert.equal(pooled.idle.static.completions.served, 5 * rounds.length);
        // After the debounce: from the submission to the suggestion.
        near(pooled.idle.zeta.afterDebounce.p50, percentile(all((x) => x.idleZeta.map((ms) => ms - 25)), 50), 0.05);
        assert.equal(pooled.idle.zeta.afterDebounce.n, 5 * rounds.length);
    });

    it('judges each target on the median against its limit and says where the interval\'s upper end lies', () => {
        const phase = (median: number, ci90: [number, number]): TeamSection['idle'] => ({ zeta: { p50: 1, p95: 2 }, static: { p50: 1, p95: 2 }, p95Ratio: { median, ci90 } });
        const met = teamTargets({ saturated: phase(TEAM_LIMITS.saturated, [0.3, 0.6]), idle: phase(1.0, [0.9, 1.05]) });
        assert.deepEqual(
            met.map((t) => [t.id, t.met]),
            [
                ['team-saturated', true],
                ['team-idle', true],
            ],
        );
        assert.match(met[0].detail, /upper end beyond/);
        assert.match(met[1].detail, /upper end within/);
        const notMet = teamTargets({ saturated: phase(0.51, [0.4, 0.7]), idle: phase(Number.NaN, [Number.NaN, Number.NaN]) });
        assert.deepEqual(
            notMet.map((t) => t.met),
            [false, false],
        );
    });

    it('writes report.json with the team section and report.md with a row per phase', () => {
        const { team, pooled, perRound } = teamSummary(rounds, objective, 500);
        const report: TeamReport = {
            mode: 'sim',
            scenario: 'team',
            generatedAt: 'now',
            command: 'test',
            team,
            targets: teamTargets(team),
            rounds: rounds.length,
            pooled,
            roundRows: rounds.map((r, i) => roundRow(i, r, ['saturated/zeta'], perRound)),
            environment: {},
            runtimeMs: 0,
        };
        const dir = mkdtempSync(join(tmpdir(), 'zeta-team-'));
        try {
            writeTeamReport(dir, report, ['a note']);
            const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as TeamReport;
            assert.deepEqual(json.team, team);
            assert.equal(json.roundRows.length, rounds.length);
            assert.deepEqual(json.roundRows[0].phases.saturated.zeta.byModel, { local: 5 });
            const md = readFileSync(join(dir, 'report.md'), 'utf8');
            assert.match(md, /\| saturated \| \d+ ms \|/);
            assert.match(md, /\| idle \| \d+ ms \|/);
            assert.match(md, /a note/);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
