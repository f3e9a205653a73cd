/**
 * LlamaServerBackend on real llama-servers (the binary `npm run engine` builds), serving the
 * generated models: the backend contract (test/support/backendContract.ts) on the tiny models, then
 * what only a llama-server backend does (a slot per document, the engine stopping after an abort,
 * other clients' load, round trips, an engine that goes away). The same contract runs against the
 * in-process LlamaCppBackend first, to show it is one contract.
 *
 * One CPU thread per server and per context; every server is stopped by an `after` hook. No test
 * asserts a duration: waits are by events, with hang caps.
 */
import { strict as assert } from 'node:assert';
import type { GenerateRequest, GenerationResult, ModelBackend, ModelSpec, Role } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import { ModelRuntimeError, RemoteEngineError } from '../../src/core/errors';
import { createLlamaCppBackendFactory } from '../../src/backends';
import { createLlamaProvider, type LlamaProvider } from '../../src/backends/llamaProvider';
import { LlamaServerBackend } from '../../src/backends/remote/llamaServer';
import type { SlotReport } from '../../src/backends/remote/llamaServerSlots';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';
import { TestGate, backendContract } from '../support/backendContract';
import { codeLines } from '../support/code';
import { startLlamaServer, type LlamaServer } from '../../scripts/llamaServer';

const never = new AbortController().signal;
const ROLES: readonly Role[] = ['coder', 'reasoner', 'embedder'];

/** The in-process backend's factory and specs, shared by both halves of this file. */
let models: SyntheticModels;
let provider: LlamaProvider | undefined;
let createLocal: (spec: ModelSpec) => ModelBackend;
const localSpec = (role: Role): ModelSpec => ({ id: role, role, path: models[role], contextSize: 2048, slots: 2, threads: 1, gpuLayers: 0, fimTemplate: 'auto' });

before(async function () {
    this.timeout(120_000);
    models = await ensureModels('tiny');
    provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
    createLocal = createLlamaCppBackendFactory({ runtime: provider, clock: new SystemClock(), turns: new EvalTurns() });
});

after(async () => {
    await provider?.dispose();
});

describe('LlamaCppBackend (in process)', () => {
    backendContract('LlamaCppBackend', () => ({ spec: localSpec, create: (role) => createLocal(localSpec(role)) }));
});

const remoteSpec = (role: Role, url: string, overrides: Partial<ModelSpec> = {}): ModelSpec => ({
    id: role,
    role,
    path: url,
    remote: { api: 'llama-server', url },
    contextSize: 1024,
    slots: 2,
    threads: 1,
    gpuLayers: 0,
    fimTemplate: 'auto',
    ...overrides,
});

const remoteBackend = (): LlamaServerBackend => new LlamaServerBackend({ clock: new SystemClock(), pollIntervalMs: 50 });

/**
 * Polls `probe` (every 20 ms) until it gives a value; `capMs` only catches a hang (no duration is
 * asserted).
 */
async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, capMs = 60_000): Promise<T> {
    const end = performance.now() + capMs;
    for (;;) {
        const v = await probe();
        if (v !== undefined) return v;
        if (performance.now() > end) throw new Error(`${what}: not within ${capMs} ms (a hang)`);
        await new Promise((r) => setTimeout(r, 20));
    }
}

/** The engine's own view of its slots. */
async function slotsOf(server: LlamaServer): Promise<SlotReport[]> {
    const res = await fetch(`${server.url}/slots`);
    assert.equal(res.status, 200, 'GET /slots');
    return (await res.json()) as SlotReport[];
}

