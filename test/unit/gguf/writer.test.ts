import * as assert from 'node:assert/strict';
import { readGguf } from '../../../src/core/gguf/reader';
import { ggufValue, type GgufValue } from '../../../src/core/gguf/types';
import { float32ToFloat16Bits, layoutGguf, writeGguf, writeGgufToBuffer } from '../../../src/core/gguf/writer';
import { float16ToNumber, sampleSpec, view } from './helpers';

describe('GGUF writer', () => {
    for (const alignment of [undefined, 64, 1]) {
        it(`round-trips metadata, tensor shapes, offsets and data (alignment ${alignment ?? 'default 32'})`, async () => {
            const spec = sampleSpec(alignment);
            const bytes = await writeGgufToBuffer(spec);
            const result = readGguf(bytes);
            assert.equal(result.status, 'ok', JSON.stringify(result));
            if (result.status !== 'ok') return;
            const { info } = result;
            const align = alignment ?? 32;
            assert.equal(info.version, 3);
            assert.equal(info.alignment, align);
            assert.equal(info.dataOffset % align, 0);
            assert.ok(info.dataOffset >= info.headerBytes && info.dataOffset - info.headerBytes < align);
            assert.deepEqual([...info.metadata.keys()], [...spec.metadata.keys()]);
            for (const [key, expected] of spec.metadata) {
                const got = info.metadata.get(key) as GgufValue;
                if (expected.type === 'float32') {
                    assert.equal(got.type, 'float32');
                    assert.equal(got.value, Math.fround(expected.value));
                } else if (expected.type === 'array' && expected.itemType === 'float32') {
                    assert.deepEqual(got, { ...expected, value: expected.value.map(Math.fround) });
                } else {
                    assert.deepEqual(got, expected, key);
                }
            }
            assert.deepEqual(info.tensors.map((t) => [t.name, t.dims, t.typeName]), [
                ['a.weight', [3], 'F32'], ['b.weight', [5, 7], 'F32'], ['c.weight', [4, 3, 2], 'F16'], ['d.weight', [1, 1, 1, 9], 'F32'],
            ]);
            let expectedOffset = 0;
            for (const t of info.tensors) {
                assert.equal(t.offset, expectedOffset, t.name);
                assert.equal(t.offset % align, 0);
                assert.equal(t.fileOffset, info.dataOffset + t.offset);
                expectedOffset = Math.ceil((t.offset + t.byteSize!) / align) * align;
            }
            assert.equal(bytes.length, info.dataOffset + expectedOffset, 'every tensor is padded to the alignment');

            const dv = view(bytes);
            const [a, b, c, d] = info.tensors;
            assert.deepEqual([0, 1, 2].map((i) => dv.getFloat32(a!.fileOffset + 4 * i, true)), [-3, -2.75, -2.5]);
            for (let i = 0; i < 35; i++) assert.equal(dv.getFloat32(b!.fileOffset + 4 * i, true), Math.fround(i / 7));
            for (let i = 0; i < 24; i++) assert.equal(float16ToNumber(dv.getUint16(c!.fileOffset + 2 * i, true)), i * 0.25 - 3);
            assert.equal(c!.byteSize, 48);
            assert.equal(dv.getFloat32(d!.fileOffset + 4 * 8, true), -1);
        });
    }

    it('streams the same bytes in small chunks as in one buffer, and reports the layout', async () => {
        const spec = sampleSpec();
        const whole = await writeGgufToBuffer(spec);
        const chunks: Uint8Array[] = [];
        const layout = await writeGguf(spec, async (chunk) => { await Promise.resolve(); chunks.push(chunk); }, { chunkBytes: 1 });
        assert.ok(chunks.length > 4, `${chunks.length} chunks`);
        assert.deepEqual(Buffer.concat(chunks), Buffer.from(whole));
        assert.equal(layout.totalBytes, whole.length);
        assert.deepEqual(layout, layoutGguf(spec));
    });

    it('writes the header fields in GGUF v3 order', async () => {
        const bytes = await writeGgufToBuffer(sampleSpec());
        const dv = view(bytes);
        assert.equal(Buffer.from(bytes.subarray(0, 4)).toString('latin1'), 'GGUF');
        assert.equal(dv.getUint32(4, true), 3);
        assert.equal(dv.getBigUint64(8, true), 4n);
        assert.equal(dv.getBigUint64(16, true), BigInt(sampleSpec().metadata.size));
        assert.equal(dv.getBigUint64(24, true), BigInt('general.architecture'.length));
    });

    it('rejects specs llama.cpp would refuse', () => {
        const base = sampleSpec();
        const withMeta = (key: string, value: GgufValue) => ({ ...base, metadata: new Map([...base.metadata, [key, value]]) });
        assert.throws(() => layoutGguf(withMeta('general.alignment', ggufValue.uint32(48))), /power-of-two/);
        assert.throws(() => layoutGguf(withMeta('general.alignment', ggufValue.int32(32))), /power-of-two/);
        assert.throws(() => layoutGguf(withMeta('x', ggufValue.uint32(-1))), /not a uint32/);
        assert.throws(() => layoutGguf(withMeta('x', ggufValue.uint8(256))), /not a uint8/);
        assert.throws(() => layoutGguf(withMeta('x', ggufValue.int32(1.5))), /not a int32/);
        assert.throws(() => layoutGguf(withMeta('x', ggufValue.uint64(-1))), /not a uint64/);
        assert.throws(() => layoutGguf(withMeta('', ggufValue.uint32(1))), /empty/);
        const tensor = (name: string, dims: number[]) => ({ ...base, tensors: [{ name, dims, type: 'F32' as const, data: new Float32Array(dims.reduce((x, y) => x * y, 1)) }] });
        assert.throws(() => layoutGguf(tensor('x'.repeat(64), [1])), /too long/);
        assert.throws(() => layoutGguf(tensor('t', [1, 1, 1, 1, 1])), /invalid dims/);
        assert.throws(() => layoutGguf(tensor('t', [0])), /invalid dims/);
        assert.throws(() => layoutGguf({ ...base, tensors: [base.tensors[0]!, base.tensors[0]!] }), /duplicate tensor/);
        assert.throws(() => layoutGguf({ ...base, tensors: [{ ...base.tensors[0]!, data: new Float32Array(2) }] }), /2 values for 3 elements/);
    });

    it('converts float32 to float16 with round-to-nearest-even', () => {
        const cases: [number, number][] = [
            [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.1, 0x2e66], [65504, 0x7bff], [65520, 0x7c00],
            [1e6, 0x7c00], [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -26, 0x0001],
            [2 ** -14, 0x0400], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
        ];
        for (const [x, bits] of cases) assert.equal(float32ToFloat16Bits(x), bits, `${x}`);
        assert.equal(float32ToFloat16Bits(Number.NaN) & 0x7e00, 0x7e00);
        for (let bits = 0; bits < 0x7c00; bits += 97) assert.equal(float32ToFloat16Bits(float16ToNumber(bits)), bits);
    });
});
