/**
 * The model file deleted or replaced while llama.cpp has it loaded (real backends, tiny generated
 * models, each test on its own copy in a temporary folder). llama.cpp maps the file: a deleted or
 * renamed-over file keeps its old contents mapped, so work in flight settles and the model keeps
 * serving from the mapping; a reload reads the path again and either loads what is there now or
 * refuses it with a ModelFileError that names the file and the problem. Replacing is done as
 * downloaders and editors do it, by writing a new file and renaming it over the old one (never
 * truncating the mapped file in place, which would fault the process on its next page read).
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { copyFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ModelSpec } from '../../src/core/backend';
import type { Task } from '../../src/core/tasks';
import { tinyRuntime } from '../support/tinyRuntime';
import { code, completionTask, describeOutcome, realSpec, settledWithin, startRealRouter, waitFor, type Outcome, type RealRouter } from './support/routerHarness';

/** The static policy: completions and edits always go to the coder while it can serve, so who served says whether it could. */
const STATIC = { policy: 'static' } as const;

/** Work on the coder, started and running before the file changes. */
function coderWork(h: RealRouter, tag: string): Array<Promise<Outcome>> {
    const tasks: Task[] = [
        completionTask(`${tag}-1.ts`, code(20, `${tag}a`), 8),
        completionTask(`${tag}-2.ts`, code(20, `${tag}b`), 8),
        { kind: 'edit', doc: `${tag}-e.ts`, messages: [{ role: 'user', content: `Rename:\n${code(6, tag)}` }], maxTokens: 12 },
    ];
    const outcomes = tasks.map((t) => h.run(t));
    assert.ok(h.router.snapshot().models.find((m) => m.id === 'coder')!.inFlight > 0, 'the coder is working when its file changes');
    return outcomes;
}

/** Reloads the coder through the settings (a changed context size needs a new backend), from `path`. */
async function reloadCoder(h: RealRouter, path: string, contextSize: number): Promise<void> {
    const specs: ModelSpec[] = h.specs.map((s) => (s.id === 'coder' ? realSpec('coder', path, { contextSize }) : s));
    await settledWithin(h.router.reconfigure(specs, h.settings), 'reconfigure');
    await waitFor(() => {
        const r = h.router.snapshot().models.find((m) => m.id === 'coder')!.residency;
        return r === 'loaded' || r === 'failed';
    }, 'the coder reloaded or refused');
}

function coderSnapshot(h: RealRouter): ReturnType<RealRouter['router']['snapshot']>['models'][number] {
    return h.router.snapshot().models.find((m) => m.id === 'coder')!;
}

