import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRouter, defaultRoutingSettings } from '../../../src/core/router';
import { POLICY_NAMES } from '../../../src/core/tasks';
import { loadProfile } from '../../../bench/profileTypes';
import { runSim } from '../../../bench/sim/run';
import { settingsFor } from '../../../bench/suite';
import { completionsOnly, parseTrace } from '../../../bench/trace';

const ROOT = join(__dirname, '..', '..', '..');

describe('bench harness with the real router on the simulator', () => {
    const trace = parseTrace('real-typing-indexing', readFileSync(join(ROOT, 'bench', 'traces', 'real-typing-indexing.jsonl'), 'utf8'));
    const slice = { name: trace.name, lines: trace.lines.filter((l) => l.t < 10_000) };
    const profile = loadProfile(join(ROOT, 'bench', 'profiles', 'rtx4090-qwen2.5-trio.json'));

    for (const policy of POLICY_NAMES) {
        it(`${policy}: every request settles, superseded completions are cancelled, the rest served`, async function () {
            this.timeout(30_000);
            const r = await runSim(slice, profile, settingsFor(defaultRoutingSettings(), policy, profile), createRouter);
            assert.equal(r.replay.hung, 0);
            assert.equal(r.replay.records.length, slice.lines.length);
            for (const rec of r.replay.records) {
                assert.ok(rec.outcome !== undefined && rec.outcome !== 'hung' && rec.outcome !== 'failed', `${rec.kind} #${rec.index}: ${rec.outcome} ${rec.error ?? ''}`);
                if (rec.kind !== 'completion') assert.equal(rec.outcome, 'served', `${rec.kind} #${rec.index}: ${rec.outcome} ${rec.error ?? ''}`);
            }
            assert.ok(r.metrics.completion.served > 0);
        });
    }

    it('the isolated replay serves the completions alone', async function () {
        this.timeout(30_000);
        const r = await runSim(completionsOnly(slice), profile, settingsFor(defaultRoutingSettings(), 'static', profile), createRouter);
        assert.equal(r.replay.hung, 0);
        assert.equal(r.metrics.embed.chunks, 0);
        assert.ok(r.metrics.completion.served > 0);
    });
});
