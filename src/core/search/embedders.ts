/**
 * Which embedder an index belongs to, and what that embedder expects around its input.
 *
 * Embedding models trained with instructions embed a query and a document differently: nomic-embed
 * wants "search_query: " and "search_document: " before them, e5 "query: " and "passage: ",
 * Qwen3-Embedding an instruction before the query and nothing before documents, BGE and mxbai an
 * instruction before queries only. The prefixes are chosen from the model's name (a GGUF file says
 * nothing about them) and recorded in the index's identity, so a query is always embedded the way
 * the index's documents were.
 */
import type { ModelInfo } from '../backend';
import type { EmbedderIdentity } from './types';

interface PrefixRule {
    /** Matched against the model's name and file name, lower-cased. */
    readonly match: RegExp;
    readonly queryPrefix: string;
    readonly documentPrefix: string;
}

const SEARCH_INSTRUCTION = 'Represent this sentence for searching relevant passages: ';

/** First match wins. */
const PREFIX_RULES: readonly PrefixRule[] = [
    { match: /nomic[-_ ]?embed/, queryPrefix: 'search_query: ', documentPrefix: 'search_document: ' },
    { match: /qwen3[-_ ]?embedding/, queryPrefix: 'Instruct: Given a code search query, retrieve the code that answers it\nQuery: ', documentPrefix: '' },
    { match: /(^|[^a-z])(multilingual-)?e5([-_ ]|$)/, queryPrefix: 'query: ', documentPrefix: 'passage: ' },
    { match: /bge|mxbai[-_ ]?embed/, queryPrefix: SEARCH_INSTRUCTION, documentPrefix: '' },
    { match: /snowflake[-_ ]?arctic[-_ ]?embed/, queryPrefix: SEARCH_INSTRUCTION, documentPrefix: '' },
];

/** The prefixes `info`'s model expects before a query and before a document ("" when it expects none). */
export function embedderPrefixes(info: Pick<ModelInfo, 'name' | 'path'>): { queryPrefix: string; documentPrefix: string } {
    const names = `${info.name} ${info.path.split(/[\\/]/).pop() ?? ''}`.toLowerCase();
    const rule = PREFIX_RULES.find((r) => r.match.test(names));
    return rule ? { queryPrefix: rule.queryPrefix, documentPrefix: rule.documentPrefix } : { queryPrefix: '', documentPrefix: '' };
}

/** The identity of the embedding space `info`'s model embeds into, with what it expects. */
export function embedderIdentity(info: ModelInfo): EmbedderIdentity {
    return {
        space: info.embeddingSpace,
        dims: info.embeddingDims,
        pooling: info.embeddingPooling ?? 'model default',
        model: info.name,
        ...embedderPrefixes(info),
    };
}

/** Whether two identities embed into the same space the same way (their vectors may be compared). */
export function sameEmbedder(a: EmbedderIdentity, b: EmbedderIdentity): boolean {
    return a.space === b.space && a.dims === b.dims && a.pooling === b.pooling && a.queryPrefix === b.queryPrefix && a.documentPrefix === b.documentPrefix;
}
