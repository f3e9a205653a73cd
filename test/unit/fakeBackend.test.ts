import assert from 'node:assert/strict';
import type { ModelSpec } from '../../src/core/backend';
import { VirtualClock } from '../../src/core/clock';
import { abortError } from '../../src/core/errors';
import { createRouter } from '../../src/core/router';
import { FakeBackend, type FakeProfile } from '../../src/backends/fakeBackend';
import { PROFILES, completion, makeSettings, spec, words } from './router/helpers';

/** A fake that counts how often its tokenizer ran on each text, and how often the router counted one. */
class CountingFake extends FakeBackend {
    readonly tokenizations = new Map<string, number>();
    readonly counted = new Map<string, number>();

    protected override tokenizeText(text: string): readonly string[] {
        this.tokenizations.set(text, (this.tokenizations.get(text) ?? 0) + 1);
        return super.tokenizeText(text);
    }

    override countTokens(text: string): number {
        this.counted.set(text, (this.counted.get(text) ?? 0) + 1);
        return super.countTokens(text);
    }
}

const never = new AbortController().signal;

async function loaded(clock: VirtualClock, profile: Partial<FakeProfile> = {}, over: Partial<ModelSpec> = {}): Promise<CountingFake> {
    const b = new CountingFake(clock, profile);
    const loading = b.load(spec('coder', over), never);
    await clock.runUntilIdle();
    await loading;
    return b;
}

describe('FakeBackend', () => {
    it('a completion the router counted is tokenized once per text: the prompt reuses the counted tokens', async () => {
        const clock = new VirtualClock(0);
        const backends = new Map<string, CountingFake>();
        const router = createRouter({
            clock,
            settings: makeSettings(),
            models: [spec('coder'), spec('reasoner'), spec('embedder')],
            logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
            createBackend: (s) => {
                const b = new CountingFake(clock, PROFILES[s.role]);
                backends.set(s.id, b);
                return b;
            },
        });
        await clock.advance(5_000);
        const prefix = words(60, 'p');
        const suffix = words(20, 's');
        let served: string | undefined;
        const done = router.submit(completion('a.ts', prefix, 8, suffix)).then((r) => (served = r.modelId));
        await clock.runUntilIdle(60_000);
        await done;
        const b = backends.get(served ?? '')!;
        assert.ok(b.calls.some((c) => c.op === 'generate'), 'the model generated the completion');
        for (const text of [prefix, suffix]) {
            assert.ok((b.counted.get(text) ?? 0) >= 1, 'the router counted it on the model that served it');
            assert.equal(b.tokenizations.get(text), 1, `tokenized ${b.tokenizations.get(text)} times`);
        }
        await router.dispose();
    });

    it('counting, generating and embedding the same texts again tokenizes nothing again', async () => {
        const clock = new VirtualClock(0);
        const b = await loaded(clock);
        const text = words(30);
        assert.equal(b.countTokens(text), 30);
        assert.equal(b.countTokens(text), 30);
        const gen = b.generate({ mode: 'fim', prefix: text, suffix: 'end', maxTokens: 2 }, never);
        const emb = b.embed([text, 'end'], never);
        await clock.runUntilIdle();
        assert.equal((await gen).promptTokens, 30 + 1 + 3);
        assert.equal((await emb).length, 2);
        assert.deepEqual([...b.tokenizations.values()].filter((n) => n > 1), [], JSON.stringify([...b.tokenizations]));
        assert.equal(b.tokenizations.get(text), 1);
        assert.equal(b.computed.embedTokens, 31);
    });

    it('an abort interrupts the fake’s native call: the slot is free at once and the chunk in flight is not kept', async () => {
        const clock = new VirtualClock(0);
        // 100 prompt tokens a second: a 64-token chunk takes 640 ms.
        const b = await loaded(clock, { promptTokensPerSec: 100 });
        const ac = new AbortController();
        const usage: number[] = [];
        const p = b.generate({ mode: 'raw', prompt: words(200), maxTokens: 1, cacheKey: 'doc', onUsage: (u) => usage.push(u.evaluatedPromptTokens) }, ac.signal);
        const outcome = p.then(
            () => 'served',
            (e: unknown) => e,
        );
        await clock.advance(1000);
        // The first chunk (0-640 ms) landed; the second (640-1280 ms) is in flight.
        assert.equal(b.cachedTokens('doc'), 64);
        const reason = abortError('superseded');
        ac.abort(reason);
        assert.equal(await outcome, reason);
        assert.equal(b.stats().inFlight, 0, 'free at once');
        assert.deepEqual(usage, [64], 'only the chunk that completed was evaluated');
        assert.equal(b.cachedTokens('doc'), 64);
        const next = b.generate({ mode: 'raw', prompt: words(200), maxTokens: 1, cacheKey: 'doc' }, never);
        await clock.runUntilIdle();
        assert.equal((await next).reusedPromptTokens, 64);
    });

    it('reuses only what its own key (or keyless calls) left, never the whole prompt; a failure or an unload keeps nothing', async () => {
        const clock = new VirtualClock(0);
        const b = await loaded(clock, {}, { slots: 2 });
        const ask = async (cacheKey: string | undefined, prompt: string): Promise<number> => {
            const p = b.generate({ mode: 'raw', prompt, maxTokens: 1, cacheKey }, never).then((r) => r.reusedPromptTokens);
            await clock.runUntilIdle();
            return p;
        };
        assert.equal(await ask('a', 'x y z'), 0);
        assert.equal(await ask('a', 'x y z'), 2, 'one token is always evaluated');
        assert.equal(await ask('a', 'x y w v'), 2);
        assert.equal(await ask('b', 'x y w v'), 0, 'another document’s tokens are not reused');
        assert.equal(b.cachedTokens('a'), 4);
        b.failNext(1, new Error('boom'), ['generate']);
        await assert.rejects(ask('a', 'x y w v q'), /boom/);
        assert.equal(b.cachedTokens('a'), 0, 'a failed call keeps nothing');
        assert.equal(await ask(undefined, 'chat one two'), 0);
        assert.equal(await ask(undefined, 'chat one three'), 2, 'a keyless call reuses what a keyless call left');
        await b.unload();
        const reloading = b.load(spec('coder', { slots: 2 }), never);
        await clock.runUntilIdle();
        await reloading;
        assert.equal(b.cachedTokens('b'), 0, 'an unload forgets every sequence');
        assert.equal(await ask('b', 'x y w v'), 0);
    });
});
