/**
 * `LlamaServerBackend`: one model served by a llama-server (llama.cpp's HTTP server), in another
 * process or on another machine, behind the same `ModelBackend` contract as the in-process backend.
 *
 * Endpoints: `/props` and `/v1/models` describe the model; `/tokenize` detects its FIM tokens and
 * counts tokens exactly; `/infill` (FIM) and `/completion` (raw, and chat after `/apply-template`
 * renders the messages with the model's own template) stream tokens over SSE with `cache_prompt`
 * and a slot per document (`id_slot`, llamaServerSlots.ts); `/embeddings` embeds; `/health`,
 * `/slots` and `/metrics` give the live load (llamaServerLoad.ts).
 *
 * Invariants:
 * - Every call runs under the caller's signal and the load's lifetime: an abort rejects the call
 *   with `signal.reason` at once and closes its connection (llama-server then stops generating for
 *   it); `unload` rejects the calls in flight with ModelRuntimeError 'notLoaded', as later calls.
 * - `onToken` gets the text in order, never a piece of a stop string, never after the call settled.
 *   A closed gate holds delivery only: the stream is read into a queue meanwhile (a gate held past
 *   the stream's idle limit must not look like an engine gone silent), and the engine generates on;
 *   the queued pieces are delivered, in order, when the gate opens.
 * - A RemoteEngineError (refused, timeout, server, unauthorized, protocol) propagates as it is, and
 *   marks the engine unreachable in `remoteLoad()` unless it is 'protocol'.
 * - Temperature 0 (the default) is greedy: `temperature: 0` with `top_k: 1`.
 *
 * Found on this llama-server build: it batches only tasks of one type together, and `/infill` and
 * `/completion` are two types: an infill waits while any other client's `/completion` generates (and
 * the other way round), even on a free slot. FIM goes through `/infill` because editors (llama.vscode)
 * send their completions there: ours batch with teammates' completions.
 *
 * Units: clock milliseconds, tokens, bytes.
 */
import { createHash } from 'node:crypto';
import {
    FIM_FAMILIES,
    reportUsage,
    type BackendStats,
    type ChatRequest,
    type FimFamily,
    type GenerateRequest,
    type GenerationResult,
    type ModelBackend,
    type ModelInfo,
    type ModelSpec,
    type RemoteEndpoint,
    type RemoteLoad,
    type StopReason,
    type TokenGate,
} from '../../core/backend';
import { detectFimFamily, fimTemplate } from '../../core/fim';
import { ModelRuntimeError, RemoteEngineError, errorMessage } from '../../core/errors';
import { HEADERS_TIMEOUT_MS, STREAM_IDLE_TIMEOUT_MS, joinUrl, requestJson, requestText, streamSse } from './http';
import { ACTIVE_POLL_MS, ACTIVE_WINDOW_MS, EngineLoad, IDLE_POLL_MS, LoadPoller } from './llamaServerLoad';
import { ANY_SLOT, SlotAffinity, type SlotReport } from './llamaServerSlots';
import { StopText } from '../stopText';
import { EventQueue } from './eventQueue';
import type { RemoteBackendOptions } from './options';
import { TokenEstimate } from './tokenEstimate';
import { ListenerFailure, settleOnAbort } from '../calls';

/** `/props` (the fields used). */
interface PropsJson {
    readonly model_path?: string;
    readonly total_slots?: number;
    readonly chat_template?: string;
    readonly default_generation_settings?: { readonly n_ctx?: number };
}

/** `/v1/models` (the fields used). */
interface ModelsJson {
    readonly data?: ReadonlyArray<{ readonly id?: string; readonly meta?: { readonly n_embd?: number; readonly n_ctx_train?: number; readonly size?: number; readonly n_params?: number } }>;
}

/** One event of a `/completion` or `/infill` stream (the fields used). */
export interface StreamEvent {
    readonly content?: string;
    readonly tokens?: readonly number[];
    readonly stop?: boolean;
    readonly id_slot?: number;
    readonly tokens_predicted?: number;
    readonly tokens_evaluated?: number;
    readonly tokens_cached?: number;
    /** This build: 'none' | 'eos' | 'limit' | 'word'. */
    readonly stop_type?: string;
    /** Older builds. */
    readonly stopped_eos?: boolean;
    readonly stopped_limit?: boolean;
    readonly stopped_word?: boolean;
    readonly timings?: { readonly cache_n?: number; readonly prompt_n?: number; readonly predicted_n?: number };
}

