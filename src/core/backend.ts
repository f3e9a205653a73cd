/**
 * The contract between the router (src/core) and a model backend (src/backends).
 *
 * One `ModelBackend` instance serves one model file. The node-llama-cpp backend, the
 * deterministic fake used by unit tests and the benchmark's simulated backend all implement it,
 * so the router never knows which one it drives.
 *
 * Units: times in milliseconds, sizes in bytes, counts in tokens unless a name says otherwise.
 */
import type { Priority, WaitState, WaitTag } from './scheduling';

/** What a model is for. Roles, not sizes, are the concept: users name their own files. */
export type Role = 'coder' | 'reasoner' | 'embedder';
export const ROLES: readonly Role[] = ['coder', 'reasoner', 'embedder'];

/** Fill-in-the-middle prompt families Zeta knows (see src/core/fim.ts). */
export type FimFamily = 'qwen' | 'deepseek' | 'codellama' | 'starcoder2' | 'codestral';
export const FIM_FAMILIES: readonly FimFamily[] = ['qwen', 'deepseek', 'codellama', 'starcoder2', 'codestral'];

/** The HTTP APIs Zeta speaks to engines in other processes or on other machines. */
export type RemoteApi = 'llama-server' | 'openai';

/**
 * A model served by an engine outside this process: a llama-server (its native API) or any
 * OpenAI-compatible engine (vLLM, Ollama, LM Studio, llama-server's /v1). Code sent to it leaves the
 * editor's process: only models the user configured are remote.
 */
export interface RemoteEndpoint {
    readonly api: RemoteApi;
    /** Base URL without a trailing slash or `/v1`, e.g. `http://127.0.0.1:8080`. */
    readonly url: string;
    /** The `model` field for OpenAI-compatible engines (undefined: the engine's first `/v1/models` entry). */
    readonly model?: string;
    /** Bearer token, read from the editor's secret storage by the composition root; never from settings. */
    readonly apiKey?: string;
    /**
     * The user's declared identity of the served model (e.g. its file name and size), for engines that
     * cannot tell it (`/props` absent): an embedding index built through this engine belongs to it.
     */
    readonly identity?: string;
}

export interface ModelSpec {
    /** Stable id used by the router, logs and the load view; by default the role name. */
    readonly id: string;
    readonly role: Role;
    /** Absolute path of the GGUF file; for a remote model, its endpoint's URL. */
    readonly path: string;
    /**
     * Set for a model served by a remote engine: `path` is then the URL, and contextSize, slots,
     * threads and gpuLayers are the engine's own (a backend reads them from the engine where it can).
     */
    readonly remote?: RemoteEndpoint;
    /** Context size per model in tokens, shared by its sequences. Always a finite cap, never "auto". */
    readonly contextSize: number;
    /** Parallel sequences (slots) on the model's context; >= 1. */
    readonly slots: number;
    /** CPU threads for evaluation; 0 lets node-llama-cpp decide. Tests and benchmarks here use 1. */
    readonly threads: number;
    /** Layers offloaded to a GPU: "auto" when one is present, 0 forces the CPU. */
    readonly gpuLayers: 'auto' | number;
    /** Fill-in-the-middle template: detected from metadata ("auto"), forced, or disabled ("none"). */
    readonly fimTemplate: FimFamily | 'auto' | 'none';
    /** Refuse to load when the estimated memory need exceeds this many bytes (undefined: no limit). */
    readonly memoryBudgetBytes?: number;
}

/** What a backend learned about a model file, before or after loading it. */
export interface ModelInfo {
    readonly id: string;
    readonly path: string;
    /** `general.architecture`, e.g. "llama", "qwen2". */
    readonly architecture: string;
    /** `general.name`, or the file name when absent. */
    readonly name: string;
    /** The fill-in-the-middle family in force (detected or forced), undefined when it cannot infill. */
    readonly fim: FimFamily | undefined;
    /** True when the model has a chat template usable for chat(). */
    readonly hasChat: boolean;
    /** Embedding vector length (the model's embedding width). */
    readonly embeddingDims: number;
    /**
     * Identity of the model's embedding space: vectors from two models are comparable only when
     * these are equal. Derived from the file's content metadata (not its path), so a moved file keeps it.
     */
    readonly embeddingSpace: string;
    /**
     * How the model pools token vectors into one embedding, as its file declares it (`mean`, `cls`,
     * `last`, `none`, `rank`); undefined when the file does not say (llama.cpp's default applies).
     */
    readonly embeddingPooling?: string;
    readonly trainContextSize: number;
    /** Context size actually used (<= spec.contextSize). */
    readonly contextSize: number;
    readonly slots: number;
    /** Estimated memory need for the model and its context, from node-llama-cpp's estimates. */
    readonly estimatedMemory: MemoryEstimate;
    /** True when layers are offloaded to a GPU. */
    readonly gpu: boolean;
    /** Set for a model served by a remote engine. */
    readonly remote?: { readonly api: RemoteApi; readonly url: string };
}

