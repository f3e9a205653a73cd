/**
 * The router over the real node-llama-cpp backend and the generated models (tiny preset): three
 * models, mixed tasks, superseded completions. Every request settles and no sequence leaks.
 * No timing assertions: only outcomes and counts.
 */
import { strict as assert } from 'node:assert';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelBackend, ModelSpec, Role } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { SupersededError, isAbortError } from '../../src/core/errors';
import { createFileTextStore, createRouter, defaultRoutingSettings, type ZetaRouter } from '../../src/core/router';
import { parseSpeeds } from '../../src/core/router/speeds';
import type { Levers, TextStore, PolicyName, Task, TaskResult } from '../../src/core/tasks';
import { createLlamaCppBackendFactory } from '../../src/backends';
import { EvalTurns } from '../../src/core/evalTurns';
import { tinyRuntime } from '../support/tinyRuntime';
import { FullLength } from '../../bench/real/setup';

type Outcome = { ok: true; value: TaskResult } | { ok: false; error: unknown };

function settle(p: Promise<TaskResult>): Promise<Outcome> {
    return p.then(
        (value) => ({ ok: true, value }),
        (error: unknown) => ({ ok: false, error }),
    );
}

function code(n: number, tag: string): string {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(`    const ${tag}${i} = compute(${i}, input);`);
    return `function ${tag}(input) {\n${lines.join('\n')}\n`;
}

function delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `p`, or undefined when it has not settled within `ms`; the timer is cleared either way (no lingering process). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
        return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)))]);
    } finally {
        clearTimeout(timer);
    }
}

