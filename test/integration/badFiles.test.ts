/**
 * Bad model files never take the process down: every problem is a typed ModelFileError naming the
 * file, raised before llama.cpp sees the file (or, for files only llama.cpp can refuse, from its
 * catchable error), while another loaded model keeps serving.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ModelBackend, ModelSpec } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import { ModelFileError } from '../../src/core/errors';
import { syntheticModelSpec } from '../../src/core/gguf/synthetic';
import { writeGgufToBuffer } from '../../src/core/gguf/writer';
import { createLlamaCppBackendFactory } from '../../src/backends';
import { createLlamaProvider, type LlamaProvider } from '../../src/backends/llamaProvider';
import { ensureModels } from '../../scripts/generatedModels';
import { writeBadModelFiles, type BadModelCase, type BadModelFiles } from '../support/badModelFiles';

const never = new AbortController().signal;

describe('bad model files', function () {
    this.timeout(60_000);

    let provider: LlamaProvider;
    let create: (spec: ModelSpec) => ModelBackend;
    let healthy: ModelBackend;
    let bad: BadModelFiles;
    let dir: string;

    const spec = (file: string, overrides: Partial<ModelSpec> = {}): ModelSpec => ({
        id: path.basename(file),
        role: 'coder',
        path: file,
        contextSize: 512,
        slots: 1,
        threads: 1,
        gpuLayers: 'auto',
        fimTemplate: 'auto',
        ...overrides,
    });

    /** The healthy model still generates after each refusal. */
    async function assertStillServing(): Promise<void> {
        const result = await healthy.generate({ mode: 'raw', prompt: 'function ok() {', maxTokens: 6, ignoreEndOfGeneration: true }, never);
        assert.equal(result.generatedTokens, 6);
        assert.equal(process.exitCode ?? 0, 0);
    }

    before(async function () {
        this.timeout(120_000);
        const models = await ensureModels('tiny');
        dir = await mkdtemp(path.join(tmpdir(), 'zeta-bad-files-'));
        bad = await writeBadModelFiles(dir);
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
        create = createLlamaCppBackendFactory({ runtime: provider, clock: new SystemClock(), turns: new EvalTurns() });
        healthy = create(spec(models.coder));
        await healthy.load(spec(models.coder, { id: 'healthy' }), never);
    });

    after(async () => {
        await healthy?.unload();
        await provider?.dispose();
        if (dir) await rm(dir, { recursive: true, force: true });
    });

    const cases: readonly BadModelCase[] = [
        'missing',
        'directory',
        'empty',
        'badMagic',
        'cutTo64Bytes',
        'cutInHalf',
        'noFeedForwardLength',
        'noHeadCount',
        'headCountNotDividing',
        'vocabMismatch',
        'badArchitecture',
        'badTokenizer',
        'overBudget',
    ];

    for (const name of cases) {
        it(`${name}: load rejects with a ModelFileError naming the file; the other model keeps serving`, async () => {
            const { path: file, problem } = bad.cases[name];
            const overrides = problem === 'overMemoryBudget' ? { memoryBudgetBytes: bad.memoryBudgetBytes } : {};
            const backend = create(spec(file, overrides));
            for (const attempt of [() => backend.inspect(spec(file, overrides), never), () => backend.load(spec(file, overrides), never)]) {
                await assert.rejects(attempt(), (e: unknown) => {
                    assert.ok(e instanceof ModelFileError, `expected a ModelFileError, got ${String(e)}`);
                    assert.equal(e.problem, problem);
                    assert.equal(e.file, file);
                    assert.ok(e.message.includes(file), e.message);
                    return true;
                });
            }
            assert.equal(backend.stats().loaded, false);
            await assertStillServing();
        });
    }

    it('every problem the issue names is covered by a case', () => {
        const problems = new Set(cases.map((c) => bad.cases[c].problem));
        for (const p of ['missing', 'notGguf', 'truncated', 'badMetadata', 'unsupportedArchitecture', 'unsupportedTokenizer', 'overMemoryBudget']) {
            assert.ok((problems as Set<string>).has(p), p);
        }
    });

    it('a file only llama.cpp can refuse (a tensor it does not expect) is a loadFailed error with llama.cpp\'s reason', async () => {
        // The validator checks the tensors llama.cpp requires (a missing one is badMetadata); an extra
        // one is llama.cpp's to refuse ("wrong number of tensors"), a thrown error, never an abort.
        const good = syntheticModelSpec('coder', { preset: 'tiny' });
        const file = path.join(dir, 'extra-tensor.gguf');
        const extra = { ...good.tensors.find((t) => t.name === 'output_norm.weight')!, name: 'blk.0.zeta_extra.weight' };
        await writeFile(file, await writeGgufToBuffer({ metadata: good.metadata, tensors: [...good.tensors, extra] }));
        const backend = create(spec(file));
        await assert.rejects(backend.load(spec(file), never), (e: unknown) => {
            assert.ok(e instanceof ModelFileError, String(e));
            assert.equal(e.problem, 'loadFailed');
            assert.ok(e.message.includes(file) && /wrong number of tensors/.test(e.message), e.message);
            return true;
        });
        await assertStillServing();
    });

    it('an aborted load rejects with the abort reason and leaves nothing loaded', async () => {
        const models = await ensureModels('tiny');
        const backend = create(spec(models.reasoner));
        const controller = new AbortController();
        const reason = new Error('cancelled by test');
        reason.name = 'AbortError';
        controller.abort(reason);
        await assert.rejects(backend.load(spec(models.reasoner), controller.signal), (e: unknown) => e === reason);
        assert.equal(backend.stats().loaded, false);
        await assertStillServing();
    });
});
