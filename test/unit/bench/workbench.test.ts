import * as assert from 'node:assert/strict';
import { parseWorkbenchArgs } from '../../../bench/modes/workbench';
import { MEANING_NOTE, roundPolicy, roundResult, workbenchMarkdown, workbenchReport, type ReportInputs, type RoundResult } from '../../../bench/modes/workbench/report';
import { DEFAULT_KEY_GAP_MS, DEFAULT_PAUSE_MS, SCRIPT_LINES, scriptDurationMs, scriptKeyCount, scriptText, typingScript } from '../../../bench/modes/workbench/script';
import { agreeInSign, pauseTimings, ratio, simRatio, summarize, type PauseTiming } from '../../../bench/modes/workbench/timing';

describe('bench --workbench: the typing script', () => {
    it('is the same for the same seed and differs for another', () => {
        const a = typingScript({ seed: 1, bursts: 16 });
        assert.deepEqual(typingScript({ seed: 1, bursts: 16 }), a);
        assert.notDeepEqual(typingScript({ seed: 2, bursts: 16 }).bursts, a.bursts);
    });

    it('types the script lines in order, in bursts, each line after the first opened with Enter', () => {
        const all = typingScript({ seed: 3, bursts: 1000 });
        assert.equal(scriptText(all), SCRIPT_LINES.join('\n'));
        assert.ok(all.bursts.length > SCRIPT_LINES.length, 'lines are cut into several bursts');
        assert.equal(all.bursts.filter((b) => b.keys[0] === 'Enter').length, SCRIPT_LINES.length - 1);
        assert.ok(all.bursts.every((b) => b.keys.filter((k) => k === 'Enter').length <= 1 && b.keys.slice(1).every((k) => k !== 'Enter')));
        // No burst of one or two keys (a short tail joins its piece); no multi-character key but Enter.
        assert.ok(all.bursts.every((b) => b.keys.filter((k) => k !== 'Enter').length >= 3), JSON.stringify(all.bursts.map((b) => b.keys.join(''))));
        assert.ok(all.bursts.every((b) => b.keys.every((k) => k === 'Enter' || k.length === 1)));
    });

    it('keeps gaps and pauses in their ranges; the first key of a burst ends a pause', () => {
        const s = typingScript({ seed: 1, bursts: 30 });
        for (const b of s.bursts) {
            assert.equal(b.gapsMs.length, b.keys.length);
            assert.equal(b.gapsMs[0], 0);
            for (const g of b.gapsMs.slice(1)) assert.ok(g >= DEFAULT_KEY_GAP_MS[0] && g <= DEFAULT_KEY_GAP_MS[1], `gap ${g}`);
            assert.ok(b.pauseMs >= DEFAULT_PAUSE_MS[0] && b.pauseMs <= DEFAULT_PAUSE_MS[1], `pause ${b.pauseMs}`);
        }
    });

    it('stops at the number of bursts asked for; counts keys and duration', () => {
        const s = typingScript({ seed: 1, bursts: 5, keyGapMs: [100, 100], pauseMs: [1000, 1000] });
        assert.equal(s.bursts.length, 5);
        const keys = scriptKeyCount(s);
        assert.equal(keys, s.bursts.reduce((n, b) => n + b.keys.length, 0));
        assert.equal(scriptDurationMs(s), (keys - 5) * 100 + 5 * 1000);
        assert.throws(() => typingScript({ seed: 1, bursts: 0 }));
    });
});

