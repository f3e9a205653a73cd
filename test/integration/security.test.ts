/**
 * §6 of issue 20 at run time: with the real llama.cpp runtime, the router and the three generated
 * models serving a completion, a chat and embeddings, the process holds no listening server, no
 * UDP socket and no TCP connection. (test/unit/security.test.ts checks the sources and the bundle.)
 * Also the machine probe behind `zeta.memoryBudgetMB: 0`, on the real runtime. Issue 21: the
 * extension's composed backends (local and remote factories, specs from the settings parser) open no
 * socket while no remote model is configured, and with one configured (a real llama-server on
 * loopback) every connection goes to that model's URL and none other.
 */
import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { ModelSpec, Role } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import { memoryBudget } from '../../src/core/memoryBudget';
import { createRouter, defaultRoutingSettings } from '../../src/core/router';
import { createBackendFactory, createLlamaCppBackendFactory } from '../../src/backends';
import { parseSettings, toModelSpecs } from '../../src/core/userSettings';
import { probeMachineMemory } from '../../src/backends/machineInfo';
import { tinyRuntime } from '../support/tinyRuntime';
import { startLlamaServer, type LlamaServer } from '../../scripts/llamaServer';

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
    const tiny = tinyRuntime();

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
        const spec = (role: Role): ModelSpec => ({ id: role, role, path: tiny.models[role], contextSize: 1024, slots: 1, threads: 1, gpuLayers: 0, fimTemplate: 'auto' });
        const router = createRouter({
            clock,
            turns,
            createBackend: createLlamaCppBackendFactory({ runtime: tiny.provider, clock, turns }),
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

    it("the extension's composition (settings parser, local and remote factories) opens no socket while no remote model is configured", async () => {
        assert.deepEqual(networkHandles(), [], 'the test process itself started clean');
        // As the extension reads them: the models from the environment, zeta.remoteModels unset.
        const parsed = parseSettings({}, undefined, { ZETA_CODER_MODEL: tiny.models.coder, ZETA_REASONER_MODEL: tiny.models.reasoner, ZETA_EMBEDDER_MODEL: tiny.models.embedder, ZETA_THREADS: '1' });
        assert.deepEqual(parsed.problems, []);
        const specs = toModelSpecs(parsed.settings, () => 'a key that must never be used').map((s) => ({ ...s, contextSize: 1024, slots: 1, gpuLayers: 0 as const }));
        assert.equal(specs.length, 3);
        assert.ok(specs.every((s) => s.remote === undefined));
        const clock = new SystemClock();
        const turns = new EvalTurns();
        const router = createRouter({ clock, turns, createBackend: createBackendFactory({ runtime: tiny.provider, clock, turns }), settings: defaultRoutingSettings(), models: specs });
        try {
            const [completion, embed] = await Promise.all([
                router.submit({ kind: 'completion', doc: 'file:///b.py', prefix: 'def mul(a, b):\n    return ', suffix: '\n', maxTokens: 4 }),
                router.submit({ kind: 'embedQuery', texts: ['product of two numbers'] }),
            ]);
            assert.equal(completion.modelId, 'coder');
            assert.equal(embed.vectors?.length, 1);
            assert.deepEqual(networkHandles(), []);
        } finally {
            await router.dispose();
        }
        assert.deepEqual(networkHandles(), []);
    });

    it('the machine probe reads the RAM through the real runtime (CPU here) and budgets half of it or less', async () => {
        const machine = await probeMachineMemory(tiny.provider, new AbortController().signal);
        assert.equal(machine.gpu, false);
        assert.ok(machine.ramTotalBytes > 0 && machine.ramAvailableBytes > 0);
        const b = memoryBudget(0, machine, true);
        assert.equal(b.source, 'ram');
        assert.ok(b.bytes !== undefined && b.bytes > 0 && b.bytes <= machine.ramTotalBytes / 2);
        assert.match(b.text, /from the machine/);
    });
});

describe('security at run time: a configured remote model is the only place requests go', function () {
    this.timeout(180_000);
    const tiny = tinyRuntime();
    let server: LlamaServer | undefined;

    before(async function () {
        this.timeout(600_000); // builds llama-server on first use (npm run engine), minutes
        server = await startLlamaServer({ model: tiny.models.coder, slots: 1, contextSize: 1024 });
    });

    after(async () => {
        await server?.stop();
        await tiny.provider?.dispose();
    });

    it('a completion is served by the remote coder (first for its role); every TCP connection of this process goes to its URL; no listener', async () => {
        const url = server!.url;
        const parsed = parseSettings(
            { remoteModels: [{ id: 'team', url, api: 'llama-server', roles: ['coder'] }] },
            undefined,
            { ZETA_CODER_MODEL: tiny.models.coder, ZETA_THREADS: '1' },
        );
        assert.deepEqual(parsed.problems, []);
        const specs = toModelSpecs(parsed.settings).map((s) => ({ ...s, contextSize: 1024, slots: 1, gpuLayers: 0 as const }));
        assert.deepEqual(specs.map((s) => s.id), ['team', 'coder']);
        const clock = new SystemClock();
        const turns = new EvalTurns();
        const router = createRouter({ clock, turns, createBackend: createBackendFactory({ runtime: tiny.provider, clock, turns }), settings: defaultRoutingSettings(), models: specs });
        const port = String(new URL(url).port);
        const elsewhere = (): string[] => networkHandles().filter((h) => !h.startsWith(`TCP connection to 127.0.0.1:${port}`));
        try {
            const result = await router.submit({ kind: 'completion', doc: 'file:///c.py', prefix: 'def sub(a, b):\n    return ', suffix: '\n', maxTokens: 4 });
            assert.equal(result.modelId, 'team', `served by ${result.modelId}`);
            assert.deepEqual(elsewhere(), []);
            assert.ok(networkHandles().length > 0, 'the remote model was reached over TCP (the check sees connections)');
        } finally {
            await router.dispose();
        }
        assert.deepEqual(elsewhere(), []);
    });
});
