import assert from 'node:assert/strict';
import { Cadence, Forecaster } from '../../../src/core/router/forecast';
import { SupersededError } from '../../../src/core/errors';
import { TYPING_CHUNK_MIN_TOKENS, TYPING_CHUNK_MS } from '../../../src/core/router/tuning';
import { chat, completion, makeFixture, pending, spec, submit, texts, words } from './helpers';

describe('forecast: arrival rates and typing cadence (virtual time)', () => {
    it('Holt rate follows a steady arrival rate and decays to zero in silence', () => {
        const fc = new Forecaster();
        let t = 0;
        for (let i = 0; i < 100; i++, t += 200) fc.arrival('explain', t, undefined);
        const r = fc.rate('explain', t);
        assert.ok(r > 4 && r < 6, `rate ${r}`);
        assert.equal(fc.rate('edit', t), 0);
        const later = fc.rate('explain', t + 30_000);
        assert.ok(later < 0.05, `rate after silence ${later}`);
    });

    it('Holt rate picks up a rising trend', () => {
        const fc = new Forecaster();
        let t = 0;
        for (let s = 1; s <= 8; s++) {
            for (let i = 0; i < s; i++) fc.arrival('completion', t + (i * 1000) / s, 'd');
            t += 1000;
        }
        assert.ok(fc.rate('completion', t) > 6, `rate ${fc.rate('completion', t)}`);
    });

    it('cadence learns this user’s inter-keystroke intervals and answers conditional probabilities', () => {
        const c = new Cadence();
        let t = 0;
        for (let i = 0; i < 40; i++, t += 120) c.keystroke('a', t);
        assert.equal(c.samples, 39);
        assert.ok(c.nextWithin(0, 200) > 0.95);
        assert.ok(c.nextWithin(0, 50) < 0.05);
        assert.ok(c.quantile(0.5) >= 100 && c.quantile(0.5) <= 150);
        // A slow typist: two-second gaps make a 200 ms completion worth starting at once.
        const slow = new Cadence();
        t = 0;
        for (let i = 0; i < 40; i++, t += 2_500) slow.keystroke('a', t);
        assert.equal(slow.holdFor(0, 200), 0);
        // The fast one: hold until the next keystroke would most likely have come.
        const h = c.holdFor(0, 200);
        assert.ok(h > 100 && h <= 150, `hold ${h}`);
    });

    it('never holds with too few samples (no fixed debounce)', () => {
        const c = new Cadence();
        c.keystroke('a', 0);
        c.keystroke('a', 100);
        assert.equal(c.holdFor(0, 500), 0);
    });

    it('router snapshot reports forecast rates per kind', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await f.clock.advance(5_000);
        for (let i = 0; i < 20; i++) {
            void submit(f, completion(`d${i}`, words(5), 2)).promise;
            await f.clock.advance(250);
        }
        const fc = f.router.snapshot().forecast;
        assert.ok((fc.completion ?? 0) > 2, JSON.stringify(fc));
        assert.equal(fc.explain, 0);
        await f.router.dispose();
    });
});

