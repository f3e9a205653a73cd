/**
 * The soak's pure parts (bench/soak/): settle accounting, the RSS slope, soak.json's shape and
 * invariants, the lifecycle changes, the epochs and the command line. No models, no timing.
 */
import * as assert from 'node:assert/strict';
import type { ModelSpec } from '../../../src/core/backend';
import { SupersededError, abortError } from '../../../src/core/errors';
import { defaultRoutingSettings } from '../../../src/core/router';
import { parseSoakArgs } from '../../../bench/soak/args';
import { SettleLedger, classifyRejection, promiseOf } from '../../../bench/soak/ledger';
import { CHANGE_KINDS, TIGHT_KEEP_ALIVE_MS, drawChange } from '../../../bench/soak/lifecycle';
import { ISSUE_KEYS, MAX_RSS_SLOPE_MB_PER_HOUR, MIN_SLOPE_SAMPLES, leastSquaresSlope, slopeMBPerHour, soakReport, type MemorySample, type SoakMeasurements } from '../../../bench/soak/report';
import { SOAK_SPECS, epochTrace } from '../../../bench/soak/workload';
import { createRng } from '../../../bench/lib/rng';

const HOUR = 3_600_000;

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
    });
    return { promise, resolve, reject };
}

describe('soak: settle accounting', () => {
    it('counts a request when tracked and settled when it resolves or rejects, by outcome and kind', async () => {
        const ledger = new SettleLedger();
        const a = deferred<string | undefined>();
        const b = deferred<string | undefined>();
        const c = deferred<string>();
        const d = deferred<string>();
        const e = deferred<string>();
        const ta = ledger.track('completion', a.promise);
        const tb = ledger.track('completion', b.promise);
        const tc = ledger.track('completion', c.promise);
        const td = ledger.track('explain', d.promise);
        const te = ledger.track('embed', e.promise);
        assert.equal(ledger.requests, 5);
        assert.equal(ledger.settled, 0);
        assert.equal(ledger.pending, 5);

        a.resolve('text');
        b.resolve(undefined);
        c.reject(new SupersededError('a.ts'));
        d.reject(abortError('the panel was closed'));
        await Promise.all([ta, tb, tc, td]);
        assert.equal(ledger.settled, 4);
        assert.equal(ledger.pending, 1);

        e.reject(new Error('queue full'));
        const r = await te;
        assert.equal(r.ok, false);
        assert.equal(ledger.requests, ledger.settled);
        assert.deepEqual(ledger.outcomes(), { served: 1, empty: 1, superseded: 1, cancelled: 1, failed: 1 });
        assert.deepEqual(ledger.byKind(), {
            completion: { requests: 3, resolved: 2, rejected: 1 },
            embed: { requests: 1, resolved: 0, rejected: 1 },
            explain: { requests: 1, resolved: 0, rejected: 1 },
        });
        assert.deepEqual(ledger.errors(), [{ message: 'queue full', count: 1 }]);
    });

    it('a tracked rejection is handled: track never rejects, and no unhandled rejection follows', async () => {
        const seen: unknown[] = [];
        const onUnhandled = (reason: unknown): void => {
            seen.push(reason);
        };
        process.on('unhandledRejection', onUnhandled);
        try {
            const ledger = new SettleLedger();
            const r = await ledger.track('edit', Promise.reject(new Error('boom')));
            assert.equal(r.ok, false);
            // A synchronous throw becomes a counted rejection too.
            const s = await ledger.track(
                'edit',
                promiseOf(() => {
                    throw new Error('sync');
                }),
            );
            assert.equal(s.ok, false);
            assert.equal(ledger.settled, 2);
            await new Promise((resolve) => setImmediate(resolve));
            assert.deepEqual(seen, []);
        } finally {
            process.off('unhandledRejection', onUnhandled);
        }
    });

    it('keeps at most 20 distinct failure messages, counting the rest together', async () => {
        const ledger = new SettleLedger();
        await Promise.all(Array.from({ length: 25 }, (_, i) => ledger.track('embed', Promise.reject(new Error(`error ${i}`)))));
        const errors = ledger.errors();
        assert.equal(errors.length, 21);
        assert.equal(errors.reduce((a, e) => a + e.count, 0), 25);
        assert.deepEqual(errors[0], { message: '(other messages)', count: 5 });
    });

    it('classifies rejections: superseded, other aborts, failures', () => {
        assert.equal(classifyRejection(new SupersededError('x')), 'superseded');
        assert.equal(classifyRejection(abortError()), 'cancelled');
        assert.equal(classifyRejection(new Error('deadline')), 'failed');
        assert.equal(classifyRejection('a string'), 'failed');
    });
});

