/**
 * LlamaServerBackend on real llama-servers (the binary `npm run engine` builds), serving the tiny
 * generated models: the backend contract (test/support/backendContract.ts), then what only a
 * llama-server backend does. The same contract runs against the in-process LlamaCppBackend, to show
 * it is one contract.
 */
import type { ModelBackend, ModelSpec, Role } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import { createLlamaCppBackendFactory } from '../../src/backends';
import { createLlamaProvider, type LlamaProvider } from '../../src/backends/llamaProvider';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';
import { backendContract } from '../support/backendContract';

describe('LlamaCppBackend (in process)', function () {
    let models: SyntheticModels;
    let provider: LlamaProvider | undefined;
    let create: (spec: ModelSpec) => ModelBackend;
    const spec = (role: Role): ModelSpec => ({ id: role, role, path: models[role], contextSize: 2048, slots: 2, threads: 1, gpuLayers: 0, fimTemplate: 'auto' });

    before(async function () {
        this.timeout(120_000);
        models = await ensureModels('tiny');
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
        create = createLlamaCppBackendFactory({ runtime: provider, clock: new SystemClock(), turns: new EvalTurns() });
    });

    after(async () => {
        await provider?.dispose();
    });

    backendContract('LlamaCppBackend', () => ({ spec, create: (role) => create(spec(role)) }));
});
