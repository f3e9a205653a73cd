import assert from 'node:assert/strict';
import { NoCapableModelError, SupersededError } from '../../../src/core/errors';
import { chat, completion, makeFixture, makeSettings, ready, spec, submit, texts, words } from './helpers';
import type { CompletionTask, Task } from '../../../src/core/tasks';
import type { FakeCall } from '../../../src/backends/fakeBackend';

describe('router: spill rules (zeta)', () => {
    const noHold = { levers: { holdSupersedable: false } };

    it('coder overloaded: a completion goes to a smaller model with a FIM template and free capacity', async () => {
        const f = makeFixture({ settings: noHold });
        await ready(f);
        const edit = submit(f, chat('edit', 30, 100)); // ~2 s on the coder
        await f.clock.advance(100);
        const c = submit(f, completion('a.ts', words(50)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(edit.outcome?.ok && c.outcome?.ok);
        assert.equal(edit.outcome.value.modelId, 'coder');
        assert.equal(c.outcome.value.modelId, 'embedder', c.outcome.value.decision.reason);
        assert.match(c.outcome.value.decision.reason, /^coder busy \(0 waiting, ~\d+ ms\): spilled to embedder, predicted \d+ ms vs \d+ ms/);
        await f.router.dispose();
    });

    it('does not spill to a model without a FIM template', async () => {
        const f = makeFixture({
            settings: { ...noHold, taskClasses: { ...makeSettings().taskClasses, completion: { priority: 100, objectiveFactor: 100 } } },
            profiles: { embedder: { fim: undefined }, reasoner: { fim: undefined } },
        });
        await ready(f);
        const edit = submit(f, chat('edit', 30, 100));
        await f.clock.advance(100);
        const c = submit(f, completion('a.ts', words(50)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(edit.outcome?.ok && c.outcome?.ok);
        assert.equal(c.outcome.value.modelId, 'coder');
        const excluded = c.outcome.value.decision.candidates.filter((x) => x.excluded === 'no fill-in-the-middle template').map((x) => x.modelId);
        assert.deepEqual(excluded.sort(), ['embedder', 'reasoner']);
        await f.router.dispose();
    });

    it('an idle coder keeps completions (quality counts): no spill without load', async () => {
        const f = makeFixture({ settings: noHold });
        await ready(f);
        for (let i = 0; i < 5; i++) {
            const c = submit(f, completion(`d${i}.ts`, words(50)));
            await f.clock.runUntilIdle(60_000);
            assert.ok(c.outcome?.ok);
            assert.equal(c.outcome.value.modelId, 'coder', c.outcome.value.decision.reason);
        }
        await f.router.dispose();
    });

    it('reasoner idle: it takes an edit from a busy coder', async () => {
        const f = makeFixture({ settings: noHold });
        await ready(f);
        const first = submit(f, chat('edit', 30, 100));
        await f.clock.advance(50);
        const second = submit(f, chat('edit', 30, 20));
        await f.clock.runUntilIdle(60_000);
        assert.ok(first.outcome?.ok && second.outcome?.ok);
        assert.equal(first.outcome.value.modelId, 'coder');
        assert.equal(second.outcome.value.modelId, 'reasoner', second.outcome.value.decision.reason);
        await f.router.dispose();
    });

    it('spill lever off: work stays on its model however busy', async () => {
        const f = makeFixture({
            settings: { levers: { holdSupersedable: false, spill: false }, taskClasses: { ...makeSettings().taskClasses, completion: { priority: 100, objectiveFactor: 100 } } },
        });
        await ready(f);
        const first = submit(f, chat('edit', 30, 100));
        await f.clock.advance(50);
        const second = submit(f, chat('edit', 30, 20));
        const c = submit(f, completion('a.ts', words(20)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(first.outcome?.ok && second.outcome?.ok && c.outcome?.ok);
        assert.equal(second.outcome.value.modelId, 'coder');
        assert.equal(c.outcome.value.modelId, 'coder');
        await f.router.dispose();
    });

    it('embeddings never cross spaces: the only model of the space serves even when busy', async () => {
        const f = makeFixture({ settings: noHold });
        await ready(f);
        const index = submit(f, { kind: 'embed', texts: texts(200), space: 'space-embedder' });
        await f.clock.advance(20);
        const q = submit(f, { kind: 'embedQuery', texts: ['where is main'], space: 'space-embedder' });
        const onCoder = submit(f, { kind: 'embedQuery', texts: ['x'], space: 'space-coder' });
        const nowhere = submit(f, { kind: 'embedQuery', texts: ['x'], space: 'space-of-another-model' });
        await f.clock.runUntilIdle(60_000);
        assert.ok(index.outcome?.ok && q.outcome?.ok && onCoder.outcome?.ok);
        assert.equal(index.outcome.value.modelId, 'embedder');
        assert.equal(index.outcome.value.space, 'space-embedder');
        assert.equal(q.outcome.value.modelId, 'embedder');
        for (const cand of q.outcome.value.decision.candidates) {
            if (cand.modelId !== 'embedder') assert.equal(cand.excluded, 'other embedding space');
        }
        assert.equal(onCoder.outcome.value.modelId, 'coder');
        assert.equal(onCoder.outcome.value.space, 'space-coder');
        assert.ok(nowhere.outcome && !nowhere.outcome.ok);
        assert.ok(nowhere.outcome.error instanceof NoCapableModelError, String(nowhere.outcome.error));
        await f.router.dispose();
    });

    it('an embed task without a space binds to the embedder space and keeps it for every batch', async () => {
        const f = makeFixture({ settings: { ...noHold, embedBatchSize: 4 } });
        await ready(f);
        const index = submit(f, { kind: 'embed', texts: texts(40) });
        await f.clock.runUntilIdle(60_000);
        assert.ok(index.outcome?.ok);
        assert.equal(index.outcome.value.space, 'space-embedder');
        assert.equal(index.outcome.value.vectors?.length, 40);
        const embedCalls = f.backends.get('embedder')!.calls.filter((c) => c.op === 'embed');
        assert.equal(embedCalls.length, 10);
        assert.equal(f.backends.get('coder')!.calls.filter((c) => c.op === 'embed').length, 0);
        await f.router.dispose();
    });

    it('prefix affinity: a completion prefers the model holding its document prefix (reused tokens are free)', async () => {
        const run = async (affinity: boolean): Promise<string> => {
            const f = makeFixture({
                settings: { levers: { holdSupersedable: false, prefixAffinity: affinity } },
                models: [spec('coder'), spec('coder', { id: 'coder2' })],
            });
            await ready(f);
            // The coder is busy: the document's first completion lands on coder2.
            const edit = submit(f, chat('edit', 30, 50));
            await f.clock.advance(20);
            const base = words(400);
            const first = submit(f, completion('doc.ts', base));
            await f.clock.runUntilIdle(60_000);
            assert.ok(edit.outcome?.ok && first.outcome?.ok);
            assert.equal(first.outcome.value.modelId, 'coder2');
            // Both idle now; the next keystroke's completion.
            const next = submit(f, completion('doc.ts', base + ' x'));
            await f.clock.runUntilIdle(60_000);
            assert.ok(next.outcome?.ok);
            if (affinity) {
                assert.ok(next.outcome.value.decision.candidates.find((c) => c.modelId === 'coder2')!.reusedTokens > 350);
                assert.ok(next.outcome.value.reusedPromptTokens > 350);
                assert.match(next.outcome.value.decision.reason, /reuses \d+ cached prompt tokens/);
            }
            await f.router.dispose();
            return next.outcome.value.modelId;
        };
        assert.equal(await run(true), 'coder2');
        assert.equal(await run(false), 'coder');
    });
});

describe('router: cold start (zeta)', () => {
    const noHold = { levers: { holdSupersedable: false } };
    // 400 prompt tokens: about 410 ms to the first token on the coder (1,000 tokens/s), 205 ms on the embedder (2,000).
    const cold = (extra = ''): ReturnType<typeof completion> => completion('a.ts', words(400) + extra);

    it('a cold completion is answered by a much faster model while the coder reads the document; then the coder serves again', async () => {
        const f = makeFixture({ settings: noHold });
        await ready(f);
        const first = submit(f, cold());
        await f.clock.advance(50);
        // The next keystroke while the coder is still reading: the embedder has the document.
        const second = submit(f, cold(' x'));
        await f.clock.runUntilIdle(60_000);
        assert.ok(first.outcome && !first.outcome.ok, 'the first keystroke is superseded by the second');
        assert.ok(second.outcome?.ok);
        assert.equal(second.outcome.value.modelId, 'embedder', second.outcome.value.decision.reason);
        const coderCalls = f.backends.get('coder')!.calls.filter((c) => c.op === 'generate' && c.cacheKey === 'a.ts');
        assert.equal(coderCalls.length, 1, 'one background read of a.ts on the coder');
        assert.equal(coderCalls[0].outcome, 'ok');
        const snap = f.router.snapshot();
        assert.ok(snap.recentDecisions.some((d) => /^cold start: coder would first read \d+ tokens/.test(d.reason)), snap.recentDecisions.map((d) => d.reason).join('\n'));
        // Once read, the coder serves the document's completions from its cache.
        const third = submit(f, cold(' x y'));
        await f.clock.runUntilIdle(60_000);
        assert.ok(third.outcome?.ok);
        assert.equal(third.outcome.value.modelId, 'coder', third.outcome.value.decision.reason);
        assert.ok(third.outcome.value.reusedPromptTokens >= 400, `reused ${third.outcome.value.reusedPromptTokens}`);
        await f.router.dispose();
    });

    it('lever off: the cold completion waits for the coder', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false, coldStart: false } } });
        await ready(f);
        const c = submit(f, cold());
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok);
        assert.equal(c.outcome.value.modelId, 'coder');
        assert.equal(f.backends.get('coder')!.calls.filter((k) => k.op === 'generate' && k.cacheKey === 'a.ts').length, 1);
        await f.router.dispose();
    });

    it('not when the faster model gains too little, nor when the user dismisses its suggestions', async () => {
        const close = makeFixture({ settings: noHold, profiles: { embedder: { promptTokensPerSec: 1100, memory: { ramBytes: 3.5e9, vramBytes: 0 } } } });
        await ready(close);
        const a = submit(close, cold());
        await close.clock.runUntilIdle(60_000);
        assert.ok(a.outcome?.ok);
        assert.equal(a.outcome.value.modelId, 'coder', a.outcome.value.decision.reason);
        await close.router.dispose();

        const f = makeFixture({ settings: noHold });
        await ready(f);
        for (let i = 0; i < 40; i++) f.router.feedback({ modelId: 'embedder', kind: 'completion', event: 'dismissed' });
        const b = submit(f, cold());
        await f.clock.runUntilIdle(60_000);
        assert.ok(b.outcome?.ok);
        assert.equal(b.outcome.value.modelId, 'coder', b.outcome.value.decision.reason);
        await f.router.dispose();
    });
});