export interface MemoryEstimate {
    /** Host memory in bytes. */
    readonly ramBytes: number;
    /** GPU memory in bytes (0 on CPU). */
    readonly vramBytes: number;
}

/**
 * Lets the caller hold a generation between tokens. `wait` returns undefined when the gate is open
 * (the fast path costs no promise), or a promise that resolves when it opens again. When `signal`
 * aborts while waiting, the promise rejects with `signal.reason`.
 */
export interface TokenGate {
    wait(signal: AbortSignal): Promise<void> | undefined;
    /**
     * The most prompt tokens the next prefill chunk may evaluate, asked before each chunk;
     * undefined (or no method): the backend's own chunk size. A native call cannot be stopped once
     * begun, so on an evaluation thread shared by several models a smaller chunk lets a
     * higher-priority call start sooner, at the cost of more calls.
     */
    chunkTokens?(): number | undefined;
}

/** Tokens in a request's next prefill chunk: `chunk`, or fewer (at least 1) when its gate caps it. */
export function prefillChunkSize(chunk: number, gate: TokenGate | undefined): number {
    const cap = gate?.chunkTokens?.();
    return cap === undefined || !(cap < chunk) ? chunk : Math.max(1, Math.floor(cap));
}

/** How the schedulers name a call that carries no `WaitTag` (a model's warm-up, a test's call). */
export const UNTAGGED_CALL: WaitTag = { taskId: 0, label: 'a call without a task' };

/** Called once per generated piece of text, in order. Never called after the call settles. */
export type TokenListener = (text: string) => void;

/**
 * What one generate or chat call computed on its sequence, reported once when it ends, however it
 * ends. A call that ends before it reaches a sequence (aborted while waiting for a slot or its turn,
 * or refused) reports nothing.
 */
export interface CallUsage {
    /** Prompt tokens taken from the sequence instead of being evaluated. */
    readonly reusedPromptTokens: number;
    /**
     * Prompt tokens evaluated after them. For a call aborted during its prefill: the chunks whose
     * native call started (a started chunk runs to its end and stays in the sequence).
     */
    readonly evaluatedPromptTokens: number;
    readonly generatedTokens: number;
    /** The call returned its result (it was neither aborted nor failed). */
    readonly completed: boolean;
}

/** Backends call this once per call that reached its sequence; a throwing listener is ignored. */
export function reportUsage(listener: ((usage: CallUsage) => void) | undefined, usage: CallUsage): void {
    try {
        listener?.(usage);
    } catch {
        // Accounting only: it never fails the call.
    }
}

export interface GenerateRequest {
    /** "raw": `prompt` is evaluated as is. "fim": the model's FIM template wraps prefix and suffix. */
    readonly mode: 'raw' | 'fim';
    readonly prompt?: string;
    readonly prefix?: string;
    readonly suffix?: string;
    /**
     * FIM only: the start of the middle, i.e. the text before the cursor from a line start at or
     * above the cursor line, with `prefix` ending there. Templates whose middle can begin with given
     * text put it after the middle marker, as llama.cpp's /infill does with its `prompt` field:
     * typing then only appends to the prompt, and the suffix's evaluated tokens are reused. Other
     * templates append it to the prefix (see `FimTemplate.parts`).
     */
    readonly middle?: string;
    readonly maxTokens: number;
    /** 0 (the default) means greedy decoding: deterministic. */
    readonly temperature?: number;
    readonly seed?: number;
    /** Generation stops before any of these strings; they are not part of the result. */
    readonly stop?: readonly string[];
    /**
     * Prefix reuse: requests with the same key (for completions, the document URI) may reuse the
     * evaluated tokens the previous request of that key left in its sequence.
     */
    readonly cacheKey?: string;
    readonly gate?: TokenGate;
    readonly onToken?: TokenListener;
    /** Never sample end-of-generation tokens (tests and benchmarks that need exactly maxTokens). */
    readonly ignoreEndOfGeneration?: boolean;
    /**
     * Order among the calls waiting for a sequence of this model and for a turn on an evaluation
     * thread shared by several models (see EvalTurns); higher first. Default 0.
     */
    readonly priority?: Priority;
    /** Names the call to the schedulers it waits in (`waits()`): the router's task. Default UNTAGGED_CALL. */
    readonly tag?: WaitTag;
    /** Accounting: what the call computed (see CallUsage). A throwing listener is ignored. */
    readonly onUsage?: (usage: CallUsage) => void;
}

export type ChatRole = 'system' | 'user' | 'assistant';
export interface ChatMessage {
    readonly role: ChatRole;
    readonly content: string;
}

export interface ChatRequest {
    readonly messages: readonly ChatMessage[];
    readonly maxTokens: number;
    readonly temperature?: number;
    readonly seed?: number;
    readonly cacheKey?: string;
    readonly gate?: TokenGate;
    readonly onToken?: TokenListener;
    readonly ignoreEndOfGeneration?: boolean;
    /** See `GenerateRequest.priority`. */
    readonly priority?: Priority;
    /** See `GenerateRequest.tag`. */
    readonly tag?: WaitTag;
    /** See `GenerateRequest.onUsage`. */
    readonly onUsage?: (usage: CallUsage) => void;
}