/** What a final event says about the call. */
export interface FinalCounts {
    readonly stopReason: StopReason;
    readonly promptTokens: number;
    readonly reusedPromptTokens: number;
    readonly generatedTokens: number;
    /** The slot the engine used, and the tokens it holds now. */
    readonly slot: number | undefined;
    readonly cachedTokens: number | undefined;
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/**
 * Reads a stream's final event (`stop: true`); undefined when it is malformed (no stop reason or no
 * prompt size), which the caller reports as a 'protocol' failure.
 */
export function finalCounts(e: StreamEvent): FinalCounts | undefined {
    let stopReason: StopReason | undefined;
    switch (e.stop_type) {
        case 'eos':
            stopReason = 'endOfGeneration';
            break;
        case 'limit':
            stopReason = 'maxTokens';
            break;
        case 'word':
            stopReason = 'stopString';
            break;
        case undefined:
            if (e.stopped_word) stopReason = 'stopString';
            else if (e.stopped_eos) stopReason = 'endOfGeneration';
            else if (e.stopped_limit) stopReason = 'maxTokens';
            break;
        default:
            // 'none': stopped for another reason (the context is full): as a limit.
            stopReason = e.stop_type === 'none' ? 'maxTokens' : undefined;
    }
    if (stopReason === undefined) return undefined;
    const t = e.timings;
    let promptTokens: number;
    let reused: number;
    if (t && isCount(t.cache_n) && isCount(t.prompt_n)) {
        promptTokens = t.cache_n + t.prompt_n;
        reused = t.cache_n;
    } else if (isCount(e.tokens_evaluated)) {
        promptTokens = e.tokens_evaluated;
        reused = 0;
    } else return undefined;
    const generated = isCount(e.tokens_predicted) ? e.tokens_predicted : isCount(t?.predicted_n) ? t.predicted_n : undefined;
    if (generated === undefined) return undefined;
    return {
        stopReason,
        promptTokens,
        reusedPromptTokens: reused,
        generatedTokens: generated,
        slot: typeof e.id_slot === 'number' && e.id_slot >= 0 ? e.id_slot : undefined,
        cachedTokens: isCount(e.tokens_cached) ? e.tokens_cached : undefined,
    };
}

/** The model file's name from the engine's path to it: its base name without `.gguf`. */
export function modelName(modelPath: string): string {
    const base = modelPath.split(/[\\/]/).filter((p) => p !== '').pop() ?? modelPath;
    return base.replace(/\.gguf$/i, '') || modelPath;
}

/**
 * The embedding space of a remote model: the engine kind plus the user's declared identity, or
 * else the served file's path and size and the URL, hashed. Prefixed `remote-sha256:` so it never
 * equals a local file's space (`gguf-sha256:`): vectors are compared only within one engine and file.
 */
export function remoteEmbeddingSpace(api: string, endpoint: RemoteEndpoint, modelPath: string | undefined, size: number | undefined): string {
    const identity = endpoint.identity !== undefined && endpoint.identity !== '' ? `declared\n${endpoint.identity}` : `served\n${endpoint.url}\n${modelPath ?? ''}\n${size ?? ''}`;
    return `remote-sha256:${createHash('sha256').update(`${api}\n${identity}`).digest('hex').slice(0, 32)}`;
}

/** A code-like sample counted exactly at load to learn the tokenizer's characters per token. */
const CALIBRATION_TEXT =
    'function handler(input, offset) {\n    const value = compute(input) + offset;\n    if (value > 10) return value * 2;\n    // Explain the result to the caller.\n    return Math.max(0, value - 1);\n}\n';
/** Tokens a FIM prompt spends beside its texts (BOS, three markers) plus a margin for re-tokenized cut ends. */
const FIM_MARKER_TOKENS = 8;
/** Tokens a raw prompt spends beside its text (BOS) plus a margin for a re-tokenized cut start. */
const RAW_MARGIN_TOKENS = 4;
/** Room left for the BOS/EOS tokens the engine adds to an embedding input. */
const EMBED_SPECIAL_TOKENS = 3;
/** At most this many background `/tokenize` calls (learning the ratio from prompts) run at once. */
const BACKGROUND_TOKENIZE = 1;

interface Counters {
    requests: number;
    errors: number;
    promptTokensEvaluated: number;
    promptTokensReused: number;
    generatedTokens: number;
}

const freshCounters = (): Counters => ({ requests: 0, errors: 0, promptTokensEvaluated: 0, promptTokensReused: 0, generatedTokens: 0 });

/** What a loaded backend holds; replaced at each load. */
interface Loaded {
    readonly spec: ModelSpec;
    readonly endpoint: RemoteEndpoint;
    readonly info: ModelInfo;
    /** Aborted by unload with a 'notLoaded' error: every call in flight rejects with it. */
    readonly lifetime: AbortController;
    readonly slots: SlotAffinity;
    readonly load: EngineLoad;
    readonly poller: LoadPoller;
    /**
     * The FIM family's stop markers (its `stop` list) that are one special token here: a FIM call
     * ends when the engine samples one, as in process (the engine streams special tokens as empty
     * text, so they are matched by id). The others are stop strings.
     */
    readonly fimStops: { readonly ids: ReadonlySet<number>; readonly strings: readonly string[] };
}

/** One streamed generation's request, after the mode's specifics. */
interface StreamRequest {
    readonly path: '/completion' | '/infill';
    readonly body: Record<string, unknown>;
    readonly maxTokens: number;
    readonly temperature?: number;
    readonly seed?: number;
    readonly stop: readonly string[];
    /** Token ids that end the generation (not part of its text), matched in each event's `tokens`. */
    readonly stopIds?: ReadonlySet<number>;
    readonly cacheKey?: string;
    readonly gate?: TokenGate;
    readonly onToken?: (text: string) => void;
    readonly ignoreEndOfGeneration?: boolean;
    readonly onUsage?: GenerateRequest['onUsage'];
    /** Texts whose exact counts teach the token estimate (in the background). */
    readonly texts: readonly string[];
}

export class LlamaServerBackend implements ModelBackend {
    private state: Loaded | undefined;
    private lastInfo: ModelInfo | undefined;
    private counters = freshCounters();
    /** Our calls in flight now (generation and embedding); `generating` of them hold a slot. */
    private own = 0;
    private generating = 0;
    private lastCallAt = Number.NEGATIVE_INFINITY;
    private readonly estimate = new TokenEstimate();
    private backgroundTokenize = 0;
    /** Most tokens one embedding input may have, once the engine said (its physical batch); undefined before. */
    private embedTokenLimit: number | undefined;
    private readonly headersTimeoutMs: number;
    private readonly streamIdleTimeoutMs: number;