describe('router: what the backend holds bounds the predicted reuse', () => {
    it('a document whose tokens the backend no longer holds is predicted cold, whatever the router remembers', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await ready(f);
        const first = submit(f, completion('a.ts', words(300)));
        await f.clock.runUntilIdle(60_000);
        assert.ok(first.outcome?.ok);
        const next = completion('a.ts', `${words(300)} more`);
        const coderReuse = (): number => f.router.decide(next).candidates.find((c) => c.modelId === 'coder')!.reusedTokens;
        assert.ok(coderReuse() >= 290, `held: ${coderReuse()}`);
        // The backend evicted the key (another document took the slot, or a prefill was aborted part-way).
        const coder = f.backends.get('coder')!;
        const held = 40;
        coder.cachedTokens = (): number => held;
        assert.equal(coderReuse(), held);
        await f.router.dispose();
    });
});

describe('router: what a superseded cold read left behind is predicted as reused', () => {
    it('a keystroke that supersedes a cold prompt part-way through its prefill counts the chunks already read', async () => {
        // coldStart off: the coder must serve both, so the decision shows its own estimate.
        const f = makeFixture({ settings: { levers: { holdSupersedable: false, coldStart: false, spill: false } } });
        await ready(f);
        const prefix = words(600);
        // 600 tokens at 1,000 tokens/s in 64-token chunks: 300 ms in, about 256 are read.
        const cold = submit(f, completion('a.ts', prefix));
        await f.clock.advance(300);
        const coder = f.backends.get('coder')!;
        const readSoFar = coder.cachedTokens('a.ts');
        assert.ok(readSoFar >= 192 && readSoFar <= 320, `read so far: ${readSoFar}`);
        const next = submit(f, completion('a.ts', `${prefix} k`));
        await f.clock.runUntilIdle(60_000);
        assert.ok(cold.outcome && !cold.outcome.ok && cold.outcome.error instanceof SupersededError);
        assert.ok(next.outcome?.ok);
        const predicted = next.outcome.value.decision.candidates.find((c) => c.modelId === 'coder')!.reusedTokens;
        assert.equal(predicted, readSoFar, 'the prediction takes what the model had read when the keystroke came');
        // The model then reused at least that much (the chunk in flight completed too).
        assert.ok(next.outcome.value.reusedPromptTokens >= predicted && next.outcome.value.reusedPromptTokens <= predicted + 64, `reused ${next.outcome.value.reusedPromptTokens}`);
        await f.router.dispose();
    });
});

