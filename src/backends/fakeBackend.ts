/**
 * A deterministic fake `ModelBackend` on a `Clock`, for unit tests of the router (and a reference
 * for simulated backends). With a `VirtualClock` nothing depends on real time.
 *
 * Timing model (ms): a generation waits for a free slot, then its prefill takes
 * `firstTokenOverheadMs + evaluatedPromptTokens * 1000 / promptTokensPerSec`, evaluated in chunks
 * of `prefillChunkTokens`, each preceded by `gate.wait` (as the llama.cpp backend does); the first
 * token is emitted at the end of the prefill; every further token takes `1000 / decodeTokensPerSec`
 * and is preceded by `gate.wait`. An embed call takes `embedMsPerText * texts.length`.
 * Prefix reuse: the last `slots` cache keys keep their prompt's tokens (an aborted call keeps what
 * it evaluated); a request with a kept key evaluates only the tokens after the common prefix.
 */
import type {
    BackendStats,
    CallUsage,
    ChatRequest,
    FimFamily,
    GenerateRequest,
    GenerationResult,
    MemoryEstimate,
    ModelBackend,
    ModelInfo,
    ModelSpec,
    StopReason,
    TokenGate,
    TokenListener,
} from '../core/backend';
import { prefillChunkSize, reportUsage } from '../core/backend';
import { sleep, type Clock } from '../core/clock';
import { KeyedPrefixCache } from '../core/prefixCache';
import { SlotPool } from '../core/slots';
import { ModelFileError } from '../core/errors';

export interface FakeProfile {
    readonly promptTokensPerSec: number;
    readonly decodeTokensPerSec: number;
    /** Fixed part of the time to first token, ms. */
    readonly firstTokenOverheadMs: number;
    readonly loadMs: number;
    readonly memory: MemoryEstimate;
    /** undefined: cannot infill. Default "qwen" unless the spec says fimTemplate "none". */
    readonly fim: FimFamily | undefined;
    readonly hasChat: boolean;
    /** Default: "space-" + the spec id (every model its own space). */
    readonly embeddingSpace: string | undefined;
    readonly embeddingDims: number;
    readonly embedMsPerText: number;
    /** "whitespace": one token per whitespace-separated word; "chars4": one per 4 characters. */
    readonly tokenCounting: 'whitespace' | 'chars4';
    /** Text of generated token i (0-based). Default " t<i>". */
    readonly tokenText: (i: number) => string;
    /** End of generation after this many tokens (undefined: always maxTokens). */
    readonly endAfterTokens: number | undefined;
    /** Prompt tokens per prefill step; the gate is checked before each. */
    readonly prefillChunkTokens: number;
}

export const DEFAULT_FAKE_PROFILE: FakeProfile = {
    promptTokensPerSec: 1000,
    decodeTokensPerSec: 50,
    firstTokenOverheadMs: 10,
    loadMs: 100,
    memory: { ramBytes: 1_000_000_000, vramBytes: 0 },
    fim: 'qwen',
    hasChat: true,
    embeddingSpace: undefined,
    embeddingDims: 8,
    embedMsPerText: 5,
    tokenCounting: 'whitespace',
    tokenText: (i) => ` t${i}`,
    endAfterTokens: undefined,
    prefillChunkTokens: 64,
};

export type FakeOp = 'load' | 'generate' | 'chat' | 'embed';

/** One call seen by the fake, for assertions. */
export interface FakeCall {
    readonly op: FakeOp;
    readonly at: number;
    readonly cacheKey?: string;
    readonly texts?: number;
    /** Filled when the call settles. */
    outcome?: 'ok' | 'aborted' | 'failed';
    endAt?: number;
    reusedPromptTokens?: number;
    /** Generations: prompt tokens per prefill chunk, in order (the gate may cut them). */
    readonly chunks?: number[];
}

export class FakeBackend implements ModelBackend {
    readonly profile: FakeProfile;
    readonly calls: FakeCall[] = [];
    private spec: ModelSpec | undefined;
    private loaded = false;
    private currentInfo: ModelInfo | undefined;
    private readonly slots = new SlotPool(() => this.spec?.slots ?? 1);

    /** Highest number of concurrent sequences ever seen. */
    get maxInFlight(): number {
        return this.slots.maxInUse;
    }
    private readonly prefixes = new KeyedPrefixCache(() => this.spec?.slots ?? 1);
    /** Keys being evaluated now: the prompt tokens their sequence holds so far. */
    private readonly serving = new Map<string, () => number>();
    private failures: Array<{ ops: readonly FakeOp[]; error: Error }> = [];
    private totals = { promptTokensEvaluated: 0, promptTokensReused: 0, generatedTokens: 0, requests: 0, errors: 0 };

