/**
 * `LlamaCppBackend`: one GGUF model served through node-llama-cpp (llama.cpp in process).
 *
 * One instance per model file. The shared `Llama` binding comes from a `LlamaProvider`
 * (llamaProvider.ts); the file validator, the clock and the logger are passed in.
 *
 * Invariants:
 * - No file reaches llama.cpp before `validate` (TypeScript, never llama.cpp) accepted it: llama.cpp
 *   aborts the whole process on some malformed files, and the extension host is shared.
 * - The context has `spec.slots` sequences, all taken at load time; a request holds exactly one slot
 *   from acquire to its `finally`, so "No sequences left" cannot happen and no slot leaks.
 * - A slot that served a `cacheKey` keeps that key (and its evaluated tokens) while idle; a request
 *   with the same key takes it back and evaluates only the tokens after the common prefix, waiting
 *   for it if it is still busy with the key. When no free slot is unkeyed, the least recently used
 *   idle slot loses its key (LRU eviction).
 * - Generation advances one token at a time: before each next token the request's gate is awaited
 *   and the abort signal checked. On abort the call rejects at once with `signal.reason`; the slot
 *   is released when the native evaluation in progress (at most one prefill chunk or one token)
 *   returns, and `onToken` is never called after the call settled.
 *
 * Units: milliseconds (clock), tokens, bytes.
 */
import * as path from 'node:path';
import type {
    LlamaContext,
    LlamaContextSequence,
    LlamaEmbeddingContext,
    LlamaModel,
    Token,
} from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import { Reservation, type EvalTurns } from '../../core/evalTurns';
import type {
    BackendStats,
    ChatRequest,
    GenerateRequest,
    GenerationResult,
    MemoryEstimate,
    ModelBackend,
    ModelInfo,
    ModelSpec,
    StopReason,
    TokenGate,
} from '../../core/backend';
import type { Clock } from '../../core/clock';
import { ModelFileError, ModelRuntimeError, errorMessage } from '../../core/errors';
import { commonPrefixLength } from '../../core/prefixCache';
import { RecentMemo } from '../../core/memo';
import { prefillChunkSize, reportUsage } from '../../core/backend';
import type { LlamaRuntime } from '../llamaProvider';
import { inspectKey, inspectModel, type ModelFileValidator } from './describe';
import type { Loaded, Slot } from './loaded';
import { TOKENIZED_TEXTS, chatWrapperFor, prepareChat, prepareGenerate, tokenizeRecent, type PreparedPrompt } from './prompts';
import { DETOKENIZER_LOOKBACK, TextStream } from './textStream';

export interface LlamaCppBackendOptions {
    /** The shared runtime (see `createLlamaProvider`); called on inspect/load. */
    readonly runtime: () => Promise<LlamaRuntime>;
    readonly clock: Clock;
    /** The GGUF validator (src/backends/ggufValidator.ts in production). Required: never skipped. */
    readonly validate: ModelFileValidator;
    readonly log?: (message: string) => void;
    /**
     * Prompt tokens evaluated per native call during prefill. Default DEFAULT_PREFILL_CHUNK_TOKENS.
     */
    readonly prefillChunkTokens?: number;
    /**
     * "gpu" (default): a model with layers on a GPU evaluates WARM_UP_TOKENS at load, in prefill
     * chunks and then one token, and forgets them: GPU backends build their kernels on first use,
     * per shape (Vulkan on an H100 with no shader cache: 6 s spread over the first prompts; a
     * 64-token warm-up moved 2.4 s of it into the load, a 1024-token one all of it; bench/FINDINGS.md
     * F20), and that belongs to the load, not to the user's first completion. "always": the CPU
     * too (tests); "never": skip.
     */
    readonly warmUp?: 'gpu' | 'always' | 'never';
    /**
     * Turns on the evaluation thread, shared by every backend whose model runs on the CPU in this
     * process (llama.cpp with one thread evaluates one call at a time across models): each native
     * call of a CPU model takes one, in the request's `priority` order. Absent: calls go to
     * llama.cpp as they come. GPU models never take turns (their calls run side by side).
     */
    readonly turns?: EvalTurns;
}

