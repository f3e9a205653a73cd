/**
 * Faults around the real llama.cpp backend, driven through the real router (tiny generated models):
 * a backend that throws mid-stream, one that stops responding (the watchdog), loads that fail, and
 * node-llama-cpp's InsufficientMemoryError at load and at context creation. Each case ends with
 * every request settled, no sequence held and Zeta still serving. No duration is asserted: waits
 * are bounded by the event they wait for, with a cap that only a hang reaches.
 */
import { strict as assert } from 'node:assert';
import { SystemClock } from '../../src/core/clock';
import { ModelFileError, ModelRuntimeError, StalledError } from '../../src/core/errors';
import { LlamaCppBackend, validateGguf } from '../../src/backends';
import { createLlamaProvider, type LlamaProvider, type LlamaRuntime } from '../../src/backends/llamaProvider';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';
import { code, completionTask, describeOutcome, realSpec, startRealRouter, waitFor, type RealRouter } from './support/routerHarness';

/**
 * The runtime, with node-llama-cpp's own InsufficientMemoryError thrown where llama.cpp would throw
 * it when memory is short: at `loadModel` of a path in `atLoad`, or at `createContext` of a model
 * loaded from a path in `atContext`. Everything else is the real binding.
 */
/** node-llama-cpp's model type, reached through the runtime's type (only src/backends imports node-llama-cpp). */
type LlamaModel = Awaited<ReturnType<LlamaRuntime['llama']['loadModel']>>;

function memoryShort(provider: LlamaProvider, atLoad: ReadonlySet<string>, atContext: ReadonlySet<string>): () => Promise<LlamaRuntime> {
    return async () => {
        const rt = await provider();
        const Short = rt.lib.InsufficientMemoryError;
        const bind = <T extends object>(target: T, prop: string | symbol): unknown => {
            const v: unknown = Reflect.get(target, prop, target);
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        };
        const shortModel = (model: LlamaModel): LlamaModel =>
            new Proxy(model, {
                get: (target, prop) =>
                    prop === 'createContext' ? () => Promise.reject(new Short('A context size of 1024 is too large for the available VRAM')) : bind(target, prop),
            });
        const llama = new Proxy(rt.llama, {
            get: (target, prop) => {
                if (prop !== 'loadModel') return bind(target, prop);
                return async (options: Parameters<typeof target.loadModel>[0]) => {
                    if (atLoad.has(options.modelPath)) throw new Short('Not enough VRAM to fit the model with the specified settings');
                    const model = await target.loadModel(options);
                    return atContext.has(options.modelPath) ? shortModel(model) : model;
                };
            },
        });
        return { ...rt, llama, logMark: () => rt.logMark(), errorsSince: (mark: number) => rt.errorsSince(mark) };
    };
}

