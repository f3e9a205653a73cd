/**
 * GGUF (v2/v3) value and tensor types shared by the writer and the reader.
 *
 * Layout of a GGUF file, all integers little-endian:
 *   magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
 *   kv_count x (key: string, value_type: u32, value)
 *   tensor_count x (name: string, n_dims: u32, dims: u64[n_dims], ggml_type: u32, offset: u64)
 *   padding to `general.alignment` (default 32)
 *   tensor data; each tensor's `offset` is relative to the start of this section, a multiple of the
 *   alignment, and tensors are contiguous in declaration order, each padded to the alignment.
 * A string is a u64 byte length followed by UTF-8 bytes (no terminator). dims are in ggml order:
 * dims[0] is the innermost (contiguous) dimension, e.g. token_embd is [n_embd, n_vocab].
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** llama.cpp's limits (ggml/src/gguf.cpp, ggml.h). */
export const GGUF_MAX_STRING_LENGTH = 1024 * 1024 * 1024;
export const GGUF_MAX_ARRAY_ELEMENTS = 1024 * 1024 * 1024;
export const GGML_MAX_DIMS = 4;
export const GGML_MAX_NAME = 64;

/** Value type ids as stored in the file. */
export const GGUF_TYPE_IDS = {
    uint8: 0,
    int8: 1,
    uint16: 2,
    int16: 3,
    uint32: 4,
    int32: 5,
    float32: 6,
    bool: 7,
    string: 8,
    array: 9,
    uint64: 10,
    int64: 11,
    float64: 12,
} as const;

export type GgufNumberType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';
export type GgufBigIntType = 'uint64' | 'int64';
export type GgufScalarType = GgufNumberType | GgufBigIntType | 'bool' | 'string';

/** 64-bit integers are bigints so no value is silently rounded. */
export type GgufScalar =
    | { readonly type: GgufNumberType; readonly value: number }
    | { readonly type: GgufBigIntType; readonly value: bigint }
    | { readonly type: 'bool'; readonly value: boolean }
    | { readonly type: 'string'; readonly value: string };

/** Arrays hold scalars only: llama.cpp rejects nested arrays. */
export type GgufArray =
    | { readonly type: 'array'; readonly itemType: GgufNumberType; readonly value: readonly number[] }
    | { readonly type: 'array'; readonly itemType: GgufBigIntType; readonly value: readonly bigint[] }
    | { readonly type: 'array'; readonly itemType: 'bool'; readonly value: readonly boolean[] }
    | { readonly type: 'array'; readonly itemType: 'string'; readonly value: readonly string[] };

export type GgufValue = GgufScalar | GgufArray;

/** Metadata in file order (a Map keeps insertion order). */
export type GgufMetadata = ReadonlyMap<string, GgufValue>;

export const GGUF_TYPE_NAMES: readonly (GgufScalarType | 'array')[] = [
    'uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'bool', 'string', 'array', 'uint64', 'int64', 'float64',
];

/** Encoded byte size of a fixed-size scalar type (strings are variable). */
export const GGUF_SCALAR_SIZES: Readonly<Record<Exclude<GgufScalarType, 'string'>, number>> = {
    uint8: 1, int8: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, bool: 1, uint64: 8, int64: 8, float64: 8,
};

/** Constructors for metadata values. */
export const ggufValue = {
    uint8: (value: number): GgufScalar => ({ type: 'uint8', value }),
    int8: (value: number): GgufScalar => ({ type: 'int8', value }),
    uint16: (value: number): GgufScalar => ({ type: 'uint16', value }),
    int16: (value: number): GgufScalar => ({ type: 'int16', value }),
    uint32: (value: number): GgufScalar => ({ type: 'uint32', value }),
    int32: (value: number): GgufScalar => ({ type: 'int32', value }),
    float32: (value: number): GgufScalar => ({ type: 'float32', value }),
    float64: (value: number): GgufScalar => ({ type: 'float64', value }),
    uint64: (value: bigint | number): GgufScalar => ({ type: 'uint64', value: BigInt(value) }),
    int64: (value: bigint | number): GgufScalar => ({ type: 'int64', value: BigInt(value) }),
    bool: (value: boolean): GgufScalar => ({ type: 'bool', value }),
    string: (value: string): GgufScalar => ({ type: 'string', value }),
    strings: (value: readonly string[]): GgufArray => ({ type: 'array', itemType: 'string', value }),
    int32s: (value: readonly number[]): GgufArray => ({ type: 'array', itemType: 'int32', value }),
    uint32s: (value: readonly number[]): GgufArray => ({ type: 'array', itemType: 'uint32', value }),
    float32s: (value: readonly number[]): GgufArray => ({ type: 'array', itemType: 'float32', value }),
    bools: (value: readonly boolean[]): GgufArray => ({ type: 'array', itemType: 'bool', value }),
    uint64s: (value: readonly bigint[]): GgufArray => ({ type: 'array', itemType: 'uint64', value }),
};

/**
 * ggml tensor types: id -> name, elements per block and bytes per block (ggml/src/ggml.c
 * type_traits of the llama.cpp bundled with node-llama-cpp 3.21.1). Removed ids are absent.
 */
