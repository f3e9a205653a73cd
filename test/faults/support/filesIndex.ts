/**
 * The search index's fault tests share these: a small index whose every file carries a marker
 * word of its version ("oldmarker" / "newmarker"), so a query says which version a loaded index
 * is, with deterministic vectors; and the store's file system over node:fs/promises (with `open`:
 * durable writes, as in production), with hooks where a test injects a fault.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { createSearchIndex, type InMemorySearchIndex } from '../../../src/core/search/index/index';
import type { IndexStoreFs } from '../../../src/core/search/store';
import type { ChunkInput, EmbedderIdentity } from '../../../src/core/search/types';
import type { WritableFile } from '../../../src/core/router/textFileStore';

export const IDENTITY: EmbedderIdentity = { space: 'faults-test-space', dims: 16, pooling: 'mean', model: 'faults-embedder', queryPrefix: '', documentPrefix: '' };

export type Version = 'old' | 'new';

/** A vector for `text`: deterministic, never all zero. */
export function vectorOf(text: string, dims = IDENTITY.dims): number[] {
    const h = createHash('sha256').update(text).digest();
    return Array.from({ length: dims }, (_, i) => (h[i % h.length] - 127.5) / 128);
}

/** The index of `files` files of `version`; every chunk has a vector. */
export function buildIndex(version: Version, files = 24): InMemorySearchIndex {
    const index = createSearchIndex(IDENTITY);
    for (let f = 0; f < files; f++) {
        const file = `src/${version}/file${f}.ts`;
        const chunks: ChunkInput[] = [];
        for (let c = 0; c < 6; c++) {
            const text = `export function ${version}marker${f}x${c}(request: Request) {\n    return ${version}marker route ${f} ${c};\n}`;
            chunks.push({ file, startLine: c * 3 + 1, endLine: c * 3 + 3, text, embedText: text, hash: createHash('sha256').update(text).digest('hex') });
        }
        const todo = index.setFile(file, { mtimeMs: 1_700_000_000_000 + f, size: 1000 + f }, chunks);
        index.addVectors(todo.map((c) => ({ hash: c.hash, vector: vectorOf(c.embedText) })));
    }
    return index;
}

/** Which version `index` is, by what its queries find: 'old', 'new', or a description of a mix. */
export function versionOf(index: InMemorySearchIndex): string {
    const found = (v: Version): boolean => index.searchLexical(`${v}marker`, 5).length > 0;
    const old = found('old');
    const neu = found('new');
    if (old && !neu) return 'old';
    if (neu && !old) return 'new';
    return `a mix (old ${old}, new ${neu})`;
}

export interface StoreFsHooks {
    /** Before bytes reach `path`: `written` bytes of this save so far, `n` about to be written. Returns how many of them to write (fewer: stop after them). */
    beforeWrite?(path: string, written: number, n: number): number | Promise<number>;
    /** After a write was cut short by `beforeWrite`. */
    cutShort?(path: string): Promise<void>;
    beforeRename?(from: string, to: string): Promise<void>;
    afterRename?(from: string, to: string): Promise<void>;
    beforeUnlink?(path: string): Promise<void>;
}

/** The store's file system over node:fs/promises, durable (`open` + fsync), with `hooks`. */
export function storeFs(hooks: StoreFsHooks = {}): IndexStoreFs & { written: number } {
    const fs = {
        written: 0,
        readFile: (p: string) => fsp.readFile(p),
        writeFile: (p: string, data: Iterable<Uint8Array>) => fsp.writeFile(p, data),
        rename: async (from: string, to: string) => {
            await hooks.beforeRename?.(from, to);
            await fsp.rename(from, to);
            await hooks.afterRename?.(from, to);
        },
        mkdir: (p: string, o: { recursive: true }) => fsp.mkdir(p, o),
        readdir: (p: string) => fsp.readdir(p),
        unlink: async (p: string) => {
            await hooks.beforeUnlink?.(p);
            await fsp.unlink(p);
        },
        access: (p: string) => fsp.access(p),
        open: async (path: string, flags: 'w' | 'r'): Promise<WritableFile> => {
            const handle = await fsp.open(path, flags);
            return {
                write: async (data, offset, length) => {
                    const n = hooks.beforeWrite ? Math.min(length, await hooks.beforeWrite(path, fs.written, length)) : length;
                    const r = n > 0 ? await handle.write(data, offset, n) : { bytesWritten: 0 };
                    fs.written += r.bytesWritten;
                    if (n < length) await hooks.cutShort?.(path);
                    return { bytesWritten: r.bytesWritten };
                },
                sync: () => handle.sync(),
                close: () => handle.close(),
            };
        },
    };
    return fs;
}
