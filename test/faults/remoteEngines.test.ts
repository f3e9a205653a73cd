/**
 * Faults of a remote engine: a real llama-server (the tiny generated coder) behind a fault-injecting
 * proxy (support/faultProxy.ts). Each fault settles the call with the RemoteEngineError that names
 * it, never a hang; the caller's abort still wins; nothing leaks. No duration is asserted: timeouts
 * are Zeta's own limits set small, and waits are bounded by the event they wait for, with a cap
 * only a hang reaches.
 */
import { strict as assert } from 'node:assert';
import type { ModelSpec } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { RemoteEngineError, abortError, type RemoteProblem } from '../../src/core/errors';
import { joinUrl, streamSse, requestJson } from '../../src/backends/remote/http';
import { LlamaServerBackend } from '../../src/backends/remote/llamaServer';
import type { RemoteBackendOptions } from '../../src/backends/remote/options';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';
import { startFaultProxy, type FaultProxy, type ProxyFault } from './support/faultProxy';
import { settledWithin, waitFor } from './support/routerHarness';

/** Zeta's limits made small so a hang ends as a timeout quickly (ms); far above a loopback answer of the tiny model. */
const SHORT_TIMEOUT_MS = 1_500;
/** A hang cap for a settled call's release (ms): only a leak reaches it. */
const RELEASE_CAP_MS = 10_000;

interface Streamed {
    events: unknown[];
    error?: unknown;
}

/** Streams `/completion` from `base` and collects its events and how it ended. */
async function streamCompletion(base: string, signal: AbortSignal, nPredict = 12, timeouts = { headersTimeoutMs: SHORT_TIMEOUT_MS, idleTimeoutMs: SHORT_TIMEOUT_MS }): Promise<Streamed> {
    const out: Streamed = { events: [] };
    try {
        for await (const e of streamSse({
            base,
            url: joinUrl(base, '/completion'),
            body: { prompt: 'function add(a, b) {', n_predict: nPredict, stream: true, ignore_eos: true, cache_prompt: true },
            signal,
            ...timeouts,
        }))
            out.events.push(e);
    } catch (e) {
        out.error = e;
    }
    return out;
}

function problemOf(e: unknown): string {
    return e instanceof RemoteEngineError ? e.problem : `not a RemoteEngineError: ${String(e)}`;
}

