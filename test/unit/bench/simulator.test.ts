import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import type { CallUsage, GenerationResult, ModelSpec, TokenGate } from '../../../src/core/backend';
import { VirtualClock } from '../../../src/core/clock';
import { SupersededError } from '../../../src/core/errors';
import { IDLE_WAKE_AFTER_MS, loadProfile, scaleProfile, validateProfile, type DeviceProfile, type ModelProfile, type SpeedProfile } from '../../../bench/sim/speedProfile';
import { SimDevice } from '../../../bench/sim/device';
import { SimBackend } from '../../../bench/sim/simBackend';
import { fitCallCosts, fitPrefill, promptCalls } from '../../../bench/real/fit';
import { bracketFactors, speedFactors, type SpeedCheck } from '../../../bench/real/speedCheck';

const DEVICE: DeviceProfile = {
    kind: 'cpu',
    name: 'test',
    memoryBytes: 1e9,
    contention: { prefill: [1, 2, 3], decode: [1, 2, 3], embed: [1, 2, 3] },
};

const MODEL: ModelProfile = {
    promptTokensPerSec: 1000,
    decodeTokensPerSec: 100,
    firstTokenOverheadMs: 10,
    embedTokensPerSec: 1000,
    embedOverheadMsPerItem: 0,
    loadMs: 50,
    memoryBytes: 1e8,
    slots: 1,
    contextSize: 4096,
    fim: true,
    hasChat: true,
    batchGain: { prefill: [1, 1], decode: [1, 1.5], embed: [1, 1] },
};

function spec(id: string): ModelSpec {
    return { id, role: 'coder', path: `/x/${id}.gguf`, contextSize: 4096, slots: 1, threads: 1, gpuLayers: 0, fimTemplate: 'auto' };
}

async function setup(
    ids: readonly string[],
    chunk = 64,
    model: ModelProfile = MODEL,
    tokenize?: (text: string) => readonly string[],
): Promise<{ clock: VirtualClock; device: SimDevice; backends: SimBackend[] }> {
    const clock = new VirtualClock(0);
    const models: Record<string, ModelProfile> = {};
    for (const id of ids) models[id] = model;
    const device = new SimDevice(clock, DEVICE, models);
    const backends = ids.map(() => new SimBackend(clock, device, model, { keepOnAbort: 'evaluated', prefillChunkTokens: chunk, embeddingSpace: 's', tokenize }));
    const loads = backends.map((b, i) => b.load(spec(ids[i]), new AbortController().signal));
    await clock.runUntilIdle();
    await Promise.all(loads);
    return { clock, device, backends };
}

const words = (n: number, w = 'x'): string => Array.from({ length: n }, (_, i) => `${w}${i}`).join(' ');