describe('router: hold-start from the learned typing cadence', () => {
    /**
     * A typing burst in a document whose prefix the coder already holds.
     * @param promptTokensPerSec the coder's prompt rate: at 25 tokens/s a keystroke's first token
     * (~200 ms) comes after the next keystroke (110 ms) is likely; at 1000 tokens/s (~15 ms) before.
     */
    async function typingBurst(hold: boolean, promptTokensPerSec = 25): Promise<{ starts: number; last: boolean; reason: string; settled: boolean }> {
        const f = makeFixture({ settings: { levers: { holdSupersedable: hold, coldStart: false } }, profiles: { coder: { promptTokensPerSec } } });
        await f.clock.advance(5_000);
        let prefix = words(200);
        // The document was completed once before: the coder holds its prefix and the router has
        // measured the coder's prefill rate.
        void submit(f, completion('doc.ts', prefix)).promise;
        await f.clock.advance(15_000);
        // Learn the cadence from an earlier session in another document.
        for (let i = 0; i < 30; i++) {
            f.router.activity({ type: 'keystroke', doc: 'other.ts' });
            await f.clock.advance(110);
        }
        await f.clock.advance(3_000);
        const all = [];
        for (let i = 0; i < 20; i++) {
            prefix += ` k${i}`;
            f.router.activity({ type: 'keystroke', doc: 'doc.ts' });
            all.push(submit(f, completion('doc.ts', prefix)));
            await f.clock.advance(110);
        }
        await f.clock.runUntilIdle(60_000);
        // Starts during the burst (the earlier completion of the document not counted).
        const starts = [...f.backends.values()].reduce((s, b) => s + b.calls.filter((c) => c.op === 'generate').length, 0) - 1;
        const last = all[all.length - 1].outcome;
        const settled = all.every((t) => t.outcome !== undefined) && all.slice(0, -1).every((t) => t.outcome && !t.outcome.ok && t.outcome.error instanceof SupersededError);
        await f.router.dispose();
        return { starts, last: last?.ok === true, reason: last?.ok ? last.value.decision.reason : String(!last?.ok && last?.error), settled };
    }

    it('holds a completion that the next keystroke will most likely supersede: far fewer wasted starts', async () => {
        const held = await typingBurst(true);
        const eager = await typingBurst(false);
        assert.ok(held.last && eager.last && held.settled && eager.settled, JSON.stringify([held, eager]));
        assert.ok(eager.starts >= 19, `eager starts ${eager.starts}`);
        assert.ok(held.starts <= 2, `held starts ${held.starts}`);
        assert.match(held.reason, /held \d+ ms first: this user's typing cadence said another keystroke was likely to replace it/);
    });

    it('does not hold when the first token comes before the next keystroke is likely (it is seen, not wasted)', async () => {
        const r = await typingBurst(true, 1000);
        assert.ok(r.last && r.settled, JSON.stringify(r));
        assert.ok(r.starts >= 19, `starts ${r.starts}`);
        assert.doesNotMatch(r.reason, /held/);
    });

    /**
     * After `keys` keystrokes `gapMs` apart in `cadenceDoc` (the cadence Zeta learns), one more in
     * `doc` and its completion of `promptWords` tokens: it must start at once and not be held.
     */
    async function assertStartsAtOnce(f: ReturnType<typeof makeFixture>, cadenceDoc: string, keys: number, gapMs: number, doc: string, promptWords: number): Promise<void> {
        await f.clock.advance(5_000);
        for (let i = 0; i < keys; i++) {
            f.router.activity({ type: 'keystroke', doc: cadenceDoc });
            await f.clock.advance(gapMs);
        }
        f.router.activity({ type: 'keystroke', doc });
        const c = submit(f, completion(doc, words(promptWords)));
        await f.clock.advance(1);
        assert.equal(f.backends.get('coder')!.stats().inFlight, 1, 'started at once');
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok);
        assert.doesNotMatch(c.outcome.value.decision.reason, /held/);
        await f.router.dispose();
    }

    it('does not hold a cold prompt: most of its prefill is the prefix the next keystroke reuses', async () => {
        await assertStartsAtOnce(makeFixture({ profiles: { coder: { promptTokensPerSec: 25 } } }), 'other.ts', 30, 110, 'cold.ts', 200);
    });

    it('does not hold on a guessed first token: the model has not measured its prefill yet', async () => {
        const f = makeFixture({ settings: { levers: { coldStart: false, spill: false } } });
        await f.clock.advance(5_000);
        // The coder has read the document, but with too few tokens to measure its prefill rate:
        // its first token is predicted from the prior for its size (~20 ms for 8 tokens), longer
        // than this typist's 15 ms gaps.
        void submit(f, completion('doc.ts', words(12))).promise;
        await f.clock.advance(15_000);
        await assertStartsAtOnce(f, 'other.ts', 30, 15, 'doc.ts', 20);
    });

    it('does not hold for a slow typist', async () => {
        await assertStartsAtOnce(makeFixture(), 'a.ts', 20, 3_000, 'a.ts', 50);
    });
});

