/**
 * OpenAiCompatibleBackend's reading of what engines send, with a fake fetch: the edge cases of
 * parsing that a real engine does not produce on demand (events split across reads, a usage-only
 * final chunk, an engine that ignores `stop`, no `usage`, an error event, vLLM's `stop_reason`).
 * Model behaviour itself is tested with real inference (test/integration/openAiBackend.test.ts).
 */
import * as assert from 'node:assert/strict';
import type { ModelSpec } from '../../../src/core/backend';
import { VirtualClock } from '../../../src/core/clock';
import { ModelRuntimeError, RemoteEngineError } from '../../../src/core/errors';
import type { Fetch } from '../../../src/backends/remote/http';
import { OpenAiCompatibleBackend, neutraliseMarkers, openAiFimFamily, reportedPromptTokens, stopReasonOf } from '../../../src/backends/remote/openAi';
import { parseStreamEvent } from '../../../src/backends/remote/openAiStream';
import { TestGate } from '../../support/backendContract';

const never = new AbortController().signal;
const URL_BASE = 'http://engine.test:8000';

interface Sent {
    readonly path: string;
    readonly body: Record<string, unknown> | undefined;
    readonly headers: Record<string, string>;
}

/** Ends a fake stream's chunks: the stream then stays open (an engine still generating) until the client closes it. */
const OPEN = Symbol('open');

interface BodyState {
    cancelled: boolean;
    pulled: number;
    /** The client closed the connection while the stream was still open (its fetch signal aborted). */
    closedByClient: boolean;
}

/**
 * A stream body that delivers `chunks` (strings or raw bytes) one read each, and records a cancel;
 * after OPEN it waits until `signal` aborts and then errors, as undici's body does.
 */
function chunkedBody(chunks: readonly (string | Uint8Array | typeof OPEN)[], state: BodyState, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
    const enc = new TextEncoder();
    let i = 0;
    return new ReadableStream<Uint8Array>({
        async pull(controller) {
            state.pulled++;
            if (chunks[i] === OPEN) {
                await new Promise<void>((resolve) => (signal?.aborted ? resolve() : signal?.addEventListener('abort', () => resolve(), { once: true })));
                state.closedByClient = true;
                controller.error(signal?.reason);
                return;
            }
            if (i >= chunks.length) {
                controller.close();
                return;
            }
            const c = chunks[i++] as string | Uint8Array;
            controller.enqueue(typeof c === 'string' ? enc.encode(c) : c);
        },
        cancel() {
            state.cancelled = true;
        },
    });
}

function sse(events: readonly unknown[], done = true): string {
    return events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + (done ? 'data: [DONE]\n\n' : '');
}

/** A fake engine: `/v1/models` lists one model; `/v1/completions` and `/v1/chat/completions` answer `stream()`'s chunks. */
function fakeEngine(stream: (body: Record<string, unknown>) => readonly (string | Uint8Array | typeof OPEN)[], models: unknown = { data: [{ id: 'qwen2.5-coder:1.5b' }] }) {
    const sent: Sent[] = [];
    const state: BodyState = { cancelled: false, pulled: 0, closedByClient: false };
    const fetchImpl: Fetch = async (input, init) => {
        const url = new URL(String(input));
        const body = init?.body === undefined ? undefined : (JSON.parse(String(init.body)) as Record<string, unknown>);
        sent.push({ path: url.pathname, body, headers: (init?.headers ?? {}) as Record<string, string> });
        if (url.pathname === '/v1/models') return new Response(JSON.stringify(models), { status: 200 });
        if (url.pathname === '/metrics') return new Response('not here', { status: 404 });
        if (url.pathname === '/v1/completions' || url.pathname === '/v1/chat/completions') {
            return new Response(chunkedBody(stream(body ?? {}), state, init?.signal ?? undefined), { status: 200, headers: { 'content-type': 'text/event-stream' } });
        }
        return new Response('{"error":"no"}', { status: 404 });
    };
    return { fetch: fetchImpl, sent, state };
}

