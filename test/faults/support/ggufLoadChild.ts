/**
 * Child process for the faults suite: loads GGUF files with the real node-llama-cpp, one after
 * another, and reports each on stdout, so a file that aborts llama.cpp kills only this process.
 *
 * Usage: tsx ggufLoadChild.ts <jobs.json>, where jobs.json is `LoadJob[]`.
 * Protocol (one line each, written synchronously so it is out before any abort):
 *   "start <i>"            before job i touches llama.cpp
 *   "ok <i>"               it loaded, a context was created and a short text evaluated
 *                          (vocabulary-only: it loaded and the text was tokenized)
 *   "err <i> <message>"    llama.cpp or node-llama-cpp refused it with a JS exception (fine)
 *   "done"                 every job finished
 * A process that ends without "done" died inside the last started job.
 */
import { readFileSync, writeSync } from 'node:fs';

export interface LoadJob {
    readonly path: string;
    readonly vocabOnly: boolean;
}

function say(line: string): void {
    writeSync(1, `${line.replace(/\s+/g, ' ').slice(0, 500)}\n`);
}

async function main(): Promise<void> {
    const jobs = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadJob[];
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1, logLevel: LlamaLogLevel.error, logger: () => undefined });
    for (let i = 0; i < jobs.length; i++) {
        const job = jobs[i]!;
        say(`start ${i}`);
        try {
            const model = await llama.loadModel({ modelPath: job.path, vocabOnly: job.vocabOnly, gpuLayers: 0 });
            try {
                // Tokenize as the backend does: text parts plain, control-token text honoured.
                model.tokenize('def f(x):\n    return x', false, 'trimLeadingSpace');
                model.tokenize('<|fim_prefix|>a<fim_suffix>b<\uFF5Cfim\u2581end\uFF5C>', true);
                if (!job.vocabOnly) {
                    const context = await model.createContext({ contextSize: 64, threads: 1, sequences: 1 });
                    try {
                        const tokens = model.tokenize('def f(x): return x', false, 'trimLeadingSpace').slice(0, 8);
                        const bos = model.tokens.bos;
                        await context.getSequence().evaluateWithoutGeneratingNewTokens(bos === null ? tokens : [bos, ...tokens]);
                    } finally {
                        await context.dispose();
                    }
                }
            } finally {
                await model.dispose();
            }
            say(`ok ${i}`);
        } catch (e) {
            say(`err ${i} ${e instanceof Error ? e.message : String(e)}`);
        }
    }
    say('done');
    await llama.dispose();
}

main().catch((e: unknown) => {
    say(`fatal ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exitCode = 2;
});