    constructor(private readonly options: RemoteBackendOptions) {
        this.headersTimeoutMs = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
        this.streamIdleTimeoutMs = options.streamIdleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS;
    }

    get info(): ModelInfo | undefined {
        return this.state?.info ?? this.lastInfo;
    }

    // ---------------------------------------------------------------- inspect / load / unload

    async inspect(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        const endpoint = this.endpointOf(spec);
        const [props, models] = await Promise.all([this.json<PropsJson>(endpoint, '/props', signal), this.json<ModelsJson>(endpoint, '/v1/models', signal)]);
        const modelPath = props.model_path ?? models.data?.[0]?.id;
        const meta = models.data?.find((m) => m.id === modelPath)?.meta ?? models.data?.[0]?.meta ?? {};
        const name = modelName(modelPath ?? endpoint.url);
        let fim: FimFamily | undefined;
        if (spec.fimTemplate === 'none') fim = undefined;
        else if (spec.fimTemplate !== 'auto') fim = spec.fimTemplate;
        else fim = await this.detectFim(endpoint, name, signal);
        const slots = isCount(props.total_slots) && props.total_slots >= 1 ? props.total_slots : spec.slots;
        const contextSize = isCount(props.default_generation_settings?.n_ctx) && props.default_generation_settings.n_ctx > 0 ? props.default_generation_settings.n_ctx : spec.contextSize;
        const info: ModelInfo = {
            id: spec.id,
            path: spec.path,
            // Not in /props: the engine knows, but does not say.
            architecture: 'unknown',
            name,
            fim,
            hasChat: typeof props.chat_template === 'string' && props.chat_template.trim() !== '',
            embeddingDims: isCount(meta.n_embd) ? meta.n_embd : 0,
            embeddingSpace: remoteEmbeddingSpace('llama-server', endpoint, modelPath, meta.size),
            trainContextSize: isCount(meta.n_ctx_train) ? meta.n_ctx_train : contextSize,
            contextSize,
            slots,
            // Not in this process.
            estimatedMemory: { ramBytes: 0, vramBytes: 0 },
            gpu: false,
            remote: { api: 'llama-server', url: endpoint.url },
        };
        this.lastInfo = info;
        return info;
    }

    async load(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        if (this.state) {
            if (this.state.spec.path === spec.path && this.state.spec.id === spec.id) return this.state.info;
            throw new ModelRuntimeError(spec.id, 'unsupported', `this backend already serves ${this.state.spec.path}; unload it first`);
        }
        const info = await this.inspect(spec, signal);
        const endpoint = this.endpointOf(spec);
        // The tokenizer's characters per token, before the first estimate is needed.
        await this.tokenize(endpoint, CALIBRATION_TEXT, signal).catch((e: unknown) => this.options.log?.(`${spec.id}: could not calibrate token counts: ${errorMessage(e)}`));
        signal.throwIfAborted();
        if (this.state) return (this.state as Loaded).info;
        const lifetime = new AbortController();
        const slots = new SlotAffinity(info.slots);
        // The latest /slots answer also places our documents' slots (another client's work takes them).
        const load = new EngineLoad('llama-server', endpoint.url, (reports, askedAt) => slots.observe(reports, askedAt));
        load.setSlots(info.slots);
        const active = this.options.pollIntervalMs ?? ACTIVE_POLL_MS;
        const idle = this.options.pollIntervalMs === undefined ? IDLE_POLL_MS : Math.max(active, 8 * active);
        const poll = (path: string, s: AbortSignal): { base: string; url: string; apiKey?: string; signal: AbortSignal; headersTimeoutMs: number; fetch?: typeof fetch } => ({
            base: endpoint.url,
            url: joinUrl(endpoint.url, path),
            apiKey: endpoint.apiKey,
            signal: s,
            headersTimeoutMs: this.headersTimeoutMs,
            fetch: this.options.fetch,
        });
        const poller = new LoadPoller(
            this.options.clock,
            load,
            {
                health: async (s) => void (await requestJson<unknown>(poll('/health', s))),
                slots: (s) => requestJson<SlotReport[]>(poll('/slots', s)),
                metrics: (s) => requestText(poll('/metrics', s)),
            },
            active,
            idle,
            () => this.own > 0 || this.options.clock.now() - this.lastCallAt < ACTIVE_WINDOW_MS,
            this.options.log,
        );
        const fimStops = info.fim === undefined ? { ids: new Set<number>(), strings: [] } : await this.fimStopTokens(endpoint, info.fim, signal);
        signal.throwIfAborted();
        if (this.state) return (this.state as Loaded).info;
        const state: Loaded = { spec, endpoint, info, lifetime, slots, load, poller, fimStops };
        this.state = state;
        this.lastInfo = info;
        this.counters = freshCounters();
        poller.start();
        return info;
    }

    unload(): Promise<void> {
        const loaded = this.state;
        if (!loaded) return Promise.resolve();
        this.state = undefined;
        loaded.poller.stop();
        loaded.lifetime.abort(new ModelRuntimeError(loaded.spec.id, 'notLoaded', 'the model was unloaded while the call ran'));
        return Promise.resolve();
    }

    // ---------------------------------------------------------------- requests