describe('router: predicted reuse follows the order the model reads the prompt', () => {
    it('a keystroke within the line reuses prefix, suffix and the line; a new line reuses the prefix only', async () => {
        const f = makeFixture({ settings: { levers: { holdSupersedable: false } } });
        await ready(f);
        const prefix = `${words(200)}\n`;
        const suffix = words(150, 's');
        const task = (p: string, middle: string): Task => ({ kind: 'completion', doc: 'a.ts', prefix: p, middle, suffix, maxTokens: 8 });
        const first = submit(f, task(prefix, 'const total = w1'));
        await f.clock.runUntilIdle(60_000);
        assert.ok(first.outcome?.ok);
        const promptTokens = first.outcome.value.promptTokens;
        const coderReuse = (t: Task): number => f.router.decide(t).candidates.find((c) => c.modelId === 'coder')!.reusedTokens;
        // Typing in the line: only the end of the middle changes, after prefix and suffix.
        const typed = coderReuse(task(prefix, 'const total = w12'));
        assert.ok(typed >= promptTokens - 8, `typed: ${typed} of ${promptTokens}`);
        // The line is finished: the prefix grows at its end and everything after it is read again.
        const newLine = coderReuse(task(`${prefix}const total = w12\n`, ''));
        assert.ok(newLine <= f.backends.get('coder')!.countTokens(prefix) + 8, `new line: ${newLine}`);
        assert.ok(newLine >= f.backends.get('coder')!.countTokens(prefix) - 8, `new line: ${newLine}`);
        // And the backend agrees: the keystroke evaluates a few tokens.
        const served = submit(f, task(prefix, 'const total = w12'));
        await f.clock.runUntilIdle(60_000);
        assert.ok(served.outcome?.ok);
        assert.ok(served.outcome.value.reusedPromptTokens >= promptTokens - 8, `reused ${served.outcome.value.reusedPromptTokens}`);
        await f.router.dispose();
    });
});