describe('soak: the RSS slope', () => {
    it('least squares recovers the slope of a line and of a noisy line', () => {
        const xs = [0, 1, 2, 3, 4, 5];
        assert.equal(leastSquaresSlope(xs, xs.map((x) => 3 * x + 7)), 3);
        // Symmetric noise around 2x: the fit is still 2.
        const noisy = [0, 2 + 1, 4 - 1, 6 + 1, 8 - 1, 10];
        assert.ok(Math.abs((leastSquaresSlope(xs, noisy) as number) - 2) < 0.2);
        assert.equal(leastSquaresSlope([1], [1]), null);
        assert.equal(leastSquaresSlope([2, 2, 2], [1, 2, 3]), null);
    });

    it('is in MB per hour over the samples after warm-up only', () => {
        // 10 MB/hour after warm-up; a steep climb before it (loading) that must not count.
        const samples: MemorySample[] = [];
        for (let i = 0; i <= 12; i++) {
            const atMs = i * 600_000; // every 10 minutes for 2 hours
            const rssMB = i < 3 ? 100 * i : 300 + (10 * (atMs - 1_800_000)) / HOUR;
            samples.push({ atMs, rssMB, heapUsedMB: 50 });
        }
        assert.equal(slopeMBPerHour(samples, 1_800_000), 10);
        assert.ok((slopeMBPerHour(samples, 0) as number) > 10);
        assert.equal(slopeMBPerHour(samples, 1_800_000, (s) => s.heapUsedMB), 0);
    });

    it('is null with too few samples after warm-up, and ignores samples without the figure', () => {
        const samples: MemorySample[] = Array.from({ length: MIN_SLOPE_SAMPLES + 2 }, (_, i) => ({ atMs: i * 10_000, rssMB: 100 + i, heapUsedMB: 10 }));
        assert.equal(slopeMBPerHour(samples, 3 * 10_000), null);
        assert.notEqual(slopeMBPerHour(samples, 0), null);
        assert.equal(slopeMBPerHour(samples, 0, (s) => s.rssAnonMB), null);
    });
});

function measurements(over: Partial<SoakMeasurements> = {}): SoakMeasurements {
    const samples: MemorySample[] = Array.from({ length: 10 }, (_, i) => ({ atMs: i * 10_000, rssMB: 400, rssAnonMB: 120, heapUsedMB: 60 }));
    return {
        minutes: 1.5,
        requests: 10,
        settled: 10,
        leakedSequences: 0,
        leakedContexts: 0,
        unhandledRejections: 0,
        minutesRequested: 1.5,
        stoppedEarly: false,
        seed: 1,
        models: 'test',
        allocator: 'default',
        warmupMs: 18_000,
        sampleEveryMs: 10_000,
        samplesSkipped: 0,
        outcomes: { served: 10, empty: 0, superseded: 0, cancelled: 0, failed: 0 },
        byKind: { completion: { requests: 10, resolved: 10, rejected: 0 } },
        errors: [],
        lifecycle: { changes: { policy: 1 } },
        epochs: 1,
        backendsCreated: 3,
        contextsOpenBeforeDispose: 4,
        drainMs: 0,
        loadavg1: { start: 0, end: 0, cores: 2 },
        routerLog: { warnings: 0, errors: 0, last: [] },
        samples,
        ...over,
    };
}

describe('soak: soak.json', () => {
    it("starts with the issue's keys, in order, and survives JSON", () => {
        const report = soakReport(measurements());
        assert.deepEqual(Object.keys(report).slice(0, ISSUE_KEYS.length), [...ISSUE_KEYS]);
        assert.deepEqual(report.rssMB, Array(10).fill(400));
        assert.equal(report.rssSlopeMBPerHour, 0);
        assert.deepEqual(report.sampleAtMs.length, report.rssMB.length);
        assert.deepEqual(report.rssAnonMB, Array(10).fill(120));
        assert.deepEqual(report.failures, []);
        assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
        assert.equal('samples' in report, false);
    });

    it('fails each invariant with a reason', () => {
        const rising = Array.from({ length: 10 }, (_, i) => ({ atMs: i * 60_000, rssMB: 400 + i, heapUsedMB: 60 })); // 60 MB/hour
        const report = soakReport(measurements({ requests: 12, settled: 10, leakedSequences: 1, leakedContexts: 2, unhandledRejections: 3, samples: rising }));
        assert.equal(report.rssSlopeMBPerHour, 60);
        assert.ok(report.rssSlopeMBPerHour >= MAX_RSS_SLOPE_MB_PER_HOUR);
        assert.equal(report.failures.length, 5);
        for (const word of ['never settled', 'sequences', 'contexts', 'unhandled', 'MB/hour']) assert.ok(report.failures.some((f) => f.includes(word)), word);
        // No slope to judge is a failure too, not a pass.
        const short = soakReport(measurements({ samples: rising.slice(0, 2) }));
        assert.equal(short.rssSlopeMBPerHour, null);
        assert.equal(short.failures.length, 1);
    });
});

