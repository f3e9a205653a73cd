import { strict as assert } from 'node:assert';
import { createLlamaProvider, defaultMaxThreads, type LlamaLib } from '../../src/backends/llamaProvider';

describe('llama provider defaults', () => {
    it('uses half the logical cores, never fewer than one thread', () => {
        assert.equal(defaultMaxThreads(1), 1);
        assert.equal(defaultMaxThreads(2), 1);
        assert.equal(defaultMaxThreads(3), 1);
        assert.equal(defaultMaxThreads(16), 8);
    });
});

describe('llama provider dispose', () => {
    /**
     * A module whose Llama's dispose resolves on the event loop's next turn (a macrotask: the provider
     * must really wait for it), or never.
     */
    function fakeLib(dispose: 'nextTurn' | 'never'): { lib: () => Promise<LlamaLib>; disposed: () => boolean } {
        let disposed = false;
        const llama = {
            dispose: () =>
                new Promise<void>((resolve) => {
                    if (dispose === 'nextTurn')
                        setImmediate(() => {
                            disposed = true;
                            resolve();
                        });
                }),
        };
        const lib = { getLlama: () => Promise.resolve(llama), LlamaLogLevel: { error: 'error', fatal: 'fatal', warn: 'warn' } } as unknown as LlamaLib;
        return { lib: () => Promise.resolve(lib), disposed: () => disposed };
    }

    it('waits for node-llama-cpp to dispose', async () => {
        const fake = fakeLib('nextTurn');
        const warnings: string[] = [];
        // The provider's cap only catches a dispose that hangs; this one returns on the next turn.
        const provider = createLlamaProvider({ importLib: fake.lib, disposeTimeoutMs: 60_000, log: (_l, m) => warnings.push(m) });
        await provider();
        await provider.dispose();
        assert.equal(fake.disposed(), true);
        assert.deepEqual(warnings, []);
    });

    it('stops waiting for a dispose that never returns, with a warning', async () => {
        const fake = fakeLib('never');
        const warnings: string[] = [];
        const provider = createLlamaProvider({ importLib: fake.lib, disposeTimeoutMs: 50, log: (_l, m) => warnings.push(m) });
        await provider();
        await provider.dispose();
        assert.equal(fake.disposed(), false);
        assert.deepEqual(warnings, ['node-llama-cpp did not finish disposing within 50 ms; shutting down without it']);
    });
});
