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
    /** What this backend holds natively now (one object per backend, mutated as contexts come and go). */
    readonly open: OpenNative;
}

/** Native resources a backend holds; `stats().contextsOpen` reads it. */
export interface OpenNative {
    /** Contexts (generation and embedding) created and not yet disposed. */
    contexts: number;
}

/**
 * Creates a context through `create` and counts it open in `open` once it exists (a creation that
 * fails allocated nothing and counts nothing).
 */
export async function openContext<C>(open: OpenNative, create: () => Promise<C>): Promise<C> {
    const context = await create();
    open.contexts++;
    return context;
}

/** Disposes a context `openContext` counted; it stays counted if llama.cpp fails to dispose it. Never throws. */
export async function closeContext(open: OpenNative, context: { dispose(): Promise<void> } | undefined): Promise<void> {
    if (!context) return;
    try {
        await context.dispose();
        open.contexts--;
    } catch {
        // Counted as still open: a leak the counter should show.
    }
}
