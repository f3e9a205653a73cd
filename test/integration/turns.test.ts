/**
 * Evaluation turns with real inference: three generated models on one CPU thread, through backends
 * made by one factory (which share its EvalTurns). Orders are asserted, not timings.
 */
import { strict as assert } from 'node:assert';
import { UNTAGGED_CALL, type ModelBackend, type ModelSpec, type Role } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns, type Release } from '../../src/core/evalTurns';
import type { Priority, WaitTag } from '../../src/core/scheduling';
import { createLlamaCppBackendFactory } from '../../src/backends';
import { createLlamaProvider, type LlamaProvider } from '../../src/backends/llamaProvider';
import { codeLines } from '../support/code';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';

/** Records the priority and the tag of every turn granted, in grant order. */
class RecordingTurns extends EvalTurns {
    readonly granted: number[] = [];
    readonly tags: WaitTag[] = [];
    override acquire(priority: Priority, signal?: AbortSignal, tag?: WaitTag): Promise<Release> {
        return super.acquire(priority, signal, tag).then((release) => {
            this.granted.push(priority);
            this.tags.push(tag ?? UNTAGGED_CALL);
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
        const indexTag: WaitTag = { taskId: 2, label: 'embed #2 on embedder' };
        const index = m.embedder.embed(
            Array.from({ length: 12 }, (_, i) => codeLines(4 + i)),
            never,
            0,
            indexTag,
        );
        while (turns.granted.length < 4) await new Promise((r) => setTimeout(r, 1));
        const from = turns.granted.length;
        let firstAt = -1;
        const completionTag: WaitTag = { taskId: 3, label: 'completion #3 on coder' };
        const completion = m.coder.generate(
            {
                mode: 'fim',
                prefix: codeLines(20),
                suffix: '\n}\n',
                maxTokens: 3,
                priority: 100,
                tag: completionTag,
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
        // Each turn is named by its request's tag: the completion's calls by its own.
        assert.deepEqual(new Set(turns.tags.slice(from, firstAt)), new Set([completionTag]));
        assert.ok(turns.tags.includes(indexTag) && turns.tags.includes(UNTAGGED_CALL), 'the batch by its tag, the untagged explanation as such');
    });

    it('a prefill its gate held lets lower-priority calls in only while held, and reserves the thread again when it goes on', async () => {
        const turns = new RecordingTurns();
        const m = await loadAll(turns);
        let open: () => void = () => undefined;
        let closed = true;
        const opened = new Promise<void>((r) => (open = r));
        const gate = { wait: (): Promise<void> | undefined => (closed ? opened : undefined) };
        let firstAt = -1;
        let goesOnAt = -1;
        const explain = m.reasoner.generate(
            {
                mode: 'raw',
                prompt: codeLines(60),
                maxTokens: 2,
                priority: 50,
                gate,
                ignoreEndOfGeneration: true,
                onToken: () => {
                    if (firstAt < 0) firstAt = turns.granted.length;
                },
            },
            never,
        );
        const index = m.embedder.embed(
            Array.from({ length: 16 }, (_, i) => codeLines(4 + i)),
            never,
            0,
        );
        // Held at its gate before its first chunk: the indexing batch takes turns meanwhile (however
        // many it got before this loop looked: on a busy machine the poll may wake late).
        try {
            while (turns.granted.length < 3) await new Promise((r) => setTimeout(r, 1));
            goesOnAt = turns.granted.length;
            assert.deepEqual(turns.granted.filter((p) => p !== 0), [], `grants while the gate held: ${turns.granted.join(',')}`);
        } finally {
            // Never leave the explanation parked at its gate: unloading waits for its native work.
            closed = false;
            open();
        }
        await Promise.all([explain, index]);
        // From the first call after the gate opened to the first token: only the explanation's own
        // calls (16-token chunks), however often the embedder's next text was waiting.
        const start = turns.granted.indexOf(50, goesOnAt);
        const during = turns.granted.slice(start, firstAt);
        assert.ok(during.length >= 3, `its calls before the first token: ${during.join(',')}`);
        assert.deepEqual(during.filter((p) => p !== 50), [], `grants before its first token: ${turns.granted.slice(goesOnAt, firstAt).join(',')}`);
        assert.ok(turns.granted.slice(firstAt).includes(0), 'indexing went on after it');
    });

    it('a gate that asks for shorter prefill chunks gets them: one native call per chunk', async () => {
        const turns = new RecordingTurns();
        const m = await loadAll(turns);
        const calls = async (cap: number | undefined, prompt: string): Promise<{ calls: number; evaluated: number }> => {
            const from = turns.granted.length;
            let evaluated = -1;
            const gate = { wait: (): undefined => undefined, chunkTokens: (): number | undefined => cap };
            const r = await m.reasoner.generate({ mode: 'raw', prompt, maxTokens: 1, priority: 0, gate, ignoreEndOfGeneration: true, onUsage: (u) => (evaluated = u.evaluatedPromptTokens) }, never);
            assert.equal(r.generatedTokens, 1);
            return { calls: turns.granted.length - from, evaluated };
        };
        // The last prompt token is evaluated by the call that samples the first token.
        const own = await calls(undefined, codeLines(40));
        assert.equal(own.calls, Math.ceil((own.evaluated - 1) / 16) + 1, `backend's own 16-token chunks: ${JSON.stringify(own)}`);
        const cut = await calls(5, codeLines(41));
        assert.equal(cut.calls, Math.ceil((cut.evaluated - 1) / 5) + 1, `5-token chunks: ${JSON.stringify(cut)}`);
        // A cap above the backend's own size changes nothing.
        const above = await calls(1000, codeLines(42));
        assert.equal(above.calls, Math.ceil((above.evaluated - 1) / 16) + 1, `a cap of 1000: ${JSON.stringify(above)}`);
    });
});
