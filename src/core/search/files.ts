/**
 * Which workspace files are indexed, and their text.
 *
 * A file is indexed unless one of these skips it, checked in this order (the first reason is the
 * one reported):
 *   1. the built-in deny-list: dependency and build folders (node_modules, .git, dist, ...) at any
 *      depth, lockfiles, minified and source-map names, files that may hold secrets (.env, keys),
 *      binary extensions; it applies with or without git, so a folder without git still skips
 *      node_modules;
 *   2. `files.exclude` and `search.exclude` (VS Code's glob maps, matched with picomatch against the
 *      workspace-relative path of the file and of each folder on the way to it);
 *   3. `.gitignore` files at every level (the `ignore` package: a nested file's patterns are relative
 *      to its folder and win over its parents', negations included) and `.git/info/exclude`;
 *   4. its size (`maxFileKB`), from stat before anything is read;
 *   5. its content, when read: a NUL byte in the first 8 KB (binary), invalid UTF-8 (decoded with
 *      `TextDecoder('utf-8', { fatal: true })`), a "generated" marker in a comment of its first lines,
 *      or the shape of minified code (very long lines).
 * 1 to 4 are decided by the walk, without reading files; 5 when the indexer reads a file (`read`),
 * so that a start-up scan can compare stamps first and read only changed files.
 *
 * Nothing a single file does stops the walk: a file or folder that vanishes between listing and
 * reading, cannot be read, or is a symlink loop is reported as skipped with why, and the walk goes
 * on. Only an abort (the signal) or an unreadable workspace root ends it with an error.
 *
 * The file system is passed in (`WorkspaceFs`): paths given to it are `root + '/' + relative path`.
 * Relative paths here and in every result are `/`-separated, without a leading `./`.
 */
import ignore, { type Ignore } from 'ignore';
import picomatch from 'picomatch/posix';
import { errorCode, errorMessage } from '../errors';
import type { FileStamp } from './types';

// ---------------------------------------------------------------------------------------------
// The file system, as the walk needs it
// ---------------------------------------------------------------------------------------------

export type EntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface DirEntry {
    readonly name: string;
    /** The entry itself, not what a symlink points to. */
    readonly type: EntryType;
}

export interface FileStat {
    /** What the path is after symlinks are followed. */
    readonly type: 'file' | 'directory' | 'other';
    /** Bytes. */
    readonly size: number;
    /** Last modification, ms since the epoch. */
    readonly mtimeMs: number;
}

/**
 * The four calls the walk makes. Each rejects with an Error whose `code` says why where it can
 * (`ENOENT`, `ENOTDIR`, `ELOOP`, `EACCES`, or VS Code's `FileNotFound`), and with the signal's
 * reason once the signal is aborted.
 */
export interface WorkspaceFs {
    readDirectory(path: string, signal?: AbortSignal): Promise<readonly DirEntry[]>;
    /** Follows symlinks. */
    stat(path: string, signal?: AbortSignal): Promise<FileStat>;
    readFile(path: string, signal?: AbortSignal): Promise<Uint8Array>;
    /** The canonical path, every symlink resolved. */
    realpath(path: string, signal?: AbortSignal): Promise<string>;
}

/** The part of `node:fs/promises` that `workspaceFsFromNode` uses (passed in: src/core never imports node:fs). */
export interface NodeFsPromises {
    readdir(path: string, options: { withFileTypes: true }): Promise<Array<{ name: string; isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }>>;
    stat(path: string): Promise<{ size: number; mtimeMs: number; isFile(): boolean; isDirectory(): boolean }>;
    readFile(path: string, options: { signal?: AbortSignal }): Promise<Uint8Array>;
    realpath(path: string): Promise<string>;
}

