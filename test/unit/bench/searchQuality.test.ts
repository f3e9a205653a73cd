import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSearchQualityArgs } from '../../../bench/modes/searchQuality';
import { mineCommitQueries } from '../../../bench/quality/commits';
import { judgedRanking, meanScores, parseQueries, scoreQuery, type JudgedQuery } from '../../../bench/quality/metrics';

const ref = (file: string, startLine = 1, endLine = 5) => ({ file, startLine, endLine });

describe('bench --search-quality: metrics', () => {
    it('range-level: a result is relevant when it overlaps the range in the file', () => {
        const q: JudgedQuery = { query: 'q', relevant: [{ file: 'a.ts', startLine: 10, endLine: 20 }], source: 'file' };
        const s = scoreQuery([ref('a.ts', 1, 9), ref('b.ts'), ref('a.ts', 18, 30)], q);
        assert.equal(s.mrr10, 1 / 3);
        assert.ok(Math.abs(s.ndcg10 - 1 / Math.log2(4)) < 1e-12);
        assert.equal(s.recall20, 1);
        assert.equal(scoreQuery([ref('a.ts', 1, 9)], q).mrr10, 0);
    });

    it('file-level: ranked chunks become ranked files, each file once', () => {
        const q: JudgedQuery = { query: 'q', relevant: [{ file: 'c.ts' }, { file: 'd.ts' }], source: 'commit' };
        const hits = [ref('a.ts'), ref('a.ts', 6, 9), ref('c.ts'), ref('c.ts', 6, 9), ref('d.ts')];
        assert.deepEqual(judgedRanking(hits, q).map((h) => h.file), ['a.ts', 'c.ts', 'd.ts']);
        const s = scoreQuery(hits, q);
        assert.equal(s.mrr10, 1 / 2);
        assert.equal(s.recall20, 1);
        assert.ok(Math.abs(s.ndcg10 - (1 / Math.log2(3) + 1 / Math.log2(4)) / (1 + 1 / Math.log2(3))) < 1e-12);
    });

    it('means over queries, zeros for none', () => {
        assert.deepEqual(meanScores([]), { mrr10: 0, ndcg10: 0, recall20: 0 });
        assert.equal(meanScores([{ mrr10: 1, ndcg10: 1, recall20: 1 }, { mrr10: 0, ndcg10: 0, recall20: 0 }]).mrr10, 0.5);
    });

    it('reads a queries file and says which line is wrong', () => {
        const qs = parseQueries('{"query":"a","relevant":[{"file":"./x.ts","startLine":3}]}\n\n{"query":"b","relevant":[{"file":"y.ts"}]}\n', 'q.jsonl');
        assert.deepEqual(qs[0].relevant, [{ file: 'x.ts', startLine: 3, endLine: 3 }]);
        assert.deepEqual(qs[1].relevant, [{ file: 'y.ts' }]);
        assert.throws(() => parseQueries('{"query":"a"}', 'q.jsonl'), /q\.jsonl:1: "relevant" must be a non-empty array/);
        assert.throws(() => parseQueries('nope', 'q.jsonl'), /q\.jsonl:1: not JSON/);
        assert.throws(() => parseQueries('{"query":"a","relevant":[{"file":"x","startLine":0}]}', 'q.jsonl'), /startLine must be a line number/);
    });

    it('parses its flags and refuses a missing workspace', () => {
        const a = parseSearchQualityArgs(['--search-quality', '--workspace', 'demo/workspace', '--embedder', 'use-lite', '--out', 'o']);
        assert.equal(a.embedder, 'use-lite');
        assert.match(a.workspace, /demo\/workspace$/);
        assert.throws(() => parseSearchQualityArgs(['--search-quality']), /needs --workspace/);
        assert.throws(() => parseSearchQualityArgs(['--search-quality', '--workspace', 'x', '--bogus']), /unknown argument/);
    });

    it('mines commit subjects as queries with the indexed files they changed, skipping generic and wide commits', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'zeta-git-'));
        try {
            const git = (...args: string[]): string => execFileSync('git', ['-C', dir, '-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { encoding: 'utf8' });
            git('init', '-q');
            const commit = (files: string[], subject: string): void => {
                for (const f of files) writeFileSync(join(dir, f), `${subject}\n${Math.random()}\n`);
                git('add', '.');
                git('commit', '-q', '-m', subject);
            };
            commit(['a.ts'], 'Parse the trace file lazily');
            commit(['b.ts', 'notes.bin'], 'Cache the speed profile between runs');
            commit(['a.ts'], 'wip');
            commit(['a.ts', 'b.ts', 'c.ts', 'd.ts', 'e.ts', 'f.ts'], 'Rename every module for the new layout');
            const qs = await mineCommitQueries(dir, new Set(['a.ts', 'b.ts']), 10);
            assert.deepEqual(
                qs.map((q) => [q.query, q.relevant.map((r) => r.file)]),
                [
                    ['Cache the speed profile between runs', ['b.ts']],
                    ['Parse the trace file lazily', ['a.ts']],
                ],
            );
            assert.deepEqual(await mineCommitQueries(join(dir, 'nowhere'), new Set(), 10), [], 'not a repository: none');
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
