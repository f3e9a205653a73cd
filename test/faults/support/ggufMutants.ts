/**
 * Hostile GGUF files for the faults suite: small valid seed models (the generated models'
 * vocabulary and metadata, with tensors shrunk so a file is ~25 KB) and seeded mutations of them.
 *
 * A mutant is a pure function of (fuzz seed, case index): `mutant(seed, i)` always gives the same
 * bytes and description, so a failing case is reproduced from its index alone. Mutations are of
 * two kinds, drawn with equal odds, one or two per case:
 * - structural: edit the metadata/tensor list and write it with Zeta's GGUF writer (duplicate or
 *   empty token texts, vocabulary arrays of the wrong length or type, special ids out of range,
 *   hyperparameters set to edge values, removed, retyped or given per-layer arrays, tensors with
 *   other shapes, missing or extra);
 * - byte-level on the header (the region before the tensor data): bit flips, random runs,
 *   truncation at any offset, inserted or deleted bytes, and every counted field of the header
 *   (tensor/key counts, string lengths, type tags, array lengths, dimensions, ggml types, tensor
 *   offsets, general.alignment) set to an edge value.
 */
import { syntheticModelSpec } from '../../../src/core/gguf/synthetic';
import { GGUF_SCALAR_SIZES, GGUF_TYPE_NAMES, TOKEN_TYPE, ggufValue, type GgufScalarType, type GgufValue } from '../../../src/core/gguf/types';
import { writeGgufToBuffer, type GgufTensorSpec } from '../../../src/core/gguf/writer';

/** A small seeded PRNG (mulberry32): the same seed always gives the same stream. */
export class Rng {
    private state: number;
    constructor(seed: number) {
        this.state = seed >>> 0;
    }
    /** Uniform in [0, 1). */
    next(): number {
        let a = (this.state = (this.state + 0x6d2b79f5) | 0);
        a = Math.imul(a ^ (a >>> 15), 1 | a);
        a = (a + Math.imul(a ^ (a >>> 7), 61 | a)) ^ a;
        return ((a ^ (a >>> 14)) >>> 0) / 4294967296;
    }
    /** Integer in [0, n). */
    int(n: number): number {
        return Math.floor(this.next() * n);
    }
    pick<T>(items: readonly T[]): T {
        return items[this.int(items.length)]!;
    }
    chance(p: number): boolean {
        return this.next() < p;
    }
}

export interface Mutant {
    readonly index: number;
    /** What was done, in words: enough to rebuild it by hand. */
    readonly description: string;
    readonly bytes: Uint8Array;
    /** The seed model it came from. */
    readonly seedName: string;
}

type Spec = { metadata: Map<string, GgufValue>; tensors: GgufTensorSpec[] };

/** Tiny tensor shapes: width 16, 2 heads of 8, feed-forward 32. */
const E = 16;
const F = 32;

