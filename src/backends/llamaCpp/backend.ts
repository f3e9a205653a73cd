/**
 * `LlamaCppBackend`: one GGUF model served through node-llama-cpp (llama.cpp in process).
 *
 * One instance per model file. The shared `Llama` binding comes from a `LlamaProvider`
 * (llamaProvider.ts); the file validator, the clock and the logger are passed in. This file holds
 * the public calls and their plumbing; describe.ts, load.ts, prompts.ts, generate.ts and embed.ts
 * do the work.
 *
 * Invariants:
 * - No file reaches llama.cpp before `validate` (TypeScript, never llama.cpp) accepted it: llama.cpp
 *   aborts the whole process on some malformed files, and the extension host is shared.
 * - The context has `spec.slots` sequences, all taken at load time into the model's
 *   `SequencePool` (which call gets which sequence, and which document's tokens each keeps); a
 *   request holds exactly one from acquire to its `finally`, so "No sequences left" cannot happen
 *   and no sequence leaks.
 * - Generation advances one token at a time: before each next token the request's gate is awaited
 *   and the abort signal checked. On abort the call rejects at once with `signal.reason`; the
 *   sequence is released when the native evaluation in progress (at most one prefill chunk or one
 *   token) returns, and `onToken` is never called after the call settled.
 *
 * Units: milliseconds (clock), tokens, bytes.
 */
import { Reservation, type EvalTurns } from '../../core/evalTurns';
import type { BackendStats, ChatRequest, GenerateRequest, GenerationResult, MemoryEstimate, ModelBackend, ModelInfo, ModelSpec } from '../../core/backend';
import type { Clock } from '../../core/clock';
import type { Priority, WaitState, WaitTag } from '../../core/scheduling';
import { ModelFileError, ModelRuntimeError, errorMessage } from '../../core/errors';
import { reportUsage } from '../../core/backend';
import type { LlamaRuntime } from '../llamaProvider';
import { inspectKey, inspectModel, type ModelFileValidator } from './describe';
import { embedTexts, embeddingContext } from './embed';
import { ListenerFailure, settleOnAbort } from '../calls';
import { generateOnSequence, nativeCalls, type TokenCounters, type Usage } from './generate';
import { loadModel, unloadModel } from './load';
import { mappedFileProblem, type Env, type Loaded } from './loaded';
import { prepareChat, prepareGenerate, tokenizeRecent, type PreparedPrompt } from './prompts';

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
     * per shape, and that work belongs to the load, not to the user's first completion. "always":
     * the CPU too (tests); "never": skip.
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

interface Counters extends TokenCounters {
    requests: number;
    errors: number;
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
    /** Work still running natively (it may outlive its call after an abort); unload awaits it. */
    private readonly active = new Set<Promise<unknown>>();
    private readonly env: Env;

    constructor(private readonly options: LlamaCppBackendOptions) {
        this.env = {
            clock: options.clock,
            log: options.log,
            chunk: Math.max(1, Math.floor(options.prefillChunkTokens ?? DEFAULT_PREFILL_CHUNK_TOKENS)),
            turns: options.turns,
            warmUp: options.warmUp ?? 'gpu',
            open: { contexts: 0 },
        };
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
        const loaded = await loadModel(this.env, spec, inspected, runtime, signal);
        this.state = loaded;
        this.lastInfo = loaded.info;
        this.counters = freshCounters();
        return loaded.info;
    }

