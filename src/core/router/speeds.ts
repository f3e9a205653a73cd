/**
 * Speeds across models and sessions: the priors of a model not measured yet, scaled from one that
 * is (`SpeedBook.refreshPriors`), and the learned speeds kept between sessions, so that the first
 * requests after a restart are predicted from this machine's measurements rather than from
 * size-based priors. Persisted through a `TextStore` as versioned JSON keyed by model identity: the
 * file and how it is loaded (a model file replaced by another, or loaded with other threads, GPU
 * layers, context or slots, starts afresh). A file that cannot be read is set aside with a warning.
 */
import type { ModelInfo, ModelSpec } from '../backend';
import type { Clock } from '../clock';
import type { RouterLogger, TextStore } from '../tasks';
import type { ModelEntry } from './state';
import { DebouncedSave, loadStored, storedModels } from './persist';
import type { LearnedSpeeds } from './speedMonitor';
import { FEEDBACK_SAVE_DEBOUNCE_MS } from './tuning';

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
    // A null prototype: a key such as "constructor" is a key like any other.
    const models: Record<string, { seq: number; speeds: LearnedSpeeds }> = Object.create(null) as Record<string, never>;
    for (const [key, entry] of Object.entries(storedModels(text, SPEEDS_FORMAT_VERSION))) {
        const e = entry as Record<string, unknown>;
        if (typeof e !== 'object' || e === null || !nonNegative(e.seq)) throw new Error(`bad entry for ${key}`);
        models[key] = { seq: e.seq, speeds: parseLearned(e.speeds, key) };
    }
    return { version: 1, models };
}

export class SpeedMemory {
    /** Null prototype: keys come from files too. */
    private models: Record<string, { seq: number; speeds: LearnedSpeeds }> = Object.create(null) as Record<string, never>;
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
        this.models = Object.assign(Object.create(null) as Record<string, never>, file.models, this.models);
        for (const e of Object.values(file.models)) this.seq = Math.max(this.seq, e.seq);
    }
}

/**
 * The router's speeds across models: scaled priors for models not measured yet, and what each
 * model measured, kept for the next session (saved debounced, flushed on dispose).
 */
export class SpeedBook {
    private readonly memory = new SpeedMemory();
    private readonly save: DebouncedSave | undefined;
    private stopped = false;

    constructor(
        private readonly models: () => readonly ModelEntry[],
        clock: Clock,
        private readonly store: TextStore | undefined,
        private readonly logger: RouterLogger | undefined,
    ) {
        this.save = store && new DebouncedSave(clock, store, () => this.memory.serialize(), FEEDBACK_SAVE_DEBOUNCE_MS, 'speeds', logger);
    }

    /** Reads what earlier sessions stored (never throws). */
    async load(): Promise<void> {
        if (!this.store) return;
        const stored = await loadStored(this.store, { label: 'speeds', noun: 'the speeds file', fallback: 'starting from estimates' }, parseSpeeds, this.logger);
        if (stored) this.memory.merge(stored);
    }

    /** A model whose file this machine has measured before starts from those speeds. */
    restore(m: ModelEntry): void {
        if (!m.info) return;
        const stored = this.memory.get(speedKey(m.spec, m.info));
        if (!stored) return;
        m.speed.restore(stored);
        this.refreshPriors(m);
        this.logger?.info(`model ${m.id}: starting from the speeds measured in an earlier session`);
    }

    /** `m` measured something: the others' priors follow, and it is kept (saved debounced). */
    observed(m: ModelEntry): void {
        this.refreshPriors(m);
        if (!m.info || !this.save || this.stopped) return;
        this.memory.set(speedKey(m.spec, m.info), m.speed.learned());
        this.save.schedule();
    }

    /** From now on nothing more is kept (the router is shutting down). */
    stop(): void {
        this.stopped = true;
    }

    /** Writes what is pending now. */
    async flush(): Promise<void> {
        await this.save?.flush();
    }

    /**
     * Unmeasured speeds of other models are scaled from `ref`'s measurements by memory size (decode
     * and load are bound by bytes moved; prefill and embedding roughly by parameters, which track
     * bytes at one quantisation), so a model that has not run yet is estimated from this machine.
     * A prefill rate a generation measured is the best evidence; until one has, a rate from a
     * model's embedding calls (the same forward pass, fixed costs included) stands in, rather than
     * a formula on size alone (which assumes a GPU).
     */
    private refreshPriors(ref: ModelEntry): void {
        const lm = ref.speed;
        const refBytes = ref.memoryBytes;
        if (refBytes <= 0) return;
        const models = this.models();
        const prefillRef = lm.prefillMeasured || (lm.prefillFromEmbed && !models.some((x) => x.speed.prefillMeasured && x.memoryBytes > 0));
        for (const o of models) {
            if (o === ref || o.memoryBytes <= 0) continue;
            const ol = o.speed;
            if (ol.prefillMeasured && ol.decodeMeasured && ol.embedMeasured && ol.loadMeasured) continue;
            const r = o.memoryBytes / refBytes;
            ol.setPrior({
                prefillMsPerToken: prefillRef ? lm.prefillMsPerToken * r : ol.prefillMsPerToken,
                overheadMs: lm.prefillMeasured ? lm.overheadMs : ol.overheadMs,
                decodeMsPerToken: lm.decodeMeasured ? lm.decodeMsPerToken * r : ol.decodeMsPerToken,
                embedMsPerText: lm.embedMeasured ? lm.embedMsPerText * r : ol.embedMsPerText,
                loadMs: lm.loadMeasured ? lm.loadMs * r : ol.loadMs,
            });
        }
    }
}
