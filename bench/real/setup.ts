/**
 * The real models on this machine: the generated full GGUF trio (scripts/generatedModels.ts),
 * the llama.cpp backend (src/backends), one thread per model. Shared by the profile measurement,
 * the speed checks, real mode and gpuCheck.ts.
 */
import { cpus, loadavg } from 'node:os';
import { ROLES, type RemoteLoad, type GenerateRequest, type ChatRequest, type GenerationResult, type ModelBackend, type ModelSpec, type Role } from '../../src/core/backend';
import { SystemClock, type Clock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import type { Priority, WaitState, WaitTag } from '../../src/core/scheduling';
import { createLlamaCppBackendFactory, createLlamaProvider, type LlamaProvider } from '../../src/backends';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';

export interface RealSetup {
    readonly models: SyntheticModels;
    readonly provider: LlamaProvider;
    readonly clock: Clock;
    readonly specs: readonly ModelSpec[];
    /** A fresh, unloaded real backend for a spec. */
    readonly createBackend: (spec: ModelSpec) => ModelBackend;
    readonly maxThreads: number;
    /** Whether the models are offloaded to a GPU (every layer llama.cpp fits), or run on the CPU. */
    readonly gpu: boolean;
}

/** Threads over all evaluations, as Zeta runs on a 2-core machine (npm start sets ZETA_THREADS=1; ENVIRONMENT.md: 1 thread is fastest here). */
export const MAX_THREADS = 1;

/** Slots and context per role for the real runs (prompts of the real-* traces fit in 2048). */
export const REAL_SLOTS: Readonly<Record<Role, number>> = { coder: 2, reasoner: 1, embedder: 1 };
export const REAL_CONTEXT = 2048;

/** @param gpu "auto": offload to a GPU when llama.cpp finds one (falls back to the CPU); false: CPU only. */
export async function realSetup(maxThreads: number, gpu: 'auto' | false = false): Promise<RealSetup> {
    const models = await ensureModels('full');
    const provider = createLlamaProvider({ gpu, maxThreads });
    const onGpu = gpu !== false && (await provider()).llama.gpu !== false;
    const clock = new SystemClock();
    // One evaluation thread for the three models: their native calls take turns, as in the extension.
    const turns = new EvalTurns();
    const factory = createLlamaCppBackendFactory({ runtime: provider, clock, turns });
    const specs: ModelSpec[] = ROLES.map((role) => ({
        id: role,
        role,
        path: models[role],
        contextSize: REAL_CONTEXT,
        slots: REAL_SLOTS[role],
        threads: 1,
        gpuLayers: onGpu ? 'auto' : 0,
        fimTemplate: 'auto',
    }));
    return { models, provider, clock, specs, createBackend: (spec) => new FullLength(factory(spec)), maxThreads, gpu: onGpu };
}

/**
 * The generated models have random weights and often sample end-of-generation at once; the
 * benchmark needs every answer to run to maxTokens (as real answers of that length would), so
 * this wrapper asks the backend never to sample end-of-generation. Everything else passes through.
 */
export class FullLength implements ModelBackend {
    /** A remote engine's live load, passed through (absent for an in-process backend). */
    readonly remoteLoad?: () => RemoteLoad;
    constructor(readonly inner: ModelBackend) {
        if (inner.remoteLoad) this.remoteLoad = () => (inner.remoteLoad as () => RemoteLoad).call(inner);
    }
    get info(): ModelBackend['info'] {
        return this.inner.info;
    }
    inspect(spec: ModelSpec, signal: AbortSignal): ReturnType<ModelBackend['inspect']> {
        return this.inner.inspect(spec, signal);
    }
    load(spec: ModelSpec, signal: AbortSignal): ReturnType<ModelBackend['load']> {
        return this.inner.load(spec, signal);
    }
    unload(): Promise<void> {
        return this.inner.unload();
    }
    generate(request: GenerateRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.inner.generate({ ...request, ignoreEndOfGeneration: true }, signal);
    }
    chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.inner.chat({ ...request, ignoreEndOfGeneration: true }, signal);
    }
    embed(texts: readonly string[], signal: AbortSignal, priority?: Priority, tag?: WaitTag): Promise<number[][]> {
        return this.inner.embed(texts, signal, priority, tag);
    }
    waits(): WaitState {
        return this.inner.waits?.() ?? { waiting: [] };
    }
    countTokens(text: string): number {
        return this.inner.countTokens(text);
    }
    cachedTokens(cacheKey: string): number {
        return this.inner.cachedTokens?.(cacheKey) ?? 0;
    }
    stats(): ReturnType<ModelBackend['stats']> {
        return this.inner.stats();
    }
}

/** How busy the machine is (others share it): 1-minute load average over the core count. */
export function machineLoad(): { loadavg1: number; cores: number } {
    return { loadavg1: Math.round(loadavg()[0] * 100) / 100, cores: cpus().length };
}