describe('soak: lifecycle changes', () => {
    const specs: ModelSpec[] = (['coder', 'reasoner', 'embedder'] as const).map((role) => ({ id: role, role, path: `/m/${role}.gguf`, contextSize: 2048, slots: 1, threads: 1, gpuLayers: 0, fimTemplate: 'auto' }));
    const memory: Record<string, number> = { coder: 92 * 2 ** 20, reasoner: 182 * 2 ** 20, embedder: 53 * 2 ** 20 };
    const settings = defaultRoutingSettings();

    it('draws every kind, each a change from the session: another policy, a reload, a model removed, a budget for two of three', () => {
        const rng = createRng(7);
        const seen = new Set<string>();
        for (let i = 0; i < 200; i++) {
            const c = drawChange(rng, specs, settings, (id) => memory[id]);
            seen.add(c.kind);
            switch (c.kind) {
                case 'policy':
                    assert.notEqual(c.settings.policy, settings.policy);
                    assert.equal(c.models, specs);
                    break;
                case 'reload': {
                    const changed = c.models.filter((m, j) => m !== specs[j]);
                    assert.equal(changed.length, 1);
                    assert.ok(changed[0].contextSize < 2048 && changed[0].contextSize >= 512);
                    break;
                }
                case 'unload':
                    assert.equal(c.models.length, 2);
                    break;
                case 'memory': {
                    const budget = c.settings.memoryBudgetBytes as number;
                    const all = memory.coder + memory.reasoner + memory.embedder;
                    assert.ok(budget < all);
                    assert.ok(budget >= memory.coder + memory.reasoner);
                    assert.equal(c.settings.keepAliveMs, TIGHT_KEEP_ALIVE_MS);
                    break;
                }
            }
        }
        assert.deepEqual([...seen].sort(), [...CHANGE_KINDS].sort());
        // The session's own objects are never mutated.
        assert.ok(specs.every((s) => s.contextSize === 2048));
        assert.equal(settings.memoryBudgetBytes, undefined);
    });

    it('draws no memory change while a model size is unknown', () => {
        const rng = createRng(3);
        for (let i = 0; i < 100; i++) assert.notEqual(drawChange(rng, specs, settings, () => 0).kind, 'memory');
    });
});

describe('soak: epochs', () => {
    it('each epoch is its own draw: same seed and index, same trace; another index or seed, another', () => {
        const a = epochTrace(0, 1);
        assert.deepEqual(epochTrace(0, 1), a);
        const again = epochTrace(SOAK_SPECS.length, 1); // the same spec, the next turn
        assert.notDeepEqual(again.lines, a.lines);
        assert.notDeepEqual(epochTrace(0, 2).lines, a.lines);
        assert.ok(a.lines.some((l) => l.kind === 'completion') && a.lines.some((l) => l.kind === 'embed') && a.lines.some((l) => l.kind === 'embedQuery'));
        assert.ok((a.focus ?? []).length > 0);
        assert.ok(epochTrace(2, 1).lines.some((l) => l.kind === 'refactorPlan'));
    });
});

describe('soak: the command line', () => {
    it('parses --minutes, --out and --seed, and refuses what it cannot use', () => {
        assert.deepEqual(parseSoakArgs(['--minutes', '2', '--out', '/tmp/x']), { minutes: 2, out: '/tmp/x', seed: 1 });
        assert.deepEqual(parseSoakArgs(['--out', 'd', '--seed', '5', '--minutes', '0.5']), { minutes: 0.5, out: 'd', seed: 5 });
        assert.throws(() => parseSoakArgs(['--minutes', '2']), /--out/);
        assert.throws(() => parseSoakArgs(['--minutes', '0', '--out', 'd']), /positive/);
        assert.throws(() => parseSoakArgs(['--out', 'd', '--fast']), /unknown/);
        assert.throws(() => parseSoakArgs(['--out']), /needs a value/);
    });
});