    constructor(
        private readonly clock: Clock,
        profile: Partial<FakeProfile> = {},
    ) {
        this.profile = { ...DEFAULT_FAKE_PROFILE, ...profile };
    }

    /** The next `count` calls of the given kinds fail with `error` (default: all work calls). */
    failNext(count = 1, error: Error = new Error('injected failure'), ops: readonly FakeOp[] = ['generate', 'chat', 'embed']): void {
        for (let i = 0; i < count; i++) this.failures.push({ ops, error });
    }

    get info(): ModelInfo | undefined {
        return this.currentInfo;
    }

    get isLoaded(): boolean {
        return this.loaded;
    }

    inspect(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        if (signal.aborted) return Promise.reject(signal.reason);
        this.spec = spec;
        this.currentInfo = this.makeInfo(spec);
        return Promise.resolve(this.currentInfo);
    }

    async load(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        const call: FakeCall = { op: 'load', at: this.clock.now() };
        this.calls.push(call);
        this.spec = spec;
        try {
            await sleep(this.clock, this.profile.loadMs, signal);
            this.takeFailure('load');
        } catch (e) {
            call.outcome = signal.aborted ? 'aborted' : 'failed';
            throw e;
        }
        call.outcome = 'ok';
        call.endAt = this.clock.now();
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
                : this.tokenize(request.prompt ?? '');
        return this.run('generate', prompt, request.maxTokens, request.cacheKey, request.gate, request.onToken, request.ignoreEndOfGeneration, signal, request.onUsage);
    }

    chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        const prompt: string[] = [];
        for (const m of request.messages) prompt.push(`<${m.role}>`, ...this.tokenize(m.content));
        return this.run('chat', prompt, request.maxTokens, request.cacheKey, request.gate, request.onToken, request.ignoreEndOfGeneration, signal, request.onUsage);
    }

    async embed(texts: readonly string[], signal: AbortSignal): Promise<number[][]> {
        this.requireLoaded();
        const call: FakeCall = { op: 'embed', at: this.clock.now(), texts: texts.length };
        this.calls.push(call);
        await this.slots.acquire(signal);
        try {
            await sleep(this.clock, this.profile.embedMsPerText * texts.length, signal);
            this.takeFailure('embed');
            const dims = this.profile.embeddingDims;
            const out = texts.map((t) => {
                const v = new Array<number>(dims).fill(0);
                for (let i = 0; i < t.length; i++) v[i % dims] += t.charCodeAt(i) / 1000;
                return v;
            });
            call.outcome = 'ok';
            this.totals.requests++;
            return out;
        } catch (e) {
            call.outcome = signal.aborted ? 'aborted' : 'failed';
            if (!signal.aborted) this.totals.errors++;
            throw e;
        } finally {
            call.endAt = this.clock.now();
            this.slots.release();
        }
    }

    cachedTokens(cacheKey: string): number {
        // Like the llama.cpp backend: a sequence serving the key holds what it has evaluated so far.
        const live = this.serving.get(cacheKey);
        return live !== undefined ? live() : this.prefixes.held(cacheKey);
    }

    stats(): BackendStats {
        return {
            loaded: this.loaded,
            inFlight: this.slots.inUse,
            slots: this.spec?.slots ?? 1,
            ...this.totals,
            memory: this.profile.memory,
        };
    }

    private async run(
        op: 'generate' | 'chat',
        prompt: string[],
        maxTokens: number,
        cacheKey: string | undefined,
        gate: TokenGate | undefined,
        onToken: TokenListener | undefined,
        ignoreEog: boolean | undefined,
        signal: AbortSignal,
        onUsage?: (usage: CallUsage) => void,
    ): Promise<GenerationResult> {
        this.requireLoaded();
        const chunks: number[] = [];
        const call: FakeCall = { op, at: this.clock.now(), cacheKey, chunks };
        this.calls.push(call);
        const t0 = this.clock.now();
        await this.slots.acquire(signal);
        let listener: TokenListener | undefined = onToken;
        let prefilled = false;
        let reused = 0;
        // Prompt tokens after the reused prefix whose prefill chunks completed.
        let chunksDone = 0;
        let generated = 0;
        let completed = false;
        try {
            reused = this.prefixes.reusable(cacheKey, prompt);
            call.reusedPromptTokens = reused;
            if (cacheKey !== undefined) this.serving.set(cacheKey, () => (prefilled ? prompt.length : reused + chunksDone));
            const evaluated = prompt.length - reused;
            const p = this.profile;
            const chunk = Math.max(1, Math.floor(p.prefillChunkTokens));
            while (chunksDone < evaluated) {
                const w = gate?.wait(signal);
                if (w) await w;
                const n = Math.min(prefillChunkSize(chunk, gate), evaluated - chunksDone);
                chunks.push(n);
                await sleep(this.clock, (n * 1000) / p.promptTokensPerSec, signal);
                chunksDone += n;
            }
            await sleep(this.clock, p.firstTokenOverheadMs, signal);
            this.takeFailure(op);
            prefilled = true;
            this.totals.promptTokensEvaluated += evaluated;
            this.totals.promptTokensReused += reused;
            const limit = ignoreEog || p.endAfterTokens === undefined ? maxTokens : Math.min(maxTokens, p.endAfterTokens);
            let text = '';
            let firstTokenAt: number | undefined;
            for (let i = 0; i < limit; i++) {
                if (i > 0) {
                    const w = gate?.wait(signal);
                    if (w) await w;
                    await sleep(this.clock, 1000 / p.decodeTokensPerSec, signal);
                }
                if (signal.aborted) throw signal.reason;
                const piece = p.tokenText(i);
                text += piece;
                generated++;
                this.totals.generatedTokens++;
                firstTokenAt ??= this.clock.now();
                listener?.(piece);
            }
            const end = this.clock.now();
            this.prefixes.keep(cacheKey, prompt);
            const stopReason: StopReason = generated < maxTokens ? 'endOfGeneration' : 'maxTokens';
            call.outcome = 'ok';
            completed = true;
            this.totals.requests++;
            return {
                text,
                stopReason,
                promptTokens: prompt.length,
                reusedPromptTokens: reused,
                evaluatedPromptTokens: evaluated,
                generatedTokens: generated,
                firstTokenMs: firstTokenAt === undefined ? undefined : firstTokenAt - t0,
                totalMs: end - t0,
            };
        } catch (e) {
            call.outcome = signal.aborted ? 'aborted' : 'failed';
            if (!signal.aborted) this.totals.errors++;
            // Like the llama.cpp backend: an abort keeps what was evaluated (the reused prefix and the
            // completed chunks; after the prefill, the whole prompt); a failure keeps nothing.
            // A call without a key took a sequence too (KeyedPrefixCache).
            if (signal.aborted) this.prefixes.keep(cacheKey, prefilled ? prompt : prompt.slice(0, reused + chunksDone));
            else if (cacheKey !== undefined) this.prefixes.drop(cacheKey);
            throw e;
        } finally {
            if (cacheKey !== undefined) this.serving.delete(cacheKey);
            listener = undefined;
            call.endAt = this.clock.now();
            // As the llama.cpp backend, an aborted prefill counts the chunks that ran.
            if (!prefilled) this.totals.promptTokensEvaluated += chunksDone;
            reportUsage(onUsage, { reusedPromptTokens: reused, evaluatedPromptTokens: prefilled ? prompt.length - reused : chunksDone, generatedTokens: generated, completed });
            this.slots.release();
        }
    }

    private tokenize(text: string): string[] {
        if (this.profile.tokenCounting === 'whitespace') return text.split(/\s+/).filter((w) => w.length > 0);
        const out: string[] = [];
        for (let i = 0; i < text.length; i += 4) out.push(text.slice(i, i + 4));
        return out;
    }

    private takeFailure(op: FakeOp): void {
        const i = this.failures.findIndex((f) => f.ops.includes(op));
        if (i < 0) return;
        const f = this.failures[i];
        this.failures.splice(i, 1);
        throw f.error;
    }

    private requireLoaded(): void {
        if (!this.loaded) throw new Error(`fake backend ${this.spec?.id ?? '?'}: not loaded`);
    }

    private makeInfo(spec: ModelSpec): ModelInfo {
        if (spec.path.length === 0) throw new ModelFileError('missing', spec.path, 'no path given');
        const p = this.profile;
        const fim = spec.fimTemplate === 'none' ? undefined : spec.fimTemplate === 'auto' ? p.fim : spec.fimTemplate;
        return {
            id: spec.id,
            path: spec.path,
            architecture: 'fake',
            name: `fake ${spec.id}`,
            fim,
            hasChat: p.hasChat,
            embeddingDims: p.embeddingDims,
            embeddingSpace: p.embeddingSpace ?? `space-${spec.id}`,
            trainContextSize: spec.contextSize,
            contextSize: spec.contextSize,
            slots: spec.slots,
            estimatedMemory: p.memory,
            gpu: p.memory.vramBytes > 0,
        };
    }
}
