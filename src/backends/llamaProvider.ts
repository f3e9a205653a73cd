/**
 * Creates the process's one `Llama` instance (the llama.cpp binding) on first use.
 *
 * node-llama-cpp is ESM-only and this package is CommonJS, so it is loaded with a dynamic
 * `import()` at run time; everything else in src/backends imports only its types. The provider is
 * an object the composition root creates once and passes to every backend (no module singleton):
 * tests create their own.
 */
import { availableParallelism } from 'node:os';
import type { Llama, LlamaLogLevel } from 'node-llama-cpp' with { 'resolution-mode': 'import' };

/** The node-llama-cpp module as loaded at run time. */
export type LlamaLib = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

/** What a backend needs from the binding: the shared Llama instance and the module's classes. */
export interface LlamaRuntime {
    readonly llama: Llama;
    readonly lib: LlamaLib;
    /** A position in llama.cpp's error log, for `errorsSince`. */
    logMark(): number;
    /**
     * llama.cpp's error lines logged after `mark`, oldest first (the last 50 are kept). llama.cpp
     * reports why a file failed to load only in its log ("check_tensor_dims: tensor ... not found");
     * the exception just says "Failed to load model". Lines of concurrent loads may interleave.
     */
    errorsSince(mark: number): readonly string[];
}

/** Error lines kept for `errorsSince`. */
const ERROR_LOG_LINES = 50;

export interface LlamaProviderOptions {
    /** "auto": use a GPU when one is present (CUDA, Vulkan, Metal), else the CPU. false: CPU only. */
    readonly gpu?: 'auto' | false;
    /**
     * Upper bound on threads over all evaluations of the process; contexts ask for their own
     * `threads` within it. Undefined: half the logical cores, at least 1 (`defaultMaxThreads`).
     */
    readonly maxThreads?: number;
    /** Receives llama.cpp's warnings and errors (default: dropped; llama.cpp is chatty). */
    readonly log?: (level: 'error' | 'warn', message: string) => void;
    /** How long `dispose()` waits for node-llama-cpp before it gives up (ms). Default DISPOSE_TIMEOUT_MS. */
    readonly disposeTimeoutMs?: number;
    /** Loads the module (tests pass a fake; default: `import('node-llama-cpp')`). */
    readonly importLib?: () => Promise<LlamaLib>;
}

/**
 * node-llama-cpp's dispose waits until no operation holds its dispose guard; seen once in a few
 * test runs (after a model load llama.cpp refused), it never returned. Shutting down must not hang
 * the extension host, so `dispose()` stops waiting after this long (the process is going away).
 */
export const DISPOSE_TIMEOUT_MS = 10_000;

/** Returns the shared runtime; creates it on the first call. Calls after the first share one promise. */
export type LlamaProvider = (() => Promise<LlamaRuntime>) & {
    /** Disposes the Llama instance if it was created (after every model using it is unloaded). */
    dispose(): Promise<void>;
};

/**
 * Threads when the user chose none. Several models evaluate at once and each llama.cpp thread spins
 * a full core, so using every core oversubscribes the CPU: on 2 cores llama.cpp's default crawled at
 * ~1 token/s where 1 thread gave 100-380 (ENVIRONMENT.md). Half the cores leaves room for the
 * editor and a second model.
 */
export function defaultMaxThreads(logicalCores: number): number {
    return Math.max(1, Math.floor(logicalCores / 2));
}

export function createLlamaProvider(options: LlamaProviderOptions = {}): LlamaProvider {
    let pending: Promise<LlamaRuntime> | undefined;
    const get = (): Promise<LlamaRuntime> => {
        pending ??= (async () => {
            const lib: LlamaLib = await (options.importLib ?? (() => import('node-llama-cpp')))();
            /** errors[i] was the (errorCount - errors.length + i)-th error line logged. */
            const errors: string[] = [];
            let errorCount = 0;
            const llama = await lib.getLlama({
                gpu: options.gpu ?? 'auto',
                // Never compile llama.cpp on a user's machine: use the prebuilt binaries or fail.
                build: 'never',
                maxThreads: options.maxThreads ?? defaultMaxThreads(availableParallelism()),
                progressLogs: false,
                logLevel: lib.LlamaLogLevel.warn,
                logger: (level: LlamaLogLevel, message: string) => {
                    if (level === lib.LlamaLogLevel.error || level === lib.LlamaLogLevel.fatal) {
                        errors.push(message);
                        errorCount++;
                        if (errors.length > ERROR_LOG_LINES) errors.shift();
                        options.log?.('error', message);
                    } else if (level === lib.LlamaLogLevel.warn) options.log?.('warn', message);
                },
            });
            return {
                llama,
                lib,
                logMark: () => errorCount,
                errorsSince: (mark: number) => errors.slice(Math.max(0, errors.length - (errorCount - mark))),
            };
        })();
        // A failed start (no binary for this platform) is not cached: a later call retries.
        pending.catch(() => {
            pending = undefined;
        });
        return pending;
    };
    return Object.assign(get, {
        async dispose(): Promise<void> {
            const p = pending;
            pending = undefined;
            if (!p) return;
            const runtime = await p.catch(() => undefined);
            if (!runtime) return;
            const ms = options.disposeTimeoutMs ?? DISPOSE_TIMEOUT_MS;
            let timer: NodeJS.Timeout | undefined;
            const gaveUp = await Promise.race([
                runtime.llama.dispose().then(() => false),
                new Promise<boolean>((resolve) => {
                    timer = setTimeout(() => resolve(true), ms);
                    // Waiting must not keep the process alive by itself.
                    timer.unref();
                }),
            ]);
            clearTimeout(timer);
            if (gaveUp) options.log?.('warn', `node-llama-cpp did not finish disposing within ${ms} ms; shutting down without it`);
        },
    });
}