/**
 * Smaller chunks free the CPU sooner after an abort and let the gate pause a long prefill (another
 * model's completion waits for at most one chunk); larger ones evaluate a little faster. Measured
 * on the generated models, 1 thread, a 1,493-token prompt: 64 and 128 within noise of each other
 * (coder 3.0 / 2.8 s, reasoner 6.1 / 6.9 s, embedder 1.6 / 1.9 s); 32 is 1.6-1.8x slower.
 */
export const DEFAULT_PREFILL_CHUNK_TOKENS = 64;

/**
 * Tokens a GPU warm-up evaluates (see `LlamaCppBackendOptions.warmUp`): longer than the default
 * completion windows (512 + 128), so their kernels are built at load. Once the driver's shader
 * cache holds them (later sessions) the warm-up is a few tens of ms.
 */
export const WARM_UP_TOKENS = 1024;


/** Runs one native call (see `LlamaCppBackend.native`). */
type Native = <T>(fn: () => Promise<T>) => Promise<T>;

interface Waiter {
    readonly key: string | undefined;
    readonly tokens: readonly Token[];
    readonly resolve: (slot: Slot) => void;
    readonly reject: (reason: unknown) => void;
    readonly signal: AbortSignal;
    readonly onAbort: () => void;
}

/** What a call did on its sequence, filled in as it goes (reported as CallUsage once it reached it). */
interface Usage {
    reachedSequence: boolean;
    reused: number;
    /** Prompt tokens whose native call has begun. */
    begun: number;
    generated: number;
    completed: boolean;
}

interface Counters {
    requests: number;
    errors: number;
    promptTokensEvaluated: number;
    promptTokensReused: number;
    generatedTokens: number;
    embedsInFlight: number;
}

function freshCounters(): Counters {
    return {
        requests: 0,
        errors: 0,
        promptTokensEvaluated: 0,
        promptTokensReused: 0,
        generatedTokens: 0,
        embedsInFlight: 0,
    };
}

const ZERO_MEMORY: MemoryEstimate = { ramBytes: 0, vramBytes: 0 };

export class LlamaCppBackend implements ModelBackend {
    private state: Loaded | undefined;
    private loading: Promise<ModelInfo> | undefined;
    private unloading: Promise<void> | undefined;
    private lastInfo: ModelInfo | undefined;
    /** The last inspect's result, keyed by the spec and the file's size and mtime: load reuses it. */
    private inspected: { readonly key: string; readonly info: ModelInfo } | undefined;
    private counters = freshCounters();
    /** FIFO of requests waiting for a slot. */
    private waiters: Waiter[] = [];
    /** Work still running natively (it may outlive its call after an abort); unload awaits it. */
    private readonly active = new Set<Promise<unknown>>();
    private readonly chunk: number;

    constructor(private readonly options: LlamaCppBackendOptions) {
        this.chunk = Math.max(1, Math.floor(options.prefillChunkTokens ?? DEFAULT_PREFILL_CHUNK_TOKENS));
    }

    get info(): ModelInfo | undefined {
        return this.state?.info ?? this.lastInfo;
    }

    // ---------------------------------------------------------------- inspect / load / unload

    async inspect(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        const info = await inspectModel(spec, this.options, signal);
        this.lastInfo = info;
        const key = await inspectKey(spec);
        if (key !== undefined) this.inspected = { key, info };
        return info;
    }

    async load(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        if (this.unloading) await this.unloading;
        if (this.loading) await this.loading.catch(() => undefined);
        if (this.state) {
            if (this.state.spec.path === spec.path && this.state.spec.id === spec.id) return this.state.info;
            throw new ModelRuntimeError(spec.id, 'unsupported', `this backend already serves ${this.state.spec.path}; unload it first`);
        }
        const p = this.doLoad(spec, signal);
        this.loading = p;
        try {
            return await p;
        } finally {
            if (this.loading === p) this.loading = undefined;
        }
    }

