/**
 * What a GGUF file is, read before it is loaded: `inspectModel` validates the file (TypeScript,
 * never llama.cpp), reads its metadata with node-llama-cpp's GGUF reader and describes the model
 * (`ModelInfo`: FIM family, chat template, embedding size and space, memory estimate).
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { GgufFileInfo, GgufInsights } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import type { MemoryEstimate, ModelInfo, ModelSpec } from '../../core/backend';
import { ModelFileError, errorMessage } from '../../core/errors';
import { detectFimFamily, resolveFimFamily } from '../../core/fim';
import type { LlamaRuntime } from '../llamaProvider';

/** Rejects with a `ModelFileError` when the file must not reach llama.cpp; resolves otherwise. */
export type ModelFileValidator = (
    file: string,
    options: { readonly signal: AbortSignal; readonly memoryBudgetBytes?: number; readonly contextSize: number; readonly slots: number },
) => Promise<unknown>;

/**
 * Validates `spec`'s file, reads its metadata and describes the model. Rejects with a
 * `ModelFileError` when the file is refused, cannot be read, or its estimated memory need exceeds
 * `spec.memoryBudgetBytes`.
 */
export async function inspectModel(
    spec: ModelSpec,
    options: { readonly runtime: () => Promise<LlamaRuntime>; readonly validate: ModelFileValidator },
    signal: AbortSignal,
): Promise<ModelInfo> {
    signal.throwIfAborted();
    await options.validate(spec.path, {
        signal,
        memoryBudgetBytes: spec.memoryBudgetBytes,
        contextSize: spec.contextSize,
        slots: spec.slots,
    });
    signal.throwIfAborted();
    const runtime = await options.runtime();
    let fileInfo: GgufFileInfo;
    try {
        fileInfo = await runtime.lib.readGgufFileInfo(spec.path, {
            signal,
            sourceType: 'filesystem',
            logWarnings: false,
            readTensorInfo: true,
        });
    } catch (e) {
        signal.throwIfAborted();
        throw new ModelFileError('badMetadata', spec.path, `cannot read its GGUF metadata: ${errorMessage(e)}`);
    }
    signal.throwIfAborted();
    const info = await describe(spec, runtime, fileInfo);
    const budget = spec.memoryBudgetBytes;
    const need = info.estimatedMemory.ramBytes + info.estimatedMemory.vramBytes;
    if (budget !== undefined && need > budget) {
        throw new ModelFileError(
            'overMemoryBudget',
            spec.path,
            `needs about ${mib(need)} MiB (model and a ${info.contextSize}-token context × ${info.slots} slots), ` +
                `above the memory budget of ${mib(budget)} MiB; lower the context size or slots, or raise the budget`,
        );
    }
    return info;
}

async function describe(spec: ModelSpec, runtime: LlamaRuntime, fileInfo: GgufFileInfo): Promise<ModelInfo> {
    const meta = fileInfo.metadata as unknown as Record<string, unknown>;
    const general = (meta.general ?? {}) as Record<string, unknown>;
    const tokenizer = ((meta.tokenizer ?? {}) as Record<string, unknown>).ggml as Record<string, unknown> | undefined;
    const chatTemplate = ((meta.tokenizer ?? {}) as Record<string, unknown>).chat_template;
    const architecture = typeof general.architecture === 'string' ? general.architecture : 'unknown';
    const name = typeof general.name === 'string' && general.name.length > 0 ? general.name : path.basename(spec.path);
    const arch = fileInfo.architectureMetadata as Record<string, unknown>;
    const tokens = Array.isArray(tokenizer?.tokens) ? (tokenizer.tokens as unknown[]).filter((t): t is string => typeof t === 'string') : [];
    const detected = detectFimFamily({ tokens, generalName: typeof general.name === 'string' ? general.name : undefined, architecture });
    const fim = resolveFimFamily(spec.fimTemplate, detected);

    const insights = await runtime.lib.GgufInsights.from(fileInfo, runtime.llama);
    const trainContextSize = insights.trainContextSize ?? numberOr(arch.context_length, spec.contextSize);
    const contextSize = Math.max(1, Math.min(spec.contextSize, trainContextSize));
    const embeddingDims = insights.embeddingVectorSize ?? numberOr(arch.embedding_length, 0);
    const gpu = runtime.llama.gpu !== false && spec.gpuLayers !== 0;
    const gpuLayers = !gpu ? 0 : spec.gpuLayers === 'auto' ? insights.totalLayers : Math.min(spec.gpuLayers, insights.totalLayers);
    const estimatedMemory = estimateMemory(insights, gpuLayers, contextSize, spec);
    return {
        id: spec.id,
        path: spec.path,
        architecture,
        name,
        fim,
        hasChat: typeof chatTemplate === 'string' && chatTemplate.length > 0,
        embeddingDims,
        embeddingSpace: embeddingSpaceOf(fileInfo),
        ...poolingOf(arch.pooling_type),
        trainContextSize,
        contextSize,
        slots: spec.slots,
        estimatedMemory,
        gpu,
    };
}

