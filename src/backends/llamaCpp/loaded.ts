/**
 * What the llama.cpp backend holds for one loaded model.
 */
import type { ChatWrapper, LlamaContext, LlamaContextSequence, LlamaEmbeddingContext, LlamaModel, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import type { FimFamily, ModelInfo, ModelSpec } from '../../core/backend';
import type { Clock } from '../../core/clock';
import type { EvalTurns } from '../../core/evalTurns';
import type { RecentMemo } from '../../core/memo';
import type { LlamaRuntime } from '../llamaProvider';
import type { SequencePool } from '../sequencePool';

export interface Loaded {
    readonly spec: ModelSpec;
    readonly info: ModelInfo;
    readonly runtime: LlamaRuntime;
    readonly model: LlamaModel;
    readonly context: LlamaContext;
    /** The context's sequences, one per slot, all taken at load. */
    readonly pool: SequencePool<LlamaContextSequence, Token>;
    /** Aborted by unload(): every call in flight observes it through its combined signal. */
    readonly lifetime: AbortController;
    embedding: Promise<LlamaEmbeddingContext> | undefined;
    chatWrapper: ChatWrapper | undefined;
    /** Control-token ids per FIM family, resolved once. */
    readonly fimIds: Map<FimFamily, Map<string, Token>>;
    /** Recent tokenizations (`tokenizeRecent`); never mutate what it returns. */
    readonly tokenized: RecentMemo<string, readonly Token[]>;
}

/** The backend's settings that loading, the token loop and embeddings read. */
export interface Env {
    readonly clock: Clock;
    readonly log: ((message: string) => void) | undefined;
    /** Prompt tokens per prefill chunk (a request's gate may ask for fewer). */
    readonly chunk: number;
    /** Turns on the shared evaluation thread for CPU models (see `LlamaCppBackendOptions.turns`). */
    readonly turns: EvalTurns | undefined;
    readonly warmUp: 'gpu' | 'always' | 'never';
}
