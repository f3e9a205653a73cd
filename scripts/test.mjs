#!/usr/bin/env node
// Runs every test suite in turn and prints, as its very last line, the totals over all suites:
// "N passed, N failed" (", N skipped" when any were skipped). A suite that crashes without
// writing its totals counts as one failure, so a broken suite can never look green.
//
// Each suite writes {"passed":N,"failed":N,"skipped":N} to $ZETA_RESULTS_FILE.
// Usage: npm test [-- unit integration faults e2e]  (default: all suites)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const reporter = ['--reporter', './scripts/mocha-count-reporter.cjs'];
const suites = [
    { name: 'unit', cmd: ['npx', 'mocha', '--config', '.mocharc.unit.json', ...reporter] },
    { name: 'integration', cmd: ['npx', 'mocha', '--config', '.mocharc.integration.json', ...reporter] },
    { name: 'faults', cmd: ['npx', 'mocha', '--config', '.mocharc.faults.json', ...reporter] },
    { name: 'e2e', cmd: ['node', 'test/e2e/run.mjs'], when: () => existsSync('test/e2e/run.mjs') },
];

const wanted = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'zeta-test-'));
let passed = 0, failed = 0, skipped = 0;
const lines = [];
for (const suite of suites) {
    if (wanted.length > 0 && !wanted.includes(suite.name)) continue;
    if (suite.when && !suite.when()) continue;
    const file = join(dir, `${suite.name}.json`);
    console.log(`\n=== ${suite.name} ===`);
    const t0 = Date.now();
    const r = spawnSync(suite.cmd[0], suite.cmd.slice(1), { stdio: 'inherit', env: { ...process.env, ZETA_RESULTS_FILE: file } });
    let counts;
    try {
        counts = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
        counts = { passed: 0, failed: 1, skipped: 0 };
        console.log(`suite ${suite.name} exited ${r.status ?? r.signal} without reporting results: counted as 1 failure`);
    }
    if (r.status !== 0 && counts.failed === 0) {
        counts.failed = 1;
        console.log(`suite ${suite.name} exited ${r.status ?? r.signal} with no failing test: counted as 1 failure`);
    }
    passed += counts.passed; failed += counts.failed; skipped += counts.skipped ?? 0;
    lines.push(`${suite.name}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped ?? 0} skipped (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}
rmSync(dir, { recursive: true, force: true });
console.log('\n' + lines.join('\n'));
console.log(`${passed} passed, ${failed} failed` + (skipped > 0 ? `, ${skipped} skipped` : ''));
process.exit(failed > 0 ? 1 : 0);
