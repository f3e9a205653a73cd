/**
 * The search benchmark's generated workspace: `files` source files of code-like text, seeded, in
 * packages and modules, with exactly `chunksPerFile` windows of `WINDOW_LINES` lines per file on
 * average (5 to 15 per file, in pairs that sum to twice the average, so the total is exact).
 *
 * The text reads like TypeScript: functions, classes, calls, comments, identifiers of 1 to 3 word
 * stems in camelCase, PascalCase and snake_case, about 30 characters a line. Half the identifiers
 * are shared by the whole workspace (drawn with a skew: few common, many rare), half are the
 * module's own (150 per module, from 40 stems), so the vocabulary grows with the workspace as a
 * real one does and modules are topics (the synthetic vectors cluster by module too).
 *
 * A file's text is a pure function of (seed, file, edit): nothing is kept in memory; `edit` > 0
 * rewrites one line (a different one per edit), leaving the line count, and so the windows, as they were.
 */
import { createRng, hashString, type Rng } from '../../lib/rng';

/** Lines per chunk of the benchmark's line-window chunker (workspace files are cut in these). */
export const WINDOW_LINES = 16;
const MODULES_PER_PACKAGE = 10;
const FILES_PER_MODULE = 10;
const STEMS = 4000;
const MODULE_STEMS = 40;

export interface SyntheticWorkspace {
    readonly files: number;
    readonly chunks: number;
    path(file: number): string;
    /** The module (topic) of a file: what the synthetic vectors cluster by. */
    module(file: number): number;
    text(file: number, edit?: number): string;
    /** A word that only `text(file, edit)` contains (edit > 0): what a query for the edit looks for. */
    editMarker(file: number, edit: number): string;
}

const SYLLABLES = ['ka', 'lo', 'ri', 'ven', 'tor', 'mi', 'sa', 'der', 'pul', 'ne', 'qua', 'zen', 'bro', 'fi', 'gal', 'hu', 'jo', 'mer', 'ost', 'tri', 'val', 'wen', 'xo', 'yl', 'cor', 'dam', 'el', 'fen'];
const WORDS = ['count', 'total', 'items', 'request', 'response', 'buffer', 'index', 'value', 'result', 'state', 'config', 'handler', 'cache', 'token', 'queue', 'limit', 'retry', 'parse', 'load', 'save', 'render', 'update', 'create', 'remove', 'find', 'build', 'check', 'merge', 'split', 'format'];
/** Identifiers every module uses (an API, the standard library), drawn with a skew. */
const SHARED_IDENTIFIERS = 3000;
/** Identifiers a module defines and uses itself. */
const MODULE_IDENTIFIERS = 150;

export function syntheticWorkspace(seed: number, files: number, chunksPerFile = 10): SyntheticWorkspace {
    const rng = createRng(seed);
    const stems = Array.from({ length: STEMS }, (_, i) => (i < WORDS.length ? WORDS[i] : Array.from({ length: rng.int(2, 3) }, () => rng.pick(SYLLABLES)).join('')));
    const windows = new Uint8Array(files);
    for (let f = 0; f < files; f += 2) {
        const d = rng.int(-5, 5);
        windows[f] = chunksPerFile + d;
        if (f + 1 < files) windows[f + 1] = chunksPerFile - d;
        else windows[f] = chunksPerFile;
    }
    const moduleOf = (f: number): number => Math.floor(f / FILES_PER_MODULE);
    const cap = (x: string): string => x.charAt(0).toUpperCase() + x.slice(1);
    /** camelCase of 1 to 3 stems drawn by `pick`. */
    const compose = (r: Rng, pick: (r: Rng) => string): string => {
        const n = r.int(1, 3);
        let x = pick(r);
        for (let i = 1; i < n; i++) x += cap(pick(r));
        return x;
    };
    const skewed = (r: Rng): string => stems[Math.floor(STEMS * r.next() ** 3)];
    const shared = Array.from({ length: SHARED_IDENTIFIERS }, () => compose(rng, skewed));
    /** Module m's own identifiers: its stems, composed (generated when first used). */
    const own = new Map<number, string[]>();
    const moduleIds = (m: number): string[] => {
        let ids = own.get(m);
        if (!ids) {
            const r = createRng(hashString(`${seed}:module:${m}`));
            const mine = Array.from({ length: MODULE_STEMS }, () => stems[r.int(0, STEMS - 1)]);
            ids = Array.from({ length: MODULE_IDENTIFIERS }, () => compose(r, (q) => q.pick(mine)));
            own.set(m, ids);
        }
        return ids;
    };
    const ident = (r: Rng, m: number): string => (r.chance(0.5) ? r.pick(moduleIds(m)) : shared[Math.floor(SHARED_IDENTIFIERS * r.next() ** 2)]);
    const type = (r: Rng, m: number): string => cap(ident(r, m));
    const snake = (r: Rng, m: number): string => ident(r, m).replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    const word = (r: Rng, m: number): string => (r.chance(0.5) ? r.pick(moduleIds(m)).toLowerCase() : skewed(r));
    const line = (r: Rng, m: number, depth: number): string => {
        const pad = '    '.repeat(depth);
        switch (r.int(0, 9)) {
            case 0:
                return `${pad}function ${ident(r, m)}(${ident(r, m)}: ${type(r, m)}) {`;
            case 1:
                return `${pad}// ${word(r, m)} each ${word(r, m)} ${word(r, m)}`;
            case 2:
                return `${pad}if (${ident(r, m)} > ${r.int(0, 99)}) return ${ident(r, m)};`;
            case 3:
                return `${pad}for (const x of ${ident(r, m)}) ${ident(r, m)}(x);`;
            case 4:
                return `${pad}const ${snake(r, m)} = await ${ident(r, m)}();`;
            case 5:
                return `${pad}class ${type(r, m)} extends ${type(r, m)} {`;
            case 6:
                return `${pad}${ident(r, m)}: ${type(r, m)}[] = [];`;
            case 7:
                return `${pad}}`;
            default:
                return `${pad}${ident(r, m)} = ${ident(r, m)}(${ident(r, m)});`;
        }
    };
    const lines = (f: number): number => windows[f] * WINDOW_LINES;
    const editedLine = (f: number, edit: number): number => hashString(`${seed}:${f}:${edit}`) % lines(f);
    const marker = (f: number, edit: number): string => `editMarker${f}x${edit}`;
    return {
        files,
        chunks: Array.from(windows).reduce((a, b) => a + b, 0),
        path: (f) => `pkg${Math.floor(moduleOf(f) / MODULES_PER_PACKAGE)}/module${moduleOf(f)}/${stems[hashString(`file${f}`) % STEMS]}${f}.ts`,
        module: moduleOf,
        editMarker: marker,
        text(f, edit = 0) {
            const r = createRng(hashString(`${seed}:file:${f}`));
            const m = moduleOf(f);
            const out: string[] = [];
            for (let i = 0; i < lines(f); i++) out.push(line(r, m, i % 3));
            if (edit > 0) {
                const at = editedLine(f, edit);
                out[at] = `    const ${marker(f, edit)} = ${ident(createRng(edit), m)}(${out.length});`;
            }
            return out.join('\n');
        },
    };
}
