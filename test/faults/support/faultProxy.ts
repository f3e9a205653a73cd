/**
 * A fault-injecting HTTP proxy on 127.0.0.1 in front of a real llama-server (started and owned by
 * the proxy, so it can restart it on the same port). Everything not faulted passes through
 * unchanged, so a remote backend talks to the real engine up to the fault.
 *
 * Faults (`set`), for the requests whose path is in `paths` (default: every path) and not in `except`:
 * - `refuse`: the proxy stops listening and closes its open connections (connection refused).
 * - `hang`: the request is accepted and never answered (`afterEvents` > 0: a stream forwards that
 *   many events, then goes silent with its connection open).
 * - `status`: answered 500 or 503 by the proxy (the engine is not asked).
 * - `unauthorized`: answered 401 with the JSON body llama-server sends for a wrong API key.
 * - `trickle`: each event of an event stream is forwarded `msPerEvent` after the previous one.
 * - `malformedSse`: event number `afterEvents` (0-based) of a stream is sent with its JSON cut in half.
 * - `dropMidStream`: after `afterEvents` events the connection is closed (the engine's request too).
 * - `restartMidStream`: after `afterEvents` events the llama-server process is killed (SIGKILL),
 *   the connection closes, and a new llama-server starts on the same port (`restarting`). Until it
 *   answers, requests get 502 from the proxy, as from any reverse proxy whose upstream is down.
 * A mid-stream fault strikes after `afterEvents` events, or before the stream's last event when the
 * stream is shorter (a tiny model may stop at once): so it always strikes before the engine's final
 * `stop: true` event. Only event streams (`text/event-stream`) have mid-stream faults; other
 * answers pass through.
 *
 * Invariants: every request is counted by path before any fault acts (`requests`), so a test can
 * assert that the engine was not called; a refused connection never reaches the proxy and is not
 * counted. Every fault that acted is logged in `struck`, in order. A client that leaves closes the
 * proxy's request to the engine (llama-server stops generating). `close()` ends every connection,
 * timer and process the proxy started. Units: milliseconds.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { startLlamaServer, freePort, type LlamaServer, type LlamaServerOptions } from '../../../scripts/llamaServer';

export type ProxyFault =
    | { readonly kind: 'refuse' }
    | { readonly kind: 'hang'; readonly afterEvents?: number }
    | { readonly kind: 'status'; readonly status: 500 | 503 }
    | { readonly kind: 'unauthorized' }
    | { readonly kind: 'trickle'; readonly msPerEvent: number }
    | { readonly kind: 'malformedSse'; readonly afterEvents: number }
    | { readonly kind: 'dropMidStream'; readonly afterEvents: number }
    | { readonly kind: 'restartMidStream'; readonly afterEvents: number };

export interface FaultScope {
    /** Paths (URL pathname, e.g. `/infill`) the fault applies to; default every path. Ignored by `refuse`. */
    readonly paths?: readonly string[];
    /** Paths the fault leaves alone (e.g. the engine's status endpoints, so only its work fails). */
    readonly except?: readonly string[];
}

/** llama-server's status endpoints: what a backend polls for live load and health, not its work. */
export const STATUS_PATHS: readonly string[] = ['/health', '/slots', '/metrics', '/props'];

/** One fault acting on one request (for `refuse`: on the listener). */
export interface Strike {
    readonly kind: ProxyFault['kind'];
    readonly path: string;
    /** Events forwarded before a mid-stream fault struck. */
    readonly afterEvents?: number;
}

export interface FaultProxy {
    /** `http://127.0.0.1:<port>`: the URL a backend is given. */
    readonly url: string;
    readonly port: number;
    /** The llama-server behind the proxy now (a restart replaces it). */
    readonly upstream: LlamaServer;
    /** Faults that acted, in order. */
    readonly struck: readonly Strike[];
    /** Completed restarts of the engine. */
    readonly restarts: number;
    /** Resolves when no engine restart is under way (rejects if the last one failed). */
    restarting(): Promise<void>;
    /** Puts `fault` in force (replacing the previous one); `undefined` clears it (and listens again after `refuse`). */
    set(fault: ProxyFault | undefined, scope?: FaultScope): Promise<void>;
    /** Requests received for `path` (every path when omitted) since the proxy started. */
    requests(path?: string): number;
    /** Requests received per path. */
    counts(): Record<string, number>;
    /** Kills the engine (SIGKILL) and starts a new one on the same port. */
    restartUpstream(): Promise<void>;
    /** Stops the proxy and the engine; ends every open connection. Idempotent. */
    close(): Promise<void>;
}

/** llama-server's answer to a missing or wrong API key (checked against a real one started with `--api-key`). */
export const LLAMA_SERVER_401_BODY = JSON.stringify({ error: { message: 'Invalid API Key', type: 'authentication_error', code: 401 } });

/** Time given to clients to notice closed connections after the proxy stopped listening (ms). */
const CLOSE_SETTLE_MS = 50;

