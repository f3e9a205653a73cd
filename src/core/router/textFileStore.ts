/**
 * A `TextStore` on a file, with the file system passed in (node:fs/promises in production, a
 * fake or a temporary directory in tests).
 * Invariants: a save writes a temporary file in the same directory and renames it over the target,
 * so a reader sees the old or the new content, never a torn write; a corrupt file is renamed
 * aside to `<file>.corrupt`, `<file>.corrupt.1`, ... and never deleted.
 */
import { dirname } from 'node:path';
import type { TextStore } from '../tasks';

export interface TextFileFs {
    readFile(path: string, encoding: 'utf8'): Promise<string>;
    writeFile(path: string, data: string, encoding: 'utf8'): Promise<void>;
    rename(from: string, to: string): Promise<void>;
    mkdir(path: string, options: { recursive: true }): Promise<unknown>;
    access(path: string): Promise<void>;
}

function isNotFound(e: unknown): boolean {
    return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ENOENT';
}

export function createFileTextStore(file: string, fs: TextFileFs): TextStore {
    let writes = 0;
    return {
        async load(): Promise<string | undefined> {
            try {
                return await fs.readFile(file, 'utf8');
            } catch (e) {
                if (isNotFound(e)) return undefined;
                throw e;
            }
        },
        async save(data: string): Promise<void> {
            await fs.mkdir(dirname(file), { recursive: true });
            const tmp = `${file}.tmp-${process.pid}-${writes++}`;
            await fs.writeFile(tmp, data, 'utf8');
            await fs.rename(tmp, file);
        },
        async setAside(): Promise<string | undefined> {
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
                    if (isNotFound(e)) return undefined;
                    throw e;
                }
                return target;
            }
            return undefined;
        },
    };
}
