/**
 * The llama.cpp source that ships inside node-llama-cpp (`llama/gitRelease.bundle`: a git bundle
 * of one commit, the release the prebuilt addon was built from), extracted at test time into a
 * cache keyed by that commit. Nothing extracted is ever committed: the cache lives under `.zeta/`
 * (gitignored).
 *
 * Layout of the cache, for commit C:
 *   .zeta/llama-src/C.git/      a bare clone of the bundle (about 40 MB, ~2 s to make)
 *   .zeta/llama-src/C/<path>    files checked out from it on request (`llamaSourceFiles`)
 * Both are created under a temporary name and renamed into place, so concurrent test processes
 * (or an interrupted run) never see a half-made cache entry; a loser of a rename race discards
 * its copy. Reads go through git, so the cache is always the bundle's exact bytes.
 *
 * General on purpose: the faults suite reads vocabularies (`models/ggml-vocab-*.gguf`) and
 * llama.cpp's sources (to cite asserts); a later build of llama-server can ask for the whole tree.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root (this file is test/faults/support/llamaSource.ts). */
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** Where node-llama-cpp keeps the bundle. */
export const LLAMA_BUNDLE = path.join(REPO_ROOT, 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle');

/** Default cache folder (gitignored through `.zeta/`). */
export const LLAMA_SOURCE_CACHE = path.join(REPO_ROOT, '.zeta', 'llama-src');

export interface LlamaSource {
    /** The bundle's commit (40 hex digits). */
    readonly commit: string;
    /** A bare repository holding that commit. */
    readonly gitDir: string;
    /** Folder that `llamaSourceFiles` checks files out into (paths relative to the llama.cpp root). */
    readonly root: string;
}

/** Bytes of git output a call may return (the largest vocabulary GGUF is ~10 MB). */
const MAX_GIT_OUTPUT = 256 * 1024 * 1024;

async function git(args: readonly string[], signal?: AbortSignal): Promise<string> {
    const { stdout } = await run('git', [...args], { maxBuffer: MAX_GIT_OUTPUT, signal, encoding: 'utf8' });
    return stdout;
}

/** The commit the bundle holds, read from its head list (no clone needed). */
export async function llamaBundleCommit(bundle = LLAMA_BUNDLE, signal?: AbortSignal): Promise<string> {
    const heads = await git(['bundle', 'list-heads', bundle], signal);
    const head = /^([0-9a-f]{40}) HEAD$/m.exec(heads) ?? /^([0-9a-f]{40}) /m.exec(heads);
    if (head === null) throw new Error(`${bundle}: no commit in its head list`);
    return head[1]!;
}

/** Written last into a whole-tree checkout: its presence means the tree is complete. */
const WHOLE_TREE_MARKER = '.zeta-complete';

const pending = new Map<string, Promise<LlamaSource>>();

/**
 * The bare clone of the bundle's commit, made on first use (one per process even when called
 * concurrently). Rejects when git or the bundle is missing.
 */
export function llamaSource(options: { readonly bundle?: string; readonly cacheDir?: string; readonly signal?: AbortSignal } = {}): Promise<LlamaSource> {
    const bundle = options.bundle ?? LLAMA_BUNDLE;
    const cacheDir = options.cacheDir ?? LLAMA_SOURCE_CACHE;
    const key = `${bundle}\0${cacheDir}`;
    let p = pending.get(key);
    if (p === undefined) {
        p = openSource(bundle, cacheDir, options.signal);
        pending.set(key, p);
        p.catch(() => pending.delete(key));
    }
    return p;
}

async function openSource(bundle: string, cacheDir: string, signal: AbortSignal | undefined): Promise<LlamaSource> {
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: is node-llama-cpp installed (npm ci)?`);
    const commit = await llamaBundleCommit(bundle, signal);
    const gitDir = path.join(cacheDir, `${commit}.git`);
    const root = path.join(cacheDir, commit);
    if (!(await hasCommit(gitDir, commit))) {
        await mkdir(cacheDir, { recursive: true });
        const temp = `${gitDir}.tmp-${process.pid}-${Date.now()}`;
        try {
            await git(['clone', '--quiet', '--bare', bundle, temp], signal);
            await renameOrDiscard(temp, gitDir);
        } finally {
            await rm(temp, { recursive: true, force: true });
        }
        if (!(await hasCommit(gitDir, commit))) throw new Error(`${gitDir}: the clone of ${bundle} lacks ${commit}`);
    }
    return { commit, gitDir, root };
}

async function hasCommit(gitDir: string, commit: string): Promise<boolean> {
    if (!existsSync(gitDir)) return false;
    try {
        await git(['--git-dir', gitDir, 'cat-file', '-e', `${commit}^{commit}`]);
        return true;
    } catch {
        return false;
    }
}

/** Renames `from` to `to`; when `to` appeared meanwhile (another process won), keeps `to`. */
async function renameOrDiscard(from: string, to: string): Promise<void> {
    try {
        await rename(from, to);
    } catch (e) {
        if (!existsSync(to)) throw e;
    }
}

/** Paths (files, relative to the llama.cpp root) under `dir` at the bundle's commit. */
export async function listLlamaSource(dir: string, signal?: AbortSignal): Promise<string[]> {
    const src = await llamaSource({ signal });
    const out = await git(['--git-dir', src.gitDir, 'ls-tree', '-r', '--name-only', src.commit, '--', dir.replace(/\/?$/, '/')], signal);
    return out.split('\n').filter((l) => l.length > 0);
}

/** One file's bytes at the bundle's commit, straight from git (nothing written). */
export async function readLlamaSourceFile(file: string, signal?: AbortSignal): Promise<Buffer> {
    const src = await llamaSource({ signal });
    const { stdout } = await run('git', ['--git-dir', src.gitDir, 'cat-file', 'blob', `${src.commit}:${file}`], {
        maxBuffer: MAX_GIT_OUTPUT,
        encoding: 'buffer',
        signal,
    });
    return stdout;
}

/**
 * Checks `paths` (files or folders, relative to the llama.cpp root; none: the whole tree) out into
 * the cache and returns the absolute path of each, in order. Already extracted paths are reused:
 * a path is written once, under a temporary folder renamed into place.
 */
export async function llamaSourceFiles(paths: readonly string[] = ['.'], signal?: AbortSignal): Promise<string[]> {
    const src = await llamaSource({ signal });
    const whole = paths.some((p) => p === '.' || p === '');
    const wholeMarker = path.join(src.root, WHOLE_TREE_MARKER);
    const missing = whole ? (existsSync(wholeMarker) ? [] : ['.']) : paths.filter((p) => !existsSync(path.join(src.root, p)));
    if (missing.length > 0) {
        const temp = `${src.root}.tmp-${process.pid}-${Date.now()}`;
        await mkdir(temp, { recursive: true });
        try {
            // A private index: the bare clone's own index is never touched, so concurrent checkouts cannot collide.
            const env = { ...process.env, GIT_INDEX_FILE: `${temp}.index` };
            await run('git', ['--git-dir', src.gitDir, '--work-tree', temp, 'checkout', src.commit, '--', ...missing], { env, signal, maxBuffer: MAX_GIT_OUTPUT });
            if (whole) {
                await writeFile(path.join(temp, WHOLE_TREE_MARKER), `${src.commit}\n`);
                await rm(src.root, { recursive: true, force: true });
                await renameOrDiscard(temp, src.root);
            } else {
                for (const p of missing) {
                    const target = path.join(src.root, p);
                    await mkdir(path.dirname(target), { recursive: true });
                    await renameOrDiscard(path.join(temp, p), target);
                }
            }
        } finally {
            await rm(temp, { recursive: true, force: true });
            await rm(`${temp}.index`, { force: true });
        }
    }
    return paths.map((p) => path.join(src.root, p));
}

/** Reads an extracted file's text (extracting it first when needed). */
export async function llamaSourceText(file: string, signal?: AbortSignal): Promise<string> {
    const [abs] = await llamaSourceFiles([file], signal);
    return readFile(abs!, 'utf8');
}
