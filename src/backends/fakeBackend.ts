/**
 * The deterministic fake `ModelBackend` on a `Clock`: the router's unit tests drive it, and the
 * benchmark's simulated backend (bench/sim/simBackend.ts) is a subclass that supplies its own
 * native-call runner, cost model and tokenizer. With a `VirtualClock` nothing depends on real time.
 *
 * A call runs as the llama.cpp backend runs it, as a series of native calls (`runNative`):
 * - generate/chat: take a sequence from the model's `SequencePool` (the llama.cpp backend's rules:
 *   the key's own sequence, waiting for it while it is busy; by priority, then arrival); reuse the
 *   prompt tokens it holds if calls of the same key (or, without a key, keyless calls) left them
 *   (the common prefix, at least one token is always evaluated); prefill the rest in chunks of
 *   `prefillChunkTokens` (a gate may ask for fewer), one native call each; one native call samples
 *   the first token (with `lastTokenWithFirstSample`, it also evaluates the last prompt token); every
 *   further token is one native call. The gate and the abort signal are checked before each call.
 * - embed: one native call per text, the abort signal checked between texts, on a borrowed
 *   sequence (llama.cpp embeds in a context of its own; the fake counts the call as in flight).
 * Costs (ms of the runner's time) come from `prefillMs`, `firstTokenMs`, `decodeMs`, `embedMs`; the
 * fake's own: `n * 1000 / promptTokensPerSec` a prefill chunk, `firstTokenOverheadMs` the first
 * token, `1000 / decodeTokensPerSec` each further token, `embedMsPerText` a text.
 * The fake's runner sleeps on the clock, and an abort interrupts the call: what it was evaluating
 * is lost and its slot is free at once. A runner whose calls run to their end once begun
 * (`callsRunToEnd`, as llama.cpp's) keeps its slot until the call in flight has returned.
 * A sequence keeps the tokens of its last call: an aborted call what it evaluated
 * (`keepOnAbort: 'evaluated'`) or nothing, a failed one nothing.
 *
 * With `profile.remote` the fake stands for a model on a remote engine shared with other clients
 * (`engine`, a FakeEngine tests change at will): `info.remote` is set and its memory is 0;
 * `remoteLoad()` reports other clients' slots and queue plus our calls in flight; each call first
 * waits the round trip and the engine's queue (`rttMs`, `queueMs`), and each further token
 * `trickleMs` more (a slow trickle); a silent engine never answers
 * (until the abort, or a RemoteEngineError "timeout" at `headersTimeoutMs`); `failRemoteNext`
 * makes calls fail with a RemoteEngineError (before any token or mid-stream), and a failure that
 * reaches no engine marks it unreachable, as the remote backends do.
 */
import type { BackendStats, ChatRequest, GenerateRequest, GenerationResult, ModelBackend, ModelInfo, ModelSpec, RemoteLoad, StopReason, TokenListener } from '../core/backend';
import { UNTAGGED_CALL, prefillChunkSize, reportUsage } from '../core/backend';
import { sleep, type Clock } from '../core/clock';
import { ModelFileError, RemoteEngineError } from '../core/errors';
import { Reservation, type EvalTurns } from '../core/evalTurns';
import { RECENT_TEXTS, RecentMemo } from '../core/memo';
import type { Priority, WaitState, WaitTag } from '../core/scheduling';
import { SequencePool, commonPrefixLength } from './sequencePool';
import {
    DEFAULT_FAKE_PROFILE,
    type FakeAccounting,
    type FakeCall,
    type FakeEngine,
    type FakeOp,
    type FakeProfile,
    type FakeRemoteFault,
    type NativeCall,
    type NativeTrack,
} from './fakeProfile';

export {
    DEFAULT_FAKE_PROFILE,
    type FakeAccounting,
    type FakeCall,
    type FakeEngine,
    type FakeOp,
    type FakeProfile,
    type FakeRemoteFault,
    type NativeCall,
    type NativePhase,
    type NativeTrack,
} from './fakeProfile';

