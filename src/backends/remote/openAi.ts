/**
 * `OpenAiCompatibleBackend`: one model served by an engine that offers only the OpenAI endpoints
 * (`/v1/models`, `/v1/completions`, `/v1/chat/completions`, `/v1/embeddings`): vLLM, Ollama,
 * LM Studio, and llama-server's own `/v1` (which the tests use, as a real engine).
 *
 * What the OpenAI API gives and what it does not, and what this backend does about it:
 * - No infill endpoint: fill-in-the-middle is the model's FIM template (src/core/fim.ts) written out
 *   as text and sent to `/v1/completions`; the engine must turn the marker strings into the model's
 *   control tokens (llama-server and vLLM tokenize special-token text in a prompt). The family is
 *   `spec.fimTemplate` when forced; "auto" cannot read the vocabulary through this API, so it is
 *   the family the model id names (detectFimFamily's name rule: "qwen2.5-coder", "deepseek-coder",
 *   "codellama", "starcoder2", "codestral"), else none: `info.fim` is undefined and FIM requests
 *   are refused ('unsupported'), so the router never sends completions here. Marker strings inside
 *   the user's text are broken with a zero-width space, so code cannot inject a control token.
 *   A family marker the engine does not treat as end of generation (llama.cpp: Qwen's
 *   `<|fim_prefix|>`, `<|im_start|>`) streams as empty text and generation goes on, where the local
 *   backend stops at its token id: the OpenAI API has no stop-by-token-id (vLLM's `stop_token_ids`
 *   would need ids this API does not show).
 * - Stop strings are sent to the engine (it stops at once, and its `usage` stays exact) and guarded
 *   here too (StopText, backends/stopText.ts: an engine that ignores `stop` never gets a stop string
 *   into the result or a piece). `finish_reason: "stop"` means either end of generation or a stop
 *   string; vLLM says which (`stop_reason`), llama-server's /v1 and Ollama do not: then a call that
 *   had stop strings reports 'stopString', one without 'endOfGeneration' (the router does not read it).
 * - `ignore_eos` is sent only when `ignoreEndOfGeneration` is asked (llama-server and vLLM accept it;
 *   an engine that rejects unknown fields then answers 400, a 'protocol' error).
 * - Temperature 0 is greedy on these engines; `seed` is sent when given.
 * - Prompt sizes: `countTokens` is an estimate (TokenEstimate: characters per token learned from the
 *   `usage.prompt_tokens` of finished calls). A prompt over the context is cut as the local backend
 *   cuts it (raw at its start, FIM around the cursor), by that estimate, and again to the size the
 *   engine states when it still refuses. Prefix reuse is what the engine reports in
 *   `usage.prompt_tokens_details.cached_tokens` (0 when it does not say).
 * - A closed gate holds delivery only: the stream is read on into a queue meanwhile (the engine
 *   generates on regardless, and an unread stream would reach its idle timeout).
 * - `maxTokens` 0 (a prefill only): these engines generate at least one token; it is sent as 1 and
 *   the token is dropped.
 * - Embeddings are returned as the engine sends them (llama-server and vLLM L2-normalise them; the
 *   local backend returns llama.cpp's raw pooled vector, and the search index normalises every
 *   vector before storing it, so only the direction matters).
 *
 * Invariants: every call holds one count in `inFlight` from its start to its settlement; unload
 * aborts the calls in flight (they reject ModelRuntimeError 'notLoaded'), stops the load poller and
 * later calls reject 'notLoaded'; an aborted call rejects with `signal.reason` at once and its
 * stream is closed (the engine stops generating); `onToken` is never called after its call settled.
 * Units: milliseconds (the Clock), tokens, characters.
 */
import type {
    BackendStats,
    CallUsage,
    ChatRequest,
    FimFamily,
    GenerateRequest,
    GenerationResult,
    ModelBackend,
    ModelInfo,
    ModelSpec,
    RemoteLoad,
    StopReason,
    TokenGate,
    TokenListener,
} from '../../core/backend';
import { reportUsage } from '../../core/backend';
import { ModelFileError, ModelRuntimeError, RemoteEngineError, errorMessage } from '../../core/errors';
import { buildFimPrompt, detectFimFamily, fimTemplate, resolveFimFamily } from '../../core/fim';
import { fnv1a } from '../../core/hash';
import type { Priority, WaitTag } from '../../core/scheduling';
import { HEADERS_TIMEOUT_MS, STREAM_IDLE_TIMEOUT_MS, joinUrl, requestJson, streamSse } from './http';
import { ACTIVE_POLL_MS, LoadPoller } from './openAiLoad';
import { StopText } from '../stopText';
import { StreamedError, parseStreamEvent, parseUsage, type OpenAiFinish, type OpenAiUsage } from './openAiStream';
import type { RemoteBackendOptions } from './options';
import { TokenEstimate } from './tokenEstimate';
import { ListenerFailure, settleOnAbort } from '../calls';
import { EventQueue } from './eventQueue';

