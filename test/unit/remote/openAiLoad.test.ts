/**
 * The OpenAI-compatible backend's load poller on virtual time, with a fake fetch whose answers take
 * virtual milliseconds: what it reads from vLLM's and llama-server's metrics, the round trip, the
 * poll rate in use and idle, no overlapping polls, the fallback when `/metrics` is absent, and stop.
 */
import * as assert from 'node:assert/strict';
import { VirtualClock } from '../../../src/core/clock';
import type { Fetch } from '../../../src/backends/remote/http';
import { LoadPoller, readEngineMetrics } from '../../../src/backends/remote/openAiLoad';
import { parsePrometheus } from '../../../src/backends/remote/prometheus';

const URL_BASE = 'http://engine.test:8000';

function vllmMetrics(running: number, waiting: number, generated: number): string {
    return [
        '# HELP vllm:num_requests_running Number of requests currently running on GPU.',
        '# TYPE vllm:num_requests_running gauge',
        `vllm:num_requests_running{model_name="coder-a"} ${running}`,
        'vllm:num_requests_running{model_name="other"} 7',
        '# TYPE vllm:num_requests_waiting gauge',
        `vllm:num_requests_waiting{model_name="coder-a"} ${waiting}`,
        'vllm:num_requests_waiting{model_name="other"} 9',
        '# TYPE vllm:generation_tokens_total counter',
        `vllm:generation_tokens_total{model_name="coder-a"} ${generated}`,
        '',
    ].join('\n');
}

interface Engine {
    fetch: Fetch;
    paths: string[];
    maxConcurrent: number;
}

/** A fake engine whose every answer takes `latencyMs` virtual ms; `answer` gives the response for a path. */
function engine(clock: VirtualClock, latencyMs: number, answer: (path: string, n: number) => Response | Error): Engine {
    const e: Engine = { fetch: undefined as unknown as Fetch, paths: [], maxConcurrent: 0 };
    let concurrent = 0;
    e.fetch = async (input, init) => {
        const path = new URL(String(input)).pathname;
        e.paths.push(path);
        concurrent++;
        e.maxConcurrent = Math.max(e.maxConcurrent, concurrent);
        try {
            await new Promise<void>((resolve, reject) => {
                const t = clock.setTimeout(resolve, latencyMs);
                init?.signal?.addEventListener('abort', () => {
                    clock.clearTimeout(t);
                    reject(init.signal?.reason);
                });
            });
        } finally {
            concurrent--;
        }
        const a = answer(path, e.paths.length);
        if (a instanceof Error) throw a;
        return a;
    };
    return e;
}

function poller(clock: VirtualClock, e: Engine, extra: { own?: () => number; lastUsedAt?: () => number; log?: (m: string) => void } = {}): LoadPoller {
    return new LoadPoller({
        clock,
        fetch: e.fetch,
        log: extra.log,
        url: URL_BASE,
        model: 'coder-a',
        slots: 4,
        pollIntervalMs: 500,
        headersTimeoutMs: 30_000,
        ownInFlight: extra.own ?? (() => 0),
        lastUsedAt: extra.lastUsedAt ?? (() => clock.now()),
    });
}

