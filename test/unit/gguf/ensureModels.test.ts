import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { readGguf } from '../../../src/core/gguf/reader';
import { SYNTHETIC_ROLES } from '../../../src/core/gguf/synthetic';
import { REPO_ROOT, type SyntheticModels } from '../../../scripts/generatedModels';

const run = promisify(execFile);

/** ensureModels in a separate Node process, as a second mocha process would call it. */
async function ensureInChild(root: string): Promise<SyntheticModels> {
    const code = `require('./scripts/generatedModels').ensureModels('tiny', { root: ${JSON.stringify(root)} })` +
        '.then((m) => process.stdout.write(JSON.stringify(m)), (e) => { console.error(e); process.exit(1); });';
    const { stdout } = await run(process.execPath, ['--require', 'tsx/cjs', '-e', code], { cwd: REPO_ROOT });
    return JSON.parse(stdout) as SyntheticModels;
}

describe('ensureModels (scripts/generatedModels.ts)', function () {
    this.timeout(60_000);
    let root: string;

    before(async () => {
        root = await mkdtemp(path.join(tmpdir(), 'zeta-ensure-models-'));
    });

    after(async () => {
        await rm(root, { recursive: true, force: true });
    });

    it('two processes generating at once both get complete, identical, sound files', async () => {
        const [a, b] = await Promise.all([ensureInChild(root), ensureInChild(root)]);
        assert.deepEqual(a, b);
        assert.equal(a.dir, path.join(root, 'tiny'));
        const stamp = JSON.parse(await readFile(path.join(a.dir, 'stamp.json'), 'utf8')) as { bytes: Record<string, number> };
        for (const role of SYNTHETIC_ROLES) {
            const bytes = await readFile(a[role]);
            assert.equal(readGguf(bytes).status, 'ok', role);
            assert.equal(bytes.length, stamp.bytes[role]);
        }
    });

    it('keeps fresh files and regenerates stale or damaged ones', async () => {
        const models = await ensureInChild(root);
        const mtime = async (): Promise<number> => (await stat(models.coder)).mtimeMs;
        const before = await mtime();
        await ensureInChild(root);
        assert.equal(await mtime(), before, 'fresh files are not rewritten');

        await truncate(models.coder, 1000);
        await ensureInChild(root);
        assert.equal(readGguf(await readFile(models.coder)).status, 'ok', 'a damaged file is rewritten');

        const stampFile = path.join(models.dir, 'stamp.json');
        const stamp = JSON.parse(await readFile(stampFile, 'utf8')) as { generatorVersion: number };
        await writeFile(stampFile, JSON.stringify({ ...stamp, generatorVersion: 0 }));
        await ensureInChild(root);
        assert.equal((JSON.parse(await readFile(stampFile, 'utf8')) as { generatorVersion: number }).generatorVersion, stamp.generatorVersion);
    });
});