describe('LlamaServerBackend (real llama-servers)', function () {
    this.timeout(300_000);
    const servers = new Map<Role, LlamaServer>();

    before(async function () {
        this.timeout(300_000);
        await Promise.all(
            ROLES.map(async (role) => {
                servers.set(role, await startLlamaServer({ model: models[role], slots: 2, contextSize: 2048, embeddings: role === 'embedder' }));
            }),
        );
    });

    after(async () => {
        await Promise.all([...servers.values()].map((s) => s.stop()));
    });

    const url = (role: Role): string => servers.get(role)?.url ?? '';

    backendContract('LlamaServerBackend', () => ({
        spec: (role) => remoteSpec(role, url(role)),
        create: () => remoteBackend(),
    }));

    describe('llama-server specifics', () => {
        const loaded: LlamaServerBackend[] = [];
        async function load(role: Role, overrides: Partial<ModelSpec> = {}, at = url(role)): Promise<LlamaServerBackend> {
            const b = remoteBackend();
            loaded.push(b);
            await b.load(remoteSpec(role, at, overrides), never);
            return b;
        }
        after(async () => {
            await Promise.all(loaded.map((b) => b.unload()));
        });

        it('describes the served model from /props and /v1/models, with the FIM family the in-process backend detects', async () => {
            const coder = await load('coder');
            const local = await createLocal(localSpec('coder')).inspect(localSpec('coder'), never);
            const info = coder.info;
            assert.ok(info);
            assert.equal(info.name, 'coder');
            assert.equal(info.fim, local.fim);
            assert.equal(info.slots, 2);
            assert.equal(info.contextSize, 1024, 'per slot: 2048 over 2 slots');
            assert.equal(info.embeddingDims, local.embeddingDims);
            assert.equal(info.trainContextSize, local.trainContextSize);
            assert.equal(info.hasChat, local.hasChat);
            assert.deepEqual(info.remote, { api: 'llama-server', url: url('coder') });
            assert.deepEqual(info.estimatedMemory, { ramBytes: 0, vramBytes: 0 });
            assert.notEqual(info.embeddingSpace, local.embeddingSpace, 'never a local file’s space');
            const declared = await remoteBackend().inspect(remoteSpec('coder', url('coder'), { remote: { api: 'llama-server', url: url('coder'), identity: 'coder.gguf 866048' } }), never);
            const declaredAgain = await remoteBackend().inspect(remoteSpec('coder', url('reasoner'), { remote: { api: 'llama-server', url: url('reasoner'), identity: 'coder.gguf 866048' } }), never);
            assert.equal(declared.embeddingSpace, declaredAgain.embeddingSpace, 'a declared identity is the space, wherever it is served');
            assert.notEqual(declared.embeddingSpace, info.embeddingSpace);
            const none = await load('coder', { id: 'coder-nofim', fimTemplate: 'none' });
            assert.equal(none.info?.fim, undefined);
            await assert.rejects(none.generate({ mode: 'fim', prefix: 'a', suffix: 'b', maxTokens: 2 }, never), (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'unsupported');
        });

        it('a server started without --embeddings: embedding is "unsupported" (the model cannot), not an engine failure', async () => {
            const coder = await load('coder');
            await assert.rejects(
                coder.embed(['hello'], never),
                (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'unsupported' && /--embeddings/.test(e.message),
            );
            // The engine itself is fine: completions go on.
            const r = await coder.generate({ mode: 'fim', prefix: 'let a = ', suffix: ';\n', maxTokens: 2, ignoreEndOfGeneration: true }, never);
            assert.equal(r.generatedTokens, 2);
            assert.equal(coder.remoteLoad().reachable, true);
        });

        it('embeds as the in-process backend does (same model file, same vectors: no extra normalisation)', async () => {
            const remote = await load('embedder');
            const local = createLocal(localSpec('embedder'));
            await local.load(localSpec('embedder'), never);
            try {
                const texts = ['def area(r):\n    return 3.14 * r * r', 'hello world'];
                const [a, b] = await Promise.all([remote.embed(texts, never), local.embed(texts, never)]);
                for (let i = 0; i < texts.length; i++) {
                    const norm = Math.hypot(...b[i]);
                    const diff = Math.hypot(...a[i].map((x, k) => x - b[i][k]));
                    assert.ok(diff <= 1e-3 * norm, `text ${i}: |remote - local| = ${diff}, |local| = ${norm}`);
                }
            } finally {
                await local.unload();
            }
        });

        it('generates what the in-process backend generates from the same file: text, stop reason, counts', async () => {
            const remote = await load('coder');
            const local = createLocal(localSpec('coder'));
            await local.load(localSpec('coder'), never);
            try {
                const stops = new Set<string>();
                for (let i = 0; i < 12; i++) {
                    const request: GenerateRequest = { mode: 'fim', prefix: `x${i} = f(`, suffix: `)\ny = ${i}\n`, maxTokens: 24 };
                    const [a, b] = [await remote.generate(request, never), await local.generate(request, never)];
                    assert.equal(a.text, b.text, `prompt ${i}`);
                    assert.equal(a.stopReason, b.stopReason, `prompt ${i}`);
                    assert.equal(a.generatedTokens, b.generatedTokens, `prompt ${i}`);
                    assert.equal(a.promptTokens, b.promptTokens, `prompt ${i}`);
                    stops.add(a.stopReason);
                }
                const raw = { mode: 'raw', prompt: 'function add(a, b) {', maxTokens: 16, ignoreEndOfGeneration: true } as const;
                assert.equal((await remote.generate(raw, never)).text, (await local.generate(raw, never)).text, 'raw');
                assert.ok(stops.has('endOfGeneration'), `some prompts stop on their own (${[...stops].join(', ')})`);
            } finally {
                await local.unload();
            }
        });

        it('a slot per document: keystrokes in two documents each reuse their own prefix', async () => {
            const coder = await load('coder');
            const suffix = ';\n}\n';
            const docs = { a: codeLines(15) + '    return alpha', b: codeLines(14) + '    const beta = gamma' };
            const keystroke = (doc: 'a' | 'b', typed: string): Promise<GenerationResult> =>
                coder.generate({ mode: 'fim', prefix: docs[doc] + typed, suffix, maxTokens: 3, cacheKey: `file:///${doc}.ts`, ignoreEndOfGeneration: true }, never);
            const coldA = await keystroke('a', '');
            const coldB = await keystroke('b', '');
            assert.notEqual(coder.slotOf('file:///a.ts'), coder.slotOf('file:///b.ts'), 'two documents, two slots');
            assert.ok(coder.cachedTokens('file:///a.ts') >= coldA.promptTokens, 'the slot holds the first prompt');
            for (const typed of ['1', '12', '123']) {
                for (const doc of ['a', 'b'] as const) {
                    const r = await keystroke(doc, typed);
                    assert.ok(r.reusedPromptTokens > r.promptTokens - 8, `${doc}+${typed}: reused ${r.reusedPromptTokens} of ${r.promptTokens}`);
                }
            }
            assert.ok(coldB.evaluatedPromptTokens === coldB.promptTokens || coldB.reusedPromptTokens < coldB.promptTokens / 2, 'the second document started cold');
        });

        it('after an abort the engine stops generating: /slots shows the slot free, well short of its budget', async () => {
            const coder = await load('coder');
            const ac = new AbortController();
            const reason = new Error('superseded');
            let tokens = 0;
            const running = coder.generate(
                {
                    mode: 'raw',
                    prompt: codeLines(4),
                    maxTokens: 900,
                    ignoreEndOfGeneration: true,
                    cacheKey: 'file:///abort.ts',
                    onToken: () => {
                        if (++tokens === 1) ac.abort(reason);
                    },
                },
                ac.signal,
            );
            await assert.rejects(running, (e: unknown) => e === reason);
            const slot = coder.slotOf('file:///abort.ts');
            assert.ok(slot !== undefined);
            const report = await waitFor(async () => (await slotsOf(servers.get('coder')!)).find((r) => r.id === slot && !r.is_processing), 'the slot is free');
            const decoded = report.next_token?.[0]?.n_decoded ?? 0;
            assert.ok(decoded < 900, `the engine decoded ${decoded} of 900 tokens: it stopped when the client left`);
            const next = await coder.generate({ mode: 'raw', prompt: 'x = ', maxTokens: 2 }, never);
            assert.ok(next.promptTokens > 0);
        });

        it('a gate held longer than the stream’s idle limit holds delivery only: no timeout, every token comes', async () => {
            const b = new LlamaServerBackend({ clock: new SystemClock(), pollIntervalMs: 50, streamIdleTimeoutMs: 200 });
            loaded.push(b);
            await b.load(remoteSpec('coder', url('coder')), never);
            const gate = new TestGate();
            gate.close();
            const pieces: string[] = [];
            const running = b.generate({ mode: 'raw', prompt: 'for (let i = 0; ', maxTokens: 12, ignoreEndOfGeneration: true, gate, onToken: (t) => pieces.push(t) }, never);
            await waitFor(() => (gate.waits > 0 ? true : undefined), 'the first piece waits at the gate');
            // Five idle limits with the gate closed (a wait, not a measurement).
            await new Promise((r) => setTimeout(r, 1_000));
            assert.deepEqual(pieces, [], 'nothing delivered while closed');
            gate.open();
            const r = await running;
            assert.equal(r.generatedTokens, 12);
            assert.equal(pieces.join(''), r.text);
        });

        it('countTokens is exact for a text the engine counted, and close for others', async () => {
            const coder = await load('coder');
            const text = codeLines(8);
            const exact = await coder.countTokensExact(text, never);
            assert.equal(coder.countTokens(text), exact);
            // The same tokenizer in process counts an unseen text exactly: the estimate is near it.
            const local = createLocal(localSpec('coder'));
            await local.load(localSpec('coder'), never);
            try {
                const unseen = 'class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n\n    def norm(self):\n        return (self.x ** 2 + self.y ** 2) ** 0.5\n';
                const truth = local.countTokens(unseen);
                const estimate = coder.countTokens(unseen);
                assert.ok(Math.abs(estimate - truth) <= 0.35 * truth, `estimate ${estimate}, exact ${truth}`);
            } finally {
                await local.unload();
            }
        });

        it('an engine that goes away: polls mark it unreachable, calls fail as refused, nothing else throws', async () => {
            const server = await startLlamaServer({ model: models.coder, slots: 1, contextSize: 512 });
            let backend: LlamaServerBackend | undefined;
            try {
                backend = await load('coder', { id: 'coder-gone' }, server.url);
                await waitFor(() => (backend!.remoteLoad().at !== undefined ? true : undefined), 'a first poll');
                assert.equal(backend.remoteLoad().reachable, true);
                await server.stop();
                const gone = await waitFor(() => {
                    const l = backend!.remoteLoad();
                    return l.reachable ? undefined : l;
                }, 'the engine marked unreachable');
                assert.ok(gone.error && gone.error.length > 0, 'it says why');
                await assert.rejects(backend.generate({ mode: 'raw', prompt: 'x', maxTokens: 2 }, never), (e: unknown) => e instanceof RemoteEngineError && e.problem === 'refused');
                assert.equal(backend.stats().sequencesHeld, 0);
            } finally {
                await backend?.unload();
                await server.stop();
            }
        });

        it('sends the API key on every call; without it the engine refuses with "unauthorized"', async () => {
            const server = await startLlamaServer({ model: models.coder, slots: 1, contextSize: 512, apiKey: 'team-secret' });
            try {
                const withKey = await load('coder', { id: 'coder-key', remote: { api: 'llama-server', url: server.url, apiKey: 'team-secret' } }, server.url);
                const r = await withKey.generate({ mode: 'fim', prefix: 'let a = ', suffix: ';\n', maxTokens: 2, cacheKey: 'k', ignoreEndOfGeneration: true }, never);
                assert.equal(r.generatedTokens, 2);
                await waitFor(() => (withKey.remoteLoad().at !== undefined ? true : undefined), 'a poll with the key');
                assert.equal(withKey.remoteLoad().reachable, true, withKey.remoteLoad().error);
                await assert.rejects(
                    remoteBackend().load(remoteSpec('coder', server.url, { remote: { api: 'llama-server', url: server.url, apiKey: 'wrong' } }), never),
                    (e: unknown) => e instanceof RemoteEngineError && e.problem === 'unauthorized',
                );
            } finally {
                await server.stop();
            }
        });

        describe('with other clients on the engine (the full coder: generation long enough to watch)', () => {
            let full: LlamaServer;
            before(async function () {
                this.timeout(300_000);
                const fullModels = await ensureModels('full');
                full = await startLlamaServer({ model: fullModels.coder, slots: 2, contextSize: 4096 });
            });
            after(async () => {
                await full?.stop();
            });

            /**
             * A teammate's request straight to the engine: long, on `slot` (default: any), to `/completion`
             * or, as an editor's completion, `/infill`. `done()` says how it ended (undefined: still running).
             */
            function teammate(ac: AbortController, slot = -1, path: '/completion' | '/infill' = '/completion'): { done: () => string | undefined; settled: Promise<void> } {
                let outcome: string | undefined;
                const settled = (async () => {
                    try {
                        const fields = path === '/infill' ? { input_prefix: 'def teammate():\n    ', input_suffix: '\n' } : { prompt: 'a teammate asks' };
                        const res = await fetch(`${full.url}${path}`, {
                            method: 'POST',
                            headers: { 'content-type': 'application/json' },
                            // Streamed: an abort closes the connection and the engine stops at once.
                            body: JSON.stringify({ ...fields, n_predict: 1800, ignore_eos: true, id_slot: slot, stream: true }),
                            signal: ac.signal,
                        });
                        const body = await res.text();
                        outcome = `HTTP ${res.status}: ${body.slice(-200)}`;
                    } catch {
                        // Aborted by the test.
                    }
                })();
                return { done: () => outcome, settled };
            }

            it('remoteLoad sees a teammate’s request in flight, its remaining tokens, the engine’s speed and the round trip', async () => {
                const backend = await load('coder', { id: 'coder-full' }, full.url);
                const idle = await waitFor(() => (backend.remoteLoad().at !== undefined ? backend.remoteLoad() : undefined), 'a first poll');
                assert.equal(idle.reachable, true);
                assert.equal(idle.slots, 2);
                assert.equal(idle.slotsBusy, 0);
                assert.equal(idle.ownInFlight, 0);
                assert.ok(idle.rttMs !== undefined && idle.rttMs >= 0, 'the round trip is measured');
                const ac = new AbortController();
                const other = teammate(ac);
                try {
                    const busy = await waitFor(() => {
                        const l = backend.remoteLoad();
                        return l.slotsBusy > l.ownInFlight ? l : undefined;
                    }, 'the teammate’s request in remoteLoad');
                    assert.equal(other.done(), undefined);
                    assert.equal(busy.ownInFlight, 0);
                    assert.ok(busy.busyRemainingTokens !== undefined && busy.busyRemainingTokens > 0 && busy.busyRemainingTokens <= 1800, `remaining ${busy.busyRemainingTokens}`);
                    const speed = await waitFor(() => backend.remoteLoad().decodeTokensPerSec, 'a decode speed from the engine');
                    assert.ok(speed > 0);
                } finally {
                    ac.abort();
                    await other.settled;
                }
                await waitFor(() => (backend.remoteLoad().slotsBusy === 0 ? true : undefined), 'the engine idle again');
            });

            it('a document whose slot a teammate is using goes to a free slot instead of queueing behind it', async () => {
                const backend = await load('coder', { id: 'coder-full-affinity' }, full.url);
                const key = 'file:///mine.ts';
                const prefix = codeLines(6) + '    return total';
                await backend.generate({ mode: 'fim', prefix, suffix: ';\n}\n', maxTokens: 2, cacheKey: key }, never);
                const mine = backend.slotOf(key);
                assert.ok(mine !== undefined);
                assert.ok(backend.cachedTokens(key) > 0);
                const ac = new AbortController();
                // Its editor's completion, as ours, is an /infill: llama-server batches only tasks of
                // one kind together (a /completion would wait for every /infill, and the other way).
                const other = teammate(ac, mine, '/infill');
                try {
                    // A poll shows the teammate on our slot: the backend no longer counts on its prompt there.
                    await waitFor(() => (backend.cachedTokens(key) === 0 && backend.remoteLoad().slotsBusy > 0 ? true : undefined), 'the teammate on our slot, seen by a poll');
                    const r = await backend.generate({ mode: 'fim', prefix: prefix + '1', suffix: ';\n}\n', maxTokens: 2, cacheKey: key, ignoreEndOfGeneration: true }, never);
                    assert.equal(r.generatedTokens, 2);
                    assert.equal(other.done(), undefined, 'our keystroke did not wait for the teammate');
                    assert.notEqual(backend.slotOf(key), mine, 'the document moved to the free slot');
                    assert.ok(backend.cachedTokens(key) > 0);
                } finally {
                    ac.abort();
                    await other.settled;
                }
            });
        });
    });
});
