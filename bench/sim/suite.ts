/**
 * Runs the benchmark's sim suite: the policies side by side (each with its editor's request
 * handling, bench/policies.ts), the isolated replay (zeta's pipeline and router on the trace's
 * completions alone), and the lever ablation, all on one trace and one speed profile.
 */
import type { PolicyName, Router, RouterDeps, RoutingSettings } from '../../src/core/tasks';
import { BENCH_POLICIES, completionHandling, routerPolicy, type BenchPolicy } from '../policies';
import type { PolicyMetrics } from '../replay/metrics';
import type { SpeedProfile } from './speedProfile';
import { runSim, type SimOptions } from './run';
import { LEVER_NAMES, type LeverName } from '../types';
import { completionsOnly, type Trace } from '../workload/trace';

export function settingsFor(base: RoutingSettings, policy: PolicyName, profile: SpeedProfile, leverOff?: LeverName): RoutingSettings {
    const levers = { ...base.levers };
    if (leverOff) levers[leverOff] = false;
    return { ...base, policy, levers, memoryBudgetBytes: base.memoryBudgetBytes ?? profile.device.memoryBytes };
}

export interface SimSuite {
    readonly policies: Record<BenchPolicy, PolicyMetrics>;
    readonly isolated: PolicyMetrics;
    readonly ablation: Partial<Record<LeverName, PolicyMetrics>>;
}

export interface SuiteOptions {
    readonly ablation: boolean;
    readonly isolated: boolean;
    readonly log: (line: string) => void;
    /** The texts' tokenizer (`SimOptions.tokenizer`); default one token a word. */
    readonly tokenizer?: SimOptions['tokenizer'];
    /** The profile each policy runs on (real mode's prediction: scaled per policy); default `profile`. */
    readonly profileFor?: (policy: BenchPolicy) => SpeedProfile;
}

export async function runSimSuite(
    trace: Trace,
    profile: SpeedProfile,
    base: RoutingSettings,
    createRouter: (deps: RouterDeps) => Router,
    options: SuiteOptions,
): Promise<SimSuite> {
    const policies = {} as Record<BenchPolicy, PolicyMetrics>;
    const line = (name: string, m: PolicyMetrics, ms?: number): string =>
        `  ${name}: time to suggestion waited for p50 ${m.suggestion.waitedFor.p50.toFixed(0)} / p95 ${m.suggestion.waitedFor.p95.toFixed(0)} ms (${m.suggestion.waitedFor.unanswered} unanswered), ` +
        `first token p95 ${m.completion.firstTokenMs.p95.toFixed(0)} ms, ${m.completion.served} served` + (ms === undefined ? '' : ` (${ms.toFixed(0)} ms)`);
    for (const p of BENCH_POLICIES) {
        const t0 = performance.now();
        const pp = options.profileFor?.(p) ?? profile;
        const r = await runSim(trace, pp, settingsFor(base, routerPolicy(p), pp), createRouter, { tokenizer: options.tokenizer, completion: completionHandling(p) });
        policies[p] = r.metrics;
        options.log(line(p, r.metrics, performance.now() - t0) + (r.replay.hung ? `, hung ${r.replay.hung}` : ''));
    }
    let isolated = policies.zeta;
    if (options.isolated) {
        const r = await runSim(completionsOnly(trace), profile, settingsFor(base, 'zeta', profile), createRouter, { tokenizer: options.tokenizer, completion: completionHandling('zeta') });
        isolated = r.metrics;
        options.log(line('isolated', r.metrics));
    }
    const ablation: Partial<Record<LeverName, PolicyMetrics>> = {};
    if (options.ablation) {
        for (const l of LEVER_NAMES) {
            const r = await runSim(trace, profile, settingsFor(base, 'zeta', profile, l), createRouter, { tokenizer: options.tokenizer, completion: completionHandling('zeta') });
            ablation[l] = r.metrics;
            options.log(line(`zeta without ${l}`, r.metrics));
        }
    }
    return { policies, isolated, ablation };
}
