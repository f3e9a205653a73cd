/**
 * A `SyntaxParser` over web-tree-sitter, as VS Code itself ships it (@vscode/tree-sitter-wasm:
 * the runtime and prebuilt WASM grammars; nothing native, nothing to build per platform).
 *
 * - Grammars are loaded lazily, each once, from `dir` (the extension's `dist/tree-sitter/` in
 *   production, `node_modules/@vscode/tree-sitter-wasm/wasm/` in tests): a workspace without Rust
 *   never loads the Rust grammar.
 * - A parse is bounded: text over `maxChars`, or a parse (and the copy of its tree) running past
 *   `timeoutMs`, gives undefined, and the chunker cuts line windows instead. The signal is checked
 *   while parsing; once aborted, `parse` rejects with its reason.
 * - The tree is copied into plain objects and the WASM tree is freed before `parse` returns
 *   (web-tree-sitter's trees live in WASM memory that the garbage collector never frees).
 *
 * The build (scripts/build.mjs) bundles the runtime into dist/extension.js and copies
 * `tree-sitter.wasm` and every grammar file named in `GRAMMARS` into dist/tree-sitter/: it reads
 * the names from the bundle, so a grammar added here ships without editing the build.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Language, Parser, Tree } from '@vscode/tree-sitter-wasm';
import type { SyntaxNode, SyntaxParser } from '../core/search/types';

/** VS Code language id -> grammar file. Only these grammars ship in the .vsix. */
export const GRAMMARS: Readonly<Record<string, string>> = {
    typescript: 'tree-sitter-typescript.wasm',
    typescriptreact: 'tree-sitter-tsx.wasm',
    javascript: 'tree-sitter-javascript.wasm',
    javascriptreact: 'tree-sitter-javascript.wasm',
    python: 'tree-sitter-python.wasm',
    go: 'tree-sitter-go.wasm',
    rust: 'tree-sitter-rust.wasm',
    java: 'tree-sitter-java.wasm',
    csharp: 'tree-sitter-c-sharp.wasm',
    cpp: 'tree-sitter-cpp.wasm',
    c: 'tree-sitter-cpp.wasm',
    ruby: 'tree-sitter-ruby.wasm',
    php: 'tree-sitter-php.wasm',
    shellscript: 'tree-sitter-bash.wasm',
};

/** The runtime's own WASM file, beside the grammars. */
export const RUNTIME_WASM = 'tree-sitter.wasm';

export interface TreeSitterOptions {
    /** Folder holding `tree-sitter.wasm` and the grammar files. */
    readonly dir: string;
    /** Longest parse, including the copy of its tree, ms. Default 2,000. */
    readonly timeoutMs?: number;
    /** Longest text parsed, characters. Default 2,000,000. */
    readonly maxChars?: number;
    /** The clock for `timeoutMs` (ms); default `performance.now`. */
    readonly now?: () => number;
    /** Told once per grammar that fails to load, and of each parse that fails inside the runtime (those texts are cut in line windows). */
    readonly onError?: (message: string) => void;
}

export interface TreeSitterParser extends SyntaxParser {
    /** Frees the parser; later parses give undefined. */
    dispose(): void;
}

type TreeSitterModule = typeof import('@vscode/tree-sitter-wasm');

/** Nodes copied between two looks at the clock. */
const NODES_PER_CLOCK_CHECK = 4096;

export function createTreeSitterParser(options: TreeSitterOptions): TreeSitterParser {
    return new TreeSitter(options);
}

class TreeSitter implements TreeSitterParser {
    readonly languages: ReadonlySet<string>;
    readonly #dir: string;
    readonly #timeoutMs: number;
    readonly #maxChars: number;
    readonly #now: () => number;
    readonly #onError: (message: string) => void;
    #runtime: Promise<TreeSitterModule> | undefined;
    /** Grammar file -> its language (undefined: it failed to load, reported once). */
    readonly #grammars = new Map<string, Promise<Language | undefined>>();
    #parser: Parser | undefined;
    #disposed = false;

