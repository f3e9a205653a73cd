/**
 * What every backend's calls share (in process, llama-server, OpenAI-compatible): the abort race,
 * and the failure of a caller's token listener.
 */
import { errorMessage } from '../core/errors';

/**
 * A call's promise that settles as soon as its signal aborts, even while the work behind it is still
 * finishing (a native llama.cpp call cannot be stopped once begun; a connection takes a moment to
 * close).
 *
 * Invariant: it settles exactly once: with `signal.reason` when the signal aborts first (or had
 * aborted when the work failed), else with the work's value, else with `mapError(error)`.
 * `mapError` runs only for a failure that is not an abort.
 */
export function settleOnAbort<T>(running: Promise<T>, signal: AbortSignal, mapError: (e: unknown) => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
        let settled = false;
        const onAbort = (): void => {
            if (settled) return;
            settled = true;
            reject(signal.reason);
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
        running.then(
            (value) => {
                signal.removeEventListener('abort', onAbort);
                if (settled) return;
                settled = true;
                resolve(value);
            },
            (e: unknown) => {
                signal.removeEventListener('abort', onAbort);
                if (settled) return;
                settled = true;
                reject(signal.aborted ? signal.reason : mapError(e));
            },
        );
    });
}

/** The caller's onToken threw: the call rejects with that error (only that call fails; the model stays usable). */
export class ListenerFailure extends Error {
    constructor(override readonly cause: unknown) {
        super(`onToken threw: ${errorMessage(cause)}`);
    }
}
