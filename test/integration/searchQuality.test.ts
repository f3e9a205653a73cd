/**
 * The quality benchmark on a real folder (the demo workspace) with its hand-written queries and the
 * generated embedder through llama.cpp: the report has the shape issue 18 asks for, every query's
 * ranked results, and hybrid is no worse than lexical with an embedder whose vectors are near chance.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSearchQualityArgs, runSearchQuality } from '../../bench/modes/searchQuality';

describe('bench --search-quality on the demo workspace (generated embedder)', function () {
    this.timeout(300_000);

    it('writes search-quality.json: per-channel metrics and every query\'s results; hybrid >= 0.98x lexical', async () => {
        const out = mkdtempSync(join(tmpdir(), 'zeta-sq-'));
        try {
            const args = parseSearchQualityArgs(['--search-quality', '--workspace', 'demo/workspace', '--queries', 'bench/quality/demo-queries.jsonl', '--embedder', 'generated', '--out', out]);
            const report = await runSearchQuality(args, () => undefined);
            const json = JSON.parse(readFileSync(join(out, 'search-quality.json'), 'utf8')) as typeof report;
            assert.equal(json.queries, readFileSync('bench/quality/demo-queries.jsonl', 'utf8').trim().split('\n').length);
            for (const c of ['lexical', 'vector', 'hybrid'] as const) {
                for (const m of ['mrr10', 'ndcg10', 'recall20'] as const) assert.ok(json.channels[c][m] >= 0 && json.channels[c][m] <= 1, `${c} ${m}`);
            }
            assert.equal(json.results.length, json.queries);
            for (const r of json.results) {
                for (const c of ['lexical', 'vector', 'hybrid'] as const) {
                    assert.ok(r[c].length <= 20);
                    for (const h of r[c]) assert.ok(typeof h.file === 'string' && h.startLine >= 1 && h.endLine >= h.startLine);
                }
            }
            assert.ok(json.channels.lexical.mrr10 > 0.3, 'the words channel finds the hand-written answers');
            assert.ok(json.channels.hybrid.mrr10 >= 0.98 * json.channels.lexical.mrr10, `hybrid ${json.channels.hybrid.mrr10} vs lexical ${json.channels.lexical.mrr10}`);
            assert.equal(report.target.met, true);
        } finally {
            rmSync(out, { recursive: true, force: true });
        }
    });
});