/** A valid model of the generated family, shrunk: `blocks` layers, `kvHeads` KV heads, optional per-layer arrays. */
function seedSpec(options: { blocks: number; kvHeads: number; perLayer: boolean; tokenizer: 'llama' | 'gpt2' }): Spec {
    const base = syntheticModelSpec('coder', { preset: 'tiny' });
    const m = base.metadata;
    const heads = 2;
    const headDim = E / heads;
    const kvWidth = headDim * options.kvHeads;
    const perLayer = (n: number): GgufValue => (options.perLayer ? ggufValue.uint32s(Array.from({ length: options.blocks }, () => n)) : ggufValue.uint32(n));
    m.set('llama.embedding_length', ggufValue.uint32(E));
    m.set('llama.block_count', ggufValue.uint32(options.blocks));
    m.set('llama.feed_forward_length', perLayer(F));
    m.set('llama.attention.head_count', perLayer(heads));
    m.set('llama.attention.head_count_kv', perLayer(options.kvHeads));
    m.set('llama.rope.dimension_count', ggufValue.uint32(headDim));
    m.set('llama.context_length', ggufValue.uint32(256));
    if (options.tokenizer === 'gpt2') useByteLevelBpe(m);
    const tokens = m.get('tokenizer.ggml.tokens')!.value as readonly string[];
    const nVocab = tokens.length;
    m.set('llama.vocab_size', ggufValue.uint32(nVocab));
    const fill = (scale: number) => (t: Float32Array, first: number): void => {
        for (let i = 0; i < t.length; i++) t[i] = Math.sin((first + i) * 0.7) * scale;
    };
    const w = (name: string, dims: readonly number[], scale = 0.3): GgufTensorSpec => ({ name, dims, type: 'F16', data: fill(scale) });
    const norm = (name: string): GgufTensorSpec => ({ name, dims: [E], type: 'F32', data: (t) => t.fill(1) });
    const tensors: GgufTensorSpec[] = [w('token_embd.weight', [E, nVocab], 1)];
    for (let b = 0; b < options.blocks; b++) {
        const p = `blk.${b}.`;
        tensors.push(
            norm(`${p}attn_norm.weight`), w(`${p}attn_q.weight`, [E, E]), w(`${p}attn_k.weight`, [E, kvWidth]),
            w(`${p}attn_v.weight`, [E, kvWidth]), w(`${p}attn_output.weight`, [E, E]), norm(`${p}ffn_norm.weight`),
            w(`${p}ffn_gate.weight`, [E, F]), w(`${p}ffn_up.weight`, [E, F]), w(`${p}ffn_down.weight`, [F, E]),
        );
    }
    tensors.push(norm('output_norm.weight'));
    return { metadata: m, tensors };
}

/** GPT-2's printable stand-ins for the 256 bytes (bytes_to_unicode). */
function byteLevelAlphabet(): string[] {
    const direct = new Set<number>();
    for (let b = 0x21; b <= 0x7e; b++) direct.add(b);
    for (let b = 0xa1; b <= 0xac; b++) direct.add(b);
    for (let b = 0xae; b <= 0xff; b++) direct.add(b);
    let extra = 0;
    return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(direct.has(b) ? b : 256 + extra++));
}

/** Replaces the vocabulary with a small byte-level BPE one (StarCoder-style FIM tokens, a few merges). */
function useByteLevelBpe(m: Map<string, GgufValue>): void {
    const alphabet = byteLevelAlphabet();
    const specials = ['<|endoftext|>', '<fim_prefix>', '<fim_middle>', '<fim_suffix>', '<fim_pad>'];
    const merges = ['Ġ t', 'Ġ a', 'h e', 'i n', 'r e', 'o n', 'Ġt he', 'e r', 'Ġ s', 'a t'];
    const merged = merges.map((p) => p.replace(' ', ''));
    const tokens = [...specials, ...alphabet, ...merged];
    const types = tokens.map((_, i) => (i < specials.length ? TOKEN_TYPE.control : TOKEN_TYPE.normal));
    for (const k of [...m.keys()]) if (k.startsWith('tokenizer.ggml.')) m.delete(k);
    m.set('tokenizer.ggml.model', ggufValue.string('gpt2'));
    m.set('tokenizer.ggml.pre', ggufValue.string('starcoder'));
    m.set('tokenizer.ggml.tokens', ggufValue.strings(tokens));
    m.set('tokenizer.ggml.token_type', ggufValue.int32s(types));
    m.set('tokenizer.ggml.merges', ggufValue.strings(merges));
    m.set('tokenizer.ggml.bos_token_id', ggufValue.uint32(0));
    m.set('tokenizer.ggml.eos_token_id', ggufValue.uint32(0));
    m.set('tokenizer.ggml.add_bos_token', ggufValue.bool(false));
}

interface Seed {
    readonly name: string;
    readonly spec: () => Spec;
}

/** The seed models; each is valid and loads in llama.cpp (the suite checks both). */
export const SEEDS: readonly Seed[] = [
    { name: 'spm-1layer', spec: () => seedSpec({ blocks: 1, kvHeads: 2, perLayer: false, tokenizer: 'llama' }) },
    { name: 'spm-gqa-perlayer', spec: () => seedSpec({ blocks: 2, kvHeads: 1, perLayer: true, tokenizer: 'llama' }) },
    { name: 'bpe-1layer', spec: () => seedSpec({ blocks: 1, kvHeads: 2, perLayer: false, tokenizer: 'gpt2' }) },
];