/** Text sent to an embedder at inspect and load to learn its vector width. */
const PROBE_TEXT = 'probe';
/** Share of the estimated room a trimmed prompt may fill (the estimate is not exact). */
const TRIM_MARGIN = 0.9;
/** Calls made for one generate request whose prompt the engine finds over its context (each cut to what it counted). */
const PROMPT_FIT_TRIES = 3;
/** Embedding calls made for one batch whose texts the engine finds over its context (each cut half the last). */
const EMBED_FIT_TRIES = 4;

/** One entry of `GET /v1/models`, with the fields engines add (vLLM `max_model_len`, llama-server `meta`). */
interface ModelEntry {
    readonly id: string;
    readonly max_model_len?: number;
    readonly meta?: {
        readonly n_ctx?: number;
        readonly n_ctx_train?: number;
        readonly n_embd?: number;
        readonly size?: number;
    };
}

interface Loaded {
    readonly spec: ModelSpec;
    readonly info: ModelInfo;
    /** The `model` field sent with every call. */
    readonly modelId: string;
    readonly lifetime: AbortController;
    readonly poller: LoadPoller;
}

/** What a streamed call needs besides its body. */
interface StreamJob {
    readonly kind: 'completion' | 'chat';
    readonly body: Record<string, unknown>;
    /** Strings that end the text (the caller's plus, for FIM, the family's markers). */
    readonly guardStops: readonly string[];
    /** The caller's own stop strings were sent (see the stop-reason rule in the file comment). */
    readonly callerStops: boolean;
    readonly maxTokens: number;
    /** The generated text is dropped (maxTokens 0). */
    readonly discard: boolean;
    readonly gate: TokenGate | undefined;
    readonly onToken: TokenListener | undefined;
    readonly onUsage: ((usage: CallUsage) => void) | undefined;
    /** Estimated prompt tokens, for results and usage when the engine sends no `usage`. */
    readonly promptEstimate: number;
    /** Characters and marker tokens of the prompt's text, to learn characters per token from `usage`. */
    readonly learn: { readonly chars: number; readonly fixedTokens: number } | undefined;
}

function hex32(n: number): string {
    return n.toString(16).padStart(8, '0');
}

/** A 64-bit identity from two FNV-1a passes (src/core/hash.ts); not for integrity. */
function spaceHash(text: string): string {
    return hex32(fnv1a(text)) + hex32(fnv1a(`${text.length}\u0000${text}`));
}

/** Breaks every occurrence of a marker in user text with a zero-width space after its first character. */
export function neutraliseMarkers(text: string, markers: readonly string[]): string {
    let out = text;
    for (const m of markers) {
        if (m.length < 2 || !out.includes(m)) continue;
        out = out.split(m).join(`${m[0]}\u200B${m.slice(1)}`);
    }
    return out;
}

/** The FIM family for an OpenAI-compatible model: forced by the spec, or named by the model id ("auto"). */
export function openAiFimFamily(setting: ModelSpec['fimTemplate'], modelId: string): FimFamily | undefined {
    return resolveFimFamily(setting, detectFimFamily({ tokens: [], generalName: modelId }));
}

/** Prompt tokens allowed so that `maxTokens` can still be generated, but never less than half the context (as the local backend). */
function promptBudget(contextSize: number, maxTokens: number): number {
    return Math.max(Math.floor(contextSize / 2), contextSize - Math.max(1, maxTokens));
}

export class OpenAiCompatibleBackend implements ModelBackend {
    private state: Loaded | undefined;
    private loading: Promise<ModelInfo> | undefined;
    private lastInfo: ModelInfo | undefined;
    private readonly tokens = new TokenEstimate();
    private inFlight = 0;
    private lastUsedAt = Number.NEGATIVE_INFINITY;
    private counters = { requests: 0, errors: 0, evaluated: 0, reused: 0, generated: 0 };
    private readonly headersTimeoutMs: number;
    private readonly idleTimeoutMs: number;

