/**
 * What every remote backend is constructed with: side effects passed in (time, the log, the HTTP
 * client), so tests can observe and fault them. Units: milliseconds.
 */
import type { Clock } from '../../core/clock';
import type { Fetch } from './http';

export interface RemoteBackendOptions {
    readonly clock: Clock;
    readonly log?: (message: string) => void;
    /** The HTTP client (default: Node's global fetch). */
    readonly fetch?: Fetch;
    /**
     * Gap between two polls of the engine's load while Zeta is using it (default: each backend's own,
     * a few per second at most: a poll costs the engine well under a millisecond). Polls slow down
     * when the model has been idle a while, and stop at unload.
     */
    readonly pollIntervalMs?: number;
    /** Most time from a request to its response's headers (default HEADERS_TIMEOUT_MS). */
    readonly headersTimeoutMs?: number;
    /** Most silence between two streamed events (default STREAM_IDLE_TIMEOUT_MS). */
    readonly streamIdleTimeoutMs?: number;
}
