/**
 * The benchmark's synthetic embedder: a chunk's vector is a pure function of its module (the
 * topic) and its text's hash, clustered as an embedding model's are: a direction all vectors share
 * (the narrow cone), one per topic, and noise per text. Equal texts get equal vectors; an edited
 * chunk gets a new one near its topic. Not semantic: for speed and size, not quality.
 */
import { createRng, hashString, type Rng } from '../../lib/rng';

/** Strength of the shared direction, the topic and the per-text noise (unit Gaussians each). */
const SHARED = 1.2;
const TOPIC = 1;
const NOISE = 0.7;

function gaussian(r: Rng): number {
    return Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
}

export interface SyntheticEmbedder {
    readonly dims: number;
    /** The vector of a chunk of `module` whose text hashes to `hash`. */
    embed(module: number, hash: string): Float32Array;
}

export function syntheticEmbedder(seed: number, dims: number): SyntheticEmbedder {
    const shared = (() => {
        const r = createRng(seed);
        return Float32Array.from({ length: dims }, () => SHARED * gaussian(r));
    })();
    const topics = new Map<number, Float32Array>();
    const topic = (m: number): Float32Array => {
        let t = topics.get(m);
        if (!t) {
            const r = createRng(hashString(`${seed}:topic:${m}`));
            t = Float32Array.from({ length: dims }, () => TOPIC * gaussian(r));
            topics.set(m, t);
        }
        return t;
    };
    return {
        dims,
        embed(module, hash) {
            const r = createRng(hashString(hash) ^ seed);
            const t = topic(module);
            const v = new Float32Array(dims);
            for (let j = 0; j < dims; j++) v[j] = shared[j] + t[j] + NOISE * gaussian(r);
            return v;
        },
    };
}
