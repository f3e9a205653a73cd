import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeedbackModel, parseFeedback } from '../../../src/core/router/feedback';
import { createFileTextStore } from '../../../src/core/router';
import { PRIOR_STRENGTH, QUALITY_PRIOR } from '../../../src/core/router/defaults';
import { MemoryStore, assertCorruptSetAside, completion, makeFixture, submit, words } from './helpers';

describe('feedback: Beta posterior of acceptance', () => {
    it('starts at the role prior and moves with accepted / dismissed counts', () => {
        const fm = new FeedbackModel();
        assert.equal(fm.quality('embedder', 'embedder', 'completion', true), QUALITY_PRIOR.embedder.completion);
        for (let i = 0; i < 10; i++) fm.record('embedder', 'completion', 'accepted');
        fm.record('embedder', 'completion', 'shown');
        const a0 = QUALITY_PRIOR.embedder.completion * PRIOR_STRENGTH;
        assert.equal(fm.quality('embedder', 'embedder', 'completion', true), (a0 + 10) / (PRIOR_STRENGTH + 10));
        for (let i = 0; i < 30; i++) fm.record('embedder', 'completion', 'dismissed');
        assert.equal(fm.quality('embedder', 'embedder', 'completion', true), (a0 + 10) / (PRIOR_STRENGTH + 40));
        assert.equal(fm.quality('embedder', 'embedder', 'completion', false), QUALITY_PRIOR.embedder.completion, 'learning off: prior only');
        assert.deepEqual(fm.counts('embedder', 'completion'), { shown: 1, accepted: 10, dismissed: 30 });
    });

    it('learned acceptance moves routing: a well-accepted smaller model wins completions', async () => {
        const run = async (learn: boolean): Promise<string> => {
            const f = makeFixture({ settings: { learnFromFeedback: learn, levers: { holdSupersedable: false } } });
            await f.clock.advance(5_000);
            for (let i = 0; i < 200; i++) {
                f.router.feedback({ modelId: 'embedder', kind: 'completion', event: 'accepted' });
                f.router.feedback({ modelId: 'coder', kind: 'completion', event: 'dismissed' });
            }
            const c = submit(f, completion('a.ts', words(50)));
            await f.clock.runUntilIdle(60_000);
            assert.ok(c.outcome?.ok);
            await f.router.dispose();
            return c.outcome.value.modelId;
        };
        assert.equal(await run(true), 'embedder');
        assert.equal(await run(false), 'coder');
    });
});

describe('feedback: persistence', () => {
    it('saves a versioned file, debounced, and a new router learns from it', async () => {
        const store = new MemoryStore();
        const f = makeFixture({ store });
        await f.clock.advance(5_000);
        for (let i = 0; i < 5; i++) f.router.feedback({ modelId: 'coder', kind: 'completion', event: 'accepted' });
        f.router.feedback({ modelId: 'coder', kind: 'completion', event: 'dismissed' });
        assert.equal(store.saves, 0);
        await f.clock.advance(2_000);
        assert.equal(store.saves, 1, 'one save for a burst of events');
        const file = parseFeedback(store.data!);
        assert.equal(file.version, 1);
        assert.deepEqual(file.models.coder?.completion, { shown: 0, accepted: 5, dismissed: 1 });
        await f.router.dispose();

        const g = makeFixture({ store });
        await g.clock.advance(10);
        g.router.feedback({ modelId: 'coder', kind: 'completion', event: 'accepted' });
        await g.router.dispose();
        assert.deepEqual(parseFeedback(store.data!).models.coder?.completion, { shown: 0, accepted: 6, dismissed: 1 }, 'dispose flushes the pending save, merged with what was loaded');
    });

    for (const [name, content] of [
        ['not JSON', '{"version":1,"models":'],
        ['an unknown version', '{"version":99,"models":{}}'],
        ['bad counts', '{"version":1,"models":{"coder":{"completion":{"shown":"x","accepted":1,"dismissed":0}}}}'],
        ['not an object', '[1,2]'],
    ] as const) {
        it(`a corrupt file (${name}) is set aside with a warning, never a crash`, async () => {
            const store = new MemoryStore(content);
            await assertCorruptSetAside({ store }, store, (w) => w.startsWith('feedback: stored feedback is unreadable') && w.includes('set aside at /tmp/feedback.json.corrupt'));
        });
    }

    it('a store that throws on load or save is reported, never fatal', async () => {
        const store = new MemoryStore();
        store.load = () => Promise.reject(new Error('EACCES'));
        store.save = () => Promise.reject(new Error('disk full'));
        const f = makeFixture({ store });
        await f.clock.advance(5_000);
        f.router.feedback({ modelId: 'coder', kind: 'completion', event: 'accepted' });
        await f.clock.advance(3_000);
        assert.ok(f.log.warn.some((w) => w.includes('EACCES')));
        assert.ok(f.log.warn.some((w) => w.includes('disk full')));
        await f.router.dispose();
    });

    it('the file store writes atomically (temporary file + rename) and sets corrupt files aside', async () => {
        const dir = await mkdtemp(join(tmpdir(), 'zeta-feedback-'));
        const file = join(dir, 'sub', 'feedback.json');
        const store = createFileTextStore(file, fsp);
        assert.equal(await store.load(), undefined);
        const renames: Array<[string, string]> = [];
        const spy = createFileTextStore(file, { ...fsp, rename: async (a: string, b: string) => (renames.push([a, b]), fsp.rename(a, b)) });
        await spy.save('{"version":1,"models":{}}');
        assert.equal(renames.length, 1);
        assert.equal(renames[0][1], file);
        assert.ok(renames[0][0].startsWith(file + '.tmp-'));
        assert.equal(await store.load(), '{"version":1,"models":{}}');
        assert.deepEqual(await readdir(join(dir, 'sub')), ['feedback.json']);
        await writeFile(file, 'garbage');
        assert.equal(await store.setAside('bad'), file + '.corrupt');
        await writeFile(file, 'garbage again');
        assert.equal(await store.setAside('bad'), file + '.corrupt.1');
        assert.equal(await readFile(file + '.corrupt', 'utf8'), 'garbage');
        assert.equal(await store.load(), undefined);
    });
});
