/**
 * Child process for the faults suite: the real router over real llama.cpp backends, with the
 * coder's file (a copy) cut to `<bytes>` bytes in place while it is loaded, then more requests.
 * llama.cpp maps the file, so a regression here kills the process with SIGBUS: it runs apart from
 * the suite, which reads its verdict from stdout.
 *
 * Usage: tsx truncatedModelChild.ts <models.json> <copy of coder.gguf> <bytes>
 * Output: one JSON line per step, then "done"; a process ending without "done" died.
 */
import { readFileSync, truncateSync, writeSync } from 'node:fs';
import type { Role } from '../../../src/core/backend';
import { createLlamaProvider } from '../../../src/backends/llamaProvider';
import { code, completionTask, describeOutcome, startRealRouter } from './routerHarness';

function say(step: string, value: unknown): void {
    writeSync(1, `${JSON.stringify({ step, value })}\n`);
}

async function main(): Promise<void> {
    const models = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Record<Role, string>;
    const copy = process.argv[3]!;
    const bytes = Number(process.argv[4]);
    const provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
    // The static policy: completions go to the coder whenever it can serve.
    const h = await startRealRouter({ paths: { ...models, coder: copy }, runtime: provider, settings: { policy: 'static' } });
    const before = await h.run(completionTask('a.ts', code(8, 'a'), 4));
    say('before', describeOutcome(before));
    truncateSync(copy, bytes);
    const after = await h.run(completionTask('b.ts', code(8, 'b'), 4));
    say('after', describeOutcome(after));
    say('decision', after.ok ? after.value.decision.reason : '');
    say('coderError', h.router.snapshot().models.find((m) => m.id === 'coder')?.error ?? '');
    const again = await h.run(completionTask('c.ts', code(8, 'c'), 4));
    say('again', describeOutcome(again));
    await h.dispose();
    await provider.dispose();
    writeSync(1, 'done\n');
}

main().catch((e: unknown) => {
    say('crash', e instanceof Error ? e.stack ?? e.message : String(e));
    process.exitCode = 1;
});