describe('router: reading a document ahead of the first keystroke (zeta)', () => {
    const noHold = { levers: { holdSupersedable: false } };
    const prompt = words(400);
    const hint = (doc = 'a.ts', text = prompt): CompletionTask => completion(doc, text) as CompletionTask;
    const coderReads = (f: ReturnType<typeof makeFixture>, doc: string): FakeCall[] => f.backends.get('coder')!.calls.filter((c) => c.op === 'generate' && c.cacheKey === doc);

    it('the coder reads the document shown; the first keystroke then reuses it on the coder instead of a cold start', async () => {
        const f = makeFixture({ settings: noHold });
        await ready(f);
        f.router.readAhead(hint());
        await f.clock.runUntilIdle(60_000);
        assert.equal(coderReads(f, 'a.ts').length, 1);
        assert.equal(coderReads(f, 'a.ts')[0].outcome, 'ok');
        assert.match(f.router.snapshot().recentDecisions[0].reason, /read ahead: the editor shows this document/);
        const key = submit(f, completion('a.ts', `${prompt} k`));
        await f.clock.runUntilIdle(60_000);
        assert.ok(key.outcome?.ok);
        assert.equal(key.outcome.value.modelId, 'coder', key.outcome.value.decision.reason);
        assert.ok(key.outcome.value.reusedPromptTokens >= 400, `reused ${key.outcome.value.reusedPromptTokens}`);
        assert.doesNotMatch(key.outcome.value.decision.reason, /cold start/);
        // Without the hint the same keystroke is a cold start (answered elsewhere while the coder reads).
        const g = makeFixture({ settings: noHold });
        await ready(g);
        const cold = submit(g, completion('a.ts', `${prompt} k`));
        await g.clock.runUntilIdle(60_000);
        assert.ok(cold.outcome?.ok);
        assert.match(cold.outcome.value.decision.reason, /cold start/);
        await f.router.dispose();
        await g.router.dispose();
    });

    it('nothing is read for a baseline policy, with coldStart off, or when the coder holds the document', async () => {
        for (const settings of [{ ...noHold, policy: 'static' as const }, { levers: { holdSupersedable: false, coldStart: false } }]) {
            const f = makeFixture({ settings });
            await ready(f);
            f.router.readAhead(hint());
            await f.clock.runUntilIdle(60_000);
            assert.equal(coderReads(f, 'a.ts').length, 0, JSON.stringify(settings));
            await f.router.dispose();
        }
        const f = makeFixture({ settings: noHold });
        await ready(f);
        const c = submit(f, completion('a.ts', prompt));
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok);
        const before = f.backends.get('coder')!.calls.length;
        f.router.readAhead(hint('a.ts', `${prompt} k`));
        await f.clock.runUntilIdle(60_000);
        assert.equal(f.backends.get('coder')!.calls.length, before, 'the coder holds the document: nothing to read');
        await f.router.dispose();
    });

    it('on a GPU, only a read that would keep the first keystroke waiting is worth it', async () => {
        for (const [promptTokensPerSec, reads] of [[20_000, 0], [1_000, 1]] as const) {
            // 400 tokens: 20 ms at 20,000 tokens/s (skipped), 400 ms at 1,000 (read).
            const f = makeFixture({ settings: noHold, profiles: { coder: { promptTokensPerSec, memory: { ramBytes: 0, vramBytes: 4e9 } } } });
            await ready(f);
            // The coder measures its prefill on another document first.
            const c = submit(f, completion('m.ts', words(300)));
            await f.clock.runUntilIdle(60_000);
            assert.ok(c.outcome?.ok);
            f.router.readAhead(hint());
            await f.clock.runUntilIdle(60_000);
            assert.equal(coderReads(f, 'a.ts').length, reads, `${promptTokensPerSec} tokens/s`);
            await f.router.dispose();
        }
    });

    it('a newer hint replaces a read still waiting, and a keystroke goes before the read', async () => {
        const f = makeFixture({ settings: noHold });
        await ready(f);
        // The coder is busy with a completion in another document.
        const busy = submit(f, completion('b.ts', words(300), 30));
        await f.clock.advance(10);
        f.router.readAhead(hint('a.ts'));
        f.router.readAhead(hint('c.ts'));
        // A keystroke in b.ts goes before the waiting read.
        const key = submit(f, completion('b.ts', `${words(300)} k`));
        await f.clock.runUntilIdle(60_000);
        assert.ok(key.outcome?.ok && busy.outcome && !busy.outcome.ok);
        assert.equal(coderReads(f, 'a.ts').length, 0, 'the replaced read never ran');
        const c = coderReads(f, 'c.ts');
        assert.equal(c.length, 1);
        const keyCall = coderReads(f, 'b.ts').at(-1)!;
        assert.ok(keyCall.at < c[0].at, 'the keystroke ran before the read');
        await f.router.dispose();
    });

    it('a keystroke during the read takes over on the coder from what was read', async () => {
        const f = makeFixture({ settings: noHold });
        await ready(f);
        const long = words(600);
        f.router.readAhead(hint('a.ts', long));
        // 600 tokens at 1,000 tokens/s: 300 ms in, about half is read.
        await f.clock.advance(300);
        const key = submit(f, completion('a.ts', `${long} k`));
        await f.clock.runUntilIdle(60_000);
        assert.ok(key.outcome?.ok);
        assert.equal(key.outcome.value.modelId, 'coder', key.outcome.value.decision.reason);
        const reused = key.outcome.value.reusedPromptTokens;
        assert.ok(reused >= 192 && reused <= 400, `reused ${reused}`);
        assert.equal(coderReads(f, 'a.ts')[0].outcome, 'aborted');
        await f.router.dispose();
    });
});
