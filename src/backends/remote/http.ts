/**
 * HTTP to remote engines: JSON requests and Server-Sent Event streams over Node's built-in `fetch`
 * (undici; no dependency), every call bounded by the caller's AbortSignal and by Zeta's own time
 * limits, every failure a typed `RemoteEngineError` that says what to do.
 *
 * Invariants: a call aborted by the caller rejects with `signal.reason` (never a RemoteEngineError)
 * and closes its connection, so the engine sees the client go and stops generating; a stream's
 * connection is closed however the consumer leaves the loop (return, throw, abort).
 * Units: milliseconds.
 */
import { RemoteEngineError, errorCode, errorMessage } from '../../core/errors';

export type Fetch = typeof fetch;

export interface HttpCall {
    /** The engine's base URL (for messages) and the full URL of this call. */
    readonly base: string;
    readonly url: string;
    readonly method?: 'GET' | 'POST';
    /** Sent as JSON. */
    readonly body?: unknown;
    readonly apiKey?: string;
    readonly signal: AbortSignal;
    /** Most time from sending to the response's headers. */
    readonly headersTimeoutMs: number;
    readonly fetch?: Fetch;
}

/** Default: most time from sending a request to its response's headers (a loaded engine queues calls; this bounds a dead one). */
export const HEADERS_TIMEOUT_MS = 30_000;
/** Default: most silence between two events of a stream. */
export const STREAM_IDLE_TIMEOUT_MS = 30_000;
/** Bytes of an error body kept for the message. */
const ERROR_BODY_CHARS = 300;

/** Makes a failed fetch a RemoteEngineError, or rethrows the caller's abort reason. */
export function remoteError(base: string, e: unknown, signal: AbortSignal): unknown {
    if (signal.aborted) return signal.reason;
    if (e instanceof RemoteEngineError) return e;
    const cause = (e as { cause?: unknown } | undefined)?.cause;
    const code = errorCode(cause) ?? errorCode(e);
    switch (code) {
        case 'ECONNREFUSED':
        case 'ENOTFOUND':
        case 'EHOSTUNREACH':
        case 'ENETUNREACH':
        case 'EAI_AGAIN':
            return new RemoteEngineError(base, 'refused', `no engine answers there (${code}): start it, or check the URL in zeta.remoteModels`, { cause: e });
        case 'ECONNRESET':
        case 'EPIPE':
        case 'UND_ERR_SOCKET':
        case 'UND_ERR_CLOSED':
            return new RemoteEngineError(base, 'server', `the engine closed the connection (${code}): it may have restarted or crashed`, { cause: e });
        default:
            return new RemoteEngineError(base, 'refused', `cannot reach the engine: ${errorMessage(cause ?? e)}`, { cause: e });
    }
}

/**
 * Whether a request failed, before any answer, on a pooled keep-alive connection the engine had just
 * closed (llama-server's HTTP library closes idle and much-used connections): undici reports "other
 * side closed" (UND_ERR_SOCKET) or a reset, somewhere down the error's causes. Seen here between
 * calls to a healthy llama-server.
 */
export function staleConnection(e: unknown): boolean {
    for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
        const code = errorCode(c);
        if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') return true;
    }
    return false;
}

/** Classifies a non-2xx answer. */
export async function statusError(base: string, res: Response): Promise<RemoteEngineError> {
    let text = '';
    try {
        text = (await res.text()).slice(0, ERROR_BODY_CHARS);
    } catch {
        // The body is only for the message.
    }
    const detail = text ? `: ${text.replace(/\s+/g, ' ').trim()}` : '';
    const status = res.status;
    if (status === 401 || status === 403)
        return new RemoteEngineError(base, 'unauthorized', `the engine refused the API key (HTTP ${status}); set it with "Zeta: Set Remote API Key"${detail}`, { status });
    if (status >= 500) return new RemoteEngineError(base, 'server', `the engine failed (HTTP ${status})${detail}`, { status });
    return new RemoteEngineError(base, 'protocol', `the engine refused the request (HTTP ${status})${detail}`, { status });
}

/**
 * A signal that aborts with the caller's reason, or with a RemoteEngineError 'timeout' after `ms`
 * unless `clear()` is called first. `restart()` starts the time again (streams: the time since the last event).
 */
export function timeoutSignal(base: string, signal: AbortSignal, ms: number, what: string): { signal: AbortSignal; restart(ms?: number, what?: string): void; clear(): void } {
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort(signal.reason);
    if (signal.aborted) ctl.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => ctl.abort(new RemoteEngineError(base, 'timeout', `no answer within ${formatMs(ms)} ${what}: the engine may be overloaded or hung`)), ms);
        timer.unref?.();
    };
    arm();
    return {
        signal: ctl.signal,
        restart: (next?: number, nextWhat?: string) => {
            if (next !== undefined) ms = next;
            if (nextWhat !== undefined) what = nextWhat;
            arm();
        },
        clear: () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
        },
    };
}

