/**
 * The router across local and remote engines, on the deterministic fake backend and a virtual
 * clock: a model served by a remote engine (FakeRemoteBackend) shares that engine with other
 * clients, whose slots and queue the engine reports (`remoteLoad`). Completions spill to a local
 * model while the shared engine is saturated and stay on it while it is idle; each remote fault
 * sends the task to the other model and cools the engine down with its reason; an unreachable engine
 * is left out; a silent engine is given up on by the task's objective, long before the HTTP
 * timeouts; a remote model takes no local memory and is never evicted for it; embedding spaces stay
 * apart. Times are virtual milliseconds.
 */
import assert from 'node:assert/strict';
import type { ModelBackend, ModelSpec, RemoteEndpoint } from '../../../src/core/backend';
import { VirtualClock } from '../../../src/core/clock';
import { ModelRuntimeError, RemoteEngineError, type RemoteProblem } from '../../../src/core/errors';
import type { DecisionRecord, RouterLogger, Task } from '../../../src/core/tasks';
import { FakeBackend, FakeRemoteBackend, type FakeProfile } from '../../../src/backends/fakeBackend';
import { createRouter, type ZetaRouter } from '../../../src/core/router';
import { DEFAULT_TASK_CLASSES } from '../../../src/core/router/defaults';
import { REMOTE_LOAD_STALE_MS, REMOTE_MIN_SILENCE_MS } from '../../../src/core/router/tuning';
import { PROFILES, completion, makeSettings, spec, track, words, type Fixture, type FixtureOptions, type Logged } from './helpers';

const TEAM_URL = 'http://team-gpu.example:8080';
const team: RemoteEndpoint = { api: 'llama-server', url: TEAM_URL };

/** A GPU box: the remote coder is much faster than the local one when it has a free slot. */
const TEAM_PROFILE: Partial<FakeProfile> = { promptTokensPerSec: 8000, decodeTokensPerSec: 400, firstTokenOverheadMs: 5, loadMs: 20 };

interface RemoteFixture extends Fixture {
    remote(id: string): FakeRemoteBackend;
    local(id: string): FakeBackend;
}

/** The team coder (remote, listed first: the preferred coder) beside the local coder, unless `models` says otherwise. */
function makeRemoteFixture(opts: { models?: ModelSpec[]; settings?: FixtureOptions['settings']; profiles?: Record<string, Partial<FakeProfile>> } = {}): RemoteFixture {
    const clock = new VirtualClock(0);
    const backends = new Map<string, FakeBackend>();
    const created: Fixture['created'] = [];
    const log: Logged = { info: [], warn: [], error: [] };
    const logger: RouterLogger = { info: (m) => log.info.push(m), warn: (m) => log.warn.push(m), error: (m) => log.error.push(m) };
    // No hold before routing and no cold start: each completion is routed by its prediction alone.
    const settings = makeSettings({ levers: { holdSupersedable: false, coldStart: false }, cooldownMs: 30_000, ...(opts.settings ?? {}) });
    const models = opts.models ?? [spec('coder', { id: 'team-coder', path: TEAM_URL, remote: team, slots: 2 }), spec('coder')];
    const router: ZetaRouter = createRouter({
        clock,
        settings,
        models,
        logger,
        createBackend: (s): ModelBackend => {
            const profile = { ...PROFILES[s.role], ...(s.remote ? TEAM_PROFILE : {}), ...(opts.profiles?.[s.id] ?? {}) };
            const b = s.remote ? new FakeRemoteBackend(clock, { api: s.remote.api, url: s.remote.url }, profile) : new FakeBackend(clock, profile);
            if (b instanceof FakeRemoteBackend) b.engine.slots = s.slots;
            backends.set(s.id, b);
            created.push({ id: s.id, backend: b });
            return b;
        },
    });
    return {
        clock,
        router,
        backends,
        created,
        log,
        settings,
        remote: (id) => backends.get(id) as FakeRemoteBackend,
        local: (id) => backends.get(id)!,
    };
}

