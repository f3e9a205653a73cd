/**
 * A `TextStore` on a file, with the file system passed in (node:fs/promises in production, a
 * fake or a temporary directory in tests).
 *
 * Invariants:
 *   - a save writes a temporary file in the same directory, flushes it to the disk (fsync, when
 *     the file system passed in can `open`), and renames it over the target, so a reader sees the
 *     old or the new content, never a torn write; a save that fails at any step (a full disk, a
 *     read-only folder) leaves the previous file as it was and removes its temporary file;
 *   - a corrupt file is renamed aside to `<file>.corrupt`, `<file>.corrupt.1`, ... and never deleted;
 *   - a file that exists but could not be read (permissions, I/O) is never overwritten: a save
 *     first moves it aside, and refuses, saying why, when it cannot.
 */
import { dirname } from 'node:path';
import { errorCode, errorMessage } from '../errors';
import type { TextStore } from '../tasks';

/** What a durable write needs of an open file (node's `FileHandle` has it). */
export interface WritableFile {
    /** Writes `length` bytes of `data` from `offset` at the file's position; may write fewer. */
    write(data: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
    /** Flushes the file's data to the disk (fsync). */
    sync(): Promise<void>;
    close(): Promise<void>;
}

/** Opening files for a durable write: `'w'` a file to write, `'r'` a folder to fsync after a rename. */
export interface DurableFs {
    open(path: string, flags: 'w' | 'r'): Promise<WritableFile>;
}

export interface TextFileFs extends Partial<DurableFs> {
    readFile(path: string, encoding: 'utf8'): Promise<string>;
    writeFile(path: string, data: string, encoding: 'utf8'): Promise<void>;
    rename(from: string, to: string): Promise<void>;
    mkdir(path: string, options: { recursive: true }): Promise<unknown>;
    access(path: string): Promise<void>;
    /** Removes a temporary file a failed save left (without it, the next save's rename replaces nothing and it stays). */
    unlink?(path: string): Promise<void>;
}

function isNotFound(e: unknown): boolean {
    return errorCode(e) === 'ENOENT';
}

/**
 * Writes `pieces` to `path` and flushes them to the disk before it resolves: open, write every
 * byte (a short write is continued), fsync, close. The file is closed whatever fails.
 */
export async function writeDurably(fs: DurableFs, path: string, pieces: Iterable<Uint8Array>): Promise<void> {
    const file = await fs.open(path, 'w');
    try {
        for (const piece of pieces) {
            for (let at = 0; at < piece.byteLength; ) {
                const { bytesWritten } = await file.write(piece, at, piece.byteLength - at);
                if (bytesWritten <= 0) throw new Error(`wrote no bytes to ${path}`);
                at += bytesWritten;
            }
        }
        await file.sync();
    } finally {
        await file.close().catch(() => undefined);
    }
}

/**
 * Flushes a folder's entries (a rename into it) to the disk. Best effort: some systems cannot
 * open or fsync a folder (Windows), and the rename is done either way.
 */
export async function syncFolder(fs: Partial<DurableFs>, dir: string): Promise<void> {
    if (!fs.open) return;
    try {
        const d = await fs.open(dir, 'r');
        try {
            await d.sync();
        } finally {
            await d.close().catch(() => undefined);
        }
    } catch {
        // Not supported here: the rename itself is atomic, only its durability across a power loss is at stake.
    }
}

/** What to do about a write the file system refused with `code`, in words (`dir`: where it wrote). */
export function writeAdvice(code: string | undefined, dir: string): string {
    if (code === 'ENOSPC' || code === 'EDQUOT') return 'the disk is full: free some space';
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return `check that ${dir} is writable`;
    return `check ${dir}`;
}

/** A save that failed: names the file, what the file system said, and what to do. */
export class SaveFailedError extends Error {
    constructor(
        readonly file: string,
        readonly code: string | undefined,
        cause: unknown,
    ) {
        super(`could not write ${file} (${errorMessage(cause)}); ${writeAdvice(code, dirname(file))}; the previous file is unchanged`);
        this.name = 'SaveFailedError';
    }
}

export function createFileTextStore(file: string, fs: TextFileFs): TextStore {
    let writes = 0;
    /** The file exists but could not be read: it must not be overwritten until it is moved aside. */
    let unreadable: unknown;

    async function setAside(): Promise<string | undefined> {
        for (let i = 0; i < 1000; i++) {
            const target = i === 0 ? `${file}.corrupt` : `${file}.corrupt.${i}`;
            try {
                await fs.access(target);
                continue;
            } catch (e) {
                if (!isNotFound(e)) throw e;
            }
            try {
                await fs.rename(file, target);
            } catch (e) {
                if (!isNotFound(e)) throw e;
                unreadable = undefined;
                return undefined;
            }
            unreadable = undefined;
            return target;
        }
        return undefined;
    }

    return {
        async load(): Promise<string | undefined> {
            try {
                const text = await fs.readFile(file, 'utf8');
                unreadable = undefined;
                return text;
            } catch (e) {
                if (isNotFound(e)) return undefined;
                unreadable = e;
                throw e;
            }
        },
        async save(data: string): Promise<void> {
            if (unreadable !== undefined) {
                // Never replace what could not be read: it may be all the user has.
                try {
                    await setAside();
                } catch (e) {
                    throw new Error(`not overwriting ${file}, which could not be read (${errorMessage(unreadable)}) nor moved aside (${errorMessage(e)}); fix its permissions or move it away`);
                }
            }
            const tmp = `${file}.tmp-${process.pid}-${writes++}`;
            try {
                await fs.mkdir(dirname(file), { recursive: true });
                if (fs.open) await writeDurably(fs as DurableFs, tmp, [new TextEncoder().encode(data)]);
                else await fs.writeFile(tmp, data, 'utf8');
                await fs.rename(tmp, file);
            } catch (e) {
                await fs.unlink?.(tmp).catch(() => undefined);
                throw new SaveFailedError(file, errorCode(e), e);
            }
            await syncFolder(fs, dirname(file));
        },
        setAside,
    };
}