describe('router: a completion likely to be superseded stops after its first token', () => {
    /**
     * A burst of `keys` keystrokes 110 ms apart in a document the coder holds, each with a
     * `maxTokens` completion (32: ~640 ms of decode at 50 tokens/s, far longer than the gap). With
     * `explainWords`, an explanation of that many prompt words is submitted on the reasoner as the
     * burst starts (2000 words: its prompt takes seconds, so it waits for its first token through
     * the burst). Returns each completion's token count, first token and outcome.
     */
    async function burst(hold: boolean, maxTokens = 32, keys = 6, explainWords?: number): Promise<{ tokens: number[]; outcomes: ReturnType<typeof submit>[]; firsts: number[] }> {
        const f = makeFixture({ settings: { levers: { holdSupersedable: hold, coldStart: false } } });
        await f.clock.advance(5_000);
        let prefix = words(200);
        void submit(f, completion('doc.ts', prefix, 1)).promise;
        await f.clock.advance(15_000);
        for (let i = 0; i < 30; i++) {
            f.router.activity({ type: 'keystroke', doc: 'other.ts' });
            await f.clock.advance(110);
        }
        await f.clock.advance(3_000);
        const explain = explainWords === undefined ? undefined : submit(f, chat('explain', explainWords, 40));
        const tokens: number[] = [];
        const firsts: number[] = [];
        const outcomes: ReturnType<typeof submit>[] = [];
        for (let i = 0; i < keys; i++) {
            prefix += ` k${i}`;
            tokens.push(0);
            firsts.push(0);
            const at = f.clock.now();
            f.router.activity({ type: 'keystroke', doc: 'doc.ts' });
            outcomes.push(submit(f, { ...completion('doc.ts', prefix, maxTokens), onToken: () => (tokens[i]++ === 0 ? (firsts[i] = f.clock.now() - at) : 0) } as never));
            await f.clock.advance(110);
        }
        await f.clock.runUntilIdle(600_000);
        if (explain) assert.ok(explain.outcome?.ok);
        await f.router.dispose();
        return { tokens, outcomes, firsts };
    }

    it('while an explanation waits for its first token, superseded completions generate one token instead of several; the last one is served in full and says why it waited', async () => {
        const held = await burst(true, 32, 6, 2000);
        const eager = await burst(false, 32, 6, 2000);
        for (const r of [held, eager]) {
            assert.ok(r.outcomes.slice(0, -1).every((o) => o.outcome && !o.outcome.ok && o.outcome.error instanceof SupersededError));
            assert.ok(r.firsts.every((ms) => ms > 0 && ms < 60), `first tokens ${r.firsts}`);
        }
        assert.deepEqual(held.tokens.slice(0, -1), [1, 1, 1, 1, 1]);
        assert.ok(eager.tokens.slice(0, -1).every((n) => n >= 3), `eager tokens ${eager.tokens}`);
        const last = held.outcomes[held.outcomes.length - 1].outcome;
        assert.ok(last?.ok);
        assert.equal(last.value.generatedTokens, 32);
        assert.match(last.value.decision.reason, /stopped \d+ ms after its first token: the next keystroke was likely to replace it before it ended/);
        // The hold is on its finish, not its first token.
        const heldFirst = held.firsts[held.firsts.length - 1];
        assert.ok(last.value.timings.firstTokenMs! <= heldFirst + 1);
        // (What the waiting explanation gains needs models that share a device, which these fakes
        // do not: the simulator's ablation measures it, bench/README.md.)
    });

    it('with nothing else waiting there is no hold: the tokens saved are not worth a later suggestion', async () => {
        const alone = await burst(true);
        const last = alone.outcomes[alone.outcomes.length - 1].outcome;
        assert.ok(last?.ok);
        assert.doesNotMatch(last.value.decision.reason, /stopped/);
        assert.ok(alone.tokens.slice(0, -1).every((n) => n >= 3), `tokens ${alone.tokens}`);
    });

    it('does not stop a completion when the user types slowly', async () => {
        const f = makeFixture({ settings: { levers: { coldStart: false } } });
        await f.clock.advance(5_000);
        for (let i = 0; i < 20; i++) {
            f.router.activity({ type: 'keystroke', doc: 'a.ts' });
            await f.clock.advance(3_000);
        }
        f.router.activity({ type: 'keystroke', doc: 'a.ts' });
        const c = submit(f, completion('a.ts', words(50), 32));
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok);
        assert.doesNotMatch(c.outcome.value.decision.reason, /stopped/);
        assert.ok(c.outcome.value.timings.totalMs < 31 * 20 + 200, `total ${c.outcome.value.timings.totalMs}`);
        await f.router.dispose();
    });
});

