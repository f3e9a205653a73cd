/**
 * The benchmark's simulated `ModelBackend`: the router under test drives it exactly as it drives
 * the llama.cpp backend, while time is virtual and speeds come from a `SpeedProfile`.
 *
 * Timing model (all work runs on the shared `SimDevice`, so models slow each other):
 * - generate/chat: wait for a free slot (FIFO), then one prefill job of
 *   `firstTokenOverheadMs + evaluatedPromptTokens * 1000 / promptTokensPerSec` isolated ms, after
 *   which the first token is emitted; every further token is preceded by `gate.wait` (a paused
 *   sequence computes nothing and does not count as active) and one decode job of
 *   `1000 / decodeTokensPerSec` isolated ms.
 * - embed: one job of `sum(embedOverheadMsPerItem + tokens * 1000 / embedTokensPerSec)`.
 * Tokens: one per whitespace-separated word; FIM and chat markers are one token each.
 * Prefix reuse: each slot keeps the tokens of its last call for its cache key (LRU over `slots`
 * keys); a call evaluates only the tokens after the common prefix (at least one token).
 * Accounting: `computed` counts prompt tokens actually evaluated (including the part of an aborted
 * prefill that ran) and tokens generated, for generate/chat only; embeddings are counted apart.
 */
import type {
    BackendStats,
    ChatRequest,
    GenerateRequest,
    GenerationResult,
    ModelBackend,
    ModelInfo,
    ModelSpec,
    TokenGate,
    TokenListener,
} from '../../src/core/backend';
import { sleep, type Clock } from '../../src/core/clock';
import { abortError } from '../../src/core/errors';
import type { ModelProfile } from '../profileTypes';
import type { SimDevice } from './device';

interface Sequence {
    key: string;
    tokens: string[];
}

interface Ewma {
    value: number | undefined;
}

function ewma(e: Ewma, x: number, alpha = 0.3): void {
    e.value = e.value === undefined ? x : e.value + alpha * (x - e.value);
}

/** Recently tokenized texts: the router and the backend often count the same prompt. */
const tokenCache = new Map<string, string[]>();
const TOKEN_CACHE_SIZE = 16;

/** One token per whitespace-separated word. The returned array must not be modified. */
export function simTokenize(text: string): string[] {
    const hit = tokenCache.get(text);
    if (hit) return hit;
    const out = text.split(/\s+/).filter((w) => w.length > 0);
    if (text.length > 64) {
        if (tokenCache.size >= TOKEN_CACHE_SIZE) tokenCache.delete(tokenCache.keys().next().value as string);
        tokenCache.set(text, out);
    }
    return out;
}

export interface SimAccounting {
    /** Prompt tokens evaluated by generate/chat (aborted prefills: the part that ran). */
    promptEvaluated: number;
    promptReused: number;
    generated: number;
    embedTexts: number;
    embedTokens: number;
}

export interface SimBackendOptions {
    readonly keepOnAbort: 'evaluated' | 'nothing';
    readonly embeddingSpace: string;
    readonly embeddingDims?: number;
}

export class SimBackend implements ModelBackend {
    readonly computed: SimAccounting = { promptEvaluated: 0, promptReused: 0, generated: 0, embedTexts: 0, embedTokens: 0 };
    private spec: ModelSpec | undefined;
    private loaded = false;
    private currentInfo: ModelInfo | undefined;
    private inFlight = 0;
    private readonly slotWaiters: Array<() => void> = [];
    /** Most recently used last; at most `slots` entries. */
    private readonly sequences: Sequence[] = [];
    private readonly ttft: Ewma = { value: undefined };
    private readonly promptTps: Ewma = { value: undefined };
    private readonly decodeTps: Ewma = { value: undefined };
    private readonly embedIps: Ewma = { value: undefined };
    private totals = { promptTokensEvaluated: 0, promptTokensReused: 0, generatedTokens: 0, requests: 0, errors: 0 };