export interface GgmlTypeInfo {
    readonly id: number;
    readonly name: string;
    readonly blockSize: number;
    readonly typeSize: number;
}

const GGML_TYPE_LIST: readonly GgmlTypeInfo[] = [
    { id: 0, name: 'F32', blockSize: 1, typeSize: 4 },
    { id: 1, name: 'F16', blockSize: 1, typeSize: 2 },
    { id: 2, name: 'Q4_0', blockSize: 32, typeSize: 18 },
    { id: 3, name: 'Q4_1', blockSize: 32, typeSize: 20 },
    { id: 6, name: 'Q5_0', blockSize: 32, typeSize: 22 },
    { id: 7, name: 'Q5_1', blockSize: 32, typeSize: 24 },
    { id: 8, name: 'Q8_0', blockSize: 32, typeSize: 34 },
    { id: 9, name: 'Q8_1', blockSize: 32, typeSize: 36 },
    { id: 10, name: 'Q2_K', blockSize: 256, typeSize: 84 },
    { id: 11, name: 'Q3_K', blockSize: 256, typeSize: 110 },
    { id: 12, name: 'Q4_K', blockSize: 256, typeSize: 144 },
    { id: 13, name: 'Q5_K', blockSize: 256, typeSize: 176 },
    { id: 14, name: 'Q6_K', blockSize: 256, typeSize: 210 },
    { id: 15, name: 'Q8_K', blockSize: 256, typeSize: 292 },
    { id: 16, name: 'IQ2_XXS', blockSize: 256, typeSize: 66 },
    { id: 17, name: 'IQ2_XS', blockSize: 256, typeSize: 74 },
    { id: 18, name: 'IQ3_XXS', blockSize: 256, typeSize: 98 },
    { id: 19, name: 'IQ1_S', blockSize: 256, typeSize: 50 },
    { id: 20, name: 'IQ4_NL', blockSize: 32, typeSize: 18 },
    { id: 21, name: 'IQ3_S', blockSize: 256, typeSize: 110 },
    { id: 22, name: 'IQ2_S', blockSize: 256, typeSize: 82 },
    { id: 23, name: 'IQ4_XS', blockSize: 256, typeSize: 136 },
    { id: 24, name: 'I8', blockSize: 1, typeSize: 1 },
    { id: 25, name: 'I16', blockSize: 1, typeSize: 2 },
    { id: 26, name: 'I32', blockSize: 1, typeSize: 4 },
    { id: 27, name: 'I64', blockSize: 1, typeSize: 8 },
    { id: 28, name: 'F64', blockSize: 1, typeSize: 8 },
    { id: 29, name: 'IQ1_M', blockSize: 256, typeSize: 56 },
    { id: 30, name: 'BF16', blockSize: 1, typeSize: 2 },
    { id: 34, name: 'TQ1_0', blockSize: 256, typeSize: 54 },
    { id: 35, name: 'TQ2_0', blockSize: 256, typeSize: 66 },
    { id: 39, name: 'MXFP4', blockSize: 32, typeSize: 17 },
    { id: 40, name: 'NVFP4', blockSize: 64, typeSize: 36 },
    { id: 41, name: 'Q1_0', blockSize: 128, typeSize: 18 },
    { id: 42, name: 'Q2_0', blockSize: 64, typeSize: 18 },
];

export const GGML_TYPES: ReadonlyMap<number, GgmlTypeInfo> = new Map(GGML_TYPE_LIST.map((t) => [t.id, t]));

/** The tensor types the writer can encode. */
export type WritableTensorType = 'F32' | 'F16';
export const GGML_TYPE_F32 = 0;
export const GGML_TYPE_F16 = 1;

/** Bytes of tensor data for `dims` (ggml order) of a type; undefined when the type is unknown. */
export function ggmlTensorBytes(typeId: number, dims: readonly number[]): number | undefined {
    const t = GGML_TYPES.get(typeId);
    if (t === undefined) return undefined;
    let elements = 1;
    for (const d of dims) elements *= d;
    return (elements / t.blockSize) * t.typeSize;
}

export function alignUp(n: number, alignment: number): number {
    return Math.ceil(n / alignment) * alignment;
}

export function isPowerOfTwo(n: number): boolean {
    return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 0x80000000;
}

/** Token types of `tokenizer.ggml.token_type` (llama.cpp llama_token_type). */
export const TOKEN_TYPE = {
    normal: 1,
    unknown: 2,
    control: 3,
    userDefined: 4,
    unused: 5,
    byte: 6,
} as const;

/** A metadata value as a JS number when it is a numeric scalar (64-bit: only when exact). */
export function numberValue(v: GgufValue | undefined): number | undefined {
    if (v === undefined || v.type === 'array' || v.type === 'string' || v.type === 'bool') return undefined;
    if (typeof v.value === 'bigint') {
        return v.value <= BigInt(Number.MAX_SAFE_INTEGER) && v.value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v.value) : undefined;
    }
    return v.value;
}

export function stringValue(v: GgufValue | undefined): string | undefined {
    return v !== undefined && v.type === 'string' ? v.value : undefined;
}

export function isIntegerType(t: GgufScalarType | 'array'): boolean {
    return t !== 'float32' && t !== 'float64' && t !== 'bool' && t !== 'string' && t !== 'array';
}
