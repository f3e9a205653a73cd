/**
 * An in-memory file system for the store's tests, that can crash: the n-th write step (mkdir,
 * writeFile, rename, unlink) throws, optionally after writing half of the file (a torn write),
 * and every step after it throws too (the process is gone).
 */
import { posix } from 'node:path';
import type { IndexStoreFs } from '../../../src/core/search/store';

function notFound(path: string): Error {
    return Object.assign(new Error(`ENOENT: no such file or directory, '${path}'`), { code: 'ENOENT' });
}

export class Crash extends Error {
    constructor(step: number) {
        super(`crashed at write step ${step}`);
    }
}

export class MemoryFs implements IndexStoreFs {
    readonly files = new Map<string, Uint8Array>();
    readonly dirs = new Set<string>(['/']);
    /** Write steps taken so far. */
    steps = 0;
    private dead = false;

    constructor(
        /** The write step that crashes (1-based); Infinity: none. */
        private readonly crashAt = Number.POSITIVE_INFINITY,
        /** Whether a crashing writeFile leaves the first half of its bytes behind. */
        private readonly torn = false,
    ) {}

    /** The files and folders as they are, on a file system that does not crash (a restart). */
    restart(crashAt = Number.POSITIVE_INFINITY, torn = false): MemoryFs {
        const fs = new MemoryFs(crashAt, torn);
        for (const [k, v] of this.files) fs.files.set(k, v);
        for (const d of this.dirs) fs.dirs.add(d);
        return fs;
    }

    private step(): boolean {
        if (this.dead) throw new Error('the process is gone');
        this.steps++;
        return this.steps === this.crashAt;
    }

    private die(): never {
        this.dead = true;
        throw new Crash(this.steps);
    }

    async readFile(path: string): Promise<Uint8Array> {
        if (this.dead) throw new Error('the process is gone');
        const f = this.files.get(path);
        if (!f) throw notFound(path);
        return f.slice();
    }

    async writeFile(path: string, data: Iterable<Uint8Array>): Promise<void> {
        const crash = this.step();
        if (!this.dirs.has(posix.dirname(path))) throw notFound(path);
        const pieces = [...data];
        const all = new Uint8Array(pieces.reduce((n, p) => n + p.byteLength, 0));
        let at = 0;
        for (const p of pieces) {
            all.set(p, at);
            at += p.byteLength;
        }
        if (crash) {
            if (this.torn) this.files.set(path, all.slice(0, all.byteLength >> 1));
            this.die();
        }
        this.files.set(path, all);
    }

    async rename(from: string, to: string): Promise<void> {
        if (this.step()) this.die();
        if (this.files.has(from)) {
            this.files.set(to, this.files.get(from) as Uint8Array);
            this.files.delete(from);
            return;
        }
        if (!this.dirs.has(from)) throw notFound(from);
        for (const d of [...this.dirs]) {
            if (d === from || d.startsWith(`${from}/`)) {
                this.dirs.delete(d);
                this.dirs.add(to + d.slice(from.length));
            }
        }
        for (const [k, v] of [...this.files]) {
            if (!k.startsWith(`${from}/`)) continue;
            this.files.delete(k);
            this.files.set(to + k.slice(from.length), v);
        }
    }

    async mkdir(path: string): Promise<unknown> {
        if (this.step()) this.die();
        for (let d = path; d !== '/' && d !== '.'; d = posix.dirname(d)) this.dirs.add(d);
        return undefined;
    }

    async readdir(path: string): Promise<string[]> {
        if (this.dead) throw new Error('the process is gone');
        if (!this.dirs.has(path)) throw notFound(path);
        const names = new Set<string>();
        for (const k of [...this.files.keys(), ...this.dirs]) if (posix.dirname(k) === path && k !== path) names.add(posix.basename(k));
        return [...names].sort();
    }

    async unlink(path: string): Promise<void> {
        if (this.step()) this.die();
        if (!this.files.delete(path)) throw notFound(path);
    }

    async access(path: string): Promise<void> {
        if (this.dead) throw new Error('the process is gone');
        if (!this.files.has(path) && !this.dirs.has(path)) throw notFound(path);
    }

    /** Names of the files in `dir`. */
    list(dir: string): string[] {
        return [...this.files.keys()].filter((k) => posix.dirname(k) === dir).map((k) => posix.basename(k)).sort();
    }
}
