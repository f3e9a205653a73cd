import { strict as assert } from 'node:assert';
import { VirtualClock } from '../../../src/core/clock';
import { Throttle } from '../../../src/vscode/throttle';

describe('throttle (status bar, load view, answer rendering)', () => {
    it('runs at once, then at most once per interval with a trailing run', async () => {
        const clock = new VirtualClock();
        const runs: number[] = [];
        const t = new Throttle(clock, 250, () => runs.push(clock.now()));
        t.trigger();
        for (let i = 0; i < 10; i++) {
            await clock.advance(20);
            t.trigger();
        }
        await clock.advance(1000);
        assert.deepEqual(runs, [0, 250]);
        t.trigger();
        assert.deepEqual(runs, [0, 250, 1200]);
    });

    it('never runs after dispose; flush runs a pending trailing run now', async () => {
        const clock = new VirtualClock();
        let n = 0;
        const t = new Throttle(clock, 100, () => n++);
        t.trigger();
        t.trigger();
        t.flush();
        assert.equal(n, 2);
        t.trigger();
        t.dispose();
        await clock.advance(1000);
        t.trigger();
        assert.equal(n, 2);
        assert.equal(clock.pending, 0);
    });
});
