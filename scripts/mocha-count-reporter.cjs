// Mocha reporter: the spec reporter's output, plus the suite's totals written as JSON to
// $ZETA_RESULTS_FILE so that scripts/test.mjs can sum every suite into one closing line.
'use strict';
const fs = require('node:fs');
const Mocha = require('mocha');

class CountReporter extends Mocha.reporters.Spec {
    constructor(runner, options) {
        super(runner, options);
        runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
            const file = process.env.ZETA_RESULTS_FILE;
            if (!file) return;
            const s = runner.stats ?? {};
            fs.writeFileSync(file, JSON.stringify({ passed: s.passes ?? 0, failed: s.failures ?? 0, skipped: s.pending ?? 0 }));
        });
    }
}
module.exports = CountReporter;