    private async doLoad(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        // The router inspects before it loads: an unchanged file (same size and mtime) is not read again.
        const key = await inspectKey(spec);
        const cached = key !== undefined && this.inspected?.key === key ? this.inspected.info : undefined;
        const inspected = cached ?? (await this.inspect(spec, signal));
        signal.throwIfAborted();
        const runtime = await this.options.runtime();
        signal.throwIfAborted();
        const { llama } = runtime;
        const started = this.options.clock.now();
        const logMark = runtime.logMark();
        let model: LlamaModel;
        try {
            model = await llama.loadModel({
                modelPath: spec.path,
                gpuLayers: llama.gpu === false ? 0 : spec.gpuLayers,
                loadSignal: signal,
            });
        } catch (e) {
            signal.throwIfAborted();
            throw new ModelFileError('loadFailed', spec.path, `llama.cpp could not load it: ${llamaReason(runtime, logMark, e)}`);
        }
        let context: LlamaContext | undefined;
        try {
            signal.throwIfAborted();
            const contextSize = inspected.contextSize;
            context = await model.createContext({
                contextSize,
                sequences: spec.slots,
                batchSize: Math.min(512, contextSize),
                threads: spec.threads > 0 ? spec.threads : undefined,
                createSignal: signal,
                failedCreationRemedy: false,
            });
            const slots: Slot[] = [];
            for (let i = 0; i < spec.slots; i++) {
                slots.push({ index: i, sequence: context.getSequence(), busy: false, key: undefined, lastUsed: 0, serving: undefined });
            }
            const info: ModelInfo = { ...inspected, gpu: model.gpuLayers > 0 };
            const loaded: Loaded = {
                spec,
                info,
                runtime,
                model,
                context,
                slots,
                lifetime: new AbortController(),
                embedding: undefined,
                chatWrapper: undefined,
                fimIds: new Map(),
                tokenized: new RecentMemo(TOKENIZED_TEXTS),
            };
            // Compiling the chat template takes tens of milliseconds: at load, not on the first chat.
            if (info.hasChat) chatWrapperFor(loaded, this.options.log);
            if (spec.role === 'embedder') {
                loaded.embedding = this.createEmbeddingContext(loaded, signal);
                await loaded.embedding;
            }
            const warmUp = this.options.warmUp ?? 'gpu';
            if (warmUp === 'always' || (warmUp === 'gpu' && info.gpu)) await this.warmUp(loaded, signal);
            signal.throwIfAborted();
            this.state = loaded;
            this.lastInfo = info;
            this.counters = freshCounters();
            this.options.log?.(
                `${spec.id}: loaded ${path.basename(spec.path)} in ${Math.round(this.options.clock.now() - started)} ms ` +
                    `(${info.contextSize} tokens × ${spec.slots} slots, ${model.gpuLayers} GPU layers, fim ${info.fim ?? 'none'}, chat ${info.hasChat})`,
            );
            return info;
        } catch (e) {
            await context?.dispose().catch(() => undefined);
            await model.dispose().catch(() => undefined);
            signal.throwIfAborted();
            if (e instanceof ModelFileError) throw e;
            throw new ModelFileError(
                'loadFailed',
                spec.path,
                `llama.cpp loaded it but could not create a ${inspected.contextSize}-token context with ${spec.slots} slots: ${llamaReason(runtime, logMark, e)}`,
            );
        }
    }

