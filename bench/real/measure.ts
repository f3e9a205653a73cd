/**
 * Measures a speed profile of the generated models on this machine with the real backend
 * (`npm run bench -- --mode profile --out DIR [--save]`; real mode runs it first). Everything
 * the simulator uses is measured here, nothing assumed:
 * - per model, alone: time to first token for short and long fresh prompts, for 96 tokens and for
 *   one word (a keystroke) after a cached prefix, and per decoded token after a short and a long
 *   prompt; `fitCallCosts` (fit.ts) turns these into the per-call cost model the simulator prices every
 *   native call with (`ModelProfile.callOverheadMs`). Also embedding time per text for short and
 *   long texts, and load time;
 * - decode batch gain: two sequences of the coder at once;
 * - contention: the coder's prefill and decode, and the embedder's embedding, while one and then
 *   two other models work (the reasoner decoding, the embedder embedding / the coder decoding).
 * Units: ms, tokens/s. Each timing is the median of a few repetitions.
 */
import { ROLES, type GenerationResult, type ModelBackend, type Role } from '../../src/core/backend';
import { DEFAULT_PREFILL_CHUNK_TOKENS } from '../../src/backends';
import type { ModelProfile, SpeedProfile } from '../sim/speedProfile';
import { calibrate } from '../replay/text';
import { fitCallCosts, fitPrefill, promptCalls, type EvalCall } from './fit';
import { embedMsPerText, firstTokenMs, freshKey, freshText, median, sendAgain } from './probes';
import { REAL_CONTEXT, REAL_SLOTS, machineLoad, type RealSetup } from './setup';

/** The pause before `ttftAfterIdle`'s keystrokes (ms): above IDLE_WAKE_AFTER_MS, like a pause in typing. */
const IDLE_PAUSE_MS = 150;

export interface ProfileOptions {
    readonly log: (line: string) => void;
    readonly reps: number;
}

