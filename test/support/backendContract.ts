/**
 * The backend contract: behaviour every `ModelBackend` (src/core/backend.ts) must show with real
 * inference, whatever serves the model (node-llama-cpp in process, a llama-server, an
 * OpenAI-compatible engine). Each backend's integration test calls `backendContract` with a setup
 * that gives specs and fresh backends for three models: a FIM-capable coder, a chat model
 * (role 'reasoner') and an embedder.
 *
 * Every case is mandatory, except those a capability flag skips with its reason (`this.skip()`):
 * only for what an engine legitimately cannot do (an OpenAI-compatible engine may not report
 * prefix reuse, nor support ignoring end of generation).
 *
 * Invariants of the suite: it never asserts a wall-clock duration (waits are by events, with hang
 * caps only); every backend it loads is unloaded by its `after` hook; greedy decoding (temperature
 * 0) is assumed deterministic for the same prompt on an otherwise idle model.
 */
import { strict as assert } from 'node:assert';
import type { CallUsage, GenerateRequest, GenerationResult, ModelBackend, ModelSpec, Role, TokenGate } from '../../src/core/backend';
import { ModelRuntimeError } from '../../src/core/errors';
import { codeLines } from './code';

/** What the backend under test is given. */
export interface ContractEnv {
    /** The spec of each role's model: coder (FIM-capable), reasoner (has a chat template), embedder. */
    spec(role: Role): ModelSpec;
    /** A new, unloaded backend for `role`'s model (the suite loads and unloads it). */
    create(role: Role): ModelBackend;
}

/** Cases an engine may legitimately not support; each value is the reason shown when skipped. */
export interface ContractCapabilities {
    /** The engine does not report prompt tokens reused from a kept prefix. */
    readonly noPrefixReuse?: string;
    /** The engine cannot be told to never sample end of generation. */
    readonly noIgnoreEndOfGeneration?: string;
    /** The engine cannot fill in the middle (no infill endpoint and no known FIM template). */
    readonly noFim?: string;
    /**
     * The backend cannot fit an over-long FIM prompt to the context (cutting the prefix's start), nor
     * tell an over-long raw prompt as 'promptTooLong'.
     */
    readonly noPromptFit?: string;
}

const never = new AbortController().signal;

function delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 5 ms until it holds; `capMs` only catches a hang (no duration is asserted). */
export async function until(condition: () => boolean, capMs = 60_000, what = 'condition'): Promise<void> {
    const end = performance.now() + capMs;
    while (!condition()) {
        if (performance.now() > end) throw new Error(`${what} not met within ${capMs} ms (a hang)`);
        await delay(5);
    }
}

/** A gate the test opens and closes; counts the times a generation had to wait on it. */
export class TestGate implements TokenGate {
    private opened: Promise<void> | undefined;
    private open_: (() => void) | undefined;
    waits = 0;

    close(): void {
        if (this.opened) return;
        this.opened = new Promise((resolve) => (this.open_ = resolve));
    }

    open(): void {
        const open = this.open_;
        this.opened = undefined;
        this.open_ = undefined;
        open?.();
    }

    wait(signal: AbortSignal): Promise<void> | undefined {
        const opened = this.opened;
        if (!opened) return undefined;
        this.waits++;
        return new Promise((resolve, reject) => {
            const onAbort = (): void => reject(signal.reason);
            signal.addEventListener('abort', onAbort, { once: true });
            void opened.then(() => {
                signal.removeEventListener('abort', onAbort);
                resolve();
            });
        });
    }
}

/** Cosine-free closeness: every component within `eps` (engines may batch texts differently). */
function assertClose(a: readonly number[], b: readonly number[], eps: number, what: string): void {
    assert.equal(a.length, b.length, `${what}: lengths`);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst <= eps, `${what}: components differ by up to ${worst}`);
}

function sameResultShape(r: GenerationResult): void {
    assert.equal(r.promptTokens, r.reusedPromptTokens + r.evaluatedPromptTokens, 'promptTokens = reused + evaluated');
    assert.ok(r.promptTokens > 0, 'the prompt has tokens');
    assert.ok(r.generatedTokens >= 0);
    assert.ok(['endOfGeneration', 'maxTokens', 'stopString'].includes(r.stopReason), `stopReason ${r.stopReason}`);
    if (r.firstTokenMs !== undefined) assert.ok(r.firstTokenMs <= r.totalMs, 'firstTokenMs <= totalMs');
}

/**
 * Defines `describe(label)` with the contract's cases. `setup` runs in its `before` hook (after the
 * caller's own hooks, e.g. starting engines).
 */
