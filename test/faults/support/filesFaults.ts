/**
 * File systems for the fault tests: node:fs/promises on a real temporary folder, with faults
 * injected where a test says (a write that fails part-way as on a full disk, a refused write as
 * on a read-only folder, a refused read). Every injected fault is an Error with the `code` Node
 * gives for the real one, so the code under test cannot tell them apart by type.
 */
import * as fsp from 'node:fs/promises';
import type { TextFileFs, WritableFile } from '../../../src/core/router/textFileStore';

export function fsError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
    const text: Record<string, string> = {
        ENOSPC: 'no space left on device',
        EACCES: 'permission denied',
        EROFS: 'read-only file system',
        EIO: 'i/o error',
        ENOENT: 'no such file or directory',
    };
    return Object.assign(new Error(`${code}: ${text[code] ?? 'error'}, ${syscall} '${path}'`), { code, syscall, path, errno: -1 });
}

export interface FaultPlan {
    /** Paths (tested with `test`) whose writes fail: after `afterBytes` bytes written (a full disk), or at open (0 bytes). */
    failWrites?: { test: (path: string) => boolean; code: string; afterBytes: number };
    /** Paths whose reads fail with `code`. */
    failReads?: { test: (path: string) => boolean; code: string };
    /** Renames whose source or target matches fail with `code`. */
    failRenames?: { test: (path: string) => boolean; code: string };
}

/**
 * node:fs/promises as a `TextFileFs` (with `open` and `unlink`: durable writes), failing as `plan`
 * says. `plan` is read at every call: a test changes it to make the disk fill or recover.
 */
export class FaultyFs implements TextFileFs {
    /** Writes attempted (opens for writing) and bytes that reached the disk under a failing plan. */
    writesAttempted = 0;
    constructor(public plan: FaultPlan = {}) {}

    readFile = async (path: string, encoding: 'utf8'): Promise<string> => {
        const r = this.plan.failReads;
        if (r?.test(path)) throw fsError(r.code, 'open', path);
        return fsp.readFile(path, encoding);
    };

    writeFile = async (path: string, data: string, encoding: 'utf8'): Promise<void> => {
        const f = await this.open(path, 'w');
        try {
            const bytes = Buffer.from(data, encoding);
            await f.write(bytes, 0, bytes.byteLength);
        } finally {
            await f.close();
        }
    };

    rename = async (from: string, to: string): Promise<void> => {
        const r = this.plan.failRenames;
        if (r && (r.test(from) || r.test(to))) throw fsError(r.code, 'rename', from);
        return fsp.rename(from, to);
    };

    mkdir = (path: string, options: { recursive: true }): Promise<unknown> => fsp.mkdir(path, options);
    access = (path: string): Promise<void> => fsp.access(path);
    unlink = (path: string): Promise<void> => fsp.unlink(path);

    open = async (path: string, flags: 'w' | 'r'): Promise<WritableFile> => {
        const plan = this.plan.failWrites;
        const failing = flags === 'w' && plan?.test(path) ? plan : undefined;
        if (flags === 'w') this.writesAttempted++;
        if (failing && failing.afterBytes === 0) throw fsError(failing.code, 'open', path);
        const handle = await fsp.open(path, flags);
        let written = 0;
        return {
            write: async (data, offset, length) => {
                if (failing) {
                    // The disk takes what fits, then refuses: the bytes before the limit are on disk.
                    const room = Math.max(0, failing.afterBytes - written);
                    if (room === 0) throw fsError(failing.code, 'write', path);
                    const n = Math.min(room, length);
                    const r = await handle.write(data, offset, n);
                    written += r.bytesWritten;
                    return { bytesWritten: r.bytesWritten };
                }
                const r = await handle.write(data, offset, length);
                written += r.bytesWritten;
                return { bytesWritten: r.bytesWritten };
            },
            sync: () => handle.sync(),
            close: () => handle.close(),
        };
    };
}

/** Whether this process is exempt from file permissions (root, or CAP_DAC_OVERRIDE): then chmod cannot deny it anything. */
export async function permissionsIgnored(dir: string): Promise<boolean> {
    const probe = `${dir}/.probe-${process.pid}`;
    await fsp.writeFile(probe, 'x');
    await fsp.chmod(probe, 0o000);
    try {
        await fsp.readFile(probe);
        return true;
    } catch {
        return false;
    } finally {
        await fsp.chmod(probe, 0o600);
        await fsp.unlink(probe);
    }
}

/** Polls `done` every `stepMs` of real time, running `tick` between polls, until it holds; fails after `cap` polls (only a hang reaches it). */
export async function until(done: () => boolean, what: string, tick: () => Promise<void> = async () => undefined, cap = 4000, stepMs = 2): Promise<void> {
    for (let i = 0; !done(); i++) {
        if (i > cap) throw new Error(`gave up waiting for ${what}`);
        await tick();
        await new Promise((r) => setTimeout(r, stepMs));
    }
}