/** A `WorkspaceFs` over Node's file system: `workspaceFsFromNode(require('node:fs/promises'))`. */
export function workspaceFsFromNode(fsp: NodeFsPromises): WorkspaceFs {
    return {
        async readDirectory(path, signal) {
            signal?.throwIfAborted();
            const entries = await fsp.readdir(path, { withFileTypes: true });
            return entries.map((e) => ({
                name: e.name,
                type: e.isSymbolicLink() ? 'symlink' : e.isDirectory() ? 'directory' : e.isFile() ? 'file' : 'other',
            }));
        },
        async stat(path, signal) {
            signal?.throwIfAborted();
            const s = await fsp.stat(path);
            return { type: s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other', size: s.size, mtimeMs: s.mtimeMs };
        },
        async readFile(path, signal) {
            signal?.throwIfAborted();
            return fsp.readFile(path, { signal });
        },
        async realpath(path, signal) {
            signal?.throwIfAborted();
            return fsp.realpath(path);
        },
    };
}

// ---------------------------------------------------------------------------------------------
// Options and results
// ---------------------------------------------------------------------------------------------

/**
 * VS Code's `files.exclude` / `search.exclude` value: glob -> true (excluded), false (not), or
 * `{ when: "$(basename).ts" }` (excluded when a sibling of that name exists; files only).
 */
export type ExcludeMap = Readonly<Record<string, boolean | { readonly when: string }>>;

export interface FileRules {
    /** Files larger than this many KiB (1024 bytes) are skipped. */
    readonly maxFileKB: number;
    readonly filesExclude?: ExcludeMap;
    /** Merged over `filesExclude`, as VS Code's search does: the same glob here wins. */
    readonly searchExclude?: ExcludeMap;
    /** Honour .gitignore files and .git/info/exclude (VS Code's `search.useIgnoreFiles`); default true. */
    readonly useGitignore?: boolean;
    /** Walk into symlinked folders and index symlinked files (VS Code's `search.followSymlinks`); default true. */
    readonly followSymlinks?: boolean;
    /** Match globs and ignore patterns without case (Windows, macOS); default false. */
    readonly caseInsensitive?: boolean;
}

export type SkipReason =
    /** A dependency or build folder, a lockfile, or a minified / source-map name (the built-in deny-list). */
    | 'denied'
    /** Binary by extension, or by content (a NUL byte). */
    | 'binary'
    | 'excluded'
    | 'gitignored'
    | 'tooLarge'
    | 'invalidUtf8'
    /** Says so in a comment of its first lines ("@generated", "DO NOT EDIT", "auto-generated", ...). */
    | 'generated'
    /** Lines far longer than code is written with. */
    | 'minified'
    /** A symlink to a folder that contains it, or one the symlink cannot be resolved for (ELOOP). */
    | 'symlinkLoop'
    /** A symlink to a folder that is walked already under another path. */
    | 'duplicate'
    /** A symlink, when `followSymlinks` is false. */
    | 'symlink'
    /** Gone between listing and reading (or a broken symlink). */
    | 'vanished'
    /** Not a regular file or folder (socket, FIFO, device). */
    | 'notAFile'
    /** Any other error reading it (permissions, I/O). */
    | 'unreadable';

/** A file to index, with the stamp that says when it changed. */
export interface FoundFile {
    readonly kind: 'file';
    readonly path: string;
    readonly stamp: FileStamp;
}

/** A file or folder left out, and why (for the log); a skipped folder is not walked into. */
export interface SkippedPath {
    readonly kind: 'skipped';
    readonly path: string;
    readonly directory: boolean;
    readonly reason: SkipReason;
    /** The rule, size or error behind the reason, in words. */
    readonly detail: string;
}

export type WalkItem = FoundFile | SkippedPath;

/** A file's text, or why it is skipped. */
export type ReadResult =
    | { readonly kind: 'text'; readonly path: string; readonly text: string; readonly stamp: FileStamp }
    | SkippedPath;

export interface WorkspaceFiles {
    /**
     * Every file to index, streamed as the walk finds it (a folder's files in name order, then its
     * subfolders; symlinked folders after all real ones), with every skipped file and folder.
     */
    walk(signal?: AbortSignal): AsyncGenerator<WalkItem>;
    /**
     * Whether one path (a file created, changed or renamed) is indexed, by the walk's rules: its
     * folders and name, ignore files, excludes and size. Its content is checked by `read`.
     */
    check(path: string, signal?: AbortSignal): Promise<WalkItem>;
    /** The text of a file the walk found, or why it is skipped after all (size, binary, UTF-8, generated, minified, vanished). */
    read(path: string, signal?: AbortSignal): Promise<ReadResult>;
    /**
     * Forgets the cached ignore rules of the folder holding `path` (a .gitignore changed), or all of
     * them. A walk started after it sees the change.
     */
    invalidate(path?: string): void;
}

/** The name of the ignore files honoured at every level. */
export const IGNORE_FILE = '.gitignore';

// ---------------------------------------------------------------------------------------------
// The built-in deny-list
// ---------------------------------------------------------------------------------------------

/** Folders never walked, at any depth: dependencies, build output, caches, VCS metadata. */
export const DENIED_FOLDERS: ReadonlySet<string> = new Set([
    'node_modules', 'bower_components', 'jspm_packages', 'vendor', '.pnpm-store', '.yarn',
    '.git', '.hg', '.svn', '.jj',
    'dist', 'build', 'out', 'target', 'obj', '.next', '.nuxt', '.svelte-kit', '.output', '.angular',
    '.gradle', '.m2', '.cargo', 'Pods', 'DerivedData', '.dart_tool', '.terraform', '.serverless',
    '.venv', 'venv', '__pycache__', '.tox', '.nox', '.mypy_cache', '.pytest_cache', '.ruff_cache',
    '.ipynb_checkpoints', 'site-packages', '.eggs', 'htmlcov', 'coverage', '.nyc_output',
    '.cache', '.parcel-cache', '.turbo', '.vite', '.vscode-test', '.idea', '.vs', '.zeta',
]);

/** Folder names denied by pattern (any depth). */
const DENIED_FOLDER_GLOBS = ['*.egg-info', 'cmake-build-*'];

/** Lockfiles and other dependency manifests written by tools. */
export const LOCKFILES: ReadonlySet<string> = new Set([
    'package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lockb', 'bun.lock',
    'Cargo.lock', 'poetry.lock', 'Pipfile.lock', 'uv.lock', 'pdm.lock', 'composer.lock', 'Gemfile.lock',
    'go.sum', 'mix.lock', 'flake.lock', 'packages.lock.json', 'Podfile.lock', 'pubspec.lock', 'gradle.lockfile',
]);

/** File names denied by pattern: minified, bundled and source-map files, other lockfiles, VCS files (a worktree's `.git` is a file). */
const DENIED_FILE_GLOBS = ['*.min.js', '*.min.mjs', '*.min.cjs', '*.min.css', '*.map', '*.bundle.js', '*.chunk.js', '*-min.js', '*.lock', '.DS_Store', '.git', '.hg'];
/** Secrets: never read into an index. */
const SECRET_FILE_GLOBS = ['.env', '.env.*', '*.pem', '*.key', 'id_rsa', 'id_ed25519', 'id_ecdsa', '.npmrc', '.pypirc', '.netrc'];

/** Extensions (lower case, no dot) of files that are binary by format. */
export const BINARY_EXTENSIONS: ReadonlySet<string> = new Set([
    'png', 'jpg', 'jpeg', 'gif', 'bmp', 'ico', 'icns', 'webp', 'avif', 'tif', 'tiff', 'psd', 'heic', 'svgz',
    'pdf', 'doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx', 'odt', 'ods', 'epub',
    'zip', 'gz', 'tgz', 'bz2', 'xz', 'zst', '7z', 'rar', 'tar', 'jar', 'war', 'ear', 'apk', 'aar', 'whl', 'nupkg', 'vsix', 'crx',
    'exe', 'dll', 'so', 'dylib', 'o', 'obj', 'a', 'lib', 'pdb', 'class', 'pyc', 'pyo', 'pyd', 'wasm', 'node', 'bin', 'dat',
    'woff', 'woff2', 'ttf', 'otf', 'eot',
    'mp3', 'mp4', 'm4a', 'wav', 'ogg', 'oga', 'flac', 'aac', 'avi', 'mov', 'mkv', 'webm', 'wmv',
    'sqlite', 'sqlite3', 'db', 'mdb', 'gguf', 'ggml', 'onnx', 'pt', 'pth', 'ckpt', 'safetensors', 'npy', 'npz', 'h5', 'hdf5', 'pkl', 'pickle', 'parquet', 'feather', 'arrow', 'tfrecord',
    'iso', 'dmg', 'img', 'deb', 'rpm', 'msi', 'pkg', 'swf', 'fla', 'blend', 'fbx', 'glb', 'ttc', 'keystore', 'jks', 'p12', 'pfx', 'der',
]);

/** Bytes looked at for a NUL byte (git and ripgrep look at the first 8 KB the same way). */
const BINARY_SNIFF_BYTES = 8192;
/** Lines at the top of a file looked at for a "generated" marker. */
const GENERATED_HEADER_LINES = 5;
const GENERATED_MARKER = /@generated\b|\bdo not edit\b|\bauto-?generated\b|\bautomatically generated\b|\b(?:code|file) (?:is |was )?generated\b|\bgenerated (?:by|from|with) /i;
/** A comment or docstring line, in the languages' usual markers. */
const COMMENT_LINE = /^\s*(?:\/\/|\/\*|\*|#|<!--|--|;|%|"""|'''|\(\*|{-|REM\b)/i;
/**
 * Minified: its longest line has at least this many characters and its lines average at least
 * MINIFIED_MEAN_LINE (non-blank lines). Code as people write it (and prose written one paragraph a
 * line) stays far below both.
 */
const MINIFIED_LONGEST_LINE = 5000;
const MINIFIED_MEAN_LINE = 500;
/** Parallel stat calls while listing one folder. */
const STAT_CONCURRENCY = 8;

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

export interface Skip {
    readonly reason: SkipReason;
    readonly detail: string;
}

/** The excludes in force: VS Code merges search.exclude over files.exclude, key by key. */
interface Excludes {
    /** The glob that excludes `path`, or undefined; `siblings` names the files beside it (for `when`). */
    match(path: string, isDir: boolean, siblings: ReadonlySet<string>): string | undefined;
    /** Whether any glob has a `when` condition (only then are siblings needed). */
    readonly conditional: boolean;
}

function compileExcludes(rules: FileRules): Excludes {
    const merged: Record<string, boolean | { readonly when: string }> = { ...rules.filesExclude, ...rules.searchExclude };
    const plain: Array<{ glob: string; test: (p: string) => boolean }> = [];
    const conditional: Array<{ glob: string; when: string; test: (p: string) => boolean }> = [];
    const options = { dot: true, nocase: rules.caseInsensitive ?? false };
    for (const [glob, value] of Object.entries(merged)) {
        const pattern = glob.replace(/^\.\//, '').replace(/\/+$/, '');
        if (!pattern) continue;
        const test = picomatch(pattern, options);
        if (value === true) plain.push({ glob, test });
        else if (value && typeof value === 'object' && typeof value.when === 'string') conditional.push({ glob, when: value.when, test });
    }
    return {
        conditional: conditional.length > 0,
        match(path, isDir, siblings) {
            for (const e of plain) if (e.test(path)) return e.glob;
            if (isDir) return undefined;
            const name = basename(path);
            const dot = name.lastIndexOf('.');
            const stem = dot > 0 ? name.slice(0, dot) : name;
            for (const e of conditional) {
                if (e.test(path) && siblings.has(e.when.replace(/\$\(basename\)/g, stem))) return `${e.glob} (${e.when} exists)`;
            }
            return undefined;
        },
    };
}

const deniedFolderGlob = picomatch(DENIED_FOLDER_GLOBS, { dot: true });
const deniedFileGlob = picomatch(DENIED_FILE_GLOBS, { dot: true });
const secretFileGlob = picomatch(SECRET_FILE_GLOBS, { dot: true });

/** The deny-list's verdict on one name. */
function denied(name: string, isDir: boolean): Skip | undefined {
    if (isDir) {
        if (DENIED_FOLDERS.has(name) || deniedFolderGlob(name)) return { reason: 'denied', detail: `${name}/ is a dependency, build or cache folder` };
        return undefined;
    }
    if (LOCKFILES.has(name)) return { reason: 'denied', detail: 'a lockfile' };
    if (deniedFileGlob(name)) return { reason: 'denied', detail: 'a minified, bundled, source-map, lock or VCS file by its name' };
    if (secretFileGlob(name)) return { reason: 'denied', detail: 'may hold secrets (environment, key or credentials file)' };
    const dot = name.lastIndexOf('.');
    if (dot > 0 && BINARY_EXTENSIONS.has(name.slice(dot + 1).toLowerCase())) return { reason: 'binary', detail: `binary by its extension (${name.slice(dot)})` };
    return undefined;
}

function basename(path: string): string {
    return path.slice(path.lastIndexOf('/') + 1);
}

function parentOf(path: string): string {
    const slash = path.lastIndexOf('/');
    return slash < 0 ? '' : path.slice(0, slash);
}

/**
 * Why `path` is skipped after the file system refused it with `e`. A name that is not valid UTF-8
 * (Linux allows any bytes) is listed with U+FFFD in place of its bad bytes, and no call can name
 * it: it is reported as such, not as a file that vanished.
 */
function skipForError(e: unknown, signal: AbortSignal | undefined, path: string): Skip {
    if (signal?.aborted) throw signal.reason;
    const code = errorCode(e);
    const message = errorMessage(e);
    if ((code === 'ENOENT' || code === 'FileNotFound') && path.includes('\uFFFD')) return { reason: 'unreadable', detail: 'its name is not valid UTF-8 (rename it to index it)' };
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'FileNotFound' || code === 'EntryNotFound') return { reason: 'vanished', detail: message };
    if (code === 'ELOOP') return { reason: 'symlinkLoop', detail: message };
    return { reason: 'unreadable', detail: message };
}

/**
 * The ignore rules of each folder (its .gitignore), loaded once. A path is ignored by the deepest
 * folder whose rules decide it (ignore or un-ignore), as git does; folders above decide otherwise.
 */
class IgnoreRules {
    /** Folder -> its rules (null: it has no ignore file, or it could not be read). */
    readonly #byFolder = new Map<string, Ignore | null>();
    #rootExtra: Ignore | null | undefined;

    constructor(
        private readonly fs: WorkspaceFs,
        private readonly root: string,
        private readonly caseInsensitive: boolean,
    ) {}

    forget(folder?: string): void {
        if (folder === undefined) {
            this.#byFolder.clear();
            this.#rootExtra = undefined;
        } else this.#byFolder.delete(folder);
    }

    /** Loads `folder`'s rules; `present` false when its listing showed no ignore file (nothing to read). */
    async load(folder: string, present: boolean | undefined, signal?: AbortSignal): Promise<void> {
        if (folder === '' && this.#rootExtra === undefined) this.#rootExtra = await this.#read('.git/info/exclude', signal);
        if (this.#byFolder.has(folder)) return;
        const rules = present === false ? null : await this.#read(folder ? `${folder}/${IGNORE_FILE}` : IGNORE_FILE, signal);
        this.#byFolder.set(folder, rules);
    }

    async #read(path: string, signal?: AbortSignal): Promise<Ignore | null> {
        try {
            const bytes = await this.fs.readFile(`${this.root}/${path}`, signal);
            return ignore({ ignorecase: this.caseInsensitive }).add(new TextDecoder('utf-8').decode(bytes));
        } catch {
            signal?.throwIfAborted();
            return null; // no such file, or unreadable: no rules from it
        }
    }

    /** The rule that ignores `path` (relative to the root), or undefined. Its folders' rules must be loaded. */
    ignoredBy(path: string, isDir: boolean): string | undefined {
        for (let folder = parentOf(path); ; folder = parentOf(folder)) {
            const rules = this.#byFolder.get(folder);
            if (rules) {
                const r = testRules(rules, (folder ? path.slice(folder.length + 1) : path) + (isDir ? '/' : ''));
                if (r.ignored) return `${folder ? `${folder}/` : ''}${IGNORE_FILE}: ${r.rule?.pattern ?? ''}`;
                if (r.unignored) return undefined;
            }
            if (folder === '') break;
        }
        if (this.#rootExtra) {
            const r = testRules(this.#rootExtra, path + (isDir ? '/' : ''));
            if (r.ignored) return `.git/info/exclude: ${r.rule?.pattern ?? ''}`;
        }
        return undefined;
    }
}

/** `rules.test`, with a name the package refuses (it throws on some, e.g. one that looks absolute) as undecided. */
function testRules(rules: Ignore, path: string): { ignored: boolean; unignored: boolean; rule?: { pattern: string } } {
    try {
        return rules.test(path);
    } catch {
        return { ignored: false, unignored: false };
    }
}

/** Which files of a workspace folder are indexed. `root` is the folder's path as `fs` takes it. */
export function workspaceFiles(fs: WorkspaceFs, root: string, rules: FileRules): WorkspaceFiles {
    return new Files(fs, root.replace(/[\\/]+$/, ''), rules);
}

/** A folder to walk: its relative path, and its canonical path (symlinks resolved). */
interface Folder {
    readonly path: string;
    readonly real: string;
}

class Files implements WorkspaceFiles {
    readonly #ignore: IgnoreRules;
    readonly #excludes: Excludes;
    readonly #maxBytes: number;
    readonly #useGitignore: boolean;
    readonly #followSymlinks: boolean;

    constructor(
        private readonly fs: WorkspaceFs,
        private readonly root: string,
        rules: FileRules,
    ) {
        this.#ignore = new IgnoreRules(fs, root, rules.caseInsensitive ?? false);
        this.#excludes = compileExcludes(rules);
        this.#maxBytes = Math.max(0, rules.maxFileKB) * 1024;
        this.#useGitignore = rules.useGitignore ?? true;
        this.#followSymlinks = rules.followSymlinks ?? true;
    }

    #abs(path: string): string {
        return path ? `${this.root}/${path}` : this.root;
    }

    invalidate(path?: string): void {
        this.#ignore.forget(path === undefined ? undefined : parentOf(path));
    }

    /**
     * The rules' verdict on a path in a folder whose ignore rules are loaded (deny-list, excludes,
     * ignore files); undefined: kept. `siblings`: the names in its folder.
     */
    #ruled(path: string, isDir: boolean, siblings: ReadonlySet<string>): Skip | undefined {
        const deny = denied(basename(path), isDir);
        if (deny) return deny;
        const glob = this.#excludes.match(path, isDir, siblings);
        if (glob) return { reason: 'excluded', detail: `files.exclude / search.exclude: ${glob}` };
        if (this.#useGitignore) {
            const rule = this.#ignore.ignoredBy(path, isDir);
            if (rule) return { reason: 'gitignored', detail: rule };
        }
        return undefined;
    }

    #sized(stat: FileStat): Skip | undefined {
        if (stat.type !== 'file') return { reason: 'notAFile', detail: `a ${stat.type === 'directory' ? 'folder' : 'special file'}` };
        if (stat.size > this.#maxBytes) return tooLarge(stat.size, this.#maxBytes);
        return undefined;
    }

    async *walk(signal?: AbortSignal): AsyncGenerator<WalkItem> {
        signal?.throwIfAborted();
        this.#ignore.forget(); // a walk reads every ignore file afresh
        const rootReal = await this.fs.realpath(this.root, signal);
        const visited = new Set<string>([rootReal]);
        // Depth first in name order. Symlinked folders wait until every real folder is walked, so
        // that a folder reached both ways is walked under its real path and the link is the duplicate.
        const folders: Folder[] = [{ path: '', real: rootReal }];
        const links: Array<{ path: string; parentReal: string }> = [];
        while (folders.length > 0 || links.length > 0) {
            signal?.throwIfAborted();
            let folder = folders.pop();
            if (!folder) {
                const link = links.shift()!;
                const resolved = await this.#resolveLink(link.path, link.parentReal, visited, signal);
                if ('reason' in resolved) {
                    yield { kind: 'skipped', path: link.path, directory: true, ...resolved };
                    continue;
                }
                folder = resolved;
            }
            let entries: readonly DirEntry[];
            try {
                entries = await this.fs.readDirectory(this.#abs(folder.path), signal);
            } catch (e) {
                if (folder.path === '') throw e;
                yield { kind: 'skipped', path: folder.path, directory: true, ...skipForError(e, signal, folder.path) };
                continue;
            }
            const names = new Set(entries.map((e) => e.name));
            if (this.#useGitignore) await this.#ignore.load(folder.path, names.has(IGNORE_FILE), signal);
            const sorted = [...entries].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
            const subfolders: Folder[] = [];
            const pending: Array<{ path: string; type: EntryType }> = [];
            for (const entry of sorted) {
                const path = folder.path ? `${folder.path}/${entry.name}` : entry.name;
                if (entry.type === 'symlink' && !this.#followSymlinks) {
                    yield { kind: 'skipped', path, directory: false, reason: 'symlink', detail: 'followSymlinks is off' };
                } else if (entry.type === 'directory') {
                    const skip = this.#ruled(path, true, names);
                    if (skip) yield { kind: 'skipped', path, directory: true, ...skip };
                    else {
                        subfolders.push({ path, real: `${folder.real}/${entry.name}` });
                        visited.add(`${folder.real}/${entry.name}`);
                    }
                } else if (entry.type === 'other') {
                    yield { kind: 'skipped', path, directory: false, reason: 'notAFile', detail: 'a special file' };
                } else pending.push({ path, type: entry.type });
            }
            // Files and symlinks: stat in small parallel batches, reported in name order.
            for (let i = 0; i < pending.length; i += STAT_CONCURRENCY) {
                signal?.throwIfAborted();
                const batch = pending.slice(i, i + STAT_CONCURRENCY);
                for (const r of await Promise.all(batch.map((p) => this.#statEntry(p.path, p.type, names, signal)))) {
                    if (r.kind === 'link') links.push({ path: r.path, parentReal: folder.real });
                    else yield r;
                }
            }
            for (let i = subfolders.length - 1; i >= 0; i--) folders.push(subfolders[i]);
        }
    }

    /** A listed file or symlink: a symlinked folder to walk later, or the file's verdict and stamp. */
    async #statEntry(path: string, type: EntryType, siblings: ReadonlySet<string>, signal?: AbortSignal): Promise<WalkItem | { kind: 'link'; path: string }> {
        let stat: FileStat;
        try {
            stat = await this.fs.stat(this.#abs(path), signal);
        } catch (e) {
            return { kind: 'skipped', path, directory: false, ...skipForError(e, signal, path) };
        }
        if (type === 'symlink' && stat.type === 'directory') {
            const skip = this.#ruled(path, true, siblings);
            return skip ? { kind: 'skipped', path, directory: true, ...skip } : { kind: 'link', path };
        }
        const skip = this.#ruled(path, false, siblings) ?? this.#sized(stat);
        if (skip) return { kind: 'skipped', path, directory: false, ...skip };
        return { kind: 'file', path, stamp: { mtimeMs: stat.mtimeMs, size: stat.size } };
    }

    /** A symlinked folder to walk, unless it links to a folder containing it or to one walked already. */
    async #resolveLink(path: string, parentReal: string, visited: Set<string>, signal?: AbortSignal): Promise<Folder | Skip> {
        let real: string;
        try {
            real = await this.fs.realpath(this.#abs(path), signal);
        } catch (e) {
            return skipForError(e, signal, path);
        }
        if (parentReal === real || parentReal.startsWith(`${real}/`)) return { reason: 'symlinkLoop', detail: `links to ${real}, which contains it` };
        if (visited.has(real)) return { reason: 'duplicate', detail: `links to ${real}, walked already` };
        visited.add(real);
        return { path, real };
    }

    async check(path: string, signal?: AbortSignal): Promise<WalkItem> {
        const parts = path.split('/');
        // Each folder on the way, then the file: the first that a rule skips decides.
        for (let i = 0; i < parts.length; i++) {
            const sub = parts.slice(0, i + 1).join('/');
            const isDir = i < parts.length - 1;
            const folder = parentOf(sub);
            if (this.#useGitignore) await this.#ignore.load(folder, undefined, signal);
            const siblings = !isDir && this.#excludes.conditional ? await this.#names(folder, signal) : NO_NAMES;
            const skip = this.#ruled(sub, isDir, siblings);
            if (skip) return { kind: 'skipped', path: sub, directory: isDir, ...skip };
        }
        let stat: FileStat;
        try {
            stat = await this.fs.stat(this.#abs(path), signal);
        } catch (e) {
            return { kind: 'skipped', path, directory: false, ...skipForError(e, signal, path) };
        }
        const skip = this.#sized(stat);
        if (skip) return { kind: 'skipped', path, directory: stat.type === 'directory', ...skip };
        return { kind: 'file', path, stamp: { mtimeMs: stat.mtimeMs, size: stat.size } };
    }

    /** The names in a folder (none when it cannot be listed). */
    async #names(folder: string, signal?: AbortSignal): Promise<ReadonlySet<string>> {
        try {
            return new Set((await this.fs.readDirectory(this.#abs(folder), signal)).map((e) => e.name));
        } catch {
            signal?.throwIfAborted();
            return NO_NAMES;
        }
    }

    async read(path: string, signal?: AbortSignal): Promise<ReadResult> {
        const skipped = (skip: Skip): SkippedPath => ({ kind: 'skipped', path, directory: false, ...skip });
        let stat: FileStat;
        let bytes: Uint8Array;
        try {
            stat = await this.fs.stat(this.#abs(path), signal);
            const sized = this.#sized(stat);
            if (sized) return skipped(sized);
            bytes = await this.fs.readFile(this.#abs(path), signal);
        } catch (e) {
            return skipped(skipForError(e, signal, path));
        }
        // It may have grown between stat and read.
        if (bytes.length > this.#maxBytes) return skipped(tooLarge(bytes.length, this.#maxBytes));
        const content = decodeSource(bytes);
        if (typeof content !== 'string') return skipped(content);
        return { kind: 'text', path, text: content, stamp: { mtimeMs: stat.mtimeMs, size: bytes.length } };
    }
}

const NO_NAMES: ReadonlySet<string> = new Set();

function tooLarge(bytes: number, maxBytes: number): Skip {
    return { reason: 'tooLarge', detail: `${Math.ceil(bytes / 1024)} KB > maxFileKB ${maxBytes / 1024}` };
}

/** The text of a file's bytes, or why it is not indexed (binary, invalid UTF-8, generated, minified). */
export function decodeSource(bytes: Uint8Array): string | Skip {
    const nul = bytes.subarray(0, BINARY_SNIFF_BYTES).indexOf(0);
    if (nul >= 0) return { reason: 'binary', detail: `a NUL byte at offset ${nul}` };
    let text: string;
    try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
        return { reason: 'invalidUtf8', detail: 'not valid UTF-8' };
    }
    const generated = generatedMarker(text);
    if (generated) return { reason: 'generated', detail: `says "${generated}" in its first lines` };
    const minified = minifiedShape(text);
    if (minified) return { reason: 'minified', detail: minified };
    return text;
}

/** The "generated" marker in a comment of the first lines, or undefined. */
function generatedMarker(text: string): string | undefined {
    let seen = 0;
    let start = 0;
    while (seen < GENERATED_HEADER_LINES && start < text.length) {
        let end = text.indexOf('\n', start);
        if (end < 0) end = text.length;
        const line = text.slice(start, Math.min(end, start + 300));
        start = end + 1;
        if (!line.trim()) continue;
        seen++;
        if (!COMMENT_LINE.test(line)) continue;
        const m = GENERATED_MARKER.exec(line);
        if (m) return m[0].trim();
    }
    return undefined;
}

/** Why the text looks minified, or undefined. */
function minifiedShape(text: string): string | undefined {
    if (text.length < MINIFIED_LONGEST_LINE) return undefined;
    let longest = 0;
    let nonBlank = 0;
    let chars = 0;
    let start = 0;
    while (start <= text.length) {
        let end = text.indexOf('\n', start);
        if (end < 0) end = text.length;
        const length = end - start;
        if (length > 0 && text.slice(start, end).trim()) {
            nonBlank++;
            chars += length;
            if (length > longest) longest = length;
        }
        start = end + 1;
    }
    const mean = nonBlank ? chars / nonBlank : 0;
    if (longest >= MINIFIED_LONGEST_LINE && mean >= MINIFIED_MEAN_LINE) return `lines of ${Math.round(mean)} characters on average, the longest ${longest}`;
    return undefined;
}
