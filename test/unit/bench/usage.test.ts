import * as assert from 'node:assert/strict';
import type { CallUsage, GenerateRequest, ModelBackend } from '../../../src/core/backend';
import { VirtualClock } from '../../../src/core/clock';
import { SupersededError } from '../../../src/core/errors';
import { FakeBackend } from '../../../src/backends/fakeBackend';
import { UsageLedger } from '../../../bench/replay/usage';

const call = (reusedPromptTokens: number, evaluatedPromptTokens: number, generatedTokens: number, completed: boolean): CallUsage => ({ reusedPromptTokens, evaluatedPromptTokens, generatedTokens, completed });

describe('bench usage ledger', () => {
    it('credits the prompt tokens a superseded read left, once a served call reuses them, and only once', () => {
        const l = new UsageLedger();
        l.start();
        // A cold read superseded after 300 tokens; the next keystroke reuses them and evaluates 2.
        l.record('coder', 'a.ts', call(0, 300, 0, false));
        l.record('coder', 'a.ts', call(300, 2, 8, true));
        // The keystroke after that reuses the same 300 (and the 2): nothing more to credit.
        l.record('coder', 'a.ts', call(302, 1, 8, true));
        assert.deepEqual(l.totals(), { computed: 300 + 10 + 9, generated: 16, recovered: 300 });
    });

    it('follows a chain of superseded calls, and credits only the positions the served call kept', () => {
        const l = new UsageLedger();
        l.start();
        l.record('coder', 'a.ts', call(0, 200, 0, false));
        // The second keystroke keeps 150 of them (an edit earlier in the line) and reads 100 more.
        l.record('coder', 'a.ts', call(150, 100, 1, false));
        // The served one keeps 220: 150 from the first call, 70 from the second.
        l.record('coder', 'a.ts', call(220, 3, 5, true));
        assert.equal(l.totals().recovered, 220);
    });

    it('a read ahead (prefill only) passes its tokens on; a generating call that is superseded credits nothing', () => {
        const l = new UsageLedger();
        l.start();
        l.record('coder', 'a.ts', call(0, 500, 0, true));
        l.record('coder', 'a.ts', call(500, 2, 1, false));
        assert.equal(l.totals().recovered, 0);
        l.record('coder', 'a.ts', call(501, 2, 8, true));
        assert.equal(l.totals().recovered, 501);
    });

    it('keeps models and keys apart, and counts nothing before start()', () => {
        const l = new UsageLedger();
        l.record('coder', 'a.ts', call(0, 400, 0, false));
        l.start();
        // What warm-up left is not part of the run: neither computed nor creditable.
        l.record('coder', 'a.ts', call(400, 1, 4, true));
        l.record('reasoner', 'a.ts', call(0, 100, 0, false));
        l.record('coder', 'b.ts', call(100, 1, 4, true));
        l.record('coder', undefined, call(0, 50, 4, true));
        assert.deepEqual(l.totals(), { computed: 5 + 100 + 5 + 54, generated: 12, recovered: 0 });
    });

    it('a throwing usage listener never fails the call it reports on', async () => {
        const clock = new VirtualClock(0);
        const fake = new FakeBackend(clock, { tokenCounting: 'chars4' });
        const loading = fake.load({ id: 'coder', role: 'coder', path: '/x.gguf', contextSize: 4096, slots: 1, threads: 1, gpuLayers: 0, fimTemplate: 'auto' }, new AbortController().signal);
        await clock.runUntilIdle();
        await loading;
        const p = fake.generate({ mode: 'raw', prompt: 'abcdefgh', maxTokens: 2, onUsage: () => { throw new Error('listener bug'); } }, new AbortController().signal);
        await clock.runUntilIdle();
        assert.equal((await p).generatedTokens, 2);
    });

    it('observe: the backend reports each call, the caller still gets its own reports, the rest delegates', async () => {
        const clock = new VirtualClock(0);
        const fake = new FakeBackend(clock, { promptTokensPerSec: 1000, prefillChunkTokens: 16, tokenCounting: 'chars4' });
        const l = new UsageLedger();
        const b: ModelBackend = l.observe(fake, 'coder');
        const loading = b.load({ id: 'coder', role: 'coder', path: '/x.gguf', contextSize: 4096, slots: 1, threads: 1, gpuLayers: 0, fimTemplate: 'auto' }, new AbortController().signal);
        await clock.runUntilIdle();
        await loading;
        assert.equal(b.info?.id, fake.info?.id);
        l.start();
        const own: CallUsage[] = [];
        const request: GenerateRequest = { mode: 'raw', prompt: 'x'.repeat(4 * 200), maxTokens: 4, cacheKey: 'a.ts', onUsage: (u) => own.push(u) };
        const ac = new AbortController();
        const first = b.generate(request, ac.signal).catch((e: unknown) => e);
        await clock.advance(40);
        ac.abort(new SupersededError('a.ts'));
        assert.ok((await first) instanceof SupersededError);
        const second = b.generate({ ...request, prompt: `${request.prompt ?? ''}yyyy` }, new AbortController().signal);
        await clock.runUntilIdle();
        const r = await second;
        assert.equal(own.length, 2);
        assert.equal(own[0].completed, false);
        assert.ok(own[0].evaluatedPromptTokens > 0 && own[0].evaluatedPromptTokens < 200, `${own[0].evaluatedPromptTokens}`);
        assert.equal(r.reusedPromptTokens, own[0].evaluatedPromptTokens);
        assert.deepEqual(own[1], { reusedPromptTokens: r.reusedPromptTokens, evaluatedPromptTokens: r.evaluatedPromptTokens, generatedTokens: r.generatedTokens, completed: true });
        assert.deepEqual(l.totals(), {
            computed: own[0].evaluatedPromptTokens + r.evaluatedPromptTokens + r.generatedTokens,
            generated: r.generatedTokens,
            recovered: own[0].evaluatedPromptTokens,
        });
        // The backend's counter agrees with the reports: the aborted prefill counts the chunks that ran.
        assert.equal(b.stats().promptTokensEvaluated, own[0].evaluatedPromptTokens + r.evaluatedPromptTokens);
        assert.equal(b.cachedTokens?.('a.ts'), fake.cachedTokens('a.ts'));
    });
});
