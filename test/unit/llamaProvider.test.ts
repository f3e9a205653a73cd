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
    /** A module whose Llama's dispose resolves after `disposeMs` (never, when undefined). */
    function fakeLib(disposeMs: number | undefined): { lib: () => Promise<LlamaLib>; disposed: () => boolean } {
        let disposed = false;
        const llama = {
            dispose: () =>
                new Promise<void>((resolve) => {
                    if (disposeMs !== undefined)
                        setTimeout(() => {
                            disposed = true;
                            resolve();
                        }, disposeMs);
                }),
        };
        const lib = { getLlama: () => Promise.resolve(llama), LlamaLogLevel: { error: 'error', fatal: 'fatal', warn: 'warn' } } as unknown as LlamaLib;
        return { lib: () => Promise.resolve(lib), disposed: () => disposed };
    }

    it('waits for node-llama-cpp to dispose', async () => {
        const fake = fakeLib(20);
        const warnings: string[] = [];
        const provider = createLlamaProvider({ importLib: fake.lib, disposeTimeoutMs: 1_000, log: (_l, m) => warnings.push(m) });
        await provider();
        await provider.dispose();
        assert.equal(fake.disposed(), true);
        assert.deepEqual(warnings, []);
    });

    it('stops waiting for a dispose that never returns, with a warning', async () => {
        const fake = fakeLib(undefined);
        const warnings: string[] = [];
        const provider = createLlamaProvider({ importLib: fake.lib, disposeTimeoutMs: 50, log: (_l, m) => warnings.push(m) });
        await provider();
        await provider.dispose();
        assert.equal(fake.disposed(), false);
        assert.deepEqual(warnings, ['node-llama-cpp did not finish disposing within 50 ms; shutting down without it']);
    });
});