    constructor(private readonly options: RemoteBackendOptions) {
        this.headersTimeoutMs = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
        this.idleTimeoutMs = options.streamIdleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS;
    }

    get info(): ModelInfo | undefined {
        return this.state?.info ?? this.lastInfo;
    }

    // ---------------------------------------------------------------- inspect / load / unload

    async inspect(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        const { info } = await this.describe(spec, signal);
        this.lastInfo = info;
        return info;
    }

    async load(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
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
        const { info, modelId, rttMs } = await this.describe(spec, signal);
        signal.throwIfAborted();
        const remote = spec.remote!;
        const poller = new LoadPoller({
            clock: this.options.clock,
            fetch: this.options.fetch,
            log: this.options.log,
            url: remote.url,
            apiKey: remote.apiKey,
            model: modelId,
            slots: info.slots,
            pollIntervalMs: this.options.pollIntervalMs ?? ACTIVE_POLL_MS,
            headersTimeoutMs: this.headersTimeoutMs,
            ownInFlight: () => this.inFlight,
            lastUsedAt: () => this.lastUsedAt,
        });
        poller.noteRtt(rttMs);
        poller.start();
        this.state = { spec, info, modelId, lifetime: new AbortController(), poller };
        this.lastInfo = info;
        this.counters = { requests: 0, errors: 0, evaluated: 0, reused: 0, generated: 0 };
        return info;
    }

    async unload(): Promise<void> {
        if (this.loading) await this.loading.catch(() => undefined);
        const loaded = this.state;
        if (!loaded) return;
        this.state = undefined;
        loaded.poller.stop();
        loaded.lifetime.abort(new ModelRuntimeError(loaded.spec.id, 'notLoaded', 'the model was unloaded while the call was running'));
    }

    /** `/v1/models` (and a probe embedding for an embedder): what the engine serves, as ModelInfo. */
    private async describe(spec: ModelSpec, signal: AbortSignal): Promise<{ info: ModelInfo; modelId: string; rttMs: number }> {
        const remote = spec.remote;
        if (!remote || remote.api !== 'openai') {
            throw new ModelRuntimeError(spec.id, 'unsupported', `not an OpenAI-compatible engine's model (remote.api is ${remote?.api ?? 'unset'})`);
        }
        const clock = this.options.clock;
        const started = clock.now();
        const listing = await requestJson<{ data?: unknown }>({
            base: remote.url,
            url: joinUrl(remote.url, 'v1/models'),
            apiKey: remote.apiKey,
            signal,
            headersTimeoutMs: this.headersTimeoutMs,
            fetch: this.options.fetch,
        });
        const rttMs = clock.now() - started;
        const entries = (Array.isArray(listing.data) ? listing.data : []).filter(
            (e): e is ModelEntry => e !== null && typeof e === 'object' && typeof (e as { id?: unknown }).id === 'string',
        );
        const wanted = remote.model;
        const entry = wanted === undefined ? entries[0] : entries.find((e) => e.id === wanted);
        if (!entry) {
            const listed = entries.length === 0 ? 'it lists no model' : `it lists ${entries.map((e) => JSON.stringify(e.id)).join(', ')}`;
            throw new ModelRuntimeError(
                spec.id,
                'unsupported',
                wanted === undefined
                    ? `the engine at ${remote.url} serves no model (/v1/models is empty)`
                    : `the engine at ${remote.url} does not serve model ${JSON.stringify(wanted)}: ${listed}; set the model id in zeta.remoteModels to one of them`,
            );
        }
        const meta = entry.meta ?? {};
        const engineContext = positive(entry.max_model_len) ?? positive(meta.n_ctx);
        const contextSize = engineContext === undefined ? spec.contextSize : Math.min(spec.contextSize, engineContext);
        let embeddingDims = positive(meta.n_embd) ?? 0;
        if (spec.role === 'embedder') {
            const [probe] = await this.embedRequest(spec, entry.id, [PROBE_TEXT], signal);
            embeddingDims = probe.length;
        }
        const identity = remote.identity;
        const embeddingSpace =
            identity !== undefined && identity !== ''
                ? identity
                : `openai:${spaceHash(JSON.stringify([remote.url.replace(/\/+$/, ''), entry.id, positive(meta.size) ?? null]))}`;
        const info: ModelInfo = {
            id: spec.id,
            path: spec.path,
            architecture: 'remote',
            name: entry.id,
            fim: openAiFimFamily(spec.fimTemplate, entry.id),
            hasChat: true,
            embeddingDims,
            embeddingSpace,
            trainContextSize: positive(meta.n_ctx_train) ?? engineContext ?? contextSize,
            contextSize,
            slots: spec.slots,
            estimatedMemory: { ramBytes: 0, vramBytes: 0 },
            gpu: false,
            remote: { api: 'openai', url: remote.url },
        };
        return { info, modelId: entry.id, rttMs };
    }

