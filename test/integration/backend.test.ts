/**
 * Real inference through LlamaCppBackend on the generated models (tiny preset for speed, full where
 * speed ratios matter). One CPU thread per context, as everywhere in tests and benchmarks here.
 */
import { strict as assert } from 'node:assert';
import type { CallUsage, GenerateRequest, GenerationResult, ModelBackend, ModelSpec, Role } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import type { WaitTag } from '../../src/core/scheduling';
import { ModelRuntimeError, abortError } from '../../src/core/errors';
import { createLlamaCppBackendFactory, loadTokenizer, validateGguf } from '../../src/backends';
import { createLlamaProvider, type LlamaProvider, type LlamaRuntime } from '../../src/backends/llamaProvider';
import { TestGate, until } from '../support/backendContract';
import { codeLines } from '../support/code';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';

function delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Whether `p` settled within the microtasks that follow now: it is raced against one turn of the
 * event loop (setImmediate), which any native work (a prefill chunk, a token) needs to report back.
 * So true means "settled without waiting for the native call in progress", whatever the machine's speed.
 */
async function settledBeforeNextTurn(p: Promise<unknown>): Promise<boolean> {
    const done = p.then(() => true, () => true);
    return Promise.race([done, new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))]);
}

const never = new AbortController().signal;

describe('LlamaCppBackend (real inference)', function () {
    this.timeout(60_000);

    let models: SyntheticModels;
    let provider: LlamaProvider;
    let create: (spec: ModelSpec) => ModelBackend;
    const loaded: ModelBackend[] = [];

    const spec = (role: Role, overrides: Partial<ModelSpec> = {}): ModelSpec => ({
        id: role,
        role,
        path: models[role],
        contextSize: 2048,
        slots: 2,
        threads: 1,
        gpuLayers: 'auto',
        fimTemplate: 'auto',
        ...overrides,
    });

    async function load(role: Role, overrides: Partial<ModelSpec> = {}): Promise<ModelBackend> {
        const backend = create(spec(role, overrides));
        await backend.load(spec(role, overrides), never);
        loaded.push(backend);
        return backend;
    }

    let coder: ModelBackend;
    let reasoner: ModelBackend;
    let embedder: ModelBackend;

    before(async function () {
        this.timeout(120_000);
        models = await ensureModels('tiny');
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
        create = createLlamaCppBackendFactory({ runtime: provider, clock: new SystemClock(), turns: new EvalTurns() });
        coder = await load('coder');
        reasoner = await load('reasoner');
        embedder = await load('embedder');
    });

    after(async () => {
        await Promise.all(loaded.map((b) => b.unload()));
        await provider?.dispose();
    });

    it('describes each model: FIM family, chat template, embedding size and space', async () => {
        assert.equal(coder.info?.fim, 'qwen');
        assert.equal(reasoner.info?.hasChat, true);
        assert.equal(coder.info?.architecture, 'llama');
        assert.ok((embedder.info?.embeddingDims ?? 0) > 0);
        assert.equal(coder.info?.contextSize, 2048);
        assert.ok((coder.info?.estimatedMemory.ramBytes ?? 0) > 0);
        const spaces = new Set([coder.info?.embeddingSpace, reasoner.info?.embeddingSpace, embedder.info?.embeddingSpace]);
        assert.equal(spaces.size, 3, 'different models, different embedding spaces');
        const again = await create(spec('embedder')).inspect(spec('embedder', { id: 'other' }), never);
        assert.equal(again.embeddingSpace, embedder.info?.embeddingSpace, 'the same file gives the same space');
        assert.equal(create(spec('coder')).info, undefined);
        const forced = await create(spec('coder')).inspect(spec('coder', { fimTemplate: 'none' }), never);
        assert.equal(forced.fim, undefined);
    });

    it('loadTokenizer reads only the vocabulary and counts tokens as the backend does', async () => {
        const tokenizer = await loadTokenizer(provider, models.coder);
        try {
            for (const text of ['const value = items.map((x) => x + 1);', codeLines(40), 'return', '']) {
                const ids = tokenizer.tokenize(text);
                assert.equal(ids.length, coder.countTokens(text), JSON.stringify(text.slice(0, 30)));
                assert.ok(ids.every((t) => Number.isInteger(t) && t >= 0));
            }
            assert.deepEqual(tokenizer.tokenize('const x'), tokenizer.tokenize('const x'));
            assert.notDeepEqual(tokenizer.tokenize('const x'), tokenizer.tokenize('const y'));
        } finally {
            await tokenizer.dispose();
        }
        await assert.rejects(loadTokenizer(provider, `${models.coder}.missing`));
    });

    it('warms a model up at load when asked (always on a GPU) and leaves its slots empty', async () => {
        const lines: string[] = [];
        const warming = createLlamaCppBackendFactory({ runtime: provider, clock: new SystemClock(), turns: new EvalTurns(), warmUp: 'always', log: (m) => lines.push(m) });
        for (const role of ['coder', 'embedder'] as const) {
            const s = spec(role, { id: `${role}-warm`, slots: 1, contextSize: 512 });
            const backend = warming(s);
            await backend.load(s, never);
            loaded.push(backend);
            assert.ok(lines.some((l) => l.startsWith(`${role}-warm: warmed up in `)), lines.join('\n'));
            const first = await backend.generate({ mode: 'raw', prompt: 'warm warm warm', maxTokens: 2, cacheKey: 'k', ignoreEndOfGeneration: true }, never);
            assert.equal(first.reusedPromptTokens, 0, 'the warm-up left nothing in the slot');
            assert.equal(first.generatedTokens, 2);
            assert.equal(backend.stats().promptTokensEvaluated, first.promptTokens, 'the warm-up is not counted as work');
        }
        // On the CPU the default does not warm up.
        const plain: string[] = [];
        const s = spec('coder', { id: 'coder-cold', slots: 1, contextSize: 512 });
        const backend = createLlamaCppBackendFactory({ runtime: provider, clock: new SystemClock(), turns: new EvalTurns(), log: (m) => plain.push(m) })(s);
        await backend.load(s, never);
        loaded.push(backend);
        assert.ok(!plain.some((l) => l.includes('warmed up')), plain.join('\n'));
    });

    it('validates once when the router inspects and then loads an unchanged file', async () => {
        let validations = 0;
        const counting = createLlamaCppBackendFactory({
            runtime: provider,
            clock: new SystemClock(),
            turns: new EvalTurns(),
            validate: (file, options) => {
                validations++;
                return validateGguf(file, options);
            },
        });
        const s = spec('embedder', { id: 'embedder-twice', slots: 1, contextSize: 256 });
        const backend = counting(s);
        const inspected = await backend.inspect(s, never);
        const info = await backend.load(s, never);
        loaded.push(backend);
        assert.equal(validations, 1);
        assert.equal(info.embeddingSpace, inspected.embeddingSpace);
        await backend.unload();
        await backend.load(s, never);
        assert.equal(validations, 1, 'a reload of the same file reuses the inspection');
        assert.equal(backend.stats().loaded, true);
    });

    it('raw completion streams every token and is deterministic at temperature 0', async () => {
        const pieces: string[] = [];
        const request: GenerateRequest = { mode: 'raw', prompt: 'function add(a, b) {', maxTokens: 24, ignoreEndOfGeneration: true };
        const first = await coder.generate({ ...request, onToken: (t) => pieces.push(t) }, never);
        assert.equal(first.generatedTokens, 24);
        assert.equal(first.stopReason, 'maxTokens');
        assert.equal(pieces.join(''), first.text);
        assert.ok(pieces.length >= 8, `streamed in ${pieces.length} pieces`);
        assert.ok(first.firstTokenMs !== undefined && first.firstTokenMs <= first.totalMs);
        assert.equal(first.promptTokens, first.reusedPromptTokens + first.evaluatedPromptTokens);
        const second = await coder.generate(request, never);
        assert.equal(second.text, first.text);
    });

    it('fills in the middle on the coder with its FIM template', async () => {
        const pieces: string[] = [];
        const result = await coder.generate(
            { mode: 'fim', prefix: 'function add(a, b) {\n    return ', suffix: ';\n}\n', maxTokens: 16, ignoreEndOfGeneration: true, onToken: (t) => pieces.push(t) },
            never,
        );
        assert.equal(result.generatedTokens, 16);
        assert.equal(pieces.join(''), result.text);
        // The prompt is the three FIM control tokens plus the prefix and suffix text.
        const textTokens = coder.countTokens('function add(a, b) {\n    return ') + coder.countTokens(';\n}\n');
        assert.ok(Math.abs(result.promptTokens - (textTokens + 3)) <= 3, `prompt ${result.promptTokens} vs text ${textTokens} + 3`);
        // A prefix longer than the context is cut at its start, keeping the text next to the cursor.
        const long = await coder.generate({ mode: 'fim', prefix: codeLines(200), suffix: '}\n', maxTokens: 8, ignoreEndOfGeneration: true }, never);
        assert.ok(long.promptTokens <= 2048 - 8 && long.promptTokens > 1500, `trimmed to ${long.promptTokens} tokens`);
        assert.equal(long.generatedTokens, 8);
        const noFim = await load('coder', { id: 'coder-nofim', fimTemplate: 'none', slots: 1, contextSize: 256 });
        await assert.rejects(
            noFim.generate({ mode: 'fim', prefix: 'a', suffix: 'b', maxTokens: 4 }, never),
            (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'unsupported',
        );
    });

    it('streams chat on the reasoner through its chat template', async () => {
        const pieces: string[] = [];
        const result = await reasoner.chat(
            {
                messages: [
                    { role: 'system', content: 'You explain code.' },
                    { role: 'user', content: 'What does add do?' },
                ],
                maxTokens: 20,
                ignoreEndOfGeneration: true,
                onToken: (t) => pieces.push(t),
            },
            never,
        );
        assert.equal(result.generatedTokens, 20);
        assert.ok(pieces.length >= 5, `onToken called ${pieces.length} times`);
        assert.equal(pieces.join(''), result.text);
        assert.ok(result.promptTokens > reasoner.countTokens('You explain code.What does add do?'), 'the template adds its markers');
        await assert.rejects(
            reasoner.chat({ messages: [{ role: 'user', content: codeLines(200) }], maxTokens: 16 }, never),
            (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'promptTooLong',
        );
    });

    it('cuts the text before a stop string and never streams any of it', async () => {
        const request: GenerateRequest = { mode: 'raw', prompt: 'const x = ', maxTokens: 40, ignoreEndOfGeneration: true };
        const full = await coder.generate(request, never);
        const visible = full.text.replace(/\uFFFD/g, '');
        const at = Math.max(4, Math.floor(visible.length / 2));
        const stop = visible.slice(at, at + 3);
        const expected = full.text.slice(0, full.text.indexOf(stop));
        const pieces: string[] = [];
        const cut = await coder.generate({ ...request, stop: [stop], onToken: (t) => pieces.push(t) }, never);
        assert.equal(cut.stopReason, 'stopString');
        assert.equal(cut.text, expected);
        assert.equal(pieces.join(''), expected);
    });

    it('embeds in batches: same text, same vector; dimensions match', async () => {
        const requestsBefore = embedder.stats().requests;
        const texts = ['function add(a, b)', 'return a + b;', 'function add(a, b)'];
        const vectors = await embedder.embed(texts, never);
        assert.equal(vectors.length, 3);
        for (const v of vectors) assert.equal(v.length, embedder.info?.embeddingDims);
        assert.deepEqual(vectors[0], vectors[2]);
        assert.notDeepEqual(vectors[0], vectors[1]);
        const single = await embedder.embed(['return a + b;'], never);
        assert.deepEqual(single[0], vectors[1]);
        assert.deepEqual(await embedder.embed([], never), []);
        assert.equal((await embedder.embed([''], never))[0].length, embedder.info?.embeddingDims);
        const long = codeLines(120);
        assert.ok(embedder.countTokens(long) > 2048, 'longer than the context');
        assert.equal((await embedder.embed([long], never))[0].length, embedder.info?.embeddingDims, 'cut to fit, not refused');
        // Any model embeds on request (an embedding context is created lazily).
        assert.equal((await coder.embed(['x'], never))[0].length, coder.info?.embeddingDims);
        assert.equal(embedder.stats().requests - requestsBefore, 5, 'each embed call is counted');
        assert.equal(embedder.stats().inFlight, 0);
    });

    it('serves all three models at once', async () => {
        const [completion, chat, vectors] = await Promise.all([
            coder.generate({ mode: 'fim', prefix: 'let total = ', suffix: ';\n', maxTokens: 12, ignoreEndOfGeneration: true }, never),
            reasoner.chat({ messages: [{ role: 'user', content: 'Explain recursion.' }], maxTokens: 12, ignoreEndOfGeneration: true }, never),
            embedder.embed(['alpha', 'beta', 'gamma', 'delta'], never),
        ]);
        assert.equal(completion.generatedTokens, 12);
        assert.equal(chat.generatedTokens, 12);
        assert.equal(vectors.length, 4);
        for (const b of [coder, reasoner, embedder]) assert.equal(b.stats().inFlight, 0);
    });

    it('abort rejects at once (before the native call in progress returns), during decode and during prefill, and frees the slot', async () => {
        // During decode: abort from a timer after the 5th token, not from inside the backend's call
        // stack, so that a token is being computed natively when it comes.
        const controller = new AbortController();
        const reason = abortError('test abort');
        const events: string[] = [];
        let tokens = 0;
        let tokensAtAbort = -1;
        let settled = false;
        let tokensAfterSettle = 0;
        let atOnce: Promise<boolean> | undefined;
        const usage: CallUsage[] = [];
        const running = coder.generate(
            {
                mode: 'raw',
                prompt: 'while (true) {',
                maxTokens: 1500,
                ignoreEndOfGeneration: true,
                onToken: () => {
                    tokens++;
                    if (settled) tokensAfterSettle++;
                },
                onUsage: (u) => {
                    events.push('usage reported');
                    usage.push(u);
                },
                gate: {
                    wait: () => {
                        if (tokensAtAbort < 0 && tokens >= 5) {
                            tokensAtAbort = tokens;
                            setTimeout(() => {
                                events.push('abort');
                                controller.abort(reason);
                                atOnce = settledBeforeNextTurn(running);
                            }, 0);
                        }
                        return undefined;
                    },
                },
            },
            controller.signal,
        );
        const rejection = await running.then(
            () => undefined,
            (e: unknown) => e,
        );
        events.push('rejected');
        settled = true;
        assert.equal(rejection, reason, 'rejects with signal.reason');
        assert.equal(await atOnce, true, 'settled in the microtasks after abort(), without waiting for the native call in progress');
        // The sequence is released when the native call in progress returns: after the rejection.
        await until(() => coder.stats().inFlight === 0);
        assert.deepEqual(events, ['abort', 'rejected', 'usage reported']);
        assert.equal(usage[0].completed, false);
        assert.ok(usage[0].generatedTokens >= tokensAtAbort && usage[0].generatedTokens < 1500, `generated ${usage[0].generatedTokens} of 1500, ${tokensAtAbort} streamed when abort was scheduled`);

        // During prefill of a long prompt: the gate is consulted between prefill chunks; abort on the
        // next turn of the event loop after the second consultation, while a chunk is evaluated natively.
        const c2 = new AbortController();
        let checks = 0;
        let atOnce2: Promise<boolean> | undefined;
        const usage2: CallUsage[] = [];
        const prompt = codeLines(150);
        const long = coder.generate(
            {
                mode: 'raw',
                prompt,
                maxTokens: 8,
                onUsage: (u) => usage2.push(u),
                gate: {
                    wait: () => {
                        if (++checks === 2) {
                            setImmediate(() => {
                                c2.abort(reason);
                                atOnce2 = settledBeforeNextTurn(long);
                            });
                        }
                        return undefined;
                    },
                },
            },
            c2.signal,
        );
        await assert.rejects(long, (e: unknown) => e === reason);
        assert.equal(await atOnce2, true, 'settled in the microtasks after abort() during prefill');
        await until(() => coder.stats().inFlight === 0);
        assert.equal(usage2.length, 1);
        // One turn of the event loop holds at most the chunk in progress: most of the prompt was never read.
        const promptTokens = coder.countTokens(prompt);
        assert.ok(usage2[0].evaluatedPromptTokens < promptTokens / 2, `evaluated ${usage2[0].evaluatedPromptTokens} of ~${promptTokens} prompt tokens before the abort stopped the prefill`);
        assert.equal(usage2[0].generatedTokens, 0);

        assert.equal(tokensAfterSettle, 0, 'onToken is never called after the call settled');
        const after = await coder.generate({ mode: 'raw', prompt: 'ok', maxTokens: 4, ignoreEndOfGeneration: true }, never);
        assert.equal(after.generatedTokens, 4);
    });

    it('holds tokens while the gate is closed and resumes when it opens', async () => {
        const gate = new TestGate();
        let count = 0;
        const running = coder.generate(
            {
                mode: 'raw',
                prompt: 'let s = 0;',
                maxTokens: 20,
                ignoreEndOfGeneration: true,
                gate,
                onToken: () => {
                    count++;
                    if (count === 3) gate.close();
                },
            },
            never,
        );
        await until(() => gate.waits > 0);
        const held = count;
        // A window in which an ungated loop would have produced tokens; the assertion cannot fail on a
        // slow machine (a slower machine only produces fewer tokens in it).
        await delay(150);
        assert.equal(count, held, 'no token while paused');
        assert.ok(held >= 3 && held < 20);
        assert.equal(coder.stats().inFlight, 1, 'a paused generation keeps its slot');
        gate.open();
        const result = await running;
        assert.equal(result.generatedTokens, 20);

        // Abort while paused rejects at once: the gate never opens, and nothing native is in progress.
        const g2 = new TestGate();
        g2.close();
        const c = new AbortController();
        const paused = coder.generate({ mode: 'raw', prompt: 'x', maxTokens: 5, gate: g2 }, c.signal);
        await until(() => g2.waits > 0);
        c.abort(abortError('stop while paused'));
        assert.equal(await settledBeforeNextTurn(paused), true, 'settled in the microtasks after abort()');
        await assert.rejects(paused, { name: 'AbortError' });
        await until(() => coder.stats().inFlight === 0);
    });

    it('runs parallel sequences on one model', async () => {
        let peak = 0;
        const watch = (): void => {
            peak = Math.max(peak, coder.stats().inFlight);
        };
        const run = (prompt: string) =>
            coder.generate({ mode: 'raw', prompt, maxTokens: 30, ignoreEndOfGeneration: true, onToken: watch }, never);
        const [a, b] = await Promise.all([run('function first() {'), run('class Second {')]);
        assert.equal(a.generatedTokens, 30);
        assert.equal(b.generatedTokens, 30);
        assert.equal(peak, 2, 'both slots generated at the same time');
        assert.equal(coder.stats().slots, 2);
    });

    it('waits() names the call holding the sequence and the calls waiting for one, by their tags', async () => {
        const gen = await load('coder', { id: 'coder-waits', slots: 1, contextSize: 512 });
        const tag = (taskId: number): WaitTag => ({ taskId, label: `completion #${taskId}` });
        assert.deepEqual(gen.waits?.(), { waiting: [] });
        let started = false;
        const first = gen.generate({ mode: 'raw', prompt: 'let a = ', maxTokens: 40, ignoreEndOfGeneration: true, tag: tag(1), onToken: () => (started = true) }, never);
        await until(() => started);
        const second = gen.generate({ mode: 'raw', prompt: 'let b = ', maxTokens: 2, ignoreEndOfGeneration: true, tag: tag(2), priority: 100 }, never);
        assert.deepEqual(gen.waits?.(), { holder: tag(1), waiting: [tag(2)] });
        await Promise.all([first, second]);
        assert.deepEqual(gen.waits?.(), { waiting: [] });
    });

    it('always releases slots: more requests than slots, some aborted, then a new one works', async () => {
        const gen = await load('coder', { id: 'coder-slots', slots: 2, contextSize: 512 });
        const controllers = Array.from({ length: 7 }, () => new AbortController());
        const runs = controllers.map((c, i) =>
            gen.generate({ mode: 'raw', prompt: `item ${i} = `, maxTokens: 25, ignoreEndOfGeneration: true, cacheKey: `doc${i % 3}` }, c.signal),
        );
        const settledAll = Promise.allSettled(runs);
        controllers[6].abort(abortError('queued, aborted before start'));
        await delay(2);
        controllers[0].abort(abortError('running, aborted'));
        await delay(10);
        controllers[3].abort(abortError('aborted while waiting or running'));
        const outcomes = await settledAll;
        const rejected = outcomes.filter((o) => o.status === 'rejected');
        for (const r of rejected) assert.equal((r as PromiseRejectedResult).reason.name, 'AbortError');
        assert.ok(outcomes.filter((o) => o.status === 'fulfilled').length >= 4);
        await until(() => gen.stats().inFlight === 0);
        const fresh = await gen.generate({ mode: 'raw', prompt: 'still works', maxTokens: 5, ignoreEndOfGeneration: true }, never);
        assert.equal(fresh.generatedTokens, 5);
        assert.equal(gen.stats().inFlight, 0);
    });

    it('reuses the prefix of a cache key: one more character costs a few tokens', async () => {
        const gen = await load('coder', { id: 'coder-cache', slots: 2, contextSize: 2048 });
        const prefix = codeLines(40) + '    return value';
        const suffix = ';\n}\n';
        const first = await gen.generate({ mode: 'fim', prefix, suffix, maxTokens: 8, cacheKey: 'file:///a.ts', ignoreEndOfGeneration: true }, never);
        assert.ok(first.promptTokens > 300, `prompt of ${first.promptTokens} tokens`);
        assert.equal(first.reusedPromptTokens, 0);
        const typed = await gen.generate({ mode: 'fim', prefix: prefix + '1', suffix, maxTokens: 8, cacheKey: 'file:///a.ts', ignoreEndOfGeneration: true }, never);
        assert.ok(typed.evaluatedPromptTokens <= 12, `evaluated ${typed.evaluatedPromptTokens} of ${typed.promptTokens}`);
        assert.equal(typed.reusedPromptTokens + typed.evaluatedPromptTokens, typed.promptTokens);
        assert.ok(typed.reusedPromptTokens >= typed.promptTokens - 12);
        // The identical request again evaluates a single token (the last one, for its logits).
        const same = await gen.generate({ mode: 'fim', prefix: prefix + '1', suffix, maxTokens: 8, cacheKey: 'file:///a.ts', ignoreEndOfGeneration: true }, never);
        assert.equal(same.evaluatedPromptTokens, 1);
        const stats = gen.stats();
        assert.equal(stats.promptTokensReused, typed.reusedPromptTokens + same.reusedPromptTokens);

        // Two other documents take both slots: the least recently used key is evicted.
        await gen.generate({ mode: 'fim', prefix: 'class B {', suffix: '}', maxTokens: 4, cacheKey: 'file:///b.ts' }, never);
        await gen.generate({ mode: 'fim', prefix: 'class C {', suffix: '}', maxTokens: 4, cacheKey: 'file:///c.ts' }, never);
        const evicted = await gen.generate({ mode: 'fim', prefix: prefix + '12', suffix, maxTokens: 4, cacheKey: 'file:///a.ts' }, never);
        assert.ok(evicted.evaluatedPromptTokens > 300, `evaluated ${evicted.evaluatedPromptTokens} after eviction`);

        // maxTokens 0 only prefills (warming a document); the request that follows reuses all of it.
        const warmRequest: GenerateRequest = { mode: 'fim', prefix: codeLines(10), suffix: '}', maxTokens: 0, cacheKey: 'file:///d.ts' };
        const warmed = await gen.generate(warmRequest, never);
        assert.equal(warmed.generatedTokens, 0);
        assert.equal(warmed.text, '');
        const afterWarm = await gen.generate({ ...warmRequest, maxTokens: 4 }, never);
        assert.equal(afterWarm.evaluatedPromptTokens, 1);
    });

    it('the cursor line after the middle marker: a keystroke in the line reuses the whole suffix, the old layout re-reads it', async () => {
        const gen = await load('coder', { id: 'coder-middle', slots: 2, contextSize: 2048 });
        const prefix = codeLines(20);
        const line = '    const total = value1';
        const suffix = ' + offset;\n' + codeLines(12).replace('function handler', 'function after');
        const ask = (p: string, m: string | undefined, key: string): Promise<GenerationResult> =>
            gen.generate({ mode: 'fim', prefix: p, middle: m, suffix, maxTokens: 4, cacheKey: key, ignoreEndOfGeneration: true }, never);
        const first = await ask(prefix, line, 'file:///middle.ts');
        // The prompt is the control tokens and the three texts, the middle after the middle marker.
        const textTokens = gen.countTokens(prefix) + gen.countTokens(suffix) + gen.countTokens(line);
        assert.ok(Math.abs(first.promptTokens - (textTokens + 3)) <= 3, `prompt ${first.promptTokens} vs text ${textTokens} + 3`);
        const typed = await ask(prefix, line + '2', 'file:///middle.ts');
        assert.ok(gen.countTokens(suffix) > 100, 'a suffix worth keeping');
        assert.ok(typed.evaluatedPromptTokens <= 4, `evaluated ${typed.evaluatedPromptTokens} of ${typed.promptTokens}`);
        assert.equal(typed.reusedPromptTokens + typed.evaluatedPromptTokens, typed.promptTokens);
        // The same keystroke with the line in the prefix re-reads everything after the cursor.
        await ask(prefix + line, undefined, 'file:///old.ts');
        const oldTyped = await ask(prefix + line + '2', undefined, 'file:///old.ts');
        assert.ok(oldTyped.evaluatedPromptTokens > gen.countTokens(suffix), `old layout evaluated ${oldTyped.evaluatedPromptTokens}`);
        // A line longer than the context is cut at its start: the text at the cursor stays, the
        // suffix keeps its share.
        const longLine = 'x = ' + Array.from({ length: 700 }, (_, i) => `f${i}(a)`).join(' + ');
        const long = await gen.generate({ mode: 'fim', prefix, middle: longLine, suffix, maxTokens: 8, ignoreEndOfGeneration: true }, never);
        assert.ok(long.promptTokens <= 2048 - 8 && long.promptTokens > 1500, `trimmed to ${long.promptTokens} tokens`);
        assert.equal(long.generatedTokens, 8);
    });

    it('the next keystroke waits for its document’s slot to finish an aborted call and reuses what it evaluated', async () => {
        const gen = await load('coder', { id: 'coder-abort-reuse', slots: 2, contextSize: 2048 });
        const prefix = codeLines(60) + '    return value';
        const suffix = ';\n}\n';
        const key = 'file:///typing.ts';
        // A cold prompt of several chunks, aborted after the first one or two have been evaluated.
        const ac = new AbortController();
        const usage: CallUsage[] = [];
        const onUsage = (u: CallUsage): number => usage.push(u);
        const evaluatedBefore = gen.stats().promptTokensEvaluated;
        const first = gen.generate({ mode: 'fim', prefix, suffix, maxTokens: 4, cacheKey: key, gate: { wait: () => undefined }, onUsage }, ac.signal);
        const firstDone = first.then(
            () => 'served',
            (e: unknown) => (e === ac.signal.reason ? 'aborted' : e),
        );
        // The slot serving the key reports what it has read so far (the router's reuse estimate).
        await until(() => (gen.cachedTokens?.(key) ?? 0) > 0);
        ac.abort(new Error('superseded'));
        const seen = gen.cachedTokens?.(key) ?? 0;
        // Submitted at once, while the aborted call's chunk is still in flight on its slot.
        const next = await gen.generate({ mode: 'fim', prefix: prefix + '1', suffix, maxTokens: 4, cacheKey: key, ignoreEndOfGeneration: true, onUsage }, never);
        assert.equal(await firstDone, 'aborted');
        assert.ok(seen > 0 && seen < next.promptTokens, `read so far when aborted: ${seen} of ${next.promptTokens}`);
        assert.ok(next.reusedPromptTokens >= Math.max(64, seen), `reused ${next.reusedPromptTokens} of ${next.promptTokens} (${seen} read when aborted): it took another slot`);
        assert.equal(next.reusedPromptTokens + next.evaluatedPromptTokens, next.promptTokens);
        // Each call reports what it computed: the aborted one exactly the chunks the next one reused.
        assert.equal(usage.length, 2);
        assert.deepEqual(usage[0], { reusedPromptTokens: 0, evaluatedPromptTokens: next.reusedPromptTokens, generatedTokens: 0, completed: false });
        assert.deepEqual(usage[1], { reusedPromptTokens: next.reusedPromptTokens, evaluatedPromptTokens: next.evaluatedPromptTokens, generatedTokens: 4, completed: true });
        // The backend's own counter agrees: an aborted prefill counts only what ran.
        assert.equal(gen.stats().promptTokensEvaluated - evaluatedBefore, next.promptTokens);
    });

    it('unload aborts in-flight work, is idempotent, and later calls say the model is not loaded', async () => {
        const gen = await load('coder', { id: 'coder-unload', slots: 1, contextSize: 1024 });
        let started = false;
        const running = gen.generate(
            { mode: 'raw', prompt: 'loop', maxTokens: 900, ignoreEndOfGeneration: true, onToken: () => (started = true) },
            never,
        );
        const queued = gen.generate({ mode: 'raw', prompt: 'queued', maxTokens: 4 }, never);
        const notLoaded = (e: unknown): boolean => e instanceof ModelRuntimeError && e.problem === 'notLoaded';
        const rejections = [assert.rejects(running, notLoaded), assert.rejects(queued, notLoaded)];
        await until(() => started);
        await Promise.all([gen.unload(), gen.unload()]);
        await Promise.all(rejections);
        assert.equal(gen.stats().loaded, false);
        await assert.rejects(gen.generate({ mode: 'raw', prompt: 'x', maxTokens: 1 }, never), { name: 'ModelRuntimeError' });
        await gen.unload();
    });

    it('ignoreEndOfGeneration generates exactly maxTokens where the model would have stopped', async function () {
        // Random weights often pick an end-of-generation token (llama.cpp counts <|fim_pad|> and
        // <|file_sep|> as such) after a FIM prompt: find one prompt that stops early.
        for (let i = 0; i < 40; i++) {
            const request: GenerateRequest = { mode: 'fim', prefix: `x${i} = f(`, suffix: `)\ny = ${i}\n`, maxTokens: 24 };
            const natural = await coder.generate(request, never);
            if (natural.stopReason !== 'endOfGeneration') continue;
            assert.ok(natural.generatedTokens < 24);
            const forced = await coder.generate({ ...request, ignoreEndOfGeneration: true }, never);
            assert.equal(forced.generatedTokens, 24);
            assert.equal(forced.stopReason, 'maxTokens');
            assert.ok(forced.text.startsWith(natural.text.replace(/\uFFFD+$/, '')), 'the same greedy path up to the stop');
            return;
        }
        this.skip();
    });

    it('a throwing onToken fails only its own call, with the listener error', async () => {
        const boom = new Error('listener bug');
        await assert.rejects(
            coder.generate({ mode: 'raw', prompt: 'a', maxTokens: 8, ignoreEndOfGeneration: true, onToken: () => { throw boom; } }, never),
            (e: unknown) => e === boom,
        );
        const ok = await coder.generate({ mode: 'raw', prompt: 'a', maxTokens: 8, ignoreEndOfGeneration: true }, never);
        assert.equal(ok.generatedTokens, 8);
        assert.equal(coder.stats().inFlight, 0);
    });

    it('counts tokens with the model tokenizer', () => {
        assert.ok(coder.countTokens('function add(a, b) { return a + b; }') > 5);
        assert.equal(coder.countTokens(''), 0);
    });

    it('a FIM prompt is built from the tokens its texts were counted with: each text is tokenized once', async () => {
        // Every text the model's tokenizer is asked for, through a runtime whose models record it.
        const asked: string[] = [];
        const recording = async (): Promise<LlamaRuntime> => {
            const r = await provider();
            const loadModel: LlamaRuntime['llama']['loadModel'] = async (options) => {
                const model = await r.llama.loadModel(options);
                const tokenize = model.tokenize.bind(model) as (text: string, ...rest: unknown[]) => ReturnType<typeof model.tokenize>;
                model.tokenize = ((text: string, ...rest: unknown[]) => {
                    asked.push(text);
                    return tokenize(text, ...rest);
                }) as typeof model.tokenize;
                return model;
            };
            const llama = new Proxy(r.llama, {
                get: (target, prop) => {
                    if (prop === 'loadModel') return loadModel;
                    const v: unknown = Reflect.get(target, prop, target);
                    return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
                },
            });
            return { ...r, llama };
        };
        const s = spec('coder', { id: 'coder-once', slots: 1, contextSize: 1024 });
        const backend = createLlamaCppBackendFactory({ runtime: recording, clock: new SystemClock(), turns: new EvalTurns() })(s);
        await backend.load(s, never);
        loaded.push(backend);
        const prefix = codeLines(12) + '    return ';
        const suffix = ';\n}\n';
        const counted = backend.countTokens(prefix) + backend.countTokens(suffix);
        const result = await backend.generate({ mode: 'fim', prefix, suffix, maxTokens: 2, ignoreEndOfGeneration: true }, never);
        // The counted texts, the three FIM markers and a BOS token if the model wants one.
        assert.ok([3, 4].includes(result.promptTokens - counted), `prompt ${result.promptTokens}, counted ${counted}`);
        assert.equal(asked.filter((t) => t === prefix).length, 1, 'the prefix was tokenized once');
        assert.equal(asked.filter((t) => t === suffix).length, 1, 'the suffix was tokenized once');
    });

    it('texts tokenized again from the recent ones give the same prompts and counts (typing in a line)', async () => {
        const prefix = codeLines(30);
        const suffix = '    }\n}\n';
        const keystroke = (middle: string, cacheKey: string): GenerateRequest => ({ mode: 'fim', prefix, suffix, middle, maxTokens: 6, cacheKey });
        const first = await coder.generate(keystroke('    ret', 'memo-a'), never);
        // The same texts on the other slot: the same prompt evaluated afresh, the same greedy text.
        const again = await coder.generate(keystroke('    ret', 'memo-b'), never);
        assert.equal(again.promptTokens, first.promptTokens);
        assert.ok(again.reusedPromptTokens < 4, `reused ${again.reusedPromptTokens}`);
        assert.equal(again.text, first.text);
        // One more character: only the middle is new, and the prompt grows by at most its tokens.
        const next = await coder.generate(keystroke('    retu', 'memo-a'), never);
        assert.ok(next.promptTokens - first.promptTokens <= coder.countTokens('    retu'), `${first.promptTokens} -> ${next.promptTokens}`);
        assert.ok(next.reusedPromptTokens >= first.promptTokens - 3, `reused ${next.reusedPromptTokens} of ${next.promptTokens}`);
        // Counts of kept texts agree with a tokenizer that keeps nothing, however often asked.
        const tokenizer = await loadTokenizer(provider, models.coder);
        try {
            for (let i = 0; i < 3; i++) {
                for (const text of [prefix, suffix, '    ret', 'return']) assert.equal(coder.countTokens(text), tokenizer.tokenize(text).length);
            }
        } finally {
            await tokenizer.dispose();
        }
    });
});

describe('LlamaCppBackend (full models: prefix reuse)', function () {
    this.timeout(120_000);
    let provider: LlamaProvider;
    let backend: ModelBackend | undefined;

    after(async () => {
        await backend?.unload();
        await provider?.dispose();
    });

    // What this saves in time is the benchmark's to measure, as ratios on a quiet machine: the profile
    // (bench/real/measure.ts) times each model's cold prompt (ttftLongMs) and its one-token keystroke
    // after the cached prompt (ttftOneTokenMs). Here: the work that makes it so.
    it('typing one more character evaluates a token or two: the rest of the prompt is reused, not read again', async () => {
        const models = await ensureModels('full');
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
        const s: ModelSpec = { id: 'coder', role: 'coder', path: models.coder, contextSize: 2048, slots: 1, threads: 1, gpuLayers: 'auto', fimTemplate: 'auto' };
        backend = createLlamaCppBackendFactory({ runtime: provider, clock: new SystemClock(), turns: new EvalTurns() })(s);
        await backend.load(s, never);
        const prefix = codeLines(20) + '    return value';
        const cold = await backend.generate({ mode: 'fim', prefix, suffix: ';\n}\n', maxTokens: 4, cacheKey: 'doc', ignoreEndOfGeneration: true }, never);
        const afterCold = backend.stats();
        const warm = await backend.generate({ mode: 'fim', prefix: prefix + '4', suffix: ';\n}\n', maxTokens: 4, cacheKey: 'doc', ignoreEndOfGeneration: true }, never);
        const afterWarm = backend.stats();
        console.log(
            `      full coder (for information, not asserted): ${cold.promptTokens}-token FIM prompt, first token ${cold.firstTokenMs?.toFixed(0)} ms cold, ` +
                `${warm.firstTokenMs?.toFixed(0)} ms after typing one character (${warm.evaluatedPromptTokens} tokens evaluated)`,
        );
        assert.equal(cold.reusedPromptTokens, 0);
        assert.equal(cold.evaluatedPromptTokens, cold.promptTokens, 'the first request reads the whole prompt');
        assert.ok(cold.promptTokens > 200, `a prompt worth reusing: ${cold.promptTokens} tokens`);
        assert.ok(warm.evaluatedPromptTokens <= 12, `evaluated ${warm.evaluatedPromptTokens} of ${warm.promptTokens}`);
        assert.equal(warm.reusedPromptTokens + warm.evaluatedPromptTokens, warm.promptTokens);
        assert.ok(warm.reusedPromptTokens >= cold.promptTokens - 12, `reused ${warm.reusedPromptTokens} of the ${cold.promptTokens} read before`);
        // The backend's own counters agree with what the call reported.
        assert.equal(afterWarm.promptTokensReused - afterCold.promptTokensReused, warm.reusedPromptTokens);
        assert.equal(afterWarm.promptTokensEvaluated - afterCold.promptTokensEvaluated, warm.evaluatedPromptTokens);
    });
});
