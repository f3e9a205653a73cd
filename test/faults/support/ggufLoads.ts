/**
 * Loads many GGUF files with the real node-llama-cpp in child processes (`ggufLoadChild.ts`), a
 * batch per child, and says for each file whether it loaded, was refused with a JS exception, or
 * killed the process (an abort, a crash) or hung. When a child dies, the file it had started is the
 * offender (the child announces each file before touching it); that file is loaded once more
 * alone to confirm, and the rest of the batch continues in a fresh child.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { LoadJob } from './ggufLoadChild';

export type { LoadJob } from './ggufLoadChild';

export type LoadStatus = 'ok' | 'err' | 'crashed' | 'hung';

export interface LoadOutcome {
    readonly status: LoadStatus;
    /** The exception's message ("err"); the exit signal or code and stderr's tail ("crashed", "hung"). */
    readonly message: string;
}

export interface LoadOptions {
    /** Folder for the job lists. */
    readonly workDir: string;
    /** Files per child (default 100). */
    readonly batchSize?: number;
    /**
     * A child that has not finished its batch after this long is killed and its current file
     * reported as hung (default 120 s): a hang cap, not a speed assertion.
     */
    readonly batchTimeoutMs?: number;
}

const CHILD = path.join(__dirname, 'ggufLoadChild.ts');

interface ChildRun {
    /** Outcome per job index of the batch that finished ("ok"/"err"). */
    readonly finished: Map<number, LoadOutcome>;
    /** The job in progress when the child died or was killed, with why. */
    readonly died?: { readonly index: number; readonly outcome: LoadOutcome };
}

let listCounter = 0;

async function runChild(jobs: readonly LoadJob[], options: LoadOptions): Promise<ChildRun> {
    const list = path.join(options.workDir, `jobs-${process.pid}-${listCounter++}.json`);
    await writeFile(list, JSON.stringify(jobs));
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', CHILD, list], {
        cwd: path.resolve(__dirname, '..', '..', '..'),
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-4000); });
    let timedOut = false;
    const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
    }, options.batchTimeoutMs ?? 120_000);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.on('close', (code, signal) => resolve({ code, signal }));
    });
    clearTimeout(timer);

    const finished = new Map<number, LoadOutcome>();
    let started = -1;
    let done = false;
    for (const line of out.split('\n')) {
        const m = /^(start|ok|err) (\d+) ?(.*)$/.exec(line);
        if (m !== null) {
            const i = Number(m[2]);
            if (m[1] === 'start') started = i;
            else finished.set(i, { status: m[1] as 'ok' | 'err', message: m[3] ?? '' });
        } else if (line === 'done') {
            done = true;
        } else if (line.startsWith('fatal ')) {
            throw new Error(`load child failed before loading anything: ${line}\n${err}`);
        }
    }
    if (done && exit.code === 0) return { finished };
    const index = started >= 0 && !finished.has(started) ? started : -1;
    const why = timedOut ? 'hung (killed after the batch timeout)' : `exited with ${exit.signal ?? `code ${exit.code}`}`;
    const tail = err.trim().split('\n').slice(-6).join(' | ');
    if (index < 0) throw new Error(`load child ${why} outside any file; stderr: ${tail}`);
    return { finished, died: { index, outcome: { status: timedOut ? 'hung' : 'crashed', message: `${why}; stderr: ${tail}` } } };
}

/** Outcome of every job, in order. Throws only when the child cannot run at all. */
export async function loadInChildren(jobs: readonly LoadJob[], options: LoadOptions): Promise<LoadOutcome[]> {
    const outcomes: (LoadOutcome | undefined)[] = new Array(jobs.length);
    const batchSize = options.batchSize ?? 100;
    let next = 0;
    while (next < jobs.length) {
        const batch = jobs.slice(next, next + batchSize);
        const run = await runChild(batch, options);
        for (const [i, o] of run.finished) outcomes[next + i] = o;
        if (run.died === undefined) {
            next += batch.length;
            continue;
        }
        // Confirm the offender alone (it is the file, not what ran before it in the process).
        const alone = await runChild([batch[run.died.index]!], options);
        const confirmed = alone.died?.outcome ?? alone.finished.get(0);
        outcomes[next + run.died.index] = confirmed?.status === 'ok' || confirmed?.status === 'err'
            ? { status: 'crashed', message: `${run.died.outcome.message} (in a batch; alone it gave "${confirmed.status}")` }
            : run.died.outcome;
        next += run.died.index + 1;
    }
    return outcomes.map((o) => o ?? { status: 'crashed', message: 'no outcome reported' });
}
