/**
 * npm run bench -- --search-quality --workspace DIR [--queries FILE] [--embedder generated|use-lite|PATH.gguf]
 *                  [--max-queries N] --out DIR
 *
 * Retrieval quality of workspace search on any folder, per channel (lexical, vector, hybrid):
 * MRR@10, nDCG@10 and recall@20, written to DIR/search-quality.json with every query's ranked
 * results (up to 20 per channel) so that anyone can recompute the metrics.
 *
 * The folder is indexed as the extension indexes it: its file rules, the tree-sitter chunker, the
 * index, fusion with weights calibrated on mined queries. Queries:
 * - with `--queries FILE` (JSON Lines of {"query", "relevant": [{"file", "startLine"?, "endLine"?}]}),
 *   those, over the folder as it is; the fusion weights are calibrated on docstring queries mined
 *   from the folder (the extension's own calibration);
 * - otherwise mined from the folder: (a) a function's or class's docstring or leading comment as
 *   the query and its chunk as the answer, with every docstring left out of the indexed copy;
 *   (b) in a git repository, a commit's subject as the query and the files it changed as the
 *   answers (file-level). The docstring queries are split in two halves; each half's hybrid is
 *   fused with weights calibrated on the other half, so no query judges the weights it chose.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { createTreeSitterParser } from '../../src/backends/treeSitter';
import { calibrate } from '../../src/core/search/calibrate';
import { createChunker } from '../../src/core/search/chunker';
import { workspaceFiles, workspaceFsFromNode } from '../../src/core/search/files';
import { hybridRanking } from '../../src/core/search/fusion';
import { createSearchIndex, type InMemorySearchIndex } from '../../src/core/search/index/index';
import { mineDocQueries } from '../../src/core/search/mining';
import type { ChannelWeights, ChunkInput, ChunkRef, MinedQuery, SearchHit } from '../../src/core/search/types';
import { mineCommitQueries } from '../quality/commits';
import { openEmbedder, type BenchEmbedder } from '../quality/embedders';
import { meanScores, parseQueries, scoreQuery, type ChannelScores, type JudgedQuery } from '../quality/metrics';

export interface SearchQualityArgs {
    readonly workspace: string;
    readonly queries: string | undefined;
    readonly embedder: string;
    readonly maxQueries: number;
    readonly out: string;
}

/** Results kept per query and channel in the report (recall@20 reads them all). */
const DEPTH = 20;
/** Ranked results per channel that fusion reads. */
const FUSION_DEPTH = 100;
const CHANNELS = ['lexical', 'vector', 'hybrid'] as const;
type Channel = (typeof CHANNELS)[number];

export function parseSearchQualityArgs(argv: readonly string[]): SearchQualityArgs {
    let workspace: string | undefined;
    let queries: string | undefined;
    let embedder = 'generated';
    let maxQueries = 200;
    let out = join('bench-out', 'search-quality');
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = (): string => {
            const v = argv[++i];
            if (v === undefined) throw new Error(`${a} needs a value`);
            return v;
        };
        switch (a) {
            case '--search-quality':
                break;
            case '--workspace':
                workspace = value();
                break;
            case '--queries':
                queries = value();
                break;
            case '--embedder':
                embedder = value();
                break;
            case '--max-queries':
                maxQueries = Number(value());
                if (!Number.isInteger(maxQueries) || maxQueries < 1) throw new Error(`--max-queries must be a positive whole number, got "${argv[i]}"`);
                break;
            case '--out':
                out = value();
                break;
            default:
                throw new Error(`unknown argument for --search-quality: "${a}" (see bench/modes/searchQuality.ts)`);
        }
    }
    if (!workspace) throw new Error('--search-quality needs --workspace DIR (the folder to index and query)');
    return { workspace: resolve(workspace), queries, embedder, maxQueries, out };
}