describe('bench --workbench: time to suggestion', () => {
    const key = (t: number, k = 'a'): { t: number; key: string } => ({ t, key: k });

    it('measures from the last keystroke of each burst to the first ghost text within its pause', () => {
        const { pauses, missing } = pauseTimings({
            keys: [key(100), key(180), key(260), key(2000), key(2090, 'Shift'), key(2100)],
            // 150: during the first burst (ignored); 400: the first burst's answer; 500: later.
            ghosts: [150, 400, 500, 3500],
            bursts: [{ start: 90, end: 1500 }, { start: 1990, end: 3000 }],
        });
        assert.equal(missing, 0);
        assert.deepEqual(pauses, [
            { burst: 0, keys: 3, ms: 140, answered: true },
            // No ghost text before the pause ended at 3000 (3500 is after it): the whole pause.
            { burst: 1, keys: 2, ms: 900, answered: false },
        ]);
    });

    it('ignores modifier key events and counts a burst whose keys the page missed', () => {
        const { pauses, missing } = pauseTimings({
            keys: [key(10, 'Shift'), key(20, 'Control')],
            ghosts: [30],
            bursts: [{ start: 0, end: 1000 }],
        });
        assert.deepEqual(pauses, []);
        assert.equal(missing, 1);
    });

    it('does not depend on the order the page logged events in', () => {
        const log = { keys: [key(300), key(100), key(200)], ghosts: [700, 450], bursts: [{ start: 0, end: 1000 }] };
        assert.deepEqual(pauseTimings(log).pauses, [{ burst: 0, keys: 3, ms: 150, answered: true }]);
    });

    it('summarizes every pause (unanswered as their whole length) and the answered ones apart', () => {
        const pauses: PauseTiming[] = [
            { burst: 0, keys: 3, ms: 100, answered: true },
            { burst: 1, keys: 3, ms: 200, answered: true },
            { burst: 2, keys: 3, ms: 1200, answered: false },
        ];
        const s = summarize(pauses);
        assert.equal(s.n, 3);
        assert.equal(s.answered, 2);
        assert.equal(s.unanswered, 1);
        assert.equal(s.p50, 200);
        assert.ok(Math.abs(s.p95 - 1100) < 1e-9);
        assert.equal(s.answeredP50, 150);
        assert.ok(Number.isNaN(summarize([]).p50));
    });
});

describe('bench --workbench: ratios and the sim', () => {
    it('ratio is NaN unless both sides are positive numbers', () => {
        assert.equal(ratio(50, 100), 0.5);
        assert.ok(Number.isNaN(ratio(50, 0)));
        assert.ok(Number.isNaN(ratio(Number.NaN, 100)));
    });

    it('two ratios agree in sign when both are below 1 or both above', () => {
        assert.equal(agreeInSign(0.8, 0.5), true);
        assert.equal(agreeInSign(1.2, 3), true);
        assert.equal(agreeInSign(0.8, 1.2), false);
        assert.equal(agreeInSign(1, 0.9), false);
        assert.equal(agreeInSign(null, 0.9), null);
        assert.equal(agreeInSign(Number.NaN, 0.9), null);
    });

    it('reads the sim ratio from policies.<p>.suggestion.waitedFor.p95, tolerating an older report', () => {
        const sim = (z: unknown, s: unknown): unknown => ({ policies: { zeta: { suggestion: { waitedFor: { p95: z } } }, static: { suggestion: { waitedFor: { p95: s } } } } });
        assert.deepEqual(simRatio(sim(40, 80)), { ratio: 0.5, zetaP95: 40, staticP95: 80 });
        const old = simRatio({ policies: { zeta: { completion: {} }, static: { completion: {} } } });
        assert.equal(old.ratio, null);
        assert.match(old.note ?? '', /suggestion\.waitedFor\.p95/);
        assert.equal(simRatio(undefined).ratio, null);
        assert.equal(simRatio(sim(40, 0)).ratio, null);
    });
});