/** "750 ms" under a second, "30 s" above. */
function formatMs(ms: number): string {
    return ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 1000)} s`;
}

/** Sends one call and returns its 2xx response (headers read); the body is the caller's to read. */
async function send(call: HttpCall, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json, text/event-stream' };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    if (call.apiKey) headers.authorization = `Bearer ${call.apiKey}`;
    const attempt = (): Promise<Response> =>
        (call.fetch ?? fetch)(call.url, {
            method: call.method ?? (call.body === undefined ? 'GET' : 'POST'),
            headers,
            body: call.body === undefined ? undefined : JSON.stringify(call.body),
            signal,
            redirect: 'error',
        });
    let res: Response;
    try {
        try {
            res = await attempt();
        } catch (e) {
            // Sent on a pooled connection the engine had just closed: it never reached the engine,
            // so it is sent once more, on a fresh connection (an engine really gone then refuses it).
            if (signal.aborted || !staleConnection(e)) throw e;
            res = await attempt();
        }
    } catch (e) {
        throw remoteError(call.base, signal.aborted ? signal.reason : e, call.signal);
    }
    if (!res.ok) throw await statusError(call.base, res);
    return res;
}

/** Reason of an internal signal: the caller's abort reason, our timeout error, or `e` classified. */
function failure(call: HttpCall, inner: AbortSignal, e: unknown): unknown {
    if (call.signal.aborted) return call.signal.reason;
    if (inner.aborted && inner.reason instanceof RemoteEngineError) return inner.reason;
    return remoteError(call.base, e, call.signal);
}

/** A JSON call: the parsed body of a 2xx answer. */
export async function requestJson<T>(call: HttpCall): Promise<T> {
    const t = timeoutSignal(call.base, call.signal, call.headersTimeoutMs, `to ${new URL(call.url).pathname}`);
    try {
        const res = await send(call, t.signal);
        let text: string;
        try {
            text = await res.text();
        } catch (e) {
            throw failure(call, t.signal, e);
        }
        try {
            return JSON.parse(text) as T;
        } catch {
            throw new RemoteEngineError(call.base, 'protocol', `${new URL(call.url).pathname} answered something that is not JSON: ${text.slice(0, 80)}`);
        }
    } catch (e) {
        throw failure(call, t.signal, e);
    } finally {
        t.clear();
    }
}

/** A plain-text call (Prometheus metrics). */
export async function requestText(call: HttpCall): Promise<string> {
    const t = timeoutSignal(call.base, call.signal, call.headersTimeoutMs, `to ${new URL(call.url).pathname}`);
    try {
        const res = await send(call, t.signal);
        return await res.text();
    } catch (e) {
        throw failure(call, t.signal, e);
    } finally {
        t.clear();
    }
}

export interface StreamCall extends HttpCall {
    /** Most silence between two events once the stream has begun. */
    readonly idleTimeoutMs: number;
}

/**
 * A Server-Sent Events stream: yields each event's `data` parsed as JSON, in order, until the
 * stream ends or sends `[DONE]`. A stream that ends without `[DONE]` ends normally when the engine
 * sent a final event (the caller checks its own end marker, e.g. llama-server's `stop: true`).
 * Malformed data is a RemoteEngineError 'protocol'; a connection closed mid-stream is 'server'.
 */
export async function* streamSse(call: StreamCall): AsyncGenerator<unknown, void, undefined> {
    const t = timeoutSignal(call.base, call.signal, call.headersTimeoutMs, `to ${new URL(call.url).pathname}`);
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    try {
        const res = await send(call, t.signal);
        if (!res.body) throw new RemoteEngineError(call.base, 'protocol', `${new URL(call.url).pathname} answered without a body`);
        const idle = `between two events of ${new URL(call.url).pathname}`;
        t.restart(call.idleTimeoutMs, idle);
        reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffered = '';
        let data: string[] = [];
        for (;;) {
            let chunk: ReadableStreamReadResult<Uint8Array>;
            try {
                chunk = await reader.read();
            } catch (e) {
                throw failure(call, t.signal, e);
            }
            if (chunk.done) break;
            t.restart(call.idleTimeoutMs);
            buffered += decoder.decode(chunk.value, { stream: true });
            let nl: number;
            while ((nl = buffered.indexOf('\n')) >= 0) {
                const line = buffered.slice(0, nl).replace(/\r$/, '');
                buffered = buffered.slice(nl + 1);
                if (line === '') {
                    // A blank line ends an event.
                    if (data.length > 0) {
                        const payload = data.join('\n');
                        data = [];
                        if (payload === '[DONE]') return;
                        yield parseEvent(call, payload);
                    }
                } else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
                else if (line.startsWith('error:')) throw new RemoteEngineError(call.base, 'server', `the engine reported an error mid-stream: ${line.slice(6).trim().slice(0, ERROR_BODY_CHARS)}`);
                // Comments (":"), "event:", "id:" and "retry:" lines carry nothing Zeta uses.
            }
        }
        const rest = buffered.trim();
        if (rest.startsWith('data:')) data.push(rest.slice(5).trim());
        else if (rest !== '') throw new RemoteEngineError(call.base, 'protocol', `the stream ended inside a line: ${rest.slice(0, 80)}`);
        if (data.length > 0) {
            const payload = data.join('\n');
            if (payload !== '[DONE]') yield parseEvent(call, payload);
        }
    } catch (e) {
        throw failure(call, t.signal, e);
    } finally {
        t.clear();
        // Closing the body closes the connection: llama-server stops generating for a client that left.
        reader?.cancel().catch(() => undefined);
    }
}

function parseEvent(call: HttpCall, payload: string): unknown {
    try {
        return JSON.parse(payload);
    } catch {
        throw new RemoteEngineError(call.base, 'protocol', `malformed event in the stream from ${new URL(call.url).pathname}: ${payload.slice(0, 80)}`);
    }
}

/** `base` + `path`, with exactly one slash between them. */
export function joinUrl(base: string, path: string): string {
    return base.replace(/\/+$/, '') + '/' + path.replace(/^\/+/, '');
}
