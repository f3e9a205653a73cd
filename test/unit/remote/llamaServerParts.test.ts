/**
 * The parts of LlamaServerBackend that need no engine: stop strings over streamed text, a slot per
 * document, the load readings and their poller (on virtual time), the final event and the names.
 */
import { strict as assert } from 'node:assert';
import { VirtualClock } from '../../../src/core/clock';
import { RemoteEngineError } from '../../../src/core/errors';
import { finalCounts, modelName, remoteEmbeddingSpace } from '../../../src/backends/remote/llamaServer';
import { EngineLoad, LoadPoller, type PollRequests } from '../../../src/backends/remote/llamaServerLoad';
import { ANY_SLOT, SlotAffinity, type SlotReport } from '../../../src/backends/remote/llamaServerSlots';
import { StopText } from '../../../src/backends/stopText';
import { EventQueue } from '../../../src/backends/remote/eventQueue';

describe('StopText', () => {
    function run(stops: string[], pieces: string[]): { text: string; emitted: string[]; stopped: boolean } {
        const emitted: string[] = [];
        const t = new StopText(stops, (p) => emitted.push(p));
        let stopped = false;
        for (const p of pieces) {
            if (t.push(p)) {
                stopped = true;
                break;
            }
        }
        if (!stopped) t.flush();
        return { text: t.text, emitted, stopped };
    }

    it('passes text through unchanged without stop strings', () => {
        const r = run([], ['a', 'bc', '', 'd']);
        assert.equal(r.text, 'abcd');
        assert.deepEqual(r.emitted, ['a', 'bc', 'd']);
    });

    it('cuts before a stop string split over pieces and never emits any of it', () => {
        const r = run(['END'], ['ab', 'cE', 'N', 'Dxyz']);
        assert.equal(r.stopped, true);
        assert.equal(r.text, 'abc');
        assert.equal(r.emitted.join(''), 'abc');
        assert.ok(!r.emitted.some((p) => /[END]/.test(p)));
    });

    it('holds a tail that could start a stop string, and releases it when the text moves on or ends', () => {
        const r = run(['<|end|>'], ['x <', '|e', 'nd of it']);
        assert.equal(r.stopped, false);
        assert.equal(r.text, 'x <|end of it');
        assert.deepEqual(r.emitted, ['x ', '<|end of it']);
        const ended = run(['<|end|>'], ['x <|en']);
        assert.deepEqual(ended.emitted, ['x ', '<|en']);
    });

    it('cuts at the earliest of several stop strings', () => {
        const r = run(['zz', 'b'], ['aazzb']);
        assert.equal(r.text, 'aa');
    });
});

describe('EventQueue', () => {
    it('gives the events in order to a consumer that comes late, then the end', async () => {
        const q = new EventQueue<number>();
        q.push(1);
        q.push(2);
        q.end();
        assert.deepEqual(await q.next(), { done: false, value: 1 });
        assert.deepEqual(await q.next(), { done: false, value: 2 });
        assert.deepEqual(await q.next(), { done: true, value: undefined });
    });

    it('wakes a waiting consumer, and fails after the events that came before the failure', async () => {
        const q = new EventQueue<string>();
        const first = q.next();
        q.push('a');
        assert.deepEqual(await first, { done: false, value: 'a' });
        const boom = new Error('cut');
        q.push('b');
        q.fail(boom);
        assert.deepEqual(await q.next(), { done: false, value: 'b' });
        await assert.rejects(q.next(), (e: unknown) => e === boom);
    });
});

