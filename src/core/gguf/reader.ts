/**
 * GGUF (v2/v3) header reader. Pure: it parses the bytes it is given (a prefix of the file) and
 * the file's total size, and reports every structural problem llama.cpp would fail or abort on
 * as data, never by throwing. Unlike node-llama-cpp's readGgufFileInfo it detects truncation:
 * a header cut short, and tensor data that would lie beyond the end of the file.
 *
 * When the header runs past the supplied prefix but the file is longer, the result asks for
 * more bytes (`needMore`), so a caller can read a multi-GB file's header without loading it.
 */

import {
    GGML_MAX_DIMS,
    GGML_MAX_NAME,
    GGML_TYPES,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGUF_MAX_ARRAY_ELEMENTS,
    GGUF_MAX_STRING_LENGTH,
    GGUF_SCALAR_SIZES,
    GGUF_TYPE_NAMES,
    alignUp,
    isPowerOfTwo,
    type GgufMetadata,
    type GgufScalarType,
    type GgufValue,
} from './types';

export type GgufProblemKind =
    /** Not a GGUF file: wrong magic, or too short to hold one. */
    | 'badMagic'
    /** GGUF v1, a version newer than 3, or a big-endian file. */
    | 'unsupportedVersion'
    /** The file ends inside the header. */
    | 'truncatedHeader'
    /** A count or length no sane file has (corruption). */
    | 'hugeCount'
    /** An empty or duplicate key, an unknown value type, a nested array. */
    | 'badMetadata'
    /** `general.alignment` is not a power-of-two uint32. */
    | 'badAlignment'
    /** A tensor name too long or duplicated, bad dimensions, a row not a whole number of blocks. */
    | 'badTensorInfo'
    | 'unknownTensorType'
    /** A tensor's data (offset + size) lies beyond the end of the file. */
    | 'tensorOutOfBounds'
    /** A tensor's offset is not a multiple of the alignment. */
    | 'misalignedTensor'
    /** Tensors are not contiguous in declaration order, as llama.cpp requires. */
    | 'badTensorLayout';

export interface GgufProblem {
    readonly kind: GgufProblemKind;
    readonly message: string;
    /** Byte position in the file where it was found, when meaningful. */
    readonly position?: number;
}

export interface GgufTensorInfo {
    readonly name: string;
    /** ggml order: dims[0] is contiguous. */
    readonly dims: readonly number[];
    readonly typeId: number;
    /** undefined for type ids this reader does not know. */
    readonly typeName: string | undefined;
    /** Relative to the data section. */
    readonly offset: number;
    /** Absolute position in the file. */
    readonly fileOffset: number;
    /** Unpadded data size in bytes; undefined for unknown types. */
    readonly byteSize: number | undefined;
}

export interface GgufFileInfo {
    readonly version: number;
    readonly metadata: GgufMetadata;
    readonly tensors: readonly GgufTensorInfo[];
    readonly alignment: number;
    /** End of the last tensor info (bytes of header proper). */
    readonly headerBytes: number;
    /** Absolute start of the data section. */
    readonly dataOffset: number;
    readonly fileSize: number;
}

export type GgufReadResult =
    | { readonly status: 'ok'; readonly info: GgufFileInfo }
    /** The header continues past the bytes supplied: call again with at least `bytesWanted` bytes. */
    | { readonly status: 'needMore'; readonly bytesWanted: number }
    /**
     * `problem` is the most significant of `problems`. `info` is present when the whole header
     * parsed and only the tensor data checks failed.
     */
    | { readonly status: 'invalid'; readonly problem: GgufProblem; readonly problems: readonly GgufProblem[]; readonly info?: GgufFileInfo };

export interface GgufReadLimits {
    /** Most tensors accepted (default 2^20; real models have a few thousand). */
    readonly maxTensors?: number;
    /** Most metadata keys accepted (default 2^20). */
    readonly maxKeys?: number;
}

class EndOfBytes {
    constructor(readonly needed: number) {}
}

class Invalid {
    constructor(readonly problem: GgufProblem) {}
}

/**
 * Strings decode byte-exactly: llama.cpp compares token texts as bytes (`token_to_id` is keyed by
 * std::string), so two texts are equal here exactly when their bytes are. A leading BOM is kept
 * (a default TextDecoder strips it, which made "\uFEFF#" and "#" in Gemma 4's real vocabulary
 * look like a duplicate), and a string that is not valid UTF-8 decodes each byte of an invalid
 * sequence to the lone surrogate U+DC00 + byte (Python's "surrogateescape"): lone surrogates never
 * come out of valid UTF-8, so an invalid string can equal neither a valid one nor another invalid
 * one with different bytes (U+FFFD replacement would make all of them alike).
 */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });

function decodeString(bytes: Uint8Array): string {
    try {
        return utf8.decode(bytes);
    } catch {
        return decodeSurrogateEscape(bytes);
    }
}

/** Length of the valid UTF-8 sequence starting at `i` (1 to 4), or 0 when the bytes there are not one. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
    const c = b[i]!;
    if (c < 0x80) return 1;
    const cont = (k: number): boolean => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
    if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        const c1 = b[i + 1];
        if (c1 === undefined || (c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f)) return 0; // overlong; UTF-16 surrogates
        return cont(1) && cont(2) ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        const c1 = b[i + 1];
        if (c1 === undefined || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return 0; // overlong; above U+10FFFF
        return cont(1) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
}

function decodeSurrogateEscape(b: Uint8Array): string {
    let out = '';
    let i = 0;
    while (i < b.length) {
        const n = utf8SequenceLength(b, i);
        if (n === 0) {
            out += String.fromCharCode(0xdc00 + b[i]!);
            i++;
        } else {
            out += utf8.decode(b.subarray(i, i + n));
            i += n;
        }
    }
    return out;
}

/** Sequential little-endian reads over the supplied prefix; every read checks bounds first. */
class Cursor {
    pos = 0;
    private readonly view: DataView;

    constructor(private readonly bytes: Uint8Array, readonly fileSize: number) {
        this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }

    /** Bytes of the file after the cursor (not just of the prefix). */
    get remainingInFile(): number {
        return this.fileSize - this.pos;
    }

    private need(n: number): number {
        const at = this.pos;
        if (at + n > this.bytes.length) throw new EndOfBytes(at + n);
        this.pos += n;
        return at;
    }

    u8(): number { return this.view.getUint8(this.need(1)); }
    i8(): number { return this.view.getInt8(this.need(1)); }
    u16(): number { return this.view.getUint16(this.need(2), true); }
    i16(): number { return this.view.getInt16(this.need(2), true); }
    u32(): number { return this.view.getUint32(this.need(4), true); }
    i32(): number { return this.view.getInt32(this.need(4), true); }
    f32(): number { return this.view.getFloat32(this.need(4), true); }
    f64(): number { return this.view.getFloat64(this.need(8), true); }
    u64(): bigint { return this.view.getBigUint64(this.need(8), true); }
    i64(): bigint { return this.view.getBigInt64(this.need(8), true); }

    /** A count or length, bounded by `max`; larger values are corruption. */
    count(what: string, max: number): number {
        const at = this.pos;
        const n = this.u64();
        if (n > BigInt(max)) {
            throw new Invalid({ kind: 'hugeCount', message: `${what} is ${n}, more than the maximum ${max}`, position: at });
        }
        return Number(n);
    }

    string(what: string): string {
        const length = this.count(`length of ${what}`, GGUF_MAX_STRING_LENGTH);
        if (length > this.remainingInFile) throw new EndOfBytes(this.pos + length);
        const at = this.need(length);
        return decodeString(this.bytes.subarray(at, at + length));
    }
}

function truncatedProblem(position: number, fileSize: number): GgufProblem {
    return {
        kind: 'truncatedHeader',
        message: `the file ends inside its header: ${fileSize} bytes, but the header needs at least ${position}`,
        position: fileSize,
    };
}

function readScalar(c: Cursor, type: GgufScalarType, key: string): number | bigint | boolean | string {
    switch (type) {
        case 'uint8': return c.u8();
        case 'int8': return c.i8();
        case 'uint16': return c.u16();
        case 'int16': return c.i16();
        case 'uint32': return c.u32();
        case 'int32': return c.i32();
        case 'float32': return c.f32();
        case 'float64': return c.f64();
        case 'uint64': return c.u64();
        case 'int64': return c.i64();
        case 'bool': {
            const at = c.pos;
            const b = c.u8();
            if (b > 1) throw new Invalid({ kind: 'badMetadata', message: `key ${key}: bool value ${b} is neither 0 nor 1`, position: at });
            return b === 1;
        }
        case 'string': return c.string(`a string value of ${key}`);
    }
}

