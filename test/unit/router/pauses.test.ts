/**
 * The pause controller on its own: running jobs set up by hand on fake models, a cadence fed by
 * hand, virtual time. The router's own tests drive the same controller through whole requests.
 */
import assert from 'node:assert/strict';
import { RouterConfig } from '../../../src/core/router/config';
import { Cadence } from '../../../src/core/router/forecast';
import type { ModelEntry } from '../../../src/core/router/state';
import { PauseController } from '../../../src/core/router/pauses';
import { PAUSE_TO_END_MAX_MS, TYPING_CHUNK_MIN_TOKENS, TYPING_CHUNK_MS } from '../../../src/core/router/tuning';
import { makeSettings } from './helpers';
import { onGpu, parts, running, type Parts } from './parts';

function controller(p: Parts, cadence = new Cadence()): { pauses: PauseController; pumped: string[]; cadence: Cadence } {
    const pumped: string[] = [];
    const pauses = new PauseController({
        clock: p.clock,
        models: () => p.models.list,
        config: () => p.config,
        cadence,
        pump: (m) => pumped.push(m.id),
        emit: () => undefined,
        disposed: () => false,
    });
    return { pauses, pumped, cadence };
}

const model = (p: Parts, id: string): ModelEntry => p.models.get(id)!;

/** Keystrokes on `doc` every `gapMs`, `n` of them, advancing the clock. */
async function type(p: Parts, cadence: Cadence, n: number, gapMs: number, doc = 'a.ts'): Promise<void> {
    for (let i = 0; i < n; i++) {
        cadence.keystroke(doc, p.clock.now());
        if (i < n - 1) await p.clock.advance(gapMs);
    }
}