describe('bench simulator: device', () => {
    it('runs one job in its isolated time, and two models at once at the contention rate', async () => {
        const clock = new VirtualClock(0);
        const device = new SimDevice(clock, DEVICE, { a: MODEL, b: MODEL });
        const ends: Record<string, number> = {};
        void device.run('a', 'prefill', 100).done.then(() => (ends.a = clock.now()));
        await clock.runUntilIdle();
        assert.equal(ends.a, 100);
        // Together both run at half speed until a finishes (a: 50 work, b: 100 work).
        void device.run('a', 'prefill', 50).done.then(() => (ends.a2 = clock.now()));
        void device.run('b', 'prefill', 100).done.then(() => (ends.b = clock.now()));
        await clock.runUntilIdle();
        assert.ok(Math.abs(ends.a2 - 200) < 1e-6, `a2 at ${ends.a2}`);
        // b did 50 by t=200 at half speed, then 50 alone.
        assert.ok(Math.abs(ends.b - 250) < 1e-6, `b at ${ends.b}`);
        assert.equal(device.maxConcurrentModels, 2);
    });

    it('a job that starts after the device was idle for IDLE_WAKE_AFTER_MS or more pays idleWakeMs once', async () => {
        const clock = new VirtualClock(0);
        const device = new SimDevice(clock, { ...DEVICE, scheduling: 'serial', idleWakeMs: 3 }, { a: MODEL, b: MODEL });
        const took = async (model: string, ms: number): Promise<number> => {
            const t0 = clock.now();
            const job = device.run(model, 'decode', ms).done;
            await clock.runUntilIdle();
            await job;
            return clock.now() - t0;
        };
        assert.equal(await took('a', 10), 10, 'the device has just started: not idle long enough');
        await clock.advance(IDLE_WAKE_AFTER_MS);
        assert.equal(await took('b', 10), 13, 'after a pause');
        assert.equal(await took('a', 10), 10, 'back to back');
        await clock.advance(IDLE_WAKE_AFTER_MS - 1);
        assert.equal(await took('a', 10), 10, 'a pause shorter than IDLE_WAKE_AFTER_MS');
        // A job queued behind another starts with the device busy: no wake-up.
        await clock.advance(IDLE_WAKE_AFTER_MS);
        const t0 = clock.now();
        const ends: number[] = [];
        void device.run('a', 'decode', 10).done.then(() => ends.push(clock.now() - t0));
        void device.run('b', 'decode', 10).done.then(() => ends.push(clock.now() - t0));
        await clock.runUntilIdle();
        assert.deepEqual(ends, [13, 23]);
    });

    it('serial mode runs one job at a time in arrival order, never preempting a started one', async () => {
        const clock = new VirtualClock(0);
        const device = new SimDevice(clock, { ...DEVICE, scheduling: 'serial' }, { a: MODEL, b: MODEL });
        const ends: Record<string, number> = {};
        void device.run('a', 'prefill', 200).done.then(() => (ends.a = clock.now()));
        await clock.advance(10);
        void device.run('b', 'decode', 15).done.then(() => (ends.b = clock.now()));
        void device.run('a', 'decode', 5).done.then(() => (ends.a2 = clock.now()));
        await clock.runUntilIdle();
        // b's 15 ms token waits for a's 200 ms chunk: 215; a's token after it: 220.
        assert.deepEqual(ends, { a: 200, b: 215, a2: 220 });
    });

    it('two sequences of one model share it with the batch gain', async () => {
        const clock = new VirtualClock(0);
        const device = new SimDevice(clock, DEVICE, { a: MODEL });
        const ends: number[] = [];
        for (let i = 0; i < 2; i++) void device.run('a', 'decode', 30).done.then(() => ends.push(clock.now()));
        await clock.runUntilIdle();
        // Each at 1.5 / 2 = 0.75 of full speed: 40 ms.
        assert.ok(ends.every((e) => Math.abs(e - 40) < 1e-6), ends.join(','));
    });

    it('an abortable job leaves at once and the others speed up', async () => {
        const clock = new VirtualClock(0);
        const device = new SimDevice(clock, DEVICE, { a: MODEL, b: MODEL });
        const ac = new AbortController();
        const a = device.run('a', 'prefill', 1000, ac.signal);
        const aDone = a.done.catch((e: unknown) => e);
        let bEnd = 0;
        void device.run('b', 'prefill', 100).done.then(() => (bEnd = clock.now()));
        await clock.advance(50);
        ac.abort(new Error('stop'));
        assert.equal(((await aDone) as Error).message, 'stop');
        assert.ok(Math.abs(a.progress() - 0.025) < 1e-9);
        await clock.runUntilIdle();
        // b: 25 done at half speed by t=50, then 75 alone.
        assert.ok(Math.abs(bEnd - 125) < 1e-6, `b at ${bEnd}`);
    });
});

