/**
 * Evaluation turns with real inference: three generated models on one CPU thread, through backends
 * made by one factory (which share its EvalTurns). Orders are asserted, not timings.
 */
import { strict as assert } from 'node:assert';
import type { ModelBackend, ModelSpec, Role } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns, type Release } from '../../src/core/evalTurns';
import { createLlamaCppBackendFactory } from '../../src/backends';
import { createLlamaProvider, type LlamaProvider } from '../../src/backends/llamaProvider';
import { codeLines } from '../support/code';
import { ensureModels, type SyntheticModels } from '../support/models';

/** Records the priority of every turn granted, in grant order. */
class RecordingTurns extends EvalTurns {
    readonly granted: number[] = [];
    override acquire(priority: number, signal?: AbortSignal): Promise<Release> {
        return super.acquire(priority, signal).then((release) => {
            this.granted.push(priority);
            return release;
        });
    }
}


const never = new AbortController().signal;

describe('evaluation turns (real inference on one CPU thread)', function () {
    this.timeout(120_000);
    let models: SyntheticModels;
    let provider: LlamaProvider;
    const loaded: ModelBackend[] = [];

    before(async function () {
        models = await ensureModels('tiny');
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
    });

    after(async () => {
        await Promise.all(loaded.map((b) => b.unload()));
        await provider?.dispose();
    });

    async function loadAll(turns: EvalTurns): Promise<Record<Role, ModelBackend>> {
        const create = createLlamaCppBackendFactory({ runtime: provider, clock: new SystemClock(), turns, prefillChunkTokens: 16 });
        const out = {} as Record<Role, ModelBackend>;
        for (const role of ['coder', 'reasoner', 'embedder'] as const) {
            const spec: ModelSpec = { id: role, role, path: models[role], contextSize: 2048, slots: 1, threads: 1, gpuLayers: 0, fimTemplate: 'auto' };
            const b = create(spec);
            await b.load(spec, never);
            loaded.push(b);
            out[role] = b;
        }
        return out;
    }

    it('a completion’s native calls go before the lower-priority calls queued ahead of it', async () => {
        const turns = new RecordingTurns();
        const m = await loadAll(turns);
        // A long prefill on the reasoner (16-token chunks) and an indexing batch on the embedder,
        // both in flight and taking turns.
        const explain = m.reasoner.generate({ mode: 'raw', prompt: codeLines(60), maxTokens: 2, priority: 0, ignoreEndOfGeneration: true }, never);
        const index = m.embedder.embed(
            Array.from({ length: 12 }, (_, i) => codeLines(4 + i)),
            never,
            0,
        );
        while (turns.granted.length < 4) await new Promise((r) => setTimeout(r, 1));
        const from = turns.granted.length;
        let firstAt = -1;
        const completion = m.coder.generate(
            {
                mode: 'fim',
                prefix: codeLines(20),
                suffix: '\n}\n',
                maxTokens: 3,
                priority: 100,
                ignoreEndOfGeneration: true,
                onToken: () => {
                    if (firstAt < 0) firstAt = turns.granted.length;
                },
            },
            never,
        );
        const [c] = await Promise.all([completion, explain, index]);
        assert.equal(c.generatedTokens, 3);
        const before = turns.granted.slice(from, firstAt);
        // Its prefill took several calls (16-token chunks), and no other model got a turn in between.
        assert.ok(before.length >= 3, `its calls before the first token: ${before.join(',')}`);
        assert.deepEqual(before.filter((p) => p !== 100), [], `grants before its first token: ${before.join(',')}`);
        // The others were competing all along: they had turns before and after.
        assert.ok(turns.granted.slice(0, from).includes(0) && turns.granted.slice(firstAt).includes(0));
    });
});
