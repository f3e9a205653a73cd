/**
 * A model file's tokenizer without its weights (llama.cpp's vocabulary-only load: no tensors are
 * read, a few MiB at most). For tools that need the token ids of texts exactly as the model's
 * backend would count them: the benchmark's simulator predicting a real run feeds its simulated
 * models the same tokens. Not used for inference.
 */
import type { LlamaModel } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import type { LlamaRuntime } from './llamaProvider';

export interface TextTokenizer {
    /**
     * Token ids of `text` as the llama.cpp backend tokenizes a prompt's text part: special-token
     * text is not honoured and no leading space is added. Throws after `dispose`.
     */
    tokenize(text: string): number[];
    dispose(): Promise<void>;
}

export async function loadTokenizer(runtime: () => Promise<LlamaRuntime>, modelPath: string, signal?: AbortSignal): Promise<TextTokenizer> {
    signal?.throwIfAborted();
    const { llama } = await runtime();
    const model: LlamaModel = await llama.loadModel({ modelPath, vocabOnly: true, loadSignal: signal });
    return {
        tokenize: (text) => Array.from(model.tokenize(text, false, 'trimLeadingSpace')),
        dispose: () => model.dispose(),
    };
}
