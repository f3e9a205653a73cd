/**
 * The shipped workload traces: their specs (TRACE_SPECS) and the generator that draws them from a
 * seed. `npx tsx bench/workload/generate.ts [--seed N] [--out DIR]` writes
 * bench/traces/<name>.jsonl (TRACES_DIR) for every spec. Same seed, same bytes.
 *
 * Model of the user (all times ms): typing comes in bursts of keystrokes separated by log-normal
 * inter-key gaps, bursts are separated by log-normal pauses (reading, thinking); after a pause the
 * user sometimes switches to another open document. Every keystroke is a completion request for
 * the document being typed in (it supersedes the previous one). Each document is typed line by
 * line: when a line starts its length is drawn from `lineChars`, and the keystroke after its last
 * character is Enter, which finishes it (its text joins the prefix) and starts an empty line.
 * Each completion's `lineTokens` is the cursor line's text before the cursor,
 * ceil(characters typed on the line / `charsPerToken`): the text before the cursor grows by one
 * token every `charsPerToken` keystrokes counted from the line's start (its first character starts
 * a token; Enter adds none), and the prefix before the line changes only at Enter, as llama.cpp's
 * /infill layout (`prefix` up to the line's start, the line in `middle`) relies on.
 * Background indexing walks a workspace file by file.
 * Explains (and edits) arrive at random intervals.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskKind } from '../../src/core/tasks';
import { createRng, hashString, type Rng } from '../lib/rng';
import { serializeTrace, type TraceLine } from './trace';

export interface TypingSpec {
    readonly docs: number;
    readonly prefixTokens: readonly [number, number];
    readonly suffixTokens: readonly [number, number];
    readonly keyGapMedianMs: number;
    readonly keyGapSigma: number;
    readonly burst: readonly [number, number];
    readonly pauseMedianMs: number;
    readonly pauseSigma: number;
    readonly switchDocChance: number;
    readonly charsPerToken: number;
    /** Characters of a line (without its newline), drawn uniformly when the line starts. */
    readonly lineChars: readonly [number, number];
    readonly maxTokens: number;
}

export interface IndexingSpec {
    readonly startMs: number;
    readonly files: number;
    readonly fileTokens: readonly [number, number];
    readonly chunkTokens: number;
}

export interface ChatSpec {
    readonly kind: Extract<TaskKind, 'explain' | 'edit' | 'refactorPlan'>;
    readonly everyMs: readonly [number, number];
    readonly promptTokens: readonly [number, number];
    readonly maxTokens: number;
}

export interface TraceSpec {
    readonly name: string;
    readonly description: string;
    readonly durationMs: number;
    readonly typing?: TypingSpec;
    readonly indexing?: IndexingSpec;
    readonly chats: readonly ChatSpec[];
    /** Interactive searches: one query every so often. */
    readonly queries?: { readonly everyMs: readonly [number, number]; readonly tokens: number };
}

function typingLines(spec: TypingSpec, durationMs: number, rng: Rng): TraceLine[] {
    const out: TraceLine[] = [];
    const lineTokens = (chars: number): number => Math.ceil(chars / spec.charsPerToken);
    const docs = Array.from({ length: spec.docs }, (_, i) => ({
        name: `src/editor/file${i + 1}.ts`,
        /** Tokens before the cursor line: constant while the line is typed. */
        prefix: rng.int(spec.prefixTokens[0], spec.prefixTokens[1]),
        suffix: rng.int(spec.suffixTokens[0], spec.suffixTokens[1]),
        /** Characters typed on the cursor line, and the length at which it ends (0 <= chars <= lineLength). */
        lineChars: 0,
        lineLength: rng.int(spec.lineChars[0], spec.lineChars[1]),
    }));
    let doc = docs[0];
    let t = rng.uniform(200, 1500);
    while (t < durationMs) {
        const n = rng.int(spec.burst[0], spec.burst[1]);
        for (let i = 0; i < n && t < durationMs; i++) {
            if (doc.lineChars >= doc.lineLength) {
                // Enter: the finished line joins the prefix; the cursor is on a new, empty line.
                doc.prefix += lineTokens(doc.lineChars);
                doc.lineChars = 0;
                doc.lineLength = rng.int(spec.lineChars[0], spec.lineChars[1]);
            } else {
                doc.lineChars++;
            }
            const line = lineTokens(doc.lineChars);
            out.push({
                t: Math.round(t),
                kind: 'completion',
                doc: doc.name,
                promptTokens: doc.prefix + line + doc.suffix,
                suffixTokens: doc.suffix,
                lineTokens: line,
                maxTokens: spec.maxTokens,
                items: 1,
            });
            t += Math.max(25, rng.logNormal(spec.keyGapMedianMs, spec.keyGapSigma));
        }
        t += rng.logNormal(spec.pauseMedianMs, spec.pauseSigma);
        if (rng.chance(spec.switchDocChance)) doc = rng.pick(docs);
    }
    return out;
}