describe('faults: a remote engine behind a fault proxy', function () {
    this.timeout(120_000);

    let models: SyntheticModels;
    let proxy: FaultProxy;

    before(async function () {
        this.timeout(300_000);
        models = await ensureModels('tiny');
        proxy = await startFaultProxy({ model: models.coder, slots: 2, contextSize: 2048 });
    });

    afterEach(async () => {
        await proxy?.set(undefined);
    });

    after(async () => {
        await proxy?.close();
    });

    describe('the proxy itself (over http.ts)', () => {
        it('passes a stream through whole and counts requests by path', async () => {
            const before = proxy.requests('/completion');
            const s = await settledWithin(streamCompletion(proxy.url, new AbortController().signal), 'stream');
            assert.equal(s.error, undefined, String(s.error));
            assert.equal((s.events.at(-1) as { stop?: boolean }).stop, true, 'the final event arrived');
            assert.equal(s.events.length, 13, '12 tokens and the final event');
            assert.equal(proxy.requests('/completion'), before + 1);
        });

        it('a mid-stream fault strikes before the final event even when the stream is shorter than asked', async () => {
            const whole = await settledWithin(streamCompletion(proxy.url, new AbortController().signal, 2), 'stream');
            assert.equal(whole.error, undefined, String(whole.error));
            const n = whole.events.length;
            await proxy.set({ kind: 'dropMidStream', afterEvents: n + 5 });
            const s = await settledWithin(streamCompletion(proxy.url, new AbortController().signal, 2), 'stream');
            assert.equal(problemOf(s.error), 'server', String(s.error));
            assert.equal(s.events.length, n - 1, `every event but the final one arrived: ${JSON.stringify(s.events)} of ${JSON.stringify(whole.events)}`);
            assert.deepEqual(proxy.struck.at(-1), { kind: 'dropMidStream', path: '/completion', afterEvents: n - 1 });
        });

        it('a restart mid-stream: the stream ends as "server", the engine comes back on the same URL', async () => {
            const pid = proxy.upstream.process.pid;
            await proxy.set({ kind: 'restartMidStream', afterEvents: 3 });
            const s = await settledWithin(streamCompletion(proxy.url, new AbortController().signal), 'stream');
            assert.equal(problemOf(s.error), 'server', String(s.error));
            assert.equal(s.events.length, 3, 'the events before the restart arrived');
            await proxy.set(undefined);
            await settledWithin(proxy.restarting(), 'restart');
            assert.notEqual(proxy.upstream.process.pid, pid);
            const health = await requestJson<{ status: string }>({ base: proxy.url, url: joinUrl(proxy.url, '/health'), signal: new AbortController().signal, headersTimeoutMs: SHORT_TIMEOUT_MS });
            assert.equal(health.status, 'ok');
        });
    });

    describe('LlamaServerBackend through the proxy', () => {
        const spec = (): ModelSpec => ({
            id: 'remote',
            role: 'coder',
            path: proxy.url,
            remote: { api: 'llama-server', url: proxy.url },
            contextSize: 2048,
            slots: 2,
            threads: 1,
            gpuLayers: 0,
            fimTemplate: 'auto',
        });
        const backends: LlamaServerBackend[] = [];
        /** A loaded backend on the proxy, unloaded after the test. */
        async function loaded(over: Partial<RemoteBackendOptions> = {}): Promise<LlamaServerBackend> {
            const b = new LlamaServerBackend({ clock: new SystemClock(), headersTimeoutMs: SHORT_TIMEOUT_MS, streamIdleTimeoutMs: SHORT_TIMEOUT_MS, pollIntervalMs: 100, ...over });
            backends.push(b);
            await settledWithin(b.load(spec(), new AbortController().signal), 'load');
            return b;
        }
        afterEach(async () => {
            for (const b of backends.splice(0)) await settledWithin(b.unload(), 'unload');
        });

        /** A FIM completion of 12 tokens; its streamed pieces and how it ended, in order. */
        async function complete(b: LlamaServerBackend, signal = new AbortController().signal): Promise<{ order: string[]; error?: unknown }> {
            const order: string[] = [];
            try {
                await b.generate({ mode: 'fim', prefix: 'function add(a, b) {\n    return', suffix: '\n}\n', maxTokens: 12, ignoreEndOfGeneration: true, cacheKey: 'add.ts', onToken: () => order.push('token') }, signal);
                order.push('result');
                return { order };
            } catch (e) {
                order.push('error');
                return { order, error: e };
            }
        }

        /** Nothing is held once the call has settled (a release may follow the rejection by a tick: waited for, with the hang cap). */
        async function assertNoLeak(b: LlamaServerBackend, what: string): Promise<void> {
            await waitFor(() => b.stats().sequencesHeld === 0 && b.stats().inFlight === 0 && b.remoteLoad!().ownInFlight === 0, `${what}: released`, RELEASE_CAP_MS).catch(() => undefined);
            const s = b.stats();
            assert.equal(s.sequencesHeld, 0, `${what}: sequences held`);
            assert.equal(s.inFlight, 0, `${what}: calls in flight`);
            assert.equal(b.remoteLoad!().ownInFlight, 0, `${what}: own calls on the engine`);
        }

        it('serves through the proxy when nothing is faulted', async () => {
            const b = await loaded();
            const r = await settledWithin(complete(b), 'completion');
            assert.equal(r.error, undefined, String(r.error));
            assert.equal(r.order.at(-1), 'result');
            assert.ok(r.order.filter((x) => x === 'token').length >= 1);
            assert.ok(proxy.requests('/infill') + proxy.requests('/completion') >= 1, 'the engine was asked');
            await assertNoLeak(b, 'healthy');
        });

        it('each fault settles the call with the RemoteEngineError problem that names it, and leaks nothing', async () => {
            const b = await loaded();
            const cases: Array<[ProxyFault, RemoteProblem, boolean]> = [
                // [fault, problem, tokens streamed before it]
                [{ kind: 'refuse' }, 'refused', false],
                [{ kind: 'hang' }, 'timeout', false],
                [{ kind: 'hang', afterEvents: 2 }, 'timeout', true],
                [{ kind: 'trickle', msPerEvent: SHORT_TIMEOUT_MS * 3 }, 'timeout', false],
                [{ kind: 'status', status: 500 }, 'server', false],
                [{ kind: 'status', status: 503 }, 'server', false],
                [{ kind: 'unauthorized' }, 'unauthorized', false],
                [{ kind: 'malformedSse', afterEvents: 2 }, 'protocol', true],
                [{ kind: 'dropMidStream', afterEvents: 2 }, 'server', true],
            ];
            for (const [fault, problem, tokensFirst] of cases) {
                const what = JSON.stringify(fault);
                await proxy.set(fault);
                const r = await settledWithin(complete(b), what);
                assert.ok(r.error instanceof RemoteEngineError, `${what}: ${String(r.error)}`);
                assert.equal(r.error.problem, problem, `${what}: ${r.error.message}`);
                assert.equal(r.order.at(-1), 'error', `${what}: settled once, by its error`);
                if (tokensFirst) assert.equal(r.order[0], 'token', `${what}: tokens streamed before the fault`);
                if (fault.kind === 'unauthorized') assert.match(r.error.message, /API key/);
                await proxy.set(undefined);
                await assertNoLeak(b, what);
            }
            const ok = await settledWithin(complete(b), 'after the faults');
            assert.equal(ok.error, undefined, String(ok.error));
        });

        it('an engine restarted mid-stream: the call fails as "server", the backend serves again once it is back', async () => {
            const b = await loaded();
            await proxy.set({ kind: 'restartMidStream', afterEvents: 2 });
            const r = await settledWithin(complete(b), 'completion');
            assert.ok(r.error instanceof RemoteEngineError, String(r.error));
            assert.equal(r.error.problem, 'server', r.error.message);
            assert.equal(r.order[0], 'token');
            await proxy.set(undefined);
            await settledWithin(proxy.restarting(), 'the engine restarted');
            await assertNoLeak(b, 'restart');
            const again = await settledWithin(complete(b), 'after the restart');
            assert.equal(again.error, undefined, String(again.error));
        });

        it("the caller's abort under a hang rejects with the signal's reason and releases the call", async () => {
            const b = await loaded({ headersTimeoutMs: 600_000, streamIdleTimeoutMs: 600_000 });
            for (const fault of [{ kind: 'hang' }, { kind: 'hang', afterEvents: 2 }] as const) {
                await proxy.set(fault);
                const n = strikes(proxy, 'hang');
                const ctl = new AbortController();
                const p = complete(b, ctl.signal);
                await waitFor(() => strikes(proxy, 'hang') > n, 'the hang struck');
                const reason = abortError('superseded by the next keystroke');
                ctl.abort(reason);
                const r = await settledWithin(p, 'aborted call');
                assert.equal(r.error, reason, JSON.stringify(fault));
                await proxy.set(undefined);
                await assertNoLeak(b, JSON.stringify(fault));
            }
        });

        it('remoteLoad().reachable goes false with the reason while the engine fails, and true again when it recovers', async () => {
            const b = await loaded({ pollIntervalMs: 100 });
            await waitFor(() => b.remoteLoad!().reachable && b.remoteLoad!().at !== undefined, 'a first successful poll');
            const faults: Array<[ProxyFault, RegExp]> = [
                [{ kind: 'refuse' }, /ECONNREFUSED|no engine answers/],
                [{ kind: 'status', status: 503 }, /503/],
                [{ kind: 'unauthorized' }, /API key/],
            ];
            for (const [fault, reason] of faults) {
                await proxy.set(fault);
                await waitFor(() => !b.remoteLoad!().reachable, `${fault.kind}: unreachable`);
                assert.match(b.remoteLoad!().error ?? '', reason, fault.kind);
                await proxy.set(undefined);
                await waitFor(() => b.remoteLoad!().reachable, `${fault.kind}: reachable again`);
                assert.equal(b.remoteLoad!().error, undefined);
            }
        });
    });
});

/** Strikes of `kind` so far. */
function strikes(proxy: FaultProxy, kind: string): number {
    return proxy.struck.filter((s) => s.kind === kind).length;
}