    unload(): Promise<void> {
        if (this.unloading) return this.unloading;
        const loaded = this.state;
        if (!loaded) return this.loading ? this.loading.then(() => this.unload(), () => undefined) : Promise.resolve();
        const p = (async () => {
            this.state = undefined;
            await unloadModel(this.env, loaded, this.active);
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

    embed(texts: readonly string[], signal: AbortSignal, priority: Priority = 0, tag?: WaitTag): Promise<number[][]> {
        return this.serve(signal, 'embed', async (loaded, sig) => {
            const ctx = await embeddingContext(this.env.open, loaded);
            this.counters.embedsInFlight++;
            try {
                return await embedTexts(loaded, ctx, texts, nativeCalls(this.env, loaded, priority, sig, undefined, tag), sig);
            } finally {
                this.counters.embedsInFlight--;
            }
        });
    }

    countTokens(text: string): number {
        const loaded = this.state;
        // Not loaded: a rough estimate (about 4 characters a token for code and English).
        if (!loaded) return Math.ceil(text.length / 4);
        // Counted as a prompt's text part is tokenized, so the prompt reuses these tokens.
        return tokenizeRecent(loaded, text, 'trim').length;
    }

    cachedTokens(cacheKey: string): number {
        const loaded = this.state;
        if (!loaded) return 0;
        // A busy sequence serving the key holds what it has evaluated so far; an idle one its key's tokens.
        return loaded.pool.holding(cacheKey)?.nextTokenIndex ?? 0;
    }

    waits(): WaitState {
        return this.state?.pool.waits() ?? { waiting: [] };
    }

    stats(): BackendStats {
        const loaded = this.state;
        const c = this.counters;
        const busy = loaded?.pool.busy ?? 0;
        let memory: MemoryEstimate = ZERO_MEMORY;
        if (loaded) {
            const m = loaded.model.memoryUsage;
            const x = loaded.context.memoryUsage;
            memory = { ramBytes: m.ram + x.ram, vramBytes: m.vram + x.vram };
        }
        return {
            loaded: loaded !== undefined,
            inFlight: busy + c.embedsInFlight,
            slots: loaded?.pool.size ?? 0,
            promptTokensEvaluated: c.promptTokensEvaluated,
            promptTokensReused: c.promptTokensReused,
            generatedTokens: c.generatedTokens,
            requests: c.requests,
            errors: c.errors,
            memory,
            sequencesHeld: busy,
            contextsOpen: this.env.open.contexts,
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
        const broken = mappedFileProblem(loaded);
        if (broken) {
            this.counters.errors++;
            return Promise.reject(broken);
        }
        const startedAt = this.options.clock.now();
        this.counters.requests++;
        const combined = AbortSignal.any([signal, loaded.lifetime.signal]);
        const running = work(loaded, combined, startedAt);
        this.active.add(running);
        const forget = (): void => {
            this.active.delete(running);
        };
        running.then(forget, forget);
        return settleOnAbort(running, combined, (e) => {
            this.counters.errors++;
            if (e instanceof ListenerFailure) return e.cause;
            if (e instanceof ModelRuntimeError || e instanceof ModelFileError) return e;
            return new ModelRuntimeError(id, 'evaluationFailed', `${operation} failed in llama.cpp: ${errorMessage(e)}`, { cause: e });
        });
    }

    private async runOnSlot(loaded: Loaded, prompt: PreparedPrompt, signal: AbortSignal, startedAt: number): Promise<GenerationResult> {
        const slot = await loaded.pool.acquire({ key: prompt.cacheKey, tokens: prompt.tokens, priority: prompt.priority, tag: prompt.tag }, signal);
        let keepKey: string | undefined = prompt.cacheKey;
        // From its prefill to its first token a request keeps lower-priority calls of other models
        // off the evaluation thread (EvalTurns.reserve); generateOnSequence ends it sooner.
        const turns = this.env.turns && !loaded.info.gpu ? this.env.turns : undefined;
        const reservation = new Reservation(turns, prompt.priority, prompt.tag);
        const usage: Usage = { reachedSequence: false, reused: 0, begun: 0, generated: 0, completed: false };
        try {
            return await generateOnSequence(this.env, this.counters, loaded, slot.sequence, prompt, signal, startedAt, reservation, usage);
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
            loaded.pool.release(slot, keepKey);
        }
    }
}
