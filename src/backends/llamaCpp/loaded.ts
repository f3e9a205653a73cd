/**
 * What the llama.cpp backend holds for one loaded model.
 */
import type { ChatWrapper, LlamaContext, LlamaContextSequence, LlamaEmbeddingContext, LlamaModel, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import { statSync, type Stats } from 'node:fs';
import type { FimFamily, ModelInfo, ModelSpec } from '../../core/backend';
import { ModelFileError } from '../../core/errors';
import type { Clock } from '../../core/clock';
import type { EvalTurns } from '../../core/evalTurns';
import type { RecentMemo } from '../../core/memo';
import type { LlamaRuntime } from '../llamaProvider';
import type { SequencePool } from '../sequencePool';

/** The model file as it was when llama.cpp mapped it (undefined: it could not be read then). */
export interface MappedFile {
    readonly dev: number;
    readonly ino: number;
    /** Bytes. */
    readonly size: number;
}

export interface Loaded {
    readonly spec: ModelSpec;
    readonly file: MappedFile | undefined;
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
 * Why the model's mapped file can no longer be read safely, or undefined. llama.cpp maps the file
 * and reads weights from it on every evaluation: a file deleted or renamed over keeps its mapped
 * contents (another inode), but the same file cut shorter in place (a download restarted over it,
 * `curl -o` to the same path) makes the next read of a page past its new end kill the process with
 * SIGBUS, taking the extension host down. One `stat` per call (microseconds) turns that into a typed
 * error; a file cut while a native call runs can still fault, which only loading without mapping
 * would prevent.
 */
export function mappedFileProblem(loaded: Loaded): ModelFileError | undefined {
    const was = loaded.file;
    if (!was) return undefined;
    let now: Stats | undefined;
    try {
        now = statSync(loaded.spec.path, { throwIfNoEntry: false });
    } catch {
        return undefined;
    }
    if (!now || now.dev !== was.dev || now.ino !== was.ino || now.size >= was.size) return undefined;
    return new ModelFileError(
        'truncated',
        loaded.spec.path,
        `was cut from ${was.size} to ${now.size} bytes on disk while loaded; llama.cpp reads the weights from the file, so this model serves nothing ` +
            `until it is reloaded: once the file is complete, change zeta.models.${loaded.spec.role}.path (or another of its settings) or reload the window`,
    );
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
