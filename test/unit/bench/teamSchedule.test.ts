import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseArgs } from '../../../bench/cli';
import { DEFAULT_BURSTS, JITTER, admit, burstSchedule, type BurstOptions } from '../../../bench/workload/teamSchedule';
import { roundSchedule, teamOrder } from '../../../bench/modes/team';

const options: BurstOptions = { ...DEFAULT_BURSTS, seed: 7, durationMs: 30_000 };

describe('bench team: the teammates\' burst schedule', () => {
    it('an idle phase has no request', () => {
        assert.deepEqual(burstSchedule('idle', options), []);
    });

    it('a saturated phase: bursts of slots + queue requests from 0, ascending, sizes within their ranges', () => {
        const s = burstSchedule('saturated', options);
        assert.ok(s.length > 0);
        assert.equal(s[0].burst, 0);
        assert.ok(s[0].t <= options.spreadMs, `first request at ${s[0].t}`);
        for (let i = 1; i < s.length; i++) assert.ok(s[i].t >= s[i - 1].t, `request ${i} before ${i - 1}`);
        const perBurst = new Map<number, number>();
        for (const r of s) {
            assert.ok(r.t >= 0 && r.t < options.durationMs);
            assert.ok(r.promptTokens >= options.promptTokens[0] && r.promptTokens <= options.promptTokens[1], `prompt ${r.promptTokens}`);
            assert.ok(r.nPredict >= options.nPredict[0] && r.nPredict <= options.nPredict[1], `n_predict ${r.nPredict}`);
            assert.ok(Number.isInteger(r.promptTokens) && Number.isInteger(r.nPredict));
            perBurst.set(r.burst, (perBurst.get(r.burst) ?? 0) + 1);
        }
        // Every burst but one cut by the end brings exactly slots + queue requests.
        const counts = [...perBurst.values()];
        const full = options.slots + options.queue;
        assert.ok(counts.slice(0, -1).every((c) => c === full), `burst sizes ${counts.join(',')}`);
        assert.ok(counts[counts.length - 1] <= full);
    });

    it('bursts start every burstEveryMs within the jitter, each request within the spread of its burst start', () => {
        const s = burstSchedule('saturated', { ...options, spreadMs: 0 });
        const starts = [...new Set(s.map((r) => r.burst))].map((b) => Math.min(...s.filter((r) => r.burst === b).map((r) => r.t)));
        assert.ok(starts.length >= 8, `${starts.length} bursts in 30 s`);
        for (let i = 1; i < starts.length; i++) {
            const gap = starts[i] - starts[i - 1];
            // Rounded to whole ms: one ms of slack either way.
            assert.ok(gap >= options.burstEveryMs * (1 - JITTER) - 1 && gap <= options.burstEveryMs * (1 + JITTER) + 1, `gap ${gap}`);
        }
        // With spreadMs 0 all of a burst's requests arrive at its start.
        for (const r of s) assert.equal(r.t, starts[r.burst]);
    });

    it('is a function of its seed: the same seed gives the same schedule, another seed another', () => {
        assert.deepEqual(burstSchedule('saturated', options), burstSchedule('saturated', options));
        assert.notDeepEqual(burstSchedule('saturated', options), burstSchedule('saturated', { ...options, seed: 8 }));
        // A round's schedule is the same for both policies of the round (same seed and round), another round's differs.
        assert.deepEqual(roundSchedule(1, 3, 20_000), roundSchedule(1, 3, 20_000));
        assert.notDeepEqual(roundSchedule(1, 3, 20_000), roundSchedule(1, 4, 20_000));
    });

    it('refuses options that cannot make a schedule', () => {
        assert.throws(() => burstSchedule('saturated', { ...options, slots: 0 }), RangeError);
        assert.throws(() => burstSchedule('saturated', { ...options, queue: -1 }), RangeError);
        assert.throws(() => burstSchedule('saturated', { ...options, burstEveryMs: 0 }), RangeError);
        assert.throws(() => burstSchedule('saturated', { ...options, promptTokens: [10, 5] }), RangeError);
        assert.throws(() => burstSchedule('saturated', { ...options, nPredict: [0, 5] }), RangeError);
    });

    it('admits a request only while fewer than slots + queue are outstanding', () => {
        const limits = { slots: 2, queue: 2 };
        assert.equal(admit(0, limits), true);
        assert.equal(admit(3, limits), true);
        assert.equal(admit(4, limits), false);
        assert.equal(admit(9, limits), false);
    });

    it('orders a round\'s four replays so that the order reverses every other round', () => {
        const even = teamOrder(0);
        assert.deepEqual(even, ['saturated/zeta', 'saturated/static', 'idle/zeta', 'idle/static']);
        assert.deepEqual(teamOrder(1), [...even].reverse());
        assert.deepEqual(teamOrder(2), even);
    });
});

describe('bench team: the command line', () => {
    it('--scenario team with --rounds and --local, for sim and real only', () => {
        const a = parseArgs(['--mode', 'real', '--scenario', 'team', '--rounds', '3', '--local', 'tiny']);
        assert.equal(a.scenario, 'team');
        assert.equal(a.rounds, 3);
        assert.equal(a.local, 'tiny');
        assert.equal(a.out, join('bench-out', 'real-team'));
        assert.equal(parseArgs(['--mode', 'sim', '--scenario', 'team']).scenario, 'team');
        assert.throws(() => parseArgs(['--mode', 'sim', '--scenario', 'solo']), /--scenario takes "team"/);
        assert.throws(() => parseArgs(['--mode', 'profile', '--scenario', 'team']), /sim or real/);
        assert.throws(() => parseArgs(['--mode', 'real', '--rounds', '3']), /for --scenario team/);
        assert.throws(() => parseArgs(['--mode', 'real', '--scenario', 'team', '--rounds', '0']), /--rounds/);
        assert.throws(() => parseArgs(['--mode', 'real', '--scenario', 'team', '--local', 'big']), /--local/);
        assert.equal(parseArgs(['--mode', 'sim']).scenario, undefined);
    });
});
