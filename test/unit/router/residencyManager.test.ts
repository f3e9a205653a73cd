/**
 * The residency manager on its own: model entries on fake backends, a forecast set by hand,
 * virtual time. The router's residency tests drive the same manager through whole requests.
 */
import assert from 'node:assert/strict';
import type { Role } from '../../../src/core/backend';
import type { TaskKind } from '../../../src/core/tasks';
import { FakeBackend } from '../../../src/backends/fakeBackend';
import type { ModelEntry } from '../../../src/core/router/state';
import { Residency } from '../../../src/core/router/residency';
import { SpeedBook } from '../../../src/core/router/speeds';
import { parts, running, type Parts } from './parts';

const GB = 1e9;
const SIZES: Record<Role, number> = { coder: 4 * GB, reasoner: 2 * GB, embedder: 2 * GB };

interface Harness {
    readonly p: Parts;
    readonly residency: Residency;
    readonly loaded: string[];
    readonly failed: Array<[string, unknown]>;
    readonly warnings: string[];
    /** Forecast arrivals per second per kind (0 when absent). */
    readonly rates: Partial<Record<TaskKind, number>>;
    model(id: Role): ModelEntry;
}

async function harness(budgetBytes: number | undefined, policy: 'zeta' | 'static' = 'zeta', keepAliveMs = 10_000): Promise<Harness> {
    const p = await parts(['coder', 'reasoner', 'embedder'], { policy, memoryBudgetBytes: budgetBytes, keepAliveMs }, {
        coder: { memory: { ramBytes: SIZES.coder, vramBytes: 0 }, loadMs: 300 },
        reasoner: { memory: { ramBytes: SIZES.reasoner, vramBytes: 0 }, loadMs: 200 },
        embedder: { memory: { ramBytes: SIZES.embedder, vramBytes: 0 }, loadMs: 100 },
    });
    const loaded: string[] = [];
    const failed: Array<[string, unknown]> = [];
    const warnings: string[] = [];
    const rates: Partial<Record<TaskKind, number>> = {};
    const residency = new Residency({
        clock: p.clock,
        models: p.models,
        config: () => p.config,
        speeds: new SpeedBook(() => p.models.list, p.clock, undefined, undefined),
        rate: (kind) => rates[kind] ?? 0,
        ready: () => true,
        disposed: () => false,
        onLoaded: (m) => loaded.push(m.id),
        onLoadFailed: (m, e) => failed.push([m.id, e]),
        emit: () => undefined,
        logger: { info: () => undefined, warn: (m) => warnings.push(m), error: () => undefined },
    });
    return { p, residency, loaded, failed, warnings, rates, model: (id) => p.models.get(id)! };
}

const states = (h: Harness): string[] => h.p.models.list.map((m) => `${m.id}:${m.residency}`);

