/**
 * The fake backend's knobs and records (see fakeBackend.ts): its speeds and model description
 * (`FakeProfile`), the calls it saw (`FakeCall`), and what its runner reports of a native call.
 */
import type { FimFamily, MemoryEstimate } from '../core/backend';
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
