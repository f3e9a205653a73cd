/**
 * Hostile GGUF files (issue 20, part 3): thousands of seeded mutants of small valid models go
 * through the real validator, and every file it accepts is loaded by the real node-llama-cpp in
 * a child process. Two properties:
 * 1. the validator ends every case with facts or a typed ModelFileError (never another error,
 *    never a hang: each case runs under a hang cap);
 * 2. no accepted file aborts the process that loads it (a JS exception from llama.cpp is fine).
 *
 * Deterministic: case i of seed S is always the same file. `ZETA_FUZZ_SEED` and `ZETA_FUZZ_CASES`
 * (default 1 and 3000) run other or more cases; `ZETA_FUZZ_LOADS` (default 400) caps how many
 * accepted files are loaded (an evenly spaced sample when more are accepted). A failing case is
 * saved under the OS temp folder and named in the failure with its description.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { validateModelFile } from '../../src/backends/ggufValidator';
import { ModelFileError } from '../../src/core/errors';
import { mutantSource, type Mutant, type MutantSource } from './support/ggufMutants';
import { loadInChildren, type LoadJob } from './support/ggufLoads';

const FUZZ_SEED = Number(process.env.ZETA_FUZZ_SEED ?? 1);
const FUZZ_CASES = Number(process.env.ZETA_FUZZ_CASES ?? 3000);
const FUZZ_LOADS = Number(process.env.ZETA_FUZZ_LOADS ?? 400);
/** A case still validating after this long is a hang (the validator reads a bounded prefix). */
const CASE_HANG_CAP_MS = 20_000;

/** Where failing cases are kept for reproduction (outside the repository, never deleted by the suite). */
async function keepForRepro(bytes: Uint8Array, tag: string): Promise<string> {
    const dir = path.join(tmpdir(), 'zeta-gguf-fuzz-failures');
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `${tag}-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}.gguf`);
    await writeFile(file, bytes);
    return file;
}

function withHangCap<T>(p: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`hang: ${what} did not settle within ${CASE_HANG_CAP_MS} ms`)), CASE_HANG_CAP_MS);
    });
    return Promise.race([p, cap]).finally(() => clearTimeout(timer));
}

describe(`hostile GGUF files: ${FUZZ_CASES} seeded mutants (seed ${FUZZ_SEED})`, function () {
    this.timeout(600_000);
    let dir: string;
    let source: MutantSource;
    /** Accepted mutants, with the file each was written to. */
    const accepted: { mutant: Mutant; file: string }[] = [];
    const rejected = new Map<string, number>();

    before(async () => {
        dir = await mkdtemp(path.join(tmpdir(), 'zeta-gguf-fuzz-'));
        source = await mutantSource();
    });

    after(async () => {
        await rm(dir, { recursive: true, force: true });
    });

    it('the seed models are valid and load in llama.cpp (so mutants start from sound files)', async () => {
        const jobs: LoadJob[] = [];
        for (const s of source.seeds) {
            const file = path.join(dir, `seed-${s.name}.gguf`);
            await writeFile(file, s.bytes);
            const facts = await validateModelFile(file, { contextSize: 256 });
            assert.equal(facts.architecture, 'llama');
            jobs.push({ path: file, vocabOnly: false });
        }
        const outcomes = await loadInChildren(jobs, { workDir: dir });
        assert.deepEqual(outcomes.map((o) => `${o.status} ${o.message}`), jobs.map(() => 'ok '));
    });

    it('ends every case in facts or a typed ModelFileError, never another error or a hang', async () => {
        const untyped: string[] = [];
        const scratch = path.join(dir, 'case.gguf');
        for (let i = 0; i < FUZZ_CASES; i++) {
            const m = await source.mutant(FUZZ_SEED, i);
            // Rejected cases reuse one path; accepted ones keep their file for the load test.
            await writeFile(scratch, m.bytes);
            try {
                await withHangCap(validateModelFile(scratch, { contextSize: 256 }), m.description);
                const file = path.join(dir, `accepted-${i}.gguf`);
                await writeFile(file, m.bytes);
                accepted.push({ mutant: m, file });
            } catch (e) {
                if (e instanceof ModelFileError && e.problem !== 'loadFailed' && e.file === scratch) {
                    rejected.set(e.problem, (rejected.get(e.problem) ?? 0) + 1);
                } else {
                    untyped.push(`${m.description}: ${String(e)} (saved as ${await keepForRepro(m.bytes, `untyped-${i}`)})`);
                }
            }
        }
        assert.deepEqual(untyped, [], `untyped errors or hangs:\n${untyped.join('\n')}`);
        // The mix must exercise both sides, or the load test below would prove nothing.
        assert.ok(accepted.length > FUZZ_CASES / 20, `only ${accepted.length} of ${FUZZ_CASES} accepted`);
        assert.ok(rejected.size >= 3, `rejections of only ${[...rejected.keys()].join(', ')}`);
    });

    it('no accepted mutant aborts a process that loads it (loaded with the real node-llama-cpp in child processes)', async function () {
        assert.ok(accepted.length > 0, 'the validation test must run first');
        // Identical bytes load identically: load each distinct file once.
        const distinct = new Map<string, (typeof accepted)[number]>();
        for (const a of accepted) distinct.set(createHash('sha256').update(a.mutant.bytes).digest('hex'), a);
        const all = [...distinct.values()];
        const step = Math.max(1, all.length / FUZZ_LOADS);
        const sample = Array.from({ length: Math.min(FUZZ_LOADS, all.length) }, (_, k) => all[Math.floor(k * step)]!);
        this.test!.title += ` [${sample.length} of ${all.length} distinct accepted files]`;
        const outcomes = await loadInChildren(sample.map((a) => ({ path: a.file, vocabOnly: false })), { workDir: dir, batchSize: 100 });
        const count = (s: string): number => outcomes.filter((o) => o.status === s).length;
        this.test!.title += ` [loaded ${count('ok')}, refused with an exception ${count('err')}, killed ${count('crashed') + count('hung')}]`;
        const fatal: string[] = [];
        for (let k = 0; k < sample.length; k++) {
            const o = outcomes[k]!;
            if (o.status === 'crashed' || o.status === 'hung') {
                fatal.push(`${sample[k]!.mutant.description}\n    ${o.status}: ${o.message}\n    saved as ${await keepForRepro(sample[k]!.mutant.bytes, `abort-${sample[k]!.mutant.index}`)}`);
            }
        }
        assert.deepEqual(fatal, [], `accepted files that killed llama.cpp:\n${fatal.join('\n')}`);
        // Most accepted files must really load, or the sample tested only refusals.
        assert.ok(outcomes.filter((o) => o.status === 'ok').length > sample.length / 4, 'too few accepted files loaded');
    });
});
