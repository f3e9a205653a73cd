/**
 * Measures a speed profile of the generated models on this machine with the real backend
 * (`npm run bench -- --mode profile --out DIR [--save]`; real mode runs it first). Everything
 * the simulator uses is measured here, nothing assumed:
 * - per model, alone: time to first token for short and long fresh prompts, for 96 tokens and for
 *   one word (a keystroke) after a cached prefix, and per decoded token after a short and a long
 *   prompt; `fitCallCosts` turns these into the per-call cost model the simulator prices every
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
import { REAL_CONTEXT, REAL_SLOTS, machineLoad, type RealSetup } from './setup';
import { calibrate, docWord } from '../replay/text';

function median(xs: readonly number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

let uniq = 0;
/** A prompt of about `tokens` tokens that shares nothing with earlier prompts (no reuse). */
function freshText(words: number): string {
    const tag = `z${(uniq++).toString(36)}`;
    const out: string[] = [tag];
    for (let i = 1; i < words; i++) out.push(docWord(tag, 'profile', i));
    return out.join(' ');
}

/**
 * Reads `prompt` once under cache key `key` (a key of its own), then sends it again `n` times,
 * `pauseMs` before each (0: back to back): each time the last token alone is evaluated, in one
 * native call. The one-token keystroke (F32), after a pause (F39), and the speed checks' (F37).
 */
async function sendAgain(b: ModelBackend, prompt: string, key: string, n: number, pauseMs: number, signal: AbortSignal): Promise<GenerationResult[]> {
    await b.generate({ mode: 'raw', prompt, maxTokens: 1, cacheKey: key }, signal);
    const out: GenerationResult[] = [];
    for (let i = 0; i < n; i++) {
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
        out.push(await b.generate({ mode: 'raw', prompt, maxTokens: 1, cacheKey: key }, signal));
    }
    return out;
}

/** ms per text of embedding `n` fresh texts of `words` words each, in one call. */
async function embedMsPerText(b: ModelBackend, clock: RealSetup['clock'], words: number, n: number, signal: AbortSignal): Promise<number> {
    const texts = Array.from({ length: n }, () => freshText(words));
    const t0 = clock.now();
    await b.embed(texts, signal);
    return (clock.now() - t0) / n;
}

