import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile } from '../../../bench/sim/speedProfile';
import { MAX_SEEDS, parseArgs, parseSeeds } from '../../../bench/cli';
import { seedsMarkdown } from '../../../bench/report/markdown';
import { sweepSeeds } from '../../../bench/modes/seeds';
import { parseTrace, type Trace } from '../../../bench/workload/trace';
import { loadTraceFile } from '../../../bench/workload/files';
import { TRACE_SPECS, generateTrace } from '../../../bench/workload/generate';
import { defaultRoutingSettings } from '../../../src/core/router';
import { createMiniRouter } from './miniRouter';

const ROOT = join(__dirname, '..', '..', '..');

describe('bench --seeds', () => {
    it('parses single seeds, ranges and lists, and refuses the rest with what to type', () => {
        assert.deepEqual(parseSeeds('3'), [3]);
        assert.deepEqual(parseSeeds('1-4'), [1, 2, 3, 4]);
        assert.deepEqual(parseSeeds('9, 2,4-5,2'), [2, 4, 5, 9]);
        assert.throws(() => parseSeeds('1..4'), /like "1-12"/);
        assert.throws(() => parseSeeds('5-2'), /ends before it starts/);
        assert.throws(() => parseSeeds(`1-${MAX_SEEDS + 1}`), new RegExp(`at most ${MAX_SEEDS}`));
        assert.deepEqual(parseArgs(['--mode', 'sim', '--seeds', '1-3']).seeds, [1, 2, 3]);
        assert.equal(parseArgs(['--mode', 'sim']).seeds, undefined);
        assert.throws(() => parseArgs(['--mode', 'real', '--seeds', '1-3']), /--seeds is for --mode sim/);
    });

    it('regenerates only shipped traces: another trace file loads as written and refuses other seeds', () => {
        const file = join(mkdtempSync(join(tmpdir(), 'zeta-seeds-')), 'mine.jsonl');
        writeFileSync(file, '{"t":0,"kind":"completion","doc":"a","promptTokens":10,"maxTokens":4,"items":1}\n');
        assert.equal(loadTraceFile(file, 1).lines.length, 1);
        assert.throws(() => loadTraceFile(file, 2), /"mine" is not a shipped trace, so it cannot be regenerated/);
        const shipped = join(ROOT, 'bench', 'traces', 'real-typing-indexing.jsonl');
        assert.notDeepEqual(loadTraceFile(shipped, 2).lines, loadTraceFile(shipped, 1).lines);
    });

    it('runs the targets on each seed\'s trace and counts where each holds', async function () {
        this.timeout(60_000);
        const profile = loadProfile(join(ROOT, 'bench', 'profiles', 'local-generated.json'));
        const spec = TRACE_SPECS.find((s) => s.name === 'real-typing-indexing');
        assert.ok(spec);
        // The first 8 s of each seed's draw: small enough for a unit test, different per seed.
        const traceFor = (seed: number): Trace => {
            const lines = seed === 1 ? parseTrace('real-typing-indexing', readFileSync(join(ROOT, 'bench', 'traces', 'real-typing-indexing.jsonl'), 'utf8')).lines : generateTrace(spec, seed);
            return { name: 'real-typing-indexing', lines: lines.filter((l) => l.t < 8_000) };
        };
        const cost = { p50: 3, p99: 7, mean: 4, decisions: 10, models: 3, how: 'test' };
        const logged: string[] = [];
        const sweep = await sweepSeeds([1, 2], traceFor, profile, defaultRoutingSettings(), createMiniRouter, cost, (l) => logged.push(l));
        assert.deepEqual(sweep.seeds, [1, 2]);
        assert.equal(sweep.rows.length, 2);
        assert.notDeepEqual(sweep.rows[0].static, sweep.rows[1].static, 'each seed replays its own draw');
        for (const r of sweep.rows) {
            for (const q of [r.zeta, r.static, r.isolated]) assert.ok(q.p50 > 0 && q.p95 >= q.p50);
            assert.ok(r.targets.length === sweep.summary.length && r.targets.length >= 10);
            const decision = r.targets.find((t) => t.id === 'decision-cost');
            assert.ok(decision && decision.value === 7 && decision.met);
            const vsStatic = r.targets.find((t) => t.id === 'tts-p95-vs-static');
            assert.equal(vsStatic?.value, r.zeta.p95 / r.static.p95);
        }
        for (const [i, t] of sweep.summary.entries()) {
            assert.equal(t.of, 2);
            assert.equal(t.met, sweep.rows.filter((r) => r.targets[i].met).length);
            assert.ok(!(t.min > t.max));
        }
        assert.equal(sweep.allMet, sweep.rows.filter((r) => r.targets.every((t) => t.met)).length);
        assert.equal(logged.length, 2);
        const md = seedsMarkdown(sweep);
        assert.match(md, /\| zeta time to suggestion p95 <= 0\.6x static \(350 ms debounce\) \| \d of 2 seeds \|/);
        assert.match(md, /^\| 2 \| \d+ \/ \d+, \d+ \/ \d+, \d+ \/ \d+ \|/m);
        assert.match(md, new RegExp(`Every target met on ${sweep.allMet} of 2 draws\\.`));
    });
});
