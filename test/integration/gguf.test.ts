/**
 * The generated GGUF files in real llama.cpp (node-llama-cpp 3.21.1, CPU, one thread): each
 * model passes the validator, loads, generates greedy tokens deterministically; the coder
 * supports infill and its tokenizer keeps FIM markers as single tokens; the reasoner's chat
 * template resolves to ChatML and a chat session answers; embeddings have the model's width.
 */
import * as assert from 'node:assert/strict';
import type { Llama, LlamaModel, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import { validateModelFile } from '../../src/backends/ggufValidator';
import {
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    IM_END,
    IM_START,
    SYNTHETIC_ROLES,
    SYNTHETIC_VOCABULARY,
    syntheticShape,
    type SyntheticPreset,
} from '../../src/core/gguf/synthetic';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';

type NodeLlamaCpp = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });

/** Greedy tokens after `prompt`; end-of-generation tokens are yielded and do not stop it. */
async function greedyTokens(model: LlamaModel, prompt: string, count: number): Promise<Token[]> {
    const context = await model.createContext({ contextSize: 512, threads: 1 });
    try {
        const sequence = context.getSequence();
        const out: Token[] = [];
        for await (const token of sequence.evaluate(model.tokenize(prompt), { temperature: 0, yieldEogToken: true })) {
            out.push(token);
            if (out.length >= count) break;
        }
        return out;
    } finally {
        await context.dispose();
    }
}

