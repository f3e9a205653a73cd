/**
 * The benchmark's simulated `ModelBackend`: the router under test drives it exactly as it drives
 * the llama.cpp backend, while time is virtual and speeds come from a `SpeedProfile`.
 *
 * It is the fake backend (src/backends/fakeBackend.ts: slots, prefix reuse, the gate, the token
 * loop, accounting) with what a simulation adds:
 * - its native-call runner: every call is a job on the shared `SimDevice`, so models slow each
 *   other; with `turns` (one evaluation thread) a call waits for its turn in priority order. Like
 *   llama.cpp's, a call once begun runs to its end: on abort the request rejects at once, but the
 *   device keeps computing and the slot stays taken until the call returns; a call still waiting
 *   for its turn is dropped.
 * - its cost model (`ModelProfile`): n prompt tokens after P already in the sequence cost
 *   `n * 1000 / promptTokensPerSec + attentionMsPerTokenPair * n * (P + n / 2)` isolated ms; with
 *   the per-call model (`callOverheadMs`) every call adds `callOverheadMs + cachedTokenMsPerCall * P`,
 *   the last prompt token is evaluated by the call that samples the first token, and a decoded token
 *   costs a one-token call; without it a decoded token costs `1000 / decodeTokensPerSec`. The first
 *   token adds `firstTokenOverheadMs`; an embedded text `embedOverheadMsPerItem + tokens * 1000 /
 *   embedTokensPerSec`.
 * - its tokenizer: one token per whitespace-separated word unless `options.tokenize` is given (real
 *   mode's prediction passes the generated models' tokenizer). FIM and chat markers are one token
 *   each; a FIM prompt is laid out as llama.cpp's /infill lays it out: `<fim_prefix> prefix
 *   <fim_suffix> suffix <fim_middle> middle`, so typing within a line only appends to the prompt.
 * Accounting: `stats()` and each call's `CallUsage` count the prompt tokens actually evaluated
 * (an aborted prefill: the chunks that ran) and the tokens generated; `computed` counts embeddings.
 */
import type { ModelInfo, ModelSpec } from '../../src/core/backend';
import type { Clock } from '../../src/core/clock';
import type { EvalTurns } from '../../src/core/evalTurns';
import { FakeBackend, type FakeAccounting, type NativeCall, type NativeTrack } from '../../src/backends/fakeBackend';
import type { ModelProfile } from './speedProfile';
import type { SimDevice } from './device';

/** One token per whitespace-separated word. */
export function simTokenize(text: string): string[] {
    // Fast path for text with single spaces only (all the benchmark's synthetic text).
    const simple =
        text.length > 0 &&
        text.charCodeAt(0) !== 32 &&
        text.charCodeAt(text.length - 1) !== 32 &&
        text.indexOf('  ') < 0 &&
        text.indexOf('\n') < 0 &&
        text.indexOf('\t') < 0 &&
        text.indexOf('\r') < 0;
    return simple ? text.split(' ') : text.split(/\s+/).filter((w) => w.length > 0);
}

export type SimAccounting = FakeAccounting;

export interface SimBackendOptions {
    readonly keepOnAbort: 'evaluated' | 'nothing';
    /** Prompt tokens per native prefill call (the gate and abort are checked between calls). */
    readonly prefillChunkTokens: number;
    readonly embeddingSpace: string;
    readonly embeddingDims?: number;
    /**
     * Evaluation turns shared by the backends of a serial device (one evaluation thread), as the
     * llama.cpp backend's `turns`: native calls in priority order, a closed gate asked again when
     * the turn comes, a call still waiting dropped on abort.
     */
    readonly turns?: EvalTurns;
    /**
     * The tokenizer: one token per whitespace-separated word (`simTokenize`) unless given. Real
     * mode's prediction passes the generated models' own tokenizer, so that the simulated calls
     * evaluate and reuse the same tokens as the real ones for the same texts.
     */
    readonly tokenize?: (text: string) => readonly string[];
}

export class SimBackend extends FakeBackend {
    private readonly tokenizer: (text: string) => readonly string[];

