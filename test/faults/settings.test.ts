/**
 * Settings changed while requests run, through the router's public API (`reconfigure`), over the
 * real llama.cpp backends (tiny generated models): a model's path, the memory budget, the routing
 * policy. Every request settles, the new settings apply, and Zeta keeps serving. Waits are bounded
 * by events, with caps for hangs only; nothing asserts a duration.
 */
import { strict as assert } from 'node:assert';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '../../src/core/tasks';
import { tinyRuntime } from '../support/tinyRuntime';
import { code, completionTask, describeOutcome, realSpec, settledWithin, startRealRouter, waitFor, type Outcome, type RealRouter } from './support/routerHarness';

/** A mix of work in flight: completions superseding each other, an edit, an explanation, an embedding. */
function mixedWork(h: RealRouter, tag: string): Array<Promise<Outcome>> {
    const tasks: Task[] = [
        { kind: 'explain', doc: `${tag}-x.ts`, messages: [{ role: 'user', content: `Explain:\n${code(10, 'x')}` }], maxTokens: 24 },
        { kind: 'edit', doc: `${tag}-e.ts`, messages: [{ role: 'user', content: `Rename a to b:\n${code(6, 'e')}` }], maxTokens: 16 },
        { kind: 'embed', texts: Array.from({ length: 6 }, (_, i) => code(2, `${tag}chunk${i}_`)) },
    ];
    let prefix = code(16, tag);
    for (let i = 0; i < 6; i++) {
        prefix += 'abcdef'[i];
        tasks.push(completionTask(`${tag}-c.ts`, prefix, 8));
    }
    const outcomes = tasks.map((t) => h.run(t));
    const busy = h.router.snapshot().models.filter((m) => m.inFlight > 0);
    assert.ok(busy.length > 0, 'work is running when the settings change');
    return outcomes;
}

/** Every outcome is a result or a cancellation by a newer keystroke (a superseded completion). */
function assertSettledCleanly(outcomes: readonly Outcome[]): void {
    for (const o of outcomes) {
        if (o.ok) continue;
        const e = o.error as Error;
        assert.ok(e.name === 'AbortError' && /superseded/.test(e.message), `unexpected failure: ${describeOutcome(o)}`);
    }
    assert.ok(outcomes.some((o) => o.ok), 'something was served');
}

describe('faults: settings changed while requests run', function () {
    this.timeout(120_000);

    const tiny = tinyRuntime();
    let h: RealRouter | undefined;
    let dir: string;

    before(async () => {
        dir = await mkdtemp(join(tmpdir(), 'zeta-settings-'));
    });

    afterEach(async () => {
        await h?.dispose();
        h = undefined;
    });

    after(async () => {
        await rm(dir, { recursive: true, force: true });
    });

    it("a model's path: running work settles on the old file, the model reloads from the new one, and the old one is freed", async () => {
        const first = join(dir, 'coder-a.gguf');
        const second = join(dir, 'coder-b.gguf');
        await copyFile(tiny.models.coder, first);
        await copyFile(tiny.models.coder, second);
        h = await startRealRouter({ paths: { ...tiny.models, coder: first }, runtime: tiny.provider });
        const old = h.faulty.get('coder')!;
        const work = mixedWork(h, 'path');
        const specs = h.specs.map((s) => (s.id === 'coder' ? realSpec('coder', second) : s));
        await settledWithin(h.router.reconfigure(specs, h.settings), 'reconfigure');
        assertSettledCleanly(await Promise.all(work));

        const fresh = h.faulty.get('coder')!;
        assert.notEqual(fresh, old, 'a new backend for the new file');
        await waitFor(() => h!.router.snapshot().models.find((m) => m.id === 'coder')!.residency === 'loaded', 'the coder loaded from its new path');
        assert.equal(h.router.modelInfo('coder')?.path, second);
        await waitFor(() => !old.stats().loaded && old.stats().contextsOpen === 0, 'the old backend unloaded');
        const c = await h.run(completionTask('after.ts', code(6, 'after'), 4));
        assert.ok(c.ok, describeOutcome(c));
        await h.assertNoSequencesHeld();
    });

    it('the routing policy: work in flight settles, and the next decisions are made by the new policy', async () => {
        h = await startRealRouter({ paths: tiny.models, runtime: tiny.provider });
        const work = mixedWork(h, 'policy');
        h.settings = { ...h.settings, policy: 'static' };
        await settledWithin(h.router.reconfigure(h.specs, h.settings), 'reconfigure');
        assertSettledCleanly(await Promise.all(work));
        assert.equal(h.router.snapshot().policy, 'static');
        const x = await h.run({ kind: 'explain', doc: 'p.ts', messages: [{ role: 'user', content: 'Explain: let a = 1;' }], maxTokens: 4 });
        assert.ok(x.ok, describeOutcome(x));
        assert.equal(x.value.decision.policy, 'static');
        assert.equal(x.value.modelId, 'reasoner');
        assert.match(x.value.decision.reason, /^static policy: explain always goes to reasoner/);
        await h.assertNoSequencesHeld();
        await h.assertServing();
    });

    it('the memory budget: work in flight settles; afterwards the resident models fit the new budget when work needs a load', async () => {
        h = await startRealRouter({ paths: tiny.models, runtime: tiny.provider });
        const bytes = (id: string): number => {
            const m = h!.router.snapshot().models.find((x) => x.id === id)!;
            return m.memoryBytes;
        };
        // Room for the coder (always kept loaded) and one more model at a time.
        const budget = bytes('coder') + Math.max(bytes('reasoner'), bytes('embedder')) + 1;
        const work = mixedWork(h, 'budget');
        h.settings = { ...h.settings, memoryBudgetBytes: budget };
        await settledWithin(h.router.reconfigure(h.specs, h.settings), 'reconfigure');
        assertSettledCleanly(await Promise.all(work));
        // Work for each non-pinned model in turn: each needs its model resident, within the budget.
        for (const t of [
            { kind: 'explain', doc: 'b1.ts', messages: [{ role: 'user', content: 'Explain: const q = 3;' }], maxTokens: 4 },
            { kind: 'embed', texts: ['one text to index'] },
            { kind: 'explain', doc: 'b2.ts', messages: [{ role: 'user', content: 'Explain: const r = 4;' }], maxTokens: 4 },
        ] as Task[]) {
            const o = await h.run(t);
            assert.ok(o.ok, describeOutcome(o));
            const resident = h.router.snapshot().models.reduce((n, m) => n + m.memoryBytes, 0);
            assert.ok(resident <= budget, `${resident} bytes resident after ${t.kind} on ${o.value.modelId}, budget ${budget}`);
        }
        await h.assertNoSequencesHeld();
        await h.assertServing();
    });
});