    /**
     * Evaluates up to WARM_UP_TOKENS on the first slot as a request would (prefill chunks, then one
     * token), embeds a short text when the model embeds, and clears the slot again.
     */
    private async warmUp(loaded: Loaded, signal: AbortSignal): Promise<void> {
        const started = this.options.clock.now();
        const sequence = loaded.slots[0].sequence;
        const unit = loaded.model.tokenize(' warm', false, 'trimLeadingSpace');
        const n = Math.min(WARM_UP_TOKENS, loaded.info.contextSize - 1);
        const tokens: Token[] = [];
        while (unit.length > 0 && tokens.length < n) tokens.push(...unit);
        const native = this.native(loaded, Number.NEGATIVE_INFINITY, signal);
        if (tokens.length >= n && n >= 2) {
            await this.prefillChunks(sequence, tokens, 0, n - 1, () => signal.throwIfAborted(), native, () => undefined);
            await native(() => sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(n - 1, n)));
            await sequence.clearHistory();
        }
        const embedding = loaded.embedding && (await loaded.embedding);
        if (embedding) await native(() => embedding.getEmbeddingFor('warm'));
        this.options.log?.(`${loaded.spec.id}: warmed up in ${Math.round(this.options.clock.now() - started)} ms`);
    }

    /**
     * Evaluates tokens[from, to) in chunks of `this.chunk` (or fewer tokens, as the gate's
     * `chunkTokens` says once `before` has passed), awaiting `before` ahead of each chunk; each chunk
     * is one native call (`native`), counted by `begin(n)` as that call begins.
     */
    private async prefillChunks(
        sequence: LlamaContextSequence,
        tokens: readonly Token[],
        from: number,
        to: number,
        before: () => Promise<void> | void,
        native: Native,
        begin: (n: number) => void,
        gate?: TokenGate,
    ): Promise<void> {
        for (let pos = from; pos < to; ) {
            await before();
            const end = Math.min(to, pos + prefillChunkSize(this.chunk, gate));
            await native(() => {
                begin(end - pos);
                return sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(pos, end));
            });
            pos = end;
        }
    }

    /**
     * Wraps one native call of `loaded`'s model: within a turn (`options.turns`, at `priority`) for a
     * CPU model, as is otherwise. `gateWait`: the request's gate, asked again when the turn comes.
     */
    private native(loaded: Loaded, priority: number, signal: AbortSignal, gateWait?: () => Promise<void> | undefined): Native {
        const turns = this.options.turns;
        if (!turns || loaded.info.gpu) return (fn) => fn();
        return (fn) => turns.run(priority, signal, fn, gateWait);
    }

    unload(): Promise<void> {
        if (this.unloading) return this.unloading;
        const loaded = this.state;
        if (!loaded) return this.loading ? this.loading.then(() => this.unload(), () => undefined) : Promise.resolve();
        const p = (async () => {
            this.state = undefined;
            loaded.lifetime.abort(new ModelRuntimeError(loaded.spec.id, 'notLoaded', 'the model was unloaded while the call was running'));
            await Promise.allSettled([...this.active]);
            const embedding = await loaded.embedding?.catch(() => undefined);
            await embedding?.dispose().catch(() => undefined);
            await loaded.context.dispose().catch(() => undefined);
            await loaded.model.dispose().catch(() => undefined);
            this.options.log?.(`${loaded.spec.id}: unloaded`);
        })();
        this.unloading = p;
        return p.finally(() => {
            if (this.unloading === p) this.unloading = undefined;
        });
    }

    // ---------------------------------------------------------------- requests

    generate(request: GenerateRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.serve(signal, 'generate', async (loaded, sig, startedAt) => {
            const prepared = prepareGenerate(loaded, request);
            return this.runOnSlot(loaded, prepared, sig, startedAt);
        });
    }

    chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.serve(signal, 'chat', async (loaded, sig, startedAt) => {
            const prepared = prepareChat(loaded, request, this.options.log);
            return this.runOnSlot(loaded, prepared, sig, startedAt);
        });
    }

    embed(texts: readonly string[], signal: AbortSignal, priority = 0): Promise<number[][]> {
        return this.serve(signal, 'embed', async (loaded, sig) => {
            loaded.embedding ??= this.createEmbeddingContext(loaded, loaded.lifetime.signal);
            const ctx = await loaded.embedding;
            const native = this.native(loaded, priority, sig);
            const out: number[][] = [];
            this.counters.embedsInFlight++;
            try {
                for (const text of texts) {
                    sig.throwIfAborted();
                    const tokens = this.embeddingInput(loaded, text);
                    const embedding = await native(() => ctx.getEmbeddingFor(tokens));
                    if (embedding.vector.length !== loaded.info.embeddingDims) {
                        throw new ModelRuntimeError(
                            loaded.spec.id,
                            'unsupported',
                            `embedding has ${embedding.vector.length} dimensions, expected ${loaded.info.embeddingDims}`,
                        );
                    }
                    out.push(Array.from(embedding.vector));
                }
            } finally {
                this.counters.embedsInFlight--;
            }
            return out;
        });
    }

    countTokens(text: string): number {
        const loaded = this.state;
        // Not loaded: a rough estimate (about 4 characters a token for code and English).
        if (!loaded) return Math.ceil(text.length / 4);
        return tokenizeRecent(loaded, text, 'plain').length;
    }

    cachedTokens(cacheKey: string): number {
        const loaded = this.state;
        if (!loaded) return 0;
        // A busy slot serving the key holds what it has evaluated so far; an idle one its key's tokens.
        for (const s of loaded.slots) if (s.serving === cacheKey || (!s.busy && s.key === cacheKey)) return s.sequence.nextTokenIndex;
        return 0;
    }

    stats(): BackendStats {
        const loaded = this.state;
        const c = this.counters;
        const busy = loaded ? loaded.slots.filter((s) => s.busy).length : 0;
        let memory: MemoryEstimate = ZERO_MEMORY;
        if (loaded) {
            const m = loaded.model.memoryUsage;
            const x = loaded.context.memoryUsage;
            memory = { ramBytes: m.ram + x.ram, vramBytes: m.vram + x.vram };
        }
        return {
            loaded: loaded !== undefined,
            inFlight: busy + c.embedsInFlight,
            slots: loaded?.slots.length ?? 0,
            promptTokensEvaluated: c.promptTokensEvaluated,
            promptTokensReused: c.promptTokensReused,
            generatedTokens: c.generatedTokens,
            requests: c.requests,
            errors: c.errors,
            memory,
        };
    }

    // ---------------------------------------------------------------- request plumbing

    /**
     * Runs `work` for a loaded model. The returned promise rejects with `signal.reason` as soon as
     * `signal` aborts (or with a notLoaded error when the model is unloaded), even while `work` is
     * still inside a native call; `work` sees the combined signal and cleans up in its own time.
     * Errors that are neither aborts nor typed become `ModelRuntimeError('evaluationFailed')`.
     */
    private serve<T>(
        signal: AbortSignal,
        operation: string,
        work: (loaded: Loaded, signal: AbortSignal, startedAt: number) => Promise<T>,
    ): Promise<T> {
        if (signal.aborted) return Promise.reject(signal.reason);
        const loaded = this.state;
        const id = loaded?.spec.id ?? this.lastInfo?.id ?? 'model';
        if (!loaded) return Promise.reject(new ModelRuntimeError(id, 'notLoaded', `${operation}: the model is not loaded`));
        const startedAt = this.options.clock.now();
        this.counters.requests++;
        const combined = AbortSignal.any([signal, loaded.lifetime.signal]);
        const running = work(loaded, combined, startedAt);
        this.active.add(running);
        const forget = (): void => {
            this.active.delete(running);
        };
        running.then(forget, forget);
        return new Promise<T>((resolve, reject) => {
            let settled = false;
            const onAbort = (): void => {
                if (settled) return;
                settled = true;
                reject(combined.reason);
            };
            combined.addEventListener('abort', onAbort, { once: true });
            running.then(
                (value) => {
                    combined.removeEventListener('abort', onAbort);
                    if (settled) return;
                    settled = true;
                    resolve(value);
                },
                (e: unknown) => {
                    combined.removeEventListener('abort', onAbort);
                    if (settled) return;
                    settled = true;
                    if (combined.aborted) {
                        reject(combined.reason);
                        return;
                    }
                    this.counters.errors++;
                    if (e instanceof ListenerFailure) reject(e.cause);
                    else if (e instanceof ModelRuntimeError || e instanceof ModelFileError) reject(e);
                    else reject(new ModelRuntimeError(id, 'evaluationFailed', `${operation} failed in llama.cpp: ${errorMessage(e)}`, { cause: e }));
                },
            );
        });
    }

    private async runOnSlot(loaded: Loaded, prompt: PreparedPrompt, signal: AbortSignal, startedAt: number): Promise<GenerationResult> {
        const slot = await this.acquire(loaded, prompt.cacheKey, prompt.tokens, signal);
        let keepKey: string | undefined = prompt.cacheKey;
        // From its prefill to its first token a request keeps lower-priority calls of other models
        // off the evaluation thread (EvalTurns.reserve); generateOnSequence ends it sooner.
        const turns = this.options.turns && !loaded.info.gpu ? this.options.turns : undefined;
        const reservation = new Reservation(turns, prompt.priority);
        const usage: Usage = { reachedSequence: false, reused: 0, begun: 0, generated: 0, completed: false };
        try {
            return await this.generateOnSequence(loaded, slot.sequence, prompt, signal, startedAt, reservation, usage);
        } catch (e) {
            if (!signal.aborted && !(e instanceof ListenerFailure)) {
                // After a native failure the sequence's state is not trusted: start it afresh.
                keepKey = undefined;
                await slot.sequence.clearHistory().catch(() => undefined);
            }
            throw e;
        } finally {
            reservation.end();
            if (usage.reachedSequence) {
                reportUsage(prompt.onUsage, { reusedPromptTokens: usage.reused, evaluatedPromptTokens: usage.begun, generatedTokens: usage.generated, completed: usage.completed });
            }
            this.release(loaded, slot, keepKey);
        }
    }

    /**
     * The token loop. The caller holds `sequence` (one slot) for the whole call; `reservation` is its
     * claim on the evaluation thread (ended at the first token, suspended while the gate holds it).
     * `usage` is filled in as the call goes.
     */
    private async generateOnSequence(
        loaded: Loaded,
        sequence: LlamaContextSequence,
        prompt: PreparedPrompt,
        signal: AbortSignal,
        startedAt: number,
        reservation: Reservation,
        usage: Usage,
    ): Promise<GenerationResult> {
        const { model } = loaded;
        const clock = this.options.clock;
        const tokens = prompt.tokens;
        const contextSize = sequence.contextSize;
        if (tokens.length === 0) throw new ModelRuntimeError(loaded.spec.id, 'unsupported', 'the prompt is empty');
        if (tokens.length >= contextSize) {
            throw new ModelRuntimeError(loaded.spec.id, 'promptTooLong', `the prompt has ${tokens.length} tokens; the context holds ${contextSize} per slot`);
        }
        const maxTokens = Math.max(0, Math.min(prompt.maxTokens, contextSize - tokens.length));

        // Prefix reuse: keep the common prefix, erase the diverging tail, evaluate the rest. At least
        // the last prompt token is evaluated, to get the logits of the first new token.
        const common = sequence.compareContextTokens(tokens).firstDifferentIndex;
        const keep = Math.min(common, tokens.length - 1);
        if (sequence.nextTokenIndex > keep) {
            await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
        }
        // The library may keep fewer tokens than asked (e.g. models that cannot erase a suffix).
        const reused = Math.min(sequence.nextTokenIndex, keep);
        if (sequence.nextTokenIndex > reused) await sequence.eraseContextTokenRanges([{ start: reused, end: sequence.nextTokenIndex }]);
        this.counters.promptTokensReused += reused;
        usage.reachedSequence = true;
        usage.reused = reused;
        // Counted as each native call begins: an aborted prefill counts the chunks that ran.
        const begin = (n: number): void => {
            usage.begun += n;
            this.counters.promptTokensEvaluated += n;
        };

        // The gate's pending wait, if it is closed.
        const gateWait = (): Promise<void> | undefined => {
            signal.throwIfAborted();
            const wait = prompt.gate?.wait(signal);
            if (!wait) return undefined;
            // Paused: others may use the thread meanwhile.
            reservation.suspend();
            return wait.then(() => {
                signal.throwIfAborted();
                reservation.resume();
            });
        };
        const pass = async (): Promise<void> => {
            await gateWait();
            signal.throwIfAborted();
        };

        const native = this.native(loaded, prompt.priority, signal, gateWait);
        // The gate and the signal are also checked between prefill chunks.
        await this.prefillChunks(sequence, tokens, reused, tokens.length - 1, pass, native, begin, prompt.gate);
        await pass();

        const stream = new TextStream(model, tokens.slice(-DETOKENIZER_LOOKBACK), prompt.stopStrings, (piece) => {
            if (signal.aborted || !prompt.onToken) return;
            try {
                prompt.onToken(piece);
            } catch (e) {
                throw new ListenerFailure(e);
            }
        });
        const generated: Token[] = [];
        let stopReason: StopReason = 'maxTokens';
        let firstTokenAt: number | undefined;

        if (maxTokens === 0) {
            // Prefill only (e.g. warming a document's prefix): the whole prompt enters the sequence.
            await native(() => {
                begin(1);
                return sequence.evaluateWithoutGeneratingNewTokens([tokens[tokens.length - 1]]);
            });
        } else {
            const iterator = sequence.evaluateWithMetadata(
                [tokens[tokens.length - 1]],
                { probabilities: prompt.ignoreEndOfGeneration },
                { temperature: prompt.temperature, seed: prompt.seed, yieldEogToken: true },
            );
            try {
                // Each step of the iterator evaluates one token: one native call.
                let next = await native(() => {
                    begin(1);
                    return iterator.next();
                });
                for (;;) {
                    if (next.done) {
                        stopReason = 'endOfGeneration';
                        break;
                    }
                    const output: { readonly token: Token; readonly probabilities?: Map<Token, number> } = next.value;
                    const sampled = output.token;
                    let token: Token | undefined = sampled;
                    if (model.isEogToken(sampled) || prompt.stopTokens.has(sampled)) {
                        token = prompt.ignoreEndOfGeneration ? bestOtherToken(output.probabilities, model, prompt.stopTokens) : undefined;
                        if (token === undefined) {
                            stopReason = 'endOfGeneration';
                            break;
                        }
                    }
                    signal.throwIfAborted();
                    if (firstTokenAt === undefined) {
                        firstTokenAt = clock.now();
                        reservation.end();
                    }
                    generated.push(token);
                    usage.generated++;
                    this.counters.generatedTokens++;
                    if (stream.push(token)) {
                        stopReason = 'stopString';
                        break;
                    }
                    if (generated.length >= maxTokens) {
                        stopReason = 'maxTokens';
                        break;
                    }
                    await pass();
                    next = await native(() => iterator.next(token === sampled ? undefined : token));
                }
            } finally {
                await iterator.return();
            }
        }
        signal.throwIfAborted();
        if (stopReason !== 'stopString') stream.flush();

        const end = clock.now();
        usage.completed = true;
        return {
            text: stream.text,
            stopReason,
            promptTokens: tokens.length,
            reusedPromptTokens: reused,
            evaluatedPromptTokens: tokens.length - reused,
            generatedTokens: generated.length,
            firstTokenMs: firstTokenAt === undefined ? undefined : firstTokenAt - startedAt,
            totalMs: end - startedAt,
        };
    }

    // ---------------------------------------------------------------- embeddings

    private createEmbeddingContext(loaded: Loaded, signal: AbortSignal): Promise<LlamaEmbeddingContext> {
        const p = loaded.model.createEmbeddingContext({
            contextSize: loaded.info.contextSize,
            batchSize: loaded.info.contextSize,
            threads: loaded.spec.threads > 0 ? loaded.spec.threads : undefined,
            createSignal: signal,
        });
        // A failed creation is retried by the next embed call.
        p.catch(() => {
            if (loaded.embedding === p) loaded.embedding = undefined;
        });
        return p;
    }

    /**
     * Tokens for one text, cut to fit the embedding context (node-llama-cpp adds the BOS/EOS the
     * model expects and needs the input strictly shorter than the context); never empty.
     */
    private embeddingInput(loaded: Loaded, text: string): Token[] {
        let tokens = loaded.model.tokenize(text, false);
        const room = loaded.info.contextSize - 3;
        if (tokens.length > room) tokens = tokens.slice(0, room);
        if (tokens.length === 0) tokens = loaded.model.tokenize(' ', false);
        return tokens;
    }

    // ---------------------------------------------------------------- slots

    private acquire(loaded: Loaded, key: string | undefined, tokens: readonly Token[], signal: AbortSignal): Promise<Slot> {
        signal.throwIfAborted();
        const free = this.pickFreeSlot(loaded, key, tokens);
        if (free && this.waiters.length === 0) {
            free.busy = true;
            free.serving = key;
            return Promise.resolve(free);
        }
        return new Promise<Slot>((resolve, reject) => {
            const onAbort = (): void => {
                this.waiters = this.waiters.filter((w) => w !== waiter);
                reject(signal.reason);
            };
            const waiter: Waiter = { key, tokens, resolve, reject, signal, onAbort };
            this.waiters.push(waiter);
            signal.addEventListener('abort', onAbort, { once: true });
            this.dispatch(loaded);
        });
    }

    private release(loaded: Loaded, slot: Slot, key: string | undefined): void {
        slot.busy = false;
        slot.serving = undefined;
        slot.lastUsed = this.options.clock.now();
        if (key !== undefined) {
            // The freshest state for a key is the one just released.
            for (const other of loaded.slots) if (other !== slot && !other.busy && other.key === key) other.key = undefined;
        }
        slot.key = key;
        this.dispatch(loaded);
    }

    /** Hands free slots to waiters in FIFO order. */
    private dispatch(loaded: Loaded): void {
        while (this.waiters.length > 0) {
            const waiter = this.waiters[0];
            const slot = this.pickFreeSlot(loaded, waiter.key, waiter.tokens);
            if (!slot) return;
            this.waiters.shift();
            waiter.signal.removeEventListener('abort', waiter.onAbort);
            slot.busy = true;
            slot.serving = waiter.key;
            waiter.resolve(slot);
        }
    }

    /**
     * The key's own idle slot; none while a busy slot serves the key (the request waits for it);
     * else the unkeyed idle slot sharing the longest prefix with `tokens` (ties: least recently
     * used); else the least recently used idle slot, whose key is evicted.
     */
    private pickFreeSlot(loaded: Loaded, key: string | undefined, tokens: readonly Token[]): Slot | undefined {
        const free = loaded.slots.filter((s) => !s.busy);
        if (free.length === 0) return undefined;
        if (key !== undefined) {
            const own = free.find((s) => s.key === key);
            if (own) return own;
            // The key's tokens are in a slot still finishing a call (an aborted one ends with its
            // chunk in flight): waiting for it costs at most one chunk; another slot would evaluate
            // the whole prompt again (measured: 66 of 484 tokens reused instead of 428).
            if (loaded.slots.some((s) => s.busy && s.serving === key)) return undefined;
        }
        const byAge = [...free].sort((a, b) => a.lastUsed - b.lastUsed);
        let best: Slot | undefined;
        let bestShared = -1;
        for (const s of byAge) {
            if (s.key !== undefined) continue;
            const shared = commonPrefixLength(s.sequence.contextTokens, tokens);
            if (shared > bestShared) {
                best = s;
                bestShared = shared;
            }
        }
        if (best) return best;
        const lru = byAge[0];
        lru.key = undefined;
        return lru;
    }

}

// -------------------------------------------------------------------- helpers

/** The caller's onToken threw: the call rejects with that error, and the sequence stays trusted. */
class ListenerFailure extends Error {
    constructor(override readonly cause: unknown) {
        super(`onToken threw: ${errorMessage(cause)}`);
    }
}


/** The reason llama.cpp logged for a failure since `mark` ("error loading model: ..."), else the exception's message. */
function llamaReason(runtime: LlamaRuntime, mark: number, e: unknown): string {
    const lines = runtime.errorsSince(mark);
    for (const line of lines) {
        const m = /error loading model:\s*(.+)/.exec(line);
        if (m) return m[1].trim();
    }
    const last = lines.at(-1)?.trim();
    return last ? `${errorMessage(e)} (llama.cpp: ${last})` : errorMessage(e);
}

/** The most probable token that neither ends generation nor is a stop token (ignoreEndOfGeneration). */
function bestOtherToken(probabilities: Map<Token, number> | undefined, model: LlamaModel, stops: ReadonlySet<Token>): Token | undefined {
    if (!probabilities) return undefined;
    for (const token of probabilities.keys()) {
        if (!model.isEogToken(token) && !stops.has(token)) return token;
    }
    return undefined;
}







