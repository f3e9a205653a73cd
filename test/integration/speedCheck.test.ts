/**
 * Real mode's speed check (bench/real/speedCheck.ts `measureSpeedCheck`) on the generated full models
 * through the llama.cpp backend: what the prediction scales the profile by (FINDINGS F37).
 */
import { strict as assert } from 'node:assert';
import { ROLES } from '../../src/core/backend';
import { measureSpeedCheck } from '../../bench/real/speedCheck';
import { realSetup, type RealSetup } from '../../bench/real/setup';

describe('bench speed check (real inference)', function () {
    this.timeout(120_000);
    let setup: RealSetup;

    before(async () => {
        setup = await realSetup(1);
    });

    after(async () => {
        await setup?.provider.dispose();
    });

    it('times each model\'s one-token keystroke and decode step, and the embedder\'s embedding, as positive ms', async () => {
        const check = await measureSpeedCheck(setup, 2.7);
        for (const role of ROLES) {
            const m = check.models[role];
            assert.ok(m, role);
            assert.ok(Number.isFinite(m.oneTokenMs) && m.oneTokenMs > 0, `${role} oneTokenMs ${m.oneTokenMs}`);
            assert.ok(Number.isFinite(m.decodeMs) && m.decodeMs > 0, `${role} decodeMs ${m.decodeMs}`);
            // A keystroke of one token after a cached 448-token prompt is one native call, far below the prompt's own read.
            assert.ok(m.oneTokenMs < 250, `${role} oneTokenMs ${m.oneTokenMs}`);
        }
        assert.ok((check.models.embedder.embedMs ?? 0) > 0);
        assert.equal(check.models.coder.embedMs, undefined);
        assert.equal(check.models.reasoner.embedMs, undefined);
        // The check unloads what it loaded: a second one starts from nothing and still works.
        const again = await measureSpeedCheck(setup, 2.7);
        assert.ok(again.models.coder.oneTokenMs > 0);
    });
});
