/**
 * --search: the speed and size of workspace search on a generated workspace (issue 18 §5).
 *
 *   npm run bench -- --search --out DIR [--seed N] [--files N]
 *
 * On 10,000 generated files (100,000 chunks of 16 lines, `searchWorkspace/`), with synthetic
 * clustered vectors at 384 and 768 dims, it measures: hybrid retrieval time (BM25 top 50 + vector
 * top 50 + fusion, the query's embedding excluded), the index's memory, its size on disk and its
 * load time, a one-file edit (what it re-embeds, how soon it is searchable), the disk after ten
 * full reindexes, and, in the simulator, completions' first token while indexing against the same
 * completions alone. Writes DIR/search.json with exactly the keys of issue 18 §5 and prints each
 * target met or NOT met.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createRouter, defaultRoutingSettings } from '../../src/core/router';
import { fuse } from '../../src/core/search/fusion';
import { createSearchIndex, type InMemorySearchIndex } from '../../src/core/search/index';
import { createIndexStore, type IndexStore } from '../../src/core/search/store';
import type { ChunkInput, EmbedderIdentity } from '../../src/core/search/types';
import type { Target } from '../report/report';
import { createRng } from '../lib/rng';
import { percentile, round } from '../lib/stats';
import { runSim } from '../sim/run';
import { loadProfile, shippedProfile } from '../sim/speedProfile';
import { settingsFor } from '../sim/suite';
import { loadTraceFile, shippedTrace } from '../workload/files';
import { DEFAULT_TRACE_SEED } from '../workload/generate';
import { completionsOnly } from '../workload/trace';
import { lineWindows, type BenchChunker } from './searchWorkspace/chunking';
import { syntheticEmbedder, type SyntheticEmbedder } from './searchWorkspace/embedder';
import { syntheticWorkspace, type SyntheticWorkspace } from './searchWorkspace/workspace';

export interface SearchArgs {
    readonly out: string;
    readonly seed: number;
    /** Files in the generated workspace (10 chunks each on average); the targets are for 10,000. */
    readonly files: number;
    /** Whether to run the simulator for the keystroke numbers (a test of the mode may skip it). */
    readonly sim: boolean;
}

/** DIR/search.json: exactly the keys of issue 18 §5. */
export interface SearchReport {
    readonly files: number;
    readonly chunks: number;
    readonly dims: number[];
    readonly queryMs: Record<string, { readonly p50: number; readonly p95: number }>;
    readonly bytesPerChunk: number;
    readonly indexMemoryMB: number;
    readonly diskMB: number;
    readonly loadMs: number;
    readonly diskMBAfter10Reindexes: number;
    readonly reembeddedChunksAfterOneFileEdit: number;
    readonly changedChunksInThatEdit: number;
    readonly editToSearchableMs: number;
    readonly keystrokeP95WithIndexingMs: number;
    readonly keystrokeP95IdleMs: number;
}

const DIMS = [384, 768] as const;
/** Timed hybrid queries per dimension, after WARMUP_QUERIES untimed ones. */
const QUERIES = 200;
const WARMUP_QUERIES = 20;
/** Results per channel fused into the top RESULTS, as the query service asks. */
const CHANNEL_DEPTH = 50;
const RESULTS = 10;
const REINDEXES = 10;
/** Share of files edited before each full reindex (the rest come back unchanged). */
const EDITED_PER_REINDEX = 0.01;
const MB = 1024 * 1024;

const identityFor = (dims: number): EmbedderIdentity => ({ space: `synthetic-${dims}`, dims, pooling: 'mean', model: `synthetic ${dims}-dim`, queryPrefix: '', documentPrefix: '' });

/** A full collection (node --expose-gc set at run time): memory is compared between settled heaps. */
const gc: () => void = (() => {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
})();

function usedBytes(): number {
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
}

async function folderBytes(dir: string): Promise<number> {
    let total = 0;
    for (const name of await fs.readdir(dir)) total += (await fs.stat(join(dir, name))).size;
    return total;
}

/** Indexes file `f` (version `edit`) and embeds what the index asks for; returns the chunks and what was embedded. */
async function indexFile(index: InMemorySearchIndex, ws: SyntheticWorkspace, chunker: BenchChunker, embedder: SyntheticEmbedder, f: number, edit = 0): Promise<{ chunks: ChunkInput[]; embedded: number }> {
    const text = ws.text(f, edit);
    const chunks = await chunker.chunk(ws.path(f), text);
    const todo = index.setFile(ws.path(f), { mtimeMs: edit, size: text.length }, chunks);
    index.addVectors(todo.map((c) => ({ hash: c.hash, vector: embedder.embed(ws.module(f), c.hash) })));
    return { chunks, embedded: todo.length };
}

