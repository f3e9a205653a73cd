/**
 * A file's text -> chunks that follow the code.
 *
 * Where the parser has a grammar for the file's language (`languageOf`) and the tree is usable:
 *   - a function, method or class is one chunk when it fits `maxChunkLines` and `maxChunkChars`,
 *     with its leading comments, decorators and attributes (a comment block ending on the line
 *     above it, no blank line between) and its docstring;
 *   - a definition that holds definitions and does not fit (a class, impl, namespace, module) is
 *     cut children first: each member definition is a chunk of its own (recursively), and the rest
 *     (its header, fields, closing line) is grouped into chunks carrying the container's symbol;
 *   - any other node that does not fit (a long function, a huge call) is cut at its least-nested
 *     line boundaries: those that the fewest multi-line nodes span. Its header (the rows before
 *     its body, and its leading comments) is never cut from its first statements unless it alone
 *     does not fit;
 *   - code between definitions (imports, constants, calls) is grouped into chunks up to the limits;
 *   - small undocumented definitions (< `minDefinitionLines`) are grouped like other code.
 * Elsewhere (no grammar, no parser, a parse that gave up or a tree mostly made of errors): line
 * windows of `windowLines` (and `maxChunkChars`) overlapping by `overlapLines`, cut at a blank line
 * near the end when there is one.
 *
 * Invariants, for every file:
 *   - a chunk covers whole lines, and starts and ends on a non-blank line;
 *   - chunks are in line order; syntax-aware chunks never overlap, windows overlap only by
 *     `overlapLines`; together they cover every non-blank line;
 *   - a chunk is within the limits, except a single line longer than `maxChunkChars`, and closing
 *     lines (`}`, `end`, `)`) that are appended to the chunk before them instead of standing alone.
 * Lines are split at `\n`; a `\r` before it is not part of the line (so CRLF and LF copies of a
 * file give equal chunks and equal hashes).
 */
import { createHash } from 'node:crypto';
import { LANGUAGE_RULES, type Definition, type LanguageRules } from './chunkRules';
import { commentText, docstringText, isDirective } from './docText';
import { languageOf } from './languages';
import type { ChunkInput, SyntaxNode, SyntaxParser } from './types';

export interface ChunkerOptions {
    /** Most lines in a chunk. */
    readonly maxChunkLines: number;
    /** Most characters in a chunk's text (newlines counted). */
    readonly maxChunkChars: number;
    /** Lines in a window, where the file is cut in windows (at most `maxChunkLines`). */
    readonly windowLines: number;
    /** Lines each window repeats from the one before (less than `windowLines`). */
    readonly overlapLines: number;
    /** Definitions shorter than this, without a doc, are grouped with the code around them. */
    readonly minDefinitionLines: number;
    /**
     * Leave each chunk's doc (leading comment or docstring) out of `text` and `embedText`, keeping
     * `doc` and `docLines`: the benchmark indexes such a copy to rank chunks by queries mined from
     * their docs without the answer containing the query.
     */
    readonly stripDocs: boolean;
}

export const DEFAULT_CHUNKER_OPTIONS: ChunkerOptions = {
    maxChunkLines: 60,
    maxChunkChars: 2400,
    windowLines: 40,
    overlapLines: 8,
    minDefinitionLines: 4,
    stripDocs: false,
};

export interface Chunker {
    /**
     * The chunks of `file` (workspace-relative path) with content `text`. Rejects only when `signal`
     * aborts: a parser that fails on the text gets the file cut in windows.
     */
    chunk(file: string, text: string, signal?: AbortSignal): Promise<ChunkInput[]>;
}

