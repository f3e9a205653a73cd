/**
 * Loading and unloading a model on the llama.cpp backend: the model file (already validated and
 * described, see describe.ts), one context with a sequence per slot, the chat template compiled
 * and, for an embedder, the embedding context; an optional warm-up.
 */
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { LlamaContext, LlamaContextSequence, LlamaEmbeddingContext, LlamaModel, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import type { ModelInfo, ModelSpec } from '../../core/backend';
import { ModelFileError, ModelRuntimeError, errorMessage } from '../../core/errors';
import { RECENT_TEXTS, RecentMemo } from '../../core/memo';
import type { LlamaRuntime } from '../llamaProvider';
import { createEmbeddingContext } from './embed';
import { nativeCalls, prefillChunks } from './generate';
import { SequencePool } from '../sequencePool';
import { closeContext, openContext, type Env, type Loaded } from './loaded';
import { chatWrapperFor } from './prompts';

/**
 * Tokens a GPU warm-up evaluates (see `LlamaCppBackendOptions.warmUp`): longer than the default
 * completion windows (512 + 128), so their kernels are built at load (Vulkan on an H100 with no
 * shader cache: a 64-token warm-up built 2.4 of the 6 s of kernels, a 1024-token one all of them).
 * Once the driver's shader cache holds them (later sessions) the warm-up is a few tens of ms.
 */
export const WARM_UP_TOKENS = 1024;

/**
 * Loads `spec`'s file, described by `inspected`, into llama.cpp. Rejects with a `ModelFileError`
 * ('loadFailed', with llama.cpp's own reason when it logged one) and leaves nothing allocated when
 * the model or its context cannot be created, or with `signal.reason` when aborted.
 */
export async function loadModel(env: Env, spec: ModelSpec, inspected: ModelInfo, runtime: LlamaRuntime, signal: AbortSignal): Promise<Loaded> {
    const { llama } = runtime;
    const started = env.clock.now();
    // The file llama.cpp maps (see `mappedFileProblem`); stat before the load, which maps what is there then.
    const st = await stat(spec.path).catch(() => undefined);
    const file = st && { dev: st.dev, ino: st.ino, size: st.size };
    const logMark = runtime.logMark();
    let model: LlamaModel;
    try {
        model = await llama.loadModel({
            modelPath: spec.path,
            gpuLayers: llama.gpu === false ? 0 : spec.gpuLayers,
            loadSignal: signal,
        });
    } catch (e) {
        signal.throwIfAborted();
        if (isInsufficientMemory(runtime, e)) throw insufficientMemory(spec, `the model: ${errorMessage(e)}`);
        throw new ModelFileError('loadFailed', spec.path, `llama.cpp could not load it: ${llamaReason(runtime, logMark, e)}`);
    }
    let context: LlamaContext | undefined;
    let embedding: Promise<LlamaEmbeddingContext> | undefined;
    try {
        signal.throwIfAborted();
        const contextSize = inspected.contextSize;
        context = await openContext(env.open, () =>
            model.createContext({
                contextSize,
                sequences: spec.slots,
                batchSize: Math.min(512, contextSize),
                threads: spec.threads > 0 ? spec.threads : undefined,
                createSignal: signal,
                failedCreationRemedy: false,
            }),
        );
        const sequences: LlamaContextSequence[] = [];
        for (let i = 0; i < spec.slots; i++) sequences.push(context.getSequence());
        const info: ModelInfo = { ...inspected, gpu: model.gpuLayers > 0 };
        const loaded: Loaded = {
            spec,
            file,
            info,
            runtime,
            model,
            context,
            pool: new SequencePool(sequences, (sequence) => sequence.contextTokens),
            lifetime: new AbortController(),
            embedding: undefined,
            chatWrapper: undefined,
            fimIds: new Map(),
            tokenized: new RecentMemo(RECENT_TEXTS),
        };
        // Compiling the chat template takes tens of milliseconds: at load, not on the first chat.
        if (info.hasChat) chatWrapperFor(loaded, env.log);
        if (spec.role === 'embedder') {
            embedding = createEmbeddingContext(env.open, loaded, signal);
            loaded.embedding = embedding;
            await embedding;
        }
        if (env.warmUp === 'always' || (env.warmUp === 'gpu' && info.gpu)) await warmUp(env, loaded, signal);
        signal.throwIfAborted();
        env.log?.(
            `${spec.id}: loaded ${path.basename(spec.path)} in ${Math.round(env.clock.now() - started)} ms ` +
                `(${info.contextSize} tokens × ${spec.slots} slots, ${model.gpuLayers} GPU layers, fim ${info.fim ?? 'none'}, chat ${info.hasChat})`,
        );
        return loaded;
    } catch (e) {
        // An embedder's embedding context, if it was created before the failure (e.g. in the warm-up).
        await closeContext(env.open, await embedding?.catch(() => undefined));
        await closeContext(env.open, context);
        await model.dispose().catch(() => undefined);
        signal.throwIfAborted();
        if (e instanceof ModelFileError) throw e;
        if (isInsufficientMemory(runtime, e)) {
            throw insufficientMemory(spec, `a ${inspected.contextSize}-token context with ${spec.slots} slots: ${errorMessage(e)}`);
        }
        throw new ModelFileError(
            'loadFailed',
            spec.path,
            `llama.cpp loaded it but could not create a ${inspected.contextSize}-token context with ${spec.slots} slots: ${llamaReason(runtime, logMark, e)}`,
        );
    }
}

/**
 * Ends every call in flight on `loaded` (they reject with a notLoaded error), waits for the native
 * work still running (`active`), then frees the embedding context, the context and the model.
 */
export async function unloadModel(env: Env, loaded: Loaded, active: Iterable<Promise<unknown>>): Promise<void> {
    loaded.lifetime.abort(new ModelRuntimeError(loaded.spec.id, 'notLoaded', 'the model was unloaded while the call was running'));
    await Promise.allSettled([...active]);
    const embedding = await loaded.embedding?.catch(() => undefined);
    await closeContext(env.open, embedding);
    await closeContext(env.open, loaded.context);
    await loaded.model.dispose().catch(() => undefined);
    env.log?.(`${loaded.spec.id}: unloaded`);
}

/**
 * Evaluates up to WARM_UP_TOKENS on the first slot as a request would (prefill chunks, then one
 * token), embeds a short text when the model embeds, and clears the slot again.
 */
async function warmUp(env: Env, loaded: Loaded, signal: AbortSignal): Promise<void> {
    const started = env.clock.now();
    const sequence = loaded.pool.sequences[0];
    const unit = loaded.model.tokenize(' warm', false, 'trimLeadingSpace');
    const n = Math.min(WARM_UP_TOKENS, loaded.info.contextSize - 1);
    const tokens: Token[] = [];
    while (unit.length > 0 && tokens.length < n) tokens.push(...unit);
    const native = nativeCalls(env, loaded, Number.NEGATIVE_INFINITY, signal, undefined, { taskId: 0, label: `warm-up of ${loaded.spec.id}` });
    if (tokens.length >= n && n >= 2) {
        await prefillChunks(sequence, tokens, 0, n - 1, env.chunk, () => signal.throwIfAborted(), native, () => undefined);
        await native(() => sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(n - 1, n)));
        await sequence.clearHistory();
    }
    const embedding = loaded.embedding && (await loaded.embedding);
    if (embedding) await native(() => embedding.getEmbeddingFor('warm'));
    env.log?.(`${loaded.spec.id}: warmed up in ${Math.round(env.clock.now() - started)} ms`);
}

