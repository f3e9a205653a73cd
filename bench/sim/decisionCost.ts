/**
 * The router's own decision cost: µs per routing decision, p50/p99 over N decisions with three
 * models, measured on `ZetaRouter.decide` (the exact decision path `submit` runs: token
 * counting, one prediction per candidate, the policy's choice, the decision record) while the
 * router holds a realistic state (queued background batches, a running explain, recent keystrokes).
 * Each call is timed alone with `process.hrtime.bigint()` (~40 ns of overhead); the first
 * `warmup` decisions let the JIT settle and are not counted.
 */
import { ROLES, type Role } from '../../src/core/backend';
import { VirtualClock } from '../../src/core/clock';
import type { DecisionRecord, RouterDeps, RoutingSettings, Task } from '../../src/core/tasks';
import type { Router } from '../../src/core/tasks';
import type { ModelProfile, SpeedProfile } from './speedProfile';
import { SimDevice } from './device';
import { modelSpecs } from './run';
import { SimBackend } from './simBackend';
import { percentileSorted } from '../lib/stats';
import { TaskBuilder } from '../replay/text';

export interface DecidingRouter extends Router {
    decide(task: Task): DecisionRecord;
}

export interface DecisionCost {
    readonly p50: number;
    readonly p99: number;
    readonly mean: number;
    readonly decisions: number;
    readonly models: number;
    readonly how: string;
}

export async function measureDecisionCost(
    profile: SpeedProfile,
    settings: RoutingSettings,
    createRouter: (deps: RouterDeps) => DecidingRouter,
    decisions = 100_000,
    warmup = 10_000,
): Promise<DecisionCost> {
    const clock = new VirtualClock(0);
    const mp: Record<string, ModelProfile> = {};
    for (const r of ROLES) mp[r] = profile.models[r];
    const device = new SimDevice(clock, profile.device, mp);
    const router = createRouter({
        clock,
        settings,
        models: modelSpecs(profile),
        createBackend: (spec) => new SimBackend(clock, device, profile.models[spec.role as Role], { keepOnAbort: profile.keepOnAbort,
                prefillChunkTokens: profile.prefillChunkTokens, embeddingSpace: `sim-space-${spec.id}` }),
    });
    const b = new TaskBuilder(1);
    // Load the models and build some state: indexing queued, an explain streaming, keystrokes seen.
    const pending: Array<Promise<unknown>> = [];
    const ignore = (): undefined => undefined;
    pending.push(router.submit(b.embed({ t: 0, kind: 'embedQuery', doc: 'q', promptTokens: 8, maxTokens: 0, items: 1 })).catch(ignore));
    await clock.advance(10_000);
    for (let i = 0; i < 6; i++) pending.push(router.submit(b.embed({ t: 0, kind: 'embed', doc: `w${i}.ts`, promptTokens: 256, maxTokens: 0, items: 24 })).catch(ignore));
    pending.push(router.submit(b.chat({ t: 0, kind: 'explain', doc: 'a.ts', promptTokens: 1500, maxTokens: 300, items: 1 })).catch(ignore));
    for (let i = 0; i < 5; i++) {
        router.activity({ type: 'keystroke', doc: 'a.ts' });
        pending.push(router.submit(b.completion({ t: 0, kind: 'completion', doc: 'a.ts', promptTokens: 1800 + i, suffixTokens: 300, maxTokens: 48, items: 1 })).catch(ignore));
        await clock.advance(120);
    }
    await clock.advance(200);

    const tasks: Task[] = [];
    for (let i = 0; i < 16; i++) {
        tasks.push(b.completion({ t: 0, kind: 'completion', doc: `doc${i % 4}.ts`, promptTokens: 1500 + 37 * i, suffixTokens: 300, maxTokens: 48, items: 1 }));
    }
    tasks.push(b.chat({ t: 0, kind: 'explain', doc: 'b.ts', promptTokens: 2000, maxTokens: 300, items: 1 }));
    tasks.push(b.embed({ t: 0, kind: 'embed', doc: 'c.ts', promptTokens: 256, maxTokens: 0, items: 8 }));
    tasks.push(b.embed({ t: 0, kind: 'embedQuery', doc: 'q', promptTokens: 16, maxTokens: 0, items: 1 }));

    const samples = new Float64Array(decisions);
    let sink = 0;
    for (let i = 0; i < warmup + decisions; i++) {
        const task = tasks[i % tasks.length];
        const t0 = process.hrtime.bigint();
        const rec = router.decide(task);
        const t1 = process.hrtime.bigint();
        sink += rec.candidates.length;
        if (i >= warmup) samples[i - warmup] = Number(t1 - t0) / 1000;
    }
    await router.dispose();
    await clock.runUntilIdle(60_000);
    await Promise.all(pending);
    const sorted = Array.from(samples).sort((x, y) => x - y);
    const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
    return {
        p50: percentileSorted(sorted, 50),
        p99: percentileSorted(sorted, 99),
        mean,
        decisions,
        models: sink > 0 ? ROLES.length : 0,
        how: `ZetaRouter.decide on ${settings.policy} with ${ROLES.length} models, ${tasks.length} task shapes (16 completions over 4 documents, explain, embed, embedQuery), router loaded with queued indexing, a streaming explain and recent keystrokes; ${warmup} warm-up decisions not counted`,
    };
}