/** A sequence of a fake model: the tokens it holds. */
interface FakeSequence {
    tokens: readonly string[];
    /** Prompt tokens it holds now (while a call evaluates: what it has evaluated so far). */
    held: () => number;
}

export class FakeBackend implements ModelBackend {
    readonly profile: FakeProfile;
    readonly calls: FakeCall[] = [];
    readonly computed: FakeAccounting = { embedTexts: 0, embedTokens: 0 };
    protected spec: ModelSpec | undefined;
    private loaded = false;
    private currentInfo: ModelInfo | undefined;
    /** The model's sequences (created at first use, again when a spec asks for another number). */
    private pool: SequencePool<FakeSequence, string> | undefined;
    /** Recent tokenizations (`tokenize`): each text is tokenized once while it is kept. */
    private readonly tokenized = new RecentMemo<string, readonly string[]>(RECENT_TEXTS);
    private failures: Array<{ ops: readonly FakeOp[]; error: Error }> = [];
    private totals = { promptTokensEvaluated: 0, promptTokensReused: 0, generatedTokens: 0, requests: 0, errors: 0 };
    /** The simulated remote engine (profile.remote set; see FakeRemoteBackend), else undefined. */
    readonly remoteEngine: FakeEngine | undefined;
    private remoteFaults: FakeRemoteFault[] = [];
    /** Our calls to the simulated engine now (from the call to its end). */
    private ownInFlight = 0;

    constructor(
        protected readonly clock: Clock,
        profile: Partial<FakeProfile> = {},
    ) {
        this.profile = { ...DEFAULT_FAKE_PROFILE, ...profile };
        if (this.profile.remote !== undefined) {
            this.remoteEngine = {
                slots: undefined,
                othersBusy: 0,
                othersDeferred: 0,
                busyRemainingTokens: undefined,
                decodeTokensPerSec: undefined,
                rttMs: undefined,
                reachable: true,
                error: undefined,
                polledAt: undefined,
                queueMs: 0,
                silent: false,
                headersTimeoutMs: 30_000,
                trickleMs: 0,
            };
        }
    }

    /** Remote fakes: the next `count` calls fail with RemoteEngineError `fault.problem`. */
    failRemoteNext(fault: FakeRemoteFault, count = 1): void {
        for (let i = 0; i < count; i++) this.remoteFaults.push(fault);
    }

    /** Highest number of concurrent sequences ever seen. */
    get maxInFlight(): number {
        return this.sequences.peakBusy;
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
        this.sequences.forgetKeys();
        for (const sequence of this.sequences.sequences) sequence.tokens = [];
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
        return this.run('generate', prompt, request, signal);
    }

    chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        const prompt: string[] = [];
        for (const m of request.messages) prompt.push(`<${m.role}>`, ...this.tokenize(m.content));
        prompt.push('<assistant>');
        return this.run('chat', prompt, request, signal);
    }

    async embed(texts: readonly string[], signal: AbortSignal, priority: Priority = 0, tag: WaitTag = UNTAGGED_CALL): Promise<number[][]> {
        this.requireLoaded();
        const call: FakeCall = { op: 'embed', at: this.clock.now(), texts: texts.length };
        this.calls.push(call);
        const pool = this.sequences;
        let fault: FakeRemoteFault | undefined;
        if (this.remoteEngine) {
            this.ownInFlight++;
            try {
                fault = await this.reachEngine(signal);
                if (fault) this.remoteFail(fault);
            } catch (e) {
                this.ownInFlight--;
                call.outcome = signal.aborted ? 'aborted' : 'failed';
                call.endAt = this.clock.now();
                throw e;
            }
        }
        let seq: Awaited<ReturnType<typeof pool.acquire>>;
        try {
            seq = await pool.acquire({ key: undefined, tokens: [], priority, tag, borrow: true }, signal);
        } catch (e) {
            if (this.remoteEngine) this.ownInFlight--;
            throw e;
        }
        const track: NativeTrack = { tail: Promise.resolve(), lands: true };
        try {
            const dims = this.profile.embeddingDims;
            const out: number[][] = [];
            for (const t of texts) {
                if (signal.aborted) throw signal.reason;
                const tokens = this.tokenize(t).length;
                this.computed.embedTexts++;
                this.computed.embedTokens += tokens;
                await this.runNative({ phase: 'embed', ms: this.embedMs(tokens), signal, priority, tag }, track);
                const v = new Array<number>(dims).fill(0);
                for (let i = 0; i < t.length; i++) v[i % dims] += t.charCodeAt(i) / 1000;
                out.push(v);
            }
            this.takeFailure('embed');
            call.outcome = 'ok';
            this.totals.requests++;
            return out;
        } catch (e) {
            call.outcome = signal.aborted ? 'aborted' : 'failed';
            if (!signal.aborted) this.totals.errors++;
            throw e;
        } finally {
            call.endAt = this.clock.now();
            if (this.remoteEngine) this.ownInFlight--;
            this.afterNative(track, () => pool.release(seq, undefined));
        }
    }

    cachedTokens(cacheKey: string): number {
        // Like the llama.cpp backend: a sequence serving the key holds what it has evaluated so far.
        return this.sequences.holding(cacheKey)?.held() ?? 0;
    }

    waits(): WaitState {
        return this.sequences.waits();
    }

    stats(): BackendStats {
        return {
            loaded: this.loaded,
            inFlight: this.sequences.busy,
            slots: this.slotCount(),
            ...this.totals,
            memory: this.profile.memory,
            sequencesHeld: this.sequences.busy,
            // No native contexts: one stands for the loaded model.
            contextsOpen: this.loaded ? 1 : 0,
        };
    }

    // ---------------------------------------------------------------- what a subclass may supply

    /** The text's tokens (a pure function of the text). */
    protected tokenizeText(text: string): readonly string[] {
        if (this.profile.tokenCounting === 'whitespace') return text.split(/\s+/).filter((w) => w.length > 0);
        const out: string[] = [];
        for (let i = 0; i < text.length; i += 4) out.push(text.slice(i, i + 4));
        return out;
    }

    /** Ms of one prefill call evaluating `n` prompt tokens after `before` already in the sequence. */
    protected prefillMs(n: number, _before: number): number {
        return (n * 1000) / this.profile.promptTokensPerSec;
    }

    /** Ms of the call that samples the first token after a prompt of `promptTokens`. */
    protected firstTokenMs(_promptTokens: number): number {
        return this.profile.firstTokenOverheadMs;
    }

    /** Ms of the call that samples the token after `position` tokens in the sequence. */
    protected decodeMs(_position: number): number {
        return 1000 / this.profile.decodeTokensPerSec;
    }

    /** Ms of embedding one text of `tokens` tokens. */
    protected embedMs(_tokens: number): number {
        return this.profile.embedMsPerText;
    }

    /** The call that samples the first token also evaluates the last prompt token (llama.cpp's calls). */
    protected get lastTokenWithFirstSample(): boolean {
        return false;
    }

    /** Calls once begun run to their end even when the request aborts, holding the slot (llama.cpp's). */
    protected get callsRunToEnd(): boolean {
        return false;
    }

    /** Turns on an evaluation thread shared with other models, if any (see EvalTurns). */
    protected get turns(): EvalTurns | undefined {
        return undefined;
    }

    /** Sequences when no spec says. */
    protected get defaultSlots(): number {
        return 1;
    }

    /**
     * Runs one native call and records it in `track`. Resolves when it is done; rejects with
     * `call.signal.reason` on abort. The fake sleeps `call.ms` on its clock: an abort interrupts it.
     */
    protected runNative(call: NativeCall, track: NativeTrack): Promise<void> {
        track.lands = false;
        return sleep(this.clock, call.ms, call.signal).then(() => {
            track.lands = true;
        });
    }

    protected makeInfo(spec: ModelSpec): ModelInfo {
        if (spec.path.length === 0) throw new ModelFileError('missing', spec.path, 'no path given');
        const p = this.profile;
        if (p.remote !== undefined) return { ...this.localInfo(spec, p), estimatedMemory: { ramBytes: 0, vramBytes: 0 }, gpu: false, remote: { api: p.remote.api, url: p.remote.url } };
        return this.localInfo(spec, p);
    }

    private localInfo(spec: ModelSpec, p: FakeProfile): ModelInfo {
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

    protected get modelId(): string {
        return this.spec?.id ?? '?';
    }

    // ---------------------------------------------------------------- the calls

    /**
     * The text's tokens, through the memo of recent texts, as the llama.cpp backend's: the router
     * counts a prompt's texts (`countTokens`) and the prompt is built from the same tokens. The
     * returned array must not be modified.
     */
    private tokenize(text: string): readonly string[] {
        return this.tokenized.get(text, (t) => this.tokenizeText(t));
    }

    private slotCount(): number {
        return this.spec?.slots ?? this.defaultSlots;
    }

    private get sequences(): SequencePool<FakeSequence, string> {
        const n = this.slotCount();
        if (this.pool?.size !== n) {
            const fresh = Array.from({ length: n }, (): FakeSequence => ({ tokens: [], held: () => 0 }));
            this.pool = new SequencePool(fresh, (sequence) => sequence.tokens);
        }
        return this.pool;
    }

    /** Runs `release` when the call in flight has returned (at once when an abort interrupts calls). */
    private afterNative(track: NativeTrack, release: () => void): void {
        if (this.callsRunToEnd) void track.tail.then(release);
        else release();
    }

    private async run(op: 'generate' | 'chat', prompt: string[], request: GenerateRequest | ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        this.requireLoaded();
        const { maxTokens, cacheKey } = request;
        const ctx = this.currentInfo?.contextSize ?? Number.POSITIVE_INFINITY;
        if (prompt.length + maxTokens > ctx) {
            this.totals.errors++;
            throw new Error(`${this.modelId}: ${prompt.length} prompt + ${maxTokens} tokens exceed the ${ctx}-token context`);
        }
        const chunks: number[] = [];
        const call: FakeCall = { op, at: this.clock.now(), cacheKey, chunks };
        this.calls.push(call);
        const t0 = this.clock.now();
        if (!this.remoteEngine) return this.runAcquired(op, prompt, request, signal, call, t0, undefined);
        // A remote fake: its way to the engine first (round trip, queue, faults), counted in flight.
        this.ownInFlight++;
        try {
            const fault = await this.reachEngine(signal);
            return await this.runAcquired(op, prompt, request, signal, call, t0, fault);
        } catch (e) {
            if (call.outcome === undefined) {
                call.outcome = signal.aborted ? 'aborted' : 'failed';
                call.endAt = this.clock.now();
            }
            throw e;
        } finally {
            this.ownInFlight--;
        }
    }

    /** run(), from the sequence's acquisition on; `fault`: a remote failure to strike (see failRemoteNext). */
    private async runAcquired(
        op: 'generate' | 'chat',
        prompt: string[],
        request: GenerateRequest | ChatRequest,
        signal: AbortSignal,
        call: FakeCall,
        t0: number,
        fault: FakeRemoteFault | undefined,
    ): Promise<GenerationResult> {
        const { maxTokens, cacheKey, gate } = request;
        const priority = request.priority ?? 0;
        const tag = request.tag ?? UNTAGGED_CALL;
        const chunks = call.chunks!;
        const pool = this.sequences;
        if (fault !== undefined && !(fault.afterTokens !== undefined && fault.afterTokens > 0)) this.remoteFail(fault);
        const held = await pool.acquire({ key: cacheKey, tokens: prompt, priority, tag }, signal);
        const seq = held.sequence;
        let listener: TokenListener | undefined = request.onToken;
        const p = this.profile;
        // Only what calls like this one left is reused (tokens another document left are not).
        const reused = held.own ? Math.max(0, Math.min(commonPrefixLength(seq.tokens, prompt), prompt.length - 1)) : 0;
        call.reusedPromptTokens = reused;
        const evaluated = prompt.length - reused;
        const track: NativeTrack = { tail: Promise.resolve(), lands: true };
        // Prompt tokens whose evaluation has been started; the last call's, uncounted again if it
        // does not land (dropped while waiting for its turn, or interrupted).
        let started = 0;
        let lastCallTokens = 0;
        let generated = 0;
        let prefillDone = false;
        let completed = false;
        seq.held = () => reused + started - (this.callsRunToEnd || track.lands ? 0 : lastCallTokens);
        let keepKey = cacheKey;
        // As the llama.cpp backend: the thread is reserved at this priority until the first token,
        // and let go while the gate holds this call.
        const reservation = new Reservation(this.turns, priority, tag);
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
        try {
            // Prefill in chunks; the gate and the abort signal are checked between chunks.
            const chunk = Math.max(1, p.prefillChunkTokens);
            const inChunks = this.lastTokenWithFirstSample ? evaluated - 1 : evaluated;
            while (started < inChunks) {
                await pass();
                const n = Math.min(prefillChunkSize(chunk, gate), inChunks - started);
                chunks.push(n);
                started += n;
                lastCallTokens = n;
                // Tokens already in the sequence before this chunk: the reused prefix and earlier chunks.
                await this.runNative({ phase: 'prefill', ms: this.prefillMs(n, reused + started - n), signal, priority, tag, gateWait }, track);
            }
            await pass();
            // The call that samples the first token (and evaluates the last prompt token, if left).
            lastCallTokens = evaluated - started;
            started = evaluated;
            await this.runNative({ phase: 'prefill', ms: this.firstTokenMs(prompt.length), signal, priority, tag, gateWait }, track);
            this.takeFailure(op);
            prefillDone = true;
            const limit = request.ignoreEndOfGeneration || p.endAfterTokens === undefined ? maxTokens : Math.min(maxTokens, p.endAfterTokens);
            let text = '';
            let firstTokenAt: number | undefined;
            for (let i = 0; i < limit; i++) {
                if (i > 0) {
                    await pass();
                    lastCallTokens = 0;
                    // A remote engine's slow trickle: each further token arrives `trickleMs` later.
                    const trickle = this.remoteEngine?.trickleMs ?? 0;
                    await this.runNative({ phase: 'decode', ms: this.decodeMs(prompt.length + i - 1) + trickle, signal, priority, tag, gateWait }, track);
                }
                if (signal.aborted) throw signal.reason;
                if (fault !== undefined && i === fault.afterTokens) this.remoteFail(fault);
                const piece = p.tokenText(i);
                text += piece;
                generated++;
                if (firstTokenAt === undefined) {
                    reservation.end();
                    firstTokenAt = this.clock.now();
                }
                listener?.(piece);
            }
            const end = this.clock.now();
            seq.tokens = prompt;
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
            if (!track.lands) started -= lastCallTokens;
            // Like the llama.cpp backend: an abort keeps what was evaluated (the reused prefix and the
            // chunks that landed; after the prefill, the whole prompt); a failure keeps nothing.
            if (signal.aborted && p.keepOnAbort === 'evaluated') seq.tokens = prompt.slice(0, prefillDone ? prompt.length : reused + started);
            else {
                seq.tokens = [];
                keepKey = undefined;
            }
            throw e;
        } finally {
            const kept = seq.tokens.length;
            seq.held = () => kept;
            reservation.end();
            listener = undefined;
            call.endAt = this.clock.now();
            this.totals.promptTokensEvaluated += started;
            this.totals.promptTokensReused += reused;
            this.totals.generatedTokens += generated;
            reportUsage(request.onUsage, { reusedPromptTokens: reused, evaluatedPromptTokens: started, generatedTokens: generated, completed });
            // The slot is free only when the native call in progress has returned.
            this.afterNative(track, () => pool.release(held, keepKey));
        }
    }

    /** The simulated engine's report (FakeRemoteBackend.remoteLoad): other clients' work plus our calls in flight. */
    protected engineReport(): RemoteLoad {
        const remote = this.profile.remote!;
        const e = this.remoteEngine!;
        const own = this.ownInFlight;
        const cap = e.slots ?? Number.POSITIVE_INFINITY;
        const busy = Math.min(cap, e.othersBusy + own);
        return {
            api: remote.api,
            url: remote.url,
            at: e.polledAt ?? this.clock.now(),
            reachable: e.reachable,
            ...(e.error !== undefined ? { error: e.error } : {}),
            slots: e.slots,
            slotsBusy: busy,
            deferred: e.othersDeferred + Math.max(0, e.othersBusy + own - busy),
            ownInFlight: own,
            busyRemainingTokens: e.busyRemainingTokens,
            decodeTokensPerSec: e.decodeTokensPerSec,
            rttMs: e.rttMs,
        };
    }

    /**
     * A call's way to the simulated engine: the round trip and the engine's queue, or no answer
     * at all from a silent engine. Returns the remote fault this call is to strike, if any.
     */
    private async reachEngine(signal: AbortSignal): Promise<FakeRemoteFault | undefined> {
        const e = this.remoteEngine!;
        const url = this.profile.remote!.url;
        if (e.silent) {
            await sleep(this.clock, e.headersTimeoutMs, signal);
            throw new RemoteEngineError(url, 'timeout', `no answer within ${e.headersTimeoutMs} ms`);
        }
        const wait = (e.rttMs ?? 0) + e.queueMs;
        if (wait > 0) await sleep(this.clock, wait, signal);
        return this.remoteFaults.shift();
    }

    /** Fails the call with `fault`'s RemoteEngineError; a fault that reached no engine marks it unreachable. */
    private remoteFail(fault: FakeRemoteFault): never {
        const url = this.profile.remote!.url;
        const detail =
            fault.problem === 'refused'
                ? 'connection refused'
                : fault.problem === 'unauthorized'
                  ? `HTTP ${fault.status ?? 401}: the engine refused the credentials`
                  : fault.problem === 'server'
                    ? fault.status !== undefined
                        ? `HTTP ${fault.status}`
                        : 'the connection closed in the middle of the answer'
                    : fault.problem === 'timeout'
                      ? 'no answer in time'
                      : 'malformed server-sent events';
        if (fault.problem === 'refused' || fault.problem === 'timeout') {
            this.remoteEngine!.reachable = false;
            this.remoteEngine!.error = detail;
        }
        this.totals.errors++;
        throw new RemoteEngineError(url, fault.problem, detail, fault.status !== undefined ? { status: fault.status } : undefined);
    }

    private takeFailure(op: FakeOp): void {
        const i = this.failures.findIndex((f) => f.ops.includes(op));
        if (i < 0) return;
        const f = this.failures[i];
        this.failures.splice(i, 1);
        throw f.error;
    }

    private requireLoaded(): void {
        if (!this.loaded) throw new Error(`fake backend ${this.modelId}: not loaded`);
    }
}

/**
 * The fake of a model served by a remote engine (see the notes at the top): a FakeBackend whose
 * `profile.remote` is `remote`, with `remoteLoad()` reporting its simulated engine (`engine`).
 */
export class FakeRemoteBackend extends FakeBackend {
    constructor(clock: Clock, remote: NonNullable<FakeProfile['remote']>, profile: Partial<FakeProfile> = {}) {
        super(clock, { ...profile, remote });
    }

    /** The simulated engine, for tests to load, slow down or silence. */
    get engine(): FakeEngine {
        return this.remoteEngine!;
    }

    remoteLoad(): RemoteLoad {
        return this.engineReport();
    }
}
