/**
 * The setup most real-inference suites share: the tiny generated models and one CPU llama.cpp
 * runtime (one thread), made in the suite's `before` and disposed in its `after`. Call it inside a
 * mocha `describe`; read the fields inside tests and hooks (they are set once `before` has run).
 */
import { createLlamaProvider, type LlamaProvider } from '../../src/backends/llamaProvider';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';

export interface TinyRuntime {
    readonly models: SyntheticModels;
    readonly provider: LlamaProvider;
}

export function tinyRuntime(): TinyRuntime {
    const env: { models?: SyntheticModels; provider?: LlamaProvider } = {};
    before(async function () {
        this.timeout(180_000);
        env.models = await ensureModels('tiny');
        env.provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
    });
    after(async () => {
        await env.provider?.dispose();
    });
    return {
        get models(): SyntheticModels {
            if (!env.models) throw new Error('tinyRuntime: read in a test or hook, after the suite’s before');
            return env.models;
        },
        get provider(): LlamaProvider {
            if (!env.provider) throw new Error('tinyRuntime: read in a test or hook, after the suite’s before');
            return env.provider;
        },
    };
}