describe('router: pausing other models during a completion’s prefill', () => {
    async function explainTokensDuringCompletion(pause: boolean, explainFactor = 4): Promise<{ during: number; paused: number; ok: boolean }> {
        const f = makeFixture({
            settings: {
                levers: { holdSupersedable: false, pauseOthers: pause, coldStart: false },
                taskClasses: {
                    completion: { priority: 100, objectiveFactor: 4 },
                    embedQuery: { priority: 90, objectiveFactor: 4 },
                    edit: { priority: 60, objectiveFactor: 4 },
                    explain: { priority: 50, objectiveFactor: explainFactor },
                    refactorPlan: { priority: 40, objectiveFactor: 5 },
                    embed: { priority: 0, objectiveFactor: 20 },
                },
            },
        });
        await f.clock.advance(5_000);
        const times: number[] = [];
        const explain = submit(f, { ...chat('explain', 10, 60), onToken: () => times.push(f.clock.now()) } as never);
        await f.clock.advance(300);
        assert.ok(times.length > 0, 'explain is streaming');
        const start = f.clock.now();
        let first: number | undefined;
        let pausedSeen = 0;
        const c = submit(f, { ...completion('a.ts', words(400)), onToken: () => (first ??= f.clock.now()) } as never);
        await f.clock.advance(1);
        pausedSeen = f.router.snapshot().models.find((m) => m.id === 'reasoner')!.paused;
        await f.clock.runUntilIdle(600_000);
        assert.ok(c.outcome?.ok && explain.outcome?.ok);
        assert.equal(c.outcome.value.modelId, 'coder');
        const during = times.filter((t) => t > start && t < first!).length;
        await f.router.dispose();
        return { during, paused: pausedSeen, ok: true };
    }

    it('holds other models’ streams between tokens until the completion’s first token', async () => {
        const on = await explainTokensDuringCompletion(true);
        const off = await explainTokensDuringCompletion(false);
        assert.ok(on.during <= 1, `tokens during prefill with pausing: ${on.during}`);
        assert.equal(on.paused, 1);
        assert.ok(off.during >= 8, `tokens during prefill without pausing: ${off.during}`);
        assert.equal(off.paused, 0);
    });

    /**
     * A lower-priority `stream` runs for 300 ms, then a completion of `completionWords` tokens
     * arrives. Returns when each produced its first token, the stream's token times, how many jobs
     * `pausedModel` had paused 1 ms after the completion arrived, and the router after the run.
     */
    async function streamThenCompletion(
        pause: boolean,
        stream: ReturnType<typeof chat>,
        completionWords: number,
        pausedModel: string,
        fixture: Parameters<typeof makeFixture>[0] = {},
        completionMaxTokens = 8,
    ): Promise<{ streamTimes: number[]; start: number; completionFirst: number; completionLast: number; paused: number; streamModel: string; completionModel: string; snapshot: ReturnType<ReturnType<typeof makeFixture>['router']['snapshot']> }> {
        const f = makeFixture({ ...fixture, settings: { levers: { holdSupersedable: false, pauseOthers: pause, coldStart: false } } });
        await f.clock.advance(5_000);
        const streamTimes: number[] = [];
        const x = submit(f, { ...stream, onToken: () => streamTimes.push(f.clock.now()) } as never);
        await f.clock.advance(300);
        const start = f.clock.now();
        let completionFirst = 0;
        let completionLast = 0;
        const onToken = (): void => {
            completionFirst ||= f.clock.now();
            completionLast = f.clock.now();
        };
        const c = submit(f, { ...completion('a.ts', words(completionWords), completionMaxTokens), onToken } as never);
        await f.clock.advance(1);
        const paused = f.router.snapshot().models.find((m) => m.id === pausedModel)!.paused;
        await f.clock.runUntilIdle(600_000);
        assert.ok(c.outcome?.ok && x.outcome?.ok);
        const snapshot = f.router.snapshot();
        await f.router.dispose();
        return { streamTimes, start, completionFirst, completionLast, paused, streamModel: x.outcome.value.modelId, completionModel: c.outcome.value.modelId, snapshot };
    }

    it('pauses a stream still in its prefill between chunks, and learns its speed without the pause', async () => {
        // 2,000 prompt tokens at 500 tokens/s: 4 s of prefill on the reasoner; the completion's
        // 1,500 tokens at 1,000 tokens/s arrive 300 ms in and take the coder 1.5 s.
        const run = (pause: boolean): ReturnType<typeof streamThenCompletion> => streamThenCompletion(pause, chat('explain', 2_000, 4), 1_500, 'reasoner');
        const on = await run(true);
        const off = await run(false);
        for (const r of [on, off]) assert.deepEqual([r.completionModel, r.streamModel], ['coder', 'reasoner']);
        assert.equal(on.paused, 1);
        assert.equal(off.paused, 0);
        // Paused for the completion's prefill: the explanation's first token comes about 1.5 s later.
        assert.ok(on.streamTimes[0] - off.streamTimes[0] > 1_200, `explain first token ${on.streamTimes[0]} with pausing, ${off.streamTimes[0]} without`);
        // The learned prompt speed leaves the pause out (the fake evaluates 500 tokens/s).
        const promptTps = on.snapshot.models.find((m) => m.id === 'reasoner')!.promptTokensPerSec ?? 0;
        assert.ok(Math.abs(promptTps - 500) / 500 < 0.1, `learned ${promptTps} tokens/s`);
    });

    it('pauses a lower-priority stream on the completion’s own model too', async () => {
        const models = [spec('coder', { slots: 2 }), spec('reasoner'), spec('embedder')];
        const run = (pause: boolean): ReturnType<typeof streamThenCompletion> => streamThenCompletion(pause, chat('edit', 10, 80), 400, 'coder', { models });
        const during = (r: Awaited<ReturnType<typeof streamThenCompletion>>): number => r.streamTimes.filter((t) => t > r.start && t < r.completionFirst).length;
        const on = await run(true);
        const off = await run(false);
        for (const r of [on, off]) {
            assert.deepEqual([r.completionModel, r.streamModel], ['coder', 'coder']);
            assert.ok(r.streamTimes.some((t) => t < r.start), 'the edit was streaming');
        }
        assert.equal(on.paused, 1);
        assert.ok(during(on) <= 1, `edit tokens during the completion prefill with pausing: ${during(on)}`);
        assert.equal(off.paused, 0);
        assert.ok(during(off) >= 8, `edit tokens during the completion prefill without pausing: ${during(off)}`);
    });

    it('keeps the pause to the end of a completion whose rest is short, and ends it at the first token otherwise', async () => {
        // The coder decodes 50 tokens/s: 7 more tokens take 140 ms (within PAUSE_TO_END_MAX_MS), 39 take 780 ms.
        const during = (r: Awaited<ReturnType<typeof streamThenCompletion>>): number => r.streamTimes.filter((t) => t > r.completionFirst && t < r.completionLast).length;
        const short = await streamThenCompletion(true, chat('explain', 10, 200), 100, 'reasoner', {}, 8);
        const long = await streamThenCompletion(true, chat('explain', 10, 200), 100, 'reasoner', {}, 40);
        assert.equal(during(short), 0, 'the explanation waits until the short completion has ended');
        assert.ok(during(long) >= 5, `explanation tokens while the long completion decodes: ${during(long)}`);
    });

    /**
     * An explanation streams on the reasoner; a keystroke's completion of 40 tokens (780 ms of
     * rest at the coder's 50 tokens/s) follows `keys` keystrokes 110 ms apart, and no keystroke
     * after it. Returns the explanation's token times and the completion's first and last token.
     */
    async function quietRun(keys: number): Promise<{ times: number[]; first: number; last: number }> {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false, coldStart: false } } });
        await f.clock.advance(5_000);
        const times: number[] = [];
        const explain = submit(f, { ...chat('explain', 10, 400), onToken: () => times.push(f.clock.now()) } as never);
        for (let i = 0; i < keys; i++) {
            f.router.activity({ type: 'keystroke', doc: 'a.ts' });
            await f.clock.advance(110);
        }
        f.router.activity({ type: 'keystroke', doc: 'a.ts' });
        let first = 0;
        let last = 0;
        const c = submit(f, { ...completion('a.ts', words(100), 40), onToken: () => ((first ||= f.clock.now()), (last = f.clock.now())) } as never);
        await f.clock.runUntilIdle(600_000);
        assert.ok(c.outcome?.ok && explain.outcome?.ok);
        await f.router.dispose();
        return { times, first, last };
    }

    it('pauses others again for the rest of a long completion once the typing burst has likely ended', async () => {
        const window = (r: Awaited<ReturnType<typeof quietRun>>, from: number): number => r.times.filter((t) => t > r.first + from && t < r.last).length;
        // A learned cadence of 110 ms gaps: a few hundred ms without a keystroke means the burst is over.
        const typed = await quietRun(30);
        assert.ok(window(typed, 0) >= 1, `the explanation goes on right after the first token: ${window(typed, 0)}`);
        assert.equal(window(typed, 400), 0, 'no explanation token in the completion’s last 400 ms');
        // No cadence to go by: the pause ends at the first token, as before.
        const unknown = await quietRun(0);
        assert.ok(window(unknown, 400) >= 5, `explanation tokens in the last 400 ms without a cadence: ${window(unknown, 400)}`);
    });

    it('does not pause a stream that would miss its own objective', async () => {
        const tight = await explainTokensDuringCompletion(true, 1);
        assert.equal(tight.paused, 0);
        assert.ok(tight.during >= 8);
    });
});

