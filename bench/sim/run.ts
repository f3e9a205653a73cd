/**
 * One simulated replay: a trace through the real router (`createRouter`) whose backends are
 * `SimBackend`s sharing one `SimDevice`, on a `VirtualClock`. Deterministic: same inputs, same
 * numbers, on any machine.
 */
import { ROLES, type ModelSpec, type Role } from '../../src/core/backend';
import { VirtualClock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import { PREFERRED_ROLE } from '../../src/core/router';
import type { Router, RouterDeps, RoutingSettings } from '../../src/core/tasks';
import { replay, virtualEnv, type ReplayResult, type RequestRecord } from '../replay/harness';
import { computeMetrics, type PolicyMetrics } from '../replay/metrics';
import type { SpeedProfile } from './speedProfile';
import { TaskBuilder, countWords } from '../replay/text';
import type { CompletionPipelineSettings } from '../../src/core/completion/pipeline';
import { completionHandling } from '../policies';
import type { Trace } from '../workload/trace';
import { SimBackend } from './simBackend';
import { SimDevice } from './device';
import { UsageLedger } from '../replay/usage';

export function modelSpecs(profile: SpeedProfile, paths?: Readonly<Record<Role, string>>): ModelSpec[] {
    return ROLES.map((role) => ({
        id: role,
        role,
        path: paths?.[role] ?? `/simulated/${profile.name}/${role}.gguf`,
        contextSize: profile.models[role].contextSize,
        slots: profile.models[role].slots,
        threads: 1,
        gpuLayers: profile.device.kind === 'gpu' ? 'auto' : 0,
        fimTemplate: profile.models[role].fim ? 'auto' : 'none',
    }));
}

/**
 * A request's latency objective (ms): the task class's objective factor times its predicted
 * time to first token (finish, for embedQuery) on its preferred model, idle, without reuse.
 */
export function objectiveFn(profile: SpeedProfile, settings: RoutingSettings): (r: RequestRecord) => number {
    return (r) => {
        const m = profile.models[PREFERRED_ROLE[r.kind]];
        const factor = settings.taskClasses[r.kind].objectiveFactor;
        const l = r.line;
        const ideal =
            r.kind === 'embedQuery' || r.kind === 'embed'
                ? l.items * (m.embedOverheadMsPerItem + (l.promptTokens * 1000) / m.embedTokensPerSec)
                : m.firstTokenOverheadMs + (l.promptTokens * 1000) / m.promptTokensPerSec;
        return factor * ideal;
    };
}

export interface SimRun {
    readonly metrics: PolicyMetrics;
    readonly replay: ReplayResult;
    /** Virtual ms the device had at least one job, per model. */
    readonly busyMs: Record<string, number>;
    /** With `options.timeline`: [virtual ms, models computing from then on]. */
    readonly timeline?: Array<[number, string[]]>;
    /** Virtual time at which the trace started (after warm-up). */
    readonly startedAt: number;
}

export interface SimOptions {
    /** Record `SimRun.timeline`. */
    readonly timeline?: boolean;
    /**
     * The texts' tokenizer and its tokens per synthetic word (`calibrate`). Default: one token a
     * word. Real mode's prediction passes the generated models' tokenizer, so that the simulated
     * requests carry the real run's texts and tokens.
     */
    readonly tokenizer?: { readonly tokenize: (text: string) => readonly string[]; readonly tokensPerWord: number };
    /** The completion pipeline's settings (the policy's request handling); default zeta's. */
    readonly completion?: CompletionPipelineSettings;
}

export async function runSim(
    trace: Trace,
    profile: SpeedProfile,
    settings: RoutingSettings,
    createRouter: (deps: RouterDeps) => Router,
    options: SimOptions = {},
): Promise<SimRun> {
    const clock = new VirtualClock(0);
    const modelProfiles: Record<string, SpeedProfile['models'][Role]> = {};
    for (const r of ROLES) modelProfiles[r] = profile.models[r];
    const device = new SimDevice(clock, profile.device, modelProfiles);
    // One evaluation thread for every model: their native calls take turns, as in the llama.cpp backend.
    const turns = profile.device.scheduling === 'serial' ? new EvalTurns() : undefined;
    if (options.timeline) device.timeline = [];
    let startedAt = 0;
    const usage = new UsageLedger();
    const result = await replay({
        trace,
        settings,
        models: modelSpecs(profile),
        createRouter,
        createBackend: (spec) => {
            const b = new SimBackend(clock, device, profile.models[spec.role], {
                keepOnAbort: profile.keepOnAbort,
                prefillChunkTokens: profile.prefillChunkTokens,
                embeddingSpace: `sim-space-${spec.id}`,
                turns,
                tokenize: options.tokenizer?.tokenize,
            });
            return usage.observe(b, spec.id);
        },
        builder: new TaskBuilder(options.tokenizer?.tokensPerWord ?? 1),
        completion: options.completion ?? completionHandling('zeta'),
        countTokens: options.tokenizer ? (text) => options.tokenizer?.tokenize(text).length ?? 0 : countWords,
        env: virtualEnv(clock),
        drainLimitMs: 600_000,
        onStart: () => {
            // What warm-up computed is not part of the trace.
            usage.start();
            startedAt = clock.now();
        },
    });
    const metrics = computeMetrics(result.records, usage.totals(), objectiveFn(profile, settings));
    return { metrics, replay: result, busyMs: Object.fromEntries(device.busyMs), timeline: device.timeline, startedAt };
}