describe('OpenAI-compatible load poller (virtual time)', () => {
    it("reads one model's vLLM series, the decode rate from the counter, and the round trip", async () => {
        const clock = new VirtualClock();
        let generated = 1000;
        const e = engine(clock, 20, () => {
            generated += 100;
            return new Response(vllmMetrics(3, 2, generated));
        });
        const p = poller(clock, e);
        p.start();
        await clock.advance(3_000);
        const load = p.snapshot();
        p.stop();
        assert.equal(load.slotsBusy, 3);
        assert.equal(load.deferred, 2);
        assert.equal(load.slots, 4);
        assert.equal(load.reachable, true);
        assert.equal(load.rttMs, 20);
        // 100 tokens between two polls 520 ms apart (500 ms gap + 20 ms answer).
        assert.equal(load.decodeTokensPerSec, (100 * 1000) / 520);
        assert.equal(load.busyRemainingTokens, undefined);
        assert.equal(e.maxConcurrent, 1);
    });

    it('never overlaps polls, even when an answer takes longer than the interval', async () => {
        const clock = new VirtualClock();
        const e = engine(clock, 2_000, () => new Response(vllmMetrics(1, 0, 5)));
        const p = poller(clock, e);
        p.start();
        await clock.advance(10_000);
        p.stop();
        assert.equal(e.maxConcurrent, 1);
        // Each poll: 2,000 ms answer + 500 ms gap: polls start at 0, 2,500, 5,000, 7,500 and 10,000 ms.
        assert.equal(e.paths.length, 5);
    });

    it('polls ten times less often once the model has been idle 10 s', async () => {
        const clock = new VirtualClock();
        const e = engine(clock, 0, () => new Response(vllmMetrics(0, 0, 5)));
        const p = poller(clock, e, { lastUsedAt: () => Number.NEGATIVE_INFINITY });
        p.start();
        await clock.advance(20_000);
        p.stop();
        // At 0, 5,000, 10,000, 15,000 and 20,000 ms.
        assert.equal(e.paths.length, 5);
    });

    it('without /metrics (404) it polls /v1/models for the round trip, and the load is our own calls', async () => {
        const clock = new VirtualClock();
        const lines: string[] = [];
        const e = engine(clock, 10, (path) => (path === '/metrics' ? new Response('not found', { status: 404 }) : new Response('{"data":[{"id":"m"}]}')));
        let own = 6;
        const p = poller(clock, e, { own: () => own, log: (m) => lines.push(m) });
        p.start();
        await clock.advance(2_000);
        assert.equal(e.paths.filter((x) => x === '/metrics').length, 1, 'asked once');
        assert.ok(e.paths.filter((x) => x === '/v1/models').length >= 2);
        assert.ok(lines.some((l) => l.includes('no Prometheus /metrics')), lines.join('\n'));
        let load = p.snapshot();
        assert.equal(load.rttMs, 10);
        assert.equal(load.slotsBusy, 4, 'our 6 calls fill the 4 slots');
        assert.equal(load.deferred, 2);
        assert.equal(load.ownInFlight, 6);
        assert.equal(load.decodeTokensPerSec, undefined);
        own = 0;
        load = p.snapshot();
        assert.equal(load.slotsBusy, 0);
        p.stop();
    });

    it('a failed poll marks the engine unreachable with the reason; the next success reachable again', async () => {
        const clock = new VirtualClock();
        let fail = true;
        const refused = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
        const e = engine(clock, 5, () => (fail ? refused : new Response(vllmMetrics(1, 0, 1))));
        const p = poller(clock, e);
        p.start();
        await clock.advance(100);
        let load = p.snapshot();
        assert.equal(load.reachable, false);
        assert.match(load.error ?? '', /ECONNREFUSED/);
        assert.equal(load.at, undefined);
        fail = false;
        await clock.advance(1_000);
        load = p.snapshot();
        assert.equal(load.reachable, true);
        assert.equal(load.error, undefined);
        assert.ok(load.at !== undefined);
        p.stop();
    });

    it('stop aborts the poll in flight and schedules nothing more', async () => {
        const clock = new VirtualClock();
        const e = engine(clock, 1_000, () => new Response(vllmMetrics(1, 0, 1)));
        const p = poller(clock, e);
        p.start();
        await clock.advance(100);
        assert.equal(e.paths.length, 1);
        p.stop();
        await clock.advance(60_000);
        assert.equal(e.paths.length, 1);
        assert.equal(clock.pending, 0, 'no timer left');
        assert.equal(p.snapshot().at, undefined, 'the aborted poll recorded nothing');
    });

    it("readEngineMetrics reads llama-server's names too, and sums series without a model label", () => {
        const m = readEngineMetrics(
            parsePrometheus('llamacpp:requests_processing 2\nllamacpp:requests_deferred 5\nllamacpp:tokens_predicted_total 361\n'),
            'whatever',
        );
        assert.deepEqual(m, { running: 2, waiting: 5, generatedTotal: 361 });
        const unlabelled = readEngineMetrics(parsePrometheus('vllm:num_requests_running{engine="0"} 1\nvllm:num_requests_running{engine="1"} 2\n'), 'x');
        assert.equal(unlabelled.running, 3);
    });
});
