/**
 * Typed errors shared by the core, the backends and the editor layer. The core never shows UI:
 * it throws or returns these, and the shell decides what to show. Every message says what
 * happened, to what, and (where it can) what to do.
 */

export type ModelFileProblem =
    | 'missing'
    | 'notGguf'
    | 'truncated'
    | 'badMetadata'
    | 'unsupportedArchitecture'
    | 'unsupportedTokenizer'
    | 'overMemoryBudget'
    /** llama.cpp found too little free RAM or VRAM for the model or its context (node-llama-cpp's InsufficientMemoryError). */
    | 'insufficientMemory'
    | 'loadFailed';

/** A model file that cannot be used. It never reached llama.cpp unless `problem` is "loadFailed" or "insufficientMemory". */
export class ModelFileError extends Error {
    override readonly name = 'ModelFileError';
    constructor(
        readonly problem: ModelFileProblem,
        readonly file: string,
        detail: string,
    ) {
        super(`${file}: ${detail}`);
    }
}

/** Why a loaded (or expected) model could not serve a call. */
export type ModelRuntimeProblem =
    /** The call needs a loaded model and this one is not loaded (or was unloaded meanwhile). */
    | 'notLoaded'
    /** The model cannot do this (no FIM tokens for infill, no embedding output). */
    | 'unsupported'
    /** The prompt does not fit the context even after trimming. */
    | 'promptTooLong'
    /** llama.cpp reported an error while evaluating; the model stays usable for other calls. */
    | 'evaluationFailed';

/** A backend call failed for a reason other than the model file or an abort. */
export class ModelRuntimeError extends Error {
    override readonly name = 'ModelRuntimeError';
    constructor(
        readonly modelId: string,
        readonly problem: ModelRuntimeProblem,
        detail: string,
        options?: { cause?: unknown },
    ) {
        super(`${modelId}: ${detail}`, options);
    }
}

/** A bounded queue refused a task. */
export class QueueFullError extends Error {
    override readonly name = 'QueueFullError';
    constructor(
        readonly modelId: string,
        readonly waiting: number,
        readonly limit: number,
    ) {
        super(`queue full on ${modelId}: ${waiting} waiting (limit ${limit}); try again when it drains`);
    }
}

/** A task that could no longer meet its latency objective was dropped before being served. */
export class DeadlineError extends Error {
    override readonly name = 'DeadlineError';
    constructor(
        readonly taskKind: string,
        readonly objectiveMs: number,
        detail: string,
    ) {
        super(`${taskKind} dropped: cannot finish within its ${Math.round(objectiveMs)} ms objective (${detail})`);
    }
}

/**
 * A model stopped responding: a call of `modelId` made no progress (no token, no prefill chunk, no
 * embedding) for `silentMs` while nothing it waits for held it. The router's watchdog cancels the
 * call, puts the model on cooldown and retries the task on another capable model.
 */
export class StalledError extends Error {
    override readonly name = 'StalledError';
    constructor(
        readonly modelId: string,
        readonly silentMs: number,
        detail: string,
    ) {
        super(`${modelId} stopped responding: ${detail}; its tasks go to other models while it cools down (if this repeats, reload it or check the Zeta log)`);
    }
}

/** How a call to a remote engine failed (never an abort by the caller: that rejects with the signal's reason). */
export type RemoteProblem =
    /** Nothing listens at the URL (connection refused, host unknown or unreachable). */
    | 'refused'
    /** The engine accepted the call but did not answer (headers, or the next streamed event) in time. */
    | 'timeout'
    /** The engine answered 5xx, or closed the connection in the middle of an answer (restarted, crashed). */
    | 'server'
    /** The engine refused the credentials (401, 403): the API key is missing or wrong. */
    | 'unauthorized'
    /** The engine answered something Zeta cannot read (malformed JSON or SSE, a 4xx other than 401/403). */
    | 'protocol';

/** A remote engine could not serve a call; the router cools the engine down and reroutes the task. */
export class RemoteEngineError extends Error {
    override readonly name = 'RemoteEngineError';
    constructor(
        readonly url: string,
        readonly problem: RemoteProblem,
        detail: string,
        options?: { cause?: unknown; status?: number },
    ) {
        super(`${url}: ${detail}`, options);
        this.status = options?.status;
    }
    /** The HTTP status when the engine answered one. */
    readonly status: number | undefined;
}

/** No loaded or loadable model can serve this kind of task. */
export class NoCapableModelError extends Error {
    override readonly name = 'NoCapableModelError';
    constructor(
        readonly taskKind: string,
        detail: string,
    ) {
        super(`no model can serve ${taskKind}: ${detail}`);
    }
}

/** The reason given to aborts when a newer completion for the same document supersedes an older one. */
export class SupersededError extends Error {
    override readonly name = 'AbortError';
    readonly superseded = true;
    constructor(readonly doc: string) {
        super(`superseded by a newer completion for ${doc}`);
    }
}

export function isAbortError(e: unknown): boolean {
    return e instanceof Error && (e.name === 'AbortError' || e instanceof SupersededError);
}

/** The standard reason for an AbortSignal aborted without one. */
export function abortError(message = 'cancelled'): Error {
    const e = new Error(message);
    e.name = 'AbortError';
    return e;
}

export function errorMessage(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}

/** The error's string `code` (Node's system errors, VS Code's FileSystemError), else undefined. */
export function errorCode(e: unknown): string | undefined {
    const code = (e as { code?: unknown } | null | undefined)?.code;
    return typeof code === 'string' ? code : undefined;
}
