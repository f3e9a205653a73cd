/**
 * The soak run (issue 20 §5): the generated full models through node-llama-cpp (real mode's setup,
 * bench/real/setup.ts: one thread per model, one evaluation thread for all), one router with the
 * zeta policy and one completion pipeline for the whole session, a simulated editing session
 * (session.ts, epochs from workload.ts) and lifecycle changes through Router.reconfigure
 * (lifecycle.ts), for `minutes` of wall clock. Then: no more lines, every request drained, the
 * router idle, the backends' stats read, the router disposed (every model unloaded), the
 * backends' stats read again.
 *
 * Memory: every SAMPLE_EVERY_MS, after a full garbage collection (V8's heap then holds only live
 * objects, so the samples follow what is kept, not when the collector last ran), the process's RSS,
 * its anonymous part and the V8 heap, but only in the session's own configuration with every model
 * loaded: not while a lifecycle change is in effect nor within SETTLE_AFTER_CHANGE_MS of undoing
 * one, nor while a model is unloaded (an unloaded model's weights are a file mapping of 50-180 MB
 * that leaves RSS, and its context's buffers too: samples across that compare different
 * configurations, not a leak). Memory a change leaks stays and shows in the samples after it.
 * The slope is by least squares over the samples at or after the warm-up, WARMUP_SHARE of the
 * minutes asked for.
 *
 * Leaks: `leakedSequences` is BackendStats.sequencesHeld summed over every backend the router
 * created (reloads and re-added models create new ones) once every request settled and the router
 * is idle (waited for up to IDLE_LIMIT_MS: a sequence is held until its native evaluation returns);
 * `leakedContexts` is BackendStats.contextsOpen summed the same way after Router.dispose() unloaded
 * every model, when every context must be closed. The contexts open just before (each loaded
 * model's own) are reported beside it.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadTokenizer } from '../../src/backends';
import type { ModelBackend } from '../../src/core/backend';
import { sleep } from '../../src/core/clock';
import { abortError, errorMessage } from '../../src/core/errors';
import { createRouter, defaultRoutingSettings } from '../../src/core/router';
import type { RouterLogger, Task } from '../../src/core/tasks';
import { DEFAULT_SETTINGS } from '../../src/core/userSettings';
import { createRng, hashString } from '../lib/rng';
import { MAX_THREADS, machineLoad, realSetup } from '../real/setup';
import { calibrate, countWords } from '../replay/text';
import { SETTLE_OUTCOMES, SettleLedger, promiseOf } from './ledger';
import { CHANGE_KINDS, drawChange, type ChangeKind, type LifecycleChange } from './lifecycle';
import { soakReport, type MemorySample, type SoakReport } from './report';
import { round } from '../lib/stats';
import { SoakSession } from './session';
import { epochTrace } from './workload';

/** Memory is sampled this often (ms). */
export const SAMPLE_EVERY_MS = 10_000;
/** Share of the minutes asked for that is warm-up, left out of the slope. */
export const WARMUP_SHARE = 0.2;
/** No sample this soon (ms) after a lifecycle change is undone: the reloaded model's first requests touch its weights again. */
const SETTLE_AFTER_CHANGE_MS = 5_000;
/** A progress line this often (ms). */
const PROGRESS_EVERY_MS = 30_000;
/** Lifecycle changes: one every CHANGE_GAP_MS after the last was undone, each in effect CHANGE_HOLD_MS. */
const CHANGE_GAP_MS: readonly [number, number] = [40_000, 80_000];
const CHANGE_HOLD_MS: readonly [number, number] = [10_000, 25_000];
/** How long the end waits for every request to settle, and then for the router and backends to be idle (ms). */
const DRAIN_LIMIT_MS = 180_000;
const IDLE_LIMIT_MS = 30_000;

export interface SoakOptions {
    readonly minutes: number;
    readonly seed: number;
    /** Aborted on Ctrl-C: the session stops early and the report is still written. */
    readonly stop: AbortSignal;
    /** Unhandled promise rejections seen so far in this process. */
    readonly unhandledRejections: () => number;
    readonly log: (line: string) => void;
}

const MB = 2 ** 20;

/** A full garbage collection (V8's `gc`, exposed at run time; the flag takes effect for contexts created after it). */
function gcFunction(): () => void {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
}

/** Anonymous resident memory (MB) from /proc/self/status; undefined where there is none. */
function rssAnonMB(): number | undefined {
    try {
        const m = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
        return m ? round(Number(m[1]) / 1024, 1) : undefined;
    } catch {
        return undefined;
    }
}

