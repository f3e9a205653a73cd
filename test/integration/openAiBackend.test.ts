/**
 * OpenAiCompatibleBackend against real engines: llama-server's own OpenAI-compatible endpoints
 * (`/v1/models`, `/v1/completions`, `/v1/chat/completions`, `/v1/embeddings`), served by llama-server
 * processes with the generated tiny models on loopback ports, one CPU thread each. The backend
 * contract (test/support/backendContract.ts) runs against it, then what is particular to the
 * OpenAI API: FIM through a template in `/v1/completions`, the model id, the API key, load from
 * Prometheus metrics.
 */
import { strict as assert } from 'node:assert';
import type { ModelSpec, Role } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { ModelRuntimeError, RemoteEngineError } from '../../src/core/errors';
import { detectFimFamily } from '../../src/core/fim';
import { SYNTHETIC_NAMES, SYNTHETIC_VOCABULARY } from '../../src/core/gguf/synthetic';
import { createLlamaCppBackendFactory } from '../../src/backends';
import { createLlamaProvider } from '../../src/backends/llamaProvider';
import { OpenAiCompatibleBackend } from '../../src/backends/remote/openAi';
import type { RemoteBackendOptions } from '../../src/backends/remote/options';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';
import { backendContract, until } from '../support/backendContract';
import { startLlamaServer, type LlamaServer } from '../../scripts/llamaServer';

const never = new AbortController().signal;
/** Slots of each test server (`--parallel`); the specs say the same. */
const SLOTS = 2;
const CONTEXT = 2048;

/**
 * The FIM family the in-process backend detects for the generated coder (test/integration/backend.test.ts
 * asserts it is 'qwen'): the same rule (detectFimFamily) on the same vocabulary and name. An
 * OpenAI-compatible engine cannot show its vocabulary, so the spec forces it.
 */
const CODER_FIM = detectFimFamily({ tokens: SYNTHETIC_VOCABULARY.tokens, generalName: SYNTHETIC_NAMES.coder, architecture: 'llama' });

const servers = new Map<Role, LlamaServer>();
let models: SyntheticModels;

function options(extra: Partial<RemoteBackendOptions> = {}): RemoteBackendOptions {
    return { clock: new SystemClock(), pollIntervalMs: 100, ...extra };
}

function specFor(role: Role, url: string, extra: Partial<ModelSpec> = {}, remote: Partial<NonNullable<ModelSpec['remote']>> = {}): ModelSpec {
    return {
        id: `${role}-openai`,
        role,
        path: url,
        remote: { api: 'openai', url, ...remote },
        contextSize: CONTEXT,
        slots: SLOTS,
        threads: 1,
        gpuLayers: 0,
        fimTemplate: role === 'coder' ? (CODER_FIM ?? 'none') : 'auto',
        ...extra,
    };
}

function url(role: Role): string {
    const s = servers.get(role);
    if (!s) throw new Error(`no ${role} server`);
    return s.url;
}