describe('router over the real backend (tiny generated models)', function () {
    this.timeout(120_000);

    const tiny = tinyRuntime();

    /** @param fullLength generations never end early: the random models often sample end-of-generation soon (bench/real/setup.ts). */
    async function start(policy: PolicyName, speedStore?: TextStore, fullLength = false, levers: Partial<Levers> = {}): Promise<{ router: ZetaRouter; backends: ModelBackend[]; warnings: string[] }> {
        const clock = new SystemClock();
        // As the composition root does: one EvalTurns for the backends, which the router reads too.
        const turns = new EvalTurns();
        const factory = createLlamaCppBackendFactory({ runtime: tiny.provider, clock, turns });
        const backends: ModelBackend[] = [];
        const warnings: string[] = [];
        const spec = (role: Role): ModelSpec => ({ id: role, role, path: tiny.models[role], contextSize: 2048, slots: 2, threads: 1, gpuLayers: 0, fimTemplate: 'auto' });
        const router = createRouter({
            clock,
            turns,
            // Objectives are loose here: this test is about settling and leaks, not about dropping late work
            // on a machine shared with other test suites.
            settings: { ...defaultRoutingSettings(), policy, levers: { ...defaultRoutingSettings().levers, ...levers }, taskClasses: { ...defaultRoutingSettings().taskClasses, completion: { priority: 100, objectiveFactor: 50 } } },
            models: [spec('coder'), spec('reasoner'), spec('embedder')],
            speedStore,
            logger: { info: () => undefined, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
            createBackend: (s) => {
                const b = fullLength ? new FullLength(factory(s)) : factory(s);
                backends.push(b);
                return b;
            },
        });
        // Polled until loaded; the cap only catches a hang (the tiny models load in well under a second).
        const deadline = performance.now() + 90_000;
        while (!router.snapshot().models.every((m) => m.residency === 'loaded')) {
            const failed = router.snapshot().models.find((m) => m.residency === 'failed');
            if (failed) throw new Error(`model ${failed.id} failed: ${failed.error}`);
            if (performance.now() > deadline) throw new Error('models did not load within 90 s (a hang)');
            await delay(20);
        }
        return { router, backends, warnings };
    }

    for (const policy of ['zeta', 'static'] as const) {
        it(`${policy}: mixed tasks and superseded completions all settle; no sequence leaks`, async () => {
            const { router, backends, warnings } = await start(policy);
            const pending: Array<Promise<Outcome>> = [];
            const burst: Array<Promise<Outcome>> = [];
            const run = (task: Task, signal?: AbortSignal): Promise<Outcome> => {
                const p = settle(router.submit(task, signal));
                pending.push(p);
                return p;
            };

            const explain = run({ kind: 'explain', doc: 'b.ts', messages: [{ role: 'user', content: `Explain this:\n${code(8, 'b')}` }], maxTokens: 24 });
            const index = run({ kind: 'embed', texts: Array.from({ length: 12 }, (_, i) => code(3, `chunk${i}_`)) });
            const edit = run({ kind: 'edit', doc: 'c.ts', messages: [{ role: 'user', content: `Rename x to y:\n${code(4, 'x')}` }], maxTokens: 16 });
            // A typing burst: every keystroke a completion that supersedes the previous one.
            let prefix = code(20, 'a');
            for (let i = 0; i < 12; i++) {
                prefix += String.fromCharCode(97 + (i % 26));
                router.activity({ type: 'keystroke', doc: 'a.ts' });
                burst.push(run({ kind: 'completion', doc: 'a.ts', prefix, suffix: '\n}\n', maxTokens: 12 }));
                // The last two keystrokes come in the same tick: however fast this machine serves a
                // completion, the one before the last is superseded (the others may finish first).
                if (i < 10) await delay(15);
            }
            const query = run({ kind: 'embedQuery', texts: ['where is compute called'] });
            const other = run({ kind: 'completion', doc: 'd.ts', prefix: code(10, 'd'), suffix: '\n}\n', maxTokens: 8 });
            // A completion cancelled by the caller while it may be running.
            const ac = new AbortController();
            const cancelled = run({ kind: 'completion', doc: 'e.ts', prefix: code(30, 'e'), suffix: '\n}\n', maxTokens: 32 }, ac.signal);
            await delay(5);
            ac.abort(new Error('user moved the cursor'));

            const settled = await within(Promise.all(pending), 90_000);
            assert.ok(settled, 'every request settled');

            const last = await burst[burst.length - 1];
            assert.ok(last.ok, `the last keystroke's completion is served: ${!last.ok ? String(last.error) : ''}`);
            assert.equal(typeof last.value.text, 'string');
            for (const p of burst.slice(0, -1)) {
                const o = await p;
                if (!o.ok) assert.ok(o.error instanceof SupersededError, `superseded, got ${String(o.error)}`);
            }
            assert.ok((await Promise.all(burst.slice(0, -1))).some((o) => !o.ok), 'at least one completion was superseded');
            for (const [name, p] of [['explain', explain], ['index', index], ['edit', edit], ['query', query], ['other', other]] as const) {
                const o = await p;
                assert.ok(o.ok, `${name}: ${!o.ok ? String(o.error) : ''}`);
            }
            const idx = await index;
            assert.ok(idx.ok && idx.value.vectors?.length === 12 && idx.value.space !== undefined);
            const c = await cancelled;
            assert.ok(c.ok || isAbortError(c.error) || (c.error as Error).message === 'user moved the cursor');

            for (const b of backends) assert.equal(b.stats().inFlight, 0, 'no sequence leaked');
            const snap = router.snapshot();
            assert.ok(snap.models.every((m) => m.inFlight === 0 && m.queued === 0));
            assert.ok(snap.recentDecisions.length > 0 && snap.recentDecisions.every((d) => d.reason.length > 0));
            await router.dispose();
            for (const b of backends) assert.equal(b.stats().loaded, false);
            assert.deepEqual(warnings, []);
        });
    }

    it('zeta: while an explanation waits for its first token, completions the next keystroke supersedes stop after their first token; the last is served in full', async () => {
        // Spill off: the explanations stay on the reasoner, so one can wait there behind the others.
        const { router, warnings } = await start('zeta', undefined, true, { spill: false });
        const GAP_MS = 80;
        const GEN = 128;
        // The coder reads the document once (later keystrokes reuse it) and measures its speeds.
        let prefix = code(20, 'h');
        const warm = await settle(router.submit({ kind: 'completion', doc: 'h.ts', prefix, suffix: '\n}\n', maxTokens: GEN }));
        assert.ok(warm.ok, !warm.ok ? String(warm.error) : '');
        assert.equal(warm.value.generatedTokens, GEN, 'the router predicts the rest from what the warm-up generated');
        // This user types GAP_MS apart, and a GEN-token completion takes several times as long, so the
        // hold does not depend on this machine's speed: a first token up to ~GAP_MS late still holds.
        for (let i = 0; i < 12; i++) {
            router.activity({ type: 'keystroke', doc: 'other.ts' });
            await delay(GAP_MS);
        }
        const burst = async (n: number, atLastKey?: () => void): Promise<{ outcomes: Outcome[]; tokens: number[] }> => {
            const tokens: number[] = [];
            const pending: Array<Promise<Outcome>> = [];
            for (let i = 0; i < n; i++) {
                prefix += String.fromCharCode(97 + i);
                tokens.push(0);
                router.activity({ type: 'keystroke', doc: 'h.ts' });
                if (i === n - 1) atLastKey?.();
                pending.push(settle(router.submit({ kind: 'completion', doc: 'h.ts', prefix, suffix: '\n}\n', maxTokens: GEN, onToken: () => void tokens[i]++ })));
                await delay(GAP_MS);
            }
            return { outcomes: await Promise.all(pending), tokens };
        };
        // Nothing else waits: no hold (it would only make the suggestion shown later).
        const alone = await burst(4);
        const lastAlone = alone.outcomes[alone.outcomes.length - 1];
        assert.ok(lastAlone.ok, !lastAlone.ok ? String(lastAlone.error) : '');
        assert.doesNotMatch(lastAlone.value.decision.reason, /stopped \d+ ms after its first token/);
        // Three explanations: two stream long answers on the reasoner's two slots, the third waits
        // behind them for its first token through the burst.
        let explainStarted = false;
        const ask = (tag: string, maxTokens: number, onToken?: () => void): Promise<Outcome> =>
            settle(router.submit({ kind: 'explain', doc: `${tag}.ts`, messages: [{ role: 'user', content: `Explain this:\n${code(20, tag)}` }], maxTokens, onToken }));
        const first = Promise.all([ask('x', 1_500), ask('z', 1_500)]);
        const explain = ask('y', 8, () => (explainStarted = true));
        // Whether the explanation still waited for its first token at the burst's last keystroke.
        let waitingAtLastKey = false;
        const { outcomes, tokens } = await burst(8, () => (waitingAtLastKey = !explainStarted));
        const last = outcomes[outcomes.length - 1];
        assert.ok(last.ok, !last.ok ? String(last.error) : '');
        const ex = await explain;
        assert.ok(ex.ok, !ex.ok ? String(ex.error) : '');
        assert.ok((await first).every((o) => o.ok));
        // Only meaningful if the explanation was still waiting while the burst ran.
        assert.ok(waitingAtLastKey, 'the explanation had its first token before the burst ended');
        assert.match(last.value.decision.reason, /stopped \d+ ms after its first token/);
        assert.ok(last.value.generatedTokens > 1, `the served one generated ${last.value.generatedTokens} tokens`);
        for (const [i, o] of outcomes.slice(0, -1).entries()) {
            assert.ok(!o.ok && o.error instanceof SupersededError, `#${i} superseded`);
            assert.ok(tokens[i] <= 1, `#${i} streamed ${tokens[i]} pieces after it was likely to be superseded`);
        }
        await router.dispose();
        assert.deepEqual(warnings, []);
    });

    it('zeta: the coder reads a document ahead of the first keystroke, which then evaluates a token or two', async () => {
        const { router, warnings } = await start('zeta');
        // As the completion tiny.provider builds it: the cursor line goes after the middle marker.
        const prefix = code(30, 'r');
        const middle = '    const total = ';
        router.readAhead({ kind: 'completion', doc: 'r.ts', prefix, middle, suffix: '\n}\n', maxTokens: 8 });
        assert.ok(router.snapshot().recentDecisions.some((d) => /read ahead/.test(d.reason) && d.chosen === 'coder'));
        const deadline = performance.now() + 90_000;
        while (router.snapshot().models.some((m) => m.inFlight + m.queued > 0)) {
            if (performance.now() > deadline) throw new Error('the read did not finish within 90 s (a hang)');
            await delay(20);
        }
        const o = await settle(router.submit({ kind: 'completion', doc: 'r.ts', prefix, middle: `${middle}x`, suffix: '\n}\n', maxTokens: 8 }));
        assert.ok(o.ok, !o.ok ? String(o.error) : '');
        assert.equal(o.value.modelId, 'coder', o.value.decision.reason);
        assert.ok(o.value.promptTokens > 200);
        assert.ok(o.value.promptTokens - o.value.reusedPromptTokens <= 4, `evaluated ${o.value.promptTokens - o.value.reusedPromptTokens} of ${o.value.promptTokens}`);
        await router.dispose();
        assert.deepEqual(warnings, []);
    });

    it('keeps the speeds it measured in a file; the next router starts from them before any work', async () => {
        const dir = await mkdtemp(join(tmpdir(), 'zeta-speeds-'));
        const store = () => createFileTextStore(join(dir, 'speeds.json'), { readFile, writeFile, rename, mkdir, access });
        try {
            const first = await start('zeta', store());
            for (const [doc, n] of [['s1.ts', 6], ['s2.ts', 30], ['s3.ts', 14]] as const) {
                const o = await settle(first.router.submit({ kind: 'completion', doc, prefix: code(n, 's'), suffix: '\n}\n', maxTokens: 8 }));
                assert.ok(o.ok, !o.ok ? String(o.error) : '');
            }
            const measured = first.router.snapshot().models.find((m) => m.id === 'coder')!;
            assert.ok(measured.promptTokensPerSec !== undefined && measured.decodeTokensPerSec !== undefined);
            await first.router.dispose();
            const file = parseSpeeds(await readFile(join(dir, 'speeds.json'), 'utf8'));
            assert.ok(Object.keys(file.models).length >= 1);

            const second = await start('zeta', store());
            const restored = second.router.snapshot().models.find((m) => m.id === 'coder')!;
            assert.ok(Math.abs(restored.promptTokensPerSec! - measured.promptTokensPerSec!) < 1e-6, `${restored.promptTokensPerSec} vs ${measured.promptTokensPerSec}`);
            assert.ok(Math.abs(restored.decodeTokensPerSec! - measured.decodeTokensPerSec!) < 1e-6);
            await second.router.dispose();
            assert.deepEqual([...first.warnings, ...second.warnings], []);
        } finally {
            await rm(dir, { recursive: true, force: true });
        }
    });
});