    generate(request: GenerateRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.serve(signal, 'generate', true, (loaded, sig, startedAt) => {
            const common = { maxTokens: request.maxTokens, temperature: request.temperature, seed: request.seed, cacheKey: request.cacheKey, gate: request.gate, onToken: request.onToken, ignoreEndOfGeneration: request.ignoreEndOfGeneration, onUsage: request.onUsage };
            if (request.mode === 'fim') {
                const family = loaded.info.fim;
                if (family === undefined) throw new ModelRuntimeError(loaded.spec.id, 'unsupported', `${loaded.info.name} has no fill-in-the-middle template (fimTemplate is "none", or its vocabulary has no FIM tokens)`);
                return (async () => {
                    const fit = await this.fitFim(loaded, request.prefix ?? '', request.suffix ?? '', request.middle ?? '', request.maxTokens, sig);
                    // /infill wraps them in the model's FIM tokens, the middle after its middle marker.
                    const body = { input_prefix: fit.prefix, input_suffix: fit.suffix, prompt: fit.middle };
                    const stop = [...(request.stop ?? []).filter((x) => x !== ''), ...loaded.fimStops.strings];
                    return this.stream(loaded, { ...common, path: '/infill', body, stop, stopIds: loaded.fimStops.ids, texts: [fit.prefix, fit.suffix] }, sig, startedAt);
                })();
            }
            const whole = request.prompt ?? '';
            if (whole === '') throw new ModelRuntimeError(loaded.spec.id, 'unsupported', 'the prompt is empty');
            return (async () => {
                const prompt = await this.fitRaw(loaded, whole, request.maxTokens, sig);
                return this.stream(loaded, { ...common, path: '/completion', body: { prompt }, stop: request.stop ?? [], texts: [whole] }, sig, startedAt);
            })();
        });
    }

    chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.serve(signal, 'chat', true, async (loaded, sig, startedAt) => {
            if (!loaded.info.hasChat) throw new ModelRuntimeError(loaded.spec.id, 'unsupported', `${loaded.info.name} has no chat template`);
            // The model's own template, rendered by the engine; the prompt then goes through
            // /completion like any other, with the document's slot and its cache.
            const rendered = await this.json<{ prompt?: string }>(loaded.endpoint, '/apply-template', sig, { messages: request.messages.map((m) => ({ role: m.role, content: m.content })) });
            if (typeof rendered.prompt !== 'string') throw new RemoteEngineError(loaded.endpoint.url, 'protocol', '/apply-template answered without a prompt');
            return this.stream(
                loaded,
                {
                    path: '/completion',
                    body: { prompt: rendered.prompt },
                    maxTokens: request.maxTokens,
                    temperature: request.temperature,
                    seed: request.seed,
                    stop: [],
                    cacheKey: request.cacheKey,
                    gate: request.gate,
                    onToken: request.onToken,
                    ignoreEndOfGeneration: request.ignoreEndOfGeneration,
                    onUsage: request.onUsage,
                    texts: request.messages.map((m) => m.content),
                },
                sig,
                startedAt,
            );
        });
    }

    embed(texts: readonly string[], signal: AbortSignal): Promise<number[][]> {
        return this.serve(signal, 'embed', false, async (loaded, sig) => {
            if (texts.length === 0) return [];
            // llama-server refuses an empty input; the in-process backend embeds a space for it.
            let content = texts.map((t) => (t === '' ? ' ' : t));
            // Cut to what one evaluation takes, as the in-process backend cuts to its context.
            content = await Promise.all(content.map((t) => this.fitEmbeddingInput(loaded, t, sig)));
            // No normalisation (-1): the in-process backend returns the model's vectors as they are.
            let answer: unknown;
            try {
                answer = await this.json<unknown>(loaded.endpoint, '/embeddings', sig, { content, embd_normalize: -1 });
            } catch (e) {
                // "input (N tokens) is too large to process. increase the physical batch size (current batch size: B)":
                // the engine's batch, not its context, bounds an embedding. Learn it, cut, and ask again once.
                // 501: a server started without --embeddings (a generation model's server): this
                // model cannot embed, which is not the engine failing (its completions go on).
                if (e instanceof RemoteEngineError && e.status === 501)
                    throw new ModelRuntimeError(loaded.spec.id, 'unsupported', `the engine at ${loaded.endpoint.url} does not serve embeddings (start llama-server with --embeddings for an embedding model)`, { cause: e });
                const batch = e instanceof RemoteEngineError && e.status === 500 ? /too large to process[^]*?batch size:\s*(\d+)/.exec(e.message) : null;
                if (!batch) throw e;
                this.embedTokenLimit = Math.max(8, Number(batch[1]) - EMBED_SPECIAL_TOKENS);
                content = await Promise.all(content.map((t) => this.fitEmbeddingInput(loaded, t, sig)));
                answer = await this.json<unknown>(loaded.endpoint, '/embeddings', sig, { content, embd_normalize: -1 });
            }
            return embeddingsOf(loaded, answer, texts.length);
        });
    }

    /**
     * `text`, or its start when it has more tokens than one embedding evaluation takes (the context
     * per slot less the BOS/EOS the engine adds, or the engine's batch once it told it): cut on a
     * token boundary with `/tokenize` and `/detokenize`. Texts estimated well under the limit are not asked about.
     */
    private async fitEmbeddingInput(loaded: Loaded, text: string, signal: AbortSignal): Promise<string> {
        const limit = Math.min(this.embedTokenLimit ?? Number.POSITIVE_INFINITY, loaded.info.contextSize - EMBED_SPECIAL_TOKENS);
        if (this.estimate.count(text) < limit * 0.6) return text;
        const answer = await this.json<{ tokens?: unknown[] }>(loaded.endpoint, '/tokenize', signal, { content: text });
        const tokens = answer.tokens;
        if (!Array.isArray(tokens)) throw new RemoteEngineError(loaded.endpoint.url, 'protocol', '/tokenize answered without tokens');
        this.estimate.learnExact(text, tokens.length);
        if (tokens.length <= limit) return text;
        const cut = await this.json<{ content?: unknown }>(loaded.endpoint, '/detokenize', signal, { tokens: tokens.slice(0, limit) });
        if (typeof cut.content !== 'string') throw new RemoteEngineError(loaded.endpoint.url, 'protocol', '/detokenize answered without content');
        return cut.content;
    }

