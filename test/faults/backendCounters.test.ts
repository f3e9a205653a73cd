/**
 * The leak counters of the backend contract (`BackendStats.sequencesHeld`, `contextsOpen`) on the
 * real llama.cpp backend (tiny generated models): they count what is held while it is held and
 * return to zero, including after an abort mid-call and after a load that fails part-way. The soak
 * script and the keystroke test read exactly these numbers.
 */
import { strict as assert } from 'node:assert';
import type { TokenGate } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { LlamaCppBackend, validateGguf } from '../../src/backends';
import type { LlamaRuntime } from '../../src/backends/llamaProvider';
import { ModelFileError } from '../../src/core/errors';
import { tinyRuntime } from '../support/tinyRuntime';
import { realSpec, settledWithin } from './support/routerHarness';

/** `target[prop]`, with methods bound to `target` (node-llama-cpp's objects use private fields). */
function bound(target: object, prop: string | symbol): unknown {
    const v: unknown = Reflect.get(target, prop, target);
    return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
}

describe('faults: the backend counts sequences held and contexts open', function () {
    this.timeout(120_000);

    const tiny = tinyRuntime();

    function backend(): LlamaCppBackend {
        return new LlamaCppBackend({ runtime: tiny.provider, clock: new SystemClock(), validate: validateGguf, warmUp: 'never' });
    }

    it('contexts: one per loaded model, one more once it embeds, none after unload', async () => {
        const coder = backend();
        const embedder = backend();
        const signal = new AbortController().signal;
        assert.equal(coder.stats().contextsOpen, 0);
        await coder.load(realSpec('coder', tiny.models.coder), signal);
        await embedder.load(realSpec('embedder', tiny.models.embedder), signal);
        assert.equal(coder.stats().contextsOpen, 1);
        assert.equal(embedder.stats().contextsOpen, 2, "an embedder's embedding context is created at load");
        await coder.embed(['a text'], signal);
        assert.equal(coder.stats().contextsOpen, 2, 'a first embedding opens an embedding context');
        await coder.embed(['another'], signal);
        assert.equal(coder.stats().contextsOpen, 2, 'and reuses it');
        await coder.unload();
        await embedder.unload();
        assert.equal(coder.stats().contextsOpen, 0);
        assert.equal(embedder.stats().contextsOpen, 0);
    });

    it("a load that fails after an embedder's embedding context exists leaves no context open", async () => {
        // The warm-up (after the embedding context is created) fails: its first step tokenizes " warm".
        const runtime = async (): Promise<LlamaRuntime> => {
            const rt = await tiny.provider();
            const llama = new Proxy(rt.llama, {
                get: (target, prop) => {
                    if (prop !== 'loadModel') return bound(target, prop);
                    return async (options: Parameters<typeof target.loadModel>[0]) => {
                        const model = await target.loadModel(options);
                        return new Proxy(model, {
                            get: (m, p) =>
                                p === 'tokenize'
                                    ? (text: unknown, ...rest: unknown[]) => {
                                          if (text === ' warm') throw new Error('injected: the warm-up failed');
                                          return (m.tokenize as (...a: unknown[]) => unknown).call(m, text, ...rest);
                                      }
                                    : bound(m, p),
                        });
                    };
                },
            });
            return { ...rt, llama, logMark: () => rt.logMark(), errorsSince: (mark: number) => rt.errorsSince(mark) };
        };
        const embedder = new LlamaCppBackend({ runtime, clock: new SystemClock(), validate: validateGguf, warmUp: 'always' });
        const e = await embedder.load(realSpec('embedder', tiny.models.embedder), new AbortController().signal).then(
            () => undefined,
            (x: unknown) => x,
        );
        assert.ok(e instanceof ModelFileError && e.problem === 'loadFailed', String(e));
        assert.match(e.message, /injected: the warm-up failed/);
        assert.equal(embedder.stats().contextsOpen, 0, 'the context and the embedding context were both disposed');
    });

    it('sequences: held from a call taking one until it returns, also when aborted mid-call', async () => {
        const coder = backend();
        await coder.load(realSpec('coder', tiny.models.coder), new AbortController().signal);
        // A gate that parks the call before its third token: the sequence is held meanwhile.
        let asked = 0;
        let parked: (() => void) | undefined;
        const reached = new Promise<void>((resolve) => (parked = resolve));
        const gate: TokenGate = {
            wait: (s) => {
                asked++;
                if (asked < 3) return undefined;
                parked?.();
                return new Promise<void>((_, reject) => s.addEventListener('abort', () => reject(s.reason), { once: true }));
            },
        };
        const ac = new AbortController();
        const call = coder.generate({ mode: 'raw', prompt: 'const a = 1;', maxTokens: 16, gate, ignoreEndOfGeneration: true }, ac.signal).then(
            () => 'returned',
            (e: unknown) => (e === ac.signal.reason ? 'aborted' : `failed: ${String(e)}`),
        );
        await settledWithin(reached, 'the call parked at its gate');
        assert.equal(coder.stats().sequencesHeld, 1);
        ac.abort(new Error('superseded'));
        assert.equal(await settledWithin(call, 'the aborted call'), 'aborted');
        await settledWithin(
            (async () => {
                while (coder.stats().sequencesHeld !== 0) await new Promise((r) => setTimeout(r, 5));
            })(),
            'the sequence released',
        );
        const done = await coder.generate({ mode: 'raw', prompt: 'let b = 2;', maxTokens: 4 }, new AbortController().signal);
        assert.ok(done.promptTokens > 0);
        assert.equal(coder.stats().sequencesHeld, 0);
        await coder.unload();
        assert.equal(coder.stats().contextsOpen, 0);
    });
});