describe('router: nothing lower-priority starts during a completion prefill (pauseOthers)', () => {
    it('an explanation submitted during a completion prefill starts at its first token', async () => {
        const run = async (pause: boolean): Promise<{ explainStart: number; first: number }> => {
            const f = makeFixture({ settings: { levers: { holdSupersedable: false, pauseOthers: pause, coldStart: false } } });
            await f.clock.advance(5_000);
            let first = 0;
            const c = submit(f, { ...completion('a.ts', words(400)), onToken: () => (first ||= f.clock.now()) } as never);
            await f.clock.advance(50);
            const x = submit(f, chat('explain', 10, 5));
            await f.clock.runUntilIdle(60_000);
            assert.ok(c.outcome?.ok && x.outcome?.ok);
            assert.equal(x.outcome.value.modelId, 'reasoner');
            const explainStart = f.backends.get('reasoner')!.calls.find((k) => k.op === 'chat')!.at;
            await f.router.dispose();
            return { explainStart, first };
        };
        const on = await run(true);
        assert.ok(on.explainStart >= on.first, `explain started at ${on.explainStart}, completion first token at ${on.first}`);
        const off = await run(false);
        assert.ok(off.explainStart < off.first);
    });
});

describe('router: headroom for completions', () => {
    /** Indexing alone for 3 s, then typing for 2 s at 100 ms per keystroke, each keystroke a completion. */
    async function typingOverIndexing(levers: { forecastHeadroom: boolean; pauseOthers: boolean }): Promise<{ indexDone: number; overlapping: number }> {
        const f = makeFixture({ settings: { embedBatchSize: 8, levers: { ...levers, holdSupersedable: false } } });
        await f.clock.advance(5_000);
        const t0 = f.clock.now();
        const index = submit(f, { kind: 'embed', texts: texts(1000) });
        await f.clock.advance(3_000);
        for (let i = 0; i < 20; i++) {
            f.router.activity({ type: 'keystroke', doc: 'a.ts' });
            void submit(f, completion('a.ts', words(20 + i), 8)).promise;
            await f.clock.advance(100);
        }
        await f.clock.runUntilIdle(600_000);
        assert.ok(index.outcome?.ok);
        const gens = f.backends.get('coder')!.calls.filter((c) => c.op === 'generate');
        const batches = f.backends.get('embedder')!.calls.filter((c) => c.op === 'embed');
        const overlapping = batches.filter((b) => gens.some((g) => b.at >= g.at && b.at < g.endAt!)).length;
        await f.router.dispose();
        return { indexDone: index.outcome.at - t0, overlapping };
    }

    it('holds background batches while a completion is almost certain to arrive, within its bound; indexing still finishes', async () => {
        // pauseOthers off: it alone already keeps batches from starting during a completion (next test).
        const on = await typingOverIndexing({ forecastHeadroom: true, pauseOthers: false });
        const off = await typingOverIndexing({ forecastHeadroom: false, pauseOthers: false });
        assert.ok(on.overlapping < off.overlapping, `batches started during a completion: ${on.overlapping} vs ${off.overlapping}`);
        assert.ok(on.indexDone <= 1.5 * off.indexDone, `${on.indexDone} vs ${off.indexDone}`);
    });

    it('on a GPU a batch is held at lower odds of a keystroke than on the CPU (HEADROOM_CONFIDENCE_GPU)', async () => {
        /** Typing with uneven gaps over indexing; returns the text batches started within 20 ms before a keystroke. */
        const run = async (gpu: boolean): Promise<{ late: number; done: number }> => {
            const memory = { ramBytes: 1e9, vramBytes: gpu ? 2e9 : 0 };
            const f = makeFixture({ profiles: { embedder: { memory } }, settings: { embedBatchSize: 1, levers: { holdSupersedable: false, pauseOthers: false } } });
            await f.clock.advance(5_000);
            const t0 = f.clock.now();
            const index = submit(f, { kind: 'embed', texts: texts(3000) });
            const keys: number[] = [];
            const gaps = [90, 150, 110, 260, 70, 130, 180, 100, 320, 120];
            for (let i = 0; i < 60; i++) {
                f.router.activity({ type: 'keystroke', doc: 'a.ts' });
                keys.push(f.clock.now());
                void submit(f, completion('a.ts', words(20 + i), 2)).promise;
                await f.clock.advance(gaps[i % gaps.length]);
            }
            await f.clock.runUntilIdle(600_000);
            assert.ok(index.outcome?.ok);
            const batches = f.backends.get('embedder')!.calls.filter((c) => c.op === 'embed');
            const late = batches.filter((b) => keys.some((k) => k > b.at && k - b.at <= 20)).length;
            await f.router.dispose();
            return { late, done: index.outcome.at - t0 };
        };
        const gpu = await run(true);
        const cpu = await run(false);
        assert.ok(gpu.late < cpu.late, `batches started just before a keystroke: GPU ${gpu.late}, CPU ${cpu.late}`);
        assert.ok(gpu.done <= 1.5 * cpu.done, `indexing ${gpu.done} vs ${cpu.done} ms`);
    });

    it('a completion that supersedes another takes its pause over: held batches do not start at the keystroke', async () => {
        // Each 8-token completion is paused to its end (its rest is short) and superseded 100 ms in.
        const paused = await typingOverIndexing({ forecastHeadroom: false, pauseOthers: true });
        const free = await typingOverIndexing({ forecastHeadroom: false, pauseOthers: false });
        assert.ok(paused.overlapping <= 1, `batches started during a completion with pausing: ${paused.overlapping}`);
        assert.ok(free.overlapping >= 15, `without pausing: ${free.overlapping}`);
        assert.ok(paused.indexDone <= 1.5 * free.indexDone, `${paused.indexDone} vs ${free.indexDone}`);
    });
});

