/**
 * GPU check of the llama.cpp backend and a speed profile of the generated models on a GPU:
 *   npx tsx bench/real/gpuCheck.ts --out DIR [--no-profile]
 * Loads the three generated models with every layer offloaded (llama.cpp picks CUDA, Vulkan or
 * Metal, whichever prebuilt binary works here), then checks fill-in-the-middle with the /infill
 * layout (a keystroke in a line evaluates one token), chat, embeddings (deterministic), abort in
 * the middle of a call and the token gate, and measures a profile (bench/real/measure.ts) on the GPU.
 * Writes DIR/checks.json and DIR/profile-gpu.json; exits non-zero when a check fails. With no GPU
 * it says so and measures the CPU instead. Results of one run on an H100: bench/results/gpu-h100/.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GenerationResult, ModelBackend } from '../../src/core/backend';
import { measureProfile } from './measure';
import { realSetup } from './setup';

const outAt = process.argv.indexOf('--out');
const OUT = outAt > 0 ? process.argv[outAt + 1] : (process.env.OUT ?? '.');
const t0 = performance.now();
const log = (m: string): void => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${m}`);

async function main(): Promise<void> {
    mkdirSync(OUT, { recursive: true });
    const setup = await realSetup(0, 'auto');
    const rt = await setup.provider();
    log(`gpu: ${String(rt.llama.gpu)}; devices ${JSON.stringify(await rt.llama.getGpuDeviceNames().catch(() => []))}; vram ${JSON.stringify(await rt.llama.getVramState().catch(() => ({})))}`);
    log(`setup.gpu=${setup.gpu}`);
    const results: Record<string, unknown> = { gpu: rt.llama.gpu };
    const never = new AbortController().signal;
    const by: Record<string, ModelBackend> = {};
    for (const spec of setup.specs) {
        const b = setup.createBackend(spec);
        const loadStart = performance.now();
        const info = await b.load(spec, never);
        log(`${spec.role}: load took ${(performance.now() - loadStart).toFixed(0)} ms`);
        by[spec.role] = b;
        log(`${spec.role}: loaded, gpu=${info.gpu} fim=${info.fim} ctx=${info.contextSize} mem=${JSON.stringify(info.estimatedMemory)}`);
    }
    const coder = by.coder;
    const lines = Array.from({ length: 30 }, (_, i) => `    const v${i} = compute(${i}, input) + offset;`).join('\n');
    const prefix = `function f(input, offset) {\n${lines}\n`;
    const suffix = ' + 1;\n' + lines.replace(/v(\d)/g, 'w$1') + '\n}\n';
    const fim = (middle: string, key: string, maxTokens = 8): Promise<GenerationResult> => coder.generate({ mode: 'fim', prefix, suffix, middle, maxTokens, cacheKey: key }, never);
    const typical = await coder.generate({ mode: 'fim', prefix: prefix.slice(0, 1200), suffix: suffix.slice(0, 400), middle: '    x = ', maxTokens: 8, cacheKey: 't' }, never);
    log(`typical cold fim: ${typical.promptTokens} tokens, first token ${typical.firstTokenMs?.toFixed(1)} ms`);
    const cold = await fim('    const total = v1', 'k');
    const warm = await fim('    const total = v12', 'k');
    results.fim = { cold: { ft: cold.firstTokenMs, total: cold.totalMs, evaluated: cold.evaluatedPromptTokens, prompt: cold.promptTokens }, warm: { ft: warm.firstTokenMs, total: warm.totalMs, evaluated: warm.evaluatedPromptTokens } };
    assert.ok(warm.evaluatedPromptTokens <= 4, `a keystroke in the line evaluated ${warm.evaluatedPromptTokens} tokens`);
    log(`fim cold ft ${cold.firstTokenMs?.toFixed(1)} ms (${cold.evaluatedPromptTokens} tokens), warm ft ${warm.firstTokenMs?.toFixed(1)} ms (${warm.evaluatedPromptTokens} tokens), text ${JSON.stringify(warm.text).slice(0, 60)}`);
    const chat = await by.reasoner.chat({ messages: [{ role: 'user', content: 'Explain: ' + lines.slice(0, 400) }], maxTokens: 32 }, never);
    log(`chat: ft ${chat.firstTokenMs?.toFixed(1)} total ${chat.totalMs.toFixed(1)} generated ${chat.generatedTokens}`);
    const vecs = await by.embedder.embed(['alpha beta', 'gamma delta', 'alpha beta'], never);
    const same = vecs[0].every((x, i) => Math.abs(x - vecs[2][i]) < 1e-4);
    log(`embed: ${vecs.length} x ${vecs[0].length}, deterministic ${same}`);
    assert.ok(same && chat.generatedTokens === 32, 'embeddings deterministic, chat ran to its length');
    const ac = new AbortController();
    const aborted = coder.generate({ mode: 'raw', prompt: lines, maxTokens: 400 }, ac.signal).then(() => 'served', (e: unknown) => (e === ac.signal.reason ? 'aborted' : String(e)));
    setTimeout(() => ac.abort(new Error('stop')), 30);
    const abortOutcome = await aborted;
    log(`abort mid-call: ${abortOutcome}; inFlight right after: ${coder.stats().inFlight}`);
    assert.equal(abortOutcome, 'aborted');
    let open = false;
    let release: () => void = () => undefined;
    const gate = { wait: () => (open ? undefined : new Promise<void>((r) => (release = r))) };
    const gated = coder.generate({ mode: 'raw', prompt: 'gate test', maxTokens: 4, gate }, never);
    await new Promise((r) => setTimeout(r, 100));
    open = true;
    release();
    const gatedTokens = (await gated).generatedTokens;
    log(`gate: ${gatedTokens} tokens after the gate opened`);
    assert.equal(gatedTokens, 4);
    results.chat = { ft: chat.firstTokenMs, total: chat.totalMs };
    results.embed = { n: vecs.length, dims: vecs[0].length, same };
    for (const b of Object.values(by)) await b.unload();
    writeFileSync(join(OUT, 'checks.json'), JSON.stringify(results, null, 2));
    if (process.argv.includes('--no-profile')) {
        log('done (no profile)');
        await setup.provider.dispose();
        return;
    }
    log(`measuring the profile on the ${setup.gpu ? 'GPU' : 'CPU (no GPU found)'}...`);
    const { profile } = await measureProfile(setup, { log: (l) => log(l), reps: 3 });
    writeFileSync(join(OUT, 'profile-gpu.json'), JSON.stringify(profile, null, 2));
    log('done');
    await setup.provider.dispose();
}
main().catch((e: unknown) => {
    console.error('FAILED', e);
    process.exit(1);
});