describe('SlotAffinity', () => {
    const idle = (id: number, tokens: number, task = 1): SlotReport => ({ id, is_processing: false, id_task: task, n_prompt_tokens: tokens });
    const busy = (id: number): SlotReport => ({ id, is_processing: true, id_task: 99 });

    it('gives each key its own slot, least recently used first, and keeps it', () => {
        const a = new SlotAffinity(2);
        assert.equal(a.choose(undefined, 1), ANY_SLOT, 'no key: the engine picks');
        const x = a.choose('x', 1);
        a.begin(x);
        a.end(x, 'x', x, 40, 2);
        const y = a.choose('y', 3);
        assert.notEqual(y, x);
        a.begin(y);
        a.end(y, 'y', y, 50, 4);
        assert.equal(a.choose('x', 5), x);
        assert.equal(a.cachedTokens('x'), 40);
        assert.equal(a.cachedTokens('y'), 50);
        // A third key takes the least recently used slot (y's): y forgets it.
        const z = a.choose('z', 6);
        assert.equal(z, y);
        assert.equal(a.slotOf('y'), undefined);
        assert.equal(a.cachedTokens('y'), 0);
    });

    it('sends a key whose slot another client is using to any slot, and follows the slot the engine used', () => {
        const a = new SlotAffinity(2);
        const x = a.choose('x', 1);
        a.begin(x);
        a.end(x, 'x', x, 40, 2);
        a.observe([busy(x), idle(1 - x, 0)], 3);
        assert.equal(a.cachedTokens('x'), 0, 'its prompt is being replaced');
        assert.equal(a.choose('x', 4), ANY_SLOT, 'never queue behind a teammate');
        a.end(ANY_SLOT, 'x', 1 - x, 45, 5);
        assert.equal(a.slotOf('x'), 1 - x);
        assert.equal(a.cachedTokens('x'), 45);
    });

    it('queues behind its own earlier call, not another client’s', () => {
        const a = new SlotAffinity(1);
        const x = a.choose('x', 1);
        a.begin(x);
        a.observe([busy(x)], 2);
        assert.equal(a.choose('x', 3), x, 'our own previous keystroke holds it');
    });

    it('ignores a poll asked before our call there ended (it may show that call)', () => {
        const a = new SlotAffinity(1);
        const x = a.choose('x', 1);
        a.begin(x);
        a.end(x, 'x', x, 40, 10);
        a.observe([busy(x)], 9);
        assert.equal(a.cachedTokens('x'), 40);
        assert.equal(a.choose('x', 11), x);
    });

    it('notices another task that ran between two polls, and takes the engine’s count after an aborted call', () => {
        const a = new SlotAffinity(1);
        const x = a.choose('x', 1);
        a.begin(x);
        a.end(x, 'x', x, 40, 2);
        a.observe([idle(x, 41, 7)], 3);
        assert.equal(a.cachedTokens('x'), 41, 'the same call, within a token');
        a.observe([idle(x, 12, 8)], 4);
        assert.equal(a.cachedTokens('x'), 0, 'another task ran there');
        // Aborted: no final count; the next poll says what the slot kept.
        a.choose('x', 5);
        a.begin(x);
        a.end(x, 'x', undefined, undefined, 6);
        assert.equal(a.cachedTokens('x'), 0);
        a.observe([idle(x, 30, 9)], 7);
        assert.equal(a.cachedTokens('x'), 30);
    });
});