describe('router: forecast pre-load', () => {
    it('reloads an evicted model shortly before its forecast work arrives', async () => {
        const f = makeFixture({ settings: { memoryBudgetBytes: 12.5e9, levers: { spill: false, holdSupersedable: false } } });
        await f.clock.advance(5_000);
        // Explanations every second: the reasoner's work is forecast.
        for (let i = 0; i < 8; i++) {
            void submit(f, chat('explain', 10, 3)).promise;
            await f.clock.advance(1_000);
        }
        // An embedding evicts the idle reasoner...
        const q = submit(f, { kind: 'embedQuery', texts: ['x'] });
        await f.clock.advance(400);
        assert.ok(q.outcome?.ok);
        // ...which is loaded back before the next explanation arrives.
        await f.clock.advance(1_000);
        assert.equal(f.router.snapshot().models.find((m) => m.id === 'reasoner')!.residency, 'loaded');
        assert.ok(f.log.info.some((l) => /^pre-loading reasoner: explain expected within \d+ ms$/.test(l)), f.log.info.join('\n'));
        const e = submit(f, chat('explain', 10, 3));
        await f.clock.advance(1);
        assert.equal(f.router.snapshot().recentDecisions[0].candidates.find((c) => c.modelId === 'reasoner')!.waitMs, 0);
        await f.clock.runUntilIdle(600_000);
        assert.ok(e.outcome?.ok);
        await f.router.dispose();
    });
});

