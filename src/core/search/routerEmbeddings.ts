/**
 * Embeddings for search through the router: documents as background `embed` work (the router runs
 * them in small batches between interactive work), queries as interactive `embedQuery`, both bound
 * to the index's embedding space so the router never sends them to another model. The embedder is
 * the model with the embedder role (a search index belongs to it); without one, search is lexical.
 */
import type { Router } from '../tasks';
import { embedderIdentity } from './embedders';
import type { Embeddings } from './indexer';
import type { EmbedderIdentity } from './types';

export function routerEmbeddings(router: Pick<Router, 'snapshot' | 'modelInfo' | 'submit'>): Embeddings {
    return {
        current(): EmbedderIdentity | 'pending' | undefined {
            let pending = false;
            for (const m of router.snapshot().models) {
                if (m.role !== 'embedder' || m.residency === 'failed') continue;
                const info = router.modelInfo(m.id);
                if (info && info.embeddingDims > 0) return embedderIdentity(info);
                if (!info) pending = true;
            }
            return pending ? 'pending' : undefined;
        },
        async documents(texts, identity, signal): Promise<number[][]> {
            const r = await router.submit({ kind: 'embed', texts: texts.map((t) => identity.documentPrefix + t), space: identity.space }, signal);
            return checked(r.vectors, texts.length, identity);
        },
        async query(text, identity, signal): Promise<number[]> {
            const r = await router.submit({ kind: 'embedQuery', texts: [identity.queryPrefix + text], space: identity.space }, signal);
            return checked(r.vectors, 1, identity)[0];
        },
    };
}

/** The router's vectors, or a clear error when they are not what the index expects. */
function checked(vectors: number[][] | undefined, n: number, identity: EmbedderIdentity): number[][] {
    if (!vectors || vectors.length !== n) throw new Error(`the embedder returned ${vectors?.length ?? 0} vectors for ${n} texts`);
    for (const v of vectors) if (v.length !== identity.dims) throw new Error(`the embedder returned ${v.length} dimensions; the index has ${identity.dims}`);
    return vectors;
}
