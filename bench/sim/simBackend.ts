/**
 * The benchmark's simulated `ModelBackend`: the router under test drives it exactly as it drives
 * the llama.cpp backend, while time is virtual and speeds come from a `SpeedProfile`.
 *
 * Timing model (all work runs on the shared `SimDevice`, so models slow each other):
 * - generate/chat: wait for a free slot (FIFO), then prefill jobs of `prefillChunkTokens` each,
 *   n tokens after P already in the sequence costing `n * 1000 / promptTokensPerSec +
 *   attentionMsPerTokenPair * n * (P + n / 2)` isolated ms, then `firstTokenOverheadMs`, after
 *   which the first token is emitted; every further token is preceded by `gate.wait` (a paused
 *   sequence computes nothing and does not count as active) and one decode job of
 *   `1000 / decodeTokensPerSec` isolated ms.
 * - embed: one job of `sum(embedOverheadMsPerItem + tokens * 1000 / embedTokensPerSec)`.
 * Tokens: one per whitespace-separated word unless `options.tokenize` is given (real mode's
 * prediction passes the generated models' tokenizer); FIM and chat markers are one token each. A
 * FIM prompt is laid out as llama.cpp's /infill lays it out: `<fim_prefix> prefix <fim_suffix>
 * suffix <fim_middle> middle` (no middle tokens when it is empty), so typing within a line only
 * appends to the prompt and the suffix stays reusable.
 * Prefix reuse: each slot keeps the tokens of its last call (KeyedPrefixCache: per cache key, LRU
 * over `slots` sequences, a call without a key taking one too); a call evaluates only the tokens
 * after the common prefix (at least one token). A call for a key whose previous call is still
 * running natively (an aborted chunk in flight) waits for it before taking a slot, as the
 * llama.cpp backend waits for the key's own sequence.
 * Accounting: `stats()` and each call's `CallUsage` count the prompt tokens actually evaluated
 * (an aborted prefill: the chunks that ran) and the tokens generated; `computed` counts embeddings.
 */
import type {
    BackendStats,
    CallUsage,
    ChatRequest,
    GenerateRequest,
    GenerationResult,
    ModelBackend,
    ModelInfo,
    ModelSpec,
    TokenGate,
    TokenListener,
} from '../../src/core/backend';
import { prefillChunkSize, reportUsage } from '../../src/core/backend';
import { sleep, type Clock } from '../../src/core/clock';
import { Reservation, type EvalTurns } from '../../src/core/evalTurns';
import { KeyedPrefixCache } from '../../src/core/prefixCache';
import { SlotPool } from '../../src/core/slots';
import type { ModelProfile, Phase } from '../profileTypes';
import type { SimDevice } from './device';

/** The native call a request has in flight (or waiting for its turn), for release and accounting. */
interface NativeSlot {
    /** Settles when the last native call has returned (or was dropped before it started). */
    tail: Promise<void>;
    /** Whether the last native call started (false: dropped while waiting for its turn). */
    begun: boolean;
}

/** Recently tokenized texts: the router and the backend often count the same prompt. */
const tokenCache = new Map<string, string[]>();
const TOKEN_CACHE_SIZE = 16;

/** One token per whitespace-separated word. The returned array must not be modified. */
export function simTokenize(text: string): string[] {
    const hit = tokenCache.get(text);
    if (hit) return hit;
    // Fast path for text with single spaces only (all the benchmark's synthetic text).
    const simple =
        text.length > 0 &&
        text.charCodeAt(0) !== 32 &&
        text.charCodeAt(text.length - 1) !== 32 &&
        text.indexOf('  ') < 0 &&
        text.indexOf('\n') < 0 &&
        text.indexOf('\t') < 0 &&
        text.indexOf('\r') < 0;
    const out = simple ? text.split(' ') : text.split(/\s+/).filter((w) => w.length > 0);
    if (text.length > 64) {
        if (tokenCache.size >= TOKEN_CACHE_SIZE) tokenCache.delete(tokenCache.keys().next().value as string);
        tokenCache.set(text, out);
    }
    return out;
}

export interface SimAccounting {
    embedTexts: number;
    embedTokens: number;
}

