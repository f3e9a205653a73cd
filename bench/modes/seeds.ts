/**
 * `--seeds` (sim mode): the targets on a shipped trace regenerated with each of several seeds.
 * One seed is one draw of the user's typing, the explains and the workspace; the p95 of a few dozen
 * served completions is set by their two or three slowest, so a target met on one draw can miss on
 * another. The sweep says on how many draws each target holds, with the same profile, settings and
 * decision cost as the main run.
 */
import type { Router, RouterDeps, RoutingSettings } from '../../src/core/tasks';
import type { DecisionCost } from '../sim/decisionCost';
import type { SpeedProfile } from '../sim/speedProfile';
import { reportHead, type SeedRow, type SeedSweep, type Target } from '../report/report';
import { evaluateTargets } from '../report/targets';
import { runSimSuite } from '../sim/suite';
import type { Trace } from '../workload/trace';

export async function sweepSeeds(
    seeds: readonly number[],
    traceFor: (seed: number) => Trace,
    profile: SpeedProfile,
    base: RoutingSettings,
    createRouter: (deps: RouterDeps) => Router,
    cost: DecisionCost,
    log: (line: string) => void,
): Promise<SeedSweep> {
    const rows: SeedRow[] = [];
    let texts: Target[] = [];
    for (const seed of seeds) {
        const trace = traceFor(seed);
        const suite = await runSimSuite(trace, profile, base, createRouter, { ablation: false, isolated: true, log: () => undefined });
        const head = reportHead({ mode: 'sim', trace: trace.name, seed, profile: profile.name, command: '' }, suite.policies, suite.isolated, cost);
        const targets = evaluateTargets('sim', head.policies, head.isolated.suggestion.waitedFor, cost.p99);
        texts = targets;
        const q = (w: { p50: number; p95: number }): { p50: number; p95: number } => ({ p50: w.p50, p95: w.p95 });
        const row: SeedRow = {
            seed,
            zeta: q(head.policies.zeta.suggestion.waitedFor),
            static: q(head.policies.static.suggestion.waitedFor),
            isolated: q(head.isolated.suggestion.waitedFor),
            targets: targets.map((t) => ({ id: t.id, value: t.value, met: t.met })),
        };
        rows.push(row);
        const missed = targets.filter((t) => !t.met).map((t) => t.id);
        log(`  seed ${seed}: time to suggestion p50/p95 zeta ${row.zeta.p50.toFixed(0)}/${row.zeta.p95.toFixed(0)} ms, static ${row.static.p50.toFixed(0)}/${row.static.p95.toFixed(0)} ms; ${missed.length === 0 ? 'every target met' : `not met: ${missed.join(', ')}`}`);
    }
    const summary = texts.map((t, i) => {
        // A value is not finite where the draw has none of what it measures (no explain, say).
        const values = rows.map((r) => r.targets[i].value).filter((v) => Number.isFinite(v));
        const min = values.length > 0 ? Math.min(...values) : Number.NaN;
        const max = values.length > 0 ? Math.max(...values) : Number.NaN;
        return { id: t.id, text: t.text, limit: t.limit, met: rows.filter((r) => r.targets[i].met).length, of: rows.length, min, max };
    });
    return { seeds, rows, allMet: rows.filter((r) => r.targets.every((t) => t.met)).length, summary };
}