/** Hop-by-hop headers a proxy does not forward (RFC 9110 7.6.1), plus a length a rewritten body may change. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function forwardHeaders(headers: http.IncomingHttpHeaders, drop: readonly string[] = []): http.OutgoingHttpHeaders {
    const out: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && !drop.includes(k)) out[k] = v;
    return out;
}

/** Starts `options`' llama-server and a proxy in front of it on a free loopback port. */
export async function startFaultProxy(options: LlamaServerOptions): Promise<FaultProxy> {
    let upstream = await startLlamaServer(options);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const struck: Strike[] = [];
    const counts = new Map<string, number>();
    /** Open client connections (closed at `refuse` and `close`). */
    const sockets = new Set<Socket>();
    /** Requests to the engine in flight (destroyed at `close`). */
    const upstreamRequests = new Set<http.ClientRequest>();
    const timers = new Set<NodeJS.Timeout>();
    const wakeAtClose = new Set<() => void>();
    let fault: ProxyFault | undefined;
    let scope: FaultScope = {};
    let server: http.Server | undefined;
    let closed = false;
    let restarts = 0;
    let restart: Promise<void> = Promise.resolve();

    const applies = (path: string): ProxyFault | undefined =>
        fault && (!scope.paths || scope.paths.includes(path)) && !scope.except?.includes(path) ? fault : undefined;

    /** Resolves after `ms`, or at `close()`. */
    const sleep = (ms: number): Promise<void> =>
        new Promise((resolve) => {
            const t = setTimeout(() => {
                timers.delete(t);
                wakeAtClose.delete(resolve);
                resolve();
            }, ms);
            timers.add(t);
            wakeAtClose.add(resolve);
        });

    const restartUpstream = (): Promise<void> => {
        const old = upstream;
        restart = (async () => {
            old.process.kill('SIGKILL');
            await old.stop();
            if (closed) return;
            upstream = await startLlamaServer({ ...options, port: old.port });
            restarts++;
            if (closed) await upstream.stop();
        })();
        return restart;
    };

    const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
        const path = new URL(req.url ?? '/', url).pathname;
        counts.set(path, (counts.get(path) ?? 0) + 1);
        const f = applies(path);
        if (f?.kind === 'status' || f?.kind === 'unauthorized') {
            struck.push({ kind: f.kind, path });
            req.resume();
            const status = f.kind === 'status' ? f.status : 401;
            const body = f.kind === 'status' ? JSON.stringify({ error: { code: status, message: `injected: HTTP ${status}`, type: 'server_error' } }) : LLAMA_SERVER_401_BODY;
            res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
            res.end(body);
            return;
        }
        if (f?.kind === 'hang' && !f.afterEvents) {
            // Accepted, never answered: the request's body is read and nothing is sent.
            struck.push({ kind: 'hang', path });
            req.resume();
            return;
        }
        const up = http.request({
            host: '127.0.0.1',
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: { ...forwardHeaders(req.headers), host: `127.0.0.1:${upstream.port}` },
            agent: false,
        });
        upstreamRequests.add(up);
        up.once('close', () => upstreamRequests.delete(up));
        // The client left (or the proxy closed the connection): the engine's request goes too.
        res.once('close', () => {
            if (!res.writableFinished) up.destroy();
        });
        up.on('error', (e) => {
            // Once the engine's answer has begun, its end (complete or cut) is handled with the answer.
            if (!res.headersSent) {
                const body = JSON.stringify({ error: { code: 502, message: `the proxy could not reach the engine: ${e.message}`, type: 'server_error' } });
                res.writeHead(502, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
                res.end(body);
            }
        });
        up.on('response', (ur) => {
            const sse = (ur.headers['content-type'] ?? '').startsWith('text/event-stream');
            if (!sse) {
                res.writeHead(ur.statusCode ?? 502, forwardHeaders(ur.headers));
                ur.pipe(res);
                // An answer cut short by the engine is cut short for the client too.
                ur.once('close', () => {
                    if (!ur.complete) res.destroy();
                });
                return;
            }
            res.writeHead(ur.statusCode ?? 502, forwardHeaders(ur.headers, ['content-length']));
            res.flushHeaders();
            void pumpEvents(ur, res, up, path, f);
        });
        req.pipe(up);
    };

    /**
     * Forwards an event stream event by event, acting `f` on it. Invariant: while a mid-stream fault
     * has not struck, event i is forwarded only once event i+1 or the stream's end has arrived (one
     * event of look-ahead), so the fault can strike before the final event.
     */
    async function pumpEvents(ur: http.IncomingMessage, res: http.ServerResponse, up: http.ClientRequest, path: string, f: ProxyFault | undefined): Promise<void> {
        const events: string[] = [];
        let buffered = '';
        let ended = false;
        let wake: (() => void) | undefined;
        const arrived = (): void => {
            const w = wake;
            wake = undefined;
            w?.();
        };
        ur.setEncoding('utf8');
        ur.on('data', (chunk: string) => {
            buffered += chunk.replace(/\r\n/g, '\n');
            let end: number;
            while ((end = buffered.indexOf('\n\n')) >= 0) {
                events.push(buffered.slice(0, end + 2));
                buffered = buffered.slice(end + 2);
            }
            arrived();
        });
        /** The engine's answer ended before it was complete (its connection closed): so does the client's. */
        let broken = false;
        const finish = (): void => {
            if (!ur.complete) broken = true;
            if (buffered !== '') events.push(buffered);
            buffered = '';
            ended = true;
            arrived();
        };
        ur.once('end', finish);
        ur.once('error', finish);
        ur.once('close', finish);
        res.once('close', arrived);
        const midStream = f && (f.kind === 'hang' || f.kind === 'malformedSse' || f.kind === 'dropMidStream' || f.kind === 'restartMidStream') ? f : undefined;
        const strikeAt = midStream && 'afterEvents' in midStream ? (midStream.afterEvents ?? 0) : 0;
        let sent = 0;
        let done = false;
        /** Resolves once everything written so far has reached the socket (a destroy discards what has not). */
        let flushed: Promise<void> = Promise.resolve();
        const send = (text: string): void => {
            flushed = new Promise((resolve) => res.write(text, () => resolve()));
        };
        /** Closes the client's connection after what was sent before the fault has left. */
        const cut = async (): Promise<void> => {
            await flushed;
            res.destroy();
        };
        for (;;) {
            if (res.destroyed) return;
            const lookAhead = midStream && !done ? 2 : 1;
            if (events.length < lookAhead && !ended) {
                await new Promise<void>((resolve) => (wake = resolve));
                continue;
            }
            if (events.length === 0) break;
            if (midStream && !done && (sent >= strikeAt || (ended && events.length === 1))) {
                done = true;
                struck.push({ kind: midStream.kind, path, afterEvents: sent });
                if (midStream.kind === 'hang') {
                    // Silent from here on, its connection open; the engine's request is closed so its slot is freed.
                    up.destroy();
                    return;
                }
                if (midStream.kind === 'dropMidStream') {
                    up.destroy();
                    await cut();
                    return;
                }
                if (midStream.kind === 'restartMidStream') {
                    // The engine dies first, then its connection: what a client of a restarted engine sees.
                    const dying = upstream.process;
                    const restarted = restartUpstream();
                    await new Promise<void>((resolve) => {
                        if (dying.exitCode !== null || dying.signalCode !== null) resolve();
                        else dying.once('exit', () => resolve());
                    });
                    await cut();
                    await restarted.catch(() => undefined);
                    return;
                }
                // malformedSse: this event's JSON cut in half; the stream goes on after it.
                const event = events.shift()!;
                const line = event.trimEnd();
                send(`${line.slice(0, Math.max(7, Math.floor(line.length / 2)))}\n\n`);
                sent++;
                continue;
            }
            if (f?.kind === 'trickle') {
                if (sent === 0) struck.push({ kind: 'trickle', path });
                await sleep(f.msPerEvent);
                if (res.destroyed) return;
            }
            send(events.shift()!);
            sent++;
        }
        if (broken) await cut();
        else res.end();
    }

    const listen = async (): Promise<void> => {
        const s = http.createServer(handle);
        s.keepAliveTimeout = 5_000;
        s.on('connection', (socket: Socket) => {
            sockets.add(socket);
            socket.once('close', () => sockets.delete(socket));
        });
        await new Promise<void>((resolve, reject) => {
            s.once('error', reject);
            s.listen(port, '127.0.0.1', () => {
                s.off('error', reject);
                resolve();
            });
        });
        server = s;
    };

    const stopListening = async (): Promise<void> => {
        const s = server;
        if (!s) return;
        server = undefined;
        const done = new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeAllConnections();
        for (const socket of sockets) socket.destroy();
        await done;
        // Clients in this process see their kept-alive connections close on a later turn of the event
        // loop; until then a new request may still be written to one (a reset, not a refusal). A
        // server that went away did so before its clients' next request: give them that moment.
        await new Promise((resolve) => setTimeout(resolve, CLOSE_SETTLE_MS));
    };

    try {
        await listen();
    } catch (e) {
        await upstream.stop();
        throw e;
    }

    const proxy: FaultProxy = {
        url,
        port,
        get upstream() {
            return upstream;
        },
        struck,
        get restarts() {
            return restarts;
        },
        restarting: () => restart,
        async set(next, nextScope = {}) {
            fault = next;
            scope = nextScope;
            if (next?.kind === 'refuse') {
                if (server) struck.push({ kind: 'refuse', path: '*' });
                await stopListening();
            } else if (!server && !closed) await listen();
        },
        requests: (path) => (path === undefined ? [...counts.values()].reduce((a, b) => a + b, 0) : (counts.get(path) ?? 0)),
        counts: () => Object.fromEntries(counts),
        restartUpstream,
        async close() {
            if (closed) return;
            closed = true;
            fault = undefined;
            for (const t of timers) clearTimeout(t);
            timers.clear();
            for (const w of wakeAtClose) w();
            wakeAtClose.clear();
            for (const r of upstreamRequests) r.destroy();
            await stopListening();
            await restart.catch(() => undefined);
            await upstream.stop();
        },
    };
    return proxy;
}
