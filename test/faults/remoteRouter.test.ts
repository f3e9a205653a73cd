/**
 * Faults of a remote engine seen through the real router: a remote coder (LlamaServerBackend on a
 * real llama-server behind the fault proxy, the preferred model) and a local coder (the in-process
 * llama.cpp backend on the same tiny generated model). For each fault a completion settles, served
 * by the local model; the remote one cools down and the snapshot says why; while it cools down the
 * engine is not asked; once the fault has cleared and the cooldown passed, work returns to it.
 * No duration is asserted: waits are bounded by the event they wait for, with a cap only a hang
 * reaches; "no request waits longer than its objective" is checked by the recorded cause.
 */
import { strict as assert } from 'node:assert';
import type { ModelBackend, ModelSpec } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import { createRouter, defaultRoutingSettings, type ZetaRouter } from '../../src/core/router';
import type { ModelSnapshot, RoutingSettings, TaskResult } from '../../src/core/tasks';
import { createBackendFactory } from '../../src/backends';
import { createLlamaProvider, type LlamaProvider } from '../../src/backends/llamaProvider';
import { LlamaServerBackend } from '../../src/backends/remote/llamaServer';
import type { RemoteBackendOptions } from '../../src/backends/remote/options';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';
import { STATUS_PATHS, startFaultProxy, type FaultProxy, type ProxyFault } from './support/faultProxy';
import { code, completionTask, describeOutcome, outcome, realSpec, settledWithin, waitFor, type Outcome } from './support/routerHarness';

/** HTTP limits so long that only the router's own rule can end a hung call (ms). */
const LONG_HTTP_MS = 600_000;
/** Cooldown after a failure: short, so a test sees work return to the engine (ms). */
const COOLDOWN_MS = 1_500;

/**
 * The scope of a fault on the engine's work: every path but its status endpoints, so its polls
 * still answer and the call (not a poll) meets the fault.
 */
const WORK = { except: STATUS_PATHS };

interface RemoteRouter {
    readonly router: ZetaRouter;
    readonly settings: RoutingSettings;
    readonly remote: () => LlamaServerBackend;
    run(doc: string): Promise<Outcome>;
    model(id: string): ModelSnapshot;
    dispose(): Promise<void>;
}