describe('router: streaming work stops before a predicted keystroke (forecastHeadroom)', () => {
    /**
     * An explanation streams on the reasoner (10 ms a token, on a GPU: `gpu` false puts it on the CPU)
     * while the user types a keystroke every 200 ms, each with a short completion. Returns the
     * explanation's token times and the keystrokes.
     */
    async function burst(headroom: boolean, gpu = true): Promise<{ times: number[]; keys: number[] }> {
        const memory = { ramBytes: 1e9, vramBytes: gpu ? 8e9 : 0 };
        const f = makeFixture({ profiles: { reasoner: { decodeTokensPerSec: 100, memory } }, settings: { levers: { holdSupersedable: false, coldStart: false, forecastHeadroom: headroom } } });
        await f.clock.advance(5_000);
        const times: number[] = [];
        const explain = submit(f, { ...chat('explain', 10, 1500), onToken: () => times.push(f.clock.now()) } as never);
        await f.clock.advance(300);
        const keys: number[] = [];
        const completions = [];
        for (let i = 0; i < 30; i++) {
            f.router.activity({ type: 'keystroke', doc: 'a.ts' });
            keys.push(f.clock.now());
            completions.push(submit(f, completion('a.ts', words(100 + i), 2)));
            await f.clock.advance(200);
        }
        await f.clock.runUntilIdle(600_000);
        assert.ok(explain.outcome?.ok);
        assert.ok(completions.every((c) => c.outcome !== undefined));
        await f.router.dispose();
        return { times, keys };
    }

    it('once the cadence is learned, no explanation token in the 20 ms before a keystroke; it streams in the gaps', async () => {
        const count = (r: { times: number[]; keys: number[] }, from: number, to: number): number => {
            let n = 0;
            // Keystrokes after the first 10: the cadence has its samples.
            for (const k of r.keys.slice(11)) n += r.times.filter((t) => t >= k - 200 + from && t < k - 200 + to).length;
            return n;
        };
        const on = await burst(true);
        const off = await burst(false);
        assert.equal(count(on, 180, 200), 0, 'tokens just before keystrokes with the lever');
        assert.ok(count(off, 180, 200) >= 10, `tokens just before keystrokes without it: ${count(off, 180, 200)}`);
        // It streams once the keystroke's completion is done, until the next keystroke gets likely.
        assert.ok(count(on, 40, 100) >= 20, `the explanation streams in the gaps: ${count(on, 40, 100)}`);
        // On the CPU (one evaluation thread, taken in turns) streams are not held for a prediction.
        const cpu = await burst(true, false);
        assert.ok(count(cpu, 180, 200) >= 10, `tokens just before keystrokes on the CPU: ${count(cpu, 180, 200)}`);
    });
});