describe('bench simulator: backend', () => {
    it('time to first token = overhead + prompt / rate; each further token 1 / decode rate', async () => {
        const { clock, backends } = await setup(['a']);
        const t0 = clock.now();
        const tokens: number[] = [];
        const p = backends[0].generate({ mode: 'raw', prompt: words(200), maxTokens: 3, onToken: () => tokens.push(clock.now() - t0) }, new AbortController().signal);
        await clock.runUntilIdle();
        const r = await p;
        assert.equal(r.promptTokens, 200);
        assert.equal(r.evaluatedPromptTokens, 200);
        assert.deepEqual(tokens.map((t) => Math.round(t * 1000) / 1000), [210, 220, 230]);
        assert.equal(r.firstTokenMs, 210);
        assert.equal(r.generatedTokens, 3);
    });

    it('reuses the common prefix of the same cache key and evaluates the rest', async () => {
        const { clock, backends } = await setup(['a']);
        const s = new AbortController().signal;
        const p1 = backends[0].generate({ mode: 'fim', prefix: words(300), suffix: words(50, 'y'), maxTokens: 1, cacheKey: 'doc' }, s);
        await clock.runUntilIdle();
        assert.equal((await p1).reusedPromptTokens, 0);
        const p2 = backends[0].generate({ mode: 'fim', prefix: words(300) + ' more', suffix: words(50, 'y'), maxTokens: 1, cacheKey: 'doc' }, s);
        await clock.runUntilIdle();
        const r2 = await p2;
        // <fim_prefix> + 300 words are shared; " more", <fim_suffix>, 50 suffix words, <fim_middle> are new.
        assert.equal(r2.reusedPromptTokens, 301);
        assert.equal(r2.evaluatedPromptTokens, 53);
        const p3 = backends[0].generate({ mode: 'fim', prefix: words(300), suffix: words(50, 'y'), maxTokens: 1, cacheKey: 'other' }, s);
        await clock.runUntilIdle();
        assert.equal((await p3).reusedPromptTokens, 0);
    });

    it("a chat takes the one slot's sequence: the next completion of the document evaluates its prompt again, as on llama.cpp", async () => {
        const { clock, backends } = await setup(['a']);
        const s = new AbortController().signal;
        const fim = (more: string): Promise<GenerationResult> => backends[0].generate({ mode: 'fim', prefix: words(100) + more, suffix: '', maxTokens: 1, cacheKey: 'doc' }, s);
        const p1 = fim('');
        await clock.runUntilIdle();
        await p1;
        const chat = backends[0].chat({ messages: [{ role: 'user', content: words(20, 'c') }], maxTokens: 1 }, s);
        await clock.runUntilIdle();
        await chat;
        const p2 = fim(' more');
        await clock.runUntilIdle();
        const r2 = await p2;
        assert.equal(r2.reusedPromptTokens, 0);
        assert.equal(r2.evaluatedPromptTokens, r2.promptTokens);
        const chat2 = backends[0].chat({ messages: [{ role: 'user', content: words(20, 'c') + ' again' }], maxTokens: 1 }, s);
        await clock.runUntilIdle();
        assert.equal((await chat2).reusedPromptTokens, 0, 'the completion took the sequence back');
    });

    it('counts and reuses the tokens of the tokenizer it is given', async () => {
        // One token per character: "ab cd" is 5 tokens.
        const { clock, backends } = await setup(['a'], 64, MODEL, (text) => [...text]);
        assert.equal(backends[0].countTokens('ab cd'), 5);
        const s = new AbortController().signal;
        const p1 = backends[0].generate({ mode: 'fim', prefix: 'const va', suffix: '', maxTokens: 1, cacheKey: 'doc' }, s);
        await clock.runUntilIdle();
        // <fim_prefix>, 8 characters, <fim_suffix>, <fim_middle>.
        assert.equal((await p1).promptTokens, 11);
        const p2 = backends[0].generate({ mode: 'fim', prefix: 'const val', suffix: '', maxTokens: 1, cacheKey: 'doc' }, s);
        await clock.runUntilIdle();
        const r2 = await p2;
        assert.equal(r2.reusedPromptTokens, 9);
        assert.equal(r2.evaluatedPromptTokens, 3);
    });

    it('FIM middle goes after the middle marker: a keystroke within a line reuses prefix and suffix, unlike the middle folded into the prefix', async () => {
        const { clock, backends } = await setup(['a']);
        const s = new AbortController().signal;
        const fim = async (cacheKey: string, prefix: string, middle?: string): Promise<GenerationResult> => {
            const p = backends[0].generate({ mode: 'fim', prefix, suffix: words(50, 'y'), middle, maxTokens: 1, cacheKey }, s);
            await clock.runUntilIdle();
            return p;
        };
        // An empty middle adds no tokens: <fim_prefix> 300 <fim_suffix> 50 <fim_middle>.
        assert.equal((await fim('empty', words(300), '')).promptTokens, 353);
        await fim('doc', words(300) + ' ', 'ab');
        const r = await fim('doc', words(300) + ' ', 'ab cd');
        // Everything up to "ab" is shared; only "cd" is evaluated.
        assert.equal(r.promptTokens, 355);
        assert.equal(r.reusedPromptTokens, 354);
        assert.equal(r.evaluatedPromptTokens, 1);
        // The same keystrokes with the line in the prefix re-evaluate the suffix.
        await fim('old', words(300) + ' ab');
        const old = await fim('old', words(300) + ' ab cd');
        assert.equal(old.reusedPromptTokens, 302);
        assert.equal(old.evaluatedPromptTokens, 53);
    });

    it('prompt tokens cost more after a long prefix: n tokens after P take n / rate + attention * n * (P + n / 2)', async () => {
        const b = 0.004;
        const { clock, backends } = await setup(['a'], 64, { ...MODEL, attentionMsPerTokenPair: b });
        const s = new AbortController().signal;
        const p1 = backends[0].generate({ mode: 'raw', prompt: words(100), maxTokens: 1, cacheKey: 'doc' }, s);
        await clock.runUntilIdle();
        const r1 = await p1;
        // Two chunks (64 + 36 tokens): 100 ms + 0.004 * (64 * 32 + 36 * (64 + 18)) + 10 ms overhead.
        assert.ok(Math.abs((r1.firstTokenMs ?? 0) - (110 + b * (64 * 32 + 36 * 82))) < 1e-6, `${r1.firstTokenMs}`);
        const p2 = backends[0].generate({ mode: 'raw', prompt: `${words(100)} ${words(20, 'y')}`, maxTokens: 1, cacheKey: 'doc' }, s);
        await clock.runUntilIdle();
        const r2 = await p2;
        assert.equal(r2.reusedPromptTokens, 100);
        assert.ok(Math.abs((r2.firstTokenMs ?? 0) - (20 + 10 + b * 20 * (100 + 10))) < 1e-6, `${r2.firstTokenMs}`);
    });

    it('a call for a key still finishing an aborted chunk waits for it (even with a free slot), then reuses it', async () => {
        const clock = new VirtualClock(0);
        const model: ModelProfile = { ...MODEL, slots: 2 };
        const device = new SimDevice(clock, DEVICE, { a: model });
        const b = new SimBackend(clock, device, model, { keepOnAbort: 'evaluated', prefillChunkTokens: 64, embeddingSpace: 's' });
        const loading = b.load({ ...spec('a'), slots: 2 }, new AbortController().signal);
        await clock.runUntilIdle();
        await loading;
        const t0 = clock.now();
        const ac = new AbortController();
        const first = b.generate({ mode: 'raw', prompt: words(300), maxTokens: 1, cacheKey: 'doc' }, ac.signal);
        first.catch(() => undefined);
        await clock.advance(10);
        ac.abort(new SupersededError('doc'));
        const second = b.generate({ mode: 'raw', prompt: `${words(300)} more`, maxTokens: 1, cacheKey: 'doc' }, new AbortController().signal);
        await clock.advance(10);
        // The aborted call's chunk still holds its slot; the second call waits instead of taking the free one.
        assert.equal(b.stats().inFlight, 1);
        await clock.runUntilIdle();
        const r = await second;
        // The first 64-token chunk ends at 64 ms; then 237 tokens (237 ms) and the 10 ms overhead.
        assert.equal(r.reusedPromptTokens, 64);
        assert.ok(Math.abs((r.firstTokenMs ?? 0) - (64 - 10 + 237 + 10)) < 1e-6, `${r.firstTokenMs} ms after ${t0 + 10}`);
    });

    it('abort: the call rejects at once, the started chunk still runs (slot busy, tokens counted), the sequence keeps it', async () => {
        const { clock, backends } = await setup(['a'], 64);
        const b = backends[0];
        const ac = new AbortController();
        const t0 = clock.now();
        const usage: CallUsage[] = [];
        const onUsage = (u: CallUsage): number => usage.push(u);
        const p = b.generate({ mode: 'raw', prompt: words(640), maxTokens: 4, cacheKey: 'doc', onUsage }, ac.signal).catch((e: unknown) => e);
        await clock.advance(100);
        ac.abort(new SupersededError('doc'));
        const err = await p;
        assert.ok(err instanceof SupersededError);
        assert.equal(clock.now() - t0, 100);
        // Chunk 2 (64-128 ms) is in flight: the slot frees at 128 ms.
        assert.equal(b.stats().inFlight, 1);
        await clock.runUntilIdle();
        assert.equal(b.stats().inFlight, 0);
        assert.equal(b.stats().promptTokensEvaluated, 128);
        const p2 = b.generate({ mode: 'raw', prompt: words(640), maxTokens: 1, cacheKey: 'doc', onUsage }, new AbortController().signal);
        await clock.runUntilIdle();
        assert.equal((await p2).reusedPromptTokens, 128);
        // Each call reports what it computed, the aborted one the two chunks that ran.
        assert.deepEqual(usage, [
            { reusedPromptTokens: 0, evaluatedPromptTokens: 128, generatedTokens: 0, completed: false },
            { reusedPromptTokens: 128, evaluatedPromptTokens: 512, generatedTokens: 1, completed: true },
        ]);
    });

    it('cachedTokens: a sequence serving a key holds what it has read so far, as the llama.cpp backend reports', async () => {
        const { clock, backends } = await setup(['a'], 64);
        const b = backends[0];
        const p = b.generate({ mode: 'raw', prompt: words(640), maxTokens: 2, cacheKey: 'doc' }, new AbortController().signal);
        assert.equal(b.cachedTokens('doc'), 0);
        // 64 tokens a 64 ms chunk: at 100 ms the second chunk has started (the sequence will hold 128).
        await clock.advance(100);
        assert.equal(b.cachedTokens('doc'), 128);
        await clock.advance(200);
        assert.equal(b.cachedTokens('doc'), 320);
        await clock.runUntilIdle();
        await p;
        assert.equal(b.cachedTokens('doc'), 640);
        assert.equal(b.cachedTokens('other'), 0);
    });

    it('a closed gate pauses decoding: a paused sequence computes nothing and does not slow others', async () => {
        const { clock, backends } = await setup(['a', 'b']);
        let open = false;
        let release: () => void = () => undefined;
        const gate: TokenGate = { wait: () => (open ? undefined : new Promise<void>((r) => (release = r))) };
        const s = new AbortController().signal;
        const tokens: number[] = [];
        const pa = backends[0].generate({ mode: 'raw', prompt: words(10), maxTokens: 3, gate, onToken: () => tokens.push(clock.now()) }, s);
        await clock.advance(1000);
        // First token came (the gate is checked before each prefill chunk and token: it was closed).
        assert.equal(tokens.length, 0);
        open = true;
        release();
        await clock.advance(1);
        const pb = backends[1].generate({ mode: 'raw', prompt: words(100), maxTokens: 1 }, s);
        await clock.runUntilIdle();
        await Promise.all([pa, pb]);
        assert.equal(tokens.length, 3);
    });

    it('embeds one text per native call; vectors in order', async () => {
        const { clock, backends } = await setup(['a']);
        const p = backends[0].embed([words(100), words(50)], new AbortController().signal);
        await clock.runUntilIdle();
        const v = await p;
        assert.equal(v.length, 2);
        assert.equal(clock.now() - 50, 150);
        assert.equal(backends[0].computed.embedTokens, 150);
    });

    it('per-call model: each native call costs its overhead and KV reads, the last prompt token has a call of its own', async () => {
        const model: ModelProfile = { ...MODEL, callOverheadMs: 8, cachedTokenMsPerCall: 0.01, attentionMsPerTokenPair: 0.001 };
        const { clock, backends } = await setup(['a'], 64, model);
        const b = backends[0];
        const call = (n: number, p: number): number => 8 + 0.01 * p + n * 1 + 0.001 * n * (p + n / 2);
        const s = new AbortController().signal;
        const ask = async (prompt: string, maxTokens: number): Promise<GenerationResult> => {
            const p = b.generate({ mode: 'raw', prompt, maxTokens, cacheKey: 'doc' }, s);
            await clock.runUntilIdle();
            return p;
        };
        // 100 fresh tokens: chunks of 64 and 35, then the 100th token's call; plus the request's 10 ms.
        const cold = await ask(words(100), 3);
        const coldFirst = 10 + call(64, 0) + call(35, 64) + call(1, 99);
        assert.ok(Math.abs((cold.firstTokenMs ?? 0) - coldFirst) < 1e-6, `${cold.firstTokenMs} vs ${coldFirst}`);
        // Decoded tokens are calls of one token at their position.
        assert.ok(Math.abs(cold.totalMs - (coldFirst + call(1, 100) + call(1, 101))) < 1e-6, `${cold.totalMs}`);
        // A keystroke changing the last token: one call, not a rate's worth of one token.
        const key = await ask(`${words(99)} y`, 1);
        assert.equal(key.evaluatedPromptTokens, 1);
        assert.ok(Math.abs((key.firstTokenMs ?? 0) - (10 + call(1, 99))) < 1e-6, `${key.firstTokenMs}`);
        // Two new tokens: a one-token chunk, then the last token's call.
        const two = await ask(`${words(99)} q r`, 1);
        assert.equal(two.evaluatedPromptTokens, 2);
        assert.ok(Math.abs((two.firstTokenMs ?? 0) - (10 + call(1, 99) + call(1, 100))) < 1e-6, `${two.firstTokenMs}`);
        assert.equal(b.stats().promptTokensEvaluated, 103);
    });

    it('refuses prompts that do not fit the context, like llama.cpp', async () => {
        const { backends } = await setup(['a']);
        await assert.rejects(backends[0].generate({ mode: 'raw', prompt: words(4090), maxTokens: 10 }, new AbortController().signal), /context/);
    });
});