describe('faults: a remote engine through the router', function () {
    this.timeout(180_000);

    let models: SyntheticModels;
    let provider: LlamaProvider;
    let proxy: FaultProxy;
    let h: RemoteRouter | undefined;
    let docs = 0;

    before(async function () {
        this.timeout(300_000);
        models = await ensureModels('tiny');
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
        proxy = await startFaultProxy({ model: models.coder, slots: 2, contextSize: 2048 });
    });

    afterEach(async () => {
        await h?.dispose();
        h = undefined;
        await proxy?.set(undefined);
        await proxy?.restarting();
    });

    after(async () => {
        await proxy?.close();
        await provider?.dispose();
    });

    function remoteSpec(url: string, apiKey?: string): ModelSpec {
        return { id: 'remote', role: 'coder', path: url, remote: { api: 'llama-server', url, ...(apiKey ? { apiKey } : {}) }, contextSize: 2048, slots: 2, threads: 1, gpuLayers: 0, fimTemplate: 'auto' };
    }

    const localSpec = (): ModelSpec => realSpec('coder', models.coder, { id: 'local' });

    /** A router over the remote coder at `url` (preferred) and the local coder; `objectiveFactor`: the completions' objective. */
    async function start(http: Partial<RemoteBackendOptions>, url = proxy.url, objectiveFactor = 10): Promise<RemoteRouter> {
        const clock = new SystemClock();
        const turns = new EvalTurns();
        // The composition's factory: a spec with `remote` gets the engine's backend, the others llama.cpp.
        const factory = createBackendFactory({ runtime: provider, clock, turns, warmUp: 'never', remote: { pollIntervalMs: 200, ...http } });
        let remote: LlamaServerBackend | undefined;
        const d = defaultRoutingSettings();
        // The static policy (the preferred model whenever it is usable, else another capable one):
        // where work goes then follows from the faults alone, not from predictions between two
        // copies of one tiny model (zeta's priors favour the in-process one before anything is measured).
        const settings: RoutingSettings = {
            ...d,
            policy: 'static',
            cooldownMs: COOLDOWN_MS,
            taskClasses: { ...d.taskClasses, completion: { priority: 100, objectiveFactor } },
        };
        const specs = [remoteSpec(url), localSpec()];
        const router = createRouter({
            clock,
            turns,
            settings,
            models: specs,
            logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
            createBackend: (s): ModelBackend => {
                const b = factory(s);
                if (s.remote) {
                    assert.ok(b instanceof LlamaServerBackend, `${s.id}: the remote backend`);
                    remote = b;
                }
                return b;
            },
        });
        await waitFor(() => router.snapshot().models.every((m) => m.residency === 'loaded' || m.residency === 'failed'), 'both models loaded');
        return {
            router,
            settings,
            remote: () => remote!,
            run: (doc) => settledWithin(outcome(router.submit(completionTask(doc, code(6, doc.replace(/\W/g, '')), 8))), `completion on ${doc}`),
            model: (id) => router.snapshot().models.find((m) => m.id === id)!,
            async dispose() {
                await settledWithin(router.dispose(), 'router.dispose()');
            },
        };
    }

    const doc = (): string => `doc${++docs}.ts`;
    /** Generations the engine was asked for (its FIM and completion streams), over the proxy's life. */
    const generations = (): number => proxy.requests('/infill') + proxy.requests('/completion');

    function served(o: Outcome, by: string, what: string): TaskResult {
        assert.ok(o.ok, `${what}: ${describeOutcome(o)}`);
        assert.equal(o.value.modelId, by, `${what}: ${o.value.decision.reason}`);
        return o.value;
    }

    /** A completion the remote serves (a usable engine is the preferred model). */
    async function servedByRemote(x: RemoteRouter, what: string): Promise<TaskResult> {
        const asked = generations();
        const r = served(await x.run(doc()), 'remote', what);
        assert.ok(generations() > asked, `${what}: the engine generated it`);
        return r;
    }

    /** After `fault` is cleared: the cooldown passes, the engine answers its polls again, the next completion is the remote's. */
    async function recovers(x: RemoteRouter, what: string): Promise<void> {
        await proxy.set(undefined);
        await settledWithin(proxy.restarting(), 'the engine restarted');
        await waitFor(() => x.model('remote').coolingDownUntil === undefined, `${what}: the cooldown passed`);
        await waitFor(() => x.remote().remoteLoad!().reachable, `${what}: the engine answers its polls again`);
        await servedByRemote(x, `${what}: after recovery`);
        await waitFor(() => x.remote().stats().sequencesHeld === 0, `${what}: no sequence held`);
    }

    const cases: Array<{ name: string; fault: ProxyFault; http: Partial<RemoteBackendOptions>; objectiveFactor?: number; note: RegExp; error: RegExp }> = [
        {
            // Set just after a poll, one poll interval before the next: the call, not a poll, meets
            // the refusal (a refusal a poll meets first is the last case below: left out unasked).
            name: 'connection refused',
            fault: { kind: 'refuse' },
            http: { pollIntervalMs: 1_000 },
            note: /retry after remote failed: remote unreachable \(connection refused\): cooling down/,
            error: /^remote unreachable \(connection refused\): cooling down \(.*ECONNREFUSED/,
        },
        {
            // An objective so loose that the router's own rule (no first token by the objective)
            // comes long after Zeta's HTTP limit: the HTTP timeout ends the call (the router's rule
            // is the case further below).
            name: 'a timeout (the engine accepts and never answers)',
            fault: { kind: 'hang' },
            http: { headersTimeoutMs: 1_500, streamIdleTimeoutMs: 1_500 },
            objectiveFactor: 1_000,
            note: /retry after remote failed: remote did not answer in time \(timeout\)/,
            error: /^remote did not answer in time \(timeout\): cooling down \(.*no answer within/,
        },
        { name: 'HTTP 500', fault: { kind: 'status', status: 500 }, http: {}, note: /retry after remote failed: remote server error \(HTTP 500\)/, error: /^remote server error \(HTTP 500\): cooling down/ },
        { name: 'HTTP 503', fault: { kind: 'status', status: 503 }, http: {}, note: /retry after remote failed: remote server error \(HTTP 503\)/, error: /^remote server error \(HTTP 503\): cooling down/ },
        {
            name: 'the engine restarted mid-stream',
            fault: { kind: 'restartMidStream', afterEvents: 2 },
            http: {},
            note: /retry after remote failed: remote server error \(connection closed mid-answer\)/,
            error: /^remote server error \(connection closed mid-answer\): cooling down/,
        },
        {
            name: 'the connection dropped mid-stream',
            fault: { kind: 'dropMidStream', afterEvents: 2 },
            http: {},
            note: /retry after remote failed: remote server error \(connection closed mid-answer\)/,
            error: /^remote server error \(connection closed mid-answer\): cooling down/,
        },
        {
            name: 'malformed SSE',
            fault: { kind: 'malformedSse', afterEvents: 2 },
            http: {},
            note: /retry after remote failed: remote answered something Zeta cannot read \(protocol error\)/,
            error: /^remote answered something Zeta cannot read \(protocol error\): cooling down \(.*malformed event/,
        },
        {
            // HTTP limits at their defaults (30 s between events): the router's own rule gives up on
            // the trickle (or on the missing first token, when its limit comes before the first event).
            name: 'a slow trickle',
            fault: { kind: 'trickle', msPerEvent: 1_000 },
            http: {},
            note: /retry after remote (too slow \(a trickle|not answering \(no first token)/,
            error: /^stalled: remote stopped responding: its completion call on the remote engine (trickles|gave no first token)/,
        },
    ];

    for (const c of cases) {
        it(`${c.name}: the completion is served locally, the engine cools down (the load view says why) and is not asked until the cooldown passes, then serves again`, async () => {
            h = await start(c.http, proxy.url, c.objectiveFactor);
            await servedByRemote(h, 'healthy');
            if (c.fault.kind === 'refuse') {
                const at = h.remote().remoteLoad!().at;
                await waitFor(() => h!.remote().remoteLoad!().at !== at, 'a poll completed');
            }
            await proxy.set(c.fault, c.fault.kind === 'refuse' ? {} : WORK);
            const o = await h.run(doc());
            const r = served(o, 'local', c.name);
            assert.match(r.decision.reason, c.note, `${c.name}: the decision note: ${r.decision.reason}`);
            const snap = h.model('remote');
            assert.ok(snap.coolingDownUntil !== undefined, `${c.name}: cooling down`);
            assert.match(snap.error ?? '', c.error, `${c.name}: the load view's reason`);
            const asked = generations();
            served(await h.run(doc()), 'local', `${c.name}: while cooling down`);
            assert.equal(generations(), asked, `${c.name}: the engine was not asked while cooling down`);
            await recovers(h, c.name);
        });
    }

    it('a 401 (the key revoked): the completion is served locally, the load view says to set the API key, the engine is not asked until the settings give it one', async () => {
        h = await start({});
        await servedByRemote(h, 'healthy');
        await proxy.set({ kind: 'unauthorized' }, WORK);
        const r = served(await h.run(doc()), 'local', '401');
        assert.match(r.decision.reason, /retry after remote failed: unauthorized: set its API key/);
        assert.match(h.model('remote').error ?? '', /^unauthorized: set its API key \(.*HTTP 401.*Invalid API Key/);
        await proxy.set(undefined);
        const asked = generations();
        const again = served(await h.run(doc()), 'local', '401, fault cleared, settings unchanged');
        assert.match(again.decision.candidates.find((c) => c.modelId === 'remote')!.excluded ?? '', /unauthorized: set its API key/);
        assert.equal(generations(), asked, 'the engine was not asked');
        await h.router.reconfigure([remoteSpec(proxy.url, 'a-new-key'), localSpec()], h.settings);
        await waitFor(() => h!.model('remote').residency === 'loaded', 'the remote model reloaded with its key');
        await servedByRemote(h, 'with a key');
    });

    it('a 401 from llama-server itself (started with --api-key, the model configured without one): served locally, the load view says to set the key; with the key, the engine serves', async () => {
        const locked = await startFaultProxy({ model: models.coder, slots: 1, contextSize: 1024, apiKey: 'team-secret' });
        try {
            h = await start({}, locked.url);
            assert.match(h.model('remote').error ?? '', /API key/);
            served(await h.run(doc()), 'local', 'no key');
            await h.router.reconfigure([remoteSpec(locked.url, 'team-secret'), localSpec()], h.settings);
            await waitFor(() => h!.model('remote').residency === 'loaded', 'the remote model loaded with its key');
            const r = served(await h.run(doc()), 'remote', 'with the key');
            assert.ok(r.generatedTokens >= 1);
        } finally {
            await h?.dispose();
            h = undefined;
            await locked.close();
        }
    });

    it('no request waits longer than its objective on a dead server: with HTTP limits far away, a hung engine is given up by the router', async () => {
        h = await start({ headersTimeoutMs: LONG_HTTP_MS, streamIdleTimeoutMs: LONG_HTTP_MS });
        await servedByRemote(h, 'healthy');
        const cases: Array<[ProxyFault, RegExp, RegExp]> = [
            // [fault, the decision's note, the load view's error]
            [{ kind: 'hang' }, /retry after remote not answering \(no first token within \d+ ms\): cooling down/, /^stalled: remote stopped responding: its completion call on the remote engine gave no first token within \d+ ms of the task's submission \(its objective/],
            [{ kind: 'hang', afterEvents: 2 }, /retry after remote too slow \(a trickle: \d+ token\(s\) in \d+ ms\): cooling down/, /^stalled: remote stopped responding: its completion call on the remote engine trickles/],
        ];
        for (const [fault, note, error] of cases) {
            const what = JSON.stringify(fault);
            await proxy.set(fault, WORK);
            const r = served(await h.run(doc()), 'local', what);
            assert.match(r.decision.reason, note, `${what}: ${r.decision.reason}`);
            assert.ok(h.model('remote').coolingDownUntil !== undefined, what);
            assert.match(h.model('remote').error ?? '', error, `${what}: ${h.model('remote').error}`);
            await recovers(h, what);
        }
    });

    it('an engine its polls cannot reach is left out without being asked, and used again when it answers', async () => {
        h = await start({ pollIntervalMs: 100 });
        await servedByRemote(h, 'healthy');
        await proxy.set({ kind: 'status', status: 503 }, { paths: STATUS_PATHS });
        await waitFor(() => !h!.remote().remoteLoad!().reachable, 'the polls see the engine fail');
        const asked = generations();
        const r = served(await h.run(doc()), 'local', 'unreachable');
        assert.match(r.decision.candidates.find((c) => c.modelId === 'remote')!.excluded ?? '', /unreachable/);
        assert.equal(generations(), asked, 'the engine was not asked');
        await proxy.set(undefined);
        await waitFor(() => h!.remote().remoteLoad!().reachable, 'reachable again');
        await servedByRemote(h, 'reachable again');
    });
});