    // ---------------------------------------------------------------- requests

    generate(request: GenerateRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.serve(signal, 'generate', async (loaded, sig, startedAt) => {
            const room = promptBudget(loaded.info.contextSize, request.maxTokens);
            const callerStops = (request.stop ?? []).filter((s) => s.length > 0);
            const fit = this.promptFit(loaded, request);
            const guardStops = [...callerStops, ...fit.stops];
            const discard = request.maxTokens <= 0;
            // Text characters allowed, from the estimate first; refined by what the engine reports.
            let maxChars = Math.floor((room - fit.fixedTokens) * this.tokens.charsPerToken * TRIM_MARGIN);
            for (let attempt = 1; ; attempt++) {
                const { prompt, textChars } = fit.build(Math.max(1, maxChars));
                try {
                    return await this.stream(loaded, sig, startedAt, {
                        kind: 'completion',
                        body: {
                            model: loaded.modelId,
                            prompt,
                            ...this.sampling(request, discard),
                            ...(guardStops.length > 0 ? { stop: guardStops } : {}),
                        },
                        guardStops,
                        callerStops: callerStops.length > 0,
                        maxTokens: request.maxTokens,
                        discard,
                        gate: request.gate,
                        onToken: request.onToken,
                        onUsage: request.onUsage,
                        promptEstimate: Math.max(1, this.tokens.count(prompt)),
                        learn: { chars: textChars, fixedTokens: fit.fixedTokens },
                    });
                } catch (e) {
                    if (!(e instanceof ModelRuntimeError && e.problem === 'promptTooLong') || attempt >= PROMPT_FIT_TRIES || sig.aborted) throw e;
                    // The engine refused before evaluating anything: cut again, to what it counted when it says.
                    const counted = reportedPromptTokens(e.message);
                    if (counted !== undefined && counted > fit.fixedTokens) {
                        this.tokens.learnRatio(textChars, counted - fit.fixedTokens);
                        maxChars = Math.floor((textChars * (room - fit.fixedTokens)) / (counted - fit.fixedTokens) * TRIM_MARGIN);
                    } else maxChars = Math.floor(textChars / 2);
                }
            }
        });
    }

    /**
     * How a generate request's prompt is written for `/v1/completions` at a given size: raw text cut at
     * its start, or the FIM template with prefix, suffix and middle cut around the cursor (as the local
     * backend cuts them); `fixedTokens` are the tokens besides the text (BOS, control tokens).
     */
    private promptFit(
        loaded: Loaded,
        request: GenerateRequest,
    ): { build(maxChars: number): { prompt: string; textChars: number }; fixedTokens: number; stops: readonly string[] } {
        if (request.mode === 'raw') {
            const text = request.prompt ?? '';
            return {
                build: (maxChars) => {
                    const prompt = text.length > maxChars ? text.slice(text.length - maxChars) : text;
                    return { prompt, textChars: prompt.length };
                },
                fixedTokens: 1,
                stops: [],
            };
        }
        const family = loaded.info.fim;
        if (family === undefined) {
            throw new ModelRuntimeError(
                loaded.spec.id,
                'unsupported',
                `this model cannot fill in the middle here: its FIM template is unknown (an OpenAI-compatible engine does not say; set zeta's fimTemplate for ${loaded.modelId})`,
            );
        }
        const t = fimTemplate(family);
        const markers = [t.prefixToken, t.suffixToken, ...(t.middleToken === undefined ? [] : [t.middleToken]), ...t.stop];
        const clean = (s: string | undefined): string => neutraliseMarkers(s ?? '', markers);
        const [prefix, suffix, middle] = [clean(request.prefix), clean(request.suffix), clean(request.middle)];
        return {
            build: (maxChars) => {
                const [p, s, m] = trimFim(prefix, suffix, middle, maxChars);
                return { prompt: buildFimPrompt(family, p, s, m), textChars: p.length + s.length + m.length };
            },
            fixedTokens: 1 + (t.middleToken === undefined ? 2 : 3),
            stops: t.stop,
        };
    }

    chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.serve(signal, 'chat', (loaded, sig, startedAt) => {
            const discard = request.maxTokens <= 0;
            const body: Record<string, unknown> = {
                model: loaded.modelId,
                messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
                ...this.sampling(request, discard),
            };
            let chars = 0;
            for (const m of request.messages) chars += m.content.length;
            return this.stream(loaded, sig, startedAt, {
                kind: 'chat',
                body,
                guardStops: [],
                callerStops: false,
                maxTokens: request.maxTokens,
                discard,
                gate: request.gate,
                onToken: request.onToken,
                onUsage: request.onUsage,
                promptEstimate: Math.max(1, Math.round(chars / this.tokens.charsPerToken) + 4 * request.messages.length),
                learn: undefined,
            });
        });
    }

    embed(texts: readonly string[], signal: AbortSignal, _priority?: Priority, _tag?: WaitTag): Promise<number[][]> {
        return this.serve(signal, 'embed', async (loaded, sig) => {
            if (texts.length === 0) return [];
            const vectors = await this.embedFitted(loaded, texts, sig);
            const dims = loaded.info.embeddingDims;
            for (const v of vectors) {
                if (dims > 0 && v.length !== dims) {
                    throw new ModelRuntimeError(loaded.spec.id, 'unsupported', `embedding has ${v.length} dimensions, expected ${dims}`);
                }
            }
            return vectors;
        });
    }

    countTokens(text: string): number {
        return this.tokens.count(text);
    }

    remoteLoad(): RemoteLoad {
        const loaded = this.state;
        if (loaded) return loaded.poller.snapshot();
        const remote = this.lastInfo?.remote;
        return {
            api: 'openai',
            url: remote?.url ?? '',
            at: undefined,
            reachable: false,
            error: 'not loaded',
            slots: this.lastInfo?.slots,
            slotsBusy: 0,
            deferred: 0,
            ownInFlight: this.inFlight,
            busyRemainingTokens: undefined,
            decodeTokensPerSec: undefined,
            rttMs: undefined,
        };
    }

    stats(): BackendStats {
        const loaded = this.state;
        const c = this.counters;
        return {
            loaded: loaded !== undefined,
            inFlight: this.inFlight,
            slots: loaded?.info.slots ?? 0,
            promptTokensEvaluated: c.evaluated,
            promptTokensReused: c.reused,
            generatedTokens: c.generated,
            requests: c.requests,
            errors: c.errors,
            memory: { ramBytes: 0, vramBytes: 0 },
            sequencesHeld: this.inFlight,
            contextsOpen: loaded ? 1 : 0,
        };
    }

    // ---------------------------------------------------------------- request plumbing

    /** Sampling fields common to completions and chat. */
    private sampling(request: GenerateRequest | ChatRequest, discard: boolean): Record<string, unknown> {
        return {
            max_tokens: discard ? 1 : request.maxTokens,
            temperature: request.temperature ?? 0,
            ...(request.seed === undefined ? {} : { seed: request.seed }),
            ...(request.ignoreEndOfGeneration ? { ignore_eos: true } : {}),
            stream: true,
            stream_options: { include_usage: true },
        };
    }

    /**
     * Embeds `texts` each cut to fit the context, as the local backend cuts them (the start kept, an
     * empty text embedded as one space). The cut is by estimated tokens; when the engine still finds
     * a text over its context (400 'promptTooLong'), the cut is halved and the call made again, at
     * most EMBED_FIT_TRIES times in all.
     */
    private async embedFitted(loaded: Loaded, texts: readonly string[], signal: AbortSignal): Promise<number[][]> {
        // Room for the BOS/EOS (or CLS/SEP) tokens the engine adds, as embed.ts leaves it.
        const room = Math.max(1, loaded.info.contextSize - 3);
        let share = TRIM_MARGIN;
        for (let attempt = 1; ; attempt++) {
            const maxChars = Math.max(1, Math.floor(room * this.tokens.charsPerToken * share));
            const fitted = texts.map((t) => (t === '' ? ' ' : t.length > maxChars ? t.slice(0, maxChars) : t));
            try {
                return await this.embedRequest(loaded.spec, loaded.modelId, fitted, signal);
            } catch (e) {
                if (!(e instanceof ModelRuntimeError && e.problem === 'promptTooLong') || attempt >= EMBED_FIT_TRIES) throw e;
                share /= 2;
            }
        }
    }

    /** `POST /v1/embeddings`: one vector per text, in order. */
    private async embedRequest(spec: ModelSpec, modelId: string, texts: readonly string[], signal: AbortSignal): Promise<number[][]> {
        const remote = spec.remote!;
        let answer: { data?: unknown; usage?: unknown };
        try {
            answer = await requestJson<{ data?: unknown; usage?: unknown }>({
                base: remote.url,
                url: joinUrl(remote.url, 'v1/embeddings'),
                body: { model: modelId, input: texts },
                apiKey: remote.apiKey,
                signal,
                headersTimeoutMs: this.headersTimeoutMs,
                fetch: this.options.fetch,
            });
        } catch (e) {
            throw this.refusal(spec.id, e, 'embed', 'embeddings');
        }
        const data = Array.isArray(answer.data) ? (answer.data as unknown[]) : [];
        const vectors: (number[] | undefined)[] = new Array<number[] | undefined>(texts.length);
        data.forEach((d, i) => {
            const item = d as { index?: unknown; embedding?: unknown } | null;
            const index = typeof item?.index === 'number' ? item.index : i;
            const embedding = item?.embedding;
            if (Array.isArray(embedding) && embedding.every((x) => typeof x === 'number' && Number.isFinite(x)) && index >= 0 && index < texts.length) {
                vectors[index] = embedding as number[];
            }
        });
        const missing = vectors.findIndex((v) => v === undefined);
        if (missing >= 0 || vectors.length !== texts.length) {
            throw new RemoteEngineError(remote.url, 'protocol', `/v1/embeddings answered ${data.length} usable vectors for ${texts.length} texts (text ${missing} has none)`);
        }
        const usage = parseUsage(answer.usage);
        if (usage) this.tokens.learnRatio(texts.reduce((n, t) => n + t.length, 0), usage.promptTokens);
        return vectors as number[][];
    }

    /**
     * Makes an engine's refusal of an endpoint a ModelRuntimeError where it is the model's (no such
     * endpoint: 'unsupported'; the prompt over the context: 'promptTooLong'); other errors as they are.
     */
    private refusal(modelId: string, e: unknown, operation: string, endpoint: string): unknown {
        if (!(e instanceof RemoteEngineError)) return e;
        const status = e.status;
        if (status === 400 && /context|too long|maximum.*length|exceed/i.test(e.message)) {
            return new ModelRuntimeError(modelId, 'promptTooLong', `${operation}: ${e.message}`, { cause: e });
        }
        if (status === 400 && endpoint === 'embeddings' && /pooling/i.test(e.message)) {
            return new ModelRuntimeError(
                modelId,
                'unsupported',
                `${operation}: the engine serves no pooled embeddings for this model; start it with a pooling type (llama-server: --pooling last or mean) (${e.message})`,
                { cause: e },
            );
        }
        if (status === 404 || status === 405 || status === 501 || (status === 400 && endpoint === 'chat completions')) {
            return new ModelRuntimeError(modelId, 'unsupported', `${operation}: the engine does not offer ${endpoint} for this model (${e.message})`, { cause: e });
        }
        return e;
    }

    /**
     * Runs `work` for the loaded model: rejects with `signal.reason` as soon as `signal` aborts (or
     * 'notLoaded' at unload), while `work` sees the combined signal and cleans up in its own time.
     * A RemoteEngineError also updates the engine's reachability; untyped errors become
     * ModelRuntimeError 'evaluationFailed'.
     */
    private serve<T>(signal: AbortSignal, operation: string, work: (loaded: Loaded, signal: AbortSignal, startedAt: number) => Promise<T> | T): Promise<T> {
        if (signal.aborted) return Promise.reject(signal.reason);
        const loaded = this.state;
        const id = loaded?.spec.id ?? this.lastInfo?.id ?? 'model';
        if (!loaded) return Promise.reject(new ModelRuntimeError(id, 'notLoaded', `${operation}: the model is not loaded`));
        const clock = this.options.clock;
        const startedAt = clock.now();
        this.lastUsedAt = startedAt;
        this.counters.requests++;
        this.inFlight++;
        const combined = AbortSignal.any([signal, loaded.lifetime.signal]);
        const running = (async () => work(loaded, combined, startedAt))();
        running.then(
            () => {
                this.inFlight--;
                if (this.state === loaded) loaded.poller.noteCall(true);
            },
            (e: unknown) => {
                this.inFlight--;
                if (e instanceof RemoteEngineError && !combined.aborted && this.state === loaded) loaded.poller.noteCall(false, e);
            },
        );
        return settleOnAbort(running, combined, (e) => {
            this.counters.errors++;
            if (e instanceof ListenerFailure) return e.cause;
            if (e instanceof RemoteEngineError || e instanceof ModelRuntimeError || e instanceof ModelFileError) return e;
            return new ModelRuntimeError(id, 'evaluationFailed', `${operation} failed: ${errorMessage(e)}`, { cause: e });
        });
    }

    /**
     * One streamed completion or chat call: tokens to `onToken` in order, the result from the engine's
     * usage. The stream is read as it arrives, into a queue, whatever the gate says: a closed gate
     * holds delivery only (the engine generates on regardless, and a stream left unread would reach
     * the idle timeout). Leaving early (a stop string cut here, a throwing onToken, an abort) closes it.
     */
    private async stream(loaded: Loaded, signal: AbortSignal, startedAt: number, job: StreamJob): Promise<GenerationResult> {
        const clock = this.options.clock;
        const remote = loaded.spec.remote!;
        const path = job.kind === 'completion' ? 'v1/completions' : 'v1/chat/completions';
        const endpoint = job.kind === 'completion' ? 'completions' : 'chat completions';
        // Pieces StopText released, delivered in order by `release` (the gate may hold them).
        const released: string[] = [];
        const guard = new StopText(job.guardStops, (piece) => released.push(piece));
        let cut = false;
        let usage: OpenAiUsage | undefined;
        let finish: OpenAiFinish | undefined;
        let pieces = 0;
        let firstTokenAt: number | undefined;
        let delivered = 0;
        let reached = false;
        let completed = false;
        const closing = new AbortController();

        const deliver = async (text: string): Promise<void> => {
            if (job.discard) return;
            if (delivered > 0) {
                // Between tokens: a closed gate holds delivery.
                const wait = job.gate?.wait(signal);
                if (wait) await wait;
            }
            signal.throwIfAborted();
            delivered++;
            if (!job.onToken) return;
            try {
                job.onToken(text);
            } catch (e) {
                throw new ListenerFailure(e);
            }
        };
        const release = async (): Promise<void> => {
            for (const piece of released.splice(0)) await deliver(piece);
        };
        const counts = (): { prompt: number; reused: number; generated: number } => {
            const prompt = usage?.promptTokens ?? job.promptEstimate;
            return { prompt, reused: Math.min(prompt, usage?.cachedTokens ?? 0), generated: job.discard ? 0 : (usage?.completionTokens ?? pieces) };
        };

        try {
            const wait = job.gate?.wait(signal);
            if (wait) await wait;
            signal.throwIfAborted();
            const queue = new EventQueue<{ readonly event: unknown; readonly at: number }>();
            reached = true;
            void (async () => {
                try {
                    for await (const raw of streamSse({
                        base: remote.url,
                        url: joinUrl(remote.url, path),
                        body: job.body,
                        apiKey: remote.apiKey,
                        signal: AbortSignal.any([signal, closing.signal]),
                        headersTimeoutMs: this.headersTimeoutMs,
                        idleTimeoutMs: this.idleTimeoutMs,
                        fetch: this.options.fetch,
                    })) {
                        queue.push({ event: raw, at: clock.now() });
                    }
                    queue.end();
                } catch (e) {
                    queue.fail(e);
                }
            })();
            for (;;) {
                const item = await queue.next();
                if (item.done) break;
                const next = item.value;
                let event;
                try {
                    event = parseStreamEvent(next.event, job.kind);
                } catch (e) {
                    throw new RemoteEngineError(remote.url, e instanceof StreamedError ? 'server' : 'protocol', `${path}: ${errorMessage(e)}`);
                }
                if (event.usage) usage = event.usage;
                if (event.finish) finish = event.finish;
                if (event.text !== '') {
                    pieces++;
                    firstTokenAt ??= next.at;
                    cut = guard.push(event.text);
                    await release();
                    // The engine did not apply a stop string: closing the stream (finally) stops it.
                    if (cut) break;
                }
            }
            if (!cut) {
                guard.flush();
                await release();
            }
            signal.throwIfAborted();
            completed = true;
        } catch (e) {
            if (!signal.aborted && e instanceof RemoteEngineError && (e.problem === 'refused' || e.problem === 'unauthorized' || e.status !== undefined)) reached = false;
            throw signal.aborted ? signal.reason : this.refusal(loaded.spec.id, e, job.kind === 'completion' ? 'generate' : 'chat', endpoint);
        } finally {
            // Closes the connection if the stream is still open (a no-op once it ended).
            closing.abort(new Error('the call left the stream'));
            if (reached) {
                const c = counts();
                this.counters.evaluated += c.prompt - c.reused;
                this.counters.reused += c.reused;
                this.counters.generated += c.generated;
                reportUsage(job.onUsage, { reusedPromptTokens: c.reused, evaluatedPromptTokens: c.prompt - c.reused, generatedTokens: c.generated, completed });
            }
        }

        const c = counts();
        if (usage && job.learn) this.tokens.learnRatio(job.learn.chars, usage.promptTokens - job.learn.fixedTokens);
        return {
            text: job.discard ? '' : guard.text,
            stopReason: job.discard ? 'maxTokens' : stopReasonOf(cut, finish, job.callerStops, c.generated, job.maxTokens),
            promptTokens: c.prompt,
            reusedPromptTokens: c.reused,
            evaluatedPromptTokens: c.prompt - c.reused,
            generatedTokens: c.generated,
            firstTokenMs: firstTokenAt === undefined || job.discard ? undefined : firstTokenAt - startedAt,
            totalMs: clock.now() - startedAt,
        };
    }
}