export async function seedBytes(seed: Seed): Promise<Uint8Array> {
    return writeGgufToBuffer(seed.spec());
}

// ---------------------------------------------------------------------------------------------
// Header fields, located by walking a valid header.

type FieldKind = 'tensorCount' | 'kvCount' | 'keyLength' | 'valueType' | 'itemType' | 'arrayLength' | 'stringLength' | 'scalar'
    | 'nameLength' | 'nDims' | 'dim' | 'ggmlType' | 'tensorOffset';

interface Field {
    readonly at: number;
    /** Bytes: 4 or 8 for counts, tags and lengths; the scalar's size for values. */
    readonly size: number;
    readonly kind: FieldKind;
    readonly label: string;
    readonly scalarType?: GgufScalarType;
}

interface HeaderLayout {
    readonly fields: readonly Field[];
    /** End of the last tensor info. */
    readonly headerEnd: number;
}

/** Walks a header the writer produced (trusted) and records where each field lies. */
export function headerFields(bytes: Uint8Array): HeaderLayout {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let p = 8;
    const fields: Field[] = [];
    const u64 = (): number => { const n = Number(v.getBigUint64(p, true)); p += 8; return n; };
    const u32 = (): number => { const n = v.getUint32(p, true); p += 4; return n; };
    const str = (kind: FieldKind, label: string): string => {
        fields.push({ at: p, size: 8, kind, label });
        const n = u64();
        const s = Buffer.from(bytes.subarray(p, p + n)).toString('utf8');
        p += n;
        return s;
    };
    fields.push({ at: p, size: 8, kind: 'tensorCount', label: 'tensor count' });
    const nTensors = u64();
    fields.push({ at: p, size: 8, kind: 'kvCount', label: 'key count' });
    const nKv = u64();
    const scalar = (type: GgufScalarType, label: string, record: boolean): void => {
        if (type === 'string') {
            if (record) fields.push({ at: p, size: 8, kind: 'stringLength', label });
            p += 8 + Number(v.getBigUint64(p, true));
            return;
        }
        if (record) fields.push({ at: p, size: GGUF_SCALAR_SIZES[type], kind: 'scalar', label, scalarType: type });
        p += GGUF_SCALAR_SIZES[type];
    };
    for (let i = 0; i < nKv; i++) {
        const key = str('keyLength', `key ${i} name`);
        fields.push({ at: p, size: 4, kind: 'valueType', label: `type of ${key}` });
        const type = GGUF_TYPE_NAMES[u32()]!;
        if (type !== 'array') {
            scalar(type, key, true);
            continue;
        }
        fields.push({ at: p, size: 4, kind: 'itemType', label: `item type of ${key}` });
        const item = GGUF_TYPE_NAMES[u32()] as GgufScalarType;
        fields.push({ at: p, size: 8, kind: 'arrayLength', label: `length of ${key}` });
        const n = u64();
        // Record a few items of each array (the first ones, the last) rather than all 500 token texts.
        for (let k = 0; k < n; k++) scalar(item, `${key}[${k}]`, k < 3 || k === n - 1);
    }
    for (let i = 0; i < nTensors; i++) {
        const name = str('nameLength', `tensor ${i} name`);
        fields.push({ at: p, size: 4, kind: 'nDims', label: `dims of ${name}` });
        const nd = u32();
        for (let d = 0; d < nd; d++) {
            fields.push({ at: p, size: 8, kind: 'dim', label: `dim ${d} of ${name}` });
            p += 8;
        }
        fields.push({ at: p, size: 4, kind: 'ggmlType', label: `ggml type of ${name}` });
        p += 4;
        fields.push({ at: p, size: 8, kind: 'tensorOffset', label: `offset of ${name}` });
        p += 8;
    }
    return { fields, headerEnd: p };
}