export interface SimBackendOptions {
    readonly keepOnAbort: 'evaluated' | 'nothing';
    /** Prompt tokens per native prefill call (the gate and abort are checked between calls). */
    readonly prefillChunkTokens: number;
    readonly embeddingSpace: string;
    readonly embeddingDims?: number;
    /**
     * Evaluation turns shared by the backends of a serial device (one evaluation thread), as the
     * llama.cpp backend's `turns`: native calls in priority order, a closed gate asked again when
     * the turn comes, a call still waiting dropped on abort.
     */
    readonly turns?: EvalTurns;
    /**
     * The tokenizer: one token per whitespace-separated word (`simTokenize`) unless given. Real
     * mode's prediction passes the generated models' own tokenizer, so that the simulated calls
     * evaluate and reuse the same tokens as the real ones for the same texts.
     */
    readonly tokenize?: (text: string) => readonly string[];
}

export class SimBackend implements ModelBackend {
    readonly computed: SimAccounting = { embedTexts: 0, embedTokens: 0 };
    private spec: ModelSpec | undefined;
    private loaded = false;
    private currentInfo: ModelInfo | undefined;
    private readonly slots = new SlotPool(() => this.spec?.slots ?? this.profile.slots);
    /** Per cache key: resolves when the latest call for it has finished natively. */
    private readonly keyTails = new Map<string, Promise<void>>();
    private readonly prefixes = new KeyedPrefixCache(() => this.spec?.slots ?? this.profile.slots);
    /** Keys being evaluated now: the prompt tokens their sequence holds so far (reused + started). */
    private readonly serving = new Map<string, () => number>();
    private readonly tokenize: (text: string) => readonly string[];
    private totals = { promptTokensEvaluated: 0, promptTokensReused: 0, generatedTokens: 0, requests: 0, errors: 0 };

    constructor(
        private readonly clock: Clock,
        private readonly device: SimDevice,
        private readonly profile: ModelProfile,
        private readonly options: SimBackendOptions,
    ) {
        this.tokenize = options.tokenize ?? simTokenize;
    }

    get info(): ModelInfo | undefined {
        return this.currentInfo;
    }

    inspect(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        if (signal.aborted) return Promise.reject(signal.reason);
        this.spec = spec;
        this.currentInfo = this.makeInfo(spec);
        return Promise.resolve(this.currentInfo);
    }

    async load(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        this.spec = spec;
        await sleep(this.clock, this.profile.loadMs, signal);
        this.loaded = true;
        this.currentInfo = this.makeInfo(spec);
        return this.currentInfo;
    }

    unload(): Promise<void> {
        this.loaded = false;
        this.prefixes.clear();
        return Promise.resolve();
    }

    countTokens(text: string): number {
        return this.tokenize(text).length;
    }

    generate(request: GenerateRequest, signal: AbortSignal): Promise<GenerationResult> {
        const prompt =
            request.mode === 'fim'
                ? ['<fim_prefix>', ...this.tokenize(request.prefix ?? ''), '<fim_suffix>', ...this.tokenize(request.suffix ?? ''), '<fim_middle>', ...this.tokenize(request.middle ?? '')]
                : [...this.tokenize(request.prompt ?? '')];
        return this.run(prompt, request.maxTokens, request.cacheKey, request.gate, request.onToken, signal, request.priority, request.onUsage);
    }

    chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        const prompt: string[] = [];
        for (const m of request.messages) prompt.push(`<${m.role}>`, ...this.tokenize(m.content));
        prompt.push('<assistant>');
        return this.run(prompt, request.maxTokens, request.cacheKey, request.gate, request.onToken, signal, request.priority, request.onUsage);
    }

    /** One native call per text (as the llama.cpp backend does); abort is checked between texts. */
    async embed(texts: readonly string[], signal: AbortSignal, priority = 0): Promise<number[][]> {
        this.requireLoaded();
        await this.slots.acquire(signal);
        const slot: NativeSlot = { tail: Promise.resolve(), begun: true };
        try {
            const p = this.profile;
            const dims = this.options.embeddingDims ?? 8;
            const out: number[][] = [];
            for (const t of texts) {
                if (signal.aborted) throw signal.reason;
                const tokens = this.tokenize(t).length;
                this.computed.embedTexts++;
                this.computed.embedTokens += tokens;
                await this.native('embed', p.embedOverheadMsPerItem + (tokens * 1000) / p.embedTokensPerSec, signal, slot, priority);
                const v = new Array<number>(dims).fill(0);
                for (let i = 0; i < t.length; i++) v[i % dims] += t.charCodeAt(i) / 1000;
                out.push(v);
            }
            this.totals.requests++;
            return out;
        } finally {
            void slot.tail.then(() => this.slots.release());
        }
    }

    cachedTokens(cacheKey: string): number {
        // As the llama.cpp backend: a sequence serving the key holds what it has evaluated so far.
        const live = this.serving.get(cacheKey);
        return live !== undefined ? live() : this.prefixes.held(cacheKey);
    }

    stats(): BackendStats {
        return {
            loaded: this.loaded,
            inFlight: this.slots.inUse,
            slots: this.spec?.slots ?? this.profile.slots,
            ...this.totals,
            memory: { ramBytes: 0, vramBytes: this.profile.memoryBytes },
        };
    }

    private get modelId(): string {
        return this.spec?.id ?? '?';
    }

    /**
     * Runs one native evaluation call of `isolatedMs` on the device. Like llama.cpp, a call once
     * started cannot be interrupted: on abort the returned promise rejects at once with
     * `signal.reason`, but the device keeps computing until the call ends, and the slot stays
     * taken until then (`this.native` tracks the call so the slot is released after it).
     */
    private native(phase: Phase, isolatedMs: number, signal: AbortSignal, slot: NativeSlot, priority = 0, gateWait?: () => Promise<void> | undefined): Promise<void> {
        const call = (): Promise<void> => {
            slot.begun = true;
            return this.device.run(this.modelId, phase, isolatedMs).done;
        };
        const turns = this.options.turns;
        slot.begun = false;
        // With turns, a call still waiting for its turn is dropped on abort; one that started runs
        // to its end, holding the turn.
        const done = turns ? turns.run(priority, signal, call, gateWait) : call();
        slot.tail = done.catch(() => undefined);
        return untilOrAbort(done, signal);
    }

    private async run(
        prompt: string[],
        maxTokens: number,
        cacheKey: string | undefined,
        gate: TokenGate | undefined,
        onToken: TokenListener | undefined,
        signal: AbortSignal,
        priority = 0,
        onUsage?: (usage: CallUsage) => void,
    ): Promise<GenerationResult> {
        this.requireLoaded();
        const ctx = this.currentInfo?.contextSize ?? this.profile.contextSize;
        if (prompt.length + maxTokens > ctx) {
            this.totals.errors++;
            throw new Error(`simulated ${this.modelId}: ${prompt.length} prompt + ${maxTokens} tokens exceed the ${ctx}-token context`);
        }
        const t0 = this.clock.now();
        // Like the llama.cpp backend, a call for a key whose sequence is still finishing an earlier
        // call (an aborted one ends with its chunk in flight) waits for it, then reuses its tokens.
        let endNative: () => void = () => undefined;
        const ended = new Promise<void>((r) => (endNative = r));
        const previous = cacheKey !== undefined ? this.keyTails.get(cacheKey) : undefined;
        if (cacheKey !== undefined) this.keyTails.set(cacheKey, ended);
        const unmark = (): void => {
            endNative();
            if (cacheKey !== undefined && this.keyTails.get(cacheKey) === ended) this.keyTails.delete(cacheKey);
        };
        try {
            if (previous) await untilOrAbort(previous, signal);
            await this.slots.acquire(signal);
        } catch (e) {
            // Whatever ran before still ends before a later call of this key starts.
            void (previous ?? Promise.resolve()).then(unmark);
            throw e;
        }
        let listener: TokenListener | undefined = onToken;
        const p = this.profile;
        const perCall = p.callOverheadMs !== undefined;
        const reused = this.prefixes.reusable(cacheKey, prompt);
        const evaluated = prompt.length - reused;
        const slot: NativeSlot = { tail: Promise.resolve(), begun: true };
        // Prompt tokens whose evaluation has been started (a started chunk always completes); the
        // last call's tokens, uncounted again if it was dropped while waiting for its turn.
        let started = 0;
        let lastCallTokens = 0;
        let generated = 0;
        let prefillDone = false;
        let completed = false;
        if (cacheKey !== undefined) this.serving.set(cacheKey, () => reused + started);
        // As the llama.cpp backend: the thread is reserved at this priority until the first token,
        // and let go while the gate holds this call.
        const reservation = new Reservation(this.options.turns, priority);
        const gateWait = (): Promise<void> | undefined => {
            if (signal.aborted) throw signal.reason;
            const w = gate?.wait(signal);
            if (!w) return undefined;
            reservation.suspend();
            return w.then(() => reservation.resume());
        };
        const pass = async (): Promise<void> => {
            await gateWait();
            if (signal.aborted) throw signal.reason;
        };
        // ms of one native call evaluating n tokens after `before` already in the sequence.
        const callMs = (n: number, before: number): number =>
            (n * 1000) / p.promptTokensPerSec + (p.attentionMsPerTokenPair ?? 0) * n * (before + n / 2) + (perCall ? (p.callOverheadMs ?? 0) + (p.cachedTokenMsPerCall ?? 0) * before : 0);
        try {
            // Prefill in chunks; the gate and the abort signal are checked between chunks. With the
            // per-call model the last prompt token is left to the call that samples the first token,
            // as the llama.cpp backend does.
            const chunk = Math.max(1, this.options.prefillChunkTokens);
            const inChunks = perCall ? evaluated - 1 : evaluated;
            while (started < inChunks) {
                await pass();
                const n = Math.min(prefillChunkSize(chunk, gate), inChunks - started);
                started += n;
                lastCallTokens = n;
                // Tokens already in the sequence before this chunk: the reused prefix and earlier chunks.
                await this.native('prefill', callMs(n, reused + started - n), signal, slot, priority, gateWait);
            }
            await pass();
            // The first token's logits and sampling (with the per-call model: the last prompt token's call).
            lastCallTokens = evaluated - started;
            started = evaluated;
            await this.native('prefill', p.firstTokenOverheadMs + (perCall ? callMs(1, prompt.length - 1) : 0), signal, slot, priority, gateWait);
            prefillDone = true;
            let text = '';
            let firstTokenAt: number | undefined;
            for (let i = 0; i < maxTokens; i++) {
                if (i > 0) {
                    await pass();
                    lastCallTokens = 0;
                    await this.native('decode', perCall ? callMs(1, prompt.length + i - 1) : 1000 / p.decodeTokensPerSec, signal, slot, priority, gateWait);
                }
                if (signal.aborted) throw signal.reason;
                const piece = ` t${i}`;
                text += piece;
                generated++;
                if (firstTokenAt === undefined) {
                    reservation.end();
                    firstTokenAt = this.clock.now();
                }
                listener?.(piece);
            }
            const end = this.clock.now();
            this.prefixes.keep(cacheKey, prompt);
            completed = true;
            this.totals.requests++;
            return {
                text,
                stopReason: 'maxTokens',
                promptTokens: prompt.length,
                reusedPromptTokens: reused,
                evaluatedPromptTokens: evaluated,
                generatedTokens: generated,
                firstTokenMs: firstTokenAt === undefined ? undefined : firstTokenAt - t0,
                totalMs: end - t0,
            };
        } catch (e) {
            if (!signal.aborted) this.totals.errors++;
            if (!slot.begun) started -= lastCallTokens;
            // The sequence holds what was evaluated (every started chunk completes); a call without
            // a key took a sequence too (KeyedPrefixCache).
            if (this.options.keepOnAbort === 'evaluated') this.prefixes.keep(cacheKey, prompt.slice(0, prefillDone ? prompt.length : reused + started));
            else if (cacheKey !== undefined) this.prefixes.drop(cacheKey);
            throw e;
        } finally {
            if (cacheKey !== undefined) this.serving.delete(cacheKey);
            reservation.end();
            listener = undefined;
            this.totals.promptTokensEvaluated += started;
            this.totals.promptTokensReused += reused;
            this.totals.generatedTokens += generated;
            reportUsage(onUsage, { reusedPromptTokens: reused, evaluatedPromptTokens: started, generatedTokens: generated, completed });
            // The slot is free only when the native call in progress has returned.
            void slot.tail.then(() => {
                this.slots.release();
                unmark();
            });
        }
    }

    private requireLoaded(): void {
        if (!this.loaded) throw new Error(`simulated backend ${this.modelId}: not loaded`);
    }

    private makeInfo(spec: ModelSpec): ModelInfo {
        const p = this.profile;
        return {
            id: spec.id,
            path: spec.path,
            architecture: 'simulated',
            name: `simulated ${spec.id}`,
            fim: p.fim && spec.fimTemplate !== 'none' ? 'qwen' : undefined,
            hasChat: p.hasChat,
            embeddingDims: this.options.embeddingDims ?? 8,
            embeddingSpace: this.options.embeddingSpace,
            trainContextSize: p.contextSize,
            contextSize: Math.min(spec.contextSize, p.contextSize),
            slots: spec.slots,
            estimatedMemory: { ramBytes: 0, vramBytes: p.memoryBytes },
            gpu: spec.gpuLayers !== 0,
        };
    }
}

/** Resolves with `p`, or rejects with `signal.reason` if it aborts first; leaves no listener behind. */
function untilOrAbort(p: Promise<void>, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        p.then(
            () => {
                signal.removeEventListener('abort', onAbort);
                resolve();
            },
            // Only a call dropped while waiting for its turn rejects, on this same abort.
            () => reject(signal.reason),
        );
    });
}
