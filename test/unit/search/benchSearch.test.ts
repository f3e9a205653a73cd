import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSearchArgs } from '../../../bench/cli';
import { runSearchMode, searchTargets, type SearchReport } from '../../../bench/modes/search';
import { lineWindows } from '../../../bench/modes/searchWorkspace/chunking';
import { syntheticEmbedder } from '../../../bench/modes/searchWorkspace/embedder';
import { syntheticWorkspace, WINDOW_LINES } from '../../../bench/modes/searchWorkspace/workspace';
import { cosine } from './indexFixtures';

const KEYS = [
    'files', 'chunks', 'dims', 'queryMs', 'bytesPerChunk', 'indexMemoryMB', 'diskMB', 'loadMs', 'diskMBAfter10Reindexes',
    'reembeddedChunksAfterOneFileEdit', 'changedChunksInThatEdit', 'editToSearchableMs', 'keystrokeP95WithIndexingMs', 'keystrokeP95IdleMs',
];

describe('bench --search: the search benchmark', function () {
    this.timeout(60_000);

    it('the generated workspace: exact chunk count, deterministic text, an edit changes one line', async () => {
        const ws = syntheticWorkspace(3, 50);
        assert.equal(ws.chunks, 500);
        let chunks = 0;
        for (let f = 0; f < ws.files; f++) chunks += (await lineWindows.chunk(ws.path(f), ws.text(f))).length;
        assert.equal(chunks, 500);
        assert.equal(syntheticWorkspace(3, 50).text(7), ws.text(7));
        const a = ws.text(7).split('\n');
        const b = ws.text(7, 2).split('\n');
        assert.equal(a.length, b.length);
        assert.equal(a.filter((line, i) => line !== b[i]).length, 1);
        assert.ok(b.some((line) => line.includes(ws.editMarker(7, 2))));
        assert.equal(a.length % WINDOW_LINES, 0);
    });

    it('the synthetic embedder: a pure function of module and text, clustered by module', () => {
        const e = syntheticEmbedder(1, 64);
        assert.deepEqual(e.embed(4, 'abc'), e.embed(4, 'abc'));
        assert.ok(cosine(e.embed(4, 'a'), e.embed(4, 'b')) > cosine(e.embed(4, 'a'), e.embed(5, 'b')));
    });

    it('runs on a small workspace and writes search.json with exactly the keys of issue 18 §5', async () => {
        const out = await fs.mkdtemp(join(tmpdir(), 'zeta-bench-search-'));
        try {
            const lines: string[] = [];
            const { report, targets } = await runSearchMode({ out, seed: 2, files: 30, sim: false }, (l) => lines.push(l));
            const written = JSON.parse(await fs.readFile(join(out, 'search.json'), 'utf8')) as SearchReport;
            assert.deepEqual(Object.keys(written), KEYS);
            assert.deepEqual(written, JSON.parse(JSON.stringify(report)));
            assert.equal(report.chunks, 300);
            assert.deepEqual(Object.keys(report.queryMs), ['384', '768']);
            assert.equal(report.reembeddedChunksAfterOneFileEdit, report.changedChunksInThatEdit);
            assert.ok(report.changedChunksInThatEdit > 0);
            assert.ok(report.diskMBAfter10Reindexes <= report.diskMB * 1.1);
            assert.ok(report.bytesPerChunk > 384 && report.bytesPerChunk < 600);
            assert.deepEqual((await fs.readdir(out)).sort(), ['search.json'], 'the index folder is removed');
            assert.equal(targets.length, 9);
            assert.ok(lines.some((l) => l.includes('reindex 10')));
        } finally {
            await fs.rm(out, { recursive: true, force: true });
        }
    });

    it('a target is met only when its value is known and within its limit', () => {
        const base: SearchReport = {
            files: 1, chunks: 1, dims: [384, 768], queryMs: { '384': { p50: 1, p95: 31 }, '768': { p50: 1, p95: 59 } }, bytesPerChunk: 500, indexMemoryMB: 10, diskMB: 10, loadMs: 10,
            diskMBAfter10Reindexes: 11.5, reembeddedChunksAfterOneFileEdit: 2, changedChunksInThatEdit: 2, editToSearchableMs: Number.NaN, keystrokeP95WithIndexingMs: 22, keystrokeP95IdleMs: 21,
        };
        const met = Object.fromEntries(searchTargets(base).map((t) => [t.id, t.met]));
        assert.deepEqual(met, { 'query-384': false, 'query-768': true, 'bytes-per-chunk': true, memory: true, load: true, 'disk-growth': false, reembed: true, 'edit-searchable': false, keystroke: true });
    });

    it('parses --search with --out, --seed and --files', () => {
        assert.deepEqual(parseSearchArgs(['--search', '--out', 'x', '--files', '100', '--seed', '4']), { out: 'x', seed: 4, files: 100, sim: true });
        assert.throws(() => parseSearchArgs(['--search', '--mode', 'sim']), /--search takes/);
        assert.throws(() => parseSearchArgs(['--search', '--files', '1.5']), /--files/);
    });
});
