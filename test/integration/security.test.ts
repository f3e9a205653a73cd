/**
 * §6 of issue 20 at run time: with the real llama.cpp runtime, the router and the three generated
 * models serving a completion, a chat and embeddings, the process holds no listening server, no
 * UDP socket and no TCP connection. (test/unit/security.test.ts checks the sources and the bundle.)
 * Also the machine probe behind `zeta.memoryBudgetMB: 0`, on the real runtime.
 */
import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { ModelSpec, Role } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import { memoryBudget } from '../../src/core/memoryBudget';
import { createRouter, defaultRoutingSettings } from '../../src/core/router';
import { createLlamaCppBackendFactory } from '../../src/backends';
import { createLlamaProvider, type LlamaProvider } from '../../src/backends/llamaProvider';
import { probeMachineMemory } from '../../src/backends/machineInfo';
import { ensureModels, type SyntheticModels } from '../../scripts/generatedModels';

/** Handles that would mean network use: a server, a datagram socket, a TCP (not pipe) connection. */
function networkHandles(): string[] {
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
    const out: string[] = [];
    for (const h of handles) {
        if (h instanceof net.Server && h.listening) out.push(`server listening on ${JSON.stringify(h.address())}`);
        else if (h instanceof dgram.Socket) out.push('UDP socket');
        else if (h instanceof net.Socket && h.remoteAddress !== undefined) out.push(`TCP connection to ${h.remoteAddress}:${h.remotePort}`);
    }
    return out;
}

describe('security at run time: the real backend opens no network socket', function () {
    this.timeout(120_000);
    let models: SyntheticModels;
    let provider: LlamaProvider;

    before(async function () {
        this.timeout(180_000);
        models = await ensureModels('tiny');
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
    });

    after(async () => {
        await provider?.dispose();
    });

    it('serves a completion, a chat and embeddings with no listener, UDP socket or TCP connection', async () => {
        assert.deepEqual(networkHandles(), [], 'the test process itself started clean');
        // The check sees a listener when there is one.
        const probe = net.createServer();
        await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
        assert.equal(networkHandles().length, 1);
        await new Promise<void>((resolve) => probe.close(() => resolve()));
        assert.deepEqual(networkHandles(), []);
        const clock = new SystemClock();
        const turns = new EvalTurns();
        const spec = (role: Role): ModelSpec => ({ id: role, role, path: models[role], contextSize: 1024, slots: 1, threads: 1, gpuLayers: 0, fimTemplate: 'auto' });
        const router = createRouter({
            clock,
            turns,
            createBackend: createLlamaCppBackendFactory({ runtime: provider, clock, turns }),
            settings: defaultRoutingSettings(),
            models: [spec('coder'), spec('reasoner'), spec('embedder')],
        });
        try {
            const [completion, chat, embed] = await Promise.all([
                router.submit({ kind: 'completion', doc: 'file:///a.py', prefix: 'def add(a, b):\n    return ', suffix: '\n', maxTokens: 4 }),
                router.submit({ kind: 'explain', messages: [{ role: 'user', content: 'Explain x = 1' }], maxTokens: 4 }),
                router.submit({ kind: 'embedQuery', texts: ['sum of two numbers'] }),
            ]);
            assert.ok(completion.modelId && chat.modelId && embed.modelId);
            assert.equal(embed.vectors?.length, 1);
            assert.deepEqual(networkHandles(), []);
        } finally {
            await router.dispose();
        }
        assert.deepEqual(networkHandles(), []);
    });

    it('the machine probe reads the RAM through the real runtime (CPU here) and budgets half of it or less', async () => {
        const machine = await probeMachineMemory(provider, new AbortController().signal);
        assert.equal(machine.gpu, false);
        assert.ok(machine.ramTotalBytes > 0 && machine.ramAvailableBytes > 0);
        const b = memoryBudget(0, machine, true);
        assert.equal(b.source, 'ram');
        assert.ok(b.bytes !== undefined && b.bytes > 0 && b.bytes <= machine.ramTotalBytes / 2);
        assert.match(b.text, /from the machine/);
    });
});