/** node-llama-cpp's InsufficientMemoryError (its own class, from the loaded module). */
function isInsufficientMemory(runtime: LlamaRuntime, e: unknown): boolean {
    const type: unknown = runtime.lib.InsufficientMemoryError;
    return typeof type === 'function' && e instanceof type;
}

/**
 * node-llama-cpp found too little free memory for `what`: a typed error that says what to change.
 * Nothing stays allocated (the caller disposed what it created).
 */
function insufficientMemory(spec: ModelSpec, what: string): ModelFileError {
    return new ModelFileError(
        'insufficientMemory',
        spec.path,
        `not enough free memory for ${what}. Lower zeta.models.${spec.role}.contextSize or slots, set gpuLayers to fewer layers (or 0), ` +
            `unload other models by lowering zeta.memoryBudgetMB, or choose a smaller quantization`,
    );
}

/** The reason llama.cpp logged for a failure since `mark` ("error loading model: ..."), else the exception's message. */
function llamaReason(runtime: LlamaRuntime, mark: number, e: unknown): string {
    const lines = runtime.errorsSince(mark);
    for (const line of lines) {
        const m = /error loading model:\s*(.+)/.exec(line);
        if (m) return m[1].trim();
    }
    const last = lines.at(-1)?.trim();
    return last ? `${errorMessage(e)} (llama.cpp: ${last})` : errorMessage(e);
}