describe('EngineLoad and LoadPoller', () => {
    const slots = (busyRemain: Array<number | undefined>, decoded: number[], tasks: number[]): SlotReport[] =>
        busyRemain.map((remain, id) => ({ id, is_processing: remain !== undefined, id_task: tasks[id], next_token: [{ n_remain: remain ?? -1, n_decoded: decoded[id] }] }));

    it('counts busy slots, their remaining tokens and the decode speed from progress between readings', () => {
        const load = new EngineLoad('llama-server', 'http://x');
        load.observeSlots(slots([100, undefined], [10, 0], [1, 0]), 1_000);
        let l = load.snapshot(0);
        assert.equal(l.slots, 2);
        assert.equal(l.slotsBusy, 1);
        assert.equal(l.busyRemainingTokens, 100);
        assert.equal(l.decodeTokensPerSec, undefined, 'one reading: no speed yet');
        load.observeSlots(slots([50, 20], [60, 5], [1, 2]), 1_500);
        l = load.snapshot(1);
        assert.equal(l.slotsBusy, 2);
        assert.equal(l.ownInFlight, 1);
        assert.equal(l.busyRemainingTokens, 70);
        // 50 tokens on task 1 and 5 on the new task 2, in 0.5 s.
        assert.equal(l.decodeTokensPerSec, 110);
        assert.equal(l.at, 1_500);
        load.observeSlots([{ id: 0, is_processing: true, id_task: 1, next_token: [{ n_remain: -1, n_decoded: 70 }] }], 2_000);
        assert.equal(load.snapshot(0).busyRemainingTokens, undefined, 'a slot without a budget: unknown');
    });

    it('reads the queue from /metrics, and busy slots from it only when /slots is not served', () => {
        const load = new EngineLoad('llama-server', 'http://x');
        load.noSlotsEndpoint();
        load.observeMetrics('llamacpp:requests_processing 2\nllamacpp:requests_deferred 3\nllamacpp:tokens_predicted_total 100\n', 0);
        load.observeMetrics('llamacpp:requests_processing 2\nllamacpp:requests_deferred 3\nllamacpp:tokens_predicted_total 300\n', 1_000);
        const l = load.snapshot(0);
        assert.equal(l.slotsBusy, 2);
        assert.equal(l.deferred, 3);
        assert.equal(l.decodeTokensPerSec, 200);
    });

    it('marks the engine unreachable with the reason, and reachable again', () => {
        const load = new EngineLoad('llama-server', 'http://x');
        load.markUnreachable('refused');
        assert.equal(load.snapshot(0).reachable, false);
        assert.equal(load.snapshot(0).error, 'refused');
        load.markReached(5);
        assert.equal(load.snapshot(0).reachable, true);
        assert.equal(load.snapshot(0).error, undefined);
    });

    /** Requests whose answers the test releases one poll at a time. */
    function manual(): PollRequests & { pending: number; release(fail?: unknown): void; asked: string[] } {
        const waiting: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
        const asked: string[] = [];
        const ask = <T>(what: string, value: T) => (): Promise<T> =>
            new Promise<T>((resolve, reject) => {
                asked.push(what);
                waiting.push({ resolve: () => resolve(value), reject });
            });
        return {
            asked,
            get pending() {
                return waiting.length;
            },
            release(fail?: unknown) {
                for (const w of waiting.splice(0)) {
                    if (fail === undefined) w.resolve();
                    else w.reject(fail);
                }
            },
            health: ask('health', undefined),
            slots: ask('slots', [] as SlotReport[]),
            metrics: ask('metrics', 'llamacpp:requests_deferred 0\n'),
        };
    }

    it('never overlaps polls, polls fast while in use and slowly when idle, hurries when a call begins, and stops', async () => {
        const clock = new VirtualClock();
        const load = new EngineLoad('llama-server', 'http://x');
        const req = manual();
        let active = true;
        const poller = new LoadPoller(clock, load, req, 250, 2_000, () => active);
        poller.start();
        await clock.advance(0);
        assert.equal(req.pending, 3, 'health, slots and metrics side by side');
        await clock.advance(1_000);
        assert.equal(req.pending, 3, 'no second poll while the first is unanswered');
        req.release();
        await clock.advance(0);
        assert.equal(poller.polls, 1);
        await clock.advance(249);
        assert.equal(req.pending, 0);
        await clock.advance(1);
        assert.equal(req.pending, 3, 'the next poll 250 ms after the previous ended');
        active = false;
        req.release();
        await clock.advance(1_000);
        assert.equal(req.pending, 0, 'idle: 2 s between polls');
        poller.hurry();
        await clock.advance(250);
        assert.equal(req.pending, 3, 'a call began: within 250 ms');
        poller.stop();
        req.release();
        await clock.runUntilIdle(60_000);
        assert.equal(req.pending, 0, 'no poll after stop');
    });

    it('a failing poll throws nowhere: it marks the engine unreachable; an endpoint not served is not asked again', async () => {
        const clock = new VirtualClock();
        const load = new EngineLoad('llama-server', 'http://x');
        let slotsCalls = 0;
        let healthFails = true;
        const req: PollRequests = {
            health: () => (healthFails ? Promise.reject(new RemoteEngineError('http://x', 'refused', 'nothing listens')) : Promise.resolve()),
            slots: () => {
                slotsCalls++;
                return Promise.reject(new RemoteEngineError('http://x', 'protocol', 'not here', { status: 501 }));
            },
            metrics: () => Promise.resolve('llamacpp:requests_processing 1\n'),
        };
        const poller = new LoadPoller(clock, load, req, 100, 100, () => true);
        poller.start();
        await clock.advance(0);
        assert.equal(load.snapshot(0).reachable, false);
        assert.match(load.snapshot(0).error ?? '', /nothing listens/);
        healthFails = false;
        await clock.advance(100);
        await clock.advance(100);
        assert.equal(slotsCalls, 1, '/slots is not served: asked once');
        assert.equal(load.snapshot(0).reachable, true);
        assert.equal(load.snapshot(0).slotsBusy, 1, 'busy slots from /metrics');
        assert.ok(load.snapshot(0).rttMs !== undefined);
        poller.stop();
    });
});

