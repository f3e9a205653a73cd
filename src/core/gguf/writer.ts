/**
 * GGUF v3 writer. Pure: the header is built in memory (it is small: metadata and tensor infos),
 * tensor data is produced chunk by chunk and handed to a sink, so a 200 MB model never exists
 * in memory at once. See types.ts for the file layout.
 */

import {
    GGML_MAX_DIMS,
    GGML_MAX_NAME,
    GGML_TYPE_F16,
    GGML_TYPE_F32,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGUF_TYPE_IDS,
    GGUF_VERSION,
    alignUp,
    isPowerOfTwo,
    type GgufMetadata,
    type GgufScalarType,
    type GgufValue,
    type WritableTensorType,
} from './types';

/** Fills `target` with the tensor's elements [first, first + target.length), in ggml order. */
export type TensorFill = (target: Float32Array, first: number) => void;

export interface GgufTensorSpec {
    /** Shorter than 64 bytes (GGML_MAX_NAME including the terminator). */
    readonly name: string;
    /** ggml order: dims[0] is contiguous. 1 to 4 dimensions, each >= 1. */
    readonly dims: readonly number[];
    readonly type: WritableTensorType;
    /** Either all elements, or a function producing them chunk by chunk. */
    readonly data: Float32Array | TensorFill;
}

export interface GgufWriteSpec {
    /** Written in iteration order. `general.alignment`, when present, must be a power-of-two uint32. */
    readonly metadata: GgufMetadata;
    readonly tensors: readonly GgufTensorSpec[];
}

/** Receives the file's bytes in order. The chunk is not reused after the returned promise settles. */
export type GgufSink = (chunk: Uint8Array) => void | Promise<void>;

export interface GgufTensorLayout {
    readonly name: string;
    readonly dims: readonly number[];
    readonly typeId: number;
    /** Relative to the start of the data section; a multiple of the alignment. */
    readonly offset: number;
    /** Absolute position in the file. */
    readonly fileOffset: number;
    /** Unpadded data size in bytes. */
    readonly byteSize: number;
}

export interface GgufLayout {
    readonly alignment: number;
    /** Magic through the last tensor info, plus padding up to `dataOffset`. */
    readonly header: Uint8Array;
    /** Absolute start of the data section (a multiple of the alignment). */
    readonly dataOffset: number;
    readonly tensors: readonly GgufTensorLayout[];
    /** Whole file size: every tensor, the last one included, is padded to the alignment. */
    readonly totalBytes: number;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextEncoder();

/** A growable little-endian byte buffer for the header. */
class ByteWriter {
    private buf = new Uint8Array(4096);
    private view = new DataView(this.buf.buffer);
    length = 0;

    private reserve(n: number): void {
        if (this.length + n <= this.buf.length) return;
        let size = this.buf.length * 2;
        while (size < this.length + n) size *= 2;
        const next = new Uint8Array(size);
        next.set(this.buf.subarray(0, this.length));
        this.buf = next;
        this.view = new DataView(next.buffer);
    }

