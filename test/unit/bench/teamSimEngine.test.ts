import * as assert from 'node:assert/strict';
import type { ModelSpec } from '../../../src/core/backend';
import { VirtualClock } from '../../../src/core/clock';
import { MEASURED_SERVER_MODEL, SimEngine, SimLoadGenerator, SimRemoteBackend, type SimEngineOptions } from '../../../bench/sim/teamServer';
import type { LoadRequest } from '../../../bench/workload/teamSchedule';

const RTT = 20;
const POLL = 250;
const engineOptions: SimEngineOptions = { modelId: 'server', model: MEASURED_SERVER_MODEL, slots: 2, rttMs: RTT, pollIntervalMs: POLL, url: 'http://team.sim' };
const spec: ModelSpec = { id: 'server', role: 'coder', path: 'http://team.sim', remote: { api: 'llama-server', url: 'http://team.sim' }, contextSize: 2048, slots: 2, threads: 1, gpuLayers: 0, fimTemplate: 'auto' };
const backendOptions = { keepOnAbort: 'evaluated' as const, prefillChunkTokens: 64, embeddingSpace: 'sim-server' };

/** Four requests at 0: two take the slots, two wait in the engine's queue. */
const burst: LoadRequest[] = [0, 1, 2, 3].map((i) => ({ t: 0, burst: 0, promptTokens: 400 + i, nPredict: 64 }));

function words(n: number): string {
    return Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
}

/** Loads on the virtual clock (the load's sleep needs the clock to run). */
async function load(clock: VirtualClock, b: SimRemoteBackend): ReturnType<SimRemoteBackend['load']> {
    const p = b.load(spec, new AbortController().signal);
    await clock.runUntilIdle();
    return p;
}

