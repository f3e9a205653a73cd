/**
 * Downloads a GGUF model file with node-llama-cpp's `createModelDownloader` (ipull underneath):
 * progress events, cancellation through an AbortSignal that keeps the partial file, resume on the
 * next call, and verification of what arrived (size against the server and the expected size,
 * SHA-256 when known, the GGUF magic) before the path is handed back.
 *
 * node-llama-cpp is ESM-only: it is loaded with a dynamic `import()` here, like everywhere in
 * src/backends. Units: bytes, milliseconds, bytes per second.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface DownloadProgress {
    readonly downloadedBytes: number;
    /** 0 until the server has told the size. */
    readonly totalBytes: number;
    readonly bytesPerSec: number;
}

export interface DownloadRequest {
    /** http(s) URL or a node-llama-cpp model URI (`hf:user/repo:quant`). */
    readonly uri: string;
    readonly dirPath: string;
    readonly fileName: string;
    /** When known, the file must be exactly this many bytes. */
    readonly expectedBytes?: number;
    /** When known, the file's SHA-256 (hex). */
    readonly sha256?: string;
    readonly onProgress?: (progress: DownloadProgress) => void;
    /** Extra request headers (e.g. an access token). */
    readonly headers?: Record<string, string>;
}

export interface DownloadResult {
    readonly path: string;
    readonly bytes: number;
    /** Bytes already on disk from an earlier, cancelled attempt when this one started. */
    readonly resumedFromBytes: number;
}

export type DownloadProblem = 'sizeMismatch' | 'checksumMismatch' | 'notGguf' | 'failed';

/** A download that failed or whose result did not verify. A failed file is moved aside, never used. */
export class DownloadError extends Error {
    override readonly name = 'DownloadError';
    constructor(
        readonly problem: DownloadProblem,
        readonly uri: string,
        detail: string,
        /** Where a file that failed verification was moved. */
        readonly setAsidePath?: string,
    ) {
        super(`download of ${uri} failed: ${detail}`);
    }
}

type ModelDownloaderLike = {
    download(options: { signal?: AbortSignal }): Promise<string>;
    cancel(options?: { deleteTempFile?: boolean }): Promise<void>;
    readonly totalSize: number;
    readonly downloadedSize: number;
};

/**
 * Downloads `request.uri` into `request.dirPath/fileName`. On abort, rejects with `signal.reason`
 * and keeps the partial file so that the next call resumes. A complete file already there is
 * verified and returned without downloading.
 */
export async function downloadModel(request: DownloadRequest, signal: AbortSignal): Promise<DownloadResult> {
    signal.throwIfAborted();
    const lib = await import('node-llama-cpp');
    let downloader: ModelDownloaderLike;
    /** Bytes already complete when this call started: ipull's first progress event counts them. */
    let resumedFromBytes: number | undefined;
    try {
        downloader = await lib.createModelDownloader({
            modelUri: request.uri,
            dirPath: request.dirPath,
            fileName: request.fileName,
            headers: request.headers,
            showCliProgress: false,
            skipExisting: true,
            deleteTempFileOnCancel: false,
            parallelDownloads: 1,
            onProgress: (s) => {
                resumedFromBytes ??= s.downloadedSize;
                request.onProgress?.({ downloadedBytes: s.downloadedSize, totalBytes: s.totalSize, bytesPerSec: s.averageSpeed });
            },
        });
    } catch (e) {
        signal.throwIfAborted();
        throw new DownloadError('failed', request.uri, e instanceof Error ? e.message : String(e));
    }
    let path: string;
    try {
        path = await downloader.download({ signal });
    } catch (e) {
        signal.throwIfAborted();
        throw new DownloadError('failed', request.uri, e instanceof Error ? e.message : String(e));
    }
    // ipull may settle normally when closed by a cancel: an aborted download is never a result.
    if (signal.aborted) {
        await downloader.cancel({ deleteTempFile: false }).catch(() => undefined);
        throw signal.reason;
    }
    const totalBytes = downloader.totalSize;
    const bytes = await verifyDownload(path, request, totalBytes, signal);
    request.onProgress?.({ downloadedBytes: bytes, totalBytes: bytes, bytesPerSec: 0 });
    return { path, bytes, resumedFromBytes: resumedFromBytes ?? 0 };
}

/** Checks size, checksum and GGUF magic; a file that fails is renamed to `<name>.invalid`. */
async function verifyDownload(path: string, request: DownloadRequest, serverBytes: number, signal: AbortSignal): Promise<number> {
    const fail = async (problem: DownloadProblem, detail: string): Promise<never> => {
        const aside = `${path}.invalid`;
        await rename(path, aside).catch(() => undefined);
        throw new DownloadError(problem, request.uri, `${detail}; the file was moved to ${aside}`, aside);
    };
    let size: number;
    try {
        size = (await stat(path)).size;
    } catch (e) {
        throw new DownloadError('failed', request.uri, `no file at ${path} after the download (${e instanceof Error ? e.message : String(e)})`);
    }
    if (serverBytes > 0 && size !== serverBytes) return fail('sizeMismatch', `${size} bytes on disk, the server announced ${serverBytes}`);
    if (request.expectedBytes !== undefined && size !== request.expectedBytes) {
        return fail('sizeMismatch', `${size} bytes on disk, expected ${request.expectedBytes}`);
    }
    if (!(await hasGgufMagic(path))) return fail('notGguf', 'the file does not start with the GGUF magic');
    if (request.sha256 !== undefined) {
        const actual = await sha256File(path, signal);
        if (actual.toLowerCase() !== request.sha256.toLowerCase()) {
            return fail('checksumMismatch', `SHA-256 ${actual}, expected ${request.sha256}`);
        }
    }
    return size;
}

async function hasGgufMagic(path: string): Promise<boolean> {
    const fh = await open(path, 'r');
    try {
        const buf = Buffer.alloc(4);
        const { bytesRead } = await fh.read(buf, 0, 4, 0);
        return bytesRead === 4 && buf.toString('latin1') === 'GGUF';
    } finally {
        await fh.close();
    }
}

export function sha256File(path: string, signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
        const hash = createHash('sha256');
        const stream = createReadStream(path, { signal });
        stream.on('data', (chunk) => hash.update(chunk));
        stream.on('error', (e) => reject(signal?.aborted ? signal.reason : e));
        stream.on('end', () => resolve(hash.digest('hex')));
    });
}

/** Where `downloadModel` puts a file. */
export function downloadTarget(dirPath: string, fileName: string): string {
    return join(dirPath, fileName);
}
