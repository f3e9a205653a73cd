/**
 * Keystrokes in quick succession through the editor's own path (src/core/completion/pipeline.ts)
 * into the real router and the real llama.cpp backends (tiny generated models): each keystroke
 * cancels the previous suggestion, as the editor does, and asks for a new one. Afterwards every
 * suggestion has settled, no sequence is held, no context was opened or left behind, the heap is
 * flat (measured after garbage collection, compared with the number of requests, not with time),
 * and nothing was rejected unhandled. Waits are bounded by events, with caps for hangs only.
 */
import { strict as assert } from 'node:assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SystemClock } from '../../src/core/clock';
import { CompletionPipeline, type CompletionPipelineSettings } from '../../src/core/completion/pipeline';
import { isAbortError } from '../../src/core/errors';
import { createLlamaProvider, type LlamaProvider } from '../../src/backends/llamaProvider';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';
import { code, settledWithin, startRealRouter, waitFor, type RealRouter } from './support/routerHarness';

/** Keystrokes per round. */
const KEYSTROKES = 1_000;
/** Every this many keystrokes the user pauses until the suggestion arrives (a full request runs). */
const PAUSE_EVERY = 50;
/** Every this many keystrokes the next one comes once the suggestion's call is running in a backend (it is cancelled mid-call). */
const MID_CALL_EVERY = 7;
/**
 * Heap growth allowed per request over a measured round, in bytes. A request that leaked would keep
 * at least its router job (a controller, a gate, a decision record with one candidate per model,
 * closures): well over 1 KB each. What a round may keep legitimately is bounded by count, not by
 * requests (recent decisions, caches of recent texts), so the bound per request covers it.
 */
const HEAP_BYTES_PER_REQUEST = 1024;
/** Resident memory growth allowed over a measured round: native leaks (a context is megabytes) show; allocator noise does not. */
const RSS_BOUND_BYTES = 64 * 1024 * 1024;

const SETTINGS: CompletionPipelineSettings = { prefixTokens: 256, suffixTokens: 64, maxTokens: 6, debounceMinMs: 0, debounceMaxMs: 2 };

function exposeGc(): () => void {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
}

interface Round {
    suggestions: number;
    settled: number;
    served: number;
    cancelled: number;
    failed: unknown[];
}

/** `n` keystrokes on one document; returns when every suggestion asked for has settled. */
async function typeRound(pipeline: CompletionPipeline, h: RealRouter, doc: string, start: string, n: number): Promise<Round> {
    const round: Round = { suggestions: 0, settled: 0, served: 0, cancelled: 0, failed: [] };
    const all: Array<Promise<void>> = [];
    let text = start;
    let current: AbortController | undefined;
    for (let i = 0; i < n; i++) {
        text += 'abcdefghijklmnopqrstuvwxyz ;\n'[i % 29];
        pipeline.keystroke(doc);
        current?.abort(new DOMException('superseded by the next keystroke', 'AbortError'));
        const ac = new AbortController();
        current = ac;
        round.suggestions++;
        const p = pipeline.suggest({ doc, text, offset: text.length }, SETTINGS, ac.signal).then(
            () => {
                round.settled++;
                round.served++;
            },
            (e: unknown) => {
                round.settled++;
                if (isAbortError(e) || ac.signal.aborted) round.cancelled++;
                else round.failed.push(e);
            },
        );
        all.push(p);
        if ((i + 1) % PAUSE_EVERY === 0) await settledWithin(p, `suggestion ${i}`);
        else if ((i + 1) % MID_CALL_EVERY === 0) {
            let done = false;
            void p.then(() => (done = true));
            await waitFor(() => done || h.router.snapshot().models.some((m) => m.inFlight > 0), `suggestion ${i} running or settled`);
        } else await new Promise((resolve) => setImmediate(resolve));
    }
    await settledWithin(Promise.all(all), 'every suggestion of the round');
    return round;
}

describe('faults: 1,000 keystrokes in quick succession through the completion pipeline', function () {
    this.timeout(120_000);

    let models: SyntheticModels;
    let provider: LlamaProvider;
    let h: RealRouter | undefined;
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => {
        unhandled.push(reason);
    };

    before(async function () {
        this.timeout(180_000);
        models = await ensureModels('tiny');
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
        process.on('unhandledRejection', record);
    });

    after(async () => {
        process.off('unhandledRejection', record);
        await h?.dispose();
        await provider?.dispose();
    });

    it('every suggestion settles; no sequence or context leaks; the heap stays flat; nothing is rejected unhandled', async () => {
        const gc = exposeGc();
        h = await startRealRouter({ paths: models, runtime: provider });
        const router = h.router;
        const pipeline = new CompletionPipeline({ router, clock: new SystemClock(), feedback: () => undefined });
        const backends = [...h.faulty.values()];
        const start = code(30, 'typed');
        // An embedding opens the embedder's context for embeddings: every context this test needs is open.
        await h.run({ kind: 'embedQuery', texts: ['warm'] });
        const contexts = backends.map((b) => b.stats().contextsOpen);

        // Round 1 warms what is kept by count (caches, recent decisions, learned speeds).
        const warm = await typeRound(pipeline, h, 'file:///warm.ts', start, KEYSTROKES);
        assert.deepEqual(warm.failed, []);
        await h.assertNoSequencesHeld();
        gc();
        const heapBefore = process.memoryUsage().heapUsed;
        const rssBefore = process.memoryUsage().rss;

        const callsBefore = backends.reduce((n, b) => n + b.stats().requests, 0);
        const measured = await typeRound(pipeline, h, 'file:///typed.ts', start, KEYSTROKES);
        await h.assertNoSequencesHeld();
        await waitFor(() => router.snapshot().models.every((m) => m.inFlight === 0 && m.queued === 0), 'the router idle');
        gc();
        const heapAfter = process.memoryUsage().heapUsed;
        const rssAfter = process.memoryUsage().rss;

        assert.equal(measured.settled, KEYSTROKES, 'every suggestion settled');
        assert.deepEqual(measured.failed, [], 'no suggestion failed (only served or cancelled)');
        assert.ok(measured.served >= KEYSTROKES / PAUSE_EVERY, `${measured.served} served: at least every pause's`);
        assert.ok(measured.cancelled > 0, 'keystrokes superseded suggestions');
        const calls = backends.reduce((n, b) => n + b.stats().requests, 0) - callsBefore;
        assert.ok(calls > measured.served, `${calls} backend calls for ${measured.served} served: some were cancelled mid-call`);
        assert.deepEqual(
            backends.map((b) => b.stats().contextsOpen),
            contexts,
            'no context opened or left behind',
        );
        assert.deepEqual(router.snapshot().waits, [], 'nothing waits');
        const heapGrowth = heapAfter - heapBefore;
        assert.ok(
            heapGrowth < HEAP_BYTES_PER_REQUEST * KEYSTROKES,
            `heap grew ${heapGrowth} bytes over ${KEYSTROKES} requests (${Math.round(heapGrowth / KEYSTROKES)} per request; bound ${HEAP_BYTES_PER_REQUEST})`,
        );
        assert.ok(rssAfter - rssBefore < RSS_BOUND_BYTES, `resident memory grew ${rssAfter - rssBefore} bytes over ${KEYSTROKES} requests`);
        assert.deepEqual(unhandled, [], 'no unhandled rejection');
        await h.assertServing();
    });
});
