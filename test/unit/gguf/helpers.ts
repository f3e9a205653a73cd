/** Byte-level helpers for GGUF tests: locate and patch fields of a written file. */

import { ggufValue, type GgufValue } from '../../../src/core/gguf/types';
import type { GgufWriteSpec } from '../../../src/core/gguf/writer';

/** Position of the first occurrence of an ASCII/UTF-8 string's bytes, or throws. */
export function indexOfText(bytes: Uint8Array, text: string, from = 0): number {
    const at = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(Buffer.from(text, 'utf8'), from);
    if (at < 0) throw new Error(`"${text}" not found`);
    return at;
}

export function view(bytes: Uint8Array): DataView {
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes IEEE 754 binary16 bits. */
export function float16ToNumber(bits: number): number {
    const sign = bits & 0x8000 ? -1 : 1;
    const exp = (bits >>> 10) & 0x1f;
    const mant = bits & 0x3ff;
    if (exp === 0) return sign * mant * 2 ** -24;
    if (exp === 0x1f) return mant === 0 ? sign * Infinity : Number.NaN;
    return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** A small spec with every metadata type and F32 and F16 tensors. */
export function sampleSpec(alignment?: number): GgufWriteSpec {
    const metadata = new Map<string, GgufValue>([
        ['general.architecture', ggufValue.string('llama')],
        ['general.name', ggufValue.string('Sample – ünïcode ✓')],
        ['test.u8', ggufValue.uint8(250)],
        ['test.i8', ggufValue.int8(-120)],
        ['test.u16', ggufValue.uint16(65000)],
        ['test.i16', ggufValue.int16(-32000)],
        ['test.u32', ggufValue.uint32(4000000000)],
        ['test.i32', ggufValue.int32(-2000000000)],
        ['test.f32', ggufValue.float32(0.1)],
        ['test.f64', ggufValue.float64(Math.PI)],
        ['test.u64', ggufValue.uint64(2n ** 63n + 5n)],
        ['test.i64', ggufValue.int64(-(2n ** 62n))],
        ['test.bool', ggufValue.bool(true)],
        ['test.empty_string', ggufValue.string('')],
        ['test.strings', ggufValue.strings(['a', '', '▁word', '<|fim_prefix|>'])],
        ['test.ints', ggufValue.int32s([1, -2, 3])],
        ['test.floats', ggufValue.float32s([0.5, -1.25, 3])],
        ['test.bools', ggufValue.bools([true, false])],
        ['test.u64s', ggufValue.uint64s([0n, 18446744073709551615n])],
        ['test.empty_array', ggufValue.int32s([])],
    ]);
    if (alignment !== undefined) metadata.set('general.alignment', ggufValue.uint32(alignment));
    const ramp = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => i * 0.25 - 3);
    return {
        metadata,
        tensors: [
            { name: 'a.weight', dims: [3], type: 'F32', data: ramp(3) },
            { name: 'b.weight', dims: [5, 7], type: 'F32', data: (t, first) => { for (let i = 0; i < t.length; i++) t[i] = (first + i) / 7; } },
            { name: 'c.weight', dims: [4, 3, 2], type: 'F16', data: ramp(24) },
            { name: 'd.weight', dims: [1, 1, 1, 9], type: 'F32', data: ramp(9) },
        ],
    };
}
