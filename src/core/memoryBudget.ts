/**
 * The memory budget for all resident models: the user's `zeta.memoryBudgetMB`, or, when it is 0,
 * one measured from the machine. Pure: the measurement (`MachineMemory`) is made in src/backends
 * (`probeMachineMemory`) and passed in.
 *
 * The budget decides which models stay loaded together (src/core/router/residency.ts). Only a budget
 * the user set also refuses a model file whose own estimate exceeds it (the validator); a budget
 * measured from the machine is a residency limit, never a reason to refuse a file: a model larger
 * than it still loads, alone.
 *
 * Units: bytes; "GB" in texts is 10^9 bytes.
 */

/** What the machine offers, measured once before any model is loaded. Bytes. */
export interface MachineMemory {
    /** The GPU backend llama.cpp uses ("cuda", "vulkan", "metal"), or false on the CPU only. */
    readonly gpu: false | string;
    /** GPU memory in total and free at the time of the measurement (0 without a GPU). */
    readonly vramTotalBytes: number;
    readonly vramFreeBytes: number;
    /** RAM the process may use in total (the cgroup limit when lower than the machine's) and available now. */
    readonly ramTotalBytes: number;
    readonly ramAvailableBytes: number;
}

export interface MemoryBudget {
    /** Undefined: no budget (the machine is not measured yet, or its measurement failed). */
    readonly bytes: number | undefined;
    /** `setting`: zeta.memoryBudgetMB; `gpu` / `ram`: measured; `unmeasured`: 0 and no measurement yet. */
    readonly source: 'setting' | 'gpu' | 'ram' | 'unmeasured';
    /** One line for the load view and the log: the budget and why. */
    readonly text: string;
}

/**
 * Share of the GPU memory free at start-up. llama.cpp's size estimates miss part of its compute
 * buffers and other programs (the desktop, a browser) grow on the GPU: a tenth is left for them.
 */
export const GPU_FREE_SHARE = 0.9;
/**
 * Share of the RAM in total, without a GPU (or when no configured model uses it): the editor, its
 * extension host, the OS and the user's own builds and tests need the rest, and it is what the
 * first-run walkthrough sizes its recommended models to (half the RAM), so they fit together.
 */
export const RAM_TOTAL_SHARE = 0.5;
/**
 * Never more than this share of the RAM available at start-up: loading up to half the machine while
 * other programs already hold most of it would push the machine into swap.
 */
export const RAM_AVAILABLE_SHARE = 0.8;

const MB = 1024 * 1024;

/**
 * The budget in force. `usesGpu`: some configured model may be offloaded to the GPU (gpuLayers not
 * 0); when none is, the models live in RAM and the RAM is what is budgeted even on a GPU machine.
 */
export function memoryBudget(memoryBudgetMB: number, machine: MachineMemory | undefined, usesGpu: boolean): MemoryBudget {
    if (memoryBudgetMB > 0) {
        const bytes = memoryBudgetMB * MB;
        return { bytes, source: 'setting', text: `memory budget ${gb(bytes)} (zeta.memoryBudgetMB = ${memoryBudgetMB})` };
    }
    if (machine === undefined) {
        return { bytes: undefined, source: 'unmeasured', text: 'memory budget: not measured yet (zeta.memoryBudgetMB = 0: from the machine)' };
    }
    if (usesGpu && machine.gpu !== false && machine.vramFreeBytes > 0) {
        const bytes = Math.floor(machine.vramFreeBytes * GPU_FREE_SHARE);
        return {
            bytes,
            source: 'gpu',
            text: `memory budget ${gb(bytes)} (${pct(GPU_FREE_SHARE)} of ${gb(machine.vramFreeBytes)} free of ${gb(machine.vramTotalBytes)} ${machine.gpu} GPU memory; from the machine)`,
        };
    }
    const ofTotal = Math.floor(machine.ramTotalBytes * RAM_TOTAL_SHARE);
    const ofAvailable = Math.floor(machine.ramAvailableBytes * RAM_AVAILABLE_SHARE);
    const noGpu = machine.gpu === false ? 'no GPU' : `the ${machine.gpu} GPU is not used (gpuLayers 0)`;
    if (ofAvailable < ofTotal) {
        return {
            bytes: ofAvailable,
            source: 'ram',
            text: `memory budget ${gb(ofAvailable)} (${pct(RAM_AVAILABLE_SHARE)} of ${gb(machine.ramAvailableBytes)} RAM available of ${gb(machine.ramTotalBytes)}, ${noGpu}; from the machine)`,
        };
    }
    return { bytes: ofTotal, source: 'ram', text: `memory budget ${gb(ofTotal)} (${pct(RAM_TOTAL_SHARE)} of ${gb(machine.ramTotalBytes)} RAM, ${noGpu}; from the machine)` };
}

/** Bytes as gigabytes (10^9) with one decimal, "9.6 GB"; below 1 GB in megabytes. */
export function gb(bytes: number): string {
    return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.round(bytes / 1e6)} MB`;
}

function pct(share: number): string {
    return `${Math.round(share * 100)}%`;
}