function valueType(c: Cursor, key: string): GgufScalarType | 'array' {
    const at = c.pos;
    const id = c.u32();
    const name = GGUF_TYPE_NAMES[id];
    if (name === undefined) throw new Invalid({ kind: 'badMetadata', message: `key ${key} has unknown value type ${id}`, position: at });
    return name;
}

function readValue(c: Cursor, key: string): GgufValue {
    const type = valueType(c, key);
    if (type !== 'array') return { type, value: readScalar(c, type, key) } as GgufValue;
    const itemAt = c.pos;
    const itemType = valueType(c, key);
    if (itemType === 'array') throw new Invalid({ kind: 'badMetadata', message: `key ${key} is an array of arrays, which llama.cpp rejects`, position: itemAt });
    const n = c.count(`length of array ${key}`, GGUF_MAX_ARRAY_ELEMENTS);
    // Each item takes at least this many bytes, so a count the file cannot hold is caught before allocating.
    const minItemBytes = itemType === 'string' ? 8 : GGUF_SCALAR_SIZES[itemType];
    if (n * minItemBytes > c.remainingInFile) throw new EndOfBytes(c.pos + n * minItemBytes);
    const items: (number | bigint | boolean | string)[] = new Array<number | bigint | boolean | string>(n);
    for (let i = 0; i < n; i++) items[i] = readScalar(c, itemType, key);
    return { type: 'array', itemType, value: items } as GgufValue;
}

function parseHeader(c: Cursor, limits: GgufReadLimits): { version: number; metadata: Map<string, GgufValue>; tensors: Omit<GgufTensorInfo, 'fileOffset'>[] } {
    if (c.fileSize < 4) throw new Invalid({ kind: 'badMagic', message: `only ${c.fileSize} bytes: too short to be a GGUF file` });
    const magic = c.u32();
    if (magic !== GGUF_MAGIC) {
        const text = [0, 1, 2, 3].map((i) => (magic >>> (8 * i)) & 0xff).map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
        throw new Invalid({ kind: 'badMagic', message: `bad magic "${text}": expected "GGUF"`, position: 0 });
    }
    const version = c.u32();
    if ((version & 0xffff) === 0 && version !== 0) {
        throw new Invalid({ kind: 'unsupportedVersion', message: `GGUF version ${version} looks byte-swapped: big-endian files are not supported`, position: 4 });
    }
    if (version < 2 || version > 3) {
        throw new Invalid({ kind: 'unsupportedVersion', message: `GGUF version ${version} is not supported (only 2 and 3)`, position: 4 });
    }
    const tensorCount = c.count('tensor count', limits.maxTensors ?? 1 << 20);
    const kvCount = c.count('metadata key count', limits.maxKeys ?? 1 << 20);

    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
        const at = c.pos;
        const key = c.string(`key ${i}`);
        // gguf.cpp asserts a non-empty key, and some readers see keys as C strings: none may hold a NUL.
        if (key.length === 0 || key.includes('\0')) throw new Invalid({ kind: 'badMetadata', message: `metadata key ${i} is empty or holds a NUL byte`, position: at });
        if (metadata.has(key)) throw new Invalid({ kind: 'badMetadata', message: `duplicate metadata key ${key}`, position: at });
        metadata.set(key, readValue(c, key));
    }

    const tensors: Omit<GgufTensorInfo, 'fileOffset'>[] = [];
    const names = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
        const at = c.pos;
        const name = c.string(`tensor ${i} name`);
        const nameBytes = c.pos - at - 8; // after its u64 length
        const bad = (message: string): Invalid => new Invalid({ kind: 'badTensorInfo', message: `tensor ${name}: ${message}`, position: at });
        if (nameBytes >= GGML_MAX_NAME) throw bad(`name longer than ${GGML_MAX_NAME - 1} bytes`);
        if (names.has(name)) throw bad('duplicate tensor name');
        names.add(name);
        const nDims = c.u32();
        if (nDims > GGML_MAX_DIMS) throw bad(`${nDims} dimensions, more than ${GGML_MAX_DIMS}`);
        const dims: number[] = [];
        let elements = 1n;
        for (let d = 0; d < nDims; d++) {
            const ne = c.i64();
            if (ne < 0n) throw bad(`dimension ${d} is negative (${ne})`);
            elements *= ne;
            if (elements > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('too many elements');
            dims.push(Number(ne));
        }
        const typeId = c.u32();
        const type = GGML_TYPES.get(typeId);
        if (type !== undefined && (dims[0] ?? 1) % type.blockSize !== 0) {
            throw bad(`${dims[0]} elements per row is not a multiple of ${type.name}'s block size ${type.blockSize}`);
        }
        const offsetBig = c.u64();
        if (offsetBig > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`offset ${offsetBig} is beyond any file`);
        const byteSize = type === undefined ? undefined : (Number(elements) / type.blockSize) * type.typeSize;
        tensors.push({ name, dims, typeId, typeName: type?.name, offset: Number(offsetBig), byteSize });
    }
    return { version, metadata, tensors };
}

