import * as assert from 'node:assert/strict';
import { readGguf, type GgufProblemKind, type GgufReadResult } from '../../../src/core/gguf/reader';
import { ggufValue, type GgufValue } from '../../../src/core/gguf/types';
import { writeGgufToBuffer } from '../../../src/core/gguf/writer';
import { indexOfText, sampleSpec, view } from './helpers';

function problemOf(result: GgufReadResult): GgufProblemKind | undefined {
    return result.status === 'invalid' ? result.problem.kind : undefined;
}

async function sample(): Promise<Uint8Array> {
    return writeGgufToBuffer(sampleSpec());
}

describe('GGUF reader', () => {
    it('reports bad magic, also for files too short to hold one', async () => {
        const bytes = await sample();
        const bad = bytes.slice();
        bad.set(Buffer.from('GGML'), 0);
        assert.equal(problemOf(readGguf(bad)), 'badMagic');
        assert.match((readGguf(bad) as { problem: { message: string } }).problem.message, /"GGML"/);
        assert.equal(problemOf(readGguf(new Uint8Array(0))), 'badMagic');
        assert.equal(problemOf(readGguf(Buffer.from('GG'))), 'badMagic');
        assert.equal(problemOf(readGguf(Buffer.from('{"not": "gguf"}\n'))), 'badMagic');
    });

    it('reports unsupported versions: v1, newer than v3, big-endian', async () => {
        const bytes = await sample();
        for (const [version, pattern] of [[1, /version 1 /], [4, /version 4 /], [0x03000000, /big-endian/]] as const) {
            const b = bytes.slice();
            view(b).setUint32(4, version, true);
            const r = readGguf(b);
            assert.equal(problemOf(r), 'unsupportedVersion');
            assert.match((r as { problem: { message: string } }).problem.message, pattern);
        }
        const v2 = bytes.slice();
        view(v2).setUint32(4, 2, true);
        assert.equal(readGguf(v2).status, 'ok');
    });

    it('reports every cut of a file as truncated, never as sound, and never throws', async () => {
        const bytes = await sample();
        const full = readGguf(bytes);
        assert.equal(full.status, 'ok');
        if (full.status !== 'ok') return;
        const last = full.info.tensors.at(-1)!;
        const dataEnd = last.fileOffset + last.byteSize!;
        for (let length = 0; length < bytes.length; length++) {
            const r = readGguf(bytes.subarray(0, length));
            if (length >= dataEnd) {
                assert.equal(r.status, 'ok', `cut at ${length} (only padding lost)`);
            } else {
                const kind = problemOf(r);
                const expected = length < 4 ? ['badMagic'] : length < full.info.headerBytes ? ['truncatedHeader'] : ['tensorOutOfBounds'];
                assert.ok(kind !== undefined && expected.includes(kind), `cut at ${length}: ${kind}`);
            }
        }
    });

    it('names the tensor whose data lies beyond the end of the file', async () => {
        const bytes = await sample();
        const r = readGguf(bytes.subarray(0, bytes.length - 40));
        assert.equal(problemOf(r), 'tensorOutOfBounds');
        assert.ok(r.status === 'invalid' && r.info !== undefined);
        assert.match((r as { problem: { message: string } }).problem.message, /tensor d\.weight needs bytes \d+\.\.\d+ but the file has \d+/);
    });

    it('asks for more bytes when given a prefix of a longer file, then parses', async () => {
        const bytes = await sample();
        let length = 16;
        let rounds = 0;
        for (;;) {
            const r = readGguf(bytes.subarray(0, length), bytes.length);
            if (r.status === 'needMore') {
                assert.ok(r.bytesWanted > length && r.bytesWanted <= bytes.length);
                length = r.bytesWanted;
                rounds++;
                continue;
            }
            assert.equal(r.status, 'ok');
            break;
        }
        assert.ok(rounds >= 2);
        assert.ok(length < bytes.length, 'the data section was not needed');
    });

    it('reports huge counts and lengths as corruption', async () => {
        const bytes = await sample();
        const tensors = bytes.slice();
        view(tensors).setBigUint64(8, 1n << 40n, true);
        assert.equal(problemOf(readGguf(tensors)), 'hugeCount');
        const keys = bytes.slice();
        view(keys).setBigUint64(16, 1n << 40n, true);
        assert.equal(problemOf(readGguf(keys)), 'hugeCount');
        const str = bytes.slice();
        view(str).setBigUint64(24, 1n << 40n, true);
        assert.equal(problemOf(readGguf(str)), 'hugeCount');
        const arr = bytes.slice();
        const at = indexOfText(arr, 'test.ints') + 'test.ints'.length + 8; // after value type and item type
        view(arr).setBigUint64(at, 1n << 40n, true);
        assert.equal(problemOf(readGguf(arr)), 'hugeCount');
    });

    it('reports an array count the file cannot hold as truncation, before allocating', async () => {
        const bytes = await sample();
        const at = indexOfText(bytes, 'test.ints') + 'test.ints'.length + 8;
        const b = bytes.slice();
        view(b).setBigUint64(at, 100_000_000n, true);
        assert.equal(problemOf(readGguf(b)), 'truncatedHeader');
    });

    it('reports unknown value types, nested arrays, bad bools, empty and duplicate keys', async () => {
        const bytes = await sample();
        const typeAt = (key: string): number => indexOfText(bytes, key) + key.length;
        const unknown = bytes.slice();
        view(unknown).setUint32(typeAt('test.u32'), 13, true);
        assert.equal(problemOf(readGguf(unknown)), 'badMetadata');
        const nested = bytes.slice();
        view(nested).setUint32(typeAt('test.ints') + 4, 9, true);
        assert.equal(problemOf(readGguf(nested)), 'badMetadata');
        const bool = bytes.slice();
        bool[typeAt('test.bool') + 4] = 7;
        assert.equal(problemOf(readGguf(bool)), 'badMetadata');
        const dup = bytes.slice();
        dup.set(Buffer.from('test.u8'), indexOfText(dup, 'test.i8'));
        const r = readGguf(dup);
        assert.equal(problemOf(r), 'badMetadata');
        assert.match((r as { problem: { message: string } }).problem.message, /duplicate metadata key test\.u8/);

        const empty = await writeGgufToBuffer({ metadata: new Map<string, GgufValue>([['k', ggufValue.uint32(1)]]), tensors: [] });
        view(empty).setBigUint64(24, 0n, true); // key length 0; the key byte is then read as the type
        assert.equal(problemOf(readGguf(empty)), 'badMetadata');
    });

    it('reports bad alignment values', async () => {
        const bytes = await writeGgufToBuffer(sampleSpec(64));
        const valueAt = indexOfText(bytes, 'general.alignment') + 'general.alignment'.length + 4;
        const b = bytes.slice();
        view(b).setUint32(valueAt, 48, true);
        assert.equal(problemOf(readGguf(b)), 'badAlignment');
        const t = bytes.slice();
        view(t).setUint32(valueAt - 4, 5, true); // int32 instead of uint32
        assert.equal(problemOf(readGguf(t)), 'badAlignment');
    });

    it('reports misaligned, non-contiguous, malformed and unknown-type tensors', async () => {
        const bytes = await sample();
        // Tensor info of b.weight: name, n_dims u32, 2 x u64 dims, type u32, offset u64.
        const bInfo = indexOfText(bytes, 'b.weight') + 'b.weight'.length;
        const offsetAt = bInfo + 4 + 16 + 4;
        const misaligned = bytes.slice();
        view(misaligned).setBigUint64(offsetAt, 36n, true);
        assert.equal(problemOf(readGguf(misaligned)), 'misalignedTensor');
        const gap = bytes.slice();
        view(gap).setBigUint64(offsetAt, 64n, true);
        assert.equal(problemOf(readGguf(gap)), 'badTensorLayout');
        const unknown = bytes.slice();
        view(unknown).setUint32(bInfo + 4 + 16, 99, true);
        assert.equal(problemOf(readGguf(unknown)), 'unknownTensorType');
        const dims = bytes.slice();
        view(dims).setUint32(bInfo, 5, true);
        assert.equal(problemOf(readGguf(dims)), 'badTensorInfo');
        const negative = bytes.slice();
        view(negative).setBigInt64(bInfo + 4, -5n, true);
        assert.equal(problemOf(readGguf(negative)), 'badTensorInfo');
        const quant = bytes.slice();
        view(quant).setUint32(bInfo + 4 + 16, 2, true); // Q4_0 needs rows of 32 elements; b has 5
        assert.equal(problemOf(readGguf(quant)), 'badTensorInfo');
        const dupName = bytes.slice();
        dupName.set(Buffer.from('a'), indexOfText(dupName, 'b.weight'));
        assert.equal(problemOf(readGguf(dupName)), 'badTensorInfo');
    });

    it('computes sizes of quantized tensors', async () => {
        const bytes = await writeGgufToBuffer({
            metadata: new Map(),
            tensors: [{ name: 'q', dims: [256, 2], type: 'F32', data: new Float32Array(512) }],
        });
        const typeAt = indexOfText(bytes, 'q') + 1 + 4 + 16;
        for (const [id, size] of [[2, 2 * 8 * 18], [12, 2 * 144], [14, 2 * 210], [8, 2 * 8 * 34], [30, 1024]] as const) {
            const b = bytes.slice();
            view(b).setUint32(typeAt, id, true);
            const r = readGguf(b);
            assert.equal(r.status, 'ok');
            assert.equal(r.status === 'ok' && r.info.tensors[0]!.byteSize, size, `type ${id}`);
        }
    });
});