    constructor(
        clock: Clock,
        private readonly device: SimDevice,
        private readonly model: ModelProfile,
        private readonly options: SimBackendOptions,
    ) {
        super(clock, {
            promptTokensPerSec: model.promptTokensPerSec,
            decodeTokensPerSec: model.decodeTokensPerSec,
            firstTokenOverheadMs: model.firstTokenOverheadMs,
            loadMs: model.loadMs,
            memory: { ramBytes: 0, vramBytes: model.memoryBytes },
            fim: model.fim ? 'qwen' : undefined,
            hasChat: model.hasChat,
            embeddingSpace: options.embeddingSpace,
            embeddingDims: options.embeddingDims ?? 8,
            prefillChunkTokens: options.prefillChunkTokens,
            keepOnAbort: options.keepOnAbort,
        });
        this.tokenizer = options.tokenize ?? simTokenize;
    }

    protected override tokenizeText(text: string): readonly string[] {
        return this.tokenizer(text);
    }

    /** Isolated ms of one native call evaluating `n` tokens after `before` already in the sequence. */
    private callMs(n: number, before: number): number {
        const p = this.model;
        const perCall = p.callOverheadMs !== undefined;
        return (n * 1000) / p.promptTokensPerSec + (p.attentionMsPerTokenPair ?? 0) * n * (before + n / 2) + (perCall ? (p.callOverheadMs ?? 0) + (p.cachedTokenMsPerCall ?? 0) * before : 0);
    }

    protected override prefillMs(n: number, before: number): number {
        return this.callMs(n, before);
    }

    protected override firstTokenMs(promptTokens: number): number {
        return this.model.firstTokenOverheadMs + (this.lastTokenWithFirstSample ? this.callMs(1, promptTokens - 1) : 0);
    }

    protected override decodeMs(position: number): number {
        return this.lastTokenWithFirstSample ? this.callMs(1, position) : 1000 / this.model.decodeTokensPerSec;
    }

    protected override embedMs(tokens: number): number {
        return this.model.embedOverheadMsPerItem + (tokens * 1000) / this.model.embedTokensPerSec;
    }

    /** The per-call model: the last prompt token is evaluated by the call that samples the first. */
    protected override get lastTokenWithFirstSample(): boolean {
        return this.model.callOverheadMs !== undefined;
    }

    protected override get callsRunToEnd(): boolean {
        return true;
    }

    protected override get turns(): EvalTurns | undefined {
        return this.options.turns;
    }

    protected override get defaultSlots(): number {
        return this.model.slots;
    }

    /**
     * One job of `native.ms` isolated ms on the device. Like llama.cpp, a call once started cannot be
     * interrupted: on abort the returned promise rejects at once with `signal.reason`, but the
     * device keeps computing until the call ends (`track.tail`); with turns, a call still waiting
     * for its turn is dropped on abort, one that started runs to its end, holding the turn.
     */
    protected override runNative(native: NativeCall, track: NativeTrack): Promise<void> {
        const { signal } = native;
        const call = (): Promise<void> => {
            track.lands = true;
            return this.device.run(this.modelId, native.phase, native.ms).done;
        };
        const turns = this.options.turns;
        track.lands = false;
        const done = turns ? turns.run(native.priority, signal, call, native.gateWait, native.tag) : call();
        track.tail = done.catch(() => undefined);
        return untilOrAbort(done, signal);
    }

    protected override makeInfo(spec: ModelSpec): ModelInfo {
        const p = this.model;
        return {
            ...super.makeInfo(spec),
            architecture: 'simulated',
            name: `simulated ${spec.id}`,
            fim: p.fim && spec.fimTemplate !== 'none' ? 'qwen' : undefined,
            trainContextSize: p.contextSize,
            contextSize: Math.min(spec.contextSize, p.contextSize),
            gpu: spec.gpuLayers !== 0,
        };
    }
}

/** Resolves with `p`, or rejects with `signal.reason` if it aborts first; leaves no listener behind. */
function untilOrAbort(p: Promise<void>, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        p.then(
            () => {
                signal.removeEventListener('abort', onAbort);
                resolve();
            },
            // Only a call dropped while waiting for its turn rejects, on this same abort.
            () => reject(signal.reason),
        );
    });
}