/** Resolves when `done()` holds (checked every `pollMs`) or after `limitMs`; true if it held. */
function waitFor(done: () => boolean, limitMs: number, pollMs = 50): Promise<boolean> {
    const end = performance.now() + limitMs;
    return new Promise((resolve) => {
        const check = (): void => {
            if (done()) resolve(true);
            else if (performance.now() > end) resolve(false);
            else setTimeout(check, pollMs);
        };
        check();
    });
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
    const { log } = o;
    const gc = gcFunction();
    const loadStart = machineLoad();
    const setup = await realSetup(MAX_THREADS);
    const { clock } = setup;
    const tokenizer = await loadTokenizer(setup.provider, setup.models.coder);
    const tokensPerWord = calibrate((t) => tokenizer.tokenize(t).length);
    await tokenizer.dispose();

    const backends: ModelBackend[] = [];
    const logged = { warnings: 0, errors: 0, last: [] as string[] };
    const note = (level: string, message: string): void => {
        logged.last.push(`${level}: ${message}`);
        if (logged.last.length > 10) logged.last.shift();
    };
    const logger: RouterLogger = {
        info: () => undefined,
        warn: (m) => {
            logged.warnings++;
            note('warn', m);
        },
        error: (m) => {
            logged.errors++;
            note('error', m);
        },
    };
    const base = { models: setup.specs, settings: defaultRoutingSettings() };
    const router = createRouter({
        clock,
        createBackend: (spec) => {
            const b = setup.createBackend(spec);
            backends.push(b);
            return b;
        },
        settings: base.settings,
        models: base.models,
        logger,
    });
    const ledger = new SettleLedger();

    // Warm-up: a tiny request of each kind loads every model; the index binds to the space it gets.
    log(`soak: loading ${setup.specs.map((s) => s.id).join(', ')} from ${setup.models.dir} (1 thread each), ${tokensPerWord.toFixed(2)} tokens per word`);
    const warm: Task[] = [
        { kind: 'completion', doc: '__warmup__.ts', prefix: 'const', suffix: '', maxTokens: 1 },
        { kind: 'explain', doc: '__warmup__.ts', messages: [{ role: 'user', content: 'warm' }], maxTokens: 1 },
        { kind: 'embedQuery', texts: ['warm'] },
    ];
    const warmResults = await Promise.all(warm.map((t) => ledger.track('warm-up', promiseOf(() => router.submit(t)))));
    const space = warmResults.map((r) => (r.ok ? r.value.space : undefined)).find((s) => s !== undefined);
    for (const r of warmResults) if (!r.ok) log(`  warm-up request failed: ${errorMessage(r.error)}`);

    const session = new SoakSession({
        router,
        clock,
        ledger,
        rng: createRng(hashString(`soak-user:${o.seed}`)),
        tokensPerWord,
        countTokens: (text) => Math.round(countWords(text) * tokensPerWord),
        completion: DEFAULT_SETTINGS.completion,
        space,
    });

    const t0 = clock.now();
    const since = (): number => clock.now() - t0;
    const endAt = t0 + o.minutes * 60_000;
    const warmupMs = WARMUP_SHARE * o.minutes * 60_000;
    // Stops the epochs, the lifecycle loop and the sampling: at the end or on Ctrl-C.
    const ending = new AbortController();
    const onStop = (): void => ending.abort(abortError('soak stopped'));
    o.stop.addEventListener('abort', onStop, { once: true });
    if (o.stop.aborted) onStop();

    // Lifecycle changes, one at a time, each undone before the next.
    const changes = Object.fromEntries(CHANGE_KINDS.map((k) => [k, 0])) as Record<ChangeKind, number>;
    let inEffect: LifecycleChange | undefined;
    let undoneAt = -Infinity;
    const changeRng = createRng(hashString(`soak-lifecycle:${o.seed}`));
    const pause = (ms: number): Promise<void> => sleep(clock, ms, ending.signal).catch(() => undefined);
    const lifecycle = (async (): Promise<void> => {
        while (!ending.signal.aborted) {
            await pause(changeRng.uniform(CHANGE_GAP_MS[0], CHANGE_GAP_MS[1]));
            if (ending.signal.aborted) break;
            const memory = new Map(router.snapshot().models.map((m) => [m.id, m.memoryBytes]));
            const change = drawChange(changeRng, base.models, base.settings, (id) => memory.get(id) ?? 0);
            inEffect = change;
            changes[change.kind]++;
            log(`  [${clockText(since())}] change: ${change.what}`);
            try {
                await router.reconfigure(change.models, change.settings);
                await pause(changeRng.uniform(CHANGE_HOLD_MS[0], CHANGE_HOLD_MS[1]));
            } finally {
                // Always undone, on the way out too: the end measures the session's own configuration.
                await router.reconfigure(base.models, base.settings);
                inEffect = undefined;
                undoneAt = since();
                log(`  [${clockText(since())}] undone: ${change.what}`);
            }
        }
    })();

    // Memory samples, in the session's own configuration with every model loaded.
    const samples: MemorySample[] = [];
    let skipped = 0;
    const sample = (): void => {
        const snap = router.snapshot();
        const allLoaded = snap.models.length === base.models.length && snap.models.every((m) => m.residency === 'loaded');
        if (inEffect !== undefined || since() - undoneAt < SETTLE_AFTER_CHANGE_MS || !allLoaded) {
            skipped++;
            return;
        }
        gc();
        samples.push({ atMs: Math.round(since()), rssMB: round(process.memoryUsage.rss() / MB, 1), rssAnonMB: rssAnonMB(), heapUsedMB: round(process.memoryUsage().heapUsed / MB, 1) });
    };
    const progress = (): void => {
        const oc = ledger.outcomes();
        const last = samples[samples.length - 1];
        log(
            `  [${clockText(since())}] requests ${ledger.requests}, settled ${ledger.settled}, pending ${ledger.pending} (` +
                `${SETTLE_OUTCOMES.map((k) => `${k} ${oc[k]}`).join(', ')}); indexing backlog ${session.embedBacklog}; ` +
                `rss ${last ? `${last.rssMB} MB at ${clockText(last.atMs)}` : 'not sampled yet'}; ${inEffect ? `change in effect: ${inEffect.what}; ` : ''}load ${machineLoad().loadavg1}`,
        );
    };
    // Node's own intervals (the clock's timers do not keep the process alive).
    const sampler = setInterval(sample, SAMPLE_EVERY_MS);
    const reporter = setInterval(progress, PROGRESS_EVERY_MS);
    sample();

    log(`soak: ${o.minutes} minutes, seed ${o.seed}; warm-up ${(warmupMs / 60_000).toFixed(1)} min; a memory sample every ${SAMPLE_EVERY_MS / 1000} s, progress every ${PROGRESS_EVERY_MS / 1000} s`);
    let epochs = 0;
    try {
        while (!ending.signal.aborted && clock.now() < endAt) {
            const trace = epochTrace(epochs, o.seed);
            epochs++;
            const stopPlay = (): void => session.stop();
            ending.signal.addEventListener('abort', stopPlay, { once: true });
            await session.play(trace, endAt);
            ending.signal.removeEventListener('abort', stopPlay);
        }
    } finally {
        clearInterval(sampler);
        clearInterval(reporter);
        o.stop.removeEventListener('abort', onStop);
    }
    const minutes = round(since() / 60_000, 2);
    const stoppedEarly = o.stop.aborted;
    ending.abort(abortError('soak ended'));
    session.stop();
    await lifecycle;

    log(`soak: ${stoppedEarly ? 'stopped early' : 'time is up'} after ${minutes} minutes; draining ${ledger.pending} requests...`);
    const drainStart = clock.now();
    const drained = await waitFor(() => ledger.pending === 0, DRAIN_LIMIT_MS);
    const drainMs = Math.round(clock.now() - drainStart);
    const requests = ledger.requests;
    const settled = ledger.settled;
    if (!drained) log(`  ${requests - settled} requests still pending after ${DRAIN_LIMIT_MS / 1000} s`);
    const sum = (f: (s: ReturnType<ModelBackend['stats']>) => number): number => backends.reduce((a, b) => a + f(b.stats()), 0);
    const idle = (): boolean => router.snapshot().models.every((m) => m.queued === 0 && m.inFlight === 0) && sum((s) => s.sequencesHeld) === 0;
    if (!(await waitFor(idle, IDLE_LIMIT_MS))) log(`  the router or a backend was still busy after ${IDLE_LIMIT_MS / 1000} s`);
    const leakedSequences = sum((s) => s.sequencesHeld);
    const contextsOpenBeforeDispose = sum((s) => s.contextsOpen);
    session.dispose();
    await router.dispose();
    const leakedContexts = sum((s) => s.contextsOpen);
    await setup.provider.dispose();

    const after = samples.filter((s) => s.atMs >= warmupMs);
    const loadEnd = machineLoad();
    const report = soakReport({
        minutes,
        requests,
        settled,
        leakedSequences,
        leakedContexts,
        unhandledRejections: o.unhandledRejections(),
        minutesRequested: o.minutes,
        stoppedEarly,
        seed: o.seed,
        models: `generated full (${setup.models.dir}), 1 thread each, router policy zeta`,
        allocator: allocatorSettings(),
        warmupMs,
        sampleEveryMs: SAMPLE_EVERY_MS,
        samplesSkipped: skipped,
        outcomes: ledger.outcomes(),
        byKind: ledger.byKind(),
        errors: ledger.errors(),
        lifecycle: { changes },
        epochs,
        backendsCreated: backends.length,
        contextsOpenBeforeDispose,
        drainMs,
        loadavg1: { start: loadStart.loadavg1, end: loadEnd.loadavg1, cores: loadEnd.cores },
        routerLog: logged,
        samples,
    });
    log(`soak: ${after.length} memory samples after the warm-up (${samples.length} in all, ${skipped} ticks skipped)`);
    return report;
}

/** The MALLOC_* variables set in the environment (glibc's allocator settings), or "default". */
function allocatorSettings(): string {
    const set = Object.entries(process.env)
        .filter(([k]) => k.startsWith('MALLOC_'))
        .map(([k, v]) => `${k}=${v ?? ''}`)
        .sort();
    return set.length > 0 ? set.join(' ') : 'default';
}

/** ms as "m:ss". */
function clockText(ms: number): string {
    const s = Math.max(0, Math.floor(ms / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
