/**
 * Faults of a remote engine: a real llama-server (the tiny generated coder) behind a fault-injecting
 * proxy (support/faultProxy.ts). Each fault settles the call with the RemoteEngineError that names
 * it, never a hang; the caller's abort still wins; nothing leaks. No duration is asserted: timeouts
 * are Zeta's own limits set small, and waits are bounded by the event they wait for, with a cap
 * only a hang reaches.
 */
import { strict as assert } from 'node:assert';
import { RemoteEngineError, abortError } from '../../src/core/errors';
import { joinUrl, streamSse, requestJson } from '../../src/backends/remote/http';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';
import { startFaultProxy, type FaultProxy } from './support/faultProxy';
import { settledWithin, waitFor } from './support/routerHarness';

/** Zeta's limits made small so a hang ends as a timeout quickly (ms); far above a loopback answer of the tiny model. */
const SHORT_TIMEOUT_MS = 1_500;

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

        it('each fault settles the call with the problem that names it', async () => {
            const signal = new AbortController().signal;
            const cases: Array<[Parameters<FaultProxy['set']>[0], string]> = [
                [{ kind: 'refuse' }, 'refused'],
                [{ kind: 'hang' }, 'timeout'],
                [{ kind: 'hang', afterEvents: 2 }, 'timeout'],
                [{ kind: 'trickle', msPerEvent: SHORT_TIMEOUT_MS * 3 }, 'timeout'],
                [{ kind: 'status', status: 500 }, 'server'],
                [{ kind: 'status', status: 503 }, 'server'],
                [{ kind: 'unauthorized' }, 'unauthorized'],
                [{ kind: 'malformedSse', afterEvents: 2 }, 'protocol'],
                [{ kind: 'dropMidStream', afterEvents: 2 }, 'server'],
            ];
            for (const [fault, problem] of cases) {
                await proxy.set(fault);
                const s = await settledWithin(streamCompletion(proxy.url, signal), `${fault?.kind} stream`);
                assert.equal(problemOf(s.error), problem, `${JSON.stringify(fault)}: ${String(s.error)}`);
                await proxy.set(undefined);
            }
            const ok = await settledWithin(streamCompletion(proxy.url, signal), 'stream after the faults');
            assert.equal(ok.error, undefined, String(ok.error));
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

        it("the caller's abort under a hang rejects with the signal's reason", async () => {
            await proxy.set({ kind: 'hang' });
            const ctl = new AbortController();
            const reason = abortError('the user typed on');
            const n = strikes(proxy, 'hang');
            const p = streamCompletion(proxy.url, ctl.signal, 12, { headersTimeoutMs: 600_000, idleTimeoutMs: 600_000 });
            await waitFor(() => strikes(proxy, 'hang') > n, 'the hang struck');
            ctl.abort(reason);
            const s = await settledWithin(p, 'aborted stream');
            assert.equal(s.error, reason);
        });
    });
});

/** Strikes of `kind` so far. */
function strikes(proxy: FaultProxy, kind: string): number {
    return proxy.struck.filter((s) => s.kind === kind).length;
}