describe('residency manager', () => {
    it('loads one model at a time, the pinned completion model first', async () => {
        const h = await harness(undefined);
        for (const m of h.p.models.list) h.residency.wantInitialLoad(m);
        h.residency.runLoads();
        assert.deepEqual(states(h), ['coder:loading', 'reasoner:unloaded', 'embedder:unloaded']);
        let most = 0;
        for (let t = 0; t < 1_000; t += 10) {
            await h.p.clock.advance(10);
            most = Math.max(most, h.p.models.list.filter((m) => m.residency === 'loading').length);
        }
        assert.equal(most, 1, 'never two loads at once');
        assert.deepEqual(h.loaded, ['coder', 'reasoner', 'embedder']);
        assert.ok(h.residency.loadBusyMs(h.p.clock.now()) === 0);
    });

    it('under a memory budget, loads at start only what fits, the pinned model always', async () => {
        const h = await harness(3 * GB);
        for (const m of h.p.models.list) h.residency.wantInitialLoad(m);
        assert.deepEqual(
            h.p.models.list.map((m) => m.loadWanted),
            [true, false, false],
            'the coder alone is over the budget and still loads; nothing else fits beside it',
        );
    });

    it('makes room for a model with work waiting by evicting the least recently used idle model, never a busy or the pinned one', async () => {
        const h = await harness(6 * GB);
        const [coder, reasoner, embedder] = (['coder', 'reasoner', 'embedder'] as const).map((r) => h.model(r));
        for (const m of h.p.models.list) h.residency.wantInitialLoad(m);
        h.residency.runLoads();
        await h.p.clock.advance(1_000);
        assert.deepEqual(states(h), ['coder:loaded', 'reasoner:loaded', 'embedder:unloaded']);
        // The embedder gets work while the reasoner is busy: nothing can be evicted yet.
        const busy = running(h.p, reasoner, 'explain');
        embedder.queue.push(running(h.p, embedder, 'embedQuery'));
        embedder.running.pop();
        embedder.loadWanted = true;
        h.residency.runLoads();
        assert.deepEqual(states(h), ['coder:loaded', 'reasoner:loaded', 'embedder:unloaded'], 'waits for the busy model');
        // The reasoner goes idle: it is evicted (not the pinned coder) and the embedder loads.
        reasoner.running.splice(reasoner.running.indexOf(busy), 1);
        h.residency.afterWork(reasoner);
        assert.equal(reasoner.residency, 'unloaded');
        assert.equal(embedder.residency, 'loading');
        assert.equal(coder.residency, 'loaded');
        assert.equal((reasoner.backend as FakeBackend).isLoaded, false, 'its backend was unloaded');
        await h.p.clock.advance(200);
        assert.equal(embedder.residency, 'loaded');
    });

    it('unloads an idle model after its keep-alive while memory is short, unless its work is forecast', async () => {
        const h = await harness(6 * GB, 'zeta', 10_000);
        const reasoner = h.model('reasoner');
        for (const m of h.p.models.list) h.residency.wantInitialLoad(m);
        h.residency.runLoads();
        await h.p.clock.advance(1_000);
        h.rates.explain = 5;
        h.residency.afterWork(reasoner);
        await h.p.clock.advance(10_001);
        assert.equal(reasoner.residency, 'loaded', 'explanations are expected: kept another period');
        delete h.rates.explain;
        await h.p.clock.advance(10_001);
        assert.equal(reasoner.residency, 'unloaded', 'idle past its keep-alive with memory short');
        assert.equal(h.model('coder').residency, 'loaded', 'the pinned model has no keep-alive');
    });

    it('pre-loads the preferred model of a kind expected soon (zeta only)', async () => {
        for (const policy of ['zeta', 'static'] as const) {
            const h = await harness(6 * GB, policy);
            const embedder = h.model('embedder');
            for (const m of h.p.models.list) h.residency.wantInitialLoad(m);
            h.residency.runLoads();
            await h.p.clock.advance(1_000);
            assert.equal(embedder.residency, 'unloaded');
            h.rates.embedQuery = 10;
            h.residency.afterWork(h.model('coder'));
            await h.p.clock.advance(1_000);
            assert.equal(embedder.residency, policy === 'zeta' ? 'loaded' : 'unloaded', policy);
            if (policy === 'zeta') assert.equal(h.model('reasoner').residency, 'unloaded', 'an idle model with no forecast work made room');
        }
    });

    it('reports a failed load, marks the model failed, and goes on with the next wanted load', async () => {
        const h = await harness(undefined);
        const error = new Error('bad file');
        (h.model('reasoner').backend as FakeBackend).failNext(1, error, ['load']);
        for (const m of h.p.models.list) h.residency.wantInitialLoad(m);
        h.residency.runLoads();
        await h.p.clock.advance(2_000);
        assert.deepEqual(h.failed, [['reasoner', error]]);
        assert.equal(h.model('reasoner').residency, 'failed');
        assert.equal(h.model('reasoner').error, 'bad file');
        assert.deepEqual(h.loaded, ['coder', 'embedder']);
    });

    it('never loads a model over the budget without work for it; with work waiting and nothing to evict, loads it with a warning', async () => {
        const h = await harness(1 * GB);
        const coder = h.model('coder');
        h.residency.wantInitialLoad(coder);
        h.residency.runLoads();
        assert.equal(coder.residency, 'unloaded', 'a 4 GB model is not loaded ahead of need into a 1 GB budget');
        assert.equal(coder.loadWanted, false);
        coder.queue.push(running(h.p, coder, 'completion'));
        coder.running.pop();
        coder.loadWanted = true;
        h.residency.runLoads();
        assert.equal(coder.residency, 'loading', 'a completion waits for it');
        assert.ok(h.warnings.some((w) => w.includes('coder') && w.includes('over the memory budget')), h.warnings.join('\n'));
    });
});
