/**
 * src/backends/remote/http.ts with a fake fetch: a request that failed on a pooled connection the
 * engine had just closed is sent once more; any other failure is classified, never retried.
 */
import { strict as assert } from 'node:assert';
import { RemoteEngineError } from '../../../src/core/errors';
import { requestJson, staleConnection, type Fetch } from '../../../src/backends/remote/http';

/** What undici's fetch rejects with when a kept-alive connection was closed under it. */
function closedUnder(code: string): TypeError {
    return Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('other side closed'), { code }) });
}

/** A fetch that fails with `failures` in turn, then answers `{ ok: true }`; counts calls. */
function flaky(failures: unknown[]): { fetch: Fetch; calls: () => number } {
    let calls = 0;
    const fake = async (): Promise<Response> => {
        const f = failures[calls++];
        if (f !== undefined) throw f;
        return new Response(JSON.stringify({ ok: true }), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    return { fetch: fake as Fetch, calls: () => calls };
}

const call = (fetch: Fetch, signal = new AbortController().signal) => requestJson<{ ok: boolean }>({ base: 'http://engine', url: 'http://engine/health', signal, headersTimeoutMs: 60_000, fetch });

describe('http: requests to remote engines', () => {
    it('tells a stale pooled connection from other failures, down the causes', () => {
        assert.equal(staleConnection(closedUnder('UND_ERR_SOCKET')), true);
        assert.equal(staleConnection(closedUnder('ECONNRESET')), true);
        assert.equal(staleConnection(new RemoteEngineError('http://x', 'server', 'closed', { cause: closedUnder('UND_ERR_SOCKET') })), true);
        assert.equal(staleConnection(closedUnder('ECONNREFUSED')), false);
        assert.equal(staleConnection(new Error('x')), false);
    });

    it('sends a request once more after a stale connection, and only once', async () => {
        const once = flaky([closedUnder('UND_ERR_SOCKET')]);
        assert.deepEqual(await call(once.fetch), { ok: true });
        assert.equal(once.calls(), 2);

        const twice = flaky([closedUnder('UND_ERR_SOCKET'), closedUnder('UND_ERR_SOCKET')]);
        await assert.rejects(call(twice.fetch), (e: unknown) => e instanceof RemoteEngineError && e.problem === 'server');
        assert.equal(twice.calls(), 2);
    });

    it('never sends again after a refusal or the caller’s abort', async () => {
        const refused = flaky([closedUnder('ECONNREFUSED')]);
        await assert.rejects(call(refused.fetch), (e: unknown) => e instanceof RemoteEngineError && e.problem === 'refused');
        assert.equal(refused.calls(), 1);

        const ac = new AbortController();
        const reason = new Error('cancelled by the test');
        const aborting = flaky([closedUnder('UND_ERR_SOCKET')]);
        ac.abort(reason);
        await assert.rejects(call(aborting.fetch, ac.signal), (e: unknown) => e === reason);
        assert.ok(aborting.calls() <= 1);
    });
});