export function createChunker(parser: SyntaxParser | undefined, options: Partial<ChunkerOptions> = {}): Chunker {
    const o = { ...DEFAULT_CHUNKER_OPTIONS, ...options };
    const maxChunkLines = Math.max(1, Math.floor(o.maxChunkLines));
    const windowLines = Math.max(1, Math.min(maxChunkLines, Math.floor(o.windowLines)));
    const resolved: ChunkerOptions = {
        ...o,
        maxChunkLines,
        maxChunkChars: Math.max(1, Math.floor(o.maxChunkChars)),
        windowLines,
        overlapLines: Math.max(0, Math.min(windowLines - 1, Math.floor(o.overlapLines))),
        minDefinitionLines: Math.max(1, Math.floor(o.minDefinitionLines)),
    };
    return {
        async chunk(file, text, signal) {
            signal?.throwIfAborted();
            const source = new SourceLines(text);
            const language = languageOf(file);
            const rules = language === undefined ? undefined : LANGUAGE_RULES.get(language);
            let pieces: Piece[] | undefined;
            if (parser && rules && language !== undefined && parser.languages.has(language)) {
                let root: SyntaxNode | undefined;
                try {
                    root = await parser.parse(language, text, signal);
                } catch {
                    signal?.throwIfAborted();
                    root = undefined; // a parser that fails on this text: windows, as for one that gave up
                }
                signal?.throwIfAborted();
                if (root && usable(root, source)) pieces = new Layout(source, rules, resolved).file(root);
            }
            pieces ??= windows(source, 0, source.count - 1, resolved);
            return toChunks(file, source, mergeClosers(source, pieces), resolved.stripDocs);
        },
    };
}

/** A doc: the text, its rows, and the character ranges of the comments or docstring it came from. */
interface Doc {
    readonly text: string;
    readonly startRow: number;
    readonly endRow: number;
    readonly ranges: ReadonlyArray<readonly [number, number]>;
}

/** A chunk being laid out: rows (0-based, inclusive), before blank edges are trimmed. */
interface Piece {
    readonly start: number;
    readonly end: number;
    readonly symbol?: string;
    readonly doc?: Doc;
    /** Code between definitions (not a definition or a part of one): a small one joins a neighbour. */
    readonly loose?: boolean;
}

/** The file's lines, with what the layout measures them by. */
class SourceLines {
    /** Lines without their `\n` (and without a `\r` before it). */
    readonly lines: string[];
    /** Offset in the text of each line's first character. */
    readonly starts: number[];
    /** `charsBefore[r]`: characters in rows before r, each with its newline. */
    readonly #charsBefore: number[];

    constructor(readonly text: string) {
        const raw = text.split('\n');
        this.lines = raw.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
        this.starts = [];
        this.#charsBefore = [0];
        let offset = 0;
        for (let r = 0; r < raw.length; r++) {
            this.starts.push(offset);
            offset += raw[r].length + 1;
            this.#charsBefore.push(this.#charsBefore[r] + this.lines[r].length + 1);
        }
    }

    get count(): number {
        return this.lines.length;
    }

    blank(row: number): boolean {
        return this.lines[row].trim() === '';
    }

    /** Characters of rows s..e joined by newlines. */
    chars(s: number, e: number): number {
        return this.#charsBefore[e + 1] - this.#charsBefore[s] - 1;
    }
}

/** A tree is not used when the root is an error or error nodes cover most of the non-blank rows. */
function usable(root: SyntaxNode, source: SourceLines): boolean {
    if (root.type === 'ERROR') return false;
    let errorRows = 0;
    for (const c of root.children) if (c.type === 'ERROR') for (let r = c.startRow; r <= c.endRow; r++) if (!source.blank(r)) errorRows++;
    if (errorRows === 0) return true;
    let nonBlank = 0;
    for (let r = 0; r < source.count; r++) if (!source.blank(r)) nonBlank++;
    return errorRows * 2 <= nonBlank;
}

type Item =
    | {
          readonly kind: 'def';
          start: number;
          end: number;
          readonly def: Definition;
          readonly symbol: string;
          /** The prefix of its members' symbols (`Outer.Foo`), when it holds members. */
          readonly memberPrefix?: string;
          readonly doc?: Doc;
          readonly nodes: SyntaxNode[];
      }
    /** Other code; `symbol` when it is one small definition (grouped like other code, named when alone). */
    | { readonly kind: 'other'; start: number; end: number; readonly nodes: SyntaxNode[]; readonly symbol?: string };

/** Added to a boundary's depth to keep a header with its first statements. */
const GLUE = 1_000_000;
/** Deepest recursion when cutting a node; past it, line windows. */
const MAX_CUT_LEVEL = 64;