/** Orders problems by how much they tell the user: truncation first, then corruption. */
const PROBLEM_RANK: readonly GgufProblemKind[] = [
    'badMagic', 'unsupportedVersion', 'truncatedHeader', 'tensorOutOfBounds', 'hugeCount', 'badMetadata', 'badAlignment',
    'badTensorInfo', 'unknownTensorType', 'misalignedTensor', 'badTensorLayout',
];

/**
 * Parses the GGUF header in `bytes`, a prefix of a file of `fileSize` bytes (default: the
 * prefix is the whole file), and checks every tensor's data against the file's size.
 */
export function readGguf(bytes: Uint8Array, fileSize: number = bytes.length, limits: GgufReadLimits = {}): GgufReadResult {
    const c = new Cursor(bytes, fileSize);
    let header: ReturnType<typeof parseHeader>;
    try {
        header = parseHeader(c, limits);
    } catch (e) {
        if (e instanceof EndOfBytes) {
            if (e.needed > fileSize || bytes.length >= fileSize) {
                const problem = truncatedProblem(e.needed, fileSize);
                return { status: 'invalid', problem, problems: [problem] };
            }
            return { status: 'needMore', bytesWanted: Math.min(fileSize, Math.max(e.needed, bytes.length * 2)) };
        }
        if (e instanceof Invalid) return { status: 'invalid', problem: e.problem, problems: [e.problem] };
        throw e;
    }

    const problems: GgufProblem[] = [];
    let alignment = GGUF_DEFAULT_ALIGNMENT;
    const alignValue = header.metadata.get('general.alignment');
    if (alignValue !== undefined) {
        if (alignValue.type !== 'uint32' || !isPowerOfTwo(alignValue.value)) {
            const shown = alignValue.type === 'array' ? 'an array' : `${alignValue.type} ${String(alignValue.value)}`;
            problems.push({ kind: 'badAlignment', message: `general.alignment must be a power-of-two uint32, not ${shown}` });
        } else {
            alignment = alignValue.value;
        }
    }
    const headerBytes = c.pos;
    const dataOffset = alignUp(headerBytes, alignment);
    const tensors: GgufTensorInfo[] = header.tensors.map((t) => ({ ...t, fileOffset: dataOffset + t.offset }));

    let expected = 0;
    for (const t of tensors) {
        if (t.byteSize === undefined) {
            problems.push({ kind: 'unknownTensorType', message: `tensor ${t.name} has unknown ggml type ${t.typeId}` });
            expected = Number.NaN;
            continue;
        }
        if (t.offset % alignment !== 0) {
            problems.push({ kind: 'misalignedTensor', message: `tensor ${t.name} at data offset ${t.offset} is not a multiple of the alignment ${alignment}` });
        } else if (!Number.isNaN(expected) && t.offset !== expected) {
            problems.push({ kind: 'badTensorLayout', message: `tensor ${t.name} at data offset ${t.offset}, expected ${expected} (tensors must be contiguous in order)` });
        }
        expected = alignUp(t.offset + t.byteSize, alignment);
        if (t.fileOffset + t.byteSize > fileSize) {
            problems.push({
                kind: 'tensorOutOfBounds',
                message: `tensor ${t.name} needs bytes ${t.fileOffset}..${t.fileOffset + t.byteSize} but the file has ${fileSize}: it is truncated`,
                position: t.fileOffset,
            });
        }
    }

    const info: GgufFileInfo = { version: header.version, metadata: header.metadata, tensors, alignment, headerBytes, dataOffset, fileSize };
    if (problems.length === 0) return { status: 'ok', info };
    const problem = [...problems].sort((a, b) => PROBLEM_RANK.indexOf(a.kind) - PROBLEM_RANK.indexOf(b.kind))[0]!;
    return { status: 'invalid', problem, problems, info };
}