describe('faults: the router over the real backend', function () {
    this.timeout(120_000);

    let models: SyntheticModels;
    let provider: LlamaProvider;
    let h: RealRouter | undefined;

    before(async function () {
        this.timeout(180_000);
        models = await ensureModels('tiny');
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
    });

    afterEach(async () => {
        await h?.dispose();
        h = undefined;
    });

    after(async () => {
        await provider?.dispose();
    });

    it('a backend that throws mid-stream: the task is retried on another model, the failed one cools down, nothing leaks', async () => {
        h = await startRealRouter({ paths: models, runtime: provider });
        const coder = h.faulty.get('coder')!;
        coder.next({ kind: 'throw', afterTokens: 3, error: new Error('injected: the GPU driver reset') });
        const o = await h.run(completionTask('a.ts', code(12, 'a'), 8));
        assert.ok(o.ok, describeOutcome(o));
        assert.equal(coder.log.struck.length, 1, 'the fault struck mid-stream');
        assert.notEqual(o.value.modelId, 'coder');
        assert.match(o.value.decision.reason, /retry after coder failed/);
        const snap = h.router.snapshot().models.find((m) => m.id === 'coder')!;
        assert.equal(snap.failed, 1);
        assert.ok(snap.coolingDownUntil !== undefined);
        // The real backend classified it: a typed runtime error that names llama.cpp's failure.
        assert.match(snap.error ?? '', /^coder: generate failed in llama\.cpp: injected: the GPU driver reset$/);
        assert.equal(coder.stats().errors, 1);
        await h.assertNoSequencesHeld();
        await h.assertServing();
        await h.assertServing('explain');
    });

    it('a model that stops responding mid-stream (it still stops when told): the watchdog reroutes the task and cools the model down', async () => {
        h = await startRealRouter({ paths: models, runtime: provider });
        const coder = h.faulty.get('coder')!;
        coder.next({ kind: 'hang', afterTokens: 2, honoursAbort: true });
        const o = await h.run(completionTask('a.ts', code(12, 'a'), 8));
        assert.ok(o.ok, describeOutcome(o));
        assert.equal(coder.log.struck.length, 1);
        assert.notEqual(o.value.modelId, 'coder');
        assert.match(o.value.decision.reason, /retry after coder stalled \(no progress for \d+ ms\); coder cooling down/);
        const snap = h.router.snapshot().models.find((m) => m.id === 'coder')!;
        assert.match(snap.error ?? '', /^stalled: coder stopped responding: its completion call made no progress for \d+ ms/);
        assert.ok(snap.coolingDownUntil !== undefined);
        assert.equal(coder.log.hanging, 0, 'the stuck call was aborted and returned');
        await h.assertNoSequencesHeld();
        await h.assertServing();
    });

    it('a model that stops responding and ignores its abort: the task is served elsewhere; the stuck call keeps its slot until it returns', async () => {
        h = await startRealRouter({ paths: models, runtime: provider });
        const coder = h.faulty.get('coder')!;
        coder.next({ kind: 'hang', afterTokens: 2, honoursAbort: false });
        const o = await h.run({ kind: 'edit', doc: 'e.ts', messages: [{ role: 'user', content: `Rename x to y:\n${code(4, 'x')}` }], maxTokens: 6 });
        assert.ok(o.ok, describeOutcome(o));
        assert.notEqual(o.value.modelId, 'coder');
        assert.equal(coder.log.unsettled, 1, 'the backend never settled the call');
        assert.equal(coder.stats().sequencesHeld, 1, 'the stuck call holds its sequence');
        await h.assertServing();
        coder.release();
        await h.assertNoSequencesHeld();
        assert.equal(coder.log.unsettled, 0);
        await h.assertServing();
    });

    it('a load that fails: the model is marked failed with its reason, its tasks go to other models', async () => {
        h = await startRealRouter({
            paths: models,
            runtime: provider,
            mayFail: ['reasoner'],
            prepare: (f) => f.get('reasoner')!.failLoads(new ModelFileError('loadFailed', models.reasoner, 'llama.cpp could not load it: injected')),
        });
        const snap = h.router.snapshot().models.find((m) => m.id === 'reasoner')!;
        assert.equal(snap.residency, 'failed');
        assert.match(snap.error ?? '', /reasoner\.gguf: llama\.cpp could not load it: injected$/);
        const o = await h.run({ kind: 'explain', doc: 'b.ts', messages: [{ role: 'user', content: `Explain:\n${code(4, 'b')}` }], maxTokens: 6 });
        assert.ok(o.ok, describeOutcome(o));
        assert.notEqual(o.value.modelId, 'reasoner');
        assert.match(o.value.decision.candidates.find((c) => c.modelId === 'reasoner')!.excluded ?? '', /^failed: .*injected$/);
        assert.equal(h.faulty.get('reasoner')!.stats().contextsOpen, 0);
        await h.assertNoSequencesHeld();
        await h.assertServing();
    });

    describe("node-llama-cpp's InsufficientMemoryError", () => {
        it('the backend classifies it as ModelFileError "insufficientMemory", at load and at context creation, with nothing left allocated', async () => {
            for (const at of ['load', 'context'] as const) {
                const runtime = memoryShort(provider, at === 'load' ? new Set([models.coder]) : new Set(), at === 'context' ? new Set([models.coder]) : new Set());
                const backend = new LlamaCppBackend({ runtime, clock: new SystemClock(), validate: validateGguf, warmUp: 'never' });
                const e = await backend.load(realSpec('coder', models.coder), new AbortController().signal).then(
                    () => undefined,
                    (x: unknown) => x,
                );
                assert.ok(e instanceof ModelFileError, `${at}: ${String(e)}`);
                assert.equal(e.problem, 'insufficientMemory', at);
                assert.match(e.message, at === 'load' ? /not enough free memory for the model: Not enough VRAM/ : /not enough free memory for a 1024-token context with 2 slots/);
                assert.match(e.message, /Lower zeta\.models\.coder\.contextSize or slots/);
                assert.equal(backend.stats().contextsOpen, 0, `${at}: no context left open`);
                assert.equal(backend.stats().loaded, false);
            }
        });

        it('the router marks those models failed with the explanation and serves their tasks with the model that loaded', async () => {
            const runtime = memoryShort(provider, new Set([models.coder]), new Set([models.reasoner]));
            h = await startRealRouter({ paths: models, runtime, mayFail: ['coder', 'reasoner'] });
            const snap = h.router.snapshot().models;
            const coder = snap.find((m) => m.id === 'coder')!;
            const reasoner = snap.find((m) => m.id === 'reasoner')!;
            assert.equal(coder.residency, 'failed');
            assert.match(coder.error ?? '', /not enough free memory for the model.*Lower zeta\.models\.coder\.contextSize/);
            assert.equal(reasoner.residency, 'failed');
            assert.match(reasoner.error ?? '', /not enough free memory for a 1024-token context/);
            const c = await h.run(completionTask('a.ts', code(6, 'a'), 4));
            assert.ok(c.ok, describeOutcome(c));
            assert.equal(c.value.modelId, 'embedder');
            const x = await h.run({ kind: 'explain', doc: 'b.ts', messages: [{ role: 'user', content: 'Explain: const b = 2;' }], maxTokens: 4 });
            assert.ok(x.ok, describeOutcome(x));
            assert.equal(x.value.modelId, 'embedder');
            assert.equal(h.faulty.get('coder')!.stats().contextsOpen, 0);
            assert.equal(h.faulty.get('reasoner')!.stats().contextsOpen, 0);
            await h.assertNoSequencesHeld();
        });
    });

    it('a runtime error is typed: the watchdog StalledError and ModelRuntimeError reach a task with no other model', async () => {
        h = await startRealRouter({ paths: models, runtime: provider, roles: ['coder'] });
        const coder = h.faulty.get('coder')!;
        coder.next({ kind: 'throw', afterTokens: 1, error: new Error('injected') });
        const failed = await h.run(completionTask('a.ts', code(6, 'a'), 6));
        assert.ok(!failed.ok);
        assert.ok(failed.error instanceof ModelRuntimeError, describeOutcome(failed));
        assert.equal(failed.error.problem, 'evaluationFailed');
        coder.next({ kind: 'hang', afterTokens: 1, honoursAbort: true });
        const stalled = await h.run(completionTask('b.ts', code(6, 'b'), 6));
        assert.ok(!stalled.ok);
        assert.ok(stalled.error instanceof StalledError, describeOutcome(stalled));
        await waitFor(() => coder.log.hanging === 0, 'the stuck call returned');
        await h.assertNoSequencesHeld();
        // Cooling down, but the only model: it still serves.
        await h.assertServing();
    });
});