interface Indexed {
    readonly index: InMemorySearchIndex;
    readonly chunks: ChunkInput[];
    readonly files: Set<string>;
}

/** Indexes `root` as the extension does, embedding every chunk; `stripDocs`: the copy without docstrings. */
async function indexFolder(root: string, embedder: BenchEmbedder, stripDocs: boolean, log: (l: string) => void): Promise<Indexed> {
    const parser = createTreeSitterParser({ dir: dirname(require.resolve('@vscode/tree-sitter-wasm')) });
    const chunker = createChunker(parser, { stripDocs });
    const files = workspaceFiles(workspaceFsFromNode(fsp), root, { maxFileKB: 512 });
    const index = createSearchIndex(embedder.identity);
    const chunks: ChunkInput[] = [];
    const need: ChunkInput[] = [];
    const seen = new Set<string>();
    for await (const item of files.walk()) {
        if (item.kind !== 'file') continue;
        const read = await files.read(item.path);
        if (read.kind !== 'text') continue;
        const cs = await chunker.chunk(item.path, read.text);
        chunks.push(...cs);
        seen.add(item.path);
        need.push(...index.setFile(item.path, read.stamp, cs));
    }
    parser.dispose();
    log(`  indexed ${seen.size} files, ${chunks.length} chunks; embedding ${need.length} with ${embedder.name}...`);
    const t0 = performance.now();
    const vectors = await embedder.embed(
        need.map((c) => c.embedText),
        'document',
    );
    index.addVectors(need.map((c, i) => ({ hash: c.hash, vector: vectors[i] })));
    log(`  embedded in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    return { index, chunks, files: seen };
}

const asJudged = (q: MinedQuery): JudgedQuery => ({ query: q.query, relevant: [{ file: q.answer.file, startLine: q.answer.startLine, endLine: q.answer.endLine }], source: 'docstring' });
const refOf = (c: ChunkRef): { file: string; startLine: number; endLine: number } => ({ file: c.file, startLine: c.startLine, endLine: c.endLine });

async function weightsFor(index: InMemorySearchIndex, queries: readonly MinedQuery[], embedder: BenchEmbedder): Promise<ChannelWeights> {
    const signal = new AbortController().signal;
    return calibrate({ index, queries, embed: async (text, as) => (await embedder.embed([text], as))[0], signal });
}

export interface SearchQualityReport {
    readonly workspace: string;
    readonly embedder: string;
    readonly queries: number;
    readonly bySource: Readonly<Record<string, number>>;
    readonly channels: Readonly<Record<Channel, ChannelScores>>;
    readonly weights: readonly ChannelWeights[];
    readonly results: ReadonlyArray<{ readonly query: string; readonly source: string; readonly relevant: JudgedQuery['relevant'] } & Readonly<Record<Channel, ReadonlyArray<ReturnType<typeof refOf>>>>>;
    readonly target: { readonly text: string; readonly met: boolean; readonly ratio: number };
}

export async function runSearchQuality(args: SearchQualityArgs, log: (l: string) => void = console.log): Promise<SearchQualityReport> {
    log(`search quality: ${args.workspace}, embedder ${args.embedder}`);
    const embedder = await openEmbedder(args.embedder);
    try {
        const given = args.queries ? parseQueries(readFileSync(args.queries, 'utf8'), args.queries) : undefined;
        // The indexed copy: as it is for given queries; without docstrings for mined ones.
        const { index, chunks, files } = await indexFolder(args.workspace, embedder, given === undefined, log);
        const mined = mineDocQueries(chunks, { max: args.maxQueries });
        let judged: JudgedQuery[];
        let weightOf: (i: number) => ChannelWeights;
        const weights: ChannelWeights[] = [];
        if (given) {
            judged = given;
            weights.push(await weightsFor(index, mined, embedder));
            weightOf = () => weights[0];
        } else {
            // The docstrings are not in this copy: nothing to leave out when ranking.
            const docQueries = mined.map((q) => ({ query: q.query, answer: q.answer }));
            const halves = [docQueries.filter((_, i) => i % 2 === 0), docQueries.filter((_, i) => i % 2 === 1)];
            weights.push(await weightsFor(index, halves[1], embedder), await weightsFor(index, halves[0], embedder));
            const commits = await mineCommitQueries(args.workspace, files, args.maxQueries);
            judged = [...docQueries.map(asJudged), ...commits];
            // Docstring query i is judged with the weights of the half it is not in; commit queries
            // with the first half's (commits are not in either half).
            weightOf = (i) => (i < docQueries.length ? weights[i % 2] : weights[0]);
        }
        log(`  ${judged.length} queries (${[...new Set(judged.map((q) => q.source))].map((s) => `${judged.filter((q) => q.source === s).length} ${s}`).join(', ')}); weights ${weights.map((w) => `lexical ${w.lexical} / vector ${w.vector}`).join(', ')}`);
        const qv = await embedder.embed(
            judged.map((q) => q.query),
            'query',
        );
        const scores: Record<Channel, ChannelScores[]> = { lexical: [], vector: [], hybrid: [] };
        const results: Array<{ query: string; source: string; relevant: JudgedQuery['relevant'] } & Record<Channel, Array<ReturnType<typeof refOf>>>> = [];
        judged.forEach((q, i) => {
            const lexical = index.searchLexical(q.query, FUSION_DEPTH);
            const vector = index.searchVector(qv[i], FUSION_DEPTH);
            const w = weightOf(i);
            // The ranking the search view shows.
            const hybrid: SearchHit[] = hybridRanking(lexical, vector, w, FUSION_DEPTH);
            const lists: Record<Channel, readonly SearchHit[]> = { lexical, vector, hybrid };
            const row = { query: q.query, source: q.source, relevant: q.relevant } as { query: string; source: string; relevant: JudgedQuery['relevant'] } & Record<Channel, Array<ReturnType<typeof refOf>>>;
            for (const c of CHANNELS) {
                const refs = lists[c].map((h) => h.chunk);
                scores[c].push(scoreQuery(refs, q));
                row[c] = refs.slice(0, DEPTH).map(refOf);
            }
            results.push(row);
        });
        const channels = { lexical: meanScores(scores.lexical), vector: meanScores(scores.vector), hybrid: meanScores(scores.hybrid) };
        const ratio = channels.lexical.mrr10 > 0 ? channels.hybrid.mrr10 / channels.lexical.mrr10 : channels.hybrid.mrr10 > 0 ? Number.POSITIVE_INFINITY : 1;
        const need = args.embedder === 'generated' ? 0.98 : 1.05;
        const target = { text: `hybrid MRR@10 >= ${need}x lexical (${args.embedder})`, met: ratio >= need, ratio };
        const bySource: Record<string, number> = {};
        for (const q of judged) bySource[q.source] = (bySource[q.source] ?? 0) + 1;
        const report: SearchQualityReport = { workspace: relative(process.cwd(), args.workspace) || '.', embedder: args.embedder, queries: judged.length, bySource, channels, weights, results, target };
        mkdirSync(args.out, { recursive: true });
        writeFileSync(join(args.out, 'search-quality.json'), `${JSON.stringify(report, null, 1)}\n`);
        log('');
        log('| channel | MRR@10 | nDCG@10 | recall@20 |');
        log('|---|---|---|---|');
        for (const c of CHANNELS) log(`| ${c} | ${channels[c].mrr10.toFixed(3)} | ${channels[c].ndcg10.toFixed(3)} | ${channels[c].recall20.toFixed(3)} |`);
        log(`\n  ${target.met ? 'met    ' : 'NOT met'}  ${target.text}: ${ratio.toFixed(3)}x`);
        log(`wrote ${join(args.out, 'search-quality.json')}`);
        return report;
    } finally {
        await embedder.dispose();
    }
}