    /**
     * The FIM texts cut to fit the slot's context with `maxTokens` to generate, as the in-process
     * backend cuts them: the text nearest the cursor is kept (the prefix's end, the suffix's start,
     * the suffix at most a quarter of the room). Counted exactly (`/tokenize`) only when the estimate
     * comes near the room; cut on token boundaries (`/detokenize`).
     */
    private async fitFim(loaded: Loaded, prefix: string, suffix: string, middle: string, maxTokens: number, signal: AbortSignal): Promise<{ prefix: string; suffix: string; middle: string }> {
        const room = loaded.info.contextSize - Math.max(1, Math.floor(maxTokens)) - FIM_MARKER_TOKENS;
        const estimate = this.estimate.count(prefix) + this.estimate.count(suffix) + this.estimate.count(middle);
        if (estimate < room * 0.75) return { prefix, suffix, middle };
        const [p, s, m] = await Promise.all([prefix, suffix, middle].map((t) => this.tokenIds(loaded.endpoint, t, signal)));
        if (p.length + s.length + m.length <= room) return { prefix, suffix, middle };
        const textRoom = Math.max(1, room);
        let suffixKeep = Math.min(s.length, Math.floor(textRoom / 4));
        const beforeKeep = Math.min(p.length + m.length, textRoom - suffixKeep);
        suffixKeep = Math.min(s.length, textRoom - beforeKeep);
        const middleKeep = Math.min(m.length, beforeKeep);
        const prefixKeep = beforeKeep - middleKeep;
        const text = async (tokens: readonly number[], whole: string, keep: number, from: 'start' | 'end'): Promise<string> => {
            if (keep >= tokens.length) return whole;
            if (keep <= 0) return '';
            const kept = from === 'end' ? tokens.slice(tokens.length - keep) : tokens.slice(0, keep);
            const answer = await this.json<{ content?: unknown }>(loaded.endpoint, '/detokenize', signal, { tokens: kept });
            if (typeof answer.content !== 'string') throw new RemoteEngineError(loaded.endpoint.url, 'protocol', '/detokenize answered without content');
            return answer.content;
        };
        const [cp, cs, cm] = await Promise.all([text(p, prefix, prefixKeep, 'end'), text(s, suffix, suffixKeep, 'start'), text(m, middle, middleKeep, 'end')]);
        return { prefix: cp, suffix: cs, middle: cm };
    }

    /** A raw prompt cut at its start to fit the slot's context with `maxTokens` to generate, as in process. */
    private async fitRaw(loaded: Loaded, prompt: string, maxTokens: number, signal: AbortSignal): Promise<string> {
        const room = loaded.info.contextSize - Math.max(1, Math.floor(maxTokens)) - RAW_MARGIN_TOKENS;
        if (this.estimate.count(prompt) < room * 0.75) return prompt;
        const tokens = await this.tokenIds(loaded.endpoint, prompt, signal);
        if (tokens.length <= room) return prompt;
        const answer = await this.json<{ content?: unknown }>(loaded.endpoint, '/detokenize', signal, { tokens: tokens.slice(tokens.length - Math.max(1, room)) });
        if (typeof answer.content !== 'string') throw new RemoteEngineError(loaded.endpoint.url, 'protocol', '/detokenize answered without content');
        return answer.content;
    }