// ---------------------------------------------------------------------------------------------
// Byte-level mutations.

const EDGE_U64: readonly bigint[] = [0n, 1n, 2n, 7n, 255n, 256n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 2n ** 53n, 2n ** 62n, 2n ** 63n, 2n ** 64n - 1n];
const EDGE_U32: readonly number[] = [0, 1, 2, 3, 5, 9, 12, 13, 255, 0x7fffffff, 0x80000000, 0xffffffff];

function edgeValue(r: Rng, field: Field, view: DataView): { bytes: Uint8Array; shown: string } {
    const out = new Uint8Array(field.size);
    const w = new DataView(out.buffer);
    if (field.size === 8) {
        const cur = view.getBigUint64(field.at, true);
        const choices = [...EDGE_U64, cur + 1n, cur > 0n ? cur - 1n : 0n, cur * 2n, cur / 2n, BigInt(r.int(1 << 30))];
        const x = BigInt.asUintN(64, r.pick(choices));
        w.setBigUint64(0, x, true);
        return { bytes: out, shown: String(x) };
    }
    if (field.size === 4) {
        const cur = view.getUint32(field.at, true);
        const typeLike = field.kind === 'valueType' || field.kind === 'itemType' || field.kind === 'ggmlType';
        const choices = typeLike ? [r.int(16), r.int(45), cur + 1, 0xffffffff, 9, 8] : [...EDGE_U32, cur + 1, Math.max(0, cur - 1), cur * 2, r.int(1 << 20)];
        const x = r.pick(choices) >>> 0;
        w.setUint32(0, x, true);
        return { bytes: out, shown: String(x) };
    }
    for (let i = 0; i < out.length; i++) out[i] = r.pick([0, 0xff, 0x7f, 0x80, r.int(256)]);
    return { bytes: out, shown: `bytes ${[...out].map((b) => b.toString(16).padStart(2, '0')).join('')}` };
}

