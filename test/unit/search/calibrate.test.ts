import { strict as assert } from 'node:assert';
import { calibrate, DEFAULT_WEIGHTS, type CalibrationQuery } from '../../../src/core/search/calibrate';
import { createSearchIndex } from '../../../src/core/search/index';
import type { SearchIndex } from '../../../src/core/search/types';
import { createRng, type Rng } from '../../../bench/lib/rng';
import { chunk, gaussian, STAMP } from './indexFixtures';

const DIMS = 32;

function word(rng: Rng): string {
    return Array.from({ length: rng.int(5, 8) }, () => String.fromCharCode(97 + rng.int(0, 25))).join('');
}

function randomVector(rng: Rng): Float32Array {
    return Float32Array.from({ length: DIMS }, () => gaussian(rng));
}

/**
 * A workspace of 200 documented functions in 40 topics of three words: a docstring (the query it
 * becomes) has two of its topic's words, the function's body all three, so BM25 finds the topic
 * and the answer among its five functions only sometimes. `informative`: a function's vector (with or
 * without its docstring) and its docstring's query vector lie close; otherwise all are random.
 */
function workspace(informative: boolean, seed = 1): { index: SearchIndex; queries: CalibrationQuery[]; embed: (text: string) => Promise<Float32Array> } {
    const rng = createRng(seed);
    const general = Array.from({ length: 400 }, () => word(rng));
    const topics = Array.from({ length: 40 }, () => [word(rng), word(rng), word(rng)]);
    const index = createSearchIndex({ space: 's', dims: DIMS, pooling: 'mean', model: 'm', queryPrefix: '', documentPrefix: '' });
    const vectors = new Map<string, Float32Array>();
    const queries: CalibrationQuery[] = [];
    const near = (z: Float32Array): Float32Array => (informative ? z.map((x) => x + 0.3 * gaussian(rng)) : randomVector(rng));
    for (let f = 0; f < 40; f++) {
        const file = `src/part${f}.ts`;
        const chunks = [];
        for (let i = 0; i < 5; i++) {
            const t = topics[(f * 5 + i) % topics.length];
            const doc = [rng.pick(t), rng.pick(t), ...Array.from({ length: 4 }, () => rng.pick(general))].join(' ');
            const body = [...t, ...Array.from({ length: 12 }, () => rng.pick(general))].join(' ');
            const start = i * 10 + 1;
            const c = chunk(file, start, start + 3, `/** ${doc} */\nfunction f${f}_${i}() {\n  ${body}\n}`);
            chunks.push(c);
            const z = randomVector(rng);
            vectors.set(c.hash, z);
            const answerEmbedText = c.embedText.replace(`/** ${doc} */\n`, '');
            vectors.set(answerEmbedText, near(z));
            vectors.set(doc, near(z));
            queries.push({ query: doc, answer: c, without: doc, answerEmbedText });
        }
        index.setFile(file, STAMP, chunks);
        index.addVectors(chunks.map((c) => ({ hash: c.hash, vector: vectors.get(c.hash) as Float32Array })));
    }
    const embed = async (text: string): Promise<Float32Array> => {
        const v = vectors.get(text);
        if (!v) throw new Error(`no vector for ${text}`);
        return v;
    };
    return { index, queries, embed };
}

describe('search: calibrating the channel weights on mined queries', () => {
    it('a vector channel of random vectors gets weight 0, and hybrid equals lexical', async () => {
        for (const seed of [1, 2, 3]) {
            const { index, queries, embed } = workspace(false, seed);
            const w = await calibrate({ index, queries, embed, signal: new AbortController().signal });
            assert.equal(w.vector, 0, `seed ${seed}: ${JSON.stringify(w)}`);
            assert.notEqual(w.basis, 'default');
            if (w.basis === 'default') return;
            assert.equal(w.basis.queries, 200);
            assert.equal(w.basis.hybridMrr, w.basis.lexicalMrr);
            assert.ok(w.basis.lexicalMrr > 0.2 && w.basis.lexicalMrr < 0.9, `lexical MRR ${w.basis.lexicalMrr}: the test needs a channel that is neither useless nor perfect`);
            assert.ok(w.basis.vectorMrr < 0.1, `random vectors: MRR ${w.basis.vectorMrr}`);
        }
    });

    it('an informative vector channel gets weight, and hybrid beats lexical', async () => {
        const { index, queries, embed } = workspace(true);
        const w = await calibrate({ index, queries, embed, signal: new AbortController().signal });
        assert.ok(w.vector > 0, JSON.stringify(w));
        if (w.basis === 'default') return assert.fail('measured');
        assert.ok(w.basis.hybridMrr > w.basis.lexicalMrr * 1.2, JSON.stringify(w.basis));
        assert.ok(w.basis.vectorMrr > w.basis.lexicalMrr);
    });

    it('the lexical channel is not handed the answer: the docstring is left out of it', async () => {
        const { index, queries, embed } = workspace(true);
        const honest = await calibrate({ index, queries, embed, signal: new AbortController().signal });
        const leaky = await calibrate({ index, queries: queries.map((q) => ({ ...q, without: undefined })), embed, signal: new AbortController().signal });
        if (honest.basis === 'default' || leaky.basis === 'default') return assert.fail('measured');
        assert.ok(leaky.basis.lexicalMrr > 0.95, `with its own docstring in it, the answer comes first: ${leaky.basis.lexicalMrr}`);
        assert.ok(honest.basis.lexicalMrr < 0.7, `without: ${honest.basis.lexicalMrr}`);
    });

    it('skips queries whose answer is gone or that cannot be embedded without their docstring; none left: the default', async () => {
        const { index, queries, embed } = workspace(false);
        const w = await calibrate({
            index,
            queries: [{ ...queries[0], answer: { file: 'gone.ts', startLine: 1, endLine: 2 } }, { ...queries[1], answerEmbedText: undefined }],
            embed,
            signal: new AbortController().signal,
        });
        assert.deepEqual(w, DEFAULT_WEIGHTS);
    });

    it('rejects with the signal\'s reason when aborted', async () => {
        const { index, queries, embed } = workspace(false);
        const ac = new AbortController();
        let calls = 0;
        const p = calibrate({
            index,
            queries,
            embed: async (text) => {
                if (++calls === 5) ac.abort(new Error('stop'));
                return embed(text);
            },
            signal: ac.signal,
        });
        await assert.rejects(p, /stop/);
        assert.equal(calls, 5);
    });
});
