/**
 * Real mode's speed check (bench/real/speedCheck.ts `measureSpeedCheck`) on the generated full models
 * through the llama.cpp backend: what the prediction scales the profile by (FINDINGS F37).
 * What the times are is the benchmark's business (it scales the profile by their ratios); here, that
 * each is measured, and that the one-token keystroke it times is one: the cached prompt is reused.
 */
import { strict as assert } from 'node:assert';
import { ROLES, type ModelBackend, type Role } from '../../src/core/backend';
import { measureSpeedCheck } from '../../bench/real/speedCheck';
import { realSetup, type RealSetup } from '../../bench/real/setup';

describe('bench speed check (real inference)', function () {
    this.timeout(120_000);
    let setup: RealSetup;
    /** Every backend the checks created, by role, in creation order. */
    const created: Array<{ role: Role; backend: ModelBackend }> = [];

    before(async () => {
        const real = await realSetup(1);
        setup = {
            ...real,
            createBackend: (spec) => {
                const backend = real.createBackend(spec);
                created.push({ role: spec.role, backend });
                return backend;
            },
        };
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
        }
        assert.ok((check.models.embedder.embedMs ?? 0) > 0);
        assert.equal(check.models.coder.embedMs, undefined);
        assert.equal(check.models.reasoner.embedMs, undefined);
        // The keystrokes it timed followed the cached prompt: one read of it, then a token or two per
        // request (the check sends it once, then again three times and once more for the decode step).
        assert.deepEqual(created.map((c) => c.role), [...ROLES]);
        for (const { role, backend } of created) {
            const s = backend.stats();
            assert.equal(s.loaded, false, `${role}: the check unloads what it loaded`);
            assert.ok(s.promptTokensReused >= 4 * 200, `${role}: reused ${s.promptTokensReused} prompt tokens`);
            assert.ok(s.promptTokensEvaluated <= s.promptTokensReused / 4 + 12, `${role}: evaluated ${s.promptTokensEvaluated}, reused ${s.promptTokensReused}`);
        }
        // The check unloads what it loaded: a second one starts from nothing and still works.
        const again = await measureSpeedCheck(setup, 2.7);
        assert.ok(again.models.coder.oneTokenMs > 0);
    });
});