describe('pause controller', () => {
    it('a completion pauses lower-priority generations on every model; the last pausing completion lets them go and starts held work', async () => {
        const p = await parts(['coder', 'reasoner']);
        const { pauses, pumped } = controller(p);
        const coder = model(p, 'coder');
        const reasoner = model(p, 'reasoner');
        const explain = running(p, reasoner, 'explain');
        const edit = running(p, coder, 'edit');
        const completion = running(p, coder, 'completion');
        pauses.started(completion, coder);
        assert.ok(completion.pausesOthers);
        assert.ok(explain.gate.closed && edit.gate.closed, 'both generations wait at their gate');
        assert.equal(reasoner.paused, 1);
        assert.equal(coder.paused, 1);
        assert.ok(pauses.othersPausing(reasoner), 'nothing lower starts on the reasoner');
        assert.ok(!pauses.othersPausing(coder), "the completion's own model is not held by its own pause");
        reasoner.queue.push(running(p, reasoner, 'refactorPlan'));
        reasoner.running.pop();
        assert.equal(pauses.callEnded(completion), true, 'it was pausing others');
        pauses.release(coder);
        assert.ok(!explain.gate.closed && !edit.gate.closed);
        assert.equal(reasoner.paused + coder.paused, 0);
        assert.deepEqual(pumped, ['reasoner'], 'held work elsewhere may start now');
    });

    it('never pauses embeddings, nor work at or above the completion priority', async () => {
        const p = await parts(['coder', 'embedder']);
        const { pauses } = controller(p);
        const embed = running(p, model(p, 'embedder'), 'embed');
        const query = running(p, model(p, 'embedder'), 'embedQuery');
        const other = running(p, model(p, 'coder'), 'completion');
        const completion = running(p, model(p, 'coder'), 'completion');
        pauses.started(completion, model(p, 'coder'));
        assert.ok(!embed.gate.closed && !query.gate.closed && !other.gate.closed);
    });

    it('lets a paused job go when its slack (objective against its predicted end) runs out', async () => {
        const p = await parts(['coder', 'reasoner']);
        const { pauses } = controller(p);
        // Objective: objectiveFactor (4) x 1,000 ms of service = 4,000 ms; predicted end at 1,000 ms: 3,000 ms of slack.
        const explain = running(p, model(p, 'reasoner'), 'explain', { serviceMs: 1_000, objectiveMs: 1_500 });
        pauses.started(running(p, model(p, 'coder'), 'completion'), model(p, 'coder'));
        assert.ok(explain.gate.closed);
        await p.clock.advance(2_999);
        assert.ok(explain.gate.closed, 'still within its objective');
        await p.clock.advance(2);
        assert.ok(!explain.gate.closed, 'let go at its objective');
        assert.equal(explain.gate.pausedMs, 3_000);
    });

    it('ends the pause at the first token when the rest is long, and keeps it to the end when it is short', async () => {
        const p = await parts(['coder', 'reasoner']);
        const { pauses } = controller(p);
        const explain = running(p, model(p, 'reasoner'), 'explain');
        const short = running(p, model(p, 'coder'), 'completion');
        pauses.started(short, model(p, 'coder'));
        pauses.firstToken(short, PAUSE_TO_END_MAX_MS);
        assert.ok(explain.gate.closed, 'a short rest keeps the pause: the suggestion shows only when complete');
        pauses.callEnded(short);
        pauses.release(model(p, 'coder'));
        assert.ok(!explain.gate.closed);
        const long = running(p, model(p, 'coder'), 'completion');
        pauses.started(long, model(p, 'coder'));
        assert.ok(explain.gate.closed);
        pauses.firstToken(long, PAUSE_TO_END_MAX_MS + 1);
        assert.ok(!explain.gate.closed, 'a long rest ends the pause at the first token');
        assert.ok(!long.pausesOthers);
    });

    it('on the CPU, caps a lower-priority prompt’s chunks while typing goes on; not after a pause, not on a GPU', async () => {
        const p = await parts(['coder', 'reasoner']);
        const { pauses, cadence } = controller(p);
        const reasoner = model(p, 'reasoner');
        await type(p, cadence, 10, 150);
        const explain = running(p, reasoner, 'explain');
        pauses.started(explain, reasoner);
        assert.equal(explain.gate.chunkTokens(), Math.max(TYPING_CHUNK_MIN_TOKENS, Math.floor(TYPING_CHUNK_MS / reasoner.speed.prefillMsPerToken)));
        await p.clock.advance(cadence.quantile(0.9) + 1);
        assert.equal(explain.gate.chunkTokens(), undefined, 'the burst is over: full chunks');
        onGpu(reasoner);
        const onDevice = running(p, reasoner, 'explain');
        pauses.started(onDevice, reasoner);
        assert.equal(onDevice.gate.chunkCap, undefined, 'a GPU runs calls side by side: no cap');
    });

    it('stops a completion the next keystroke will likely replace after its first token while an explain waits for its first token, then lets it go on', async () => {
        const p = await parts(['coder', 'reasoner']);
        const { pauses, cadence } = controller(p);
        await type(p, cadence, 12, 100, 'a.ts');
        const completion = running(p, model(p, 'coder'), 'completion');
        (completion.task as { doc: string }).doc = 'a.ts';
        pauses.started(completion, model(p, 'coder'));
        // Nothing else waits: no hold (the tokens it would save are not worth a later suggestion).
        pauses.firstToken(completion, 500);
        assert.ok(!completion.gate.closed, 'not held with nothing else waiting');
        const explain = running(p, model(p, 'reasoner'), 'explain');
        pauses.firstToken(completion, 500);
        assert.ok(completion.gate.closed, 'held at its own gate while the explain waits for its first token');
        assert.equal(explain.firstTokenAt, undefined);
        assert.ok(completion.restTimer !== undefined);
        await p.clock.advance(cadence.quantile(0.9) + 1);
        assert.ok(!completion.gate.closed, 'goes on once a keystroke is no longer likely before its end');
    });

    it('on a GPU, stops a stream just before a predicted keystroke and lets it go after the user’s 90th-percentile gap', async () => {
        const p = await parts(['coder', 'reasoner']);
        const { pauses, cadence } = controller(p);
        const reasoner = model(p, 'reasoner');
        onGpu(reasoner);
        await type(p, cadence, 12, 200);
        const last = p.clock.now();
        const explain = running(p, reasoner, 'explain', { firstToken: true });
        const completion = running(p, model(p, 'coder'), 'completion');
        pauses.started(completion, model(p, 'coder'));
        pauses.callEnded(completion);
        model(p, 'coder').running.pop();
        pauses.release(model(p, 'coder'));
        assert.ok(!explain.gate.closed);
        const closedAt: number[] = [];
        const openAt: number[] = [];
        for (let t = 0; t < 400; t += 5) {
            const was = explain.gate.closed;
            await p.clock.advance(5);
            if (!was && explain.gate.closed) closedAt.push(p.clock.now() - last);
            if (was && !explain.gate.closed) openAt.push(p.clock.now() - last);
        }
        assert.equal(closedAt.length, 1, `closed once: ${closedAt.join()}`);
        assert.ok(closedAt[0] > 100 && closedAt[0] <= 200, `closed just before the next keystroke is due: ${closedAt[0]} ms after the last`);
        assert.equal(openAt.length, 1);
        assert.ok(openAt[0] >= cadence.quantile(0.9), `let go after the 90th-percentile gap: ${openAt[0]} ms`);
    });

    it('the baseline policies pause nothing and cap nothing', async () => {
        const p = await parts(['coder', 'reasoner']);
        p.config = new RouterConfig(makeSettings({ policy: 'static' }));
        const { pauses, cadence } = controller(p);
        await type(p, cadence, 10, 150);
        const explain = running(p, model(p, 'reasoner'), 'explain');
        pauses.started(explain, model(p, 'reasoner'));
        pauses.started(running(p, model(p, 'coder'), 'completion'), model(p, 'coder'));
        assert.ok(!explain.gate.closed);
        assert.equal(explain.gate.chunkTokens(), undefined);
    });
});
