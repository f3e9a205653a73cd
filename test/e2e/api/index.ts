/**
 * Entry point of the API suite, loaded by VS Code's extension host as `extensionTestsPath`
 * (test-electron's contract: `run()` resolves when the suite passes, rejects when it fails).
 *
 * Runs in the real Node extension host of the workbench, with the packaged Zeta as the development
 * extension. Mocha's output reaches the page's console (test/e2e/run.mjs echoes it); the totals are
 * also written as {"passed":N,"failed":N,"skipped":N} to $ZETA_E2E_API_RESULTS, which the runner reads.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

/** Every line the suite prints starts with this, so the runner can pick them out of the page's console. */
const MARK = '[zeta-e2e]';

/**
 * One preformatted string per console call: the page's console shows format arguments (%s) of
 * multi-argument calls unexpanded, so the spec reporter's output would be unreadable there.
 */
class LineReporter {
    constructor(runner: Mocha.Runner) {
        const { EVENT_SUITE_BEGIN, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;
        runner.on(EVENT_SUITE_BEGIN, (suite: Mocha.Suite) => {
            if (suite.title) console.log(`${MARK} ${suite.fullTitle()}`);
        });
        runner.on(EVENT_TEST_PASS, (test: Mocha.Test) => console.log(`${MARK}   ✔ ${test.title} (${test.duration ?? 0} ms)`));
        runner.on(EVENT_TEST_PENDING, (test: Mocha.Test) => console.log(`${MARK}   - ${test.title} (skipped)`));
        runner.on(EVENT_TEST_FAIL, (test: Mocha.Test, err: Error) => {
            const stack = (err.stack ?? String(err)).split('\n').slice(0, 8).join(`\n${MARK}       `);
            console.log(`${MARK}   ✘ ${test.title}\n${MARK}       ${stack}`);
        });
    }
}

export function run(): Promise<void> {
    const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: false, reporter: LineReporter as unknown as Mocha.ReporterConstructor });
    mocha.addFile(path.join(__dirname, 'zeta.test.js'));
    mocha.addFile(path.join(__dirname, 'limits.test.js'));
    mocha.addFile(path.join(__dirname, 'remoteModels.test.js'));
    return new Promise((resolve, reject) => {
        const runner = mocha.run((failures) => {
            const stats = runner.stats ?? { passes: 0, failures, pending: 0 };
            const totals = { passed: stats.passes, failed: stats.failures, skipped: stats.pending };
            const file = process.env.ZETA_E2E_API_RESULTS;
            if (file) writeFileSync(file, JSON.stringify(totals));
            console.log(`${MARK} ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
            if (failures > 0) reject(new Error(`${failures} API test(s) failed`));
            else resolve();
        });
    });
}