    /** Token ids of `text` (a prompt's text part), learned as its exact count. */
    private async tokenIds(endpoint: RemoteEndpoint, text: string, signal: AbortSignal): Promise<number[]> {
        if (text === '') return [];
        const answer = await this.json<{ tokens?: unknown[] }>(endpoint, '/tokenize', signal, { content: text });
        const tokens = answer.tokens;
        if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'number')) throw new RemoteEngineError(endpoint.url, 'protocol', '/tokenize answered without token ids');
        this.estimate.learnExact(text, tokens.length);
        return tokens as number[];
    }

    countTokens(text: string): number {
        return this.estimate.count(text);
    }

    /**
     * Exact tokens of `text` from the engine's `/tokenize` (a prompt's text part: no BOS), learned
     * for `countTokens`. For callers that can wait for a size (the engine answers on its HTTP
     * thread, beside generation).
     */
    async countTokensExact(text: string, signal: AbortSignal): Promise<number> {
        const loaded = this.state;
        if (!loaded) throw new ModelRuntimeError(this.lastInfo?.id ?? 'model', 'notLoaded', 'countTokensExact: the model is not loaded');
        return this.tokenize(loaded.endpoint, text, AbortSignal.any([signal, loaded.lifetime.signal]));
    }

    cachedTokens(cacheKey: string): number {
        return this.state?.slots.cachedTokens(cacheKey) ?? 0;
    }

    /** The engine slot a cache key's calls go to now (undefined: none yet, or the engine picks); tests and logs. */
    slotOf(cacheKey: string): number | undefined {
        return this.state?.slots.slotOf(cacheKey);
    }

    remoteLoad(): RemoteLoad {
        const loaded = this.state;
        if (loaded) return loaded.load.snapshot(this.own);
        const url = this.lastInfo?.remote?.url ?? '';
        return { api: 'llama-server', url, at: undefined, reachable: false, error: 'not loaded', slots: undefined, slotsBusy: 0, deferred: 0, ownInFlight: 0, busyRemainingTokens: undefined, decodeTokensPerSec: undefined, rttMs: undefined };
    }

    /** Polls of the engine's load since load (tests wait on it). */
    get loadPolls(): number {
        return this.state?.poller.polls ?? 0;
    }

    stats(): BackendStats {
        const loaded = this.state;
        const c = this.counters;
        return {
            loaded: loaded !== undefined,
            inFlight: this.own,
            slots: loaded?.info.slots ?? 0,
            promptTokensEvaluated: c.promptTokensEvaluated,
            promptTokensReused: c.promptTokensReused,
            generatedTokens: c.generatedTokens,
            requests: c.requests,
            errors: c.errors,
            memory: { ramBytes: 0, vramBytes: 0 },
            sequencesHeld: this.generating,
            contextsOpen: loaded ? 1 : 0,
        };
    }

    // ---------------------------------------------------------------- plumbing

    private endpointOf(spec: ModelSpec): RemoteEndpoint {
        const remote = spec.remote;
        if (!remote || remote.api !== 'llama-server') throw new ModelRuntimeError(spec.id, 'unsupported', `${spec.path}: not a llama-server model (spec.remote.api must be "llama-server")`);
        return { ...remote, url: remote.url.replace(/\/+$/, '') };
    }

    /** A JSON call (all of ours are idempotent: reads, tokenize, render, embed), sent again once on a stale connection. */
    private async json<T>(endpoint: RemoteEndpoint, path: string, signal: AbortSignal, body?: unknown): Promise<T> {
        return requestJson<T>({
            base: endpoint.url,
            url: joinUrl(endpoint.url, path),
            body,
            apiKey: endpoint.apiKey,
            signal,
            headersTimeoutMs: this.headersTimeoutMs,
            fetch: this.options.fetch,
        });
    }

    private async tokenize(endpoint: RemoteEndpoint, text: string, signal: AbortSignal): Promise<number> {
        const answer = await this.json<{ tokens?: unknown[] }>(endpoint, '/tokenize', signal, { content: text });
        if (!Array.isArray(answer.tokens)) throw new RemoteEngineError(endpoint.url, 'protocol', '/tokenize answered without tokens');
        this.estimate.learnExact(text, answer.tokens.length);
        return answer.tokens.length;
    }

    /** Teaches the estimate a call's texts, one `/tokenize` at a time, never failing anything. */
    private learnInBackground(loaded: Loaded, texts: readonly string[]): void {
        if (this.backgroundTokenize >= BACKGROUND_TOKENIZE) return;
        const text = texts.reduce((a, b) => (b.length > a.length ? b : a), '');
        if (text.length < 64 || this.estimate.knows(text)) return;
        this.backgroundTokenize++;
        void this.tokenize(loaded.endpoint, text, loaded.lifetime.signal)
            .catch(() => undefined)
            .finally(() => this.backgroundTokenize--);
    }

    /**
     * FIM family from the engine's vocabulary: the markers of every family that `/tokenize` (with
     * special tokens parsed) turns into one token spelled as the marker, then `detectFimFamily`.
     */
    private async detectFim(endpoint: RemoteEndpoint, name: string, signal: AbortSignal): Promise<FimFamily | undefined> {
        const markers = new Set<string>();
        for (const family of FIM_FAMILIES) {
            const t = fimTemplate(family);
            for (const m of [t.prefixToken, t.suffixToken, t.middleToken]) {
                if (m === undefined) continue;
                markers.add(m);
                for (const alias of t.aliases[m] ?? []) markers.add(alias);
            }
        }
        const single = new Set<string>();
        // One at a time: a dozen short calls on the engine's HTTP thread.
        for (const marker of markers) if ((await this.singleToken(endpoint, marker, signal)) !== undefined) single.add(marker);
        return detectFimFamily({ tokens: single, generalName: name });
    }

    /** The id of `marker` when the engine's vocabulary has it as one special token spelled so. */
    private async singleToken(endpoint: RemoteEndpoint, marker: string, signal: AbortSignal): Promise<number | undefined> {
        const answer = await this.json<{ tokens?: Array<{ id?: number; piece?: unknown } | number> }>(endpoint, '/tokenize', signal, { content: marker, parse_special: true, with_pieces: true });
        const tokens = answer.tokens ?? [];
        if (tokens.length !== 1) return undefined;
        const only = tokens[0];
        if (typeof only === 'number') return only;
        if (only.piece !== undefined && only.piece !== marker) return undefined;
        return typeof only.id === 'number' ? only.id : undefined;
    }

    /** The family's stop markers: ids of those that are one token here, the rest as strings. */
    private async fimStopTokens(endpoint: RemoteEndpoint, family: FimFamily, signal: AbortSignal): Promise<{ ids: ReadonlySet<number>; strings: readonly string[] }> {
        const template = fimTemplate(family);
        const ids = new Set<number>();
        const strings: string[] = [];
        for (const stop of template.stop) {
            let id = await this.singleToken(endpoint, stop, signal);
            for (const alias of template.aliases[stop] ?? []) id ??= await this.singleToken(endpoint, alias, signal);
            if (id !== undefined) ids.add(id);
            else strings.push(stop);
        }
        return { ids, strings };
    }

    /**
     * Runs `work` for the loaded model under the caller's signal and the load's lifetime. The
     * returned promise rejects with the combined signal's reason as soon as it aborts (the caller's
     * reason, or 'notLoaded' at unload), even while `work` is still closing its connection.
     */
    private serve<T>(signal: AbortSignal, operation: string, holdsSlot: boolean, work: (loaded: Loaded, signal: AbortSignal, startedAt: number) => Promise<T>): Promise<T> {
        if (signal.aborted) return Promise.reject(signal.reason);
        const loaded = this.state;
        if (!loaded) return Promise.reject(new ModelRuntimeError(this.lastInfo?.id ?? 'model', 'notLoaded', `${operation}: the model is not loaded`));
        const clock = this.options.clock;
        const startedAt = clock.now();
        this.counters.requests++;
        this.lastCallAt = startedAt;
        this.own++;
        if (holdsSlot) this.generating++;
        loaded.poller.hurry();
        const combined = AbortSignal.any([signal, loaded.lifetime.signal]);
        let running: Promise<T>;
        try {
            running = work(loaded, combined, startedAt);
        } catch (e) {
            running = Promise.reject(e);
        }
        const done = (): void => {
            this.own--;
            if (holdsSlot) this.generating--;
            this.lastCallAt = clock.now();
        };
        running.then(done, done);
        running.then(() => {
            if (this.state === loaded) loaded.load.markReached();
        }, () => undefined);
        return settleOnAbort(running, combined, (e) => {
            this.counters.errors++;
            if (e instanceof ListenerFailure) return e.cause;
            if (e instanceof RemoteEngineError && e.status === 400 && /exceed_context_size|exceeds the available context size/.test(e.message)) {
                // The prompt, not the engine: as in process.
                return new ModelRuntimeError(loaded.spec.id, 'promptTooLong', `the prompt does not fit the engine's context of ${loaded.info.contextSize} tokens per slot (${e.message})`, { cause: e });
            }
            if (e instanceof RemoteEngineError) {
                if (e.problem !== 'protocol') loaded.load.markUnreachable(e.message);
                return e;
            }
            if (e instanceof ModelRuntimeError) return e;
            return new ModelRuntimeError(loaded.spec.id, 'evaluationFailed', `${operation} on ${loaded.endpoint.url} failed: ${errorMessage(e)}`, { cause: e });
        });
    }

    /** One streamed generation on the key's slot; see the class invariants. */
    private async stream(loaded: Loaded, r: StreamRequest, signal: AbortSignal, startedAt: number): Promise<GenerationResult> {
        const clock = this.options.clock;
        const slot = loaded.slots.choose(r.cacheKey, startedAt);
        if (slot !== ANY_SLOT) loaded.slots.begin(slot);
        const temperature = r.temperature ?? 0;
        const body: Record<string, unknown> = {
            ...r.body,
            n_predict: Math.max(0, Math.floor(r.maxTokens)),
            stream: true,
            cache_prompt: true,
            id_slot: slot,
            temperature,
            // Greedy at 0: the most probable token, whatever the other samplers would do.
            ...(temperature <= 0 ? { top_k: 1 } : {}),
            ...(r.seed === undefined ? {} : { seed: r.seed }),
            ...(r.stop.length > 0 ? { stop: r.stop } : {}),
            // ignoreEndOfGeneration: end tokens and the stop tokens are never sampled.
            ...(r.ignoreEndOfGeneration ? { ignore_eos: true, ...(r.stopIds && r.stopIds.size > 0 ? { logit_bias: [...r.stopIds].map((id) => [id, false]) } : {}) } : {}),
            // Prompt counts on every event: an aborted call still knows what it cost.
            timings_per_token: true,
        };
        // maxTokens 0 reads the prompt into the slot only (a read-ahead). llama-server samples one
        // token even for n_predict 0: it is dropped here, as if never generated.
        const prefillOnly = !(r.maxTokens >= 1);
        const text = new StopText(r.stop, (piece) => {
            if (prefillOnly || signal.aborted || !r.onToken) return;
            try {
                r.onToken(piece);
            } catch (e) {
                throw new ListenerFailure(e);
            }
        });
        let reached = false;
        let generated = 0;
        let reused = 0;
        let evaluated = 0;
        let completed = false;
        let firstTokenAt: number | undefined;
        let final: FinalCounts | undefined;
        let cutHere = false;
        let stoppedByToken = false;
        // Leaving a stream early (a stop string, a throwing listener) aborts its fetch before the
        // loop returns: the connection is then closed, never handed back half-read for reuse (undici
        // would reuse it and the next call would meet "other side closed").
        const leave = new AbortController();
        try {
            const open = (): AsyncGenerator<unknown, void, undefined> =>
                streamSse({
                    base: loaded.endpoint.url,
                    url: joinUrl(loaded.endpoint.url, r.path),
                    body,
                    apiKey: loaded.endpoint.apiKey,
                    signal: AbortSignal.any([signal, leave.signal]),
                    headersTimeoutMs: this.headersTimeoutMs,
                    idleTimeoutMs: this.streamIdleTimeoutMs,
                    fetch: this.options.fetch,
                });
            // The stream is read as it arrives, whatever the gate says: a gate held longer than the
            // idle limit must not look like a silent engine. The pump goes on after the final event
            // to the stream's end (the connection is then reused); leaving early aborts it.
            const queue = new EventQueue();
            void (async () => {
                try {
                    for await (const raw of open()) queue.push(raw);
                    queue.end();
                } catch (e) {
                    queue.fail(e);
                }
            })();
            for (;;) {
                const next = await queue.next();
                if (next.done) break;
                const raw = next.value;
                try {
                    if (raw === null || typeof raw !== 'object') throw new RemoteEngineError(loaded.endpoint.url, 'protocol', `${r.path} streamed an event that is not an object`);
                    const e = raw as StreamEvent;
                    reached = true;
                    if (e.timings && isCount(e.timings.cache_n) && isCount(e.timings.prompt_n)) {
                        reused = e.timings.cache_n;
                        evaluated = e.timings.prompt_n;
                    }
                    let n = Array.isArray(e.tokens) ? e.tokens.length : e.content ? 1 : 0;
                    const stopAt = r.stopIds && r.stopIds.size > 0 && Array.isArray(e.tokens) ? e.tokens.findIndex((t) => r.stopIds!.has(t)) : -1;
                    // A stop token ends the call before it: it is neither text nor a generated token.
                    if (stopAt >= 0) n = stopAt;
                    if (n > 0) {
                        generated += n;
                        firstTokenAt ??= clock.now();
                    }
                    const piece = typeof e.content === 'string' ? e.content : '';
                    if (stopAt >= 0 && e.stop !== true) {
                        // Special tokens stream as empty text: what the event carries came before it.
                        if (piece !== '' && (await this.deliver(text, piece, r.gate, signal))) cutHere = true;
                        else stoppedByToken = true;
                        leave.abort(new Error('a stop token was sampled'));
                        break;
                    }
                    if (e.stop === true) {
                        final = finalCounts(e);
                        if (!final) throw new RemoteEngineError(loaded.endpoint.url, 'protocol', `${r.path}: the final event has no stop reason or prompt size`);
                        // Its content (if any) is the last text.
                        if (piece !== '' && (await this.deliver(text, piece, r.gate, signal))) cutHere = true;
                        break;
                    }
                    if (piece !== '' && (await this.deliver(text, piece, r.gate, signal))) {
                        // A stop string completed here (the engine did not see it): leaving stops the engine.
                        cutHere = true;
                        leave.abort(new Error('a stop string completed'));
                        break;
                    }
                } catch (e) {
                    leave.abort(e);
                    throw e;
                }
            }
            signal.throwIfAborted();
            if (!final && !cutHere && !stoppedByToken) throw new RemoteEngineError(loaded.endpoint.url, 'server', `${r.path}: the stream ended before its final event (the engine may have restarted)`);
            let stopReason: StopReason;
            if (cutHere) stopReason = 'stopString';
            else if (stoppedByToken) {
                stopReason = 'endOfGeneration';
                text.flush();
            } else {
                stopReason = final!.stopReason;
                // The engine cut a stop string itself (never sent): what was held back is text before it.
                text.flush();
            }
            const promptTokens = final ? final.promptTokens : reused + evaluated;
            reused = final ? final.reusedPromptTokens : reused;
            evaluated = promptTokens - reused;
            if (final && !cutHere) generated = final.generatedTokens;
            if (prefillOnly) {
                generated = 0;
                firstTokenAt = undefined;
                stopReason = 'maxTokens';
            }
            completed = true;
            const end = clock.now();
            return {
                text: prefillOnly ? '' : text.text,
                stopReason,
                promptTokens,
                reusedPromptTokens: reused,
                evaluatedPromptTokens: evaluated,
                generatedTokens: generated,
                firstTokenMs: firstTokenAt === undefined ? undefined : firstTokenAt - startedAt,
                totalMs: end - startedAt,
            };
        } finally {
            if (slot !== ANY_SLOT || final) loaded.slots.end(slot, r.cacheKey, final?.slot, final?.cachedTokens, clock.now());
            if (reached) {
                this.counters.promptTokensReused += reused;
                this.counters.promptTokensEvaluated += evaluated;
                this.counters.generatedTokens += generated;
                reportUsage(r.onUsage, { reusedPromptTokens: reused, evaluatedPromptTokens: evaluated, generatedTokens: generated, completed });
            }
            if (completed && this.state === loaded) this.learnInBackground(loaded, r.texts);
        }
    }

    /**
     * Passes a piece through the stop strings to `onToken`, after the gate opens (the stream's pump
     * goes on reading into its queue meanwhile). True when a stop string completed.
     */
    private async deliver(text: StopText, piece: string, gate: TokenGate | undefined, signal: AbortSignal): Promise<boolean> {
        const wait = gate?.wait(signal);
        if (wait) await wait;
        signal.throwIfAborted();
        return text.push(piece);
    }
}

