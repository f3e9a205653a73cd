/**
 * The fake backend's knobs and records (see fakeBackend.ts): its speeds and model description
 * (`FakeProfile`), the calls it saw (`FakeCall`), and what its runner reports of a native call.
 */
import type { FimFamily, MemoryEstimate, RemoteApi } from '../core/backend';
import type { RemoteProblem } from '../core/errors';
import type { Priority, WaitTag } from '../core/scheduling';

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
    /** What an aborted call's sequence keeps: the tokens evaluated so far, or nothing. */
    readonly keepOnAbort: 'evaluated' | 'nothing';
    /**
     * Set: the fake stands for a model served by a remote engine (info.remote set, no local memory,
     * `remoteLoad()` reports the simulated engine's load: see FakeEngine). Undefined: a local model.
     */
    readonly remote: { readonly api: RemoteApi; readonly url: string } | undefined;
}

/**
 * The simulated remote engine of a fake with `profile.remote`, changed by tests at will: other
 * clients' work on it, the network, and its faults. Units: ms, requests, tokens.
 */
export interface FakeEngine {
    /** The engine's slots as it reports them (undefined: it does not say). */
    slots: number | undefined;
    /** Other clients' requests on the engine's slots now. */
    othersBusy: number;
    /** Other clients' requests waiting in the engine's queue now. */
    othersDeferred: number;
    busyRemainingTokens: number | undefined;
    decodeTokensPerSec: number | undefined;
    /** Network round trip: each of our calls takes this long before its prefill; reported as measured. */
    rttMs: number | undefined;
    reachable: boolean;
    error: string | undefined;
    /** Clock ms of the newest poll the report is from; undefined: every report is fresh (now). */
    polledAt: number | undefined;
    /** How long the engine's queue holds each of our calls before it starts (ms). */
    queueMs: number;
    /**
     * A dead server that accepts connections: our calls get no answer until their abort, or until
     * `headersTimeoutMs`, when they fail with RemoteEngineError "timeout" (as the HTTP client's).
     */
    silent: boolean;
    headersTimeoutMs: number;
    /** A slow trickle: each token after the first arrives this much later than the model's speed says (ms). */
    trickleMs: number;
}

/** A remote fault to inject: the next call fails with RemoteEngineError `problem` after `afterTokens` tokens (0: before any). */
export interface FakeRemoteFault {
    readonly problem: RemoteProblem;
    readonly afterTokens?: number;
    readonly status?: number;
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
    keepOnAbort: 'evaluated',
    remote: undefined,
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

/** What the embed calls computed (texts and their tokens), aborted ones included. */
export interface FakeAccounting {
    embedTexts: number;
    embedTokens: number;
}

/** What a phase of work a native call does (the simulator's device prices them apart). */
export type NativePhase = 'prefill' | 'decode' | 'embed';

/** One native call, as a fake backend's runner (`runNative`) gets it. */
export interface NativeCall {
    readonly phase: NativePhase;
    /** What it costs: ms of the runner's time (isolated ms on the simulator's device). */
    readonly ms: number;
    readonly signal: AbortSignal;
    /** Its request's priority and tag, for turns on a shared evaluation thread. */
    readonly priority: Priority;
    readonly tag: WaitTag;
    /** The request's gate, asked again when a turn comes (see EvalTurns.run). */
    readonly gateWait?: () => Promise<void> | undefined;
}

/** A request's last native call, as the runner reports it (for the slot's release and accounting). */
export interface NativeTrack {
    /** Settles when the last native call has returned (or was dropped before it started). */
    tail: Promise<void>;
    /** Whether the last call's tokens reach the sequence: it completed, or it began and runs to its end. */
    lands: boolean;
}
