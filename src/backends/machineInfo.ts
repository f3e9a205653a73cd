/**
 * What the machine offers to models (GPU memory as node-llama-cpp reports it, RAM), and the
 * recommended GGUF trio sized to it for the first-run walkthrough.
 * Units: bytes.
 */
import { freemem, totalmem } from 'node:os';
import type { Role } from '../core/backend';
import type { MachineMemory } from '../core/memoryBudget';
import type { LlamaProvider } from './llamaProvider';

export interface MachineInfo {
    /** The GPU backend node-llama-cpp uses, or false on CPU only. */
    readonly gpu: false | string;
    /** Total GPU memory (0 without a GPU). */
    readonly vramBytes: number;
    readonly ramBytes: number;
}

/**
 * Asks node-llama-cpp (through the shared provider, so no second Llama instance is made) what GPU
 * it uses and how much memory it has. Without a binding, reports the CPU and the system RAM.
 */
export async function getMachineInfo(provider: LlamaProvider | undefined, signal: AbortSignal): Promise<MachineInfo> {
    const ramBytes = totalmem();
    if (!provider) return { gpu: false, vramBytes: 0, ramBytes };
    try {
        const { llama } = await provider();
        signal.throwIfAborted();
        if (llama.gpu === false) return { gpu: false, vramBytes: 0, ramBytes };
        const vram = await llama.getVramState();
        return { gpu: llama.gpu, vramBytes: vram.total, ramBytes };
    } catch (e) {
        signal.throwIfAborted();
        void e;
        return { gpu: false, vramBytes: 0, ramBytes };
    }
}

/** Where `probeMachineMemory` reads the RAM; the process's by default (tests pass numbers). */
export interface RamProbe {
    /** Bytes in total: the machine's, or the cgroup's limit when lower (`process.constrainedMemory`). */
    total(): number;
    /** Bytes available now (Linux: MemAvailable, which counts reclaimable cache). */
    available(): number;
}

export const processRam: RamProbe = {
    total: () => {
        const machine = totalmem();
        // A container's limit (0 or undefined when there is none; Node >= 19.6).
        const limit = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
        return limit > 0 && limit < machine ? limit : machine;
    },
    available: () => freemem(),
};

/**
 * What `zeta.memoryBudgetMB: 0` budgets: the GPU memory free now as node-llama-cpp reports it
 * (`llama.getVramState()`, through the shared provider) when llama.cpp uses a GPU, and the RAM.
 * Measured before any model is loaded (free GPU memory then excludes Zeta's own models). Without a
 * binding, or when the GPU cannot be read, reports the RAM only.
 */
export async function probeMachineMemory(provider: LlamaProvider | undefined, signal: AbortSignal, ram: RamProbe = processRam): Promise<MachineMemory> {
    const cpuOnly: MachineMemory = { gpu: false, vramTotalBytes: 0, vramFreeBytes: 0, ramTotalBytes: ram.total(), ramAvailableBytes: ram.available() };
    signal.throwIfAborted();
    if (!provider) return cpuOnly;
    try {
        const { llama } = await provider();
        signal.throwIfAborted();
        if (llama.gpu === false) return cpuOnly;
        const vram = await llama.getVramState();
        signal.throwIfAborted();
        return { ...cpuOnly, gpu: llama.gpu, vramTotalBytes: vram.total, vramFreeBytes: vram.free };
    } catch (e) {
        signal.throwIfAborted();
        void e;
        return cpuOnly;
    }
}

export interface ModelRecommendation {
    readonly role: Role;
    readonly title: string;
    /** node-llama-cpp model URI (hf:...) or an http(s) URL. */
    readonly uri: string;
    readonly fileName: string;
    /** Approximate size, for display and sizing (the downloader verifies the real size). */
    readonly approxBytes: number;
    readonly why: string;
}

export type RecommendationTier = 'small' | 'medium' | 'large';

const GB = 1e9;

