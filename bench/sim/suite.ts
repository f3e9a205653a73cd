/**
 * Runs the benchmark's sim suite: the five policies side by side, the isolated replay, and the
 * lever ablation, all on one trace and one speed profile.
 */
import { POLICY_NAMES, type PolicyName, type Router, type RouterDeps, type RoutingSettings } from '../../src/core/tasks';
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
    readonly policies: Record<PolicyName, PolicyMetrics>;
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
    readonly profileFor?: (policy: PolicyName) => SpeedProfile;
}

export async function runSimSuite(
    trace: Trace,
    profile: SpeedProfile,
    base: RoutingSettings,
    createRouter: (deps: RouterDeps) => Router,
    options: SuiteOptions,
): Promise<SimSuite> {
    const policies = {} as Record<PolicyName, PolicyMetrics>;
    for (const p of POLICY_NAMES) {
        const t0 = performance.now();
        const pp = options.profileFor?.(p) ?? profile;
        const r = await runSim(trace, pp, settingsFor(base, p, pp), createRouter, { tokenizer: options.tokenizer });
        policies[p] = r.metrics;
        options.log(`  ${p}: first token p95 ${r.metrics.completion.firstTokenMs.p95.toFixed(0)} ms, ${r.metrics.completion.served} served, hung ${r.replay.hung} (${(performance.now() - t0).toFixed(0)} ms)`);
    }
    let isolated = policies.static;
    if (options.isolated) {
        const r = await runSim(completionsOnly(trace), profile, settingsFor(base, 'static', profile), createRouter, { tokenizer: options.tokenizer });
        isolated = r.metrics;
        options.log(`  isolated: first token p95 ${r.metrics.completion.firstTokenMs.p95.toFixed(0)} ms, ${r.metrics.completion.served} served`);
    }
    const ablation: Partial<Record<LeverName, PolicyMetrics>> = {};
    if (options.ablation) {
        for (const l of LEVER_NAMES) {
            const r = await runSim(trace, profile, settingsFor(base, 'zeta', profile, l), createRouter, { tokenizer: options.tokenizer });
            ablation[l] = r.metrics;
            options.log(`  zeta without ${l}: first token p95 ${r.metrics.completion.firstTokenMs.p95.toFixed(0)} ms`);
        }
    }
    return { policies, isolated, ablation };
}