describe('router: shorter prefill chunks for lower-priority work while typing goes on (CPU, bench/FINDINGS.md F43)', () => {
    /**
     * An explanation's prefill on a CPU reasoner at 100 prompt tokens/s (10 ms a token), with a
     * keystroke every 150 ms all along (`typing`) or none for 5 s before it. Returns the prompt
     * tokens of each of its prefill chunks (the fake backend's own size is 64).
     */
    async function explainChunks(policy: 'zeta' | 'static', typing: boolean, gpu = false): Promise<number[]> {
        const memory = { ramBytes: 8e9, vramBytes: gpu ? 8e9 : 0 };
        const f = makeFixture({
            settings: { policy, levers: { holdSupersedable: false, coldStart: false, spill: false } },
            models: [spec('coder'), spec('reasoner')],
            profiles: { reasoner: { promptTokensPerSec: 100, memory } },
        });
        await f.clock.advance(5_000);
        // A first explanation measures the reasoner's prefill rate.
        const first = submit(f, chat('explain', 200, 2));
        await f.clock.runUntilIdle(60_000);
        assert.ok(first.outcome?.ok);
        for (let i = 0; i < 12; i++) {
            f.router.activity({ type: 'keystroke', doc: 'a.ts' });
            await f.clock.advance(150);
        }
        if (!typing) await f.clock.advance(5_000);
        const e = submit(f, chat('explain', 300, 2));
        for (let i = 0; typing && i < 60 && pending(e); i++) {
            f.router.activity({ type: 'keystroke', doc: 'a.ts' });
            await f.clock.advance(150);
        }
        await f.clock.runUntilIdle(60_000);
        assert.ok(e.outcome?.ok);
        assert.equal(e.outcome.value.modelId, 'reasoner');
        const calls = f.backends.get('reasoner')!.calls;
        await f.router.dispose();
        return calls[calls.length - 1].chunks ?? [];
    }

    it('zeta cuts them to about TYPING_CHUNK_MS at the measured rate while the burst goes on, and only then', async () => {
        const typing = await explainChunks('zeta', true);
        const expected = Math.max(TYPING_CHUNK_MIN_TOKENS, Math.floor(TYPING_CHUNK_MS / 10));
        assert.ok(typing.length >= 8, `chunks: ${typing.join(',')}`);
        for (const n of typing.slice(0, -1)) assert.ok(n >= TYPING_CHUNK_MIN_TOKENS && n <= expected * 1.2, `chunks while typing: ${typing.join(',')}`);
        const quiet = await explainChunks('zeta', false);
        assert.deepEqual(new Set(quiet.slice(0, -1)), new Set([64]), `chunks with no keystroke for 5 s: ${quiet.join(',')}`);
    });

    it('baselines keep the backend’s own size, and so does a model on a GPU', async () => {
        const stat = await explainChunks('static', true);
        assert.deepEqual(new Set(stat.slice(0, -1)), new Set([64]), `static while typing: ${stat.join(',')}`);
        const gpu = await explainChunks('zeta', true, true);
        assert.deepEqual(new Set(gpu.slice(0, -1)), new Set([64]), `zeta on a GPU while typing: ${gpu.join(',')}`);
    });
});
