/**
 * A model file's tokenizer without its weights (llama.cpp's vocabulary-only load: no tensors are
 * read, a few MiB at most). For tools that need the token ids of texts exactly as the model's
 * backend would count them: the benchmark's simulator predicting a real run feeds its simulated
 * models the same tokens. Not used for inference. The file is validated in TypeScript first
 * (`validateVocabularyFile`): llama.cpp aborts the process on some malformed vocabularies.
 */
import type { LlamaModel } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import { validateVocabularyFile } from './ggufValidator';
import type { LlamaRuntime } from './llamaProvider';

export interface TextTokenizer {
    /**
     * Token ids of `text` as the llama.cpp backend tokenizes a prompt's text part: special-token
     * text is not honoured and no leading space is added. Throws after `dispose`.
     */
    tokenize(text: string): number[];
    /**
     * The id of the one control token whose text is `text`, as the backend resolves a FIM or stop
     * marker (`model.tokenize(text, true)` giving exactly one special token); undefined otherwise.
     */
    controlToken(text: string): number | undefined;
    dispose(): Promise<void>;
}

/** Rejects with a ModelFileError when the file's vocabulary must not reach llama.cpp. */
export async function loadTokenizer(runtime: () => Promise<LlamaRuntime>, modelPath: string, signal?: AbortSignal): Promise<TextTokenizer> {
    signal?.throwIfAborted();
    await validateVocabularyFile(modelPath, {}, signal);
    const { llama } = await runtime();
    const model: LlamaModel = await llama.loadModel({ modelPath, vocabOnly: true, loadSignal: signal });
    return {
        tokenize: (text) => Array.from(model.tokenize(text, false, 'trimLeadingSpace')),
        controlToken: (text) => {
            const ids = model.tokenize(text, true);
            return ids.length === 1 && model.isSpecialToken(ids[0]) ? ids[0] : undefined;
        },
        dispose: () => model.dispose(),
    };
}