describe('llama-server answers', () => {
    it('reads a final event: stop reason, prompt sizes (cached and evaluated), slot and cache', () => {
        assert.deepEqual(finalCounts({ stop: true, stop_type: 'limit', tokens_predicted: 5, tokens_evaluated: 31, tokens_cached: 35, id_slot: 1, timings: { cache_n: 20, prompt_n: 11 } }), {
            stopReason: 'maxTokens',
            promptTokens: 31,
            reusedPromptTokens: 20,
            generatedTokens: 5,
            slot: 1,
            cachedTokens: 35,
        });
        assert.equal(finalCounts({ stop: true, stop_type: 'eos', tokens_predicted: 1, tokens_evaluated: 3 })?.stopReason, 'endOfGeneration');
        assert.equal(finalCounts({ stop: true, stop_type: 'word', tokens_predicted: 1, tokens_evaluated: 3 })?.stopReason, 'stopString');
        assert.equal(finalCounts({ stop: true, stopped_word: true, tokens_predicted: 1, tokens_evaluated: 3 })?.stopReason, 'stopString', 'older builds');
        assert.equal(finalCounts({ stop: true, tokens_predicted: 1, tokens_evaluated: 3 }), undefined, 'no stop reason: malformed');
        assert.equal(finalCounts({ stop: true, stop_type: 'eos', tokens_predicted: 1 }), undefined, 'no prompt size: malformed');
        assert.equal(finalCounts({ stop: true, stop_type: 'eos', tokens_evaluated: 1 }), undefined, 'no generated count: malformed');
    });

    it('names the model by its file, and keeps remote embedding spaces apart from local ones and from each other', () => {
        assert.equal(modelName('/models/qwen2.5-coder-7b-q4_k_m.gguf'), 'qwen2.5-coder-7b-q4_k_m');
        assert.equal(modelName('C:\\models\\coder.GGUF'), 'coder');
        const at = (url: string, identity?: string) => remoteEmbeddingSpace('llama-server', { api: 'llama-server', url, identity }, '/m/e.gguf', 100);
        assert.match(at('http://a'), /^remote-sha256:[0-9a-f]{32}$/);
        assert.notEqual(at('http://a'), at('http://b'), 'another engine, another space');
        assert.equal(at('http://a', 'e.gguf 100'), at('http://b', 'e.gguf 100'), 'a declared identity is the space');
        assert.notEqual(remoteEmbeddingSpace('llama-server', { api: 'llama-server', url: 'http://a' }, '/m/e.gguf', 101), at('http://a'), 'another file size');
    });

});
