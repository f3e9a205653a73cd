/**
 * The real router over real llama.cpp backends (the generated tiny models), each wrapped in a
 * `FaultyBackend` so a test can inject faults around the real work. As the composition root does:
 * one EvalTurns shared by the backends and read by the router. Waits are bounded by the event they
 * wait for, with a generous cap that only catches a hang; nothing asserts a duration.
 */
import { strict as assert } from 'node:assert';
import type { ModelBackend, ModelSpec, Role } from '../../../src/core/backend';
import { SystemClock } from '../../../src/core/clock';
import { EvalTurns } from '../../../src/core/evalTurns';
import { createRouter, defaultRoutingSettings, type ZetaRouter } from '../../../src/core/router';
import type { RoutingSettings, Task, TaskResult } from '../../../src/core/tasks';
import { createLlamaCppBackendFactory } from '../../../src/backends';
import type { LlamaRuntime } from '../../../src/backends/llamaProvider';
import { FaultyBackend } from './faultyBackend';

export type Outcome = { ok: true; value: TaskResult } | { ok: false; error: unknown };

/** Never rejects: the outcome of `p`. */
export function outcome(p: Promise<TaskResult>): Promise<Outcome> {
    return p.then(
        (value) => ({ ok: true, value }),
        (error: unknown) => ({ ok: false, error }),
    );
}

export function describeOutcome(o: Outcome | undefined): string {
    if (!o) return 'unsettled';
    return o.ok ? `served by ${o.value.modelId}` : `failed: ${o.error instanceof Error ? `${o.error.name}: ${o.error.message}` : String(o.error)}`;
}

/** A cap for waits that only a hang reaches (ms). */
export const HANG_CAP_MS = 90_000;

/** Polls `ready` until it holds; throws naming `what` if the hang cap passes first. */
export async function waitFor(ready: () => boolean, what: string, capMs = HANG_CAP_MS): Promise<void> {
    const deadline = performance.now() + capMs;
    while (!ready()) {
        if (performance.now() > deadline) throw new Error(`${what}: not within ${capMs} ms (a hang)`);
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
}

/** `p`, or a failure naming `what` if it has not settled by the hang cap; the timer is cleared either way. */
export async function settledWithin<T>(p: Promise<T>, what: string, capMs = HANG_CAP_MS): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
        return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: unsettled after ${capMs} ms (a hang)`)), capMs)))]);
    } finally {
        clearTimeout(timer);
    }
}

export function code(n: number, tag: string): string {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(`    const ${tag}${i} = compute(${i}, input);`);
    return `function ${tag}(input) {\n${lines.join('\n')}\n`;
}

export function completionTask(doc: string, prefix: string, maxTokens = 8): Task {
    return { kind: 'completion', doc, prefix, suffix: '\n}\n', maxTokens };
}

export interface RealRouter {
    readonly router: ZetaRouter;
    /** The backend the router holds for each id now (a reconfigure that reloads makes a new one). */
    readonly faulty: Map<string, FaultyBackend>;
    /** Every backend created, in order. */
    readonly all: FaultyBackend[];
    readonly warnings: string[];
    readonly specs: ModelSpec[];
    settings: RoutingSettings;
    /** Settles `task`'s promise within the hang cap. */
    run(task: Task, signal?: AbortSignal): Promise<Outcome>;
    /** A following request that must succeed: Zeta is still serving. */
    assertServing(kind?: 'completion' | 'explain'): Promise<TaskResult>;
    /** Waits until no backend holds a sequence (an aborted call's native step returns within ms). */
    assertNoSequencesHeld(): Promise<void>;
    dispose(): Promise<void>;
}

export interface RealRouterOptions {
    readonly paths: Readonly<Record<Role, string>>;
    readonly runtime: () => Promise<LlamaRuntime>;
    readonly settings?: Partial<RoutingSettings>;
    readonly roles?: readonly Role[];
    /** Wait for every model to be loaded (or failed, when `mayFail`) before returning (default true). */
    readonly waitLoaded?: boolean;
    /** Models whose load may fail (their failure does not stop the wait). */
    readonly mayFail?: readonly string[];
    /** Called with the backends as soon as they exist, before any load starts (arm load faults here). */
    readonly prepare?: (faulty: Map<string, FaultyBackend>) => void;
}

export function realSpec(role: Role, path: string, over: Partial<ModelSpec> = {}): ModelSpec {
    return { id: role, role, path, contextSize: 1024, slots: 2, threads: 1, gpuLayers: 0, fimTemplate: 'auto', ...over };
}

export async function startRealRouter(o: RealRouterOptions): Promise<RealRouter> {
    const clock = new SystemClock();
    const turns = new EvalTurns();
    const factory = createLlamaCppBackendFactory({ runtime: o.runtime, clock, turns, warmUp: 'never' });
    const faulty = new Map<string, FaultyBackend>();
    const all: FaultyBackend[] = [];
    const warnings: string[] = [];
    const d = defaultRoutingSettings();
    // Objectives are loose: these tests are about settling, rerouting and leaks on a shared machine,
    // not about dropping late work.
    const settings: RoutingSettings = {
        ...d,
        taskClasses: { ...d.taskClasses, completion: { priority: 100, objectiveFactor: 50 } },
        ...o.settings,
    };
    const specs = (o.roles ?? (['coder', 'reasoner', 'embedder'] as const)).map((r) => realSpec(r, o.paths[r]));
    const router = createRouter({
        clock,
        turns,
        settings,
        models: specs,
        logger: { info: () => undefined, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
        createBackend: (s): ModelBackend => {
            const b = new FaultyBackend(factory(s));
            faulty.set(s.id, b);
            all.push(b);
            return b;
        },
    });
    o.prepare?.(faulty);
    const h: RealRouter = {
        router,
        faulty,
        all,
        warnings,
        specs,
        settings,
        run: (task, signal) => settledWithin(outcome(router.submit(task, signal)), `${task.kind} task`),
        async assertServing(kind = 'completion') {
            const task: Task =
                kind === 'completion' ? completionTask('serving.ts', code(4, 'serving')) : { kind: 'explain', doc: 'serving.ts', messages: [{ role: 'user', content: 'Explain: const a = 1;' }], maxTokens: 4 };
            const o = await h.run(task);
            assert.ok(o.ok, `Zeta is no longer serving ${kind}: ${describeOutcome(o)}`);
            return o.value;
        },
        async assertNoSequencesHeld() {
            await waitFor(() => all.every((b) => b.stats().sequencesHeld === 0), `sequences released (${all.map((b) => b.stats().sequencesHeld).join(', ')} held)`);
        },
        async dispose() {
            for (const b of all) b.release();
            await settledWithin(router.dispose(), 'router.dispose()');
        },
    };
    if (o.waitLoaded !== false) {
        await waitFor(() => {
            const models = router.snapshot().models;
            const failed = models.find((m) => m.residency === 'failed' && !o.mayFail?.includes(m.id));
            if (failed) throw new Error(`model ${failed.id} failed to load: ${failed.error}`);
            return models.every((m) => m.residency === 'loaded' || (m.residency === 'failed' && o.mayFail?.includes(m.id)));
        }, 'every model loaded');
    }
    return h;
}