/** The vectors of an `/embeddings` answer, in the texts' order; each the model's width. */
function embeddingsOf(loaded: Loaded, answer: unknown, count: number): number[][] {
    const url = loaded.endpoint.url;
    const rows = Array.isArray(answer) ? answer : (answer as { data?: unknown } | null)?.data;
    if (!Array.isArray(rows) || rows.length !== count) throw new RemoteEngineError(url, 'protocol', `/embeddings answered ${Array.isArray(rows) ? rows.length : 'no'} vectors for ${count} texts`);
    const out: number[][] = new Array<number[]>(count);
    rows.forEach((row: unknown, i) => {
        const r = row as { index?: number; embedding?: unknown };
        const index = typeof r.index === 'number' ? r.index : i;
        let v = r.embedding;
        // Without pooling the engine gives one vector per token: the last one is the text's, as in process.
        if (Array.isArray(v) && Array.isArray(v[0])) v = v[v.length - 1];
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new RemoteEngineError(url, 'protocol', `/embeddings: vector ${index} is not a list of numbers`);
        if (loaded.info.embeddingDims > 0 && v.length !== loaded.info.embeddingDims) {
            throw new ModelRuntimeError(loaded.spec.id, 'unsupported', `embedding has ${v.length} dimensions, expected ${loaded.info.embeddingDims}`);
        }
        if (index < 0 || index >= count || out[index] !== undefined) throw new RemoteEngineError(url, 'protocol', `/embeddings: index ${index} out of order`);
        out[index] = v as number[];
    });
    return out;
}
