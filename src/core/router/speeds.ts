/**
 * Learned speeds kept between sessions, so that the first requests after a restart are predicted
 * from this machine's measurements rather than from size-based priors. Persisted through a store
 * with the feedback store's contract, as versioned JSON keyed by model identity: the file and how
 * it is loaded (a model file replaced by another, or loaded with other threads, GPU layers,
 * context or slots, starts afresh). A file that cannot be read is set aside with a warning.
 */
import type { ModelInfo, ModelSpec } from '../backend';
import type { LearnedSpeeds } from './speedMonitor';
import { storedModels } from './persist';

export const SPEEDS_FORMAT_VERSION = 1;
/** Models remembered at most (the most recently saved are kept). */
export const SPEEDS_MAX_MODELS = 32;

export interface SpeedsFileV1 {
    readonly version: 1;
    /** `seq` orders entries by when they were last saved (higher: more recent), across sessions. */
    readonly models: Record<string, { readonly seq: number; readonly speeds: LearnedSpeeds }>;
}

/** Identity of a model file as loaded: what its speeds depend on. */
export function speedKey(spec: ModelSpec, info: ModelInfo): string {
    const mem = info.estimatedMemory;
    return JSON.stringify([spec.path, info.architecture, info.name, mem.ramBytes, mem.vramBytes, info.contextSize, info.slots, spec.threads, spec.gpuLayers]);
}

const positive = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;
const nonNegative = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;

function parseLearned(x: unknown, where: string): LearnedSpeeds {
    if (typeof x !== 'object' || x === null) throw new Error(`${where}: not an object`);
    const o = x as Record<string, unknown>;
    const out: { -readonly [K in keyof LearnedSpeeds]: LearnedSpeeds[K] } = {};
    if (o.prefill !== undefined) {
        const p = o.prefill as Record<string, unknown>;
        if (typeof p !== 'object' || p === null || !positive(p.msPerToken) || !nonNegative(p.overheadMs) || typeof p.fromEmbed !== 'boolean') throw new Error(`${where}: bad prefill`);
        out.prefill = { msPerToken: p.msPerToken, overheadMs: p.overheadMs, fromEmbed: p.fromEmbed };
    }
    for (const k of ['decodeMsPerToken', 'embedMsPerText', 'loadMs', 'firstTokenMs'] as const) {
        if (o[k] === undefined) continue;
        if (!positive(o[k])) throw new Error(`${where}: bad ${k}`);
        out[k] = o[k] as number;
    }
    return out;
}

/** Parses a stored file; throws with a reason when it is not a valid version-1 file. */
export function parseSpeeds(text: string): SpeedsFileV1 {
    const models: Record<string, { seq: number; speeds: LearnedSpeeds }> = {};
    for (const [key, entry] of Object.entries(storedModels(text, SPEEDS_FORMAT_VERSION))) {
        const e = entry as Record<string, unknown>;
        if (typeof e !== 'object' || e === null || !nonNegative(e.seq)) throw new Error(`bad entry for ${key}`);
        models[key] = { seq: e.seq, speeds: parseLearned(e.speeds, key) };
    }
    return { version: 1, models };
}

export class SpeedMemory {
    private models: Record<string, { seq: number; speeds: LearnedSpeeds }> = {};
    private seq = 0;

    get(key: string): LearnedSpeeds | undefined {
        return this.models[key]?.speeds;
    }

    /** Keeps the SPEEDS_MAX_MODELS most recently set entries. */
    set(key: string, speeds: LearnedSpeeds): void {
        this.models[key] = { seq: ++this.seq, speeds };
        const keys = Object.keys(this.models);
        if (keys.length > SPEEDS_MAX_MODELS) {
            keys.sort((a, b) => this.models[a].seq - this.models[b].seq);
            for (const k of keys.slice(0, keys.length - SPEEDS_MAX_MODELS)) delete this.models[k];
        }
    }

    serialize(): string {
        const file: SpeedsFileV1 = { version: SPEEDS_FORMAT_VERSION, models: this.models };
        return JSON.stringify(file);
    }

    /** Adds what an earlier session stored; entries measured in this session win. */
    merge(file: SpeedsFileV1): void {
        this.models = { ...file.models, ...this.models };
        for (const e of Object.values(file.models)) this.seq = Math.max(this.seq, e.seq);
    }
}