export async function measureProfile(setup: RealSetup, options: ProfileOptions): Promise<{ profile: SpeedProfile; tokensPerWord: number }> {
    const { clock, log } = { clock: setup.clock, log: options.log };
    const loadBefore = machineLoad();
    const backends = {} as Record<Role, ModelBackend>;
    const loadMs = {} as Record<Role, number>;
    for (const spec of setup.specs) {
        const b = setup.createBackend(spec);
        const t0 = clock.now();
        await b.load(spec, new AbortController().signal);
        loadMs[spec.role] = clock.now() - t0;
        backends[spec.role] = b;
    }
    const tokensPerWord = calibrate((t) => backends.coder.countTokens(t));
    const words = (tokens: number): number => Math.max(1, Math.round(tokens / tokensPerWord));
    const signal = new AbortController().signal;
    const reps = options.reps;

    /** A measured first token, with the native calls the backend made for it (for `fitCallCosts`). */
    interface Timed {
        ms: number;
        tokens: number;
        position: number;
        calls: EvalCall[];
    }
    const timed = (r: GenerationResult): Timed => ({
        ms: firstTokenMs(r),
        tokens: r.evaluatedPromptTokens,
        position: r.reusedPromptTokens,
        calls: promptCalls(r.promptTokens, r.reusedPromptTokens, DEFAULT_PREFILL_CHUNK_TOKENS),
    });
    const ttft = async (b: ModelBackend, tokens: number): Promise<Timed> =>
        timed(await b.generate({ mode: 'raw', prompt: freshText(words(tokens)), maxTokens: 1, cacheKey: freshKey('p') }, signal));
    /** `extra` tokens evaluated after `base` tokens already in the sequence (its cached prefix). */
    const ttftAfter = async (b: ModelBackend, base: number, extra: number): Promise<Timed> => {
        const key = freshKey('i');
        const head = freshText(words(base));
        await b.generate({ mode: 'raw', prompt: head, maxTokens: 1, cacheKey: key }, signal);
        return timed(await b.generate({ mode: 'raw', prompt: `${head} ${freshText(words(extra))}`, maxTokens: 1, cacheKey: key }, signal));
    };
    /** The same `base`-token prompt again: the last token alone is evaluated, in one native call. */
    const ttftAgain = async (b: ModelBackend, base: number): Promise<Timed> => timed((await sendAgain(b, freshText(words(base)), freshKey('a'), 1, 0, signal))[0]);
    /**
     * The one-token keystroke of `ttftAgain` after IDLE_PAUSE_MS with nothing computing, `n` times
     * on one cached `base`-token prompt: what the first call after a pause in typing costs.
     */
    const ttftAfterIdle = async (b: ModelBackend, base: number, n: number): Promise<number[]> =>
        (await sendAgain(b, freshText(words(base)), freshKey('w'), n, IDLE_PAUSE_MS, signal)).map(firstTokenMs);
    /** ms per decoded token after a prompt of about `promptTokens`, and the mean position of those tokens. */
    const decodeStep = async (b: ModelBackend, promptTokens: number, n: number): Promise<{ ms: number; position: number }> => {
        const r = await b.generate({ mode: 'raw', prompt: freshText(words(promptTokens)), maxTokens: n, cacheKey: freshKey('d') }, signal);
        return { ms: (r.totalMs - (r.firstTokenMs ?? 0)) / Math.max(1, r.generatedTokens - 1), position: r.promptTokens + (r.generatedTokens - 2) / 2 };
    };
    const decodeMsPerToken = async (b: ModelBackend, n = 64): Promise<number> => (await decodeStep(b, 16, n)).ms;

    const SHORT = 32;
    const LONG = 448;
    /** The one-token keystroke's weight in the per-call fit, against 1 for each other point. */
    const KEY_ONE_WEIGHT = 4;
    /** Tokens evaluated after a cached LONG-token prefix (what a keystroke's completion evaluates). */
    const INCREMENT = 96;
    const models = {} as Record<Role, ModelProfile>;
    const raw: Record<string, unknown> = {};
    /** Per model: how much longer the one-token keystroke took after a pause than back to back. */
    const wakeMs = {} as Record<Role, number>;
    for (const role of ROLES) {
        const b = backends[role];
        await ttft(b, SHORT); // warm-up
        /** Median ms of `reps` runs of `measure`, with the calls of the last run. */
        const repeat = async (measure: () => Promise<Timed>): Promise<Timed & { all: number[] }> => {
            const all: number[] = [];
            let last: Timed | undefined;
            for (let i = 0; i < reps; i++) {
                last = await measure();
                all.push(last.ms);
            }
            return { ...(last as Timed), ms: median(all), all };
        };
        const short = await repeat(() => ttft(b, SHORT));
        const long = await repeat(() => ttft(b, LONG));
        const inc = await repeat(() => ttftAfter(b, LONG, INCREMENT));
        // A keystroke: one word after a cached prefix, short and long.
        const keyShort = await repeat(() => ttftAfter(b, SHORT, 1));
        const keyLong = await repeat(() => ttftAfter(b, LONG, 1));
        // With the FIM middle after the cursor line, most keystrokes evaluate one token: one call.
        const keyOne = await repeat(() => ttftAgain(b, LONG));
        const keyOneAfterIdle = await ttftAfterIdle(b, LONG, reps);
        wakeMs[role] = Math.max(0, median(keyOneAfterIdle) - keyOne.ms);
        const fit = fitPrefill([
            { n: short.tokens, position: 0, ms: short.ms },
            { n: long.tokens, position: 0, ms: long.ms },
            { n: inc.tokens, position: inc.position, ms: inc.ms },
        ]);
        const dec: number[] = [];
        for (let i = 0; i < reps; i++) dec.push(await decodeMsPerToken(b));
        const decLong: Array<{ ms: number; position: number }> = [];
        for (let i = 0; i < reps; i++) decLong.push(await decodeStep(b, LONG, 32));
        const decShortPosition = (await decodeStep(b, 16, 64)).position;
        const calls = fitCallCosts([
            ...[short, long, inc, keyShort, keyLong].map((t) => ({ calls: t.calls, requests: 1, ms: t.ms })),
            // Most served keystrokes are this one call (F32): the fit leans on it.
            { calls: keyOne.calls, requests: 1, ms: keyOne.ms, weight: KEY_ONE_WEIGHT },
            { calls: [{ n: 1, position: decShortPosition }], requests: 0, ms: median(dec) },
            { calls: [{ n: 1, position: median(decLong.map((d) => d.position)) }], requests: 0, ms: median(decLong.map((d) => d.ms)) },
        ]);
        // The per-call model needs a positive per-token cost; without one the rate-only model stands.
        const perCall = calls.tokenMs > 0 ? calls : undefined;
        const rate = 1000 / (perCall ? perCall.tokenMs : fit.msPerToken);
        const overhead = perCall ? perCall.requestMs : fit.overheadMs;
        const eShort: number[] = [];
        const eLong: number[] = [];
        for (let i = 0; i < reps; i++) {
            eShort.push(await embedMsPerText(b, clock, words(16), 8, signal));
            eLong.push(await embedMsPerText(b, clock, words(96), 8, signal));
        }
        const embedRate = (80 * 1000) / Math.max(1e-6, median(eLong) - median(eShort));
        const embedOverhead = Math.max(0, median(eShort) - (16 * 1000) / embedRate);
        models[role] = {
            promptTokensPerSec: Math.round(rate),
            decodeTokensPerSec: Math.round((1000 / median(dec)) * 10) / 10,
            firstTokenOverheadMs: Math.round(overhead * 10) / 10,
            attentionMsPerTokenPair: Math.round((perCall ? perCall.pairMs : fit.msPerTokenPair) * 1e6) / 1e6,
            ...(perCall ? { callOverheadMs: Math.round(perCall.callMs * 100) / 100, cachedTokenMsPerCall: Math.round(perCall.cachedTokenMs * 1e5) / 1e5 } : {}),
            embedTokensPerSec: Math.round(embedRate),
            embedOverheadMsPerItem: Math.round(embedOverhead * 10) / 10,
            loadMs: Math.round(loadMs[role]),
            memoryBytes: Math.max(1, b.stats().memory.ramBytes),
            slots: REAL_SLOTS[role],
            contextSize: REAL_CONTEXT,
            fim: b.info?.fim !== undefined,
            hasChat: b.info?.hasChat ?? true,
            batchGain: { prefill: [1, 1], decode: [1, 1], embed: [1, 1] },
        };
        raw[role] = {
            ttftShortMs: short.all,
            ttftLongMs: long.all,
            shortTokens: short.tokens,
            longTokens: long.tokens,
            ttftIncrementMs: inc.all,
            incrementTokens: inc.tokens,
            incrementPosition: inc.position,
            ttftKeystrokeShortMs: keyShort.all,
            keystrokeShort: { tokens: keyShort.tokens, position: keyShort.position },
            ttftKeystrokeLongMs: keyLong.all,
            keystrokeLong: { tokens: keyLong.tokens, position: keyLong.position },
            ttftOneTokenMs: keyOne.all,
            ttftOneTokenAfterIdleMs: keyOneAfterIdle,
            oneToken: { tokens: keyOne.tokens, position: keyOne.position },
            decodeMsPerToken: dec,
            decodeShortPosition: decShortPosition,
            decodeLong: decLong,
            callCosts: calls,
            embedMsPerText16: eShort,
            embedMsPerText96: eLong,
        };
        const wakeNote = `, +${wakeMs[role].toFixed(1)} ms after a pause`;
        const callNote = perCall ? `, ${perCall.callMs.toFixed(1)} ms + ${(perCall.cachedTokenMs * 1000).toFixed(1)} µs per cached token per call; keystroke ${keyLong.ms.toFixed(0)} ms after ${keyLong.position}, one token ${keyOne.ms.toFixed(0)} ms${wakeNote}` : '';
        log(`  ${role}: prompt ${models[role].promptTokensPerSec} tok/s (+${models[role].firstTokenOverheadMs} ms, attention ${((models[role].attentionMsPerTokenPair ?? 0) * 1000).toFixed(2)} µs per token pair${callNote}), decode ${models[role].decodeTokensPerSec} tok/s, embed ${models[role].embedTokensPerSec} tok/s (+${models[role].embedOverheadMsPerItem} ms/text), load ${models[role].loadMs} ms`);
    }

    // Decode batch gain: two coder sequences at once.
    {
        const single = median([await decodeMsPerToken(backends.coder), await decodeMsPerToken(backends.coder)]);
        const pair = await Promise.all([decodeMsPerToken(backends.coder), decodeMsPerToken(backends.coder)]);
        const gain = (2 * single) / median(pair);
        models.coder = { ...models.coder, batchGain: { ...models.coder.batchGain, decode: [1, Math.round(gain * 100) / 100] } };
        raw.batchGain = { singleMsPerToken: single, pairMsPerToken: pair };
        log(`  coder decode batch gain with 2 sequences: ${gain.toFixed(2)}x`);
    }

    // Contention: background work on other models while a foreground phase is timed.
    const background = (kind: 'decode' | 'embed', b: ModelBackend): { stop: () => Promise<void> } => {
        const ac = new AbortController();
        const loop = (async () => {
            while (!ac.signal.aborted) {
                try {
                    if (kind === 'decode') await b.generate({ mode: 'raw', prompt: freshText(words(16)), maxTokens: 400, cacheKey: freshKey('bg') }, ac.signal);
                    else await b.embed(Array.from({ length: 8 }, () => freshText(words(96))), ac.signal);
                } catch {
                    // aborted: the loop ends
                }
            }
        })();
        return {
            stop: async () => {
                ac.abort();
                await loop;
            },
        };
    };
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 150));
    const aloneCoderPrefill = median(raw.coder ? (raw.coder as { ttftLongMs: number[] }).ttftLongMs : []);
    const aloneCoderDecode = 1000 / models.coder.decodeTokensPerSec;
    const aloneEmbed = median((raw.embedder as { embedMsPerText96: number[] }).embedMsPerText96);
    const contention = { prefill: [1], decode: [1], embed: [1] } as Record<'prefill' | 'decode' | 'embed', number[]>;
    const contentionRaw: Record<string, unknown> = {};
    for (const k of [2, 3]) {
        const bgs = [background('decode', backends.reasoner)];
        if (k === 3) bgs.push(background('embed', backends.embedder));
        await settle();
        const pre: number[] = [];
        const dec: number[] = [];
        for (let i = 0; i < reps; i++) {
            pre.push((await ttft(backends.coder, LONG)).ms);
            dec.push(await decodeMsPerToken(backends.coder, 48));
        }
        await Promise.all(bgs.map((x) => x.stop()));
        const ebgs = [background('decode', backends.reasoner)];
        if (k === 3) ebgs.push(background('decode', backends.coder));
        await settle();
        const emb: number[] = [];
        for (let i = 0; i < reps; i++) emb.push(await embedMsPerText(backends.embedder, clock, words(96), 8, signal));
        await Promise.all(ebgs.map((x) => x.stop()));
        contention.prefill.push(Math.round(Math.max(1, median(pre) / aloneCoderPrefill) * 100) / 100);
        contention.decode.push(Math.round(Math.max(1, median(dec) / aloneCoderDecode) * 100) / 100);
        contention.embed.push(Math.round(Math.max(1, median(emb) / aloneEmbed) * 100) / 100);
        contentionRaw[`k${k}`] = { coderPrefillMs: pre, coderDecodeMsPerToken: dec, embedMsPerText96: emb };
        log(`  ${k} models at once: prefill x${contention.prefill[k - 1]}, decode x${contention.decode[k - 1]}, embed x${contention.embed[k - 1]}`);
    }
    for (const b of Object.values(backends)) await b.unload();
    const loadAfter = machineLoad();
    const profile: SpeedProfile = {
        name: 'local-generated',
        description: `Measured by bench/real/measure.ts on this machine: the generated full models (embedder 4, coder 7, reasoner 14 layers, f32) through the llama.cpp backend, ${setup.gpu ? 'offloaded to the GPU' : '1 thread per model'}, maxThreads ${setup.maxThreads || 'default'}.`,
        sources: [`measured ${new Date().toISOString()} with node-llama-cpp (src/backends/llamaCpp/); load average ${loadBefore.loadavg1} before, ${loadAfter.loadavg1} after, ${loadBefore.cores} cores`],
        keepOnAbort: 'evaluated',
        // What the real backend uses (realSetup passes no chunk size).
        prefillChunkTokens: DEFAULT_PREFILL_CHUNK_TOKENS,
        // With one evaluation thread for the process, llama.cpp runs one evaluation at a time: the
        // simulator then queues jobs instead of sharing (the contention measured above is what that
        // queueing produces, kept as a record and a check).
        device: {
            kind: setup.gpu ? 'gpu' : 'cpu',
            name: setup.gpu ? `GPU (${(await setup.provider()).llama.gpu})` : `${loadBefore.cores}-core CPU, 1 thread per model, ${setup.maxThreads || 'default'} threads in all`,
            memoryBytes: 8_000_000_000,
            contention,
            scheduling: setup.maxThreads === 1 && !setup.gpu ? 'serial' : 'shared',
            idleWakeMs: Math.round(median(ROLES.map((r) => wakeMs[r])) * 100) / 100,
        },
        models,
        measurement: { tokensPerWord, loadBefore, loadAfter, raw, contention: contentionRaw, reps },
    };
    return { profile, tokensPerWord };
}