function indexingLines(spec: IndexingSpec, rng: Rng): TraceLine[] {
    const out: TraceLine[] = [];
    for (let i = 0; i < spec.files; i++) {
        const tokens = rng.int(spec.fileTokens[0], spec.fileTokens[1]);
        out.push({
            // The indexer queues every file at the start; embed lines run one after another.
            t: spec.startMs,
            kind: 'embed',
            doc: `workspace/pkg${i % 7}/module${i}.ts`,
            promptTokens: spec.chunkTokens,
            maxTokens: 0,
            items: Math.max(1, Math.ceil(tokens / spec.chunkTokens)),
        });
    }
    return out;
}

function chatLines(spec: ChatSpec, durationMs: number, rng: Rng): TraceLine[] {
    const out: TraceLine[] = [];
    let t = rng.uniform(spec.everyMs[0] / 2, spec.everyMs[1]);
    let n = 0;
    while (t < durationMs) {
        out.push({
            t: Math.round(t),
            kind: spec.kind,
            doc: `src/editor/file${(n++ % 3) + 1}.ts`,
            promptTokens: rng.int(spec.promptTokens[0], spec.promptTokens[1]),
            maxTokens: spec.maxTokens,
            items: 1,
        });
        t += rng.uniform(spec.everyMs[0], spec.everyMs[1]);
    }
    return out;
}

export function generateTrace(spec: TraceSpec, seed: number): TraceLine[] {
    // Each component has its own stream so changing one leaves the others as they were.
    const stream = (part: string): Rng => createRng((seed ^ hashString(`${spec.name}/${part}`)) >>> 0);
    const lines: TraceLine[] = [];
    if (spec.typing) lines.push(...typingLines(spec.typing, spec.durationMs, stream('typing')));
    if (spec.indexing) lines.push(...indexingLines(spec.indexing, stream('indexing')));
    spec.chats.forEach((c, i) => lines.push(...chatLines(c, spec.durationMs, stream(`chat${i}`))));
    if (spec.queries) {
        const rng = stream('queries');
        let t = rng.uniform(spec.queries.everyMs[0], spec.queries.everyMs[1]);
        while (t < spec.durationMs) {
            lines.push({ t: Math.round(t), kind: 'embedQuery', doc: 'search', promptTokens: spec.queries.tokens, maxTokens: 0, items: 1 });
            t += rng.uniform(spec.queries.everyMs[0], spec.queries.everyMs[1]);
        }
    }
    // Stable sort: ties keep component order.
    return lines.map((l, i) => ({ l, i })).sort((a, b) => a.l.t - b.l.t || a.i - b.i).map((x) => x.l);
}

/**
 * Typing of a fluent programmer: ~7 keys/s inside bursts (median gap 120 ms). Context windows as
 * Zeta sends them by default (src/core/userSettings.ts: 512 prefix + 128 suffix tokens, whole lines).
 */
const GPU_TYPING: TypingSpec = {
    docs: 4,
    prefixTokens: [380, 470],
    suffixTokens: [64, 128],
    keyGapMedianMs: 120,
    keyGapSigma: 0.45,
    burst: [3, 20],
    pauseMedianMs: 1500,
    pauseSigma: 0.8,
    switchDocChance: 0.15,
    charsPerToken: 4,
    lineChars: [12, 60],
    maxTokens: 48,
};

/**
 * The same typist on the generated CPU models (real mode): they answer in hundreds of ms, not tens,
 * so the typist types a few keys (1-4) and pauses about 1.5 s to read the suggestion. That gives
 * 25-35 served completions a minute: a p95 over about ten (the previous 2-8 keys and 3 s pauses)
 * was the slowest one or two and swung by 2x between runs of the same policy.
 */
