import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { validateModelFile } from '../../../src/backends/ggufValidator';
import { ModelFileError, type ModelFileProblem } from '../../../src/core/errors';
import { syntheticModelSpec, syntheticShape, SYNTHETIC_ROLES, SYNTHETIC_VOCABULARY } from '../../../src/core/gguf/synthetic';
import { ggufValue, type GgufValue } from '../../../src/core/gguf/types';
import { writeGgufToBuffer, type GgufTensorSpec } from '../../../src/core/gguf/writer';
import { writeBadModelFiles, type BadModelFiles } from '../../support/badModelFiles';

async function rejection(promise: Promise<unknown>): Promise<ModelFileError> {
    try {
        await promise;
    } catch (e) {
        assert.ok(e instanceof ModelFileError, `expected a ModelFileError, got ${String(e)}`);
        return e;
    }
    assert.fail('expected a rejection');
}

describe('validateModelFile', () => {
    let dir: string;
    let bad: BadModelFiles;

    before(async () => {
        dir = await mkdtemp(path.join(tmpdir(), 'zeta-gguf-validator-'));
        bad = await writeBadModelFiles(path.join(dir, 'bad'));
    });

    after(async () => {
        await rm(dir, { recursive: true, force: true });
    });

    /** Writes the tiny coder with edited metadata. */
    async function tinyCoderWith(name: string, edit: (m: Map<string, GgufValue>) => void): Promise<string> {
        const spec = syntheticModelSpec('coder', { preset: 'tiny' });
        edit(spec.metadata);
        const file = path.join(dir, name);
        await writeFile(file, await writeGgufToBuffer(spec));
        return file;
    }

    /** Writes the tiny coder with its tensor list replaced by `edit`'s result. */
    async function tinyCoderTensorsWith(name: string, edit: (tensors: GgufTensorSpec[]) => GgufTensorSpec[]): Promise<string> {
        const spec = syntheticModelSpec('coder', { preset: 'tiny' });
        const file = path.join(dir, name);
        await writeFile(file, await writeGgufToBuffer({ metadata: spec.metadata, tensors: edit([...spec.tensors]) }));
        return file;
    }

    /** The tiny coder's token texts with `edit` applied. */
    function editTokens(m: Map<string, GgufValue>, edit: (tokens: string[]) => void): void {
        const tokens = [...SYNTHETIC_VOCABULARY.tokens];
        edit(tokens);
        m.set('tokenizer.ggml.tokens', ggufValue.strings(tokens));
    }

    async function expectProblem(file: string, problem: ModelFileProblem, pattern?: RegExp, budget?: number): Promise<void> {
        const e = await rejection(validateModelFile(file, { contextSize: 2048, memoryBudgetBytes: budget }));
        assert.equal(e.problem, problem, e.message);
        assert.equal(e.file, file);
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        if (pattern !== undefined) assert.match(e.message, pattern);
    }

    const cases: [string, ModelFileProblem, RegExp][] = [
        ['missing', 'missing', /no such file/],
        ['directory', 'missing', /directory/],
        ['empty', 'notGguf', /empty/],
        ['badMagic', 'notGguf', /bad magic/],
        ['cutTo64Bytes', 'truncated', /ends inside its header/],
        ['cutInHalf', 'truncated', /tensor .* needs bytes/],
        ['noFeedForwardLength', 'badMetadata', /llama\.feed_forward_length is missing/],
        ['noHeadCount', 'badMetadata', /llama\.attention\.head_count is missing/],
        ['headCountNotDividing', 'badMetadata', /does not divide/],
        ['vocabMismatch', 'badMetadata', /502 tokens but token_embd\.weight has rows for 512/],
        ['badArchitecture', 'unsupportedArchitecture', /"zetanet"/],
        ['badTokenizer', 'unsupportedTokenizer', /"zeta-pieces"/],
    ];
    for (const [name, problem, pattern] of cases) {
        it(`rejects ${name} as ${problem}, naming the file`, async () => {
            const c = bad.cases[name as keyof BadModelFiles['cases']];
            assert.equal(c.problem, problem);
            await expectProblem(c.path, problem, pattern);
        });
    }

    it('rejects overBudget as overMemoryBudget, and accepts the same file within budget', async () => {
        await expectProblem(bad.cases.overBudget.path, 'overMemoryBudget', /over the budget of/, bad.memoryBudgetBytes);
        const facts = await validateModelFile(bad.overMemoryBudget, { contextSize: 2048, memoryBudgetBytes: 1 << 30 });
        assert.ok(facts.memory.totalBytes > bad.memoryBudgetBytes);
    });

    it('keys one representative path per problem', () => {
        assert.equal(bad.missing, bad.cases.missing.path);
        assert.equal(bad.notGguf, bad.cases.badMagic.path);
        assert.equal(bad.truncated, bad.cases.cutInHalf.path);
        assert.equal(bad.badMetadata, bad.cases.noFeedForwardLength.path);
        assert.equal(bad.unsupportedArchitecture, bad.cases.badArchitecture.path);
        assert.equal(bad.unsupportedTokenizer, bad.cases.badTokenizer.path);
        assert.equal(bad.overMemoryBudget, bad.cases.overBudget.path);
    });

    it('rejects metadata llama.cpp asserts on', async () => {
        await expectProblem(await tinyCoderWith('zero-layers.gguf', (m) => m.set('llama.block_count', ggufValue.uint32(0))), 'badMetadata', /block_count is 0/);
        await expectProblem(await tinyCoderWith('many-layers.gguf', (m) => m.set('llama.block_count', ggufValue.uint32(513))), 'badMetadata', /outside 1\.\.512/);
        await expectProblem(await tinyCoderWith('string-embd.gguf', (m) => m.set('llama.embedding_length', ggufValue.string('64'))), 'badMetadata', /must be an integer/);
        await expectProblem(await tinyCoderWith('no-ctx.gguf', (m) => m.delete('llama.context_length')), 'badMetadata', /context_length is missing/);
        await expectProblem(await tinyCoderWith('gqa.gguf', (m) => m.set('llama.attention.head_count_kv', ggufValue.uint32(3))), 'badMetadata', /not a multiple of head_count_kv 3/);
        await expectProblem(await tinyCoderWith('rope.gguf', (m) => m.set('llama.rope.scaling.type', ggufValue.string('wavy'))), 'badMetadata', /"wavy"/);
        await expectProblem(await tinyCoderWith('experts.gguf', (m) => {
            m.set('llama.expert_count', ggufValue.uint32(4));
            m.set('llama.expert_used_count', ggufValue.uint32(8));
        }), 'badMetadata', /expert_used_count 8/);
        await expectProblem(await tinyCoderWith('no-eps.gguf', (m) => m.delete('llama.attention.layer_norm_rms_epsilon')), 'badMetadata', /epsilon/);
        await expectProblem(await tinyCoderWith('no-arch.gguf', (m) => m.delete('general.architecture')), 'badMetadata', /general\.architecture/);
        await expectProblem(await tinyCoderWith('no-tokenizer.gguf', (m) => m.delete('tokenizer.ggml.model')), 'badMetadata', /tokenizer\.ggml\.model is missing/);
        await expectProblem(await tinyCoderWith('no-tokens.gguf', (m) => m.delete('tokenizer.ggml.tokens')), 'badMetadata', /tokenizer\.ggml\.tokens is missing/);
        await expectProblem(await tinyCoderWith('dup-token.gguf', (m) => {
            const tokens = [...SYNTHETIC_VOCABULARY.tokens];
            tokens[400] = tokens[300]!;
            m.set('tokenizer.ggml.tokens', ggufValue.strings(tokens));
        }), 'badMetadata', /appears twice/);
        await expectProblem(await tinyCoderWith('short-scores.gguf', (m) => m.set('tokenizer.ggml.scores', ggufValue.float32s([0, 1]))), 'badMetadata', /scores/);
        await expectProblem(await tinyCoderWith('none-tokenizer.gguf', (m) => m.set('tokenizer.ggml.model', ggufValue.string('none'))), 'unsupportedTokenizer');
        await expectProblem(await tinyCoderWith('gpt2-no-merges.gguf', (m) => m.set('tokenizer.ggml.model', ggufValue.string('gpt2'))), 'badMetadata', /merges/);
    });

    it('accepts per-layer hyperparameter arrays of the right length only', async () => {
        const layers = syntheticShape('coder', 'tiny').blockCount;
        const ok = await tinyCoderWith('per-layer.gguf', (m) => m.set('llama.feed_forward_length', ggufValue.uint32s(Array<number>(layers).fill(176))));
        assert.equal((await validateModelFile(ok, { contextSize: 512 })).feedForwardLength, 176);
        await expectProblem(await tinyCoderWith('per-layer-short.gguf', (m) => m.set('llama.feed_forward_length', ggufValue.uint32s([176]))), 'badMetadata', /1 values for 3 layers/);
    });

    // What llama.cpp aborts on after it loads (found by the GGUF fuzz suite, test/faults/ggufFuzz.test.ts).
    it('rejects a SentencePiece vocabulary that cannot spell every byte (byte_to_token throws out of the tokenizer)', async () => {
        const byteId = (b: number): number => SYNTHETIC_VOCABULARY.tokens.indexOf(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
        // A byte token damaged by one character: text holding byte 0xEF (as in "｜") cannot be tokenized.
        await expectProblem(await tinyCoderWith('spm-no-0xEF.gguf', (m) => editTokens(m, (t) => { t[byteId(0xef)] = '<0xEF>\uFFFD'; })),
            'badMetadata', /cannot spell 1 byte\(s\) \(<0xEF>\)/);
        // A byte-level BPE vocabulary declared as SentencePiece: most bytes have no token.
        await expectProblem(await tinyCoderWith('spm-no-bytes.gguf', (m) => editTokens(m, (t) => {
            for (let b = 0; b < 256; b++) t[byteId(b)] = `byte-${b}`;
        })), 'badMetadata', /cannot spell 162 byte/);
        // The rule is llama.cpp's fallback, not the byte tokens: a one-byte token spells its byte ("A" is one).
        const oneByte = await tinyCoderWith('spm-A-as-text.gguf', (m) => editTokens(m, (t) => { t[byteId(0x41)] = 'not-a-byte'; }));
        assert.equal((await validateModelFile(oneByte, { contextSize: 256 })).vocabSize, SYNTHETIC_VOCABULARY.tokens.length);
    });

    it('rejects a WordPiece (bert) vocabulary with a token typed as a byte (token_to_byte aborts at load)', async () => {
        await expectProblem(await tinyCoderWith('bert-byte-types.gguf', (m) => m.set('tokenizer.ggml.model', ggufValue.string('bert'))),
            'badMetadata', /token 3 \("<0x00>"\) is typed as a byte.*WordPiece/);
    });

    it('rejects per-layer head counts that differ from layer 0 (llama sizes attention from layer 0, the KV cache per layer)', async () => {
        const layers = syntheticShape('coder', 'tiny').blockCount;
        const kv = syntheticShape('coder', 'tiny').headCountKv;
        const fewer = kv / 2;
        const uniform = await tinyCoderWith('kv-per-layer.gguf', (m) => m.set('llama.attention.head_count_kv', ggufValue.uint32s(Array<number>(layers).fill(kv))));
        assert.equal((await validateModelFile(uniform, { contextSize: 256 })).headCountKv, kv);
        const varied = Array<number>(layers).fill(kv);
        varied[layers - 1] = fewer;
        await expectProblem(await tinyCoderWith('kv-varies.gguf', (m) => m.set('llama.attention.head_count_kv', ggufValue.uint32s(varied))),
            'badMetadata', new RegExp(`head_count_kv is ${kv} for layer 0 but ${fewer} for layer ${layers - 1}`));
        await expectProblem(await tinyCoderWith('kv-zero-layer.gguf', (m) => m.set('llama.attention.head_count_kv', ggufValue.uint32s([kv, ...Array<number>(layers - 1).fill(0)]))),
            'badMetadata', /head_count_kv/);
    });

    it('checks every llama tensor against the shape the hyperparameters give', async () => {
        const { embeddingLength: e, headCount, headCountKv } = syntheticShape('coder', 'tiny');
        const kvWidth = (e / headCount) * headCountKv;
        await expectProblem(await tinyCoderTensorsWith('no-ffn-up.gguf', (ts) => ts.filter((t) => t.name !== 'blk.1.ffn_up.weight')),
            'badMetadata', /tensor blk\.1\.ffn_up\.weight is missing/);
        await expectProblem(await tinyCoderTensorsWith('wide-k.gguf', (ts) => ts.map((t) => (t.name === 'blk.0.attn_k.weight' ? { ...t, dims: [e, 2 * kvWidth] } : t))), 'badMetadata', new RegExp(`blk\\.0\\.attn_k\\.weight has shape \\[${e}, ${2 * kvWidth}\\], but the hyperparameters give \\[${e}, ${kvWidth}\\]`));
        // The hyperparameters, not the tensors, are what changed: every attention tensor now disagrees.
        await expectProblem(await tinyCoderWith('key-length.gguf', (m) => {
            m.set('llama.attention.key_length', ggufValue.uint32(e / headCount / 2));
            m.set('llama.attention.value_length', ggufValue.uint32(e / headCount / 2));
            m.set('llama.rope.dimension_count', ggufValue.uint32(e / headCount / 2));
        }), 'badMetadata', /blk\.0\.attn_output\.weight has shape/);
        // An optional tensor is checked when present; a 3-D tensor with trailing 1s is the same shape.
        await expectProblem(await tinyCoderTensorsWith('bad-bias.gguf', (ts) => [...ts, { name: 'blk.0.attn_q.bias', dims: [e + 1], type: 'F32', data: (t) => t.fill(0) }]),
            'badMetadata', /blk\.0\.attn_q\.bias has shape/);
        const trailing = await tinyCoderTensorsWith('trailing-one.gguf', (ts) => ts.map((t) => (t.name === 'blk.0.ffn_up.weight' ? { ...t, dims: [...t.dims, 1] } : t)));
        assert.equal((await validateModelFile(trailing, { contextSize: 256 })).architecture, 'llama');
        await expectProblem(await tinyCoderTensorsWith('output-scale.gguf', (ts) => [
            ...ts.filter((t) => t.name !== 'output.weight'),
            { name: 'output.scale', dims: [1], type: 'F32', data: (t) => t.fill(1) },
        ]), 'badMetadata', /output scales/);
    });

    it('reads headers larger than its first read (1 MiB) and recognises other FIM token sets', async () => {
        const file = await tinyCoderWith('big-header.gguf', (m) => {
            m.set('zeta.test.padding', ggufValue.strings(Array.from({ length: 40_000 }, (_, i) => `padding string number ${i}`)));
            m.delete('tokenizer.ggml.fim_pre_token_id');
        });
        const facts = await validateModelFile(file, { contextSize: 512 });
        assert.deepEqual(facts.fim, { prefix: 259, suffix: 260, middle: 261 });
    });

    it('describes sound models: the synthetic trio', async () => {
        for (const role of SYNTHETIC_ROLES) {
            const spec = syntheticModelSpec(role, { preset: 'tiny' });
            const file = path.join(dir, `${role}.gguf`);
            const bytes = await writeGgufToBuffer(spec);
            await writeFile(file, bytes);
            const f = await validateModelFile(file, { contextSize: 1024, memoryBudgetBytes: 1 << 30 });
            const shape = syntheticShape(role, 'tiny');
            assert.equal(f.path, file);
            assert.equal(f.fileSize, bytes.length);
            assert.equal(f.ggufVersion, 3);
            assert.equal(f.architecture, 'llama');
            assert.match(f.name, /^Zeta Synthetic /);
            assert.equal(f.tokenizerModel, 'llama');
            assert.equal(f.embeddingLength, shape.embeddingLength);
            assert.equal(f.blockCount, shape.blockCount);
            assert.equal(f.trainContextSize, 4096);
            assert.equal(f.feedForwardLength, shape.feedForwardLength);
            assert.equal(f.headCount, shape.headCount);
            assert.equal(f.vocabSize, SYNTHETIC_VOCABULARY.tokens.length);
            assert.equal(f.bosTokenId, 1);
            assert.equal(f.eosTokenId, 2);
            assert.deepEqual(f.fim, { prefix: SYNTHETIC_VOCABULARY.fimPrefixId, suffix: SYNTHETIC_VOCABULARY.fimSuffixId, middle: SYNTHETIC_VOCABULARY.fimMiddleId });
            assert.equal(f.specialTokens.get('<|im_end|>'), SYNTHETIC_VOCABULARY.imEndId);
            assert.ok(f.chatMl);
            assert.match(f.chatTemplate ?? '', /<\|im_start\|>/);
            assert.equal(f.tensorCount, spec.tensors.length);
            // Weights plus an f16 KV cache: 2 (K, V) x layers x context x width x 2 bytes, plus compute.
            const kv = 2 * shape.blockCount * 1024 * shape.embeddingLength * 2;
            assert.equal(f.memory.weightsBytes, bytes.length);
            assert.ok(f.memory.contextBytes > kv && f.memory.totalBytes === f.memory.weightsBytes + f.memory.contextBytes);
        }
    });

    it('rejects with the abort reason when the signal is already aborted', async () => {
        const controller = new AbortController();
        controller.abort(new Error('stop now'));
        await assert.rejects(validateModelFile(bad.overMemoryBudget, { contextSize: 512 }, controller.signal), /stop now/);
    });

    it('refuses a non-positive context size as a programming error', async () => {
        await assert.rejects(validateModelFile(bad.overMemoryBudget, { contextSize: 0 }), RangeError);
    });
});