describe('synthetic GGUF models in llama.cpp', function () {
    this.timeout(120_000);
    let nlc: NodeLlamaCpp;
    let llama: Llama;

    before(async () => {
        nlc = await import('node-llama-cpp');
        llama = await nlc.getLlama({ gpu: false, build: 'never', maxThreads: 1, logLevel: nlc.LlamaLogLevel.error });
    });

    after(async () => {
        await llama?.dispose();
    });

    for (const preset of ['tiny', 'full'] as const satisfies readonly SyntheticPreset[]) {
        describe(`${preset} preset`, () => {
            let models: SyntheticModels;

            before(async () => {
                models = await ensureModels(preset);
            });

            for (const role of SYNTHETIC_ROLES) {
                it(`${role}: validates, loads and generates the same greedy tokens twice`, async () => {
                    const shape = syntheticShape(role, preset);
                    const facts = await validateModelFile(models[role], { contextSize: 512, memoryBudgetBytes: 2 ** 30 });
                    assert.equal(facts.blockCount, shape.blockCount);
                    const model = await llama.loadModel({ modelPath: models[role] });
                    try {
                        assert.equal(model.fileInsights.totalLayers, shape.blockCount + 1);
                        assert.equal(model.trainContextSize, shape.contextLength);
                        assert.equal(model.embeddingVectorSize, shape.embeddingLength);
                        const first = await greedyTokens(model, 'def add(a, b):\n    return', 6);
                        const second = await greedyTokens(model, 'def add(a, b):\n    return', 6);
                        assert.equal(first.length, 6);
                        assert.ok(first.every((t) => t >= 0 && t < SYNTHETIC_VOCABULARY.tokens.length));
                        assert.deepEqual(second, first, 'greedy decoding is deterministic');
                    } finally {
                        await model.dispose();
                    }
                });
            }

            it('no model predicts a lone non-ASCII byte: greedy text stays ASCII, as a code model\'s does', async () => {
                const lone = new Set(Array.from({ length: 128 }, (_, i) => SYNTHETIC_VOCABULARY.tokens.indexOf(`<0x${(0x80 + i).toString(16).toUpperCase()}>`)));
                assert.equal(lone.size, 128);
                assert.ok(!lone.has(-1));
                for (const role of SYNTHETIC_ROLES) {
                    const model = await llama.loadModel({ modelPath: models[role] });
                    try {
                        for (const prompt of ['def add(a, b):\n    return', 'const value = items', '// ñ café €\nlet x', 'import os']) {
                            const tokens = await greedyTokens(model, prompt, 24);
                            assert.equal(tokens.length, 24);
                            assert.deepEqual(tokens.filter((t) => lone.has(t)), [], `${role} after ${JSON.stringify(prompt)}`);
                        }
                    } finally {
                        await model.dispose();
                    }
                }
            });

            it('coder: infill is supported and FIM markers tokenize to single control tokens', async () => {
                const model = await llama.loadModel({ modelPath: models.coder });
                const context = await model.createContext({ contextSize: 512, threads: 1 });
                try {
                    const completion = new nlc.LlamaCompletion({ contextSequence: context.getSequence(), autoDisposeSequence: true });
                    assert.equal(completion.infillSupported, true);
                    const v = SYNTHETIC_VOCABULARY;
                    assert.deepEqual(model.tokenize(FIM_PREFIX, true), [v.fimPrefixId]);
                    assert.deepEqual(model.tokenize(FIM_SUFFIX, true), [v.fimSuffixId]);
                    assert.deepEqual(model.tokenize(FIM_MIDDLE, true), [v.fimMiddleId]);
                    const text = `${FIM_PREFIX}def f(x):\n    ${FIM_SUFFIX}\n${FIM_MIDDLE}`;
                    const tokens = model.tokenize(text, true);
                    assert.equal(tokens[0], v.fimPrefixId);
                    assert.equal(tokens.at(-1), v.fimMiddleId);
                    assert.equal(tokens.filter((t) => t === v.fimSuffixId).length, 1);
                    assert.equal(model.detokenize(tokens, true), text, 'tokenization round-trips, no phantom spaces');
                    assert.ok(!model.tokenize(text, false).map(Number).includes(v.fimPrefixId), 'without specials the markers are plain text');
                    assert.ok(model.tokenize('    return value', false).map(Number).includes(v.tokens.indexOf('\u2581return')));
                    const infill = await completion.generateInfillCompletion('def f(x):\n    ', '\n', { maxTokens: 4 });
                    assert.equal(typeof infill, 'string');
                    completion.dispose();
                } finally {
                    await context.dispose();
                    await model.dispose();
                }
            });

            it('reasoner: chat template resolves to ChatML and a chat session answers', async () => {
                const model = await llama.loadModel({ modelPath: models.reasoner });
                const context = await model.createContext({ contextSize: 2048, threads: 1 });
                try {
                    const wrapper = nlc.resolveChatWrapper(model);
                    assert.ok(wrapper instanceof nlc.ChatMLChatWrapper, `resolved ${wrapper?.wrapperName}`);
                    assert.deepEqual(model.tokenize(IM_START, true), [SYNTHETIC_VOCABULARY.imStartId]);
                    assert.deepEqual(model.tokenize(IM_END, true), [SYNTHETIC_VOCABULARY.imEndId]);
                    const session = new nlc.LlamaChatSession({ contextSequence: context.getSequence(), autoDisposeSequence: true });
                    const answer = await session.prompt('Explain this function.', { maxTokens: 4 });
                    assert.equal(typeof answer, 'string');
                    assert.ok(session.getChatHistory().length >= 2);
                    session.dispose();
                } finally {
                    await context.dispose();
                    await model.dispose();
                }
            });

            it('embedder: vectors have the embedding width and are deterministic', async () => {
                const model = await llama.loadModel({ modelPath: models.embedder });
                const context = await model.createEmbeddingContext({ contextSize: 512, threads: 1 });
                try {
                    const width = syntheticShape('embedder', preset).embeddingLength;
                    const a = await context.getEmbeddingFor('function add(a, b) { return a + b; }');
                    const b = await context.getEmbeddingFor('function add(a, b) { return a + b; }');
                    const c = await context.getEmbeddingFor('import os\nprint(os.getcwd())');
                    assert.equal(a.vector.length, width);
                    assert.ok(a.vector.every(Number.isFinite));
                    assert.deepEqual(b.vector, a.vector);
                    assert.notDeepEqual(c.vector, a.vector);
                } finally {
                    await context.dispose();
                    await model.dispose();
                }
            });
        });
    }

    it('the validator estimate with GgufInsights is close to its own', async () => {
        const models = await ensureModels('full');
        const own = await validateModelFile(models.reasoner, { contextSize: 4096 });
        const insights = await validateModelFile(models.reasoner, { contextSize: 4096, useInsights: true });
        assert.equal(own.memory.source, 'zeta');
        assert.equal(insights.memory.source, 'gguf-insights');
        const ratio = insights.memory.totalBytes / own.memory.totalBytes;
        assert.ok(ratio > 0.7 && ratio < 1.4, `insights ${insights.memory.totalBytes} vs own ${own.memory.totalBytes}`);
    });
});