async function buildIndex(ws: SyntheticWorkspace, chunker: BenchChunker, embedder: SyntheticEmbedder): Promise<InMemorySearchIndex> {
    const index = createSearchIndex(identityFor(embedder.dims));
    for (let f = 0; f < ws.files; f++) await indexFile(index, ws, chunker, embedder, f);
    return index;
}

interface QueryTimes {
    readonly p50: number;
    readonly p95: number;
    readonly lexicalP95: number;
    readonly vectorP95: number;
}

/**
 * Hybrid retrievals as the query service runs them: BM25 top 50 for two or three identifiers and
 * words of a random chunk, vector top 50 for a query vector in that file's topic, fused to 10.
 */
function timeQueries(index: InMemorySearchIndex, ws: SyntheticWorkspace, embedder: SyntheticEmbedder, seed: number): QueryTimes {
    const rng = createRng(seed);
    const total: number[] = [];
    const lexical: number[] = [];
    const vector: number[] = [];
    for (let i = 0; i < WARMUP_QUERIES + QUERIES; i++) {
        const f = rng.int(0, ws.files - 1);
        const lines = ws.text(f).split('\n');
        const words = lines[rng.int(0, lines.length - 1)].match(/[A-Za-z_]\w{2,}/g) ?? ['value'];
        const text = Array.from({ length: rng.int(2, 3) }, () => rng.pick(words)).join(' ');
        const qv = embedder.embed(ws.module(f), `query ${i}`);
        const t0 = performance.now();
        const lex = index.searchLexical(text, CHANNEL_DEPTH);
        const t1 = performance.now();
        const vec = index.searchVector(qv, CHANNEL_DEPTH);
        const t2 = performance.now();
        fuse(lex, vec, { lexical: 1, vector: 1 }, RESULTS);
        const t3 = performance.now();
        if (i < WARMUP_QUERIES) continue;
        lexical.push(t1 - t0);
        vector.push(t2 - t1);
        total.push(t3 - t0);
    }
    return { p50: percentile(total, 50), p95: percentile(total, 95), lexicalP95: percentile(lexical, 95), vectorP95: percentile(vector, 95) };
}

interface EditResult {
    readonly reembedded: number;
    readonly changed: number;
    readonly pipelineMs: number;
    readonly embedModelMs: number;
    readonly found: boolean;
}

/**
 * One file edited (a line rewritten): from the new text to its new content returned by a query,
 * through chunking, hashing, the index and the synthetic embedder, plus what the embedder on this
 * machine would take for the chunks re-embedded (the measured CPU profile's per-item cost and rate).
 */
async function measureEdit(index: InMemorySearchIndex, ws: SyntheticWorkspace, chunker: BenchChunker, embedder: SyntheticEmbedder): Promise<EditResult> {
    const f = Math.floor(ws.files / 2);
    const before = new Set((await chunker.chunk(ws.path(f), ws.text(f))).map((c) => c.hash));
    const text = ws.text(f, 1);
    const t0 = performance.now();
    const chunks = await chunker.chunk(ws.path(f), text);
    const todo = index.setFile(ws.path(f), { mtimeMs: 1, size: text.length }, chunks);
    const vectors = todo.map((c) => ({ hash: c.hash, vector: embedder.embed(ws.module(f), c.hash) }));
    index.addVectors(vectors);
    const lexical = index.searchLexical(ws.editMarker(f, 1), 1);
    const byMeaning = vectors.length > 0 ? index.searchVector(vectors[0].vector, 1) : [];
    const pipelineMs = performance.now() - t0;
    const edited = todo[0];
    const isEdited = (h: { chunk: { file: string; startLine: number } } | undefined): boolean => h !== undefined && edited !== undefined && h.chunk.file === edited.file && h.chunk.startLine === edited.startLine;
    const embedderProfile = loadProfile(shippedProfile('local-generated')).models.embedder;
    // ~4 characters a token, as the workload generator assumes for code.
    const embedModelMs = todo.reduce((ms, c) => ms + embedderProfile.embedOverheadMsPerItem + ((c.embedText.length / 4) * 1000) / embedderProfile.embedTokensPerSec, 0);
    return { reembedded: todo.length, changed: chunks.filter((c) => !before.has(c.hash)).length, pipelineMs, embedModelMs, found: isEdited(lexical[0]) && isEdited(byMeaning[0]) };
}

/**
 * Full reindexes: every file deleted and indexed again (as a branch switch away and back does),
 * 1% of them edited first, then `compact()` and a save. Returns the folder's bytes after each.
 */