    constructor(
        private readonly clock: Clock,
        private readonly device: SimDevice,
        private readonly profile: ModelProfile,
        private readonly options: SimBackendOptions,
    ) {}

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
        this.sequences.length = 0;
        return Promise.resolve();
    }

    countTokens(text: string): number {
        return simTokenize(text).length;
    }

    generate(request: GenerateRequest, signal: AbortSignal): Promise<GenerationResult> {
        const prompt =
            request.mode === 'fim'
                ? ['<fim_prefix>', ...simTokenize(request.prefix ?? ''), '<fim_suffix>', ...simTokenize(request.suffix ?? ''), '<fim_middle>']
                : simTokenize(request.prompt ?? '');
        return this.run(prompt, request.maxTokens, request.cacheKey, request.gate, request.onToken, signal);
    }

    chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        const prompt: string[] = [];
        for (const m of request.messages) prompt.push(`<${m.role}>`, ...simTokenize(m.content));
        prompt.push('<assistant>');
        return this.run(prompt, request.maxTokens, request.cacheKey, request.gate, request.onToken, signal);
    }

    async embed(texts: readonly string[], signal: AbortSignal): Promise<number[][]> {
        this.requireLoaded();
        await this.acquireSlot(signal);
        const start = this.clock.now();
        try {
            const p = this.profile;
            let tokens = 0;
            for (const t of texts) tokens += simTokenize(t).length;
            const work = texts.length * p.embedOverheadMsPerItem + (tokens * 1000) / p.embedTokensPerSec;
            await this.device.run(this.modelId, 'embed', work, signal).done;
            this.computed.embedTexts += texts.length;
            this.computed.embedTokens += tokens;
            const ms = this.clock.now() - start;
            if (ms > 0) ewma(this.embedIps, (texts.length * 1000) / ms);
            this.totals.requests++;
            const dims = this.options.embeddingDims ?? 8;
            return texts.map((t) => {
                const v = new Array<number>(dims).fill(0);
                for (let i = 0; i < t.length; i++) v[i % dims] += t.charCodeAt(i) / 1000;
                return v;
            });
        } finally {
            this.releaseSlot();
        }
    }

    stats(): BackendStats {
        return {
            loaded: this.loaded,
            inFlight: this.inFlight,
            slots: this.spec?.slots ?? this.profile.slots,
            firstTokenMs: this.ttft.value,
            promptTokensPerSec: this.promptTps.value,
            decodeTokensPerSec: this.decodeTps.value,
            embedItemsPerSec: this.embedIps.value,
            ...this.totals,
            memory: { ramBytes: 0, vramBytes: this.profile.memoryBytes },
        };
    }

    private get modelId(): string {
        return this.spec?.id ?? '?';
    }

    private async run(
        prompt: string[],
        maxTokens: number,
        cacheKey: string | undefined,
        gate: TokenGate | undefined,
        onToken: TokenListener | undefined,
        signal: AbortSignal,
    ): Promise<GenerationResult> {
        this.requireLoaded();
        const ctx = this.currentInfo?.contextSize ?? this.profile.contextSize;
        if (prompt.length + maxTokens > ctx) {
            this.totals.errors++;
            throw new Error(`simulated ${this.modelId}: ${prompt.length} prompt + ${maxTokens} tokens exceed the ${ctx}-token context`);
        }
        const t0 = this.clock.now();
        await this.acquireSlot(signal);
        let listener: TokenListener | undefined = onToken;
        const p = this.profile;
        const reused = this.reuse(cacheKey, prompt);
        const evaluated = prompt.length - reused;
        let prefillDone = false;
        let generated = 0;
        const prefill = this.device.run(this.modelId, 'prefill', p.firstTokenOverheadMs + (evaluated * 1000) / p.promptTokensPerSec, signal);
        try {
            await prefill.done;
            prefillDone = true;
            this.totals.promptTokensEvaluated += evaluated;
            this.totals.promptTokensReused += reused;
            this.computed.promptEvaluated += evaluated;
            this.computed.promptReused += reused;
            let text = '';
            let firstTokenAt: number | undefined;
            for (let i = 0; i < maxTokens; i++) {
                if (i > 0) {
                    const w = gate?.wait(signal);
                    if (w) await w;
                    await this.device.run(this.modelId, 'decode', 1000 / p.decodeTokensPerSec, signal).done;
                }
                if (signal.aborted) throw signal.reason;
                const piece = ` t${i}`;
                text += piece;
                generated++;
                this.totals.generatedTokens++;
                this.computed.generated++;
                if (firstTokenAt === undefined) {
                    firstTokenAt = this.clock.now();
                    ewma(this.ttft, firstTokenAt - t0);
                    const prefillMs = firstTokenAt - t0 - p.firstTokenOverheadMs;
                    if (evaluated > 0 && prefillMs > 0) ewma(this.promptTps, (evaluated * 1000) / prefillMs);
                }
                listener?.(piece);
            }
            const end = this.clock.now();
            if (generated > 1 && firstTokenAt !== undefined) ewma(this.decodeTps, ((generated - 1) * 1000) / Math.max(1e-9, end - firstTokenAt));
            if (cacheKey !== undefined) this.keep(cacheKey, prompt);
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
            let kept = prompt.length;
            if (!prefillDone) {
                // The part of the prefill that ran was computed (and wasted if never used).
                const ranMs = prefill.progress() * (p.firstTokenOverheadMs + (evaluated * 1000) / p.promptTokensPerSec);
                const ranTokens = Math.min(evaluated, Math.max(0, Math.floor(((ranMs - p.firstTokenOverheadMs) * p.promptTokensPerSec) / 1000)));
                this.totals.promptTokensEvaluated += ranTokens;
                this.computed.promptEvaluated += ranTokens;
                kept = reused + ranTokens;
            }
            if (cacheKey !== undefined) {
                if (this.options.keepOnAbort === 'evaluated') this.keep(cacheKey, prompt.slice(0, kept));
                else this.drop(cacheKey);
            }
            throw e;
        } finally {
            listener = undefined;
            this.releaseSlot();
        }
    }

    private reuse(key: string | undefined, prompt: readonly string[]): number {
        if (key === undefined) return 0;
        const s = this.sequences.find((q) => q.key === key);
        if (!s) return 0;
        const n = Math.min(s.tokens.length, prompt.length);
        let i = 0;
        while (i < n && s.tokens[i] === prompt[i]) i++;
        // At least one token is always evaluated to produce logits.
        return Math.min(i, prompt.length - 1);
    }

    private keep(key: string, tokens: string[]): void {
        this.drop(key);
        this.sequences.push({ key, tokens });
        const slots = this.spec?.slots ?? this.profile.slots;
        while (this.sequences.length > slots) this.sequences.shift();
    }

    private drop(key: string): void {
        const i = this.sequences.findIndex((q) => q.key === key);
        if (i >= 0) this.sequences.splice(i, 1);
    }

    private requireLoaded(): void {
        if (!this.loaded) throw new Error(`simulated backend ${this.modelId}: not loaded`);
    }

    /** FIFO slot wait; rejects with signal.reason if aborted while waiting. */
    private acquireSlot(signal: AbortSignal): Promise<void> {
        if (signal.aborted) return Promise.reject(signal.reason ?? abortError());
        const slots = this.spec?.slots ?? this.profile.slots;
        if (this.inFlight < slots) {
            this.inFlight++;
            return Promise.resolve();
        }
        return new Promise((resolve, reject) => {
            const grant = (): void => {
                signal.removeEventListener('abort', onAbort);
                this.inFlight++;
                resolve();
            };
            const onAbort = (): void => {
                const i = this.slotWaiters.indexOf(grant);
                if (i >= 0) this.slotWaiters.splice(i, 1);
                reject(signal.reason);
            };
            this.slotWaiters.push(grant);
            signal.addEventListener('abort', onAbort, { once: true });
        });
    }

    private releaseSlot(): void {
        this.inFlight--;
        this.slotWaiters.shift()?.();
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
            gpu: true,
        };
    }
}