const CATALOGUE: Readonly<Record<RecommendationTier, readonly Omit<ModelRecommendation, 'why'>[]>> = {
    large: [
        { role: 'coder', title: 'Qwen2.5-Coder 7B Instruct (Q4_K_M)', uri: 'hf:bartowski/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M', fileName: 'Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf', approxBytes: 4.68 * GB },
        { role: 'reasoner', title: 'Qwen2.5-Coder 14B Instruct (Q4_K_M)', uri: 'hf:bartowski/Qwen2.5-Coder-14B-Instruct-GGUF:Q4_K_M', fileName: 'Qwen2.5-Coder-14B-Instruct-Q4_K_M.gguf', approxBytes: 8.99 * GB },
        // A 4B embedding model for machines that hold it: far better code search than a 137M one.
        { role: 'embedder', title: 'Qwen3-Embedding 4B (Q4_K_M)', uri: 'hf:Qwen/Qwen3-Embedding-4B-GGUF:Q4_K_M', fileName: 'Qwen3-Embedding-4B-Q4_K_M.gguf', approxBytes: 2.5 * GB },
    ],
    medium: [
        { role: 'coder', title: 'Qwen2.5-Coder 3B Instruct (Q4_K_M)', uri: 'hf:bartowski/Qwen2.5-Coder-3B-Instruct-GGUF:Q4_K_M', fileName: 'Qwen2.5-Coder-3B-Instruct-Q4_K_M.gguf', approxBytes: 1.93 * GB },
        { role: 'reasoner', title: 'Qwen2.5-Coder 7B Instruct (Q4_K_M)', uri: 'hf:bartowski/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M', fileName: 'Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf', approxBytes: 4.68 * GB },
        { role: 'embedder', title: 'nomic-embed-text v1.5 (Q8_0)', uri: 'hf:nomic-ai/nomic-embed-text-v1.5-GGUF:Q8_0', fileName: 'nomic-embed-text-v1.5.Q8_0.gguf', approxBytes: 0.146 * GB },
    ],
    small: [
        { role: 'coder', title: 'Qwen2.5-Coder 1.5B Instruct (Q4_K_M)', uri: 'hf:bartowski/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M', fileName: 'Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf', approxBytes: 0.99 * GB },
        { role: 'reasoner', title: 'Qwen2.5-Coder 3B Instruct (Q4_K_M)', uri: 'hf:bartowski/Qwen2.5-Coder-3B-Instruct-GGUF:Q4_K_M', fileName: 'Qwen2.5-Coder-3B-Instruct-Q4_K_M.gguf', approxBytes: 1.93 * GB },
        { role: 'embedder', title: 'nomic-embed-text v1.5 (Q8_0)', uri: 'hf:nomic-ai/nomic-embed-text-v1.5-GGUF:Q8_0', fileName: 'nomic-embed-text-v1.5.Q8_0.gguf', approxBytes: 0.146 * GB },
    ],
};

/** Weights + context + runtime overhead as a multiple of the file sizes. */
const OVERHEAD = 1.2;

/** Memory the models may use: 90% of GPU memory with a GPU, half the RAM without. */
export function usableMemoryBytes(machine: MachineInfo): number {
    return machine.gpu !== false && machine.vramBytes > 0 ? machine.vramBytes * 0.9 : machine.ramBytes * 0.5;
}

export function recommendationTier(machine: MachineInfo): RecommendationTier {
    const usable = usableMemoryBytes(machine);
    const need = (t: RecommendationTier): number => CATALOGUE[t].reduce((a, m) => a + m.approxBytes, 0) * OVERHEAD;
    if (usable >= need('large')) return 'large';
    if (usable >= need('medium')) return 'medium';
    return 'small';
}

/**
 * The coder / reasoner / embedder trio that fits the machine. `mirrorBaseUrl` (e.g. from the
 * ZETA_MODEL_MIRROR environment variable) replaces each URI with `<base>/<fileName>`.
 */
export function recommendModels(machine: MachineInfo, mirrorBaseUrl?: string): ModelRecommendation[] {
    const tier = recommendationTier(machine);
    const where = machine.gpu !== false && machine.vramBytes > 0
        ? `${(machine.vramBytes / 1024 ** 3).toFixed(1)} GiB of ${machine.gpu} GPU memory`
        : `${(machine.ramBytes / 1024 ** 3).toFixed(1)} GiB of RAM and no GPU`;
    return CATALOGUE[tier].map((m) => ({
        ...m,
        uri: mirrorBaseUrl ? `${mirrorBaseUrl.replace(/\/+$/, '')}/${m.fileName}` : m.uri,
        why: `${tier} set, sized for ${where}`,
    }));
}
