/**
 * Real llama-server processes for tests, the benchmark and the demo: the binary `npm run engine` builds from
 * the llama.cpp source node-llama-cpp ships (built here on first use when missing: minutes), started
 * on a free loopback port with a generated model, and stopped.
 *
 * Invariants: a started server answered `/health` with 200 before `startLlamaServer` resolves;
 * `stop()` is idempotent and resolves once the process has exited (SIGTERM, then SIGKILL after
 * STOP_GRACE_MS); every server a test starts is stopped by its `after` hook, and the process exit
 * kills any left (so no test run leaves engines behind).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO_ROOT = path.resolve(__dirname, '..');

/** How long a stopping server gets before SIGKILL (ms). */
const STOP_GRACE_MS = 5_000;
/** A hang cap for a server's start (load + /health), far above what a generated model needs (ms). */
const START_CAP_MS = 120_000;

let enginePath: Promise<string> | undefined;

/** The llama-server binary, built by `npm run engine` when not cached (its last output line is the path). */
export function llamaServerBinary(): Promise<string> {
    enginePath ??= (async () => {
        const { stdout } = await run(process.execPath, [path.join(REPO_ROOT, 'scripts', 'engine.mjs')], {
            cwd: REPO_ROOT,
            maxBuffer: 64 * 1024 * 1024,
        });
        const last = stdout.trim().split('\n').pop();
        if (!last) throw new Error('npm run engine printed no path');
        return last.trim();
    })();
    enginePath.catch(() => (enginePath = undefined));
    return enginePath;
}

/** A TCP port free on 127.0.0.1 now (the kernel picks it). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const address = s.address();
            const port = typeof address === 'object' && address ? address.port : 0;
            s.close(() => resolve(port));
        });
    });
}

export interface LlamaServerOptions {
    /** The GGUF file to serve. */
    readonly model: string;
    /** The llama-server binary (default: `llamaServerBinary()`, found from this file's place in the repository). */
    readonly binary?: string;
    /** Parallel slots (`--parallel`); default 2. */
    readonly slots?: number;
    /** Context size over all slots (`-c`); default 2048. */
    readonly contextSize?: number;
    /** Serve embeddings only (`--embeddings`), for an embedding model. */
    readonly embeddings?: boolean;
    /** `--api-key`: the server then answers 401 without it. */
    readonly apiKey?: string;
    /** A fixed port (a restart on the same URL); default: a free one. */
    readonly port?: number;
    /** More arguments. */
    readonly args?: readonly string[];
}

export interface LlamaServer {
    /** `http://127.0.0.1:<port>` */
    readonly url: string;
    readonly port: number;
    readonly process: ChildProcess;
    /** The last lines the server logged (for a failing test's message). */
    log(): string;
    stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
    for (const p of running) p.kill('SIGKILL');
});

/** Starts llama-server with one CPU thread on a loopback port and waits until `/health` says ok. */
export async function startLlamaServer(options: LlamaServerOptions): Promise<LlamaServer> {
    const binary = options.binary ?? (await llamaServerBinary());
    const port = options.port ?? (await freePort());
    const args = [
        '-m', options.model,
        '--host', '127.0.0.1',
        '--port', String(port),
        '-t', '1',
        '-tb', '1',
        '-c', String(options.contextSize ?? 2048),
        '--parallel', String(options.slots ?? 2),
        '--metrics',
        '--no-webui',
        ...(options.embeddings ? ['--embeddings'] : []),
        ...(options.apiKey ? ['--api-key', options.apiKey] : []),
        ...(options.args ?? []),
    ];
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const lines: string[] = [];
    const keep = (b: Buffer): void => {
        lines.push(...b.toString('utf8').split('\n'));
        if (lines.length > 200) lines.splice(0, lines.length - 200);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const exit = new Promise<void>((resolve) =>
        child.once('exit', (code, signal) => {
            exited = { code, signal };
            running.delete(child);
            resolve();
        }),
    );
    const url = `http://127.0.0.1:${port}`;
    const server: LlamaServer = {
        url,
        port,
        process: child,
        log: () => lines.slice(-40).join('\n'),
        async stop() {
            if (exited) return;
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
            await exit;
            clearTimeout(timer);
        },
    };
    const end = Date.now() + START_CAP_MS;
    for (;;) {
        if (exited) throw new Error(`llama-server exited (${exited.code ?? exited.signal}) before it was ready:\n${server.log()}`);
        try {
            const res = await fetch(`${url}/health`, options.apiKey ? { headers: { authorization: `Bearer ${options.apiKey}` } } : undefined);
            if (res.ok) return server;
            await res.body?.cancel();
        } catch {
            // Not listening yet.
        }
        if (Date.now() > end) {
            await server.stop();
            throw new Error(`llama-server did not become ready within ${START_CAP_MS / 1000} s (a hang):\n${server.log()}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}