async function serve(f: Fixture, task: Task): Promise<{ modelId: string; decision: DecisionRecord; at: number }> {
    const t = track(f, f.router.submit(task));
    await f.clock.runUntilIdle(120_000);
    assert.ok(t.outcome, 'settled');
    assert.ok(t.outcome.ok, String(!t.outcome.ok && t.outcome.error));
    return { modelId: t.outcome.value.modelId, decision: t.outcome.value.decision, at: t.outcome.at };
}

function candidate(d: DecisionRecord, id: string): DecisionRecord['candidates'][number] {
    const c = d.candidates.find((x) => x.modelId === id);
    assert.ok(c, `a candidate ${id}`);
    return c;
}

function snap(f: Fixture, id: string): ReturnType<ZetaRouter['snapshot']>['models'][number] {
    const m = f.router.snapshot().models.find((x) => x.id === id);
    assert.ok(m, `a model ${id} in the snapshot`);
    return m;
}

describe('router across local and remote engines', () => {
    describe('prediction from the engine’s live load', () => {
        it('an idle remote engine: completions stay on the preferred remote coder', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            for (let i = 0; i < 5; i++) {
                const r = await serve(f, completion(`a${i}.ts`, words(40), 8));
                assert.equal(r.modelId, 'team-coder', r.decision.reason);
                assert.equal(candidate(r.decision, 'team-coder').waitMs, 0);
                assert.doesNotMatch(r.decision.reason, /spilled|busy with other clients/);
            }
            const s = snap(f, 'team-coder');
            assert.deepEqual(
                { api: s.remote?.api, url: s.remote?.url, othersBusy: s.remote?.othersBusy, deferred: s.remote?.deferred, reachable: s.remote?.reachable },
                { api: 'llama-server', url: TEAM_URL, othersBusy: 0, deferred: 0, reachable: true },
            );
            assert.equal(s.memoryBytes, 0, 'a remote model takes no local memory');
            await f.router.dispose();
        });

        it('a saturated remote engine (other clients on every slot, more queued): completions spill to the local coder, and the reason names the remote load', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            const engine = f.remote('team-coder').engine;
            Object.assign(engine, { othersBusy: 2, othersDeferred: 3, busyRemainingTokens: 400, queueMs: 4_000 });
            const r = await serve(f, completion('a.ts', words(40), 8));
            assert.equal(r.modelId, 'coder', r.decision.reason);
            const tc = candidate(r.decision, 'team-coder');
            const lc = candidate(r.decision, 'coder');
            assert.ok(tc.waitMs > 0, 'other clients’ work is a wait on the shared engine');
            assert.ok(tc.finishMs > lc.finishMs);
            assert.match(r.decision.reason, /^team-coder: 2 slot\(s\) busy with other clients, 3 queued: local coder sooner by \d+ ms/);
            const s = snap(f, 'team-coder');
            assert.equal(s.remote?.othersBusy, 2);
            assert.equal(s.remote?.deferred, 3);
            assert.equal(f.remote('team-coder').calls.filter((c) => c.op === 'generate').length, 0, 'nothing was sent to the saturated engine');

            // The teammates' burst ends: completions go back to the remote coder.
            Object.assign(engine, { othersBusy: 0, othersDeferred: 0, busyRemainingTokens: undefined, queueMs: 0 });
            const back = await serve(f, completion('b.ts', words(40), 8));
            assert.equal(back.modelId, 'team-coder', back.decision.reason);
            await f.router.dispose();
        });

        it('the remaining work of other clients comes from the engine’s remaining tokens when it tells them, else from the model’s average call', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            const engine = f.remote('team-coder').engine;
            Object.assign(engine, { othersBusy: 2, othersDeferred: 0 });
            const d = (): DecisionRecord => f.router.decide(completion('a.ts', words(40), 8));
            engine.busyRemainingTokens = 100;
            const few = candidate(d(), 'team-coder').waitMs;
            engine.busyRemainingTokens = 1_000;
            const many = candidate(d(), 'team-coder').waitMs;
            assert.ok(few > 0 && many > few, `${few} then ${many}`);
            assert.ok(Math.abs(many / few - 10) < 1e-6, 'proportional to the tokens left on the busy slots');
            engine.busyRemainingTokens = undefined;
            const byCalls = candidate(d(), 'team-coder').waitMs;
            assert.ok(byCalls > 0, 'half an average call per busy slot');
            // A slot free (one of two busy): no wait, whatever is left on the busy one.
            Object.assign(engine, { othersBusy: 1, busyRemainingTokens: 5_000 });
            assert.equal(candidate(d(), 'team-coder').waitMs, 0);
            await f.router.dispose();
        });

        it('a stale load report counts for less, and not at all once REMOTE_LOAD_STALE_MS old', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            const engine = f.remote('team-coder').engine;
            Object.assign(engine, { othersBusy: 2, othersDeferred: 3, busyRemainingTokens: 400 });
            const wait = (): number => candidate(f.router.decide(completion('a.ts', words(40), 8)), 'team-coder').waitMs;
            engine.polledAt = f.clock.now();
            const fresh = wait();
            engine.polledAt = f.clock.now() - (REMOTE_LOAD_STALE_MS - 1_000);
            const old = wait();
            engine.polledAt = f.clock.now() - REMOTE_LOAD_STALE_MS;
            const stale = wait();
            assert.ok(fresh > old && old > 0, `${fresh} > ${old} > 0`);
            assert.equal(stale, 0);
            const r = await serve(f, completion('a.ts', words(40), 8));
            assert.equal(r.modelId, 'team-coder', 'a stale report does not move work away');
            await f.router.dispose();
        });

        it('network time is part of the first token until the model’s prefill is measured (then the measured overhead holds it)', async () => {
            // A slow local coder: every completion here goes to the remote one.
            const f = makeRemoteFixture({ profiles: { coder: { promptTokensPerSec: 50, decodeTokensPerSec: 5 } } });
            await f.clock.advance(5_000);
            const engine = f.remote('team-coder').engine;
            const first = (): number => candidate(f.router.decide(completion('a.ts', words(40), 8)), 'team-coder').firstTokenMs;
            const without = first();
            engine.rttMs = 100;
            assert.ok(Math.abs(first() - without - 100) < 1e-6, 'unmeasured: the RTT is added');
            // Calls of varied prompt sizes measure the prefill, the RTT (their round trip) included.
            for (let i = 0; i < 6; i++) assert.equal((await serve(f, completion(`m${i}.ts`, words(40 + 60 * i), 8))).modelId, 'team-coder');
            const measuredFirst = first();
            engine.rttMs = 3_000;
            assert.equal(first(), measuredFirst, 'measured: a report of a larger RTT is not added on top');
            await f.router.dispose();
        });
    });

    describe('faults', () => {
        const cases: Array<{ problem: RemoteProblem; afterTokens?: number; status?: number; reason: RegExp }> = [
            { problem: 'refused', reason: /^team-coder unreachable \(connection refused\): cooling down$/ },
            { problem: 'timeout', reason: /^team-coder did not answer in time \(timeout\): cooling down$/ },
            { problem: 'server', status: 503, reason: /^team-coder server error \(HTTP 503\): cooling down$/ },
            { problem: 'server', afterTokens: 3, reason: /^team-coder server error \(connection closed mid-answer\): cooling down$/ },
            { problem: 'protocol', afterTokens: 1, reason: /^team-coder answered something Zeta cannot read \(protocol error\): cooling down$/ },
        ];
        for (const c of cases) {
            it(`${c.problem}${c.afterTokens ? ` after ${c.afterTokens} token(s)` : ''}: the task is served by the local coder, the engine cools down and the snapshot says why`, async () => {
                const f = makeRemoteFixture();
                await f.clock.advance(5_000);
                f.remote('team-coder').failRemoteNext({ problem: c.problem, afterTokens: c.afterTokens, status: c.status });
                const r = await serve(f, completion('a.ts', words(40), 8));
                assert.equal(r.modelId, 'coder');
                assert.match(r.decision.reason, /retry after team-coder failed: team-coder .*: cooling down/);
                const s = snap(f, 'team-coder');
                assert.match(s.unavailable ?? '', c.reason);
                assert.ok(s.coolingDownUntil !== undefined && s.coolingDownUntil > f.clock.now());
                assert.equal(s.failed, 1);
                assert.ok(s.error?.includes(TEAM_URL), s.error);
                assert.ok(f.log.warn.some((l) => l.startsWith('model team-coder failed completion task')), f.log.warn.join('\n'));

                // While it cools down, decisions leave it out with that reason.
                const during = await serve(f, completion('b.ts', words(40), 8));
                assert.equal(during.modelId, 'coder');
                assert.match(candidate(during.decision, 'team-coder').excluded ?? '', /cooling down|unreachable/);
                // After the cooldown (and, for a refused connection, once the engine answers its polls again) it serves again.
                const engine = f.remote('team-coder').engine;
                engine.reachable = true;
                engine.error = undefined;
                await f.clock.advance(30_000);
                const after = await serve(f, completion('c.ts', words(40), 8));
                assert.equal(after.modelId, 'team-coder', after.decision.reason);
                await f.router.dispose();
            });
        }

        it('a model that cannot do a kind of work (the engine serves no embeddings) is left out for that kind only: no cooldown, its completions go on', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            const b = f.remote('team-coder');
            let embedCalls = 0;
            b.embed = async () => {
                embedCalls++;
                throw new ModelRuntimeError('team-coder', 'unsupported', 'the engine does not serve embeddings (start llama-server with --embeddings)');
            };
            const q = track(f, f.router.submit({ kind: 'embedQuery', texts: ['find me'], space: 'space-team-coder' }));
            await f.clock.runUntilIdle(120_000);
            assert.ok(q.outcome && !q.outcome.ok, 'no other model of that space: the query fails');
            assert.match(String(q.outcome.error), /does not serve embeddings/);
            const s = snap(f, 'team-coder');
            assert.equal(s.coolingDownUntil, undefined, 'not cooled down');
            assert.equal((await serve(f, completion('a.ts', words(40), 8))).modelId, 'team-coder');
            // The next query is refused without asking the engine again.
            const again = track(f, f.router.submit({ kind: 'embedQuery', texts: ['find me'], space: 'space-team-coder' }));
            await f.clock.runUntilIdle(120_000);
            assert.ok(again.outcome && !again.outcome.ok);
            assert.match(String(again.outcome.error), /cannot: .*does not serve embeddings/);
            assert.equal(embedCalls, 1);
            await f.router.dispose();
        });

        it('unauthorized: left out until the model is reconfigured with a new key, not for a cooldown', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            f.remote('team-coder').failRemoteNext({ problem: 'unauthorized', status: 401 });
            const r = await serve(f, completion('a.ts', words(40), 8));
            assert.equal(r.modelId, 'coder');
            assert.match(r.decision.reason, /retry after team-coder failed: unauthorized: set its API key/);
            assert.equal(snap(f, 'team-coder').unavailable, 'unauthorized: set its API key');
            await f.clock.advance(10 * 60_000);
            const later = await serve(f, completion('b.ts', words(40), 8));
            assert.equal(later.modelId, 'coder');
            assert.equal(candidate(later.decision, 'team-coder').excluded, 'unauthorized: set its API key');
            assert.equal(snap(f, 'team-coder').unavailable, 'unauthorized: set its API key');

            // A new key: a fresh backend, used again.
            const before = f.created.filter((x) => x.id === 'team-coder').length;
            await f.router.reconfigure([spec('coder', { id: 'team-coder', path: TEAM_URL, remote: { ...team, apiKey: 'new-key' }, slots: 2 }), spec('coder')], f.settings);
            assert.equal(f.created.filter((x) => x.id === 'team-coder').length, before + 1, 'a new key gives the model a fresh backend');
            await f.clock.advance(1_000);
            assert.equal(snap(f, 'team-coder').unavailable, undefined);
            const fixed = await serve(f, completion('c.ts', words(40), 8));
            assert.equal(fixed.modelId, 'team-coder', fixed.decision.reason);
            await f.router.dispose();
        });

        it('an engine not connected yet is not taken for unreachable (a backend reports reachable false before its first poll)', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            assert.equal((await serve(f, completion('a.ts', words(40), 8))).modelId, 'team-coder');
            // A fresh backend (a new key) reports unreachable until it has connected: still a candidate meanwhile.
            await f.router.reconfigure([spec('coder', { id: 'team-coder', path: TEAM_URL, remote: { ...team, apiKey: 'k2' }, slots: 2 }), spec('coder')], f.settings);
            Object.assign(f.remote('team-coder').engine, { reachable: false, error: 'not loaded' });
            assert.notEqual(snap(f, 'team-coder').residency, 'loaded');
            const d = f.router.decide(completion('b.ts', words(40), 8));
            assert.equal(candidate(d, 'team-coder').excluded, undefined, d.reason);
            // Once connected, a failing poll does leave it out.
            await f.clock.advance(1_000);
            assert.equal(snap(f, 'team-coder').residency, 'loaded');
            assert.equal(candidate(f.router.decide(completion('b.ts', words(40), 8)), 'team-coder').excluded, 'team-coder unreachable (not loaded)');
            await f.router.dispose();
        });

        it('an engine down when Zeta starts: the connect fails, the model stays unloaded and cools down (not "failed"), and connects again once back', async () => {
            const f = makeRemoteFixture();
            f.remote('team-coder').failNext(1, new RemoteEngineError(TEAM_URL, 'refused', 'connection refused'), ['load']);
            await f.clock.advance(5_000);
            const s = snap(f, 'team-coder');
            assert.equal(s.residency, 'unloaded');
            assert.equal(s.unavailable, 'team-coder unreachable (connection refused): cooling down');
            const r = await serve(f, completion('a.ts', words(40), 8));
            assert.equal(r.modelId, 'coder');
            await f.clock.advance(30_000);
            const back = await serve(f, completion('b.ts', words(40), 8));
            assert.equal(back.modelId, 'team-coder', back.decision.reason);
            assert.equal(snap(f, 'team-coder').residency, 'loaded');
            await f.router.dispose();
        });

        it('with only the remote engine, a task it cannot serve settles with the engine’s error (no reconnect loop)', async () => {
            const f = makeRemoteFixture({ models: [spec('coder', { id: 'team-coder', path: TEAM_URL, remote: team, slots: 2 })] });
            await f.clock.advance(5_000);
            f.remote('team-coder').failRemoteNext({ problem: 'refused' }, 3);
            const a = track(f, f.router.submit(completion('a.ts', words(40), 8)));
            const b = track(f, f.router.submit(completion('b.ts', words(40), 8)));
            await f.clock.runUntilIdle(120_000);
            for (const t of [a, b]) {
                assert.ok(t.outcome && !t.outcome.ok, 'settled with an error');
                assert.ok(t.outcome.error instanceof RemoteEngineError, String(t.outcome.error));
                assert.equal(t.outcome.error.problem, 'refused');
            }
            assert.ok(f.remote('team-coder').calls.filter((c) => c.op === 'generate').length <= 3, 'a bounded number of attempts');
            await f.router.dispose();
        });

        it('an unreachable engine (its polls fail) is left out with that reason', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            Object.assign(f.remote('team-coder').engine, { reachable: false, error: 'connection refused' });
            const r = await serve(f, completion('a.ts', words(40), 8));
            assert.equal(r.modelId, 'coder');
            assert.equal(candidate(r.decision, 'team-coder').excluded, 'team-coder unreachable (connection refused)');
            assert.match(r.decision.reason, /team-coder unreachable \(connection refused\)/);
            assert.equal(f.remote('team-coder').calls.filter((c) => c.op === 'generate').length, 0);
            const s = snap(f, 'team-coder');
            assert.equal(s.remote?.reachable, false);
            assert.equal(s.remote?.error, 'connection refused');
            await f.router.dispose();
        });

        it('a silent engine (accepts, never answers): the call is given up on by the task’s objective, long before the HTTP timeout, and the task is served locally', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            // Its speeds measured (a prior allows STALL_MIN_MS: a healthy engine slower than the priors is not dead).
            for (let i = 0; i < 3; i++) assert.equal((await serve(f, completion(`m${i}.ts`, words(40 + 60 * i), 8))).modelId, 'team-coder');
            f.remote('team-coder').engine.silent = true;
            const submittedAt = f.clock.now();
            const r = await serve(f, completion('a.ts', words(40), 8));
            assert.equal(r.modelId, 'coder');
            const call = f.remote('team-coder').calls.filter((c) => c.op === 'generate').at(-1);
            assert.ok(call && call.outcome === 'aborted' && call.endAt !== undefined, 'the remote call was given up on (aborted)');
            // The objective of the first decision: its factor times the best idle prediction (each
            // candidate's finish less its wait), never less than the chosen model's own.
            const first = f.router.snapshot().recentDecisions.find((d) => d.taskId === r.decision.taskId && d.chosen === 'team-coder');
            assert.ok(first, 'the first decision chose the remote coder');
            const idle = first.candidates.filter((c) => c.excluded === undefined).map((c) => c.finishMs - c.waitMs);
            const chosenIdle = candidate(first, 'team-coder').finishMs - candidate(first, 'team-coder').waitMs;
            const objectiveMs = Math.max(DEFAULT_TASK_CLASSES.completion.objectiveFactor * Math.min(...idle), chosenIdle);
            const gaveUpAfter = call.endAt - submittedAt;
            assert.ok(gaveUpAfter <= Math.max(objectiveMs, REMOTE_MIN_SILENCE_MS), `gave up ${gaveUpAfter} ms after submission; objective ${objectiveMs} ms`);
            assert.ok(gaveUpAfter < f.remote('team-coder').engine.headersTimeoutMs);
            assert.match(r.decision.reason, /retry after team-coder not answering \(no first token within \d+ ms\): cooling down/);
            const s = snap(f, 'team-coder');
            assert.match(s.unavailable ?? '', /^team-coder not answering \(no first token within \d+ ms\): cooling down$/);
            assert.ok(s.coolingDownUntil !== undefined);
            await f.router.dispose();
        });

        it('a slow trickle (far slower than its measured speed) is given up on past the objective', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            for (let i = 0; i < 3; i++) assert.equal((await serve(f, completion(`m${i}.ts`, words(40 + 60 * i), 32))).modelId, 'team-coder');
            // The engine now streams one token a second: its measured speed predicts hundreds.
            f.remote('team-coder').engine.trickleMs = 1_000;
            const r = await serve(f, completion('a.ts', words(40), 32));
            assert.equal(r.modelId, 'coder');
            assert.match(r.decision.reason, /retry after team-coder too slow \(a trickle: \d+ token\(s\) in \d+ ms\): cooling down/);
            const call = f.remote('team-coder').calls.filter((c) => c.op === 'generate').at(-1);
            assert.equal(call?.outcome, 'aborted');
            await f.router.dispose();
        });

        it('an engine slower than the priors is not taken for a dead one before its speed is measured', async () => {
            // Ten times slower than the prior for its size predicts, and the local coder busy elsewhere in time.
            const f = makeRemoteFixture({ models: [spec('coder', { id: 'team-coder', path: TEAM_URL, remote: team, slots: 2 })], profiles: { 'team-coder': { promptTokensPerSec: 200, decodeTokensPerSec: 20 } } });
            await f.clock.advance(5_000);
            const r = await serve(f, completion('a.ts', words(300), 16));
            assert.equal(r.modelId, 'team-coder', r.decision.reason);
            assert.equal(snap(f, 'team-coder').failed, 0);
            await f.router.dispose();
        });

        it('a call waiting in a full engine’s own queue is not a stall: with no objective (static, as editors) it waits; once the engine’s report goes stale, the local rule applies again', async () => {
            const noObjective = { ...DEFAULT_TASK_CLASSES, completion: { ...DEFAULT_TASK_CLASSES.completion, objectiveFactor: Number.POSITIVE_INFINITY } };
            const f = makeRemoteFixture({ settings: { policy: 'static', taskClasses: noObjective } });
            await f.clock.advance(5_000);
            for (let i = 0; i < 3; i++) assert.equal((await serve(f, completion(`m${i}.ts`, words(40), 8))).modelId, 'team-coder');
            // Teammates fill both slots and queue more: our call waits 20 s in the engine, far past
            // the local rule's window (STALL_FACTOR gaps, at least STALL_MIN_MS).
            const engine = f.remote('team-coder').engine;
            Object.assign(engine, { othersBusy: 2, othersDeferred: 2, queueMs: 20_000 });
            const waited = await serve(f, completion('a.ts', words(40), 8));
            assert.equal(waited.modelId, 'team-coder', waited.decision.reason);
            assert.equal(snap(f, 'team-coder').failed, 0);
            assert.equal(snap(f, 'team-coder').coolingDownUntil, undefined);

            // The same wait with a report that stopped coming (its last poll long ago): no excuse.
            engine.polledAt = f.clock.now() - REMOTE_LOAD_STALE_MS;
            const r = await serve(f, completion('b.ts', words(40), 8));
            assert.equal(r.modelId, 'coder', r.decision.reason);
            assert.match(r.decision.reason, /retry after team-coder stalled/);
            await f.router.dispose();
        });

        it('a healthy remote call is left alone (the remote rule gives up on nothing that answers)', async () => {
            const f = makeRemoteFixture();
            await f.clock.advance(5_000);
            f.remote('team-coder').engine.rttMs = 40;
            for (let i = 0; i < 5; i++) assert.equal((await serve(f, completion(`h${i}.ts`, words(40), 16))).modelId, 'team-coder');
            assert.equal(snap(f, 'team-coder').failed, 0);
            await f.router.dispose();
        });
    });

    describe('pauses', () => {
        /** Most generations paused at once while a local completion runs beside an explanation on `reasoner`. */
        async function mostPaused(reasoner: ModelSpec): Promise<number> {
            const f = makeRemoteFixture({ models: [spec('coder'), reasoner] });
            await f.clock.advance(5_000);
            const ex = track(f, f.router.submit({ kind: 'explain', messages: [{ role: 'user', content: words(20) }], maxTokens: 200 }));
            await f.clock.advance(200);
            const c = track(f, f.router.submit(completion('a.ts', words(300), 8)));
            let most = 0;
            while (c.outcome === undefined) {
                most = Math.max(most, ...f.router.snapshot().models.map((m) => m.paused));
                await f.clock.advance(1);
            }
            assert.ok(c.outcome.ok);
            assert.equal(c.outcome.value.modelId, 'coder');
            await f.clock.runUntilIdle(120_000);
            assert.ok(ex.outcome?.ok);
            assert.equal(ex.outcome.value.modelId, reasoner.id);
            await f.router.dispose();
            return most;
        }

        it('a local completion pauses a local explanation, but not one streaming from a remote engine (they share no device)', async () => {
            assert.ok((await mostPaused(spec('reasoner'))) >= 1, 'the local explanation is paused (the rule this exception departs from)');
            assert.equal(await mostPaused(spec('reasoner', { id: 'team-reasoner', path: TEAM_URL, remote: team })), 0);
        });
    });

    describe('residency and embedding spaces', () => {
        it('a remote model takes no local memory: never evicted to make room, never unloaded by keep-alive', async () => {
            const GB = 1e9;
            const f = makeRemoteFixture({
                models: [spec('coder'), spec('reasoner', { id: 'team-reasoner', path: TEAM_URL, remote: team }), spec('embedder')],
                settings: { memoryBudgetBytes: 5 * GB, keepAliveMs: 1_000 },
                profiles: { coder: { memory: { ramBytes: 4 * GB, vramBytes: 0 } }, embedder: { memory: { ramBytes: 2 * GB, vramBytes: 0 } } },
            });
            await f.clock.advance(5_000);
            // The remote reasoner loaded (it fits in any budget); the embedder does not fit beside the coder.
            assert.equal(snap(f, 'team-reasoner').residency, 'loaded');
            assert.equal(snap(f, 'team-reasoner').memoryBytes, 0);
            const ex = await serve(f, { kind: 'explain', messages: [{ role: 'user', content: words(20) }], maxTokens: 8 });
            assert.equal(ex.modelId, 'team-reasoner');
            await f.clock.advance(10_000);
            // Indexing needs the embedder: room is made, but the idle remote model (least recently used) frees nothing.
            const em = track(f, f.router.submit({ kind: 'embed', texts: ['a', 'b'] }));
            await f.clock.runUntilIdle(120_000);
            assert.ok(em.outcome?.ok);
            assert.equal(snap(f, 'team-reasoner').residency, 'loaded');
            assert.ok(f.remote('team-reasoner').isLoaded);
            assert.ok(!f.log.info.some((l) => l.startsWith('model team-reasoner unloaded')), f.log.info.join('\n'));
            await f.clock.advance(60_000);
            assert.equal(snap(f, 'team-reasoner').residency, 'loaded', 'no keep-alive unload while memory is short');
            await f.router.dispose();
        });

        it('embedding spaces stay separate: a query goes only to a model of its space, local or remote', async () => {
            const f = makeRemoteFixture({
                models: [spec('embedder'), spec('embedder', { id: 'team-embedder', path: TEAM_URL, remote: team })],
                profiles: { embedder: { embeddingSpace: 'space-local' }, 'team-embedder': { embeddingSpace: 'space-team', embedMsPerText: 1 } },
            });
            await f.clock.advance(5_000);
            const q = async (space: string): Promise<{ modelId: string; decision: DecisionRecord; space?: string }> => {
                const t = track(f, f.router.submit({ kind: 'embedQuery', texts: ['find me'], space }));
                await f.clock.runUntilIdle(120_000);
                assert.ok(t.outcome?.ok, String(t.outcome && !t.outcome.ok && t.outcome.error));
                return { modelId: t.outcome.value.modelId, decision: t.outcome.value.decision, space: t.outcome.value.space };
            };
            const remote = await q('space-team');
            assert.equal(remote.modelId, 'team-embedder');
            assert.equal(remote.space, 'space-team');
            assert.equal(candidate(remote.decision, 'embedder').excluded, 'other embedding space');
            // The local embedder busy and the remote one idle and faster: the local space still goes local.
            const busy = track(f, f.router.submit({ kind: 'embed', texts: Array.from({ length: 50 }, (_, i) => `chunk ${i}`), space: 'space-local' }));
            await f.clock.advance(20);
            const local = await q('space-local');
            assert.equal(local.modelId, 'embedder');
            assert.equal(local.space, 'space-local');
            assert.equal(candidate(local.decision, 'team-embedder').excluded, 'other embedding space');
            await busy.promise;
            // The remote embedder unreachable: a query of its space is not answered from another space.
            Object.assign(f.remote('team-embedder').engine, { reachable: false, error: 'connection refused' });
            f.remote('team-embedder').failRemoteNext({ problem: 'refused' });
            const t = track(f, f.router.submit({ kind: 'embedQuery', texts: ['find me'], space: 'space-team' }));
            await f.clock.runUntilIdle(120_000);
            assert.ok(t.outcome && !t.outcome.ok, 'no model of that space could answer');
            assert.ok(t.outcome.error instanceof RemoteEngineError, String(t.outcome.error));
            await f.router.dispose();
        });
    });
});