function estimateMemory(
    insights: GgufInsights,
    gpuLayers: number,
    contextSize: number,
    spec: ModelSpec,
): MemoryEstimate {
    try {
        const model = insights.estimateModelResourceRequirements({ gpuLayers });
        const context = insights.estimateContextResourceRequirements({
            contextSize,
            modelGpuLayers: gpuLayers,
            sequences: spec.slots,
            batchSize: Math.min(512, contextSize),
        });
        let ram = model.cpuRam + context.cpuRam;
        let vram = model.gpuVram + context.gpuVram;
        if (spec.role === 'embedder') {
            const embedding = insights.estimateContextResourceRequirements({
                contextSize,
                modelGpuLayers: gpuLayers,
                sequences: 1,
                batchSize: contextSize,
                isEmbeddingContext: true,
            });
            ram += embedding.cpuRam;
            vram += embedding.gpuVram;
        }
        return { ramBytes: Math.round(ram), vramBytes: Math.round(vram) };
    } catch {
        return { ramBytes: insights.modelSize, vramBytes: 0 };
    }
}

/**
 * Identity of the embedding space: a hash of every metadata value (architecture, hyperparameters,
 * names, tokenizer, quantization) and of every tensor's name, shape and type. Paths, offsets and
 * file times play no part, so a moved or copied file keeps its space.
 */
/** GGUF `<arch>.pooling_type` (llama.cpp's enum) as a word; absent when the file does not declare it. */
function poolingOf(value: unknown): { embeddingPooling?: string } {
    const names = ['none', 'mean', 'cls', 'last', 'rank'];
    const n = typeof value === 'bigint' ? Number(value) : value;
    return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < names.length ? { embeddingPooling: names[n] } : {};
}

export function embeddingSpaceOf(fileInfo: GgufFileInfo): string {
    const hash = createHash('sha256');
    hash.update(stableJson(fileInfo.metadata));
    for (const t of fileInfo.fullTensorInfo ?? fileInfo.tensorInfo ?? []) {
        hash.update(`\n${t.name}:${t.dimensions.map(String).join('x')}:${String(t.ggmlType)}`);
    }
    return `gguf-sha256:${hash.digest('hex').slice(0, 32)}`;
}

function stableJson(value: unknown): string {
    if (typeof value === 'bigint') return `"${value.toString()}n"`;
    if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
    if (value !== null && typeof value === 'object') {
        const entries = Object.keys(value)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`);
        return `{${entries.join(',')}}`;
    }
    return JSON.stringify(value) ?? 'null';
}

/** Identity of an inspection: the spec and the file's size and modification time (undefined: no file). */
export async function inspectKey(spec: ModelSpec): Promise<string | undefined> {
    try {
        const st = await stat(spec.path);
        return JSON.stringify([spec, st.size, st.mtimeMs, st.ino]);
    } catch {
        return undefined;
    }
}

function numberOr(value: unknown, fallback: number): number {
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    if (typeof value === 'bigint') return Number(value);
    return fallback;
}

function mib(bytes: number): number {
    return Math.round(bytes / (1024 * 1024));
}
