/**
 * "Why did this wait": the router's snapshot explains every waiting task with one vocabulary,
 * joining its own hold and queues, the model's sequence pool and the shared evaluation thread.
 * The first cases use the fake backends; the last ones the benchmark's simulated backends on one
 * serial evaluation thread (the CPU profile), whose calls run to their end once begun, as llama.cpp's do.
 */
import assert from 'node:assert/strict';
import { ROLES, type ModelSpec } from '../../../src/core/backend';
import { VirtualClock } from '../../../src/core/clock';
import { EvalTurns } from '../../../src/core/evalTurns';
import { createRouter } from '../../../src/core/router';
import type { WaitExplanation } from '../../../src/core/scheduling';
import type { RouterSnapshot, Task } from '../../../src/core/tasks';
import { SimDevice } from '../../../bench/sim/device';
import { SimBackend } from '../../../bench/sim/simBackend';
import { loadProfile, shippedProfile } from '../../../bench/sim/speedProfile';
import { chat, completion, makeFixture, makeSettings, submit, track, words } from './helpers';

const waitOf = (s: RouterSnapshot, taskId: number): WaitExplanation | undefined => s.waits.find((w) => w.taskId === taskId);
const idOf = (s: RouterSnapshot, kind: Task['kind']): number => s.recentDecisions.find((d) => d.kind === kind)!.taskId;

describe('router: why each task waits (snapshot.waits)', () => {
    it('names a task queued behind a busy model, and one waiting for its model to load', async () => {
        const f = makeFixture({ settings: { levers: { spill: false, pauseOthers: false } } });
        const early = submit(f, chat('explain', 10, 4));
        await f.clock.advance(1);
        const loadingWait = f.router.snapshot().waits.find((w) => w.modelId === 'reasoner');
        assert.equal(loadingWait?.stage, 'loading');
        assert.match(loadingWait!.reason, /waiting for reasoner to load/);
        await f.clock.advance(5_000);
        assert.ok(early.outcome?.ok);
        submit(f, chat('explain', 400, 50));
        submit(f, chat('explain', 10, 5));
        await f.clock.advance(5);
        const s = f.router.snapshot();
        const queued = s.waits.filter((w) => w.stage === 'queued');
        assert.equal(queued.length, 1, JSON.stringify(s.waits));
        assert.equal(queued[0].modelId, 'reasoner');
        assert.match(queued[0].reason, /queued on reasoner: 1 of 1 slot\(s\) busy, 0 ahead of it/);
        assert.ok(!s.waits.some((w) => w.stage === 'paused'), 'the running explanation does not wait');
        await f.clock.runUntilIdle(60_000);
        assert.deepEqual(f.router.snapshot().waits, [], 'nothing waits once everything settled');
        await f.router.dispose();
    });

    it('names the generation a completion pauses, and the completion it waits for', async () => {
        const f = makeFixture({ settings: { levers: { spill: false } } });
        await f.clock.advance(5_000);
        const explain = submit(f, chat('explain', 20, 200));
        await f.clock.advance(200);
        submit(f, completion('a.ts', words(300)));
        await f.clock.advance(30);
        const s = f.router.snapshot();
        const paused = waitOf(s, idOf(s, 'explain'));
        assert.equal(paused?.stage, 'paused', JSON.stringify(s.waits));
        assert.match(paused!.reason, new RegExp(`paused while completion #${idOf(s, 'completion')} on coder reads its prompt`));
        await f.clock.runUntilIdle(60_000);
        assert.ok(explain.outcome?.ok);
        await f.router.dispose();
    });

    it('names a completion held before routing because the next keystroke will likely replace it', async () => {
        // A first token (a slow prefill: 10 ms a token) slower than this user's keystrokes (10 ms
        // apart), on a document the coder holds and has measured: the next keystroke is nearly sure
        // to replace it.
        const f = makeFixture({ profiles: { coder: { promptTokensPerSec: 100 } } });
        await f.clock.advance(5_000);
        const cold = submit(f, completion('a.ts', words(40), 4));
        await f.clock.runUntilIdle(10_000);
        assert.ok(cold.outcome?.ok);
        for (let i = 0; i < 12; i++) {
            f.router.activity({ type: 'keystroke', doc: 'a.ts' });
            submit(f, completion('a.ts', `${words(40)} x${i}`, 4));
            await f.clock.advance(i < 11 ? 10 : 1);
        }
        const held = f.router.snapshot().waits.filter((w) => w.stage === 'held');
        assert.equal(held.length, 1, JSON.stringify(f.router.snapshot().waits));
        assert.match(held[0].reason, /before routing: this user's next keystroke is likely to replace it/);
        await f.clock.runUntilIdle(60_000);
        await f.router.dispose();
    });

    describe('on one evaluation thread (simulated CPU models taking turns)', () => {
        async function cpuRouter(): Promise<{ clock: VirtualClock; router: ReturnType<typeof createRouter> }> {
            const profile = loadProfile(shippedProfile('local-generated'));
            const clock = new VirtualClock(0);
            const device = new SimDevice(clock, profile.device, profile.models);
            const turns = new EvalTurns();
            const models: ModelSpec[] = ROLES.map((role) => ({ id: role, role, path: `/sim/${role}.gguf`, contextSize: profile.models[role].contextSize, slots: profile.models[role].slots, threads: 1, gpuLayers: 0, fimTemplate: profile.models[role].fim ? 'auto' : 'none' }));
            const router = createRouter({
                clock,
                settings: makeSettings({ levers: { spill: false, coldStart: false } }),
                models,
                turns,
                createBackend: (s) => new SimBackend(clock, device, profile.models[s.role], { keepOnAbort: 'evaluated', prefillChunkTokens: profile.prefillChunkTokens, embeddingSpace: `space-${s.id}`, turns }),
            });
            await clock.advance(10_000);
            return { clock, router };
        }

        it('names the native call a task waits for on the shared evaluation thread', async () => {
            const { clock, router } = await cpuRouter();
            const explain = track({ clock } as never, router.submit(chat('explain', 2_000, 20)));
            await clock.advance(50);
            const c = track({ clock } as never, router.submit(completion('a.ts', words(20), 4)));
            await clock.advance(1);
            const s = router.snapshot();
            const w = waitOf(s, idOf(s, 'completion'));
            assert.equal(w?.stage, 'turn', JSON.stringify(s.waits));
            assert.match(w!.reason, new RegExp(`waiting for the shared evaluation thread: explain #${idOf(s, 'explain')} on reasoner is running`));
            await clock.runUntilIdle(120_000);
            assert.ok(c.outcome?.ok && explain.outcome?.ok);
            await router.dispose();
        });

        it('names a completion waiting for its document’s sequence, still finishing a superseded call', async () => {
            const { clock, router } = await cpuRouter();
            const first = track({ clock } as never, router.submit(completion('a.ts', words(1_500), 4)));
            await clock.advance(30);
            // The next keystroke supersedes it mid-chunk: the chunk in flight runs to its end on the
            // document's sequence, and the new completion waits for that sequence.
            const second = track({ clock } as never, router.submit(completion('a.ts', `${words(1_500)} more`, 4)));
            await clock.advance(1);
            const s = router.snapshot();
            const w = waitOf(s, idOf(s, 'completion'));
            assert.equal(w?.stage, 'sequence', JSON.stringify(s.waits));
            assert.match(w!.reason, /waiting for a sequence of coder/);
            await clock.runUntilIdle(120_000);
            assert.ok(first.outcome && !first.outcome.ok, 'superseded');
            assert.ok(second.outcome?.ok);
            await router.dispose();
        });
    });
});
