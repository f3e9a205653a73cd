/**
 * The model downloader against a loopback HTTP server (127.0.0.1 only) serving a generated model:
 * progress events, cancel then resume with a Range request, and verification failures.
 */
import { strict as assert } from 'node:assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { DownloadError, downloadModel, type DownloadProgress } from '../../src/backends/downloader';
import { recommendModels } from '../../src/backends/machineInfo';
import { ensureModels } from '../../scripts/generatedModels';
import { writeGgufToBuffer } from '../../src/core/gguf/writer';

/**
 * ipull saves resumable progress per completed 5 MiB chunk, so the resume test needs a file of
 * several chunks: a generated GGUF with one 24 MiB tensor.
 */
async function largeGguf(): Promise<Buffer> {
    const metadata = new Map([['general.architecture', { type: 'string' as const, value: 'llama' }], ['general.name', { type: 'string' as const, value: 'zeta-download-test' }]]);
    const bytes = await writeGgufToBuffer({
        metadata,
        tensors: [{ name: 'blob', dims: [6 * 1024 * 1024], type: 'F32', data: (target, first) => { for (let i = 0; i < target.length; i++) target[i] = ((first + i) % 251) / 251; } }],
    });
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

interface ServedRequest {
    readonly method: string;
    readonly range: string | undefined;
}

/** Serves `body` at /model.gguf with Range support; `bytesPerTick` every 10 ms throttles GETs. */
async function startServer(body: Buffer, bytesPerTick: number): Promise<{ url: string; requests: ServedRequest[]; server: Server }> {
    const requests: ServedRequest[] = [];
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        requests.push({ method: req.method ?? '', range: req.headers.range });
        if (req.url !== '/model.gguf') {
            res.writeHead(404).end();
            return;
        }
        let start = 0;
        let end = body.length - 1;
        const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
        if (m) {
            start = Number(m[1]);
            if (m[2] !== '') end = Math.min(end, Number(m[2]));
        }
        const headers = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', 'Content-Length': String(end - start + 1) };
        if (m) res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end}/${body.length}` });
        else res.writeHead(200, headers);
        if (req.method === 'HEAD') {
            res.end();
            return;
        }
        let at = start;
        const tick = (): void => {
            if (res.destroyed) return;
            const next = Math.min(end + 1, at + bytesPerTick);
            const ok = res.write(body.subarray(at, next));
            at = next;
            if (at > end) res.end();
            else if (ok) setTimeout(tick, 10);
            else res.once('drain', () => setTimeout(tick, 10));
        };
        tick();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}/model.gguf`, requests, server };
}

