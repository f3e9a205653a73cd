import assert from 'node:assert/strict';
import { SPEEDS_MAX_MODELS, SpeedMemory, parseSpeeds } from '../../../src/core/router/speeds';
import { MemoryStore, assertCorruptSetAside, completion, makeFixture, spec, submit, texts, words } from './helpers';

/** A session that measures the models: a few completions of different sizes, and embeddings. */
async function measure(store: MemoryStore): Promise<{ promptTps: number; decodeTps: number; predicted: number }> {
    const f = makeFixture({ speedStore: store, settings: { levers: { holdSupersedable: false } } });
    await f.clock.advance(5_000);
    for (const n of [60, 200, 120, 400]) {
        const c = submit(f, completion(`m${n}.ts`, words(n), 16));
        await f.clock.runUntilIdle(60_000);
        assert.ok(c.outcome?.ok);
    }
    const e = submit(f, { kind: 'embed', texts: texts(16) });
    await f.clock.runUntilIdle(60_000);
    assert.ok(e.outcome?.ok);
    const coder = f.router.snapshot().models.find((m) => m.id === 'coder')!;
    const predicted = f.router.decide(completion('new.ts', words(300), 16)).candidates.find((c) => c.modelId === 'coder')!.firstTokenMs;
    await f.router.dispose();
    return { promptTps: coder.promptTokensPerSec!, decodeTps: coder.decodeTokensPerSec!, predicted };
}

describe('learned speeds: persistence', () => {
    it('a new session starts from the speeds the last one measured, before any work', async () => {
        const store = new MemoryStore();
        const first = await measure(store);
        const file = parseSpeeds(store.data!);
        assert.equal(file.version, 1);
        assert.equal(Object.keys(file.models).length, 3, 'one entry per model');

        const f = makeFixture({ speedStore: store });
        await f.clock.advance(5_000);
        const coder = f.router.snapshot().models.find((m) => m.id === 'coder')!;
        assert.ok(Math.abs(coder.promptTokensPerSec! - first.promptTps) / first.promptTps < 1e-9, `${coder.promptTokensPerSec} vs ${first.promptTps}`);
        assert.ok(Math.abs(coder.decodeTokensPerSec! - first.decodeTps) / first.decodeTps < 1e-9);
        const predicted = f.router.decide(completion('new.ts', words(300), 16)).candidates.find((c) => c.modelId === 'coder')!.firstTokenMs;
        assert.ok(Math.abs(predicted - first.predicted) < 1e-6, `${predicted} vs ${first.predicted}`);
        assert.ok(f.log.info.some((l) => l === 'model coder: starting from the speeds measured in an earlier session'));
        await f.router.dispose();

        // Without the stored speeds the same prediction comes from priors, and differs.
        const fresh = makeFixture();
        await fresh.clock.advance(5_000);
        assert.equal(fresh.router.snapshot().models.find((m) => m.id === 'coder')!.promptTokensPerSec, undefined);
        const guess = fresh.router.decide(completion('new.ts', words(300), 16)).candidates.find((c) => c.modelId === 'coder')!.firstTokenMs;
        assert.ok(Math.abs(guess - first.predicted) > 1, `prior ${guess} vs measured ${first.predicted}`);
        await fresh.router.dispose();
    });

    it('a model loaded differently (here another context size) starts afresh', async () => {
        const store = new MemoryStore();
        await measure(store);
        const f = makeFixture({ speedStore: store, models: [spec('coder', { contextSize: 2048 }), spec('reasoner'), spec('embedder')] });
        await f.clock.advance(5_000);
        const models = f.router.snapshot().models;
        assert.equal(models.find((m) => m.id === 'coder')!.promptTokensPerSec, undefined);
        assert.notEqual(models.find((m) => m.id === 'reasoner')!.promptTokensPerSec, undefined, 'the unchanged reasoner keeps its speeds');
        await f.router.dispose();
    });

    for (const [name, content] of [
        ['not JSON', '{"version":1,"models":'],
        ['an unknown version', '{"version":2,"models":{}}'],
        ['a negative speed', '{"version":1,"models":{"k":{"seq":1,"speeds":{"decodeMsPerToken":-3}}}}'],
    ] as const) {
        it(`a corrupt file (${name}) is set aside with a warning; the router starts from estimates`, async () => {
            const store = new MemoryStore(content);
            await assertCorruptSetAside({ speedStore: store }, store, (w) => w.startsWith('speeds: the speeds file is unreadable') && w.includes('starting from estimates'));
        });
    }

    it('keeps the most recently measured models only', () => {
        const mem = new SpeedMemory();
        for (let i = 0; i < SPEEDS_MAX_MODELS + 5; i++) mem.set(`m${i}`, { decodeMsPerToken: i + 1 });
        mem.set('m0', { decodeMsPerToken: 99 });
        const kept = Object.keys(parseSpeeds(mem.serialize()).models);
        assert.equal(kept.length, SPEEDS_MAX_MODELS);
        assert.ok(kept.includes('m0') && !kept.includes('m1') && kept.includes(`m${SPEEDS_MAX_MODELS + 4}`));
        // Order survives a reload: a later session's entries count as more recent.
        const next = new SpeedMemory();
        next.merge(parseSpeeds(mem.serialize()));
        next.set('late', { loadMs: 5 });
        const after = parseSpeeds(next.serialize()).models;
        assert.ok(after.late.seq > after.m0.seq);
    });
});