export function backendContract(label: string, setup: () => Promise<ContractEnv> | ContractEnv, caps: ContractCapabilities = {}): void {
    describe(`backend contract: ${label}`, function () {
        this.timeout(180_000);

        let env: ContractEnv;
        let coder: ModelBackend;
        let chat: ModelBackend;
        let embedder: ModelBackend;
        const loaded: ModelBackend[] = [];

        async function load(role: Role): Promise<ModelBackend> {
            const backend = env.create(role);
            loaded.push(backend);
            await backend.load(env.spec(role), never);
            return backend;
        }

        /** Generation options that give exactly `maxTokens` where the engine supports it. */
        const forced = (): Partial<GenerateRequest> => (caps.noIgnoreEndOfGeneration ? {} : { ignoreEndOfGeneration: true });

        before(async function () {
            this.timeout(300_000);
            env = await setup();
            coder = await load('coder');
            chat = await load('reasoner');
            embedder = await load('embedder');
        });

        after(async () => {
            await Promise.all(loaded.map((b) => b.unload().catch(() => undefined)));
        });

        it('inspect and load describe the model', async () => {
            const inspected = await env.create('coder').inspect(env.spec('coder'), never);
            const info = coder.info;
            assert.ok(info, 'info after load');
            for (const i of [inspected, info]) {
                assert.equal(i.id, env.spec('coder').id);
                assert.ok(i.name.length > 0, 'a name');
                assert.ok(i.contextSize > 0 && i.slots >= 1, `context ${i.contextSize}, slots ${i.slots}`);
                assert.ok(i.embeddingDims > 0, 'embedding width');
                assert.ok(i.embeddingSpace.length > 0, 'an embedding space');
                if (!caps.noFim) assert.ok(i.fim !== undefined, 'the coder can fill in the middle');
            }
            assert.equal(inspected.embeddingSpace, info.embeddingSpace, 'inspect and load agree on the space');
            assert.equal(inspected.slots, info.slots);
            assert.ok(chat.info?.hasChat, 'the chat model has a chat template');
            assert.ok((embedder.info?.embeddingDims ?? 0) > 0);
            assert.notEqual(embedder.info?.embeddingSpace, coder.info?.embeddingSpace, 'two model files, two spaces');
            const stats = coder.stats();
            assert.equal(stats.loaded, true);
            assert.equal(stats.slots, info.slots);
            assert.ok(stats.contextsOpen >= 1, 'a loaded model holds a context');
            assert.equal(stats.sequencesHeld, 0);
        });

        it('raw generation streams every token and is deterministic at temperature 0', async () => {
            const pieces: string[] = [];
            const usages: CallUsage[] = [];
            const request: GenerateRequest = { mode: 'raw', prompt: 'function add(a, b) {', maxTokens: 16, ...forced() };
            const first = await coder.generate({ ...request, onToken: (t) => pieces.push(t), onUsage: (u) => usages.push(u) }, never);
            sameResultShape(first);
            assert.equal(pieces.join(''), first.text, 'the streamed pieces are the text');
            if (!caps.noIgnoreEndOfGeneration) {
                assert.equal(first.generatedTokens, 16);
                assert.equal(first.stopReason, 'maxTokens');
                assert.ok(pieces.length >= 4, `streamed in ${pieces.length} pieces`);
            }
            assert.equal(usages.length, 1, 'onUsage once per call');
            assert.equal(usages[0].completed, true);
            assert.equal(usages[0].generatedTokens, first.generatedTokens);
            const second = await coder.generate(request, never);
            assert.equal(second.text, first.text, 'greedy decoding repeats itself');
            assert.equal(second.generatedTokens, first.generatedTokens);
        });

        it('fills in the middle on the coder', async function () {
            if (caps.noFim) this.skip();
            const pieces: string[] = [];
            const request: GenerateRequest = { mode: 'fim', prefix: 'function add(a, b) {\n    return ', suffix: ';\n}\n', maxTokens: 12, ...forced() };
            const result = await coder.generate({ ...request, onToken: (t) => pieces.push(t) }, never);
            sameResultShape(result);
            assert.equal(pieces.join(''), result.text);
            // The FIM prompt holds at least the prefix's and the suffix's tokens.
            assert.ok(result.promptTokens >= coder.countTokens('function add(a, b) {\n    return ') + coder.countTokens(';\n}\n') - 2, `prompt of ${result.promptTokens} tokens`);
            if (!caps.noIgnoreEndOfGeneration) assert.equal(result.generatedTokens, 12);
            const again = await coder.generate(request, never);
            assert.equal(again.text, result.text, 'greedy FIM repeats itself');
        });

        it('a prompt longer than the context is cut to fit: FIM around the cursor, raw at its start', async function () {
            if (caps.noPromptFit) this.skip();
            const context = coder.info?.contextSize ?? 0;
            const prefix = codeLines(Math.ceil(context / 5));
            assert.ok(coder.countTokens(prefix) > context, 'the prefix alone is longer than the context');
            const fits = (r: GenerationResult, maxTokens: number, what: string): void => {
                sameResultShape(r);
                assert.ok(r.promptTokens <= context - maxTokens, `${what}: ${r.promptTokens} prompt tokens fit ${context} with ${maxTokens} to generate`);
                assert.ok(r.promptTokens > context / 2, `${what}: ${r.promptTokens} prompt tokens: most of the context is used`);
                if (!caps.noIgnoreEndOfGeneration) assert.equal(r.generatedTokens, maxTokens, what);
            };
            if (!caps.noFim) fits(await coder.generate({ mode: 'fim', prefix, suffix: '}\n', maxTokens: 8, ...forced() }, never), 8, 'FIM');
            fits(await coder.generate({ mode: 'raw', prompt: prefix + '    return value3 + value7;\n}\n', maxTokens: 6, ...forced() }, never), 6, 'raw');
        });

        it('chat streams through the model’s template', async () => {
            const pieces: string[] = [];
            const result = await chat.chat(
                {
                    messages: [
                        { role: 'system', content: 'You are terse.' },
                        { role: 'user', content: 'Explain recursion.' },
                    ],
                    maxTokens: 12,
                    ...forced(),
                    onToken: (t) => pieces.push(t),
                },
                never,
            );
            sameResultShape(result);
            assert.equal(pieces.join(''), result.text);
            // The template adds its own markers around the messages' text.
            assert.ok(result.promptTokens > chat.countTokens('You are terse.') + chat.countTokens('Explain recursion.'), `prompt of ${result.promptTokens} tokens`);
            if (!caps.noIgnoreEndOfGeneration) assert.equal(result.generatedTokens, 12);
        });

        it('a stop string cuts the text before it, and no piece of it is streamed', async function () {
            const request: GenerateRequest = { mode: 'raw', prompt: 'const values = [', maxTokens: 32, ...forced() };
            const full = await coder.generate(request, never);
            // A stop string that first occurs inside the text, after its start.
            let stop: string | undefined;
            for (let k = Math.floor(full.text.length / 3); k + 2 <= full.text.length && stop === undefined; k++) {
                const candidate = full.text.slice(k, k + 2);
                if (candidate.trim().length === 2 && full.text.indexOf(candidate) > 0) stop = candidate;
            }
            if (stop === undefined) {
                // Without ignoreEndOfGeneration the model may stop too soon to give one.
                if (caps.noIgnoreEndOfGeneration) this.skip();
                assert.fail(`no stop string candidate in ${JSON.stringify(full.text)}`);
            }
            const pieces: string[] = [];
            const cut = await coder.generate({ ...request, stop: [stop, '\u0000never'], onToken: (t) => pieces.push(t) }, never);
            assert.equal(cut.stopReason, 'stopString');
            assert.equal(cut.text, full.text.slice(0, full.text.indexOf(stop)), `cut before ${JSON.stringify(stop)}`);
            assert.equal(pieces.join(''), cut.text, 'what was streamed is the result');
            assert.ok(!pieces.join('').includes(stop), 'the stop string was never streamed');
        });

        it('embeds: one vector per text in order, the same text gives the same vector, the declared width', async () => {
            const dims = embedder.info?.embeddingDims ?? 0;
            const texts = ['function add(a, b) { return a + b; }', 'the quick brown fox', 'function add(a, b) { return a + b; }'];
            const vectors = await embedder.embed(texts, never);
            assert.equal(vectors.length, 3);
            for (const v of vectors) {
                assert.equal(v.length, dims);
                assert.ok(v.every((x) => Number.isFinite(x)), 'finite components');
            }
            assertClose(vectors[0], vectors[2], 1e-4, 'same text in one batch');
            const alone = await embedder.embed([texts[0]], never);
            assertClose(alone[0], vectors[0], 1e-4, 'same text alone');
            assert.ok(vectors[0].some((x, i) => Math.abs(x - vectors[1][i]) > 1e-4), 'different texts, different vectors');
            assert.deepEqual(await embedder.embed([], never), []);
        });

        it('embeds a text longer than one evaluation takes (cut to fit) and an empty text', async () => {
            const dims = embedder.info?.embeddingDims ?? 0;
            const long = codeLines(260);
            assert.ok(embedder.countTokens(long) > (embedder.info?.contextSize ?? 0), 'longer than the context');
            const [v, empty] = await embedder.embed([long, ''], never);
            assert.equal(v.length, dims);
            assert.equal(empty.length, dims);
            assert.ok(v.every((x) => Number.isFinite(x)) && empty.every((x) => Number.isFinite(x)));
        });

        it('abort during generation rejects with the signal’s reason, and the backend serves the next call', async () => {
            const ac = new AbortController();
            const reason = new Error('the user typed on');
            let tokens = 0;
            const running = coder.generate(
                {
                    mode: 'raw',
                    prompt: 'while (true) {',
                    maxTokens: 400,
                    ...forced(),
                    onToken: () => {
                        tokens++;
                        if (tokens === 1) ac.abort(reason);
                    },
                },
                ac.signal,
            );
            await assert.rejects(running, (e: unknown) => e === reason);
            assert.equal(tokens, 1, 'no token after the abort');
            const before = new AbortController();
            before.abort(reason);
            await assert.rejects(coder.generate({ mode: 'raw', prompt: 'x', maxTokens: 2 }, before.signal), (e: unknown) => e === reason);
            const next = await coder.generate({ mode: 'raw', prompt: 'let x = ', maxTokens: 4, ...forced() }, never);
            sameResultShape(next);
            await until(() => coder.stats().sequencesHeld === 0, 60_000, 'every sequence released');
        });

        it('more calls than slots all settle, some aborted, and the next call works', async () => {
            const slots = coder.info?.slots ?? 1;
            const n = slots + 3;
            const aborts: AbortController[] = [];
            const calls: Promise<GenerationResult>[] = [];
            for (let i = 0; i < n; i++) {
                const ac = new AbortController();
                aborts.push(ac);
                calls.push(coder.generate({ mode: 'raw', prompt: `call ${i} = `, maxTokens: 6, ...forced() }, ac.signal));
            }
            aborts[1].abort(new Error('aborted 1'));
            aborts[n - 1].abort(new Error('aborted last'));
            const settled = await Promise.allSettled(calls);
            settled.forEach((s, i) => {
                if (i === 1 || i === n - 1) assert.equal(s.status, 'rejected', `call ${i} was aborted`);
                else assert.equal(s.status, 'fulfilled', `call ${i}: ${s.status === 'rejected' ? String(s.reason) : ''}`);
            });
            const next = await coder.generate({ mode: 'raw', prompt: 'done = ', maxTokens: 2 }, never);
            sameResultShape(next);
            await until(() => coder.stats().sequencesHeld === 0, 60_000, 'every sequence released');
            assert.equal(coder.stats().inFlight, 0);
        });

        it('a cache key reuses its prefix: the next keystroke reports reused prompt tokens', async function () {
            if (caps.noPrefixReuse) this.skip();
            const prefix = codeLines(12) + '    return value';
            const suffix = ';\n}\n';
            const key = `file:///contract-${label.replace(/\W+/g, '-')}.ts`;
            const request = (p: string): GenerateRequest =>
                caps.noFim ? { mode: 'raw', prompt: p, maxTokens: 4, cacheKey: key, ...forced() } : { mode: 'fim', prefix: p, suffix, maxTokens: 4, cacheKey: key, ...forced() };
            const first = await coder.generate(request(prefix), never);
            sameResultShape(first);
            const typed = await coder.generate(request(prefix + '1'), never);
            sameResultShape(typed);
            assert.ok(typed.reusedPromptTokens > 0, `reused ${typed.reusedPromptTokens} of ${typed.promptTokens}`);
            assert.ok(typed.evaluatedPromptTokens < typed.promptTokens / 2, `evaluated ${typed.evaluatedPromptTokens} of ${typed.promptTokens}`);
            if (coder.cachedTokens) assert.ok(coder.cachedTokens(key) > 0, 'cachedTokens knows the key');
        });

        it('maxTokens 0 reads the prompt only: no text, no token, and the next call of its key reuses it', async function () {
            const key = `file:///read-ahead-${label.replace(/\W+/g, '-')}.ts`;
            const prefix = codeLines(10) + '    return result';
            const pieces: string[] = [];
            const usages: CallUsage[] = [];
            const read = await coder.generate(
                caps.noFim
                    ? { mode: 'raw', prompt: prefix, maxTokens: 0, cacheKey: key, onToken: (t) => pieces.push(t), onUsage: (u) => usages.push(u) }
                    : { mode: 'fim', prefix, suffix: '\n}\n', maxTokens: 0, cacheKey: key, onToken: (t) => pieces.push(t), onUsage: (u) => usages.push(u) },
                never,
            );
            assert.equal(read.text, '');
            assert.equal(read.generatedTokens, 0);
            assert.equal(read.firstTokenMs, undefined);
            assert.deepEqual(pieces, []);
            assert.ok(read.promptTokens > 0);
            assert.equal(usages.length, 1);
            assert.equal(usages[0].generatedTokens, 0);
            if (caps.noPrefixReuse) this.skip();
            const next = await coder.generate(
                caps.noFim ? { mode: 'raw', prompt: prefix + 's', maxTokens: 2, cacheKey: key } : { mode: 'fim', prefix: prefix + 's', suffix: '\n}\n', maxTokens: 2, cacheKey: key },
                never,
            );
            assert.ok(next.reusedPromptTokens > next.promptTokens / 2, `reused ${next.reusedPromptTokens} of ${next.promptTokens}`);
        });

        it('ignoreEndOfGeneration yields exactly maxTokens', async function () {
            if (caps.noIgnoreEndOfGeneration) this.skip();
            for (const [i, prompt] of ['x = f(', '<|fim_pad|>', '}\n\n', 'return'].entries()) {
                const r = await coder.generate({ mode: 'raw', prompt, maxTokens: 10 + i, ignoreEndOfGeneration: true }, never);
                assert.equal(r.generatedTokens, 10 + i, `prompt ${JSON.stringify(prompt)}`);
                assert.equal(r.stopReason, 'maxTokens');
            }
        });

        it('a closed gate holds tokens, and they resume when it opens', async function () {
            if (caps.noIgnoreEndOfGeneration) this.skip();
            const gate = new TestGate();
            const pieces: string[] = [];
            const running = coder.generate(
                {
                    mode: 'raw',
                    prompt: 'for (let i = 0; ',
                    maxTokens: 12,
                    ignoreEndOfGeneration: true,
                    gate,
                    onToken: (t) => {
                        pieces.push(t);
                        if (pieces.length === 2) gate.close();
                    },
                },
                never,
            );
            await until(() => gate.waits > 0, 60_000, 'the generation waits at the gate');
            const held = pieces.length;
            // Several event-loop turns with the gate closed: nothing more is delivered.
            for (let i = 0; i < 20; i++) await delay(5);
            assert.equal(pieces.length, held, 'no token while the gate is closed');
            gate.open();
            const result = await running;
            assert.equal(result.generatedTokens, 12);
            assert.equal(pieces.join(''), result.text);
        });

        it('a throwing onToken fails only its own call, with the listener error', async () => {
            const boom = new Error('listener bug');
            const failing = coder.generate(
                {
                    mode: 'raw',
                    prompt: 'a',
                    maxTokens: 8,
                    ...forced(),
                    onToken: () => {
                        throw boom;
                    },
                },
                never,
            );
            const other = coder.generate({ mode: 'raw', prompt: 'b', maxTokens: 8, ...forced() }, never);
            await assert.rejects(failing, (e: unknown) => e === boom);
            const ok = await other;
            sameResultShape(ok);
            const after = await coder.generate({ mode: 'raw', prompt: 'a', maxTokens: 8, ...forced() }, never);
            sameResultShape(after);
            await until(() => coder.stats().sequencesHeld === 0, 60_000, 'every sequence released');
        });

        it('unload rejects the calls in flight, and later calls say the model is not loaded', async () => {
            const backend = await load('coder');
            let started = false;
            const running = backend.generate({ mode: 'raw', prompt: 'loop', maxTokens: 400, ...forced(), onToken: () => (started = true) }, never);
            const rejected = assert.rejects(running);
            await until(() => started, 60_000, 'the first token');
            await Promise.all([backend.unload(), backend.unload()]);
            await rejected;
            const stats = backend.stats();
            assert.equal(stats.loaded, false);
            assert.equal(stats.contextsOpen, 0);
            await assert.rejects(
                backend.generate({ mode: 'raw', prompt: 'x', maxTokens: 1 }, never),
                (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'notLoaded',
            );
            await assert.rejects(backend.embed(['x'], never), (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'notLoaded');
            await backend.unload();
        });

        it('countTokens is positive and grows with the text', () => {
            const short = 'function add(a, b) { return a + b; }';
            const n = coder.countTokens(short);
            assert.ok(n > 0, 'a text has tokens');
            const longer = coder.countTokens(short + '\n' + short + '\n' + short);
            assert.ok(longer > n, `three copies: ${longer} > ${n}`);
            assert.ok(coder.countTokens(codeLines(50)) > coder.countTokens(codeLines(10)), 'more lines, more tokens');
            assert.ok(coder.countTokens('') <= 1, 'an empty text has (almost) no tokens');
        });
    });
}
