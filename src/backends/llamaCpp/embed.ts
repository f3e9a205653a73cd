/**
 * Embeddings on the llama.cpp backend: one embedding context per model, created at load for an
 * embedder and on the first embed call for the others; one native call per text.
 */
import type { LlamaEmbeddingContext, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import { ModelRuntimeError } from '../../core/errors';
import type { Native } from './generate';
import { openContext, type Loaded, type OpenNative } from './loaded';

/** The model's embedding context, created now if it has none (it lives until unload). */
export function embeddingContext(open: OpenNative, loaded: Loaded): Promise<LlamaEmbeddingContext> {
    loaded.embedding ??= createEmbeddingContext(open, loaded, loaded.lifetime.signal);
    return loaded.embedding;
}

/**
 * One vector per text, in order, each of `loaded.info.embeddingDims` numbers. `native` runs each
 * text's evaluation; `signal` is checked between texts.
 */
export async function embedTexts(loaded: Loaded, ctx: LlamaEmbeddingContext, texts: readonly string[], native: Native, signal: AbortSignal): Promise<number[][]> {
    const out: number[][] = [];
    for (const text of texts) {
        signal.throwIfAborted();
        const tokens = embeddingInput(loaded, text);
        const embedding = await native(() => ctx.getEmbeddingFor(tokens));
        if (embedding.vector.length !== loaded.info.embeddingDims) {
            throw new ModelRuntimeError(
                loaded.spec.id,
                'unsupported',
                `embedding has ${embedding.vector.length} dimensions, expected ${loaded.info.embeddingDims}`,
            );
        }
        out.push(Array.from(embedding.vector));
    }
    return out;
}

/**
 * Creates the model's embedding context, counted in `open` (`loaded.embedding` is cleared again if
 * that fails).
 */
export function createEmbeddingContext(open: OpenNative, loaded: Loaded, signal: AbortSignal): Promise<LlamaEmbeddingContext> {
    const p = openContext(open, () =>
        loaded.model.createEmbeddingContext({
            contextSize: loaded.info.contextSize,
            batchSize: loaded.info.contextSize,
            threads: loaded.spec.threads > 0 ? loaded.spec.threads : undefined,
            createSignal: signal,
        }),
    );
    // A failed creation is retried by the next embed call.
    p.catch(() => {
        if (loaded.embedding === p) loaded.embedding = undefined;
    });
    return p;
}

/**
 * Tokens for one text, cut to fit the embedding context (node-llama-cpp adds the BOS/EOS the
 * model expects and needs the input strictly shorter than the context); never empty.
 */
function embeddingInput(loaded: Loaded, text: string): Token[] {
    let tokens = loaded.model.tokenize(text, false);
    const room = loaded.info.contextSize - 3;
    if (tokens.length > room) tokens = tokens.slice(0, room);
    if (tokens.length === 0) tokens = loaded.model.tokenize(' ', false);
    return tokens;
}