describe('learned speeds: a wrong one is corrected, not obeyed forever (bench/FINDINGS.md F21)', () => {
    it('a coder stored as 3 s to its first token still serves completions, and its prediction comes back down', async () => {
        const store = new MemoryStore();
        await measure(store);
        // Corrupt in kind, not in form: the coder's overhead as a noisy fit once put it, and an
        // embedder known to be fast. 4x the embedder's idle time is then far below the coder's.
        const file = JSON.parse(store.data!) as { models: Record<string, { speeds: { prefill?: { overheadMs: number }; decodeMsPerToken?: number } }> };
        for (const [key, e] of Object.entries(file.models)) {
            if (key.includes('/models/coder.gguf')) e.speeds.prefill!.overheadMs = 3_000;
            if (key.includes('/models/embedder.gguf')) e.speeds.decodeMsPerToken = 10;
        }
        store.data = JSON.stringify(file);
        const f = makeFixture({ speedStore: store, models: [spec('coder'), spec('embedder')], settings: { levers: { holdSupersedable: false, coldStart: false } } });
        await f.clock.advance(5_000);
        const predict = (): number => f.router.decide(completion('p.ts', words(40), 16)).candidates.find((c) => c.modelId === 'coder')!.firstTokenMs;
        assert.ok(predict() > 3_000, `restored prediction ${predict()}`);
        const outcomes: string[] = [];
        for (let i = 0; i < 4; i++) {
            const c = submit(f, completion(`d${i}.ts`, words(40), 16));
            await f.clock.runUntilIdle(60_000);
            outcomes.push(c.outcome?.ok ? c.outcome.value.modelId : String(c.outcome?.error));
        }
        assert.ok(outcomes.every((o) => o === 'coder'), outcomes.join(' | '));
        assert.ok(predict() < 200, `prediction after serving: ${predict()} ms`);
        await f.router.dispose();
    });
});

describe('speed priors before any measurement (bench/FINDINGS.md F28)', () => {
    /** The coder's predicted prefill for a cold prompt on an idle router (ms, its 10 ms overhead left out). */
    const coderPrefillMs = (f: ReturnType<typeof makeFixture>): number => {
        const c = f.router.decide(completion('cold.ts', words(400), 1)).candidates.find((x) => x.modelId === 'coder')!;
        return c.firstTokenMs - c.waitMs - 10;
    };
    /** The size formula's prefill prior for the 4 GB coder: 0.1 + 0.3 ms per token per GB. */
    const FORMULA_MS_PER_TOKEN = 0.1 + 0.3 * 4;

    it("until a generation measures a prefill, the others' priors come from the embedder's measured rate, scaled by size; then from the generation", async () => {
        // The embedder embeds a text in 5 ms whatever its length: ~0.1 ms per token for these
        // ~50-token texts, 15x faster than the size formula's 1.3 ms per token for the 4 GB coder.
        const f = makeFixture({ settings: { levers: { holdSupersedable: false }, embedBatchSize: 1 } });
        await f.clock.advance(5_000);
        // The prompt's tokens, from the formula's prediction.
        const tokens = coderPrefillMs(f) / FORMULA_MS_PER_TOKEN;
        assert.ok(tokens > 300 && tokens < 600, `prompt tokens ${tokens}`);
        const coderMsPerToken = (g: typeof f): number => coderPrefillMs(g) / tokens;
        const e = submit(f, { kind: 'embed', texts: Array.from({ length: 4 }, (_, i) => words(50, `t${i}_`)) });
        await f.clock.runUntilIdle(60_000);
        assert.ok(e.outcome?.ok);
        const fromEmbed = coderMsPerToken(f);
        // Scaled by memory: the coder (4 GB) is taken as twice the embedder (2 GB).
        const embedPerToken = fromEmbed / 2;
        assert.ok(embedPerToken > 0.05 && embedPerToken < 0.2, `from the embedder: coder ${fromEmbed} ms/token`);
        // A generation on the reasoner measures a real prefill (500 tokens/s: 2 ms per token); from
        // then on it is the reference (scaled by 4 / 8 GB: 1 ms per token for the coder).
        const r = submit(f, { kind: 'explain', messages: [{ role: 'user', content: words(300) }], maxTokens: 4 });
        await f.clock.runUntilIdle(60_000);
        assert.ok(r.outcome?.ok);
        const fromGeneration = coderMsPerToken(f);
        assert.ok(Math.abs(fromGeneration - 1) < 0.25, `from the reasoner's generation: ${fromGeneration}`);
        await f.router.dispose();
    });
});
