/**
 * Fixtures for testing the router's parts on their own (pause controller, residency), without the
 * router facade: model entries on fake backends, jobs in chosen states, a cadence fed by hand.
 */
import type { ModelInfo, Role } from '../../../src/core/backend';
import { VirtualClock } from '../../../src/core/clock';
import type { Task, TaskKind } from '../../../src/core/tasks';
import { FakeBackend, type FakeProfile } from '../../../src/backends/fakeBackend';
import { CLASS_INDEX, RouterConfig } from '../../../src/core/router/config';
import { Job, type ModelEntry } from '../../../src/core/router/state';
import { ModelSet } from '../../../src/core/router/models';
import { makeSettings, spec, type FixtureOptions } from './helpers';

export interface Parts {
    readonly clock: VirtualClock;
    readonly models: ModelSet;
    config: RouterConfig;
}

/** A model set of `roles` on fake backends, inspected (info set), in the state `residency`. */
export async function parts(roles: readonly Role[], settings: FixtureOptions['settings'] = {}, profiles: Partial<Record<Role, Partial<FakeProfile>>> = {}): Promise<Parts> {
    const clock = new VirtualClock(0);
    const models = new ModelSet((s) => new FakeBackend(clock, { memory: { ramBytes: 1e9, vramBytes: 0 }, ...(profiles[s.role] ?? {}) }));
    for (const r of roles) models.add(spec(r));
    models.recomputePreferred();
    for (const m of models.list) m.setInfo(await m.backend.inspect(m.spec, new AbortController().signal));
    return { clock, models, config: new RouterConfig(makeSettings(settings)) };
}

/** Marks `m` as on a GPU (its info says so). */
export function onGpu(m: ModelEntry): void {
    m.setInfo({ ...(m.info as ModelInfo), gpu: true });
}

let nextId = 1;

/** A job of `kind` as the router would have it, `running` on `m` since now (as Dispatcher.start sets it). */
export function running(p: Parts, m: ModelEntry, kind: TaskKind, over: { firstToken?: boolean; serviceMs?: number; objectiveMs?: number } = {}): Job {
    const task: Task =
        kind === 'completion'
            ? { kind, doc: `doc${nextId}.ts`, prefix: 'a b c', suffix: 'd', maxTokens: 8 }
            : kind === 'embed' || kind === 'embedQuery'
              ? { kind, texts: ['t'] }
              : { kind, messages: [{ role: 'user', content: 'x' }], maxTokens: 100 };
    const now = p.clock.now();
    const job = new Job(nextId++, task, kind, CLASS_INDEX[kind], p.config.priority(kind), now, () => undefined, () => undefined);
    job.model = m;
    job.state = 'running';
    job.startedAt = now;
    job.callStartedAt = now;
    job.serviceMs = over.serviceMs ?? 1_000;
    job.predictedEndAt = now + job.serviceMs;
    job.objectiveMs = over.objectiveMs ?? Number.POSITIVE_INFINITY;
    job.deadlineAt = now + job.objectiveMs;
    if (over.firstToken) job.firstTokenAt = now;
    m.running.push(job);
    return job;
}