    u8(v: number): void { this.reserve(1); this.view.setUint8(this.length, v); this.length += 1; }
    i8(v: number): void { this.reserve(1); this.view.setInt8(this.length, v); this.length += 1; }
    u16(v: number): void { this.reserve(2); this.view.setUint16(this.length, v, true); this.length += 2; }
    i16(v: number): void { this.reserve(2); this.view.setInt16(this.length, v, true); this.length += 2; }
    u32(v: number): void { this.reserve(4); this.view.setUint32(this.length, v, true); this.length += 4; }
    i32(v: number): void { this.reserve(4); this.view.setInt32(this.length, v, true); this.length += 4; }
    f32(v: number): void { this.reserve(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
    f64(v: number): void { this.reserve(8); this.view.setFloat64(this.length, v, true); this.length += 8; }
    u64(v: bigint): void { this.reserve(8); this.view.setBigUint64(this.length, v, true); this.length += 8; }
    i64(v: bigint): void { this.reserve(8); this.view.setBigInt64(this.length, v, true); this.length += 8; }
    bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
    string(s: string): void { const b = utf8.encode(s); this.u64(BigInt(b.length)); this.bytes(b); }
    zeros(n: number): void { this.reserve(n); this.buf.fill(0, this.length, this.length + n); this.length += n; }
    result(): Uint8Array { return this.buf.slice(0, this.length); }
}

const INT_RANGES: Readonly<Record<string, readonly [number, number]>> = {
    uint8: [0, 0xff], int8: [-0x80, 0x7f], uint16: [0, 0xffff], int16: [-0x8000, 0x7fff],
    uint32: [0, 0xffffffff], int32: [-0x80000000, 0x7fffffff],
};

function writeScalar(w: ByteWriter, key: string, type: GgufScalarType, value: number | bigint | boolean | string): void {
    const range = INT_RANGES[type];
    if (range !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < range[0] || value > range[1])) {
        throw new RangeError(`GGUF key ${key}: ${String(value)} is not a ${type}`);
    }
    switch (type) {
        case 'uint8': w.u8(value as number); break;
        case 'int8': w.i8(value as number); break;
        case 'uint16': w.u16(value as number); break;
        case 'int16': w.i16(value as number); break;
        case 'uint32': w.u32(value as number); break;
        case 'int32': w.i32(value as number); break;
        case 'float32': w.f32(value as number); break;
        case 'float64': w.f64(value as number); break;
        case 'bool': w.u8(value === true ? 1 : 0); break;
        case 'string': w.string(value as string); break;
        case 'uint64': {
            const v = value as bigint;
            if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`GGUF key ${key}: ${v} is not a uint64`);
            w.u64(v);
            break;
        }
        case 'int64': {
            const v = value as bigint;
            if (v < -(2n ** 63n) || v >= 2n ** 63n) throw new RangeError(`GGUF key ${key}: ${v} is not an int64`);
            w.i64(v);
            break;
        }
    }
}

function writeValue(w: ByteWriter, key: string, v: GgufValue): void {
    w.u32(GGUF_TYPE_IDS[v.type]);
    if (v.type !== 'array') {
        writeScalar(w, key, v.type, v.value);
        return;
    }
    w.u32(GGUF_TYPE_IDS[v.itemType]);
    w.u64(BigInt(v.value.length));
    for (const item of v.value) writeScalar(w, key, v.itemType, item);
}

/** The alignment a file with this metadata uses. Throws when `general.alignment` is invalid. */
export function alignmentOf(metadata: GgufMetadata): number {
    const v = metadata.get('general.alignment');
    if (v === undefined) return GGUF_DEFAULT_ALIGNMENT;
    if (v.type !== 'uint32' || !isPowerOfTwo(v.value)) {
        throw new RangeError('general.alignment must be a power-of-two uint32');
    }
    return v.value;
}

function tensorTypeId(type: WritableTensorType): number {
    return type === 'F32' ? GGML_TYPE_F32 : GGML_TYPE_F16;
}

function elementCount(dims: readonly number[]): number {
    return dims.reduce((a, b) => a * b, 1);
}

/** Computes the header bytes and every tensor's position. Throws RangeError on an invalid spec. */
export function layoutGguf(spec: GgufWriteSpec): GgufLayout {
    const alignment = alignmentOf(spec.metadata);
    const w = new ByteWriter();
    w.u32(GGUF_MAGIC);
    w.u32(GGUF_VERSION);
    w.u64(BigInt(spec.tensors.length));
    w.u64(BigInt(spec.metadata.size));
    for (const [key, value] of spec.metadata) {
        if (key.length === 0) throw new RangeError('GGUF keys must not be empty');
        w.string(key);
        writeValue(w, key, value);
    }
    const tensors: GgufTensorLayout[] = [];
    const names = new Set<string>();
    let offset = 0;
    for (const t of spec.tensors) {
        if (utf8.encode(t.name).length >= GGML_MAX_NAME) throw new RangeError(`tensor name too long: ${t.name}`);
        if (names.has(t.name)) throw new RangeError(`duplicate tensor name: ${t.name}`);
        names.add(t.name);
        if (t.dims.length < 1 || t.dims.length > GGML_MAX_DIMS || t.dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
            throw new RangeError(`tensor ${t.name}: invalid dims [${t.dims.join(', ')}]`);
        }
        const elements = elementCount(t.dims);
        if (t.data instanceof Float32Array && t.data.length !== elements) {
            throw new RangeError(`tensor ${t.name}: ${t.data.length} values for ${elements} elements`);
        }
        const typeId = tensorTypeId(t.type);
        const byteSize = elements * (t.type === 'F32' ? 4 : 2);
        w.string(t.name);
        w.u32(t.dims.length);
        for (const d of t.dims) w.u64(BigInt(d));
        w.u32(typeId);
        w.u64(BigInt(offset));
        tensors.push({ name: t.name, dims: [...t.dims], typeId, offset, fileOffset: 0, byteSize });
        offset += alignUp(byteSize, alignment);
    }
    const dataOffset = alignUp(w.length, alignment);
    w.zeros(dataOffset - w.length);
    return {
        alignment,
        header: w.result(),
        dataOffset,
        tensors: tensors.map((t) => ({ ...t, fileOffset: dataOffset + t.offset })),
        totalBytes: dataOffset + offset,
    };
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE 754 binary16 bits of `x`, rounded to nearest even. */
export function float32ToFloat16Bits(x: number): number {
    f32Scratch[0] = x;
    const bits = u32Scratch[0]!;
    const sign = (bits >>> 16) & 0x8000;
    const exp = (bits >>> 23) & 0xff;
    let mant = bits & 0x7fffff;
    if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
    const e = exp - 127 + 15;
    if (e >= 0x1f) return sign | 0x7c00;
    if (e <= 0) {
        if (e < -10) return sign;
        mant |= 0x800000;
        const shift = 14 - e;
        let half = mant >>> shift;
        const rem = mant & ((1 << shift) - 1);
        const halfway = 1 << (shift - 1);
        if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++;
        return sign | half;
    }
    let half = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
    return sign | half;
}

function fillValues(data: Float32Array | TensorFill, target: Float32Array, first: number): void {
    if (data instanceof Float32Array) target.set(data.subarray(first, first + target.length));
    else data(target, first);
}

/** Encodes elements [first, first + count) of a tensor. */
function encodeTensorChunk(t: GgufTensorSpec, first: number, count: number): Uint8Array {
    if (t.type === 'F32') {
        const out = new Uint8Array(count * 4);
        if (LITTLE_ENDIAN_HOST) {
            fillValues(t.data, new Float32Array(out.buffer), first);
        } else {
            const values = new Float32Array(count);
            fillValues(t.data, values, first);
            const view = new DataView(out.buffer);
            for (let i = 0; i < count; i++) view.setFloat32(i * 4, values[i]!, true);
        }
        return out;
    }
    const values = new Float32Array(count);
    fillValues(t.data, values, first);
    const out = new Uint8Array(count * 2);
    const view = new DataView(out.buffer);
    for (let i = 0; i < count; i++) view.setUint16(i * 2, float32ToFloat16Bits(values[i]!), true);
    return out;
}

export interface WriteOptions {
    /** Approximate bytes per chunk handed to the sink (default 1 MiB). */
    readonly chunkBytes?: number;
}

/**
 * Streams the whole file to `sink`, awaiting each chunk (back-pressure). Deterministic: the
 * same spec always gives the same bytes. Resolves with the layout written.
 */
export async function writeGguf(spec: GgufWriteSpec, sink: GgufSink, options: WriteOptions = {}): Promise<GgufLayout> {
    const layout = layoutGguf(spec);
    const chunkBytes = Math.max(1024, options.chunkBytes ?? 1024 * 1024);
    await sink(layout.header);
    let position = layout.dataOffset;
    for (let i = 0; i < spec.tensors.length; i++) {
        const t = spec.tensors[i]!;
        const info = layout.tensors[i]!;
        const elementBytes = t.type === 'F32' ? 4 : 2;
        const elements = info.byteSize / elementBytes;
        const perChunk = Math.max(1, Math.floor(chunkBytes / elementBytes));
        for (let first = 0; first < elements; first += perChunk) {
            const chunk = encodeTensorChunk(t, first, Math.min(perChunk, elements - first));
            await sink(chunk);
            position += chunk.length;
        }
        const padded = layout.dataOffset + info.offset + alignUp(info.byteSize, layout.alignment);
        if (padded > position) {
            await sink(new Uint8Array(padded - position));
            position = padded;
        }
    }
    return layout;
}

/** The whole file in one buffer (small files: tests, bad-file fixtures). */
export async function writeGgufToBuffer(spec: GgufWriteSpec): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    const layout = await writeGguf(spec, (chunk) => { parts.push(chunk); });
    const out = new Uint8Array(layout.totalBytes);
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
}