class Layout {
    constructor(
        private readonly source: SourceLines,
        private readonly rules: LanguageRules,
        private readonly options: ChunkerOptions,
    ) {}

    file(root: SyntaxNode): Piece[] {
        const out: Piece[] = [];
        this.#emit(this.#items(root.children.filter((c) => c.isNamed), undefined), 0, this.source.count - 1, undefined, out);
        return this.#joinSmall(out);
    }

    /**
     * A small loose piece (fewer than `minDefinitionLines` non-blank lines of code between
     * definitions: a one-line method, an import, a constant) joins the piece before it when the two
     * fit, else the piece after it; otherwise it stays a chunk of its own.
     */
    #joinSmall(pieces: readonly Piece[]): Piece[] {
        const out: Piece[] = [];
        let carried: Piece | undefined;
        for (let p of pieces) {
            if (carried) {
                if (this.#fits(carried.start, p.end)) p = { ...p, start: carried.start };
                else out.push(carried);
                carried = undefined;
            }
            if (p.loose && !p.doc && this.#nonBlank(p.start, p.end) < this.options.minDefinitionLines) {
                const prev = out[out.length - 1];
                if (prev && this.#fits(prev.start, p.end)) out[out.length - 1] = { ...prev, end: p.end };
                else carried = p;
                continue;
            }
            out.push(p);
        }
        if (carried) out.push(carried);
        return out;
    }

    #nonBlank(s: number, e: number): number {
        let n = 0;
        for (let r = s; r <= e; r++) if (!this.source.blank(r)) n++;
        return n;
    }

