/**
 * A llama-server process for the team scenario: the binary `npm run engine` built (its cached path
 * from `scripts/engine.mjs --print-only`; building it is `npm run engine`'s job, minutes, not the
 * benchmark's), on a free loopback port, one thread, with `--metrics`.
 *
 * The benchmark may not import test/ (test/unit/architecture.test.ts), so this is the benchmark's
 * own small copy of test/support/llamaServer.ts's start and stop, with the same invariants: a
 * started server answered `/health` with 200 before `startServer` resolves; `stop()` is idempotent
 * and resolves once the process has exited (SIGTERM, then SIGKILL after STOP_GRACE_MS); the
 * process's exit kills any server left. Units: ms.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const STOP_GRACE_MS = 5_000;
/** A hang cap on the start (load + /health), far above what a generated model needs. */
const START_CAP_MS = 120_000;

export interface BenchServer {
    /** `http://127.0.0.1:<port>` */
    readonly url: string;
    /** The last lines the server logged. */
    log(): string;
    stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
    for (const p of running) p.kill('SIGKILL');
});

/** The llama-server binary `npm run engine` built; throws with what to run when there is none. */
export async function engineBinary(): Promise<string> {
    try {
        const { stdout } = await run(process.execPath, [path.join(REPO_ROOT, 'scripts', 'engine.mjs'), '--print-only'], { cwd: REPO_ROOT });
        const last = stdout.trim().split('\n').pop()?.trim();
        if (last) return last;
    } catch {
        // No cached build: said below.
    }
    throw new Error('no llama-server built: run `npm run engine` first (it builds llama-server from the llama.cpp source node-llama-cpp ships, ~8 minutes on 2 cores)');
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const a = s.address();
            const port = typeof a === 'object' && a ? a.port : 0;
            s.close(() => resolve(port));
        });
    });
}

/** Starts llama-server on `model` with 1 thread, `slots` slots and `contextSize` tokens over all slots. */
export async function startServer(options: { readonly model: string; readonly slots: number; readonly contextSize: number }): Promise<BenchServer> {
    const binary = await engineBinary();
    const port = await freePort();
    const args = ['-m', options.model, '--host', '127.0.0.1', '--port', String(port), '-t', '1', '-tb', '1', '-c', String(options.contextSize), '--parallel', String(options.slots), '--metrics', '--no-webui'];
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
    const server: BenchServer = {
        url,
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
            const res = await fetch(`${url}/health`);
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
