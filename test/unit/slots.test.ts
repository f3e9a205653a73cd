import { strict as assert } from 'node:assert';
import { SlotPool } from '../../src/core/slots';
import { abortError } from '../../src/core/errors';

describe('SlotPool', () => {
    it('grants up to capacity at once, then serves waiters first come first served', async () => {
        const pool = new SlotPool(() => 2);
        const never = new AbortController().signal;
        await pool.acquire(never);
        await pool.acquire(never);
        const order: string[] = [];
        const a = pool.acquire(never).then(() => order.push('a'));
        const b = pool.acquire(never).then(() => order.push('b'));
        assert.equal(pool.waiting, 2);
        pool.release();
        await a;
        assert.deepEqual(order, ['a']);
        pool.release();
        await b;
        assert.deepEqual(order, ['a', 'b']);
        assert.equal(pool.inUse, 2);
        assert.equal(pool.maxInUse, 2);
    });

    it('a waiter aborted while queued rejects with the reason and never takes a slot', async () => {
        const pool = new SlotPool(() => 1);
        await pool.acquire(new AbortController().signal);
        const ac = new AbortController();
        const reason = abortError('gone');
        const p = pool.acquire(ac.signal);
        ac.abort(reason);
        await assert.rejects(p, (e) => e === reason);
        assert.equal(pool.waiting, 0);
        pool.release();
        assert.equal(pool.inUse, 0);
    });

    it('rejects at once on an already aborted signal', async () => {
        const pool = new SlotPool(() => 1);
        const ac = new AbortController();
        ac.abort();
        await assert.rejects(pool.acquire(ac.signal));
        assert.equal(pool.inUse, 0);
    });

    it('does not let a newcomer overtake a waiter when a slot frees', async () => {
        const pool = new SlotPool(() => 1);
        const never = new AbortController().signal;
        await pool.acquire(never);
        const order: string[] = [];
        const first = pool.acquire(never).then(() => order.push('first'));
        pool.release();
        const second = pool.acquire(never).then(() => order.push('second'));
        await first;
        pool.release();
        await second;
        assert.deepEqual(order, ['first', 'second']);
    });

    it('waits() names the longest holder and the waiters in order, by their tags', async () => {
        const pool = new SlotPool(() => 1);
        const never = new AbortController().signal;
        const a = { taskId: 1, label: 'a' };
        const b = { taskId: 2, label: 'b' };
        assert.deepEqual(pool.waits(), { waiting: [] });
        await pool.acquire(never, a);
        const next = pool.acquire(never, b);
        assert.deepEqual(pool.waits(), { holder: a, waiting: [b] });
        pool.release(a);
        await next;
        assert.deepEqual(pool.waits(), { holder: b, waiting: [] });
        pool.release(b);
        assert.deepEqual(pool.waits(), { waiting: [] });
    });
});