const firstTokenMs = (r: GenerationResult): number => r.firstTokenMs ?? r.totalMs;

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
        timed(await b.generate({ mode: 'raw', prompt: freshText(words(tokens)), maxTokens: 1, cacheKey: `p${uniq}` }, signal));
    /** `extra` tokens evaluated after `base` tokens already in the sequence (its cached prefix). */
    const ttftAfter = async (b: ModelBackend, base: number, extra: number): Promise<Timed> => {
        const key = `i${uniq}`;
        const head = freshText(words(base));
        await b.generate({ mode: 'raw', prompt: head, maxTokens: 1, cacheKey: key }, signal);
        return timed(await b.generate({ mode: 'raw', prompt: `${head} ${freshText(words(extra))}`, maxTokens: 1, cacheKey: key }, signal));
    };
    /** The same `base`-token prompt again: the last token alone is evaluated, in one native call. */
    const ttftAgain = async (b: ModelBackend, base: number): Promise<Timed> => timed((await sendAgain(b, freshText(words(base)), `a${uniq}`, 1, 0, signal))[0]);
    /**
     * The one-token keystroke of `ttftAgain` after IDLE_PAUSE_MS with nothing computing, `n` times
     * on one cached `base`-token prompt: what the first call after a pause in typing costs.
     */
    const ttftAfterIdle = async (b: ModelBackend, base: number, n: number): Promise<number[]> =>
        (await sendAgain(b, freshText(words(base)), `w${uniq}`, n, IDLE_PAUSE_MS, signal)).map(firstTokenMs);
    /** ms per decoded token after a prompt of about `promptTokens`, and the mean position of those tokens. */
    const decodeStep = async (b: ModelBackend, promptTokens: number, n: number): Promise<{ ms: number; position: number }> => {
        const r = await b.generate({ mode: 'raw', prompt: freshText(words(promptTokens)), maxTokens: n, cacheKey: `d${uniq}` }, signal);
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
                    if (kind === 'decode') await b.generate({ mode: 'raw', prompt: freshText(words(16)), maxTokens: 400, cacheKey: `bg${uniq}` }, ac.signal);
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
        sources: [`measured ${new Date().toISOString()} with node-llama-cpp (src/backends/llamaCpp.ts); load average ${loadBefore.loadavg1} before, ${loadAfter.loadavg1} after, ${loadBefore.cores} cores`],
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

/** What one speed check measured per model, in ms (`measureSpeedCheck`). */
export interface SpeedCheck {
    readonly models: Readonly<Record<Role, { readonly oneTokenMs: number; readonly decodeMs: number; readonly embedMs?: number }>>;
}

/** Prompt tokens the check's keystroke and decode steps follow, as the profile's LONG prompt. */
const CHECK_PROMPT_TOKENS = 448;
/** The pause before `ttftAfterIdle`'s keystrokes (ms): above IDLE_WAKE_AFTER_MS, like a pause in typing. */
const IDLE_PAUSE_MS = 150;
const CHECK_REPS = 3;

/**
 * A few seconds of the profile's own measurements, taken between real-mode policy runs to follow
 * how fast the machine is at the time (a shared VM drifts by tens of percent within minutes):
 * per model, a one-token keystroke after a cached CHECK_PROMPT_TOKENS-token prompt (the profile's
 * `ttftOneTokenMs`) and the decode step there (`decodeLong`); the embedder also embeds 96-token
 * texts (`embedMsPerText96`). Loads the three models and unloads them again; nothing else may run.
 */
export async function measureSpeedCheck(setup: RealSetup, tokensPerWord: number): Promise<SpeedCheck> {
    const signal = new AbortController().signal;
    const words = (tokens: number): number => Math.max(1, Math.round(tokens / tokensPerWord));
    const models = {} as Record<Role, { oneTokenMs: number; decodeMs: number; embedMs?: number }>;
    for (const spec of setup.specs) {
        const b = setup.createBackend(spec);
        await b.load(spec, signal);
        try {
            const prompt = freshText(words(CHECK_PROMPT_TOKENS));
            const key = `check${uniq}`;
            const one = (await sendAgain(b, prompt, key, CHECK_REPS, 0, signal)).map(firstTokenMs);
            const d = await b.generate({ mode: 'raw', prompt, maxTokens: 17, cacheKey: key }, signal);
            const decodeMs = (d.totalMs - (d.firstTokenMs ?? 0)) / Math.max(1, d.generatedTokens - 1);
            const embedMs = spec.role === 'embedder' ? await embedMsPerText(b, setup.clock, words(96), 4, signal) : undefined;
            models[spec.role] = { oneTokenMs: median(one), decodeMs, embedMs };
        } finally {
            await b.unload();
        }
    }
    return { models };
}

/**
 * Per model, how much slower (> 1) or faster the checks found it than the profile's own
 * measurements of the same things: the median over checks of the geometric mean of the ratios.
 * Undefined for a model the profile has no raw measurements of.
 */
export function speedFactors(profile: SpeedProfile, checks: readonly SpeedCheck[]): Partial<Record<Role, number>> {
    const raw = (profile.measurement?.raw ?? {}) as Record<string, { ttftOneTokenMs?: number[]; decodeLong?: Array<{ ms: number }>; embedMsPerText96?: number[] } | undefined>;
    const out: Partial<Record<Role, number>> = {};
    for (const role of ROLES) {
        const r = raw[role];
        if (!r?.ttftOneTokenMs?.length || !r.decodeLong?.length || checks.length === 0) continue;
        const one = median(r.ttftOneTokenMs);
        const dec = median(r.decodeLong.map((x) => x.ms));
        const emb = r.embedMsPerText96?.length ? median(r.embedMsPerText96) : undefined;
        const perCheck = checks.map((c) => {
            const m = c.models[role];
            const ratios = [m.oneTokenMs / one, m.decodeMs / dec];
            if (m.embedMs !== undefined && emb !== undefined) ratios.push(m.embedMs / emb);
            return Math.exp(ratios.reduce((a, x) => a + Math.log(x), 0) / ratios.length);
        });
        out[role] = median(perCheck);
    }
    return out;
}

/**
 * Per run, the speed factors (`speedFactors`) of the two checks around it: run i went between
 * checks i and i + 1. The machine's speed drifts within minutes (F37, F49: the same check moved the
 * coder's one-token keystroke between 13 and 28 ms within four minutes), so the checks nearest a
 * run say more about it than the median over the whole run. `checks` has one more entry than runs.
 */
export function bracketFactors(profile: SpeedProfile, checks: readonly SpeedCheck[]): Array<Partial<Record<Role, number>>> {
    return checks.slice(0, -1).map((_, i) => speedFactors(profile, checks.slice(i, i + 2)));
}

/**
 * Prompt evaluation time model: n tokens after P already in the sequence take
 * `overheadMs + n * msPerToken + msPerTokenPair * n * (P + n / 2)` (ms). Solved exactly from
 * three measurements (two fresh sizes and one after a cached prefix); when the attention term
 * comes out negative (noise), it is dropped and the two fresh sizes give overhead and rate.
 */
export function fitPrefill(points: ReadonlyArray<{ n: number; position: number; ms: number }>): { overheadMs: number; msPerToken: number; msPerTokenPair: number } {
    const rows = points.map((p) => [1, p.n, p.n * (p.position + p.n / 2)]);
    const y = points.map((p) => p.ms);
    const det3 = (m: number[][]): number =>
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    const d = det3(rows);
    if (points.length === 3 && Math.abs(d) > 1e-9) {
        const col = (k: number): number[][] => rows.map((r, i) => r.map((v, j) => (j === k ? y[i] : v)));
        const [o, a, b] = [0, 1, 2].map((k) => det3(col(k)) / d);
        // A slightly negative overhead is noise around zero (measured: -1.1 ms on the embedder).
        if (b >= 0 && a > 0 && o > -5) return { overheadMs: Math.max(0, o), msPerToken: a, msPerTokenPair: b };
    }
    const [s, l] = points;
    const a = Math.max(1e-6, (l.ms - s.ms) / Math.max(1, l.n - s.n));
    return { overheadMs: Math.max(0, s.ms - s.n * a), msPerToken: a, msPerTokenPair: 0 };
}

/** One native evaluation call: n tokens after P already in the sequence. */
export interface EvalCall {
    readonly n: number;
    readonly position: number;
}

/**
 * The native calls the llama.cpp backend makes for a prompt of `promptTokens` of which `reused`
 * are already in the sequence: chunks of `chunk` tokens up to the last prompt token, then one call
 * for the last token (which samples the first new token). Mirrors src/backends/llamaCpp.ts.
 */
export function promptCalls(promptTokens: number, reused: number, chunk: number): EvalCall[] {
    const calls: EvalCall[] = [];
    for (let pos = reused; pos < promptTokens - 1; pos = Math.min(promptTokens - 1, pos + chunk)) calls.push({ n: Math.min(chunk, promptTokens - 1 - pos), position: pos });
    calls.push({ n: 1, position: promptTokens - 1 });
    return calls;
}

export interface CallCosts {
    /** Once per generate call (ms). */
    readonly requestMs: number;
    /** Per native call (ms). */
    readonly callMs: number;
    /** Per native call, per token already in the sequence (ms). */
    readonly cachedTokenMs: number;
    /** Per evaluated token (ms). */
    readonly tokenMs: number;
    /** Per pair of (evaluated token, token before it in the sequence) (ms). */
    readonly pairMs: number;
}

/**
 * Fits the per-call cost model (see `ModelProfile.callOverheadMs`) to measured timings: each
 * point is the ms of `requests` generate calls' fixed part plus its native calls. Least squares on
 * relative error (a 20 ms keystroke weighs as much as a 1 s prompt) times each point's `weight`
 * (default 1), with every coefficient kept >= 0 by dropping the most negative one and solving again.
 */
export function fitCallCosts(
    points: ReadonlyArray<{ readonly calls: readonly EvalCall[]; readonly requests: number; readonly ms: number; readonly weight?: number }>,
): CallCosts {
    const raw = points.map((p) => {
        const f = [p.requests, 0, 0, 0, 0];
        for (const c of p.calls) {
            f[1] += 1;
            f[2] += c.position;
            f[3] += c.n;
            f[4] += c.n * (c.position + c.n / 2);
        }
        return f;
    });
    // Columns scaled to at most 1 (positions and pairs run to 1e5): better conditioned.
    const scale = [0, 1, 2, 3, 4].map((j) => Math.max(1e-12, ...raw.map((f) => Math.abs(f[j]))));
    const rows = raw.map((f) => f.map((v, j) => v / scale[j]));
    let active = [0, 1, 2, 3, 4];
    let x = [0, 0, 0, 0, 0];
    for (;;) {
        const k = active.length;
        const ata = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
        points.forEach((p, i) => {
            const w = (p.weight ?? 1) / Math.max(1e-6, p.ms) ** 2;
            for (let a = 0; a < k; a++) {
                for (let b = 0; b < k; b++) ata[a][b] += w * rows[i][active[a]] * rows[i][active[b]];
                ata[a][k] += w * rows[i][active[a]] * p.ms;
            }
        });
        const sol = solve(ata);
        x = [0, 0, 0, 0, 0];
        if (sol === undefined) break;
        active.forEach((j, a) => (x[j] = sol[a] / scale[j]));
        const worst = active.reduce((m, j) => (x[j] < x[m] ? j : m), active[0]);
        if (x[worst] >= 0) break;
        active = active.filter((j) => j !== worst);
        if (active.length === 0) break;
    }
    return { requestMs: x[0], callMs: x[1], cachedTokenMs: x[2], tokenMs: x[3], pairMs: x[4] };
}

/** Gaussian elimination with partial pivoting on an augmented k x (k+1) matrix; undefined if singular. */
function solve(m: number[][]): number[] | undefined {
    const k = m.length;
    for (let c = 0; c < k; c++) {
        let piv = c;
        for (let r = c + 1; r < k; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
        if (Math.abs(m[piv][c]) < 1e-12) return undefined;
        [m[c], m[piv]] = [m[piv], m[c]];
        for (let r = 0; r < k; r++) {
            if (r === c) continue;
            const f = m[r][c] / m[c][c];
            for (let j = c; j <= k; j++) m[r][j] -= f * m[c][j];
        }
    }
    return m.map((row, i) => row[k] / row[i]);
}