async function reindexRounds(index: InMemorySearchIndex, ws: SyntheticWorkspace, chunker: BenchChunker, embedder: SyntheticEmbedder, store: IndexStore, log: (line: string) => void): Promise<number[]> {
    const sizes: number[] = [];
    const every = Math.round(1 / EDITED_PER_REINDEX);
    for (let round = 1; round <= REINDEXES; round++) {
        const t0 = performance.now();
        let embedded = 0;
        for (let f = 0; f < ws.files; f++) {
            index.removeFile(ws.path(f));
            embedded += (await indexFile(index, ws, chunker, embedder, f, (f + round) % every === 0 ? round : 0)).embedded;
        }
        const compacted = index.compact();
        await store.save(index);
        sizes.push(await folderBytes(store.dir));
        log(`  reindex ${round}: ${embedded} chunks embedded, compacted ${compacted}, ${(sizes[sizes.length - 1] / MB).toFixed(1)} MB on disk (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
    return sizes;
}

/** Completion first-token p95 on the shipped typing + indexing trace: zeta with indexing, and the same completions alone. */
async function keystrokes(log: (line: string) => void): Promise<{ withIndexing: number; idle: number }> {
    const trace = loadTraceFile(shippedTrace('typing-indexing'), DEFAULT_TRACE_SEED);
    const profile = loadProfile(shippedProfile('rtx4090-qwen2.5-trio'));
    const base = defaultRoutingSettings();
    const busy = await runSim(trace, profile, settingsFor(base, 'zeta', profile), createRouter);
    const idle = await runSim(completionsOnly(trace), profile, settingsFor(base, 'static', profile), createRouter);
    log(`  sim (${trace.name}, ${profile.name}): zeta with indexing p95 ${busy.metrics.completion.firstTokenMs.p95.toFixed(1)} ms, the completions alone ${idle.metrics.completion.firstTokenMs.p95.toFixed(1)} ms`);
    return { withIndexing: busy.metrics.completion.firstTokenMs.p95, idle: idle.metrics.completion.firstTokenMs.p95 };
}

/** The targets of issue 18 §5, evaluated. */
export function searchTargets(r: SearchReport): Target[] {
    const t = (id: string, text: string, value: number, limit: number, detail: string, met = value <= limit): Target => ({ id, text, value, limit, met: Number.isFinite(value) && met, detail });
    return [
        t('query-384', 'query p95 <= 30 ms at 384 dims', r.queryMs['384']?.p95 ?? NaN, 30, `p50 ${r.queryMs['384']?.p50} ms, p95 ${r.queryMs['384']?.p95} ms`),
        t('query-768', 'query p95 <= 60 ms at 768 dims', r.queryMs['768']?.p95 ?? NaN, 60, `p50 ${r.queryMs['768']?.p50} ms, p95 ${r.queryMs['768']?.p95} ms`),
        t('bytes-per-chunk', 'vectors + metadata <= 600 bytes per chunk at 384 dims', r.bytesPerChunk, 600, `${r.bytesPerChunk} bytes`),
        t('memory', 'index memory with the lexical index <= 150 MB', r.indexMemoryMB, 150, `${r.indexMemoryMB} MB`),
        t('load', 'load <= 1 s', r.loadMs, 1000, `${r.loadMs} ms`),
        t('disk-growth', 'disk after 10 full reindexes <= 1.1x the first', r.diskMBAfter10Reindexes / r.diskMB, 1.1, `${r.diskMBAfter10Reindexes} MB vs ${r.diskMB} MB`),
        t(
            'reembed',
            'a one-file edit re-embeds exactly its changed chunks',
            r.reembeddedChunksAfterOneFileEdit,
            r.changedChunksInThatEdit,
            `${r.reembeddedChunksAfterOneFileEdit} re-embedded, ${r.changedChunksInThatEdit} changed`,
            r.changedChunksInThatEdit > 0 && r.reembeddedChunksAfterOneFileEdit === r.changedChunksInThatEdit,
        ),
        t('edit-searchable', 'an edit is searchable within 2 s', r.editToSearchableMs, 2000, `${r.editToSearchableMs} ms`),
        t('keystroke', 'completion first-token p95 while indexing <= 1.1x idle', r.keystrokeP95WithIndexingMs / r.keystrokeP95IdleMs, 1.1, `${r.keystrokeP95WithIndexingMs} ms vs ${r.keystrokeP95IdleMs} ms`),
    ];
}

export async function runSearchMode(args: SearchArgs, log: (line: string) => void = console.log, chunker: BenchChunker = lineWindows): Promise<{ report: SearchReport; targets: Target[]; runtimeMs: number }> {
    const started = performance.now();
    const ws = syntheticWorkspace(args.seed, args.files);
    log(`search: ${ws.files} generated files, ${ws.chunks} chunks (seed ${args.seed})`);
    await fs.mkdir(args.out, { recursive: true });
    const queryMs: Record<string, { p50: number; p95: number }> = {};

    // 384 dims: everything but the 768-dim query times.
    const embedder = syntheticEmbedder(args.seed, 384);
    const baseline = usedBytes();
    let t0 = performance.now();
    let built: InMemorySearchIndex | undefined = await buildIndex(ws, chunker, embedder);
    log(`  384: indexed in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${built.stats().vectors} vectors; index's own estimate ${(built.stats().memoryBytes / MB).toFixed(1)} MB`);
    const withIndex = usedBytes();
    const dir = join(args.out, 'index-384');
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rm(`${dir}.corrupt`, { recursive: true, force: true });
    const store = createIndexStore(dir, built.identity, fs);
    await store.save(built);
    const diskBytes = await folderBytes(dir);
    const partBytes = async (part: string): Promise<number> => (await fs.stat(join(dir, (await fs.readdir(dir)).find((n) => n.startsWith(`${part}.`)) as string))).size;
    const bytesPerChunk = ((await partBytes('vectors')) + (await partBytes('meta'))) / ws.chunks;
    built = undefined;
    const indexBytes = withIndex - usedBytes();

    const loads: number[] = [];
    let index: InMemorySearchIndex | undefined;
    for (let i = 0; i < 3; i++) {
        index = undefined;
        gc();
        t0 = performance.now();
        const r = await createIndexStore(dir, identityFor(384), fs).load();
        loads.push(performance.now() - t0);
        if (r.kind !== 'loaded') throw new Error(`the saved index did not load: ${JSON.stringify(r)}`);
        index = r.index;
    }
    if (!index) throw new Error('unreachable');
    log(`  384: memory ${((indexBytes) / MB).toFixed(1)} MB (process heap + array buffers, with the index and without; ${((withIndex - baseline) / MB).toFixed(1)} MB more than before building, generator caches included); disk ${(diskBytes / MB).toFixed(1)} MB; loads ${loads.map((x) => x.toFixed(0)).join(', ')} ms`);

    const q384 = timeQueries(index, ws, embedder, args.seed + 1);
    queryMs['384'] = { p50: round(q384.p50, 1), p95: round(q384.p95, 1) };
    log(`  384: hybrid query p50 ${q384.p50.toFixed(1)} ms, p95 ${q384.p95.toFixed(1)} ms (lexical p95 ${q384.lexicalP95.toFixed(1)}, vector p95 ${q384.vectorP95.toFixed(1)})`);

    const edit = await measureEdit(index, ws, chunker, embedder);
    log(`  edit: changed chunks ${edit.changed}, re-embedded ${edit.reembedded}; searchable ${edit.found ? 'yes' : 'NO'} after ${edit.pipelineMs.toFixed(1)} ms of chunking, hashing, indexing and search, + ${edit.embedModelMs.toFixed(0)} ms of embedding on this machine's embedder (profile local-generated)`);

    const sizes = await reindexRounds(index, ws, chunker, embedder, store, log);
    index = undefined;

    // 768 dims: query times only.
    const embedder768 = syntheticEmbedder(args.seed, 768);
    t0 = performance.now();
    const index768 = await buildIndex(ws, chunker, embedder768);
    const q768 = timeQueries(index768, ws, embedder768, args.seed + 1);
    queryMs['768'] = { p50: round(q768.p50, 1), p95: round(q768.p95, 1) };
    log(`  768: indexed in ${((performance.now() - t0) / 1000).toFixed(1)} s; hybrid query p50 ${q768.p50.toFixed(1)} ms, p95 ${q768.p95.toFixed(1)} ms (lexical p95 ${q768.lexicalP95.toFixed(1)}, vector p95 ${q768.vectorP95.toFixed(1)})`);

    const keys = args.sim ? await keystrokes(log) : { withIndexing: Number.NaN, idle: Number.NaN };
    const report: SearchReport = {
        files: ws.files,
        chunks: ws.chunks,
        dims: [...DIMS],
        queryMs,
        bytesPerChunk: round(bytesPerChunk, 1),
        indexMemoryMB: round(indexBytes / MB, 1),
        diskMB: round(diskBytes / MB, 2),
        loadMs: round(percentile(loads, 50), 0),
        diskMBAfter10Reindexes: round(sizes[sizes.length - 1] / MB, 2),
        reembeddedChunksAfterOneFileEdit: edit.reembedded,
        changedChunksInThatEdit: edit.changed,
        editToSearchableMs: edit.found ? round(edit.pipelineMs + edit.embedModelMs, 0) : Number.NaN,
        keystrokeP95WithIndexingMs: round(keys.withIndexing, 1),
        keystrokeP95IdleMs: round(keys.idle, 1),
    };
    await fs.writeFile(join(args.out, 'search.json'), `${JSON.stringify(report, null, 2)}\n`);
    await fs.rm(dir, { recursive: true, force: true });
    return { report, targets: searchTargets(report), runtimeMs: performance.now() - started };
}
