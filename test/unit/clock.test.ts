import { strict as assert } from 'node:assert';
import { VirtualClock, sleep } from '../../src/core/clock';
import { abortError } from '../../src/core/errors';

describe('VirtualClock', () => {
    it('fires timers in time order, ties in insertion order, never early', async () => {
        const clock = new VirtualClock(100);
        const fired: string[] = [];
        clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
        clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
        clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20);
        await clock.advance(15);
        assert.deepEqual(fired, ['a@110']);
        assert.equal(clock.now(), 115);
        await clock.runUntilIdle();
        assert.deepEqual(fired, ['a@110', 'b@120', 'c@120']);
        assert.equal(clock.now(), 120);
    });

    it('does not fire cleared timers and counts only live ones', async () => {
        const clock = new VirtualClock();
        let n = 0;
        const h = clock.setTimeout(() => n++, 5);
        clock.setTimeout(() => n += 10, 6);
        clock.clearTimeout(h);
        assert.equal(clock.pending, 1);
        await clock.runUntilIdle();
        assert.equal(n, 10);
        assert.equal(clock.pending, 0);
    });

    it('runs promise continuations before time moves on', async () => {
        const clock = new VirtualClock();
        const seen: number[] = [];
        const chain = async (): Promise<void> => {
            await sleep(clock, 10);
            seen.push(clock.now());
            await sleep(clock, 5);
            seen.push(clock.now());
        };
        const done = chain();
        clock.setTimeout(() => seen.push(-clock.now()), 12);
        await clock.runUntilIdle();
        await done;
        assert.deepEqual(seen, [10, -12, 15]);
    });

    it('sleep rejects with the signal reason on abort and clears its timer', async () => {
        const clock = new VirtualClock();
        const ac = new AbortController();
        const p = sleep(clock, 1000, ac.signal);
        const reason = abortError('stop');
        ac.abort(reason);
        await assert.rejects(p, (e) => e === reason);
        await clock.runUntilIdle();
        assert.equal(clock.now(), 0);
    });

    it('stops runaway periodic timers at the limit', async () => {
        const clock = new VirtualClock();
        let ticks = 0;
        const tick = (): void => { ticks++; clock.setTimeout(tick, 10); };
        clock.setTimeout(tick, 10);
        const reached = await clock.runUntilIdle(100);
        assert.equal(ticks, 10);
        assert.equal(reached, 100);
    });
});