describe('model downloader (loopback server)', function () {
    this.timeout(60_000);
    let body: Buffer;
    let dir: string;
    let server: Server | undefined;

    before(async () => {
        const models = await ensureModels('tiny');
        body = await readFile(models.coder);
    });
    beforeEach(async () => {
        dir = await mkdtemp(join(tmpdir(), 'zeta-dl-'));
    });
    afterEach(async () => {
        server?.closeAllConnections();
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
        server = undefined;
        await rm(dir, { recursive: true, force: true });
    });

    it('downloads with progress events and verifies size and checksum', async () => {
        const s = await startServer(body, Math.ceil(body.length / 20));
        server = s.server;
        const events: DownloadProgress[] = [];
        const sha256 = createHash('sha256').update(body).digest('hex');
        const r = await downloadModel(
            { uri: s.url, dirPath: dir, fileName: 'coder.gguf', expectedBytes: body.length, sha256, onProgress: (p) => events.push(p) },
            new AbortController().signal,
        );
        assert.equal(r.path, join(dir, 'coder.gguf'));
        assert.equal(r.bytes, body.length);
        assert.ok((await readFile(r.path)).equals(body));
        assert.ok(events.length >= 3, `progress events: ${events.length}`);
        const last = events[events.length - 1];
        assert.equal(last.downloadedBytes, body.length);
        assert.equal(last.totalBytes, body.length);
        for (let i = 1; i < events.length; i++) assert.ok(events[i].downloadedBytes >= events[i - 1].downloadedBytes, 'progress never goes back');
    });

    it('cancel keeps the partial file; the next call resumes with a Range request', async () => {
        const body = await largeGguf();
        const s = await startServer(body, Math.ceil(body.length / 100));
        server = s.server;
        const controller = new AbortController();
        let seen = 0;
        const first = downloadModel(
            {
                uri: s.url,
                dirPath: dir,
                fileName: 'coder.gguf',
                onProgress: (p) => {
                    seen = p.downloadedBytes;
                    if (p.downloadedBytes > body.length * 0.45) controller.abort(new Error('user cancelled'));
                },
            },
            controller.signal,
        );
        await assert.rejects(first, /user cancelled/);
        assert.ok(seen > 0 && seen < body.length, `cancelled part-way (${seen} of ${body.length})`);
        assert.ok(!existsSync(join(dir, 'coder.gguf')) || (await stat(join(dir, 'coder.gguf'))).size < body.length, 'no complete file after cancel');

        const before = s.requests.length;
        const r = await downloadModel({ uri: s.url, dirPath: dir, fileName: 'coder.gguf', expectedBytes: body.length }, new AbortController().signal);
        assert.ok((await readFile(r.path)).equals(body), 'resumed file is byte-identical');
        const resumed = s.requests.slice(before).filter((q) => q.method === 'GET' && q.range && !/^bytes=0-/.test(q.range));
        assert.ok(resumed.length > 0, `a GET resumed from an offset: ${JSON.stringify(s.requests.slice(before))}`);
        assert.ok(r.resumedFromBytes > 0, `resumed from ${r.resumedFromBytes} bytes`);
    });

    it('rejects a file whose size is not the expected one, and moves it aside', async () => {
        const s = await startServer(body, body.length);
        server = s.server;
        const err = await downloadModel({ uri: s.url, dirPath: dir, fileName: 'coder.gguf', expectedBytes: body.length + 1 }, new AbortController().signal).then(
            () => undefined,
            (e: unknown) => e,
        );
        assert.ok(err instanceof DownloadError, String(err));
        assert.equal(err.problem, 'sizeMismatch');
        assert.match(err.message, new RegExp(`${body.length} bytes on disk, expected ${body.length + 1}`));
        assert.ok(!existsSync(join(dir, 'coder.gguf')), 'the bad file is not left where Zeta would load it');
        assert.ok(err.setAsidePath && existsSync(err.setAsidePath));
    });

    it('rejects a checksum mismatch and a file that is not GGUF', async () => {
        const s = await startServer(body, body.length);
        server = s.server;
        const bad = await downloadModel({ uri: s.url, dirPath: dir, fileName: 'a.gguf', sha256: '0'.repeat(64) }, new AbortController().signal).catch((e: unknown) => e);
        assert.ok(bad instanceof DownloadError && bad.problem === 'checksumMismatch', String(bad));

        const notGguf = await startServer(Buffer.from('this is not a model file, just text'.repeat(10)), 1 << 20);
        try {
            const e = await downloadModel({ uri: notGguf.url, dirPath: dir, fileName: 'b.gguf' }, new AbortController().signal).catch((x: unknown) => x);
            assert.ok(e instanceof DownloadError && e.problem === 'notGguf', String(e));
        } finally {
            notGguf.server.closeAllConnections();
            await new Promise<void>((resolve) => notGguf.server.close(() => resolve()));
        }
    });

    it('an already aborted signal rejects at once with its reason', async () => {
        const c = new AbortController();
        c.abort(new Error('nope'));
        await assert.rejects(downloadModel({ uri: 'http://127.0.0.1:9/x.gguf', dirPath: dir, fileName: 'x.gguf' }, c.signal), /nope/);
    });
});

describe('model recommendations', () => {
    it('sizes the trio to GPU memory, or half the RAM without a GPU', () => {
        const gib = 1024 ** 3;
        const big = recommendModels({ gpu: 'cuda', vramBytes: 24 * gib, ramBytes: 64 * gib });
        const small = recommendModels({ gpu: false, vramBytes: 0, ramBytes: 8 * gib });
        assert.deepEqual(big.map((r) => r.role), ['coder', 'reasoner', 'embedder']);
        assert.deepEqual(small.map((r) => r.role), ['coder', 'reasoner', 'embedder']);
        const total = (rs: typeof big): number => rs.reduce((a, r) => a + r.approxBytes, 0);
        assert.ok(total(big) > total(small));
        assert.ok(total(small) <= 4 * gib, `fits half of 8 GiB: ${total(small)}`);
        assert.ok(total(big) <= 24 * gib * 0.9);
        // Search: a 4B embedding model where it fits, the 137M one on small machines.
        assert.match(big.find((r) => r.role === 'embedder')!.title, /Qwen3-Embedding 4B/);
        assert.match(small.find((r) => r.role === 'embedder')!.title, /nomic-embed/);
    });

    it('a mirror base URL replaces the download location, keeping file names', () => {
        const [coder] = recommendModels({ gpu: false, vramBytes: 0, ramBytes: 8 * 1024 ** 3 }, 'http://127.0.0.1:8123/models/');
        assert.equal(coder.uri, `http://127.0.0.1:8123/models/${coder.fileName}`);
    });
});
