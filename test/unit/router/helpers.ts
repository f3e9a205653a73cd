/**
 * Test fixtures: three fake models on a virtual clock, in the shape of a 4B / 7B / 14B trio
 * (embedder fastest, reasoner slowest), and helpers to observe how promises settle without
 * leaving unhandled rejections.
 */
import assert from 'node:assert/strict';
import type { ModelSpec, Role } from '../../../src/core/backend';
import { VirtualClock } from '../../../src/core/clock';
import type { TextStore, RouterLogger, RoutingSettings, Levers, Task, TaskResult } from '../../../src/core/tasks';
import { FakeBackend, type FakeProfile } from '../../../src/backends/fakeBackend';
import { createRouter, defaultRoutingSettings, type ZetaRouter } from '../../../src/core/router';

export const PROFILES: Record<Role, Partial<FakeProfile>> = {
    coder: { promptTokensPerSec: 1000, decodeTokensPerSec: 50, firstTokenOverheadMs: 10, memory: { ramBytes: 4e9, vramBytes: 0 }, loadMs: 300 },
    reasoner: { promptTokensPerSec: 500, decodeTokensPerSec: 25, firstTokenOverheadMs: 10, memory: { ramBytes: 8e9, vramBytes: 0 }, loadMs: 600 },
    embedder: { promptTokensPerSec: 2000, decodeTokensPerSec: 100, firstTokenOverheadMs: 5, memory: { ramBytes: 2e9, vramBytes: 0 }, loadMs: 150, embedMsPerText: 5 },
};

export function spec(role: Role, over: Partial<ModelSpec> = {}): ModelSpec {
    return { id: role, role, path: `/models/${role}.gguf`, contextSize: 4096, slots: 1, threads: 1, gpuLayers: 0, fimTemplate: 'auto', ...over };
}

export interface Logged {
    info: string[];
    warn: string[];
    error: string[];
}

export interface Fixture {
    clock: VirtualClock;
    router: ZetaRouter;
    backends: Map<string, FakeBackend>;
    /** Every backend created for an id, in creation order (reconfigure creates new ones). */
    created: Array<{ id: string; backend: FakeBackend }>;
    log: Logged;
    settings: RoutingSettings;
}

export interface FixtureOptions {
    settings?: Partial<Omit<RoutingSettings, 'levers'>> & { levers?: Partial<Levers> };
    models?: ModelSpec[];
    profiles?: Partial<Record<string, Partial<FakeProfile>>>;
    store?: TextStore;
    speedStore?: TextStore;
}

export function makeSettings(over: FixtureOptions['settings'] = {}): RoutingSettings {
    const d = defaultRoutingSettings();
    return { ...d, ...over, levers: { ...d.levers, ...(over.levers ?? {}) }, taskClasses: { ...d.taskClasses, ...(over.taskClasses ?? {}) } };
}

export function makeFixture(opts: FixtureOptions = {}): Fixture {
    const clock = new VirtualClock(0);
    const backends = new Map<string, FakeBackend>();
    const created: Fixture['created'] = [];
    const log: Logged = { info: [], warn: [], error: [] };
    const logger: RouterLogger = { info: (m) => log.info.push(m), warn: (m) => log.warn.push(m), error: (m) => log.error.push(m) };
    const settings = makeSettings(opts.settings);
    const models = opts.models ?? [spec('coder'), spec('reasoner'), spec('embedder')];
    const router = createRouter({
        clock,
        settings,
        models,
        logger,
        feedbackStore: opts.store,
        speedStore: opts.speedStore,
        createBackend: (s) => {
            const b = new FakeBackend(clock, { ...PROFILES[s.role], ...(opts.profiles?.[s.id] ?? {}) });
            backends.set(s.id, b);
            created.push({ id: s.id, backend: b });
            return b;
        },
    });
    return { clock, router, backends, created, log, settings };
}

/** Runs virtual time until every model is loaded (or nothing is left to do). */
export async function ready(f: Fixture, ms = 5_000): Promise<void> {
    await f.clock.advance(ms);
}

export type Outcome = { ok: true; value: TaskResult; at: number } | { ok: false; error: unknown; at: number };

/** Observes a promise's outcome and the virtual time it settled at. */
export function track(f: Fixture, p: Promise<TaskResult>): { outcome: Outcome | undefined; promise: Promise<Outcome> } {
    const t: { outcome: Outcome | undefined; promise: Promise<Outcome> } = { outcome: undefined, promise: undefined as unknown as Promise<Outcome> };
    t.promise = p.then(
        (value) => (t.outcome = { ok: true, value, at: f.clock.now() }),
        (error: unknown) => (t.outcome = { ok: false, error, at: f.clock.now() }),
    );
    return t;
}

/** True while the tracked task has not settled (a function, so TypeScript does not narrow the field). */
export function pending(t: { outcome: Outcome | undefined }): boolean {
    return t.outcome === undefined;
}

export function submit(f: Fixture, task: Task, signal?: AbortSignal): ReturnType<typeof track> {
    return track(f, f.router.submit(task, signal));
}

/** A completion whose prompt has `words` whitespace tokens of prefix. */
export function completion(doc: string, prefix: string, maxTokens = 8, suffix = 'end'): Task {
    return { kind: 'completion', doc, prefix, suffix, maxTokens };
}

export function words(n: number, tag = 'w'): string {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(`${tag}${i}`);
    return out.join(' ');
}

export function chat(kind: 'edit' | 'explain' | 'refactorPlan', promptWords: number, maxTokens: number, doc?: string): Task {
    return { kind, doc, messages: [{ role: 'user', content: words(promptWords, kind) }], maxTokens };
}

export function texts(n: number): string[] {
    return Array.from({ length: n }, (_, i) => `chunk ${i} of the workspace`);
}

export class MemoryStore implements TextStore {
    data: string | undefined;
    saves = 0;
    asideReasons: string[] = [];
    constructor(initial?: string) {
        this.data = initial;
    }
    load(): Promise<string | undefined> {
        return Promise.resolve(this.data);
    }
    save(data: string): Promise<void> {
        this.saves++;
        this.data = data;
        return Promise.resolve();
    }
    setAside(reason: string): Promise<string | undefined> {
        this.asideReasons.push(reason);
        this.data = undefined;
        return Promise.resolve('/tmp/feedback.json.corrupt');
    }
}

/**
 * A router started on `store`'s corrupt content (passed in `opts`) sets the file aside once, warns
 * with a line `warned` accepts, and still serves a completion.
 */
export async function assertCorruptSetAside(opts: FixtureOptions, store: MemoryStore, warned: (line: string) => boolean): Promise<void> {
    const f = makeFixture(opts);
    await f.clock.advance(5_000);
    assert.equal(store.asideReasons.length, 1);
    assert.ok(f.log.warn.some(warned), f.log.warn.join('\n'));
    const c = submit(f, completion('a.ts', words(10)));
    await f.clock.runUntilIdle(60_000);
    assert.ok(c.outcome?.ok);
    await f.router.dispose();
}
