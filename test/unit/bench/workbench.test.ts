import * as assert from 'node:assert/strict';
import { parseWorkbenchArgs, policyHandling } from '../../../bench/modes/workbench';
import { BASELINE_DEBOUNCE_MS, completionHandling } from '../../../bench/policies';
import { parseZetaLog, roundEvidence, type RoundEvidence } from '../../../bench/modes/workbench/zetaLog';
import { MEANING_NOTE, roundPolicy, roundResult, workbenchMarkdown, workbenchReport, type ReportInputs, type RoundResult } from '../../../bench/modes/workbench/report';
import { DEFAULT_KEY_GAP_MS, DEFAULT_PAUSE_MS, SCRIPT_LINES, scriptDurationMs, scriptKeyCount, scriptText, typingScript } from '../../../bench/modes/workbench/script';
import { createRng } from '../../../bench/lib/rng';
import { agreeInSign, pauseTimings, ratio, ratioInterval, simRatio, summarize, type PauseTiming } from '../../../bench/modes/workbench/timing';

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

    it('bootstraps an interval for a ratio of percentiles: around it, seeded, across 1 when the samples overlap', () => {
        const fast = Array.from({ length: 30 }, (_, i) => 50 + i);
        const slow = Array.from({ length: 30 }, (_, i) => 100 + 2 * i);
        const [lo, hi] = ratioInterval(fast, slow, 50, 0.9, 1000, createRng(5).next);
        assert.ok(lo <= ratio(64.5, 129) && ratio(64.5, 129) <= hi, `${lo}-${hi}`);
        assert.ok(hi < 1, 'clearly faster: the whole interval is below 1');
        assert.deepEqual(ratioInterval(fast, slow, 50, 0.9, 1000, createRng(5).next), [lo, hi]);
        const [olo, ohi] = ratioInterval(fast, [...fast].reverse(), 95, 0.9, 1000, createRng(5).next);
        assert.ok(olo <= 1 && ohi >= 1, `the same sample against itself: ${olo}-${ohi}`);
        assert.deepEqual(ratioInterval([], slow, 50, 0.9, 10, createRng(1).next).map(Number.isNaN), [true, true]);
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
    const evidence = (policy: string, debounce: [number, number], servedBy: Record<string, number>): RoundEvidence => ({ routedBy: { [policy]: 4 }, servedBy, debounceMs: debounce, inForce: true });
    const rounds = (): RoundResult[] => [
        roundResult(0, { verified: 'load view', pauses: pauses(100, 200, 300), missing: 0, typedAsScripted: true, log: evidence('static', [350, 350], { coder: 3 }) }),
        roundResult(1, { verified: 'load view', pauses: pauses(50, 100, 150), missing: 0, typedAsScripted: true, log: evidence('zeta', [25, 80], { coder: 2, reasoner: 1 }) }),
        roundResult(2, { verified: 'load view', pauses: pauses(100, 200, 1300), missing: 0, typedAsScripted: true, log: evidence('static', [350, 350], { coder: 2 }) }),
        roundResult(3, { verified: 'load view', pauses: pauses(50, 100, 150), missing: 0, typedAsScripted: false, log: evidence('zeta', [25, 80], { coder: 3 }) }),
    ];
    const inputs = (over: Partial<ReportInputs> = {}): ReportInputs => ({
        command: 'npm run bench -- --workbench',
        environment: { workbench: 'code-server 4.100.3', browser: 'HeadlessChrome', models: 'tiny', cpus: 2, node: 'v20', loadAverage: { start: 0.5, end: 1 } },
        script: { seed: 1, file: 'src/geometry.py', bursts: 3, keys: 15, keyGapMs: [60, 120], pauseMs: [800, 1500], roundMs: 4000, text: 'x' },
        handling: { static: policyHandling('static'), zeta: policyHandling('zeta') },
        rounds: rounds(),
        runtimeMs: 1234.5,
        generatedAt: '2026-01-01T00:00:00.000Z',
        ...over,
    });

    it('alternates static and zeta, static first; each policy as the sim runs it', () => {
        assert.deepEqual([0, 1, 2, 3, 4].map(roundPolicy), ['static', 'zeta', 'static', 'zeta', 'static']);
        const s = policyHandling('static');
        const z = policyHandling('zeta');
        assert.deepEqual(s, { routerPolicy: 'static', debounceMinMs: BASELINE_DEBOUNCE_MS, debounceMaxMs: BASELINE_DEBOUNCE_MS });
        assert.equal(z.routerPolicy, 'zeta');
        assert.deepEqual([z.debounceMinMs, z.debounceMaxMs], [completionHandling('zeta').debounceMinMs, completionHandling('zeta').debounceMaxMs]);
        assert.ok(z.debounceMinMs < z.debounceMaxMs, 'zeta: an adaptive debounce between two bounds');
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
        assert.deepEqual(r.policies.static.servedBy, { coder: 5 });
        assert.deepEqual(r.policies.zeta.servedBy, { coder: 5, reasoner: 1 });
        assert.equal(r.policiesInForce, true);
        const unread = workbenchReport(inputs({ rounds: [roundResult(0, { verified: 'v', pauses: pauses(100), missing: 0, typedAsScripted: true })] }));
        assert.equal(unread.rounds[0].log, null);
        assert.equal(unread.policiesInForce, false);
        assert.equal(r.sim.report, null);
        assert.equal(r.runtimeMs, 1235);
        assert.ok(r.ratioInterval90.p50[0] <= r.ratio.p50 && r.ratio.p50 <= r.ratioInterval90.p50[1], JSON.stringify(r.ratioInterval90));
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
        assert.match(md, /a fixed 350 ms debounce/);
        assert.match(md, /\| static 4 \| 350 \|/);
        assert.match(md, /\| zeta 4 \| 25-80 \|/);
        assert.match(md, /zeta coder 5, reasoner 1/);
        // The zeta rounds' logs show one debounce range [25, 80]: no single value, no "less it" line.
        assert.doesNotMatch(md, /the p50 less it/);
        const fixed = workbenchReport(inputs({ rounds: rounds().map((r) => ({ ...r, log: r.log && { ...r.log, debounceMs: r.policy === 'static' ? [350, 350] as const : [25, 25] as const } })) }));
        assert.match(workbenchMarkdown(fixed), /the p50 less it: static -150 ms \(debounce 350 ms\), zeta 75 ms \(debounce 25 ms\)/);
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

describe('bench --workbench: the evidence in Zeta\'s log', () => {
    const LOG = [
        '2026-12-03 00:35:15.352 [info] model embedder loaded in 394 ms',
        '2026-12-03 00:35:26.657 [debug] route #2 completion -> coder [static]: static policy: completion always goes to coder',
        '2026-12-03 00:35:28.095 [debug] route #3 completion -> reasoner [zeta]: coder idle but slower for this task: spilled to reasoner',
        '2026-12-03 00:35:28.140 [debug] completion #3 by reasoner in 44 ms (debounce 120 ms, 48 prompt tokens, 0 reused, 64 generated): spilled',
        '2026-12-03 00:35:29.000 [info] route #4 explain -> reasoner [zeta]: not a completion',
        '2026-12-03 00:35:30.500 [debug] completion #5 by coder in 12 ms (debounce 350 ms, 40 prompt tokens, 30 reused, 8 generated): x',
        'a line without a time stamp',
    ].join('\n');
    const at = (hms: string): number => new Date(2026, 11, 3, ...hms.split(':').map(Number) as [number, number, number]).getTime();

    it('reads the route and completion lines of completions, with their local times', () => {
        const e = parseZetaLog(LOG);
        assert.equal(e.length, 4);
        assert.deepEqual(e[0], { at: at('0:35:26') + 657, kind: 'route', taskId: 2, modelId: 'coder', policy: 'static' });
        assert.deepEqual(e[2], { at: at('0:35:28') + 140, kind: 'completion', taskId: 3, modelId: 'reasoner', debounceMs: 120 });
    });

    it('checks a round\'s window against the policy and debounce it set', () => {
        const e = parseZetaLog(LOG);
        const zeta = roundEvidence(e, at('0:35:27'), at('0:35:29'), { policy: 'zeta', minMs: 25, maxMs: 600 });
        assert.deepEqual(zeta, { routedBy: { zeta: 1 }, servedBy: { reasoner: 1 }, debounceMs: [120, 120], inForce: true });
        // Both routes in the window: two policies, not in force.
        assert.equal(roundEvidence(e, at('0:35:20'), at('0:35:29'), { policy: 'zeta', minMs: 25, maxMs: 600 }).inForce, false);
        // A debounce outside the bounds set.
        const fixed = roundEvidence(e, at('0:35:27'), at('0:35:31'), { policy: 'zeta', minMs: 350, maxMs: 350 });
        assert.deepEqual(fixed.debounceMs, [120, 350]);
        assert.equal(fixed.inForce, false);
        // No route at all: nothing shows the policy.
        assert.equal(roundEvidence(e, at('0:35:30'), at('0:35:31'), { policy: 'static', minMs: 350, maxMs: 350 }).inForce, false);
    });
});