    #fits(s: number, e: number): boolean {
        return e - s + 1 <= this.options.maxChunkLines && this.source.chars(s, e) <= this.options.maxChunkChars;
    }

    /** Sibling nodes -> definitions (with their attached comments) and other code, in order, not overlapping. */
    #items(nodes: readonly SyntaxNode[], prefix: string | undefined): Item[] {
        const out: Item[] = [];
        let pending: SyntaxNode[] = [];
        let previousEnd = -1;
        const other = (n: SyntaxNode): void => void out.push({ kind: 'other', start: n.startRow, end: n.endRow, nodes: [n] });
        const flush = (): void => {
            pending.forEach(other);
            pending = [];
        };
        for (const node of nodes) {
            if (this.rules.comments.has(node.type) || this.rules.attached.has(node.type)) {
                if (pending.length === 0 && node.startRow === previousEnd) other(node); // trailing comment of the line before
                else {
                    if (pending.length > 0 && node.startRow > pending[pending.length - 1].endRow + 1) flush(); // a blank line ends a block
                    pending.push(node);
                }
                previousEnd = node.endRow;
                continue;
            }
            const def = this.rules.definition(node);
            const attached = pending.length > 0 && node.startRow <= pending[pending.length - 1].endRow + 1 && def ? pending : [];
            if (attached.length === 0) flush();
            pending = [];
            previousEnd = node.endRow;
            if (!def) {
                other(node);
                continue;
            }
            const start = attached.length > 0 ? attached[0].startRow : node.startRow;
            const doc = this.#doc(def, attached);
            const nodesOf = [...attached, node];
            if (!doc && node.endRow - start + 1 < this.options.minDefinitionLines) out.push({ kind: 'other', start, end: node.endRow, nodes: nodesOf, symbol: symbolOf(def, prefix) });
            else {
                const members = def.members ? (prefix ? `${prefix}.` : '') + (def.memberPrefix ?? def.name) : undefined;
                out.push({ kind: 'def', start, end: node.endRow, def, symbol: symbolOf(def, prefix), memberPrefix: members, doc, nodes: nodesOf });
            }
        }
        flush();
        return mergeOverlapping(out);
    }

    /** The docstring (where the language has them) or the leading comments, directives left out. */
    #doc(def: Definition, attached: readonly SyntaxNode[]): Doc | undefined {
        if (this.rules.docstrings) {
            const first = (def.members ?? def.body)?.children.find((c) => c.isNamed);
            const literal = first?.type === 'expression_statement' ? first.children.filter((c) => c.isNamed) : [];
            if (first && literal.length === 1 && (literal[0].type === 'string' || literal[0].type === 'concatenated_string')) {
                const text = docstringText(literal[0].text);
                if (text) return { text, startRow: first.startRow, endRow: first.endRow, ranges: [[first.startIndex, first.endIndex]] };
            }
        }
        const comments = attached.filter((n) => this.rules.comments.has(n.type) && !isDirective(commentText(n.text)));
        const text = comments.map((n) => commentText(n.text)).filter(Boolean).join('\n');
        if (!text) return undefined;
        return { text, startRow: comments[0].startRow, endRow: comments[comments.length - 1].endRow, ranges: comments.map((n) => [n.startIndex, n.endIndex] as const) };
    }

    /**
     * Lays out `items` over rows from..to: rows no item covers (a container's header and closing
     * lines) become other code; runs of other code are grouped up to the limits.
     */
    #emit(items: readonly Item[], from: number, to: number, symbol: string | undefined, out: Piece[]): void {
        // A group of one small definition is named after it; any other group after the container.
        let group: { start: number; end: number; nodes: SyntaxNode[]; symbol: string | undefined } | undefined;
        const flushGroup = (): void => {
            if (group) for (const p of this.#cutNodes(group.start, group.end, group.nodes, [], group.symbol ?? symbol, undefined)) out.push({ ...p, loose: true });
            group = undefined;
        };
        const addOther = (start: number, end: number, nodes: readonly SyntaxNode[], alone?: string): void => {
            if (group && this.#fits(group.start, end)) {
                group.end = end;
                group.nodes.push(...nodes);
                group.symbol = undefined;
            } else {
                flushGroup();
                group = { start, end, nodes: [...nodes], symbol: alone };
            }
        };
        let row = from;
        for (const item of items) {
            if (item.start > row) this.#gap(row, item.start - 1, addOther);
            row = Math.max(row, item.end + 1);
            if (item.kind === 'other') addOther(item.start, item.end, item.nodes, item.symbol);
            else {
                flushGroup();
                this.#definition(item, out);
            }
        }
        if (row <= to) this.#gap(row, to, addOther);
        flushGroup();
    }

    /** Non-blank runs of rows that no node covers, as other code. */
    #gap(from: number, to: number, add: (s: number, e: number, nodes: readonly SyntaxNode[]) => void): void {
        for (let r = from; r <= to; r++) {
            if (this.source.blank(r)) continue;
            let e = r;
            while (e + 1 <= to && !this.source.blank(e + 1)) e++;
            add(r, e, []);
            r = e;
        }
    }

    #definition(item: Extract<Item, { kind: 'def' }>, out: Piece[]): void {
        const { def, symbol, doc } = item;
        if (this.#fits(item.start, item.end)) {
            out.push({ start: item.start, end: item.end, symbol, doc });
            return;
        }
        if (def.members) {
            // Children first: the members are laid out as the file is; the rest carries the container's symbol.
            const memberNodes = [
                ...def.members.children.filter((c) => c.isNamed),
                ...def.node.children.filter((c) => this.rules.comments.has(c.type) && c.startRow > def.node.startRow && c.endRow < def.members!.startRow),
            ].sort((a, b) => a.startIndex - b.startIndex);
            const pieces: Piece[] = [];
            this.#emit(this.#items(memberNodes, item.memberPrefix), item.start, item.end, symbol, pieces);
            out.push(...withDoc(pieces, doc));
            return;
        }
        // Keep the header (leading comments, decorators, the rows before the body) with what follows.
        const bodyStart = def.body && def.body.startRow > def.node.startRow ? def.body.startRow : def.node.startRow;
        out.push(...this.#cutNodes(item.start, item.end, item.nodes, [item.start, bodyStart - 1], symbol, doc));
    }

    /**
     * Rows s..e holding `nodes`, cut at the least-nested line boundaries into pieces that fit.
     * Boundaries in `glue` (rows a..b: the boundary after row a, ..., after row b) are cut last.
     */
    #cutNodes(s: number, e: number, nodes: readonly SyntaxNode[], glue: readonly [number, number] | [], symbol: string | undefined, doc: Doc | undefined): Piece[] {
        if (this.#fits(s, e)) return [{ start: s, end: e, symbol, doc }];
        // depth[b - s]: multi-line nodes spanning the boundary after row b (a difference array, then sums).
        const depth = new Int32Array(Math.max(1, e - s + 1));
        const stack = [...nodes];
        while (stack.length > 0) {
            const n = stack.pop()!;
            if (n.endRow <= n.startRow) continue; // one row: spans no boundary, nor do its children
            const a = Math.max(n.startRow, s);
            const b = Math.min(n.endRow, e);
            if (a < b) {
                depth[a - s]++;
                depth[b - s]--;
            }
            for (const c of n.children) stack.push(c);
        }
        for (let i = 1; i < depth.length; i++) depth[i] += depth[i - 1];
        if (glue.length === 2) for (let b = Math.max(glue[0], s); b <= Math.min(glue[1], e - 1); b++) depth[b - s] += GLUE;
        const ranges = this.#cut(s, e, depth, s, 0);
        return ranges.map(([a, b], i) => ({ start: a, end: b, symbol, doc: i === 0 || (doc && doc.startRow >= a && doc.endRow <= b) ? doc : undefined }));
    }

    /** Cuts rows s..e (depths indexed from `base`) at the least deep boundaries, greedily, deeper where a piece still does not fit. */
    #cut(s: number, e: number, depth: Int32Array, base: number, level: number): Array<[number, number]> {
        if (this.#fits(s, e) || s === e) return [[s, e]];
        if (level > MAX_CUT_LEVEL) return windows(this.source, s, e, { ...this.options, windowLines: this.options.maxChunkLines, overlapLines: 0 }).map((p) => [p.start, p.end]);
        let min = Infinity;
        for (let b = s; b < e; b++) min = Math.min(min, depth[b - base]);
        const candidates: number[] = [];
        for (let b = s; b < e; b++) if (depth[b - base] === min) candidates.push(b);
        const out: Array<[number, number]> = [];
        let start = s;
        let i = 0;
        for (;;) {
            if (this.#fits(start, e)) {
                out.push([start, e]);
                return out;
            }
            let best = -1;
            while (i < candidates.length && this.#fits(start, candidates[i])) best = candidates[i++];
            if (best >= 0) {
                out.push([start, best]);
                start = best + 1;
            } else if (i < candidates.length) {
                // Even the first piece does not fit: cut it deeper (no boundary inside it is this shallow).
                out.push(...this.#cut(start, candidates[i], depth, base, level + 1));
                start = candidates[i++] + 1;
            } else {
                out.push(...this.#cut(start, e, depth, base, level + 1));
                return out;
            }
        }
    }
}

/** `class Foo` (top level), `Foo.bar` (a member), `class Foo.Inner` (a member that holds members). */
function symbolOf(def: Definition, prefix: string | undefined): string {
    if (!prefix) return `${def.keyword} ${def.name}`;
    return def.members ? `${def.keyword} ${prefix}.${def.name}` : `${prefix}.${def.name}`;
}

/** The doc goes to the piece that holds all its rows. */
function withDoc(pieces: Piece[], doc: Doc | undefined): Piece[] {
    if (!doc) return pieces;
    return pieces.map((p) => (p.start <= doc.startRow && doc.endRow <= p.end ? { ...p, doc } : p));
}

/** Items sharing a row (a trailing comment, two statements on one line) become one. */
function mergeOverlapping(items: Item[]): Item[] {
    const out: Item[] = [];
    for (const item of items) {
        const prev = out[out.length - 1];
        if (!prev || item.start > prev.end) {
            out.push(item);
        } else if (prev.kind === 'def' && item.kind === 'other') {
            prev.end = Math.max(prev.end, item.end);
            prev.nodes.push(...item.nodes);
        } else if (prev.kind === 'other' && item.kind === 'def') {
            out[out.length - 1] = { ...item, start: prev.start, end: Math.max(prev.end, item.end), nodes: [...prev.nodes, ...item.nodes] };
        } else {
            out[out.length - 1] = { kind: 'other', start: prev.start, end: Math.max(prev.end, item.end), nodes: [...prev.nodes, ...item.nodes] };
        }
    }
    return out;
}

/**
 * Line windows over rows s..e, each overlapping the one before by `overlapLines`: each starts on a
 * non-blank row; a full window ends at a blank row in its last quarter when it has one.
 */
function windows(source: SourceLines, s: number, e: number, options: Pick<ChunkerOptions, 'windowLines' | 'overlapLines' | 'maxChunkChars'>): Piece[] {
    const out: Piece[] = [];
    let start = s;
    while (start <= e && source.blank(start)) start++;
    while (start <= e) {
        let end = start;
        while (end + 1 <= e && end + 1 - start + 1 <= options.windowLines && source.chars(start, end + 1) <= options.maxChunkChars) end++;
        if (end < e) {
            for (let r = end; r > start + Math.floor(((end - start) * 3) / 4); r--) {
                if (source.blank(r)) {
                    end = r - 1;
                    break;
                }
            }
        }
        out.push({ start, end });
        if (end >= e) break;
        let next = Math.max(start + 1, end + 1 - options.overlapLines);
        while (next <= e && source.blank(next)) next++;
        // A window inside the one before (the rest is blank): done.
        if (next > e) break;
        start = next;
    }
    return out;
}

/** A line that only closes what is above it. */
const CLOSER = /^(?:[)}\]>;,]+|end|fi|done|esac|endif|endfor|endforeach|endwhile|\?>)[;,]?$/;