const CPU_TYPING: TypingSpec = { ...GPU_TYPING, docs: 3, prefixTokens: [300, 470], suffixTokens: [48, 112], maxTokens: 8, burst: [1, 4], pauseMedianMs: 1500, pauseSigma: 0.5 };

export const TRACE_SPECS: readonly TraceSpec[] = [
    {
        name: 'typing-indexing',
        description: 'Typing in 4 files (bursts and pauses) while a 240-file workspace is indexed, an explain every 20-40 s, an occasional search.',
        durationMs: 180_000,
        typing: GPU_TYPING,
        indexing: { startMs: 500, files: 240, fileTokens: [400, 4000], chunkTokens: 256 },
        chats: [{ kind: 'explain', everyMs: [20_000, 40_000], promptTokens: [1500, 3000], maxTokens: 300 }],
        queries: { everyMs: [25_000, 50_000], tokens: 24 },
    },
    {
        name: 'heavy-indexing',
        description: 'A large workspace (800 files) indexed while the user types occasionally.',
        durationMs: 180_000,
        typing: { ...GPU_TYPING, pauseMedianMs: 4000 },
        indexing: { startMs: 500, files: 800, fileTokens: [400, 6000], chunkTokens: 256 },
        chats: [{ kind: 'explain', everyMs: [40_000, 80_000], promptTokens: [1500, 3000], maxTokens: 300 }],
    },
    {
        name: 'explain-heavy',
        description: 'Explains every 5-12 s and edits every 15-30 s while the user types; a small workspace indexed.',
        durationMs: 150_000,
        typing: GPU_TYPING,
        indexing: { startMs: 500, files: 60, fileTokens: [400, 3000], chunkTokens: 256 },
        chats: [
            { kind: 'explain', everyMs: [5_000, 12_000], promptTokens: [1500, 3500], maxTokens: 300 },
            { kind: 'edit', everyMs: [15_000, 30_000], promptTokens: [800, 2000], maxTokens: 200 },
        ],
    },
    {
        name: 'real-typing-indexing',
        description: 'typing-indexing sized for the generated CPU models (real mode): 60 s.',
        durationMs: 60_000,
        typing: CPU_TYPING,
        indexing: { startMs: 300, files: 40, fileTokens: [100, 500], chunkTokens: 96 },
        chats: [{ kind: 'explain', everyMs: [15_000, 25_000], promptTokens: [200, 320], maxTokens: 48 }],
    },
    {
        name: 'real-heavy-indexing',
        description: 'heavy-indexing sized for the generated CPU models: 40 s.',
        durationMs: 40_000,
        typing: { ...CPU_TYPING, pauseMedianMs: 3000 },
        indexing: { startMs: 300, files: 120, fileTokens: [100, 600], chunkTokens: 96 },
        chats: [{ kind: 'explain', everyMs: [15_000, 25_000], promptTokens: [200, 320], maxTokens: 48 }],
    },
    {
        name: 'real-explain-heavy',
        description: 'explain-heavy sized for the generated CPU models: 40 s.',
        durationMs: 40_000,
        typing: CPU_TYPING,
        indexing: { startMs: 300, files: 15, fileTokens: [100, 400], chunkTokens: 96 },
        chats: [
            { kind: 'explain', everyMs: [4_000, 8_000], promptTokens: [200, 360], maxTokens: 48 },
            { kind: 'edit', everyMs: [10_000, 16_000], promptTokens: [150, 300], maxTokens: 32 },
        ],
    },
];

export const DEFAULT_TRACE_SEED = 1;

/** Where the shipped traces are: bench/traces/<name>.jsonl, written with DEFAULT_TRACE_SEED. */
export const TRACES_DIR = join(__dirname, '..', 'traces');

function main(argv: readonly string[]): void {
    let seed = DEFAULT_TRACE_SEED;
    let out = TRACES_DIR;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--seed') seed = Number(argv[++i]);
        else if (argv[i] === '--out') out = argv[++i];
        else throw new Error(`unknown argument ${argv[i]}`);
    }
    if (!Number.isInteger(seed)) throw new Error('--seed must be an integer');
    mkdirSync(out, { recursive: true });
    for (const spec of TRACE_SPECS) {
        const lines = generateTrace(spec, seed);
        writeFileSync(join(out, `${spec.name}.jsonl`), serializeTrace(lines));
        console.log(`${spec.name}: ${lines.length} lines`);
    }
}

if (require.main === module) main(process.argv.slice(2));
