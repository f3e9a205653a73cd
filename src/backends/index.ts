/**
 * The backends' front door for the composition root: one provider of the llama.cpp runtime per
 * process, and a factory the router calls once per model spec (`RouterDeps.createBackend`): a
 * remote spec (`spec.remote`, from the user's zeta.remoteModels) gets its engine's HTTP backend,
 * any other the in-process llama.cpp one. With no remote model configured, no remote backend is
 * made, so nothing opens a connection.
 */
import type { ModelBackend, ModelSpec } from '../core/backend';
import type { Clock } from '../core/clock';
import type { EvalTurns } from '../core/evalTurns';
import { validateModelFile } from './ggufValidator';
import { LlamaCppBackend, type ModelFileValidator } from './llamaCpp';
import type { LlamaRuntime } from './llamaProvider';
import { createRemoteBackendFactory, type RemoteBackendOptions } from './remote';

export { DEFAULT_PREFILL_CHUNK_TOKENS, LlamaCppBackend, embeddingSpaceOf, type LlamaCppBackendOptions, type ModelFileValidator } from './llamaCpp';
export { createLlamaProvider, type LlamaProvider, type LlamaProviderOptions, type LlamaRuntime } from './llamaProvider';
export { loadTokenizer, type TextTokenizer } from './tokenizer';
export { LlamaServerBackend, OpenAiCompatibleBackend, createRemoteBackendFactory, type RemoteBackendOptions } from './remote';

export interface LlamaCppBackendFactoryOptions {
    /** The process's runtime provider (`createLlamaProvider(...)`), shared by every backend. */
    readonly runtime: () => Promise<LlamaRuntime>;
    readonly clock: Clock;
    readonly log?: (message: string) => void;
    /** Replaces the GGUF validator (tests only; production always validates). */
    readonly validate?: ModelFileValidator;
    /** See `LlamaCppBackendOptions.prefillChunkTokens`. */
    readonly prefillChunkTokens?: number;
    /** See `LlamaCppBackendOptions.warmUp`. */
    readonly warmUp?: 'gpu' | 'always' | 'never';
    /**
     * `LlamaCppBackendOptions.turns` for every backend this factory makes (they share the runtime's
     * evaluation thread): the composition root's `EvalTurns`, which the router reads too; false: none.
     */
    readonly turns: EvalTurns | false;
}

/** Zeta's GGUF validator, adapted to the backend's validator signature. */
export const validateGguf: ModelFileValidator = (file, options) =>
    validateModelFile(
        file,
        { contextSize: options.contextSize, memoryBudgetBytes: options.memoryBudgetBytes, sequences: options.slots },
        options.signal,
    );

/** `(spec) => ModelBackend` for `RouterDeps.createBackend`: a fresh, unloaded backend per spec. */
export function createLlamaCppBackendFactory(options: LlamaCppBackendFactoryOptions): (spec: ModelSpec) => ModelBackend {
    const turns = options.turns === false ? undefined : options.turns;
    return () =>
        new LlamaCppBackend({
            runtime: options.runtime,
            clock: options.clock,
            validate: options.validate ?? validateGguf,
            log: options.log,
            prefillChunkTokens: options.prefillChunkTokens,
            warmUp: options.warmUp,
            turns,
        });
}

export interface BackendFactoryOptions extends LlamaCppBackendFactoryOptions {
    /** The remote backends' HTTP client and limits (default: Node's fetch, each backend's own limits); clock and log are the ones above. */
    readonly remote?: Omit<RemoteBackendOptions, 'clock' | 'log'>;
}

/** The composition's `(spec) => ModelBackend`: remote specs to their engine's backend, the others to llama.cpp. */
export function createBackendFactory(options: BackendFactoryOptions): (spec: ModelSpec) => ModelBackend {
    const local = createLlamaCppBackendFactory(options);
    const remote = createRemoteBackendFactory({ ...options.remote, clock: options.clock, log: options.log });
    return (spec) => (spec.remote ? remote(spec) : local(spec));
}