/** A piece whose non-blank lines all close something joins the piece before it (the lines between are blank). */
function mergeClosers(source: SourceLines, pieces: Piece[]): Piece[] {
    const out: Piece[] = [];
    for (const p of pieces) {
        const prev = out[out.length - 1];
        let closers = true;
        for (let r = p.start; r <= p.end && closers; r++) closers = source.blank(r) || CLOSER.test(source.lines[r].trim());
        let between = true;
        for (let r = (prev?.end ?? 0) + 1; r < p.start && between; r++) between = source.blank(r);
        if (prev && closers && between && p.start > prev.end) out[out.length - 1] = { ...prev, end: p.end };
        else out.push(p);
    }
    return out;
}

function toChunks(file: string, source: SourceLines, pieces: readonly Piece[], stripDocs: boolean): ChunkInput[] {
    const chunks: ChunkInput[] = [];
    for (const p of pieces) {
        let { start, end } = p;
        while (start <= end && source.blank(start)) start++;
        while (end >= start && source.blank(end)) end--;
        if (start > end) continue;
        const doc = p.doc && p.doc.startRow >= start && p.doc.endRow <= end ? p.doc : undefined;
        const text = doc && stripDocs ? withoutDoc(source, start, end, doc) : source.lines.slice(start, end + 1).join('\n');
        const embed = (t: string): string => (p.symbol ? `${p.symbol}\n${t}` : t);
        const embedText = embed(text);
        chunks.push({
            file,
            startLine: start + 1,
            endLine: end + 1,
            ...(p.symbol ? { symbol: p.symbol } : {}),
            text,
            embedText,
            hash: createHash('sha256').update(embedText).digest('hex'),
            ...(doc ? { doc: doc.text, docLines: [doc.startRow + 1, doc.endRow + 1] as const } : {}),
            ...(doc && !stripDocs ? { embedTextWithoutDoc: embed(withoutDoc(source, start, end, doc)) } : {}),
        });
    }
    return chunks;
}

/** Rows s..e without the doc's characters; a row left blank by that is dropped. */
function withoutDoc(source: SourceLines, s: number, e: number, doc: Doc): string {
    const out: string[] = [];
    for (let r = s; r <= e; r++) {
        const line = source.lines[r];
        if (r < doc.startRow || r > doc.endRow) {
            out.push(line);
            continue;
        }
        const lineStart = source.starts[r];
        let kept = '';
        let at = 0;
        for (const [a, b] of doc.ranges) {
            const from = Math.max(0, a - lineStart);
            const to = Math.min(line.length, b - lineStart);
            if (to <= from || from >= line.length || to <= at) continue;
            kept += line.slice(at, Math.max(at, from));
            at = Math.max(at, to);
        }
        kept += line.slice(at);
        if (kept.trim()) out.push(kept.replace(/\s+$/, ''));
    }
    return out.join('\n');
}