/**
 * Prefix, suffix and middle cut to `maxChars` characters in all, as the local backend cuts tokens:
 * the text before the cursor (the end of the middle, then of the prefix) and the start of the suffix
 * are kept; the suffix gets at most a quarter when both do not fit.
 */
function trimFim(prefix: string, suffix: string, middle: string, maxChars: number): [string, string, string] {
    const before = prefix.length + middle.length;
    if (before + suffix.length <= maxChars) return [prefix, suffix, middle];
    let suffixKeep = Math.min(suffix.length, Math.floor(maxChars / 4));
    const beforeKeep = Math.min(before, Math.max(0, maxChars - suffixKeep));
    suffixKeep = Math.min(suffix.length, Math.max(0, maxChars - beforeKeep));
    const middleKeep = Math.min(middle.length, beforeKeep);
    const prefixKeep = beforeKeep - middleKeep;
    return [prefix.slice(prefix.length - prefixKeep), suffix.slice(0, suffixKeep), middle.slice(middle.length - middleKeep)];
}

/**
 * The prompt's size in tokens when an engine's "too long" refusal states it: llama-server's
 * `n_prompt_tokens`, vLLM's "(N in the messages|prompt, ...)"; undefined otherwise.
 */
export function reportedPromptTokens(message: string): number | undefined {
    const m = /"n_prompt_tokens"\s*:\s*(\d+)/.exec(message) ?? /\((\d+) in the (?:messages|prompt)/.exec(message) ?? /request \((\d+) tokens\)/.exec(message);
    return m ? Number(m[1]) : undefined;
}

/** See the file comment: how `finish_reason` (and vLLM's `stop_reason`) map to a StopReason. */
export function stopReasonOf(cutHere: boolean, finish: OpenAiFinish | undefined, callerStops: boolean, generated: number, maxTokens: number): StopReason {
    if (cutHere) return 'stopString';
    if (!finish) return generated >= maxTokens ? 'maxTokens' : 'endOfGeneration';
    if (finish.reason === 'length') return 'maxTokens';
    if (finish.reason === 'stop') {
        if (typeof finish.stopReason === 'string') return 'stopString';
        if (finish.stopReason === null || typeof finish.stopReason === 'number') return 'endOfGeneration';
        return callerStops ? 'stopString' : 'endOfGeneration';
    }
    return 'endOfGeneration';
}

function positive(v: unknown): number | undefined {
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}