    constructor(options: TreeSitterOptions) {
        this.#dir = options.dir;
        this.#timeoutMs = options.timeoutMs ?? 2000;
        this.#maxChars = options.maxChars ?? 2_000_000;
        this.#now = options.now ?? (() => performance.now());
        this.#onError = options.onError ?? (() => undefined);
        // Languages whose grammar is present: a missing file is known now, not at the first parse.
        this.languages = new Set(Object.keys(GRAMMARS).filter((lang) => existsSync(join(this.#dir, GRAMMARS[lang]))));
    }

    async parse(language: string, text: string, signal?: AbortSignal): Promise<SyntaxNode | undefined> {
        signal?.throwIfAborted();
        if (this.#disposed || !this.languages.has(language) || text.length > this.#maxChars) return undefined;
        const grammar = await this.#grammar(GRAMMARS[language]);
        signal?.throwIfAborted();
        if (!grammar || this.#disposed) return undefined;
        const parser = (this.#parser ??= new (await this.#load()).Parser());
        const deadline = this.#now() + this.#timeoutMs;
        // Parsing is synchronous: the progress callback is where the clock and the signal are seen.
        const stop = (): boolean => this.#now() > deadline || signal?.aborted === true;
        let tree: Tree | null;
        try {
            parser.setLanguage(grammar);
            tree = parser.parse(text, null, { progressCallback: stop as () => void });
        } catch (e) {
            // A failure inside the runtime: this text is cut in windows; a fresh parser serves the next.
            this.#onError(`tree-sitter: parsing a ${language} text failed (${e instanceof Error ? e.message : String(e)})`);
            parser.delete();
            this.#parser = undefined;
            return undefined;
        }
        if (!tree) {
            parser.reset(); // the next parse starts afresh instead of resuming this one
            signal?.throwIfAborted();
            return undefined;
        }
        try {
            return copyTree(tree, text, grammar, () => this.#now() > deadline);
        } finally {
            tree.delete();
        }
    }

    dispose(): void {
        this.#disposed = true;
        this.#parser?.delete();
        this.#parser = undefined;
    }

    #load(): Promise<TreeSitterModule> {
        this.#runtime ??= (async () => {
            // Node's import() of this UMD CommonJS file finds no named exports: module.exports is `default`.
            const loaded = (await import('@vscode/tree-sitter-wasm')) as TreeSitterModule & { default?: TreeSitterModule };
            const runtime = loaded.default ?? loaded;
            await runtime.Parser.init({ locateFile: (file: string) => join(this.#dir, file) });
            return runtime;
        })();
        return this.#runtime;
    }

    #grammar(file: string): Promise<Language | undefined> {
        let loaded = this.#grammars.get(file);
        if (!loaded) {
            loaded = (async () => {
                try {
                    const runtime = await this.#load();
                    return await runtime.Language.load(await readFile(join(this.#dir, file)));
                } catch (e) {
                    this.#onError(`tree-sitter: ${file} did not load (${e instanceof Error ? e.message : String(e)}); its files are cut in line windows`);
                    return undefined;
                }
            })();
            this.#grammars.set(file, loaded);
        }
        return loaded;
    }
}

/** What the nodes of one copied tree share: the text, its line starts, the grammar's field ids. */
class Source {
    /** Index of the first character of each row. */
    readonly #lineStarts: number[] = [0];
    readonly #fieldIds = new Map<string, number | null>();

    constructor(
        readonly text: string,
        private readonly grammar: Language,
    ) {
        for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.#lineStarts.push(i + 1);
    }

    /** The 0-based row of the character at `index`. */
    rowOf(index: number): number {
        let lo = 0;
        let hi = this.#lineStarts.length - 1;
        while (lo < hi) {
            const mid = (lo + hi + 1) >> 1;
            if (this.#lineStarts[mid] <= index) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    fieldId(name: string): number | null {
        let id = this.#fieldIds.get(name);
        if (id === undefined) {
            id = this.grammar.fieldIdForName(name);
            this.#fieldIds.set(name, id);
        }
        return id;
    }
}

/** A node copied out of a WASM tree: plain data, valid after the tree is freed. */
class CopiedNode implements SyntaxNode {
    readonly children: CopiedNode[] = [];
    #startRow = -1;
    #endRow = -1;

    constructor(
        private readonly source: Source,
        readonly type: string,
        readonly isNamed: boolean,
        readonly startIndex: number,
        readonly endIndex: number,
        /** The field this node fills in its parent (0: none). */
        readonly fieldId: number,
    ) {}

    get startRow(): number {
        if (this.#startRow < 0) this.#startRow = this.source.rowOf(this.startIndex);
        return this.#startRow;
    }

    /** The row of the node's last character (a node that ends with a newline ends on that newline's row). */
    get endRow(): number {
        if (this.#endRow < 0) this.#endRow = this.source.rowOf(Math.max(this.startIndex, this.endIndex - 1));
        return this.#endRow;
    }

    get text(): string {
        return this.source.text.slice(this.startIndex, this.endIndex);
    }

    childForField(name: string): SyntaxNode | undefined {
        const id = this.source.fieldId(name);
        return id === null ? undefined : this.children.find((c) => c.fieldId === id);
    }
}

/**
 * Copies `tree` depth first with a cursor (no recursion: nesting depth is the file's to choose).
 * Indices are UTF-16 offsets into `text` (web-tree-sitter parses JS strings as UTF-16). Undefined
 * when `expired` says the time is up.
 */
function copyTree(tree: Tree, text: string, grammar: Language, expired: () => boolean): SyntaxNode | undefined {
    const source = new Source(text, grammar);
    const cursor = tree.walk();
    try {
        const copy = (): CopiedNode => new CopiedNode(source, cursor.nodeType, cursor.nodeIsNamed, cursor.startIndex, cursor.endIndex, cursor.currentFieldId);
        const root = copy();
        const parents: CopiedNode[] = [];
        let current = root;
        let count = 0;
        for (;;) {
            if (++count % NODES_PER_CLOCK_CHECK === 0 && expired()) return undefined;
            if (cursor.gotoFirstChild()) {
                parents.push(current);
                current = copy();
                parents[parents.length - 1].children.push(current);
                continue;
            }
            // No child: the next sibling of this node or of the nearest ancestor that has one.
            for (;;) {
                if (parents.length === 0) return root;
                if (cursor.gotoNextSibling()) {
                    current = copy();
                    parents[parents.length - 1].children.push(current);
                    break;
                }
                cursor.gotoParent();
                current = parents.pop()!;
            }
        }
    } finally {
        cursor.delete();
    }
}