function byteMutation(r: Rng, input: Uint8Array, layout: HeaderLayout): { bytes: Uint8Array; what: string } {
    const headerEnd = Math.min(layout.headerEnd, input.length);
    const op = r.int(8);
    const bytes = new Uint8Array(input);
    const view = new DataView(bytes.buffer);
    switch (op) {
        case 0:
        case 1: {
            const field = r.pick(layout.fields.filter((f) => f.at + f.size <= bytes.length));
            const v = edgeValue(r, field, view);
            bytes.set(v.bytes, field.at);
            return { bytes, what: `set ${field.label} (byte ${field.at}) to ${v.shown}` };
        }
        case 2: {
            const n = 1 + r.int(8);
            const at: number[] = [];
            for (let i = 0; i < n; i++) {
                const p = r.int(headerEnd);
                bytes[p]! ^= 1 << r.int(8);
                at.push(p);
            }
            return { bytes, what: `flip one bit at header bytes ${at.join(', ')}` };
        }
        case 3: {
            const len = 1 + r.int(16);
            const p = r.int(Math.max(1, headerEnd - len));
            for (let i = 0; i < len && p + i < bytes.length; i++) bytes[p + i] = r.int(256);
            return { bytes, what: `random bytes over ${p}..${p + len}` };
        }
        case 4: {
            const cut = r.chance(0.7) ? r.int(headerEnd + 1) : r.int(input.length);
            return { bytes: input.slice(0, cut), what: `truncate to ${cut} bytes` };
        }
        case 5: {
            const p = r.int(headerEnd);
            const len = 1 + r.int(24);
            const ins = Uint8Array.from({ length: len }, () => r.int(256));
            const out = new Uint8Array(input.length + len);
            out.set(input.subarray(0, p));
            out.set(ins, p);
            out.set(input.subarray(p), p + len);
            return { bytes: out, what: `insert ${len} random bytes at ${p}` };
        }
        case 6: {
            const p = r.int(headerEnd);
            const len = 1 + r.int(24);
            const out = new Uint8Array(input.length - Math.min(len, input.length - p));
            out.set(input.subarray(0, p));
            out.set(input.subarray(p + len), p);
            return { bytes: out, what: `delete ${len} bytes at ${p}` };
        }
        default: {
            // Copy one header run over another (a plausible-looking but misplaced structure).
            const len = 4 + r.int(32);
            const from = r.int(Math.max(1, headerEnd - len));
            const to = r.int(Math.max(1, headerEnd - len));
            bytes.copyWithin(to, from, from + len);
            return { bytes, what: `copy header bytes ${from}..${from + len} to ${to}` };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Structural mutations.

const HPARAM_KEYS = [
    'llama.context_length', 'llama.embedding_length', 'llama.block_count', 'llama.feed_forward_length', 'llama.attention.head_count',
    'llama.attention.head_count_kv', 'llama.rope.dimension_count', 'llama.attention.key_length', 'llama.attention.value_length',
    'llama.expert_count', 'llama.expert_used_count', 'llama.expert_group_count', 'llama.expert_group_used_count',
    'llama.nextn_predict_layers', 'llama.vocab_size', 'llama.attention.sliding_window', 'llama.pooling_type', 'llama.rope.scaling.original_context_length',
] as const;
const SPECIAL_ID_KEYS = [
    'bos_token_id', 'eos_token_id', 'unknown_token_id', 'padding_token_id', 'seperator_token_id', 'eot_token_id', 'eom_token_id', 'mask_token_id',
    'fim_pre_token_id', 'fim_suf_token_id', 'fim_mid_token_id', 'fim_pad_token_id', 'fim_rep_token_id', 'fim_sep_token_id', 'prefix_token_id',
].map((k) => `tokenizer.ggml.${k}`);
const FLOAT_KEYS = ['llama.attention.layer_norm_rms_epsilon', 'llama.rope.freq_base', 'llama.rope.scaling.factor', 'llama.attention.layer_norm_epsilon'];
const STRING_CHOICES = ['', 'llama', 'gpt2', 'bert', 't5', 'rwkv', 'plamo2', 'gemma4', 'none', 'linear', 'yarn', 'longrope', 'bogus', 'qwen2', 'deepseek-coder', 'llama-bpe', 'default', 'phi-3', 'kimi-k2', 'hybriddna', 'whitespace', 'gemma4'];
const INT_CHOICES = [0, 1, 2, 3, 4, 7, 8, 16, 17, 32, 64, 255, 256, 511, 512, 513, 1024, 65535, 0x7fffffff, 0x80000000, 0xffffffff];

function randomScalar(r: Rng, near: number): GgufValue {
    const n = r.chance(0.5) ? r.pick(INT_CHOICES) : Math.max(0, near + r.int(5) - 2);
    switch (r.int(9)) {
        case 0: return ggufValue.int32(n > 0x7fffffff ? -1 : r.chance(0.3) ? -n : n);
        case 1: return ggufValue.uint64(BigInt(n));
        case 2: return ggufValue.float32(n);
        case 3: return ggufValue.string(String(n));
        case 4: return ggufValue.uint8(n & 0xff);
        case 5: return ggufValue.bool(n % 2 === 1);
        default: return ggufValue.uint32(n >>> 0);
    }
}

/** The token texts, or a stand-in list when an earlier mutation removed or retyped them. */
function tokensOf(m: Map<string, GgufValue>): string[] {
    const v = m.get('tokenizer.ggml.tokens');
    return v?.type === 'array' && v.itemType === 'string' && v.value.length > 0 ? [...v.value] : ['a', 'b'];
}

function structuralMutation(r: Rng, s: Spec): string {
    const m = s.metadata;
    const blocks = Number((m.get('llama.block_count') as { value?: unknown } | undefined)?.value) || 1;
    switch (r.int(14)) {
        case 0: {
            // Two equal token texts: a copy of another token, or one byte changed to match it.
            const t = tokensOf(m);
            const i = r.int(t.length);
            let j = r.int(t.length);
            if (j === i) j = (i + 1) % t.length;
            t[j] = t[i]!;
            m.set('tokenizer.ggml.tokens', ggufValue.strings(t));
            return `token ${j} set to the text of token ${i} (${JSON.stringify(t[i])})`;
        }
        case 1: {
            const t = tokensOf(m);
            const i = r.int(t.length);
            const j = r.int(t.length);
            const how = r.int(3);
            if (how === 0) t[i] = '';
            else if (how === 1) t[i] = `[EMPTY_${j}]`;
            else t[i] = t[i]! + String.fromCharCode(r.pick([0, 0x20, 0xfeff, 0x2581, 0xfffd]));
            if (how === 1) t[j] = '';
            m.set('tokenizer.ggml.tokens', ggufValue.strings(t));
            return how === 0 ? `token ${i} made empty` : how === 1 ? `token ${i} = "[EMPTY_${j}]" and token ${j} empty` : `token ${i} given an extra character`;
        }
        case 2: {
            // Vocabulary arrays of another length or type.
            const key = r.pick(['tokenizer.ggml.scores', 'tokenizer.ggml.token_type', 'tokenizer.ggml.tokens', 'tokenizer.ggml.merges']);
            const v = m.get(key);
            const n = tokensOf(m).length;
            const len = r.pick([0, 1, n - 1, n + 1, n * 2, r.int(n)]);
            const how = r.int(4);
            if (how === 0 || v === undefined) {
                m.delete(key);
                return `${key} removed`;
            }
            if (how === 1) {
                m.set(key, r.pick([ggufValue.float32s(Array(len).fill(0)), ggufValue.int32s(Array(len).fill(1)), ggufValue.uint32s(Array(len).fill(1)), ggufValue.strings(Array.from({ length: len }, (_, i) => `t${i}`)), ggufValue.uint32(len)]));
                return `${key} replaced by a value of another type (${len} items)`;
            }
            if (v.type === 'array') {
                const items = [...(v.value as readonly unknown[])];
                const resized = Array.from({ length: len }, (_, i) => items[i % Math.max(1, items.length)] ?? (v.itemType === 'string' ? `x${i}` : 0));
                if (v.itemType === 'string' && key === 'tokenizer.ggml.tokens') resized.forEach((_, i) => { if (i >= items.length) resized[i] = `x${i}`; });
                m.set(key, { type: 'array', itemType: v.itemType, value: resized } as unknown as GgufValue);
            }
            return `${key} resized to ${len} items`;
        }
        case 3: {
            const key = r.pick(SPECIAL_ID_KEYS);
            const n = tokensOf(m).length;
            const v = r.pick<GgufValue>([
                ggufValue.uint32(n), ggufValue.uint32(n - 1), ggufValue.uint32(0xffffffff), ggufValue.int32(-1), ggufValue.int32(-5),
                ggufValue.uint64(2n ** 40n), ggufValue.string('1'), ggufValue.float32(1.5), ggufValue.uint32(r.int(n)), ggufValue.int32s([1, 2]),
            ]);
            m.set(key, v);
            return `${key} = ${v.type === 'array' ? 'an array' : `${v.type} ${String(v.value)}`}`;
        }
        case 4: {
            // Token types: random values, byte type on texts that are not <0xNN>, every token control.
            const typeValue = m.get('tokenizer.ggml.token_type');
            // An earlier mutation may have made it a scalar or an array of strings.
            const types = typeValue?.type === 'array' && typeValue.itemType !== 'string' ? (typeValue.value as readonly unknown[]).map(Number) : [];
            if (types.length === 0) return 'nothing (no token types)';
            const k = 1 + r.int(8);
            for (let i = 0; i < k; i++) types[r.int(types.length)] = r.pick([0, 1, 2, 3, 4, 5, 6, 7, -1, 0x7fffffff, TOKEN_TYPE.byte]);
            if (r.chance(0.1)) types.fill(r.pick([TOKEN_TYPE.control, TOKEN_TYPE.byte, TOKEN_TYPE.unused, TOKEN_TYPE.userDefined]));
            m.set('tokenizer.ggml.token_type', ggufValue.int32s(types));
            return `${k} token types changed`;
        }
        case 5:
        case 6:
        case 7: {
            const key = r.pick(HPARAM_KEYS);
            const cur = Number((m.get(key) as { value?: unknown } | undefined)?.value ?? 0) || 0;
            const how = r.int(4);
            if (how === 0) {
                m.delete(key);
                return `${key} removed`;
            }
            if (how === 1) {
                const len = r.pick([blocks, blocks - 1, blocks + 1, 1, 0]);
                const arr = Array.from({ length: Math.max(0, len) }, () => r.pick([cur, cur, 0, 1, cur * 2, 0xffffffff]) >>> 0);
                m.set(key, ggufValue.uint32s(arr));
                return `${key} = per-layer [${arr.join(', ')}]`;
            }
            const v = how === 2 ? ggufValue.uint32(r.pick(INT_CHOICES) >>> 0) : randomScalar(r, cur);
            m.set(key, v);
            return `${key} = ${v.type} ${String(v.value)}`;
        }
        case 8: {
            const key = r.pick([...FLOAT_KEYS, 'llama.rope.scaling.type', 'tokenizer.ggml.model', 'tokenizer.ggml.pre', 'general.architecture', 'tokenizer.chat_template', 'general.name']);
            const v = key.includes('epsilon') || key.includes('freq') || key.includes('factor')
                ? ggufValue.float32(r.pick([0, -1, Number.NaN, Infinity, 1e-30, 1e30, 1]))
                : r.chance(0.8) ? ggufValue.string(r.pick(STRING_CHOICES)) : ggufValue.uint32(1);
            m.set(key, v);
            return `${key} = ${v.type} ${String(v.value)}`;
        }
        case 9: {
            const key = r.pick(['tokenizer.ggml.add_bos_token', 'tokenizer.ggml.add_eos_token', 'tokenizer.ggml.add_space_prefix', 'tokenizer.ggml.add_sep_token', 'tokenizer.ggml.remove_extra_whitespaces']);
            const v = r.chance(0.8) ? ggufValue.bool(r.chance(0.5)) : ggufValue.uint8(1);
            m.set(key, v);
            // With BOS/EOS added but no usable id, llama.cpp's tokenize(add_special) asserts.
            if (r.chance(0.5)) m.delete(r.pick(['tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id']));
            return `${key} = ${v.type} ${String(v.value)} (and maybe a special id removed)`;
        }
        case 10: {
            // Tensor shapes: a dimension changed, added or removed.
            const i = r.int(s.tensors.length);
            const t = s.tensors[i]!;
            const dims = [...t.dims];
            const how = r.int(3);
            if (how === 0) dims[r.int(dims.length)] = r.pick([1, 2, 8, 15, 17, 32, 48, 1000]);
            else if (how === 1 && dims.length < 4) dims.push(r.pick([1, 2, 3]));
            else if (dims.length > 1) dims.pop();
            s.tensors[i] = { ...t, dims };
            return `tensor ${t.name} given dims [${dims.join(', ')}]`;
        }
        case 11: {
            const i = r.int(s.tensors.length);
            const t = s.tensors[i]!;
            const how = r.int(3);
            if (how === 0) {
                s.tensors.splice(i, 1);
                return `tensor ${t.name} removed`;
            }
            if (how === 1) {
                s.tensors.push({ ...t, name: r.pick(['output.weight', `blk.${blocks}.attn_q.weight`, 'rope_freqs.weight', 'zeta.extra']) });
                return `extra tensor ${s.tensors.at(-1)!.name} (shape of ${t.name})`;
            }
            s.tensors[i] = { ...t, type: t.type === 'F16' ? 'F32' : 'F16' };
            return `tensor ${t.name} stored as ${s.tensors[i]!.type}`;
        }
        case 12: {
            const key = r.pick(['llama.expert_count', 'llama.expert_used_count']);
            m.set('llama.expert_count', ggufValue.uint32(r.pick([0, 1, 2, 4, 8, 1025])));
            m.set('llama.expert_used_count', ggufValue.uint32(r.pick([0, 1, 2, 9])));
            if (r.chance(0.5)) m.set('llama.expert_group_count', ggufValue.uint32(r.pick([0, 1, 2, 3, 4])));
            if (r.chance(0.5)) m.set('llama.expert_group_used_count', ggufValue.uint32(r.pick([0, 1, 2, 3])));
            return `experts: ${key} and groups set to edge values (${['llama.expert_count', 'llama.expert_used_count', 'llama.expert_group_count', 'llama.expert_group_used_count'].map((k) => `${k}=${String(m.get(k)?.value ?? '-')}`).join(', ')})`;
        }
        default: {
            // A random extra key, or the key order shuffled.
            if (r.chance(0.5)) {
                const entries = [...m.entries()];
                for (let i = entries.length - 1; i > 0; i--) {
                    const j = r.int(i + 1);
                    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
                }
                m.clear();
                for (const [k, v] of entries) m.set(k, v);
                return 'metadata keys shuffled';
            }
            const key = r.pick(['tokenizer.ggml.precompiled_charsmap', 'tokenizer.ggml.suppress_tokens', 'llama.attention.causal', 'general.alignment', 'split.count', 'tokenizer.ggml.token_type_count']);
            const v = r.pick<GgufValue>([ggufValue.uint32(r.pick([0, 1, 2, 64])), ggufValue.int32s([r.int(600), -1, 1 << 30]), { type: 'array', itemType: 'uint8', value: [r.int(256), 0, 0, 0, 1] }, ggufValue.bool(false), ggufValue.uint32(16)]);
            m.set(key, v);
            return `${key} = ${v.type === 'array' ? `${v.itemType}[${v.value.length}]` : `${v.type} ${String(v.value)}`}`;
        }
    }
}

// ---------------------------------------------------------------------------------------------

export interface MutantSource {
    readonly seeds: readonly { readonly name: string; readonly bytes: Uint8Array; readonly layout: HeaderLayout; readonly spec: () => Spec }[];
    /** Case `index` of the run with this fuzz seed. */
    mutant(fuzzSeed: number, index: number): Promise<Mutant>;
}

/** Builds the seed files once; `mutant` then derives any case from (fuzz seed, index). */
export async function mutantSource(): Promise<MutantSource> {
    const seeds = await Promise.all(SEEDS.map(async (s) => {
        const bytes = await seedBytes(s);
        return { name: s.name, bytes, layout: headerFields(bytes), spec: s.spec };
    }));
    return {
        seeds,
        async mutant(fuzzSeed, index) {
            const r = new Rng((Math.imul(fuzzSeed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
            const seed = r.pick(seeds);
            const steps: string[] = [];
            let bytes: Uint8Array;
            if (r.chance(0.5)) {
                const spec = seed.spec();
                const n = r.chance(0.3) ? 2 : 1;
                for (let k = 0; k < n; k++) steps.push(structuralMutation(r, spec));
                try {
                    bytes = await writeGgufToBuffer(spec);
                } catch (e) {
                    // The writer refuses some edits (zero dimensions, duplicate tensor names, a
                    // value outside its type): fall back to a byte mutation of the seed.
                    steps.push(`(not writable: ${(e as Error).message}; byte mutation instead)`);
                    const b = byteMutation(r, seed.bytes, seed.layout);
                    bytes = b.bytes;
                    steps.push(b.what);
                }
                // Sometimes a structural mutant is also damaged at the byte level.
                if (r.chance(0.15) && steps.every((x) => !x.startsWith('(not writable'))) {
                    const b = byteMutation(r, bytes, headerFields(bytes));
                    bytes = b.bytes;
                    steps.push(b.what);
                }
            } else {
                const b = byteMutation(r, seed.bytes, seed.layout);
                bytes = b.bytes;
                steps.push(b.what);
                if (r.chance(0.25)) {
                    const b2 = byteMutation(r, bytes, seed.layout);
                    bytes = b2.bytes;
                    steps.push(b2.what);
                }
            }
            return { index, seedName: seed.name, description: `case ${index} (seed ${fuzzSeed}, ${seed.name}): ${steps.join('; then ')}`, bytes };
        },
    };
}