describe('bench profiles', () => {
    it('fitPrefill recovers overhead, rate and attention from two fresh prompts and one after a prefix', () => {
        const t = (n: number, pos: number): number => 12 + n * 2.5 + 0.0035 * n * (pos + n / 2);
        const fit = fitPrefill([
            { n: 32, position: 0, ms: t(32, 0) },
            { n: 448, position: 0, ms: t(448, 0) },
            { n: 96, position: 448, ms: t(96, 448) },
        ]);
        assert.ok(Math.abs(fit.overheadMs - 12) < 1e-6 && Math.abs(fit.msPerToken - 2.5) < 1e-9 && Math.abs(fit.msPerTokenPair - 0.0035) < 1e-9, JSON.stringify(fit));
        // Noise that would make attention negative: it is dropped, the fresh pair gives the rate.
        const flat = fitPrefill([
            { n: 32, position: 0, ms: 92 },
            { n: 448, position: 0, ms: 1132 },
            { n: 96, position: 448, ms: 200 },
        ]);
        assert.equal(flat.msPerTokenPair, 0);
        assert.ok(Math.abs(flat.msPerToken - 2.5) < 1e-9 && Math.abs(flat.overheadMs - 12) < 1e-9, JSON.stringify(flat));
    });

    it('promptCalls mirrors the backend: chunks up to the last prompt token, then its own call', () => {
        assert.deepEqual(promptCalls(100, 0, 64), [{ n: 64, position: 0 }, { n: 35, position: 64 }, { n: 1, position: 99 }]);
        assert.deepEqual(promptCalls(500, 499, 64), [{ n: 1, position: 499 }]);
        assert.deepEqual(promptCalls(500, 498, 64), [{ n: 1, position: 498 }, { n: 1, position: 499 }]);
    });

    it('fitCallCosts recovers the per-call model from fresh prompts, keystrokes and decode steps', () => {
        const truth = { requestMs: 3, callMs: 9, cachedTokenMs: 0.012, tokenMs: 2.1, pairMs: 0.0016 };
        const cost = (calls: ReturnType<typeof promptCalls>, requests: number): number =>
            requests * truth.requestMs + calls.reduce((t, c) => t + truth.callMs + truth.cachedTokenMs * c.position + c.n * truth.tokenMs + truth.pairMs * c.n * (c.position + c.n / 2), 0);
        const prompts = [promptCalls(32, 0, 64), promptCalls(448, 0, 64), promptCalls(544, 448, 64), promptCalls(34, 32, 64), promptCalls(450, 448, 64)];
        const decode = [[{ n: 1, position: 60 }], [{ n: 1, position: 470 }]];
        const fit = fitCallCosts([...prompts.map((c) => ({ calls: c, requests: 1, ms: cost(c, 1) })), ...decode.map((c) => ({ calls: c, requests: 0, ms: cost(c, 0) }))]);
        for (const k of Object.keys(truth) as Array<keyof typeof truth>) assert.ok(Math.abs(fit[k] - truth[k]) <= 1e-6 * Math.max(1, truth[k] * 1000), `${k}: ${fit[k]} vs ${truth[k]}`);
        // A term that the data makes negative is dropped (kept at 0), the others refitted.
        const noKv = fitCallCosts([
            ...prompts.map((c) => ({ calls: c, requests: 1, ms: cost(c, 1) - truth.cachedTokenMs * 1.5 * c.reduce((t, x) => t + x.position, 0) })),
            ...decode.map((c) => ({ calls: c, requests: 0, ms: cost(c, 0) - truth.cachedTokenMs * 1.5 * c[0].position })),
        ]);
        for (const v of Object.values(noKv)) assert.ok(v >= 0, JSON.stringify(noKv));
    });

    it('fitCallCosts: a heavier point is fitted closer when the data disagree', () => {
        const prompts = [promptCalls(32, 0, 64), promptCalls(448, 0, 64), promptCalls(544, 448, 64), promptCalls(450, 448, 64)];
        const one = promptCalls(449, 448, 64);
        const truth = (calls: ReturnType<typeof promptCalls>): number => 3 + calls.reduce((t, c) => t + 9 + 0.012 * c.position + 2.1 * c.n, 0);
        // The one-token keystroke measured 30% slower than the others imply.
        const points = (weight: number) => [...prompts.map((c) => ({ calls: c, requests: 1, ms: truth(c) })), { calls: one, requests: 1, ms: 1.3 * truth(one), weight }];
        const predicted = (f: ReturnType<typeof fitCallCosts>): number => f.requestMs + f.callMs + f.cachedTokenMs * 448 + f.tokenMs + f.pairMs * 448.5;
        const err = (w: number): number => Math.abs(predicted(fitCallCosts(points(w))) / (1.3 * truth(one)) - 1);
        assert.ok(err(4) < err(1), `weight 4: ${err(4)}, weight 1: ${err(1)}`);
    });

    it('speedFactors: per model, the median over checks of the geometric mean of measured / profiled', () => {
        const raw = {
            coder: { ttftOneTokenMs: [10, 12, 14], decodeLong: [{ ms: 20 }, { ms: 20 }], embedMsPerText96: [100] },
            reasoner: { ttftOneTokenMs: [30], decodeLong: [{ ms: 40 }] },
        };
        const profile = { ...loadProfile(join(__dirname, '../../../bench/profiles/local-generated.json')), measurement: { raw } } as SpeedProfile;
        const check = (coderOne: number, coderDecode: number): SpeedCheck => ({
            models: {
                coder: { oneTokenMs: coderOne, decodeMs: coderDecode },
                reasoner: { oneTokenMs: 30, decodeMs: 40 },
                embedder: { oneTokenMs: 1, decodeMs: 1, embedMs: 1 },
            },
        });
        // Coder: sqrt(2 * 2) = 2 in the first check, sqrt(1 * 4) = 2 in the second, 1 in the third.
        const f = speedFactors(profile, [check(24, 40), check(12, 80), check(12, 20)]);
        assert.ok(Math.abs((f.coder ?? 0) - 2) < 1e-9, String(f.coder));
        assert.equal(f.reasoner, 1);
        assert.equal(f.embedder, undefined, 'no raw measurements of the embedder');
        assert.deepEqual(speedFactors(profile, []), {});
    });

    it('bracketFactors: each run gets the factors of the check before it and the check after it', () => {
        const raw = { coder: { ttftOneTokenMs: [10], decodeLong: [{ ms: 20 }] } };
        const profile = { ...loadProfile(join(__dirname, '../../../bench/profiles/local-generated.json')), measurement: { raw } } as SpeedProfile;
        const check = (coderOne: number, coderDecode: number): SpeedCheck => ({
            models: { coder: { oneTokenMs: coderOne, decodeMs: coderDecode }, reasoner: { oneTokenMs: 1, decodeMs: 1 }, embedder: { oneTokenMs: 1, decodeMs: 1 } },
        });
        // Coder factors per check: 1, 2, 4 (both ratios equal): runs between them get 1.5 and 3.
        const f = bracketFactors(profile, [check(10, 20), check(20, 40), check(40, 80)]);
        assert.equal(f.length, 2);
        assert.ok(Math.abs((f[0].coder ?? 0) - 1.5) < 1e-9, String(f[0].coder));
        assert.ok(Math.abs((f[1].coder ?? 0) - 3) < 1e-9, String(f[1].coder));
        assert.deepEqual(bracketFactors(profile, [check(10, 20)]), [], 'one check brackets no run');
    });

    it('scaleProfile: a model x times slower takes x times as long for every call, and the others are untouched', async () => {
        const base: SpeedProfile = { ...loadProfile(join(__dirname, '../../../bench/profiles/local-generated.json')) };
        const scaled = scaleProfile(base, { coder: 2 }, 'test');
        assert.deepEqual(scaled.models.reasoner, base.models.reasoner);
        assert.equal(scaled.sources.at(-1), 'test');
        const time = async (m: ModelProfile): Promise<number> => {
            const { clock, backends } = await setup(['a'], 64, m);
            const t0 = clock.now();
            const p = backends[0].generate({ mode: 'raw', prompt: words(150), maxTokens: 5 }, new AbortController().signal);
            await clock.runUntilIdle();
            await p;
            const emb = backends[0].embed([words(40)], new AbortController().signal);
            await clock.runUntilIdle();
            await emb;
            return clock.now() - t0;
        };
        const [a, b] = [await time(base.models.coder), await time(scaled.models.coder)];
        assert.ok(Math.abs(b / a - 2) < 1e-9, `${a} -> ${b}`);
    });

    it('the shipped profiles validate', () => {
        for (const f of ['rtx4090-qwen2.5-trio.json', 'local-generated.json']) {
            const p = loadProfile(join(__dirname, '..', '..', '..', 'bench', 'profiles', f));
            assert.ok(p.sources.length > 0);
        }
    });

    it('validation names the bad field', () => {
        const good = loadProfile(join(__dirname, '..', '..', '..', 'bench', 'profiles', 'rtx4090-qwen2.5-trio.json'));
        const bad = JSON.parse(JSON.stringify(good)) as { models: { coder: { decodeTokensPerSec: number } } };
        bad.models.coder.decodeTokensPerSec = -1;
        assert.throws(() => validateProfile(bad), /models\.coder\.decodeTokensPerSec/);
    });
});
