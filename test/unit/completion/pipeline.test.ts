import assert from 'node:assert/strict';
import { CompletionPipeline, READ_AHEAD_DWELL_MS, type CompletionPipelineSettings, type CursorPosition } from '../../../src/core/completion/pipeline';
import { VirtualClock } from '../../../src/core/clock';
import { DeadlineError, isAbortError } from '../../../src/core/errors';
import type { Feedback, Residency, Router, RouterSnapshot, Task, TaskResult } from '../../../src/core/tasks';
import { makeFixture, ready, type Fixture } from '../router/helpers';

const FIXED: CompletionPipelineSettings = { prefixTokens: 512, suffixTokens: 128, maxTokens: 8, debounceMinMs: 200, debounceMaxMs: 200 };
const TEXT = 'def area(r):\n    return 3.14 * r * r\n\ndef perimeter(r):\n    ret';
const AT: CursorPosition = { doc: 'file:///a.py', text: TEXT, offset: TEXT.length };

/** The pipeline on the router fixture (fake models on a virtual clock), with its feedback recorded. */
async function setup(): Promise<{ f: Fixture; pipeline: CompletionPipeline; feedback: Feedback[] }> {
    const f = makeFixture();
    await ready(f);
    const feedback: Feedback[] = [];
    const pipeline = new CompletionPipeline({ router: f.router, clock: f.clock, feedback: (x) => feedback.push(x) });
    return { f, pipeline, feedback };
}

