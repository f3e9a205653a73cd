/**
 * A process that saves the "new" index into a folder holding the "old" one, and kills itself
 * with SIGKILL at one point of the save (the faults suite runs it as a child and checks what the
 * folder holds afterwards). SIGKILL cannot be caught: nothing of the store's code runs after it,
 * exactly as when the OS or the user kills the extension host.
 *
 *   node --require tsx/cjs filesIndexWriter.ts DIR POINT
 *
 * POINT: `bytes:N` (after N bytes of the save reached the disk, mid-file), `beforeRename` (every
 * part and the temporary manifest written, before the manifest's rename), `afterRename` (committed,
 * before the old generation is deleted), `cleanup` (before the first file of the old generation is
 * deleted), or `none` (the save completes; exit code 0).
 */
import { createIndexStore } from '../../../src/core/search/store';
import { buildIndex, IDENTITY, storeFs, type StoreFsHooks } from './filesIndex';

function die(): Promise<never> {
    process.kill(process.pid, 'SIGKILL');
    return new Promise<never>(() => undefined); // never reached: the signal ends the process
}

async function main(): Promise<void> {
    const [dir, point] = process.argv.slice(2);
    if (!dir || !point) throw new Error('usage: filesIndexWriter.ts DIR POINT');
    const hooks: StoreFsHooks = {};
    if (point.startsWith('bytes:')) {
        const limit = Number(point.slice('bytes:'.length));
        hooks.beforeWrite = (_path, written, n) => Math.max(0, Math.min(n, limit - written));
        hooks.cutShort = () => die();
    } else if (point === 'beforeRename') {
        hooks.beforeRename = (_from, to) => (to.endsWith('/manifest.json') ? die() : Promise.resolve());
    } else if (point === 'afterRename') {
        hooks.afterRename = (_from, to) => (to.endsWith('/manifest.json') ? die() : Promise.resolve());
    } else if (point === 'cleanup') {
        hooks.beforeUnlink = () => die();
    } else if (point !== 'none') throw new Error(`unknown point ${point}`);
    const store = createIndexStore(dir, IDENTITY, storeFs(hooks));
    await store.save(buildIndex('new'));
    if (point.startsWith('bytes:')) throw new Error(`the save wrote fewer than ${point.slice(6)} bytes`);
}

main().then(
    () => process.exit(0),
    (e: unknown) => {
        process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        process.exit(2);
    },
);
