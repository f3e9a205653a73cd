/**
 * What LlamaServerBackend makes of answers a real llama-server does not give (a malformed final
 * event, a stream cut before its end, vectors of the wrong width): a canned engine behind the
 * `fetch` the backend is given. Real inference is in test/integration/llamaServerBackend.test.ts.
 */
import { strict as assert } from 'node:assert';
import type { ModelSpec } from '../../../src/core/backend';
import { VirtualClock } from '../../../src/core/clock';
import { ModelRuntimeError, RemoteEngineError } from '../../../src/core/errors';
import { LlamaServerBackend } from '../../../src/backends/remote/llamaServer';

const URL_ = 'http://engine.test:8080';
const never = new AbortController().signal;
const spec: ModelSpec = { id: 'coder', role: 'coder', path: URL_, remote: { api: 'llama-server', url: URL_ }, contextSize: 1024, slots: 2, threads: 1, gpuLayers: 0, fimTemplate: 'none' };

/** A canned engine: JSON answers by path, and the SSE lines `/completion` streams. */
function engine(completion: string[], embeddings: unknown = []): { fetch: typeof fetch; bodies: Array<Record<string, unknown>> } {
    const bodies: Array<Record<string, unknown>> = [];
    const json = (v: unknown): Response => new Response(JSON.stringify(v), { status: 200, headers: { 'content-type': 'application/json' } });
    const fake = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
        const path = new URL(String(input)).pathname;
        if (init?.body) bodies.push({ path, ...(JSON.parse(String(init.body)) as Record<string, unknown>) });
        switch (path) {
            case '/props':
                return json({ model_path: '/models/coder.gguf', total_slots: 2, default_generation_settings: { n_ctx: 1024 }, chat_template: '{{ x }}' });
            case '/v1/models':
                return json({ data: [{ id: '/models/coder.gguf', meta: { n_embd: 4, n_ctx_train: 4096, size: 1000 } }] });
            case '/tokenize':
                return json({ tokens: [1, 2, 3] });
            case '/embeddings':
                return json(embeddings);
            case '/completion':
                return new Response(completion.map((e) => `data: ${e}\n\n`).join(''), { status: 200, headers: { 'content-type': 'text/event-stream' } });
            default:
                return new Response('{}', { status: 200 });
        }
    };
    return { fetch: fake as typeof fetch, bodies };
}

async function loaded(e: ReturnType<typeof engine>): Promise<LlamaServerBackend> {
    const b = new LlamaServerBackend({ clock: new VirtualClock(), fetch: e.fetch });
    await b.load(spec, never);
    return b;
}

const token = (text: string, n: number): string => JSON.stringify({ content: text, tokens: [n], stop: false, tokens_predicted: n, tokens_evaluated: 5, timings: { cache_n: 2, prompt_n: 3 } });

describe('LlamaServerBackend against a canned engine', () => {
    it('reads a well-formed stream: text, counts, stop reason; sends greedy sampling, the slot and cache_prompt', async () => {
        const e = engine([token('a', 1), token('b', 2), JSON.stringify({ content: '', stop: true, stop_type: 'limit', tokens_predicted: 2, tokens_evaluated: 5, tokens_cached: 6, id_slot: 0, timings: { cache_n: 2, prompt_n: 3 } })]);
        const b = await loaded(e);
        const pieces: string[] = [];
        const r = await b.generate({ mode: 'raw', prompt: 'p', maxTokens: 2, cacheKey: 'doc', onToken: (t) => pieces.push(t) }, never);
        assert.deepEqual(pieces, ['a', 'b']);
        assert.equal(r.text, 'ab');
        assert.equal(r.stopReason, 'maxTokens');
        assert.equal(r.promptTokens, 5);
        assert.equal(r.reusedPromptTokens, 2);
        assert.equal(r.evaluatedPromptTokens, 3);
        assert.equal(r.generatedTokens, 2);
        const sent = e.bodies.find((x) => x.path === '/completion');
        assert.equal(sent?.temperature, 0);
        assert.equal(sent?.top_k, 1);
        assert.equal(sent?.cache_prompt, true);
        assert.equal(sent?.id_slot, b.slotOf('doc'));
        assert.equal(b.cachedTokens('doc'), 6);
        await b.unload();
    });

    it('a final event without a stop reason or sizes is a protocol failure, and the engine stays reachable', async () => {
        const b = await loaded(engine([token('a', 1), JSON.stringify({ content: '', stop: true })]));
        await assert.rejects(b.generate({ mode: 'raw', prompt: 'p', maxTokens: 4 }, never), (e: unknown) => e instanceof RemoteEngineError && e.problem === 'protocol');
        assert.equal(b.remoteLoad().reachable, true);
        assert.equal(b.stats().sequencesHeld, 0);
        await b.unload();
    });

    it('a stream that ends before its final event fails as "server" and marks the engine unreachable', async () => {
        const b = await loaded(engine([token('a', 1), token('b', 2)]));
        await assert.rejects(b.generate({ mode: 'raw', prompt: 'p', maxTokens: 4 }, never), (e: unknown) => e instanceof RemoteEngineError && e.problem === 'server');
        assert.equal(b.remoteLoad().reachable, false);
        assert.match(b.remoteLoad().error ?? '', /final event/);
        await b.unload();
    });

    it('embeddings of the wrong width or count are refused', async () => {
        const wide = await loaded(engine([], [{ index: 0, embedding: [[1, 2, 3, 4, 5]] }]));
        await assert.rejects(wide.embed(['x'], never), (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'unsupported');
        await wide.unload();
        const short = await loaded(engine([], []));
        await assert.rejects(short.embed(['x'], never), (e: unknown) => e instanceof RemoteEngineError && e.problem === 'protocol');
        await short.unload();
        const per = await loaded(engine([], [{ index: 1, embedding: [[9, 9, 9, 9], [5, 6, 7, 8]] }, { index: 0, embedding: [1, 2, 3, 4] }]));
        assert.deepEqual(await per.embed(['a', 'b'], never), [[1, 2, 3, 4], [5, 6, 7, 8]], 'in the texts’ order; per-token vectors: the last');
        await per.unload();
    });

    it('a FIM call on a model without FIM and any call after unload are refused with typed errors', async () => {
        const b = await loaded(engine([]));
        await assert.rejects(b.generate({ mode: 'fim', prefix: 'a', suffix: 'b', maxTokens: 2 }, never), (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'unsupported');
        await b.unload();
        await assert.rejects(b.generate({ mode: 'raw', prompt: 'p', maxTokens: 2 }, never), (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'notLoaded');
        assert.equal(b.stats().contextsOpen, 0);
        assert.equal(b.remoteLoad().reachable, false);
    });
});