function spec(extra: Partial<ModelSpec> = {}): ModelSpec {
    return {
        id: 'remote-coder',
        role: 'coder',
        path: URL_BASE,
        remote: { api: 'openai', url: URL_BASE },
        contextSize: 4096,
        slots: 2,
        threads: 0,
        gpuLayers: 0,
        fimTemplate: 'auto',
        ...extra,
    };
}

async function loaded(engine: ReturnType<typeof fakeEngine>, extra: Partial<ModelSpec> = {}): Promise<OpenAiCompatibleBackend> {
    const b = new OpenAiCompatibleBackend({ clock: new VirtualClock(), fetch: engine.fetch, pollIntervalMs: 1_000 });
    await b.load(spec(extra), never);
    return b;
}

const piece = (text: string, finish: string | null = null): unknown => ({ choices: [{ index: 0, text, finish_reason: finish }] });
const usageOnly = (prompt: number, completion: number, cached?: number): unknown => ({
    choices: [],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, ...(cached === undefined ? {} : { prompt_tokens_details: { cached_tokens: cached } }) },
});

describe('OpenAiCompatibleBackend: reading streams (fake fetch)', () => {
    it('events split across reads, inside a line, a CRLF and a multi-byte character, arrive whole and in order', async () => {
        const text = sse([piece('con'), piece('st é'), piece('🙂', 'length'), usageOnly(7, 3, 2)]).replace(/\n\n/g, '\r\n\r\n');
        const bytes = new TextEncoder().encode(text);
        // Cut into 5-byte reads: lines, the CRLF pairs and the UTF-8 sequences of 'é' and '🙂' fall across reads.
        const reads: Uint8Array[] = [];
        for (let i = 0; i < bytes.length; i += 5) reads.push(bytes.slice(i, i + 5));
        const engine = fakeEngine(() => reads);
        const b = await loaded(engine);
        const pieces: string[] = [];
        const r = await b.generate({ mode: 'raw', prompt: 'x', maxTokens: 3, onToken: (t) => pieces.push(t) }, never);
        assert.deepEqual(pieces, ['con', 'st é', '🙂']);
        assert.equal(r.text, 'const é🙂');
        assert.equal(r.stopReason, 'maxTokens');
        await b.unload();
    });

    it('a usage-only final chunk gives the counts: prompt, cached (reused) and generated tokens', async () => {
        const engine = fakeEngine(() => [sse([piece('a'), piece('b', 'stop'), usageOnly(41, 2, 32)])]);
        const b = await loaded(engine);
        const usages: unknown[] = [];
        const r = await b.generate({ mode: 'raw', prompt: 'y'.repeat(120), maxTokens: 8, onUsage: (u) => usages.push(u) }, never);
        assert.equal(r.promptTokens, 41);
        assert.equal(r.reusedPromptTokens, 32);
        assert.equal(r.evaluatedPromptTokens, 9);
        assert.equal(r.generatedTokens, 2);
        assert.equal(r.stopReason, 'endOfGeneration', 'finish_reason stop without stop strings');
        assert.deepEqual(usages, [{ reusedPromptTokens: 32, evaluatedPromptTokens: 9, generatedTokens: 2, completed: true }]);
        const sent = engine.sent.find((s) => s.path === '/v1/completions');
        assert.deepEqual(sent?.body?.stream_options, { include_usage: true });
        assert.equal(sent?.body?.stream, true);
        assert.equal(sent?.body?.model, 'qwen2.5-coder:1.5b');
        assert.equal(sent?.body?.temperature, 0);
        assert.equal('ignore_eos' in (sent?.body ?? {}), false, 'ignore_eos only when asked');
        assert.equal('stop' in (sent?.body ?? {}), false, 'no stop without stop strings');
        // 120 characters were 40 tokens besides the BOS: countTokens learned 3 characters a token.
        assert.equal(b.countTokens('z'.repeat(300)), 100);
        assert.equal(b.stats().promptTokensReused, 32);
        await b.unload();
    });

    it('an engine that ignores `stop`: the text is cut before it, no piece of it is streamed, the stream is closed', async () => {
        // One event a read, and the engine still generating after the stop string.
        const engine = fakeEngine(() => [...[piece('ab'), piece('c<'), piece('/e'), piece('nd>tail'), piece('more')].map((e) => sse([e], false)), OPEN]);
        const b = await loaded(engine);
        const pieces: string[] = [];
        const r = await b.generate({ mode: 'raw', prompt: 'p', maxTokens: 50, stop: ['</end>'], onToken: (t) => pieces.push(t) }, never);
        assert.equal(r.text, 'abc');
        assert.equal(pieces.join(''), 'abc');
        assert.ok(pieces.every((p) => !p.includes('<')), JSON.stringify(pieces));
        assert.equal(r.stopReason, 'stopString');
        // The hang cap of this wait is mocha's timeout.
        while (!engine.state.closedByClient) await new Promise((r) => setImmediate(r));
        assert.equal(engine.state.closedByClient, true, 'the connection was closed (the engine stops generating)');
        const sent = engine.sent.find((s) => s.path === '/v1/completions');
        assert.deepEqual(sent?.body?.stop, ['</end>']);
        // No usage arrived: generated tokens are the pieces read (up to the stop string), the prompt an estimate.
        assert.equal(r.generatedTokens, 4);
        assert.ok(r.promptTokens >= 1);
        await b.unload();
    });

    it('chat deltas stream; a role-only first delta and an empty content are not tokens', async () => {
        const delta = (content: string | undefined, finish: string | null = null): unknown => ({
            choices: [{ index: 0, delta: content === undefined ? { role: 'assistant' } : { content }, finish_reason: finish }],
        });
        const engine = fakeEngine(() => [sse([delta(undefined), delta('Hel'), delta(''), delta('lo', 'stop'), usageOnly(12, 2)])]);
        const b = await loaded(engine);
        const pieces: string[] = [];
        const r = await b.chat({ messages: [{ role: 'user', content: 'hi' }], maxTokens: 5, seed: 7, onToken: (t) => pieces.push(t) }, never);
        assert.deepEqual(pieces, ['Hel', 'lo']);
        assert.equal(r.text, 'Hello');
        assert.equal(r.promptTokens, 12);
        const sent = engine.sent.find((s) => s.path === '/v1/chat/completions');
        assert.deepEqual(sent?.body?.messages, [{ role: 'user', content: 'hi' }]);
        assert.equal(sent?.body?.seed, 7);
        await b.unload();
    });

    it('an error event mid-stream is a RemoteEngineError (server); a malformed one is protocol', async () => {
        const engine = fakeEngine((body) =>
            body.prompt === 'bad' ? ['data: {"choices": [\n\n'] : [sse([piece('a'), { error: { message: 'slot crashed', code: 500 } }], false)],
        );
        const b = await loaded(engine);
        await assert.rejects(b.generate({ mode: 'raw', prompt: 'p', maxTokens: 5 }, never), (e: unknown) => e instanceof RemoteEngineError && e.problem === 'server' && /slot crashed/.test(e.message));
        await assert.rejects(b.generate({ mode: 'raw', prompt: 'bad', maxTokens: 5 }, never), (e: unknown) => e instanceof RemoteEngineError && e.problem === 'protocol');
        assert.equal(b.remoteLoad().reachable, false, 'a server error marks the engine unreachable');
        assert.equal(b.stats().errors, 2);
        await b.unload();
    });

    it('FIM writes the family template as text, sends its markers as stops and the API key as a bearer token', async () => {
        const engine = fakeEngine(() => [sse([piece('1', 'stop'), usageOnly(9, 1)])]);
        const b = await loaded(engine, { remote: { api: 'openai', url: URL_BASE, apiKey: 'k-123' } });
        assert.equal(b.info?.fim, 'qwen', "'auto' takes the family the model id names");
        await b.generate({ mode: 'fim', prefix: 'a = <|fim_suffix|>', suffix: 'b', middle: 'c', maxTokens: 4, ignoreEndOfGeneration: true }, never);
        const sent = engine.sent.find((s) => s.path === '/v1/completions');
        assert.equal(sent?.body?.prompt, '<|fim_prefix|>a = <\u200B|fim_suffix|><|fim_suffix|>b<|fim_middle|>c');
        assert.ok((sent?.body?.stop as string[]).includes('<|endoftext|>'));
        assert.equal(sent?.body?.ignore_eos, true);
        assert.equal(sent?.headers.authorization, 'Bearer k-123');
        assert.ok(engine.sent.every((s) => s.headers.authorization === 'Bearer k-123'), 'every call carries the key');
        await b.unload();
    });

    it('a gate held longer than the stream idle limit does not time the stream out: it is read on meanwhile', async () => {
        // An engine that sends an event every 10 ms (real time) for 30 events; the idle limit is 60 ms
        // and the gate holds delivery for 300 ms. A body errors when its fetch is aborted, as undici's does.
        const enc = new TextEncoder();
        const fetchImpl: Fetch = async (input, init) => {
            const path = new URL(String(input)).pathname;
            if (path === '/v1/models') return new Response(JSON.stringify({ data: [{ id: 'm' }] }));
            if (path === '/metrics') return new Response('', { status: 404 });
            const signal = init?.signal ?? never;
            let n = 0;
            const body = new ReadableStream<Uint8Array>({
                async pull(c) {
                    await new Promise((r) => setTimeout(r, 10));
                    if (signal.aborted) return c.error(signal.reason);
                    n++;
                    if (n <= 30) c.enqueue(enc.encode(sse([piece(`t${n} `, n === 30 ? 'length' : null)], false)));
                    else {
                        c.enqueue(enc.encode(sse([usageOnly(5, 30)])));
                        c.close();
                    }
                },
            });
            return new Response(body, { status: 200 });
        };
        const b = new OpenAiCompatibleBackend({ clock: new VirtualClock(), fetch: fetchImpl, headersTimeoutMs: 60, streamIdleTimeoutMs: 60 });
        await b.load(spec(), never);
        const gate = new TestGate();
        const pieces: string[] = [];
        const running = b.generate(
            {
                mode: 'raw',
                prompt: 'p',
                maxTokens: 30,
                gate,
                onToken: (t) => {
                    pieces.push(t);
                    if (pieces.length === 2) gate.close();
                },
            },
            never,
        );
        while (gate.waits === 0) await new Promise((r) => setImmediate(r));
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(pieces.length, 2, 'nothing delivered while the gate is closed');
        gate.open();
        const r = await running;
        assert.equal(r.generatedTokens, 30);
        assert.equal(pieces.length, 30);
        assert.equal(r.text, pieces.join(''));
        await b.unload();
    });

    it('a prompt over the context is cut again to what the engine counted, keeping its end (raw) or the cursor side (FIM)', async () => {
        // An engine whose tokenizer takes 2 characters a token (plus a BOS) and whose context is 100 tokens.
        const prompts: string[] = [];
        const inner = fakeEngine(() => [sse([piece('z', 'length'), usageOnly(60, 1)])]);
        const fetchImpl: Fetch = async (input, init) => {
            if (new URL(String(input)).pathname === '/v1/completions') {
                const prompt = String((JSON.parse(String(init?.body)) as { prompt: string }).prompt);
                prompts.push(prompt);
                const n = Math.ceil(prompt.length / 2) + 1;
                if (n > 100) {
                    return new Response(JSON.stringify({ error: { code: 400, message: `request (${n} tokens) exceeds the available context size (100 tokens)`, n_prompt_tokens: n } }), { status: 400 });
                }
            }
            return inner.fetch(input, init);
        };
        const b = new OpenAiCompatibleBackend({ clock: new VirtualClock(), fetch: fetchImpl });
        await b.load(spec({ contextSize: 100 }), never);
        const text = Array.from({ length: 100 }, (_, i) => `w${i % 10} `).join('') + 'END';
        const r = await b.generate({ mode: 'raw', prompt: text, maxTokens: 4 }, never);
        assert.equal(r.text, 'z');
        assert.equal(prompts.length, 2, 'refused once, then cut to fit');
        assert.ok(text.endsWith(prompts[1]) && prompts[1].length < prompts[0].length, 'the end of the prompt is kept');
        assert.ok(Math.ceil(prompts[1].length / 2) + 1 <= 96, 'it fits with 4 to generate');
        prompts.length = 0;
        await b.generate({ mode: 'fim', prefix: text, suffix: 'SUFFIX' + text, maxTokens: 4 }, never);
        const last = prompts.at(-1) ?? '';
        assert.ok(last.includes('END<|fim_suffix|>SUFFIX'), 'the end of the prefix and the start of the suffix are kept');
        assert.ok(Math.ceil(last.length / 2) + 1 <= 100);
        await b.unload();
    });

    it('reads the prompt size an engine states when it refuses a prompt as too long', () => {
        assert.equal(reportedPromptTokens('HTTP 400: {"error":{"message":"x","n_prompt_tokens":2365,"n_ctx":1024}}'), 2365);
        assert.equal(
            reportedPromptTokens("This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4990 in the messages, 10 in the completion)."),
            4990,
        );
        assert.equal(reportedPromptTokens('prompt too long'), undefined);
    });

    it('an engine without chat (404) refuses it as unsupported, and stays reachable', async () => {
        const inner = fakeEngine(() => [sse([piece('x', 'length'), usageOnly(3, 1)])]);
        const fetchImpl: Fetch = async (input, init) =>
            new URL(String(input)).pathname === '/v1/chat/completions' ? new Response('{"detail":"Not Found"}', { status: 404 }) : inner.fetch(input, init);
        const b = new OpenAiCompatibleBackend({ clock: new VirtualClock(), fetch: fetchImpl });
        await b.load(spec(), never);
        assert.equal(b.info?.hasChat, true, 'assumed until the engine says otherwise');
        await assert.rejects(
            b.chat({ messages: [{ role: 'user', content: 'hi' }], maxTokens: 2 }, never),
            (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'unsupported' && /chat completions/.test(e.message),
        );
        assert.equal(b.remoteLoad().reachable, true);
        const raw = await b.generate({ mode: 'raw', prompt: 'p', maxTokens: 1 }, never);
        assert.equal(raw.text, 'x');
        await b.unload();
    });

    it('unload aborts a stream in flight (notLoaded) and closes it', async () => {
        const state = { cancelled: false };
        const enc = new TextEncoder();
        // One event, then silence until the connection is closed.
        const fetchImpl: Fetch = async (input, init) => {
            const path = new URL(String(input)).pathname;
            if (path === '/v1/models') return new Response(JSON.stringify({ data: [{ id: 'm' }] }));
            if (path === '/metrics') return new Response('', { status: 404 });
            const signal = init?.signal ?? never;
            let sentFirst = false;
            const body = new ReadableStream<Uint8Array>({
                async pull(c) {
                    if (!sentFirst) {
                        sentFirst = true;
                        c.enqueue(enc.encode(sse([piece('first')], false)));
                        return;
                    }
                    await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
                    c.error(signal.reason);
                },
                cancel() {
                    state.cancelled = true;
                },
            });
            return new Response(body, { status: 200 });
        };
        const b = new OpenAiCompatibleBackend({ clock: new VirtualClock(), fetch: fetchImpl });
        await b.load(spec(), never);
        let got = '';
        const running = b.generate({ mode: 'raw', prompt: 'p', maxTokens: 50, onToken: (t) => (got += t) }, never);
        const rejected = assert.rejects(running, (e: unknown) => e instanceof ModelRuntimeError && e.problem === 'notLoaded');
        while (got === '') await new Promise((r) => setImmediate(r));
        assert.equal(b.stats().sequencesHeld, 1);
        await b.unload();
        await rejected;
        // The hang cap of this loop is mocha's timeout.
        while (b.stats().sequencesHeld > 0) await new Promise((r) => setImmediate(r));
        assert.equal(b.stats().contextsOpen, 0);
        assert.equal(got, 'first', 'no token after the unload');
    });
});

describe('OpenAI stream pieces', () => {
    it('parseStreamEvent reads completions and chat choices, usage, and vLLM stop_reason', () => {
        const e = parseStreamEvent({ choices: [{ index: 0, text: 'x', finish_reason: 'stop', stop_reason: '\n\n' }] }, 'completion');
        assert.deepEqual(e.finish, { reason: 'stop', stopReason: '\n\n' });
        const noField = parseStreamEvent({ choices: [{ index: 0, text: '', finish_reason: 'stop' }] }, 'completion');
        assert.equal(noField.finish?.stopReason, undefined);
        const chat = parseStreamEvent({ choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] }, 'chat');
        assert.equal(chat.text, 'hi');
        assert.equal(chat.finish, undefined);
        assert.throws(() => parseStreamEvent([1, 2], 'chat'));
    });

    it('stopReasonOf: length is maxTokens; vLLM says stop string or end; engines that do not say follow the request', () => {
        assert.equal(stopReasonOf(false, { reason: 'length', stopReason: undefined }, true, 4, 4), 'maxTokens');
        assert.equal(stopReasonOf(false, { reason: 'stop', stopReason: 'END' }, true, 2, 4), 'stopString');
        assert.equal(stopReasonOf(false, { reason: 'stop', stopReason: null }, true, 2, 4), 'endOfGeneration');
        assert.equal(stopReasonOf(false, { reason: 'stop', stopReason: 2 }, true, 2, 4), 'endOfGeneration');
        assert.equal(stopReasonOf(false, { reason: 'stop', stopReason: undefined }, true, 2, 4), 'stopString');
        assert.equal(stopReasonOf(false, { reason: 'stop', stopReason: undefined }, false, 2, 4), 'endOfGeneration');
        assert.equal(stopReasonOf(true, { reason: 'length', stopReason: undefined }, true, 4, 4), 'stopString');
        assert.equal(stopReasonOf(false, undefined, false, 4, 4), 'maxTokens');
    });

    it('FIM family from a model id; markers in user text are broken', () => {
        assert.equal(openAiFimFamily('auto', 'qwen2.5-coder:7b'), 'qwen');
        assert.equal(openAiFimFamily('auto', 'deepseek-coder-6.7b-base'), 'deepseek');
        assert.equal(openAiFimFamily('auto', 'codellama:7b-code'), 'codellama');
        assert.equal(openAiFimFamily('auto', 'bigcode/starcoder2-3b'), 'starcoder2');
        assert.equal(openAiFimFamily('auto', 'codestral-latest'), 'codestral');
        assert.equal(openAiFimFamily('auto', 'llama3.1:8b'), undefined);
        assert.equal(openAiFimFamily('none', 'qwen2.5-coder:7b'), undefined);
        assert.equal(openAiFimFamily('starcoder2', 'my-model'), 'starcoder2');
        assert.equal(neutraliseMarkers('a<|fim_middle|>b', ['<|fim_middle|>']), 'a<\u200B|fim_middle|>b');
        assert.equal(neutraliseMarkers('plain', ['<|fim_middle|>']), 'plain');
    });
});
