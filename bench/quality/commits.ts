/**
 * Queries mined from a git repository's history: a commit's subject as the query, the files it
 * changed (those the index holds) as the answers, file-level. Merges, very short or generic
 * subjects and commits touching many files (where "the files it changed" says little) are left
 * out. Reads `git log` in the folder; a folder that is not a repository gives no queries.
 */
import { execFile } from 'node:child_process';
import type { JudgedQuery } from './metrics';

/** At most this many files changed for a commit to be a query. */
export const MAX_FILES_PER_COMMIT = 5;
const MIN_WORDS = 4;
const GENERIC = /^(wip|fixup!|squash!|merge|revert|bump|release|version|update readme|initial commit)\b/i;

/** The subjects and changed files of the last `scan` commits (newest first), or [] outside a repository. */
async function gitLog(dir: string, scan: number): Promise<Array<{ subject: string; files: string[] }>> {
    const out = await new Promise<string>((resolve) => {
        execFile('git', ['-C', dir, 'log', '--no-merges', `-n${scan}`, '--name-only', '--pretty=format:%x1e%s'], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout) =>
            resolve(err ? '' : stdout),
        );
    });
    return out
        .split('\x1e')
        .filter((r) => r.trim() !== '')
        .map((r) => {
            const [subject, ...files] = r.split('\n');
            return { subject: subject.trim(), files: files.map((f) => f.trim()).filter((f) => f !== '') };
        });
}

/**
 * Up to `max` commit queries over `indexed` (workspace-relative paths), newest first: subjects of
 * MIN_WORDS words or more, not generic, touching 1..MAX_FILES_PER_COMMIT files of which at least
 * one is indexed (only indexed files are answers).
 */
export async function mineCommitQueries(dir: string, indexed: ReadonlySet<string>, max: number): Promise<JudgedQuery[]> {
    const out: JudgedQuery[] = [];
    const seen = new Set<string>();
    for (const c of await gitLog(dir, Math.max(200, max * 10))) {
        if (out.length >= max) break;
        if (c.files.length === 0 || c.files.length > MAX_FILES_PER_COMMIT) continue;
        if (GENERIC.test(c.subject) || c.subject.split(/\s+/).length < MIN_WORDS || seen.has(c.subject)) continue;
        const relevant = c.files.filter((f) => indexed.has(f)).map((file) => ({ file }));
        if (relevant.length === 0) continue;
        seen.add(c.subject);
        out.push({ query: c.subject, relevant, source: 'commit' });
    }
    return out;
}