describe('completion pipeline (the editor\'s and the benchmark\'s path from keystroke to suggestion)', () => {
    it('waits the debounce, submits one completion task built from the text, and returns the post-processed suggestion', async () => {
        const { f, pipeline, feedback } = await setup();
        const t0 = f.clock.now();
        const stages: Array<[string, number]> = [];
        const p = pipeline.suggest(AT, FIXED, new AbortController().signal, {
            submitted: (task) => {
                stages.push(['submitted', f.clock.now() - t0]);
                assert.equal(task.kind, 'completion');
                assert.equal(task.doc, AT.doc);
                // The FIM middle is the cursor line; prefix + middle is the text before the cursor.
                assert.equal(task.middle, '    ret');
                assert.equal(task.prefix + task.middle, TEXT);
                assert.equal(task.maxTokens, 8);
            },
            firstToken: () => stages.push(['first token', f.clock.now() - t0]),
            answered: () => stages.push(['answered', f.clock.now() - t0]),
        });
        await f.clock.advance(5_000);
        const s = await p;
        assert.ok(s, 'no suggestion');
        assert.equal(s.debounceMs, 200);
        assert.equal(s.modelId, 'coder');
        assert.ok(s.result && s.text.length > 0 && !s.text.includes('\n\n'));
        assert.deepEqual(stages.map(([n]) => n), ['submitted', 'first token', 'answered']);
        assert.equal(stages[0][1], 200, 'the task goes to the router when the debounce ends');
        assert.deepEqual(feedback.map((x) => x.event), ['shown']);
    });

    it('a newer keystroke during the debounce cancels the request before any task is made', async () => {
        const { f, pipeline } = await setup();
        const ac = new AbortController();
        let submitted = 0;
        const p = pipeline.suggest(AT, FIXED, ac.signal, { submitted: () => submitted++ });
        const outcome = p.then(
            () => 'resolved',
            (e: unknown) => (isAbortError(e) || e === ac.signal.reason ? 'aborted' : `rejected: ${String(e)}`),
        );
        await f.clock.advance(100);
        ac.abort(new DOMException('superseded', 'AbortError'));
        await f.clock.advance(1_000);
        assert.equal(await outcome, 'aborted');
        assert.equal(submitted, 0);
        assert.equal(f.router.snapshot().recentDecisions.filter((d) => d.kind === 'completion').length, 0);
    });

    it('typing along a shown suggestion is answered from the cache at once, as the same showing; a different keystroke dismisses it', async () => {
        const { f, pipeline, feedback } = await setup();
        const p = pipeline.suggest(AT, FIXED, new AbortController().signal);
        await f.clock.advance(5_000);
        const first = await p;
        assert.ok(first);
        const typed = first.text.slice(0, 2);
        const along: CursorPosition = { ...AT, text: TEXT + typed, offset: TEXT.length + 2 };
        const t = f.clock.now();
        const hit = await pipeline.suggest(along, FIXED, new AbortController().signal);
        assert.equal(f.clock.now(), t, 'no wait');
        assert.ok(hit && hit.result === undefined && hit.debounceMs === 0);
        assert.equal(hit.text, first.text.slice(2));
        assert.equal(hit.feedbackId, first.feedbackId);
        pipeline.accepted(hit.feedbackId);
        assert.deepEqual(feedback.map((x) => x.event), ['shown', 'accepted']);
        // Another text: a new request, and nothing left to dismiss.
        const other: CursorPosition = { ...AT, text: TEXT + '#', offset: TEXT.length + 1 };
        const q = pipeline.suggest(other, FIXED, new AbortController().signal);
        await f.clock.advance(5_000);
        assert.ok(await q);
        assert.deepEqual(feedback.map((x) => x.event), ['shown', 'accepted', 'shown']);
    });

    it('the cursor resting in a document reads it ahead after the dwell; a keystroke first cancels the read', async () => {
        const { f, pipeline } = await setup();
        // A document long enough to be worth reading ahead.
        const long = Array.from({ length: 60 }, (_, i) => `def f${i}(x):\n    return x * ${i} + total_value_${i}\n`).join('') + 'def g(y):\n    ret';
        const at: CursorPosition = { doc: 'file:///long.py', text: long, offset: long.length };
        const reads = (): number => f.router.snapshot().recentDecisions.filter((d) => /read ahead/.test(d.reason) || d.kind === 'completion').length;
        pipeline.cursorRested(() => at, () => FIXED);
        await f.clock.advance(READ_AHEAD_DWELL_MS - 1);
        assert.equal(reads(), 0);
        pipeline.keystroke(at.doc);
        await f.clock.advance(5_000);
        assert.equal(reads(), 0, 'the keystroke cancelled the read');
        pipeline.cursorRested(() => at, () => FIXED);
        await f.clock.advance(5_000);
        assert.ok(reads() > 0, 'the resting cursor read the document');
    });

    it('a cold start that misses its deadline waits for the model to load and asks once more; a model that fails to load gives the error', async () => {
        /** A router whose coder loads: the first submit misses its deadline, the next succeeds. */
        const coldRouter = (clock: VirtualClock, loads: Residency): { router: Router; submits: Task[]; finishLoad: () => void } => {
            let residency: Residency = 'loading';
            const listeners = new Set<() => void>();
            const submits: Task[] = [];
            const snapshot = (): RouterSnapshot =>
                ({ at: clock.now(), models: [{ id: 'coder', role: 'coder', residency, queued: 0, inFlight: 0, slots: 1, utilisation: 0, firstTokenMs: undefined }], typingIntervalMs: undefined }) as unknown as RouterSnapshot;
            const router = {
                snapshot,
                submit: (task: Task) => {
                    submits.push(task);
                    if (submits.length === 1) return Promise.reject(new DeadlineError('completion', 100, 'the coder is loading'));
                    return Promise.resolve({ taskId: 2, modelId: 'coder', text: 'return r * r', timings: { totalMs: 5 }, promptTokens: 10, reusedPromptTokens: 0, generatedTokens: 4 } as unknown as TaskResult);
                },
                onDidChange: (l: () => void) => (listeners.add(l), { dispose: () => listeners.delete(l) }),
                feedback: () => undefined,
                activity: () => undefined,
                readAhead: () => undefined,
            } as unknown as Router;
            return {
                router,
                submits,
                finishLoad: () => {
                    residency = loads;
                    for (const l of listeners) l();
                },
            };
        };
        const clock = new VirtualClock(0);
        const ok = coldRouter(clock, 'loaded');
        const p = new CompletionPipeline({ router: ok.router, clock, feedback: () => undefined }).suggest(AT, FIXED, new AbortController().signal);
        await clock.advance(1_000);
        assert.equal(ok.submits.length, 1, 'waits for the load before asking again');
        ok.finishLoad();
        await clock.advance(0);
        const s = await p;
        assert.equal(ok.submits.length, 2);
        assert.equal(s?.text, 'return r * r');

        const failed = coldRouter(clock, 'failed');
        const q = new CompletionPipeline({ router: failed.router, clock, feedback: () => undefined }).suggest(AT, FIXED, new AbortController().signal);
        const outcome = q.then(
            () => 'resolved',
            (e: unknown) => (e instanceof DeadlineError ? 'deadline' : `rejected: ${String(e)}`),
        );
        await clock.advance(1_000);
        failed.finishLoad();
        await clock.advance(0);
        assert.equal(await outcome, 'deadline', 'the original error, not a second try on a model that failed');
        assert.equal(failed.submits.length, 1);
    });
});