describe('bench --workbench: the report', () => {
    const pauses = (...ms: number[]): PauseTiming[] => ms.map((m, burst) => ({ burst, keys: 5, ms: m, answered: m < 1000 }));
    const rounds = (): RoundResult[] => [
        roundResult(0, 'load view', pauses(100, 200, 300), 0, true),
        roundResult(1, 'load view', pauses(50, 100, 150), 0, true),
        roundResult(2, 'load view', pauses(100, 200, 1300), 0, true),
        roundResult(3, 'load view', pauses(50, 100, 150), 0, false),
    ];
    const inputs = (over: Partial<ReportInputs> = {}): ReportInputs => ({
        command: 'npm run bench -- --workbench',
        environment: { workbench: 'code-server 4.100.3', browser: 'HeadlessChrome', models: 'tiny', cpus: 2, node: 'v20' },
        script: { seed: 1, file: 'src/geometry.py', bursts: 3, keys: 15, keyGapMs: [60, 120], pauseMs: [800, 1500], roundMs: 4000, text: 'x' },
        rounds: rounds(),
        runtimeMs: 1234.5,
        generatedAt: '2026-01-01T00:00:00.000Z',
        ...over,
    });

    it('alternates static and zeta, static first', () => {
        assert.deepEqual([0, 1, 2, 3, 4].map(roundPolicy), ['static', 'zeta', 'static', 'zeta', 'static']);
    });

    it('pools each policy\'s rounds and gives zeta / static; says only the ratio means anything', () => {
        const r = workbenchReport(inputs());
        assert.equal(r.mode, 'workbench');
        assert.equal(r.roundsPerPolicy, 2);
        assert.equal(r.policies.static.n, 6);
        assert.equal(r.policies.static.unanswered, 1);
        assert.equal(r.policies.zeta.n, 6);
        assert.equal(r.policies.static.p50, 200);
        assert.equal(r.policies.zeta.p50, 100);
        assert.equal(r.ratio.p50, 0.5);
        assert.ok(r.ratio.p95 < 1);
        assert.equal(r.note, MEANING_NOTE);
        assert.match(r.note, /only the ratio/i);
        assert.equal(r.simAgreesInSign, null);
        assert.equal(r.sim.report, null);
        assert.equal(r.runtimeMs, 1235);
        // JSON round trip: every number survives (no NaN in a full report).
        assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
    });

    it('compares with a sim report when one is given', () => {
        const json = { policies: { zeta: { suggestion: { waitedFor: { p95: 90 } } }, static: { suggestion: { waitedFor: { p95: 100 } } } } };
        const agree = workbenchReport(inputs({ sim: { path: 'sim/report.json', json } }));
        assert.equal(agree.sim.ratioP95, 0.9);
        assert.equal(agree.sim.report, 'sim/report.json');
        assert.equal(agree.simAgreesInSign, true);
        const disagree = workbenchReport(inputs({ sim: { path: 's.json', json: { policies: { zeta: { suggestion: { waitedFor: { p95: 120 } } }, static: { suggestion: { waitedFor: { p95: 100 } } } } } } }));
        assert.equal(disagree.simAgreesInSign, false);
        const older = workbenchReport(inputs({ sim: { path: 'old.json', json: { policies: {} } } }));
        assert.equal(older.sim.ratioP95, null);
        assert.equal(older.simAgreesInSign, null);
        assert.match(older.sim.note, /suggestion\.waitedFor\.p95/);
    });

    it('writes a markdown summary with both policies, the ratio, each round and the note', () => {
        const md = workbenchMarkdown(workbenchReport(inputs()));
        assert.match(md, /\| static \| 6 \| 1 \|/);
        assert.match(md, /\| zeta \| 6 \| 0 \|/);
        assert.match(md, /zeta \/ static/);
        assert.match(md, /Only the ratio/);
        assert.match(md, /the document did not hold the script's text/);
        assert.match(md, /not compared/);
    });
});

describe('bench --workbench: arguments', () => {
    it('defaults to 2 rounds of each policy; --quick to 1 round of 6 bursts', () => {
        const d = parseWorkbenchArgs(['--workbench']);
        assert.equal(d.roundsPerPolicy, 2);
        assert.equal(d.bursts, 16);
        assert.equal(d.build, true);
        assert.equal(d.simReport, undefined);
        const q = parseWorkbenchArgs(['--workbench', '--quick', '--out', 'x', '--sim-report', 's.json', '--no-build']);
        assert.deepEqual(q, { out: 'x', seed: 1, roundsPerPolicy: 1, bursts: 6, simReport: 's.json', build: false });
        assert.equal(parseWorkbenchArgs(['--workbench', '--quick', '--rounds', '3']).roundsPerPolicy, 3);
    });

    it('refuses unknown flags and bad numbers', () => {
        assert.throws(() => parseWorkbenchArgs(['--workbench', '--mode', 'sim']), /--workbench takes/);
        assert.throws(() => parseWorkbenchArgs(['--workbench', '--rounds', '0']), /--rounds/);
        assert.throws(() => parseWorkbenchArgs(['--workbench', '--bursts', 'x']), /--bursts/);
        assert.throws(() => parseWorkbenchArgs(['--workbench', '--out']), /needs a value/);
    });
});