export type StopReason = 'endOfGeneration' | 'maxTokens' | 'stopString';

export interface GenerationResult {
    readonly text: string;
    readonly stopReason: StopReason;
    /** Tokens in the whole prompt. */
    readonly promptTokens: number;
    /** Prompt tokens taken from a kept sequence instead of being evaluated. */
    readonly reusedPromptTokens: number;
    /** Prompt tokens actually evaluated (promptTokens - reusedPromptTokens). */
    readonly evaluatedPromptTokens: number;
    readonly generatedTokens: number;
    /** From the call to the first generated token; undefined when none was generated. */
    readonly firstTokenMs: number | undefined;
    readonly totalMs: number;
}

/** Live, measured numbers. `stats()` returns a fresh copy each call. */
export interface BackendStats {
    readonly loaded: boolean;
    /** Sequences currently generating or embedding. */
    readonly inFlight: number;
    readonly slots: number;
    /** Totals since load. Speeds are measured by the router (LoadMonitor), not here. */
    readonly promptTokensEvaluated: number;
    readonly promptTokensReused: number;
    readonly generatedTokens: number;
    readonly requests: number;
    readonly errors: number;
    readonly memory: MemoryEstimate;
    /**
     * Sequences held now by a call, from the call's acquire to its release (a call aborted while a
     * native evaluation runs holds its sequence until that evaluation returns). 0 when idle: a
     * higher number with nothing running is a leak.
     */
    readonly sequencesHeld: number;
    /**
     * Native contexts this backend created and has not yet disposed, embedding contexts included
     * (a backend without native contexts counts one per loaded model). 0 after unload: anything
     * else is a leak.
     */
    readonly contextsOpen: number;
}

/**
 * A remote engine's live load as the engine itself reports it (llama-server's `/slots` and
 * `/metrics`, vLLM's Prometheus metrics), every client's work included, plus the network time
 * measured to it. A fresh copy each call; cheap (the router reads it once per candidate per decision).
 */
export interface RemoteLoad {
    readonly api: RemoteApi;
    readonly url: string;
    /** Clock ms of the newest successful poll; undefined before the first. */
    readonly at: number | undefined;
    /** False after a poll or call failed to reach the engine (refused, timed out, 5xx, 401). */
    readonly reachable: boolean;
    /** Why the engine was unreachable, in words. */
    readonly error?: string;
    /** Slots (parallel sequences) the engine has; undefined when it does not say. */
    readonly slots: number | undefined;
    /** Slots processing now, over all clients (ours included). */
    readonly slotsBusy: number;
    /** Requests waiting in the engine's own queue for a slot, over all clients. */
    readonly deferred: number;
    /** Our own calls in flight to the engine now (so slotsBusy - ownInFlight is other clients' work). */
    readonly ownInFlight: number;
    /**
     * Tokens still to generate on the busy slots, over all clients, where the engine tells each
     * slot's budget and progress (llama-server's `/slots`); undefined when it does not.
     */
    readonly busyRemainingTokens: number | undefined;
    /** Generation speed the engine reports (tokens per second over all slots); undefined when it does not. */
    readonly decodeTokensPerSec: number | undefined;
    /** Network round trip to the engine (moving average of a cheap request's time, ms). */
    readonly rttMs: number | undefined;
}

/**
 * Every method that can wait takes an AbortSignal. On abort, a pending call rejects with
 * `signal.reason` within a few milliseconds, and its sequence is released (never leaked).
 * Errors on bad model files are `ModelFileError`s (src/core/errors.ts).
 */
export interface ModelBackend {
    /** Reads and validates the file without loading it into llama.cpp (never aborts the process). */
    inspect(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo>;
    load(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo>;
    unload(): Promise<void>;
    generate(request: GenerateRequest, signal: AbortSignal): Promise<GenerationResult>;
    chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult>;
    /**
     * One vector per text, in order; each of length `info.embeddingDims`. `priority` and `tag`: see
     * `GenerateRequest`.
     */
    embed(texts: readonly string[], signal: AbortSignal, priority?: Priority, tag?: WaitTag): Promise<number[][]>;
    /**
     * Tokens of `text` as a prompt's text part takes them with this model's tokenizer (not loaded:
     * an estimate). A backend tokenizes each recent text once per model: a prompt built from texts
     * just counted reuses their tokens.
     */
    countTokens(text: string): number;
    stats(): BackendStats;
    /**
     * Prompt tokens this backend's sequences hold for `cacheKey` now (0: none kept). Optional; cheap
     * (the router asks once per candidate model per decision): it catches what the router cannot
     * see, such as a key evicted for another document or a prefill aborted part-way.
     */
    cachedTokens?(cacheKey: string): number;
    /**
     * Who holds this model's sequences and who waits for one, by their `tag`s (see
     * src/core/scheduling.ts). Optional; a fresh copy each call.
     */
    waits?(): WaitState;
    /** Remote backends only: the engine's live load (see RemoteLoad). */
    remoteLoad?(): RemoteLoad;
    readonly info: ModelInfo | undefined;
}