describe('bench team: the simulated team server', () => {
    it('gives slots first come first served; the rest wait in its queue (deferred) until a slot is freed, or their caller aborts', async () => {
        const clock = new VirtualClock(0);
        const engine = new SimEngine(clock, engineOptions);
        const a = await engine.acquire();
        const b = await engine.acquire();
        assert.deepEqual([a.slot, b.slot], [0, 1]);
        assert.equal(engine.slotsBusy, 2);
        const order: string[] = [];
        const c = engine.acquire().then((lease) => {
            order.push('c');
            return lease;
        });
        const ac = new AbortController();
        const d = engine.acquire(ac.signal).then(
            () => order.push('d'),
            (e: unknown) => order.push(`d aborted: ${(e as Error).message}`),
        );
        const e = engine.acquire().then((lease) => {
            order.push('e');
            return lease;
        });
        assert.equal(engine.deferred, 3);
        ac.abort(new Error('closed'));
        await d;
        assert.equal(engine.deferred, 2);
        a.release();
        a.release(); // a second call frees nothing more
        // c gets a's slot, its second use.
        assert.equal((await c).slot, 0);
        assert.equal(engine.usesOf(0), 2);
        assert.deepEqual(order, ['d aborted: closed', 'c']);
        assert.equal(engine.slotsBusy, 2);
        assert.equal(engine.deferred, 1);
        b.release();
        assert.equal((await e).slot, 1);
        (await e).release();
        (await c).release();
        assert.deepEqual(order, ['d aborted: closed', 'c', 'e']);
        assert.equal(engine.slotsBusy, 0);
        assert.equal(engine.deferred, 0);
        // Free slots: 0 then 1 (freed in that order); a caller that prefers 1 gets it, another gets 0.
        const preferring = await engine.acquire(undefined, 1);
        const other = await engine.acquire(undefined, 1);
        assert.deepEqual([preferring.slot, other.slot], [1, 0]);
    });

    it('a burst of teammates fills both slots plus a queue, which the load report shows, no fresher than the poll interval', async () => {
        const clock = new VirtualClock(0);
        const engine = new SimEngine(clock, engineOptions);
        const before = engine.load();
        assert.equal(before.slotsBusy, 0);
        const gen = new SimLoadGenerator(clock, engine, burst, { slots: 2, queue: 2 });
        gen.start();
        await clock.advance(1);
        // The report taken at 0 is not yet POLL old: still the idle one.
        assert.equal(engine.load().slotsBusy, 0);
        await clock.advance(POLL);
        const busy = engine.load();
        assert.equal(busy.slots, 2);
        assert.equal(busy.slotsBusy, 2);
        assert.equal(busy.deferred, 2);
        assert.equal(busy.ownInFlight, 0);
        assert.equal(busy.reachable, true);
        assert.equal(busy.rttMs, RTT);
        assert.ok((busy.busyRemainingTokens ?? 0) > 0 && (busy.busyRemainingTokens ?? 0) <= 4 * 64);
        await clock.runUntilIdle();
        const counts = await gen.stop();
        assert.deepEqual(counts, { due: 4, sent: 4, skipped: 0, completed: 4, failed: 0, aborted: 0, errors: [] });
        assert.equal(engine.slotsBusy, 0);
        assert.equal(engine.maxDeferred, 2);
        // Four requests on a device that batches two slots at 1.07x cannot finish before their isolated work / 1.07.
        const iso = burst.reduce((s, r) => s + engine.prefillMs(r.promptTokens) + r.nPredict * engine.decodeMs(), 0);
        assert.ok(clock.now() >= iso / MEASURED_SERVER_MODEL.batchGain.decode[1] - 1, `${clock.now()} vs ${iso}`);
    });

    it('skips a teammate\'s request while slots + queue are outstanding, and stop() cancels the rest', async () => {
        const clock = new VirtualClock(0);
        const engine = new SimEngine(clock, engineOptions);
        const six: LoadRequest[] = [0, 1, 2, 3, 4, 5].map((i) => ({ t: i, burst: 0, promptTokens: 500, nPredict: 128 }));
        const gen = new SimLoadGenerator(clock, engine, six, { slots: 2, queue: 2 });
        gen.start();
        await clock.advance(50);
        const counts = await gen.stop();
        assert.equal(counts.due, 6);
        assert.equal(counts.sent, 4);
        assert.equal(counts.skipped, 2);
        // None of the four had finished its 500-token prompt: each was cancelled, none left waiting.
        assert.equal(counts.aborted, 4);
        assert.equal(counts.completed, 0);
        await clock.runUntilIdle();
        assert.equal(engine.slotsBusy, 0);
        assert.equal(engine.deferred, 0);
    });

    it('Zeta\'s call costs the round trip and waits for a slot the teammates hold; remoteLoad counts it as ours', async () => {
        const idleEnd = await (async () => {
            const clock = new VirtualClock(0);
            const engine = new SimEngine(clock, engineOptions);
            const b = new SimRemoteBackend(clock, engine, backendOptions);
            const info = await load(clock, b);
            assert.deepEqual(info.remote, { api: 'llama-server', url: 'http://team.sim' });
            const t0 = clock.now();
            const p = b.generate({ mode: 'fim', prefix: words(300), suffix: words(50), middle: '', maxTokens: 8, cacheKey: 'a.ts' }, new AbortController().signal);
            await clock.advance(RTT);
            assert.equal(b.remoteLoad().ownInFlight, 1);
            await clock.runUntilIdle();
            const r = await p;
            assert.equal(r.generatedTokens, 8);
            assert.equal(engine.ownInFlight, 0);
            return clock.now() - t0;
        })();
        // At least the round trip and the isolated prefill of ~350 tokens.
        assert.ok(idleEnd >= RTT + (350 * 1000) / MEASURED_SERVER_MODEL.promptTokensPerSec, `${idleEnd}`);

        const clock = new VirtualClock(0);
        const engine = new SimEngine(clock, engineOptions);
        const b = new SimRemoteBackend(clock, engine, backendOptions);
        await load(clock, b);
        const gen = new SimLoadGenerator(clock, engine, burst, { slots: 2, queue: 2 });
        gen.start();
        await clock.advance(1);
        let firstLoadDone: number | undefined;
        const t0 = clock.now();
        const p = b.generate({ mode: 'fim', prefix: words(300), suffix: words(50), middle: '', maxTokens: 8, cacheKey: 'a.ts' }, new AbortController().signal).then((r) => ({ r, at: clock.now() }));
        // Our call reaches the engine after half the round trip: 2 teammates running, 2 and ours queued.
        await clock.advance(RTT / 2);
        assert.equal(engine.slotsBusy, 2);
        assert.equal(engine.deferred, 3);
        // Step the virtual clock until the first teammate's request has ended and the queue moved.
        while (engine.deferred > 0 || firstLoadDone === undefined) {
            await clock.advance(10);
            if (firstLoadDone === undefined && engine.slotsBusy + engine.deferred < 5) firstLoadDone = clock.now();
            if (clock.now() > 120_000) throw new Error('hang');
        }
        await clock.runUntilIdle();
        const { r, at } = await p;
        assert.equal(r.generatedTokens, 8);
        // Behind two running and two queued teammates' requests: slower than on the idle engine, and
        // not before the first teammate's request ended.
        assert.ok(at - t0 > idleEnd, `${at - t0} vs idle ${idleEnd}`);
        assert.ok(at >= firstLoadDone);
        await gen.stop();
    });

    it('a document\'s cached prompt lasts while no other request used its slot: a teammate\'s request in between costs a full read', async () => {
        const clock = new VirtualClock(0);
        const engine = new SimEngine(clock, { ...engineOptions, slots: 1 });
        const b = new SimRemoteBackend(clock, engine, backendOptions);
        await load(clock, b);
        const call = async (suffixWords: number): Promise<number> => {
            const p = b.generate({ mode: 'fim', prefix: words(300), suffix: words(suffixWords), middle: '', maxTokens: 4, cacheKey: 'a.ts' }, new AbortController().signal);
            await clock.runUntilIdle();
            return (await p).reusedPromptTokens;
        };
        assert.equal(await call(50), 0);
        // The same document next on the same slot: its prefix is reused.
        assert.ok((await call(51)) >= 300);
        assert.ok(b.cachedTokens('a.ts') >= 300);
        // A teammate's request on the one slot overwrites it.
        const gen = new SimLoadGenerator(clock, engine, [{ t: 0, burst: 0, promptTokens: 100, nPredict: 4 }], { slots: 1, queue: 0 });
        gen.start();
        await clock.runUntilIdle();
        assert.equal((await gen.stop()).completed, 1);
        assert.equal(b.cachedTokens('a.ts'), 0);
        assert.equal(await call(52), 0);
        assert.ok((await call(53)) >= 300);
    });
});