describe('faults: the model file deleted or replaced while loaded', function () {
    this.timeout(120_000);

    const tiny = tinyRuntime();
    let h: RealRouter | undefined;
    let dir: string;

    beforeEach(async () => {
        dir = await mkdtemp(join(tmpdir(), 'zeta-modelfile-'));
    });

    afterEach(async () => {
        await h?.dispose();
        h = undefined;
        await rm(dir, { recursive: true, force: true });
    });

    it('deleted: work in flight settles, the model serves on from its mapping, a reload says the file is missing, and a restored file loads again', async () => {
        const path = join(dir, 'coder.gguf');
        await copyFile(tiny.models.coder, path);
        h = await startRealRouter({ paths: { ...tiny.models, coder: path }, runtime: tiny.provider, settings: STATIC });
        const work = coderWork(h, 'del');
        unlinkSync(path);
        for (const o of await Promise.all(work)) assert.ok(o.ok, describeOutcome(o));
        // Still serving from the mapped file.
        const after = await h.run(completionTask('after.ts', code(8, 'after'), 4));
        assert.ok(after.ok, describeOutcome(after));
        assert.equal(after.value.modelId, 'coder');

        await reloadCoder(h, path, 512);
        const refused = coderSnapshot(h);
        assert.equal(refused.residency, 'failed');
        assert.ok(refused.error?.startsWith(path), `the error names the file: ${refused.error}`);
        assert.match(refused.error ?? '', /not found|no such file|does not exist|missing/i);
        // Its tasks go to the other models meanwhile.
        const elsewhere = await h.run(completionTask('elsewhere.ts', code(8, 'e'), 4));
        assert.ok(elsewhere.ok, describeOutcome(elsewhere));
        assert.notEqual(elsewhere.value.modelId, 'coder');

        await copyFile(tiny.models.coder, path);
        await reloadCoder(h, path, 1024);
        assert.equal(coderSnapshot(h).residency, 'loaded', coderSnapshot(h).error);
        const back = await h.run(completionTask('back.ts', code(8, 'back'), 4));
        assert.ok(back.ok, describeOutcome(back));
        assert.equal(back.value.modelId, 'coder');
        await h.assertNoSequencesHeld();
        const replaced = h.all.filter((b) => b !== h!.faulty.get('coder') && ![...h!.faulty.values()].includes(b));
        assert.equal(replaced.length, 2, 'two coder backends were replaced');
        await waitFor(() => replaced.every((b) => b.stats().contextsOpen === 0 && !b.stats().loaded), 'the replaced coder backends unloaded');
    });

    it('cut short in place while loaded (a download restarted over it): the next request is a typed error, served elsewhere, not a crash', async () => {
        // In a child process: llama.cpp reads weights from the mapped file, and a read past the new
        // end of a truncated file kills the process (SIGBUS); a regression must not take the suite down.
        const copy = join(dir, 'coder.gguf');
        await copyFile(tiny.models.coder, copy);
        const list = join(dir, 'tiny.models.json');
        await writeFile(list, JSON.stringify(tiny.models));
        const child = spawn(process.execPath, ['--require', 'tsx/cjs', resolve(__dirname, 'support', 'truncatedModelChild.ts'), list, copy, '0'], {
            cwd: resolve(__dirname, '..', '..'),
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
        const exit = await settledWithin(
            new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('close', (code, signal) => done({ code, signal }))),
            'the child',
        ).finally(() => child.kill('SIGKILL'));
        const steps = new Map<string, string>();
        for (const line of out.split('\n')) {
            if (!line.startsWith('{')) continue;
            const { step, value } = JSON.parse(line) as { step: string; value: string };
            steps.set(step, value);
        }
        assert.ok(out.includes('done\n'), `the child died (code ${exit.code}, signal ${exit.signal}) after ${[...steps.keys()].join(', ')}:\n${err}`);
        assert.equal(exit.code, 0);
        assert.equal(steps.get('before'), 'served by coder');
        assert.match(steps.get('after') ?? '', /^served by (reasoner|embedder)$/);
        assert.match(steps.get('decision') ?? '', /retry after coder failed/);
        assert.match(steps.get('coderError') ?? '', /coder\.gguf: was cut from \d+ to 0 bytes on disk while loaded; .* serves nothing until it is reloaded/);
        assert.match(steps.get('again') ?? '', /^served by /);
    });

    it('replaced by other bytes: work in flight settles on the old mapping, a reload refuses the file naming the problem, and a valid replacement loads', async () => {
        const path = join(dir, 'coder.gguf');
        await copyFile(tiny.models.coder, path);
        h = await startRealRouter({ paths: { ...tiny.models, coder: path }, runtime: tiny.provider, settings: STATIC });
        const work = coderWork(h, 'rep');
        const junk = join(dir, 'coder.gguf.partial');
        await writeFile(junk, Buffer.alloc(64 * 1024, 0x5a));
        await rename(junk, path);
        for (const o of await Promise.all(work)) assert.ok(o.ok, describeOutcome(o));
        const after = await h.run(completionTask('after.ts', code(8, 'after'), 4));
        assert.ok(after.ok, describeOutcome(after));
        assert.equal(after.value.modelId, 'coder');

        await reloadCoder(h, path, 512);
        const refused = coderSnapshot(h);
        assert.equal(refused.residency, 'failed');
        assert.ok(refused.error?.startsWith(path), `the error names the file: ${refused.error}`);
        assert.match(refused.error ?? '', /GGUF/);
        await h.assertServing();

        // A valid file of another model under the same path: the reload reads what is there now.
        const next = join(dir, 'coder.gguf.next');
        await copyFile(tiny.models.reasoner, next);
        await rename(next, path);
        await reloadCoder(h, path, 1024);
        assert.equal(coderSnapshot(h).residency, 'loaded', coderSnapshot(h).error);
        assert.equal(h.router.modelInfo('coder')?.name, h.router.modelInfo('reasoner')?.name, 'the coder now runs the file found at its path');
        const served = await h.run(completionTask('next.ts', code(8, 'next'), 4));
        assert.ok(served.ok, describeOutcome(served));
        assert.equal(served.value.modelId, 'coder');
        await h.assertNoSequencesHeld();
    });
});
