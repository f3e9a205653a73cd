import assert from 'node:assert/strict';
import { UNTAGGED_CALL } from '../../src/core/backend';
import { EvalTurns, Reservation } from '../../src/core/evalTurns';

/** Lets pending promise callbacks run. */
const flush = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('EvalTurns: one native call at a time, by priority', () => {
    it('waiting calls go highest priority first, in arrival order among equals', async () => {
        const turns = new EvalTurns();
        const order: string[] = [];
        const first = await turns.acquire(0);
        const waits = [
            ['embed-a', 0],
            ['explain', 50],
            ['embed-b', 0],
            ['completion', 100],
            ['explain-2', 50],
        ] as const;
        const done = waits.map(([name, p]) =>
            turns.acquire(p).then((release) => {
                order.push(name);
                release();
            }),
        );
        assert.equal(turns.pending, 6);
        first();
        await Promise.all(done);
        assert.deepEqual(order, ['completion', 'explain', 'explain-2', 'embed-a', 'embed-b']);
        assert.equal(turns.pending, 0);
    });

    it('with one priority for all it is first come, first served (what the native thread does)', async () => {
        const turns = new EvalTurns();
        const order: number[] = [];
        const first = await turns.acquire(0);
        const done = [1, 2, 3].map((i) => turns.acquire(0).then((r) => (order.push(i), r())));
        first();
        await Promise.all(done);
        assert.deepEqual(order, [1, 2, 3]);
    });

    it('an aborted waiter leaves the line with the signal’s reason; a release twice is harmless', async () => {
        const turns = new EvalTurns();
        const first = await turns.acquire(0);
        const ac = new AbortController();
        const dropped = turns.acquire(10, ac.signal);
        const next = turns.acquire(0);
        ac.abort(new Error('superseded'));
        await assert.rejects(dropped, /superseded/);
        first();
        first();
        const release = await next;
        assert.equal(turns.pending, 1, 'one holder, nobody else');
        release();
        assert.equal(turns.pending, 0);
        await assert.rejects(turns.acquire(0, ac.signal), /superseded/, 'already aborted: rejected at once');
    });

    it('run() gives the turn back while the caller’s gate is closed, and runs the call once it opens', async () => {
        const turns = new EvalTurns();
        const events: string[] = [];
        let open: () => void = () => undefined;
        let closed = true;
        const gateWait = (): Promise<void> | undefined =>
            closed
                ? new Promise<void>((r) => {
                      open = () => {
                          closed = false;
                          r();
                      };
                  })
                : undefined;
        const holder = await turns.acquire(0);
        // A low-priority chunk that passed its gate earlier, then queued; a completion's call behind it.
        const paused = turns.run(0, undefined, async () => void events.push('paused call ran'), gateWait);
        holder();
        await flush();
        const other = turns.run(0, undefined, async () => void events.push('other call ran'));
        await other;
        assert.deepEqual(events, ['other call ran'], 'the paused call gave its turn back');
        open();
        await paused;
        assert.deepEqual(events, ['other call ran', 'paused call ran']);
        assert.equal(turns.pending, 0);
    });

    it('a Reservation keeps lower calls off; suspended it lets them in, resumed it keeps them off again, until it ends', async () => {
        const turns = new EvalTurns();
        const ran: string[] = [];
        const low = (name: string): Promise<void> => turns.run(0, undefined, async () => void ran.push(name));
        const r = new Reservation(turns, 50);
        const a = low('embed-a');
        await flush();
        assert.equal(ran.length, 0, 'reserved: a lower call waits although the thread is free');
        r.suspend();
        await a;
        assert.deepEqual(ran, ['embed-a'], 'suspended (its gate holds it): the lower call runs');
        r.resume();
        const b = low('embed-b');
        await flush();
        assert.deepEqual(ran, ['embed-a'], 'resumed: lower calls wait again');
        await turns.run(50, undefined, async () => void ran.push('explain chunk'));
        assert.deepEqual(ran, ['embed-a', 'explain chunk'], 'its own calls run');
        r.end();
        await b;
        r.resume();
        await low('embed-c');
        assert.deepEqual(ran, ['embed-a', 'explain chunk', 'embed-b', 'embed-c'], 'ended: resume reserves nothing');
        r.end();
        assert.equal(turns.pending, 0);
    });

    it('the turn is held until the call settles, even when it fails', async () => {
        const turns = new EvalTurns();
        let finish: () => void = () => undefined;
        const long = turns.run(0, undefined, () => new Promise<void>((r) => (finish = r)));
        const failing = turns.run(5, undefined, async () => {
            throw new Error('native failure');
        });
        let ranAfter = false;
        const after = turns.run(0, undefined, async () => void (ranAfter = true));
        await flush();
        assert.equal(ranAfter, false);
        finish();
        await long;
        await assert.rejects(failing, /native failure/);
        await after;
        assert.equal(ranAfter, true);
    });

    it('waits() names the holder and the waiters, best first, by their tags; a reservation that keeps a waiter off is named', async () => {
        const turns = new EvalTurns();
        const tag = (taskId: number, label: string): { taskId: number; label: string } => ({ taskId, label });
        assert.deepEqual(turns.waits(), { waiting: [] });
        const first = await turns.acquire(0, undefined, tag(1, 'embed #1'));
        const done = [
            turns.run(0, undefined, async () => undefined, undefined, tag(2, 'embed #2')),
            turns.run(100, undefined, async () => undefined, undefined, tag(3, 'completion #3')),
            turns.run(50, undefined, async () => undefined),
        ];
        assert.deepEqual(turns.waits(), { holder: tag(1, 'embed #1'), waiting: [tag(3, 'completion #3'), UNTAGGED_CALL, tag(2, 'embed #2')] });
        first();
        await Promise.all(done);
        assert.deepEqual(turns.waits(), { waiting: [] });
        // The thread is free, but a prefill's reservation keeps a lower call waiting: it is named.
        const r = new Reservation(turns, 100, tag(4, 'completion #4'));
        const low = turns.run(0, undefined, async () => undefined, undefined, tag(5, 'embed #5'));
        await flush();
        assert.deepEqual(turns.waits(), { holder: tag(4, 'completion #4'), waiting: [tag(5, 'embed #5')] });
        r.end();
        await low;
        assert.deepEqual(turns.waits(), { waiting: [] });
    });
});
