import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readGguf, type GgufFileInfo } from '../../../src/core/gguf/reader';
import {
    CHATML_TEMPLATE,
    SYNTHETIC_GENERATOR_VERSION,
    SYNTHETIC_ROLES,
    SYNTHETIC_VOCABULARY,
    mulberry32At,
    syntheticModelSpec,
    syntheticShape,
    type SyntheticPreset,
    type SyntheticRole,
} from '../../../src/core/gguf/synthetic';
import { TOKEN_TYPE, numberValue, stringValue } from '../../../src/core/gguf/types';
import { writeGguf, writeGgufToBuffer } from '../../../src/core/gguf/writer';

async function sha256(role: SyntheticRole, preset: SyntheticPreset, seed: number): Promise<string> {
    const hash = createHash('sha256');
    await writeGguf(syntheticModelSpec(role, { preset, seed }), (chunk) => { hash.update(chunk); });
    return hash.digest('hex');
}

async function readTiny(role: SyntheticRole): Promise<GgufFileInfo> {
    const r = readGguf(await writeGgufToBuffer(syntheticModelSpec(role, { preset: 'tiny' })));
    assert.equal(r.status, 'ok');
    return (r as { info: GgufFileInfo }).info;
}

/** Reference mulberry32 (sequential form). */
function mulberry32(seed: number): () => number {
    let a = seed;
    return () => {
        a = (a + 0x6d2b79f5) | 0;
        let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

describe('synthetic models', () => {
    it('counter-based mulberry32 equals the sequential generator', () => {
        for (const seed of [0, 42, 0xdeadbeef]) {
            const next = mulberry32(seed | 0);
            for (let i = 0; i < 1000; i++) assert.equal(mulberry32At(seed | 0, i), next(), `seed ${seed} element ${i}`);
        }
    });

    it('same seed gives byte-identical files; another seed or role gives different ones', async () => {
        for (const role of SYNTHETIC_ROLES) {
            assert.equal(await sha256(role, 'tiny', 7), await sha256(role, 'tiny', 7), role);
        }
        const a = await sha256('coder', 'tiny', 1);
        assert.notEqual(a, await sha256('coder', 'tiny', 2));
        assert.notEqual(a, await sha256('reasoner', 'tiny', 1));
    });

    it('pins the bytes of generator version 3 (change both together)', async () => {
        assert.equal(SYNTHETIC_GENERATOR_VERSION, 3);
        assert.equal(await sha256('coder', 'tiny', 1), '2af5a76765d53a7e1df17ae5b2dbc334fad8d911807cb8469adde1c08462a449');
    });

    it('the output rows of the non-ASCII byte tokens are zero, every other row is not', () => {
        const spec = syntheticModelSpec('coder', { preset: 'tiny' });
        const output = spec.tensors.find((t) => t.name === 'output.weight');
        assert.ok(output && typeof output.data === 'function');
        const [width, rows] = output.dims as [number, number];
        const values = new Float32Array(width * rows);
        // In pieces, as the writer fills it: a row may straddle two pieces.
        for (let first = 0; first < values.length; first += 1000) output.data(values.subarray(first, Math.min(values.length, first + 1000)), first);
        const zero: string[] = [];
        for (let r = 0; r < rows; r++) if (values.subarray(r * width, (r + 1) * width).every((v) => v === 0)) zero.push(SYNTHETIC_VOCABULARY.tokens[r]);
        assert.deepEqual(zero, Array.from({ length: 128 }, (_, i) => `<0x${(0x80 + i).toString(16).toUpperCase()}>`));
    });

    it('full-preset files are deterministic too', async function () {
        this.timeout(30_000);
        assert.equal(await sha256('embedder', 'full', 1), await sha256('embedder', 'full', 1));
    });

    it('has the 4B / 7B / 14B shape in the full preset: same width, 4 / 7 / 14 layers', () => {
        for (const [role, layers] of [['embedder', 4], ['coder', 7], ['reasoner', 14]] as const) {
            assert.deepEqual(syntheticShape(role, 'full'), {
                embeddingLength: 512, feedForwardLength: 1408, headCount: 8, headCountKv: 8, contextLength: 4096, blockCount: layers,
            });
            assert.ok(syntheticShape(role, 'tiny').embeddingLength <= 64);
        }
        const params = (role: SyntheticRole): number => syntheticModelSpec(role).tensors
            .filter((t) => t.name.startsWith('blk.'))
            .reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0);
        const [e, c, r] = SYNTHETIC_ROLES.map(params);
        assert.ok(Math.abs(c! / e! - 7 / 4) < 1e-9 && Math.abs(r! / e! - 14 / 4) < 1e-9);
    });

    for (const role of SYNTHETIC_ROLES) {
        it(`${role}: metadata llama.cpp needs, tokenizer ids and chat template`, async () => {
            const info = await readTiny(role);
            const m = info.metadata;
            const shape = syntheticShape(role, 'tiny');
            assert.equal(stringValue(m.get('general.architecture')), 'llama');
            assert.match(stringValue(m.get('general.name')) ?? '', new RegExp(`^Zeta Synthetic ${role[0]!.toUpperCase()}${role.slice(1)}$`));
            assert.equal(numberValue(m.get('llama.embedding_length')), shape.embeddingLength);
            assert.equal(numberValue(m.get('llama.block_count')), shape.blockCount);
            assert.equal(numberValue(m.get('llama.feed_forward_length')), shape.feedForwardLength);
            assert.equal(numberValue(m.get('llama.attention.head_count')), shape.headCount);
            assert.equal(numberValue(m.get('llama.context_length')), 4096);
            assert.ok(m.get('llama.attention.layer_norm_rms_epsilon')?.type === 'float32');
            assert.equal(stringValue(m.get('tokenizer.ggml.model')), 'llama');
            assert.equal(numberValue(m.get('tokenizer.ggml.bos_token_id')), 1);
            assert.equal(numberValue(m.get('tokenizer.ggml.eos_token_id')), 2);
            assert.equal(numberValue(m.get('tokenizer.ggml.unknown_token_id')), 0);
            assert.equal(stringValue(m.get('tokenizer.chat_template')), CHATML_TEMPLATE);
            const tokens = m.get('tokenizer.ggml.tokens');
            assert.ok(tokens?.type === 'array' && tokens.itemType === 'string');
            assert.deepEqual(tokens.value, SYNTHETIC_VOCABULARY.tokens);
            const embd = info.tensors.find((t) => t.name === 'token_embd.weight');
            assert.deepEqual(embd?.dims, [shape.embeddingLength, tokens.value.length]);
            assert.equal(info.tensors.length, 3 + 9 * shape.blockCount);
            assert.ok(info.tensors.every((t) => t.typeName === 'F32'));
        });
    }

    it('shares one SentencePiece vocabulary with byte, FIM and ChatML tokens', () => {
        const { tokens, types, scores } = SYNTHETIC_VOCABULARY;
        assert.ok(tokens.length >= 300 && tokens.length <= 512, `${tokens.length} tokens`);
        assert.equal(scores.length, tokens.length);
        assert.equal(types.length, tokens.length);
        assert.equal(new Set(tokens).size, tokens.length, 'token texts are unique (llama.cpp asserts it)');
        assert.deepEqual(tokens.slice(0, 3), ['<unk>', '<s>', '</s>']);
        assert.deepEqual(types.slice(0, 3), [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control]);
        for (let b = 0; b < 256; b++) {
            assert.equal(tokens[3 + b], `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
            assert.equal(types[3 + b], TOKEN_TYPE.byte);
        }
        for (const t of ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|im_start|>', '<|im_end|>']) {
            assert.equal(types[tokens.indexOf(t)], TOKEN_TYPE.control, t);
        }
        for (const t of ['<|fim_pad|>', '<|repo_name|>', '<|file_sep|>', '<|endoftext|>']) assert.ok(!tokens.includes(t), `${t} would end generation`);
        for (const word of ['function', 'return', 'const', 'if', 'else', 'for', 'import', 'class', 'def', 'self']) {
            // SPM only reaches a piece through pieces already in the vocabulary: every prefix is present.
            for (let n = 1; n <= word.length; n++) assert.ok(tokens.includes(`\u2581${word.slice(0, n)}`), `▁${word.slice(0, n)}`);
        }
        for (let c = 0x21; c < 0x7f; c++) assert.ok(tokens.includes(String.fromCharCode(c)));
        assert.ok(tokens.includes('\u2581'));
        assert.ok(scores[tokens.indexOf('\u2581function')]! > scores[tokens.indexOf('\u2581func')]!);
    });
});