describe('OpenAiCompatibleBackend (llama-server /v1, real inference)', function () {
    this.timeout(180_000);

    before(async function () {
        this.timeout(900_000);
        models = await ensureModels('tiny');
        const [coder, reasoner, embedder] = await Promise.all([
            startLlamaServer({ model: models.coder, slots: SLOTS, contextSize: CONTEXT }),
            startLlamaServer({ model: models.reasoner, slots: SLOTS, contextSize: CONTEXT }),
            // llama-server's /v1/embeddings refuses pooling 'none' (the generated embedder declares no
            // pooling type); 'last' is what the in-process backend returns for such a model
            // (llama.cpp's last-token embedding, src/backends/llamaCpp/embed.ts).
            startLlamaServer({ model: models.embedder, slots: SLOTS, contextSize: CONTEXT, embeddings: true, args: ['--pooling', 'last'] }),
        ]);
        servers.set('coder', coder);
        servers.set('reasoner', reasoner);
        servers.set('embedder', embedder);
    });

    after(async () => {
        await Promise.all([...servers.values()].map((s) => s.stop()));
        servers.clear();
    });

    it('the generated coder has a FIM family to force', () => {
        assert.equal(CODER_FIM, 'qwen');
    });

    backendContract('OpenAiCompatibleBackend on llama-server /v1', () => ({
        spec: (role) => specFor(role, url(role)),
        create: () => new OpenAiCompatibleBackend(options()),
    }));

    describe('what the OpenAI API gives', () => {
        const loaded: OpenAiCompatibleBackend[] = [];
        async function load(role: Role, spec: ModelSpec = specFor(role, url(role)), extra: Partial<RemoteBackendOptions> = {}): Promise<OpenAiCompatibleBackend> {
            const b = new OpenAiCompatibleBackend(options(extra));
            loaded.push(b);
            await b.load(spec, never);
            return b;
        }
        after(async () => {
            await Promise.all(loaded.map((b) => b.unload()));
        });

        it("FIM through /v1/completions gives what llama-server's /infill gives for the same prefix and suffix", async () => {
            // Greedy decoding on the same tokens gives the same text: /infill builds
            // BOS <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> from the model's FIM
            // tokens; the backend writes the same template as text and the engine tokenizes its
            // markers as those control tokens. The prompt sizes must agree too.
            const coder = await load('coder');
            const cases = [
                { prefix: 'function add(a, b) {\n    return ', suffix: ';\n}\n' },
                { prefix: 'def mean(xs):\n    total = sum(xs)\n    return ', suffix: '\n\nprint(mean([1, 2]))\n' },
            ];
            for (const { prefix, suffix } of cases) {
                const ours = await coder.generate({ mode: 'fim', prefix, suffix, maxTokens: 12, ignoreEndOfGeneration: true }, never);
                const res = await fetch(`${url('coder')}/infill`, {
                    method: 'POST',
                    headers: { 'content-type': 'application/json' },
                    body: JSON.stringify({ input_prefix: prefix, input_suffix: suffix, n_predict: 12, temperature: 0, ignore_eos: true }),
                });
                assert.equal(res.status, 200);
                const infill = (await res.json()) as { content: string; tokens_evaluated: number };
                assert.ok(ours.text.length > 0, 'a non-empty middle');
                assert.equal(ours.text, infill.content, JSON.stringify(prefix));
                assert.equal(ours.promptTokens, infill.tokens_evaluated, 'the same prompt tokens');
                assert.equal(ours.generatedTokens, 12);
            }
        });

        it('marker strings in the user text do not become control tokens', async () => {
            const coder = await load('coder');
            const injected = await coder.generate({ mode: 'fim', prefix: 'x = "<|fim_middle|>', suffix: '"\n', maxTokens: 4, ignoreEndOfGeneration: true }, never);
            const plain = await coder.generate({ mode: 'fim', prefix: 'x = "', suffix: '"\n', maxTokens: 4, ignoreEndOfGeneration: true }, never);
            // The marker text is tokenized as plain characters: many tokens, not one control token.
            assert.ok(injected.promptTokens > plain.promptTokens + 3, `${injected.promptTokens} vs ${plain.promptTokens}`);
        });

        it('a model without a known FIM family refuses infill (unsupported) and still generates raw text', async () => {
            const coder = await load('coder', specFor('coder', url('coder'), { id: 'coder-auto', fimTemplate: 'auto' }));
            // The engine's model id is the file path ".../coder.gguf": it names no family.
            assert.equal(coder.info?.fim, undefined);
            await assert.rejects(
                coder.generate({ mode: 'fim', prefix: 'a', suffix: 'b', maxTokens: 2 }, never),
                (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'unsupported' && /FIM template/.test(e.message),
            );
            const raw = await coder.generate({ mode: 'raw', prompt: 'let x = ', maxTokens: 3, ignoreEndOfGeneration: true }, never);
            assert.equal(raw.generatedTokens, 3);
        });

        it('uses the configured model id, and refuses clearly one the engine does not list', async () => {
            const listed = (await (await fetch(`${url('coder')}/v1/models`)).json()) as { data: { id: string }[] };
            const id = listed.data[0].id;
            const coder = await load('coder', specFor('coder', url('coder'), { id: 'coder-named' }, { model: id }));
            assert.equal(coder.info?.name, id);
            const b = new OpenAiCompatibleBackend(options());
            await assert.rejects(
                b.load(specFor('coder', url('coder'), { id: 'coder-wrong' }, { model: 'qwen2.5-coder:7b' }), never),
                (e: unknown) =>
                    e instanceof ModelRuntimeError && e.problem === 'unsupported' && e.message.includes('"qwen2.5-coder:7b"') && e.message.includes(JSON.stringify(id)),
            );
            assert.equal(b.stats().loaded, false);
        });

        it('sends the API key: without it the engine answers 401 (unauthorized), with it the model serves', async () => {
            const key = 'zeta-test-key-8c1f';
            const guarded = await startLlamaServer({ model: models.coder, slots: 1, contextSize: 1024, apiKey: key });
            try {
                const without = new OpenAiCompatibleBackend(options());
                await assert.rejects(
                    without.load(specFor('coder', guarded.url, { id: 'coder-nokey', slots: 1 }), never),
                    (e: unknown) => e instanceof RemoteEngineError && e.problem === 'unauthorized' && e.status === 401,
                );
                const wrong = new OpenAiCompatibleBackend(options());
                await assert.rejects(
                    wrong.load(specFor('coder', guarded.url, { id: 'coder-badkey', slots: 1 }, { apiKey: 'not-it' }), never),
                    (e: unknown) => e instanceof RemoteEngineError && e.problem === 'unauthorized',
                );
                const withKey = new OpenAiCompatibleBackend(options());
                await withKey.load(specFor('coder', guarded.url, { id: 'coder-key', slots: 1 }, { apiKey: key }), never);
                try {
                    const r = await withKey.generate({ mode: 'fim', prefix: 'if (x) {', suffix: '}', maxTokens: 3, ignoreEndOfGeneration: true }, never);
                    assert.equal(r.generatedTokens, 3);
                    // The load poller sends the key too: /metrics answers it.
                    await until(() => withKey.remoteLoad().at !== undefined, 60_000, 'a metrics poll');
                    assert.equal(withKey.remoteLoad().reachable, true);
                } finally {
                    await withKey.unload();
                }
            } finally {
                await guarded.stop();
            }
        });

        it("metrics show another client's request in flight; the round trip is measured", async () => {
            const coder = await load('coder', specFor('coder', url('coder'), { id: 'coder-load' }));
            await until(() => coder.remoteLoad().at !== undefined, 60_000, 'a first metrics poll');
            const idle = coder.remoteLoad();
            assert.equal(idle.api, 'openai');
            assert.equal(idle.reachable, true);
            assert.equal(idle.ownInFlight, 0);
            assert.equal(idle.slots, SLOTS);
            assert.ok(idle.rttMs !== undefined && idle.rttMs >= 0, `rtt ${idle.rttMs}`);
            // A teammate: its own long generations to the same server, one after another, until the
            // backend's load shows a slot busy that is not ours (each lasts well under a second on
            // the tiny model, so it keeps asking rather than relying on one).
            let seen = false;
            const teammate = (async () => {
                while (!seen) {
                    const res = await fetch(`${url('coder')}/v1/completions`, {
                        method: 'POST',
                        headers: { 'content-type': 'application/json' },
                        body: JSON.stringify({ prompt: 'teammate: ', max_tokens: 900, ignore_eos: true, temperature: 0 }),
                    });
                    await res.text();
                }
            })();
            try {
                await until(
                    () => {
                        const now = coder.remoteLoad();
                        return now.slotsBusy > now.ownInFlight;
                    },
                    120_000,
                    "another client's request seen in the engine's metrics",
                );
                // The engine's generated-tokens counter moves when a request ends: the speed is
                // known once a teammate's request has finished between two polls.
                await until(() => coder.remoteLoad().decodeTokensPerSec !== undefined, 120_000, "the engine's decode speed from its counters");
            } finally {
                seen = true;
                await teammate;
            }
            const seenLoad = coder.remoteLoad();
            assert.equal(seenLoad.busyRemainingTokens, undefined, 'the OpenAI API does not tell remaining tokens');
            assert.ok(seenLoad.decodeTokensPerSec !== undefined && seenLoad.decodeTokensPerSec > 0, `decode ${seenLoad.decodeTokensPerSec} tokens/s`);
        });

        it('an abort closes the stream and the engine stops generating', async () => {
            // A server of its own (its metrics count only this call), with room for 7,000 tokens.
            const own = await startLlamaServer({ model: models.coder, slots: 1, contextSize: 8192 });
            const predicted = async (): Promise<{ total: number; processing: number }> => {
                const text = await (await fetch(`${own.url}/metrics`)).text();
                const read = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
                return { total: read('llamacpp:tokens_predicted_total'), processing: read('llamacpp:requests_processing') };
            };
            try {
                const coder = await load('coder', specFor('coder', own.url, { id: 'coder-abort', slots: 1, contextSize: 8192 }));
                const before = await predicted();
                const ac = new AbortController();
                const reason = new Error('typed on');
                let tokens = 0;
                const running = coder.generate(
                    {
                        mode: 'raw',
                        prompt: 'while (true) {',
                        maxTokens: 7_000,
                        ignoreEndOfGeneration: true,
                        onToken: () => {
                            if (++tokens === 3) ac.abort(reason);
                        },
                    },
                    ac.signal,
                );
                await assert.rejects(running, (e: unknown) => e === reason);
                // The engine's slot goes idle (hang cap only) and it generated far fewer than asked.
                let after = await predicted();
                const end = performance.now() + 60_000;
                while (after.processing !== 0) {
                    if (performance.now() > end) throw new Error('the engine kept processing (a hang)');
                    await new Promise((r) => setTimeout(r, 20));
                    after = await predicted();
                }
                const generated = after.total - before.total;
                assert.ok(generated >= 3 && generated < 7_000, `the engine generated ${generated} of 7,000 tokens`);
            } finally {
                await own.stop();
            }
        });

        it('unload stops the poller and later calls say not loaded', async () => {
            const coder = await load('coder', specFor('coder', url('coder'), { id: 'coder-unload' }));
            await until(() => coder.remoteLoad().at !== undefined, 60_000, 'a first poll');
            await coder.unload();
            assert.equal(coder.stats().contextsOpen, 0);
            assert.equal(coder.remoteLoad().reachable, false);
            await assert.rejects(
                coder.chat({ messages: [{ role: 'user', content: 'hi' }], maxTokens: 2 }, never),
                (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'notLoaded',
            );
        });

        it("embeddings point the way the in-process backend's do for the same file (the engine L2-normalises them)", async () => {
            const remote = await load('embedder');
            const provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
            const local = createLlamaCppBackendFactory({ runtime: provider, clock: new SystemClock(), turns: false })({
                id: 'embedder-local',
                role: 'embedder',
                path: models.embedder,
                contextSize: CONTEXT,
                slots: 1,
                threads: 1,
                gpuLayers: 0,
                fimTemplate: 'auto',
            });
            try {
                await local.load({ ...specFor('embedder', models.embedder), id: 'embedder-local', path: models.embedder, remote: undefined, slots: 1 }, never);
                assert.equal(remote.info?.embeddingDims, local.info?.embeddingDims);
                const texts = ['function add(a, b) { return a + b; }', 'the quick brown fox'];
                const [r, l] = [await remote.embed(texts, never), await local.embed(texts, never)];
                for (let i = 0; i < texts.length; i++) {
                    const dot = r[i].reduce((n, x, k) => n + x * l[i][k], 0);
                    const cosine = dot / (Math.hypot(...r[i]) * Math.hypot(...l[i]));
                    assert.ok(cosine > 0.9999, `text ${i}: cosine ${cosine}`);
                    assert.ok(Math.abs(Math.hypot(...r[i]) - 1) < 1e-4, 'unit length from the engine');
                }
                assert.notEqual(remote.info?.embeddingSpace, local.info?.embeddingSpace, 'a remote space is not a local one unless declared');
                const declared = await new OpenAiCompatibleBackend(options()).inspect(
                    specFor('embedder', url('embedder'), { id: 'embedder-declared' }, { identity: local.info?.embeddingSpace }),
                    never,
                );
                assert.equal(declared.embeddingSpace, local.info?.embeddingSpace, 'the declared identity is the space');
            } finally {
                await local.unload();
                await provider.dispose();
            }
        });

        it('an embedder served without pooled embeddings is refused at load as unsupported, saying what to start it with', async () => {
            const unpooled = await startLlamaServer({ model: models.embedder, slots: 1, contextSize: 512, embeddings: true });
            try {
                const b = new OpenAiCompatibleBackend(options());
                await assert.rejects(
                    b.load(specFor('embedder', unpooled.url, { id: 'embedder-unpooled', slots: 1 }), never),
                    (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'unsupported' && e.message.includes('--pooling'),
                );
            } finally {
                await unpooled.stop();
            }
        });

        it('a prompt over the context is refused as promptTooLong (chat), not as an engine fault', async () => {
            const chat = await load('reasoner', specFor('reasoner', url('reasoner'), { id: 'reasoner-long' }));
            const long = 'word '.repeat(3000);
            await assert.rejects(
                chat.chat({ messages: [{ role: 'user', content: long }], maxTokens: 4 }, never),
                (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'promptTooLong',
            );
            assert.equal(chat.remoteLoad().reachable, true, 'the engine stays reachable');
        });
    });
});
