/**
 * A minimal `Router` for the benchmark's own tests: static routing (kind -> role), FIFO per
 * model with one job at a time, supersession per document. It lets the harness and simulator be
 * tested without depending on the real router's behaviour.
 */
import type { ModelBackend } from '../../../src/core/backend';
import { SupersededError } from '../../../src/core/errors';
import { PREFERRED_ROLE } from '../../../src/core/router';
import type { ChatTask, DecisionRecord, Router, RouterDeps, RouterSnapshot, Task, TaskResult } from '../../../src/core/tasks';

const ROLE_OF = PREFERRED_ROLE;

export function createMiniRouter(deps: RouterDeps): Router {
    const backends = new Map<string, ModelBackend>();
    const loading = new Map<string, Promise<unknown>>();
    const chains = new Map<string, Promise<unknown>>();
    const latest = new Map<string, AbortController>();
    let nextId = 1;
    for (const spec of deps.models) {
        const b = deps.createBackend(spec);
        backends.set(spec.id, b);
        loading.set(spec.id, b.load(spec, new AbortController().signal));
    }
    const submit = async (task: Task, signal?: AbortSignal): Promise<TaskResult> => {
        const id = nextId++;
        const spec = deps.models.find((m) => m.role === ROLE_OF[task.kind]);
        if (!spec) throw new Error('no model');
        const backend = backends.get(spec.id) as ModelBackend;
        const ac = new AbortController();
        signal?.addEventListener('abort', () => ac.abort(signal.reason), { once: true });
        if (task.kind === 'completion') {
            latest.get(task.doc)?.abort(new SupersededError(task.doc));
            latest.set(task.doc, ac);
        }
        const t0 = deps.clock.now();
        const prev = chains.get(spec.id) ?? loading.get(spec.id) ?? Promise.resolve();
        const run = prev.then(async () => {
            if (ac.signal.aborted) throw ac.signal.reason;
            const decision: DecisionRecord = { taskId: id, kind: task.kind, at: t0, policy: 'mini', chosen: spec.id, candidates: [], reason: 'static' };
            const started = deps.clock.now();
            if (task.kind === 'embed' || task.kind === 'embedQuery') {
                const vectors = await backend.embed(task.texts, ac.signal);
                const end = deps.clock.now();
                return { taskId: id, kind: task.kind, modelId: spec.id, vectors, space: backend.info?.embeddingSpace, timings: { queuedMs: started - t0, firstTokenMs: end - t0, totalMs: end - t0 }, decision, promptTokens: 0, reusedPromptTokens: 0, generatedTokens: 0 };
            }
            const r =
                task.kind === 'completion'
                    ? await backend.generate({ mode: 'fim', prefix: task.prefix, suffix: task.suffix, maxTokens: task.maxTokens, cacheKey: task.doc, onToken: task.onToken }, ac.signal)
                    : await backend.chat({ messages: (task as ChatTask).messages, maxTokens: (task as ChatTask).maxTokens, onToken: (task as ChatTask).onToken }, ac.signal);
            return {
                taskId: id,
                kind: task.kind,
                modelId: spec.id,
                text: r.text,
                timings: { queuedMs: started - t0, firstTokenMs: r.firstTokenMs === undefined ? undefined : started - t0 + r.firstTokenMs, totalMs: deps.clock.now() - t0 },
                decision,
                promptTokens: r.promptTokens,
                reusedPromptTokens: r.reusedPromptTokens,
                generatedTokens: r.generatedTokens,
            };
        });
        chains.set(spec.id, run.catch(() => undefined));
        return run;
    };
    const snapshot = (): RouterSnapshot => ({ at: deps.clock.now(), policy: 'mini', models: [], recentDecisions: [], forecast: {}, typingIntervalMs: undefined, waits: [] });
    return {
        submit,
        feedback: () => undefined,
        activity: () => undefined,
        readAhead: () => undefined,
        snapshot,
        onDidChange: () => ({ dispose: () => undefined }),
        reconfigure: () => Promise.resolve(),
        modelInfo: (id) => backends.get(id)?.info,
        dispose: () => Promise.resolve(),
    };
}
