/**
 * zeta.memoryBudgetMB: a number is the budget; 0 is measured from the machine (free GPU memory when
 * a configured model may use the GPU, else a share of the RAM), and the text says which and why.
 */
import assert from 'node:assert/strict';
import { GPU_FREE_SHARE, RAM_AVAILABLE_SHARE, RAM_TOTAL_SHARE, memoryBudget, type MachineMemory } from '../../src/core/memoryBudget';
import { parseSettings } from '../../src/core/userSettings';
import { probeMachineMemory } from '../../src/backends/machineInfo';
import type { LlamaProvider, LlamaRuntime } from '../../src/backends/llamaProvider';

const GB = 1e9;
const cpu16: MachineMemory = { gpu: false, vramTotalBytes: 0, vramFreeBytes: 0, ramTotalBytes: 16 * GB, ramAvailableBytes: 12 * GB };
const cuda24: MachineMemory = { gpu: 'cuda', vramTotalBytes: 24 * GB, vramFreeBytes: 20 * GB, ramTotalBytes: 64 * GB, ramAvailableBytes: 60 * GB };

describe('memory budget', () => {
    it('a set budget is used as it is and named as the setting', () => {
        const b = memoryBudget(12_288, cuda24, true);
        assert.equal(b.bytes, 12_288 * 1024 * 1024);
        assert.equal(b.source, 'setting');
        assert.equal(b.text, 'memory budget 12.9 GB (zeta.memoryBudgetMB = 12288)');
    });

    it('0 without a measurement is no budget yet, and says so', () => {
        const b = memoryBudget(0, undefined, true);
        assert.equal(b.bytes, undefined);
        assert.equal(b.source, 'unmeasured');
        assert.match(b.text, /not measured yet/);
    });

    it('0 on a CPU machine: half the RAM, unless 80% of what is available now is less', () => {
        const half = memoryBudget(0, cpu16, true);
        assert.equal(half.bytes, 16 * GB * RAM_TOTAL_SHARE);
        assert.equal(half.source, 'ram');
        assert.equal(half.text, 'memory budget 8.0 GB (50% of 16.0 GB RAM, no GPU; from the machine)');
        const busy = memoryBudget(0, { ...cpu16, ramAvailableBytes: 5 * GB }, true);
        assert.equal(busy.bytes, 5 * GB * RAM_AVAILABLE_SHARE);
        assert.equal(busy.text, 'memory budget 4.0 GB (80% of 5.0 GB RAM available of 16.0 GB, no GPU; from the machine)');
    });

    it('0 with a GPU: 90% of the GPU memory free at start-up; the RAM when no model uses the GPU', () => {
        const gpu = memoryBudget(0, cuda24, true);
        assert.equal(gpu.bytes, Math.floor(20 * GB * GPU_FREE_SHARE));
        assert.equal(gpu.source, 'gpu');
        assert.equal(gpu.text, 'memory budget 18.0 GB (90% of 20.0 GB free of 24.0 GB cuda GPU memory; from the machine)');
        const cpuOnly = memoryBudget(0, cuda24, false);
        assert.equal(cpuOnly.bytes, 32 * GB);
        assert.match(cpuOnly.text, /50% of 64\.0 GB RAM, the cuda GPU is not used \(gpuLayers 0\)/);
    });

    it('parseSettings budgets the machine for the router, and keeps it out of the specs (no file is refused by a measured budget)', () => {
        const raw = { 'models.coder.path': '/m/coder.gguf', 'models.reasoner.path': '/m/reasoner.gguf' };
        const measured = parseSettings(raw, undefined, {}, undefined, cpu16);
        assert.equal(measured.routing.memoryBudgetBytes, 8 * GB);
        assert.equal(measured.memoryBudget.source, 'ram');
        assert.ok(measured.modelSpecs.every((s) => s.memoryBudgetBytes === undefined));
        // Every configured model on the CPU: the RAM is budgeted even with a GPU present.
        const onCpu = parseSettings({ ...raw, 'models.coder.gpuLayers': 0, 'models.reasoner.gpuLayers': 0 }, undefined, {}, undefined, cuda24);
        assert.equal(onCpu.memoryBudget.source, 'ram');
        const onGpu = parseSettings(raw, undefined, {}, undefined, cuda24);
        assert.equal(onGpu.memoryBudget.source, 'gpu');
        // A set budget is the router's and the validator's.
        const set = parseSettings({ ...raw, memoryBudgetMB: 4096 }, undefined, {}, undefined, cpu16);
        assert.equal(set.routing.memoryBudgetBytes, 4096 * 1024 * 1024);
        assert.ok(set.modelSpecs.every((s) => s.memoryBudgetBytes === 4096 * 1024 * 1024));
    });

    it('the probe reads free GPU memory through node-llama-cpp, and the RAM without a GPU', async () => {
        const ram = { total: () => 16 * GB, available: () => 12 * GB };
        const signal = new AbortController().signal;
        const withGpu = fakeProvider({ gpu: 'vulkan', getVramState: () => Promise.resolve({ total: 8 * GB, used: 3 * GB, free: 5 * GB }) });
        assert.deepEqual(await probeMachineMemory(withGpu, signal, ram), { gpu: 'vulkan', vramTotalBytes: 8 * GB, vramFreeBytes: 5 * GB, ramTotalBytes: 16 * GB, ramAvailableBytes: 12 * GB });
        const cpuOnly = fakeProvider({ gpu: false, getVramState: () => Promise.reject(new Error('not called')) });
        assert.deepEqual(await probeMachineMemory(cpuOnly, signal, ram), cpu16);
        const broken: LlamaProvider = Object.assign(() => Promise.reject(new Error('no binding')), { dispose: () => Promise.resolve() });
        assert.deepEqual(await probeMachineMemory(broken, signal, ram), cpu16, 'a runtime that cannot start leaves the RAM');
        const aborted = AbortSignal.abort(new Error('stop'));
        await assert.rejects(probeMachineMemory(withGpu, aborted, ram), /stop/);
    });
});

function fakeProvider(llama: { gpu: false | string; getVramState: () => Promise<{ total: number; used: number; free: number }> }): LlamaProvider {
    const runtime = { llama } as unknown as LlamaRuntime;
    return Object.assign(() => Promise.resolve(runtime), { dispose: () => Promise.resolve() });
}
