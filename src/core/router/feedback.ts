/**
 * Learned quality: shown / accepted / dismissed counts per model and task kind, turned into a Beta
 * posterior mean of acceptance over a prior from the model's role. Persisted through a
 * `TextStore` as versioned JSON; a file that cannot be read is set aside with a warning and
 * learning starts afresh (never a crash).
 */
import type { Role } from '../backend';
import { TASK_KINDS, type FeedbackEvent, type TextStore, type RouterLogger, type TaskKind } from '../tasks';
import { loadStored, storedModels } from './persist';
import { PRIOR_STRENGTH, QUALITY_PRIOR } from './defaults';

export const FEEDBACK_FORMAT_VERSION = 1;

interface Counts {
    shown: number;
    accepted: number;
    dismissed: number;
}

/** The persisted shape. `models` is keyed by model id, then by task kind. */
export interface FeedbackFileV1 {
    readonly version: 1;
    readonly models: Record<string, Partial<Record<TaskKind, Counts>>>;
}

function isCounts(x: unknown): x is Counts {
    if (typeof x !== 'object' || x === null) return false;
    const c = x as Record<string, unknown>;
    return ['shown', 'accepted', 'dismissed'].every((k) => typeof c[k] === 'number' && Number.isFinite(c[k]) && (c[k] as number) >= 0);
}

/** Parses a stored file; throws with a reason when it is not a valid version-1 file. */
export function parseFeedback(text: string): FeedbackFileV1 {
    // Null prototypes: a model id such as "constructor" is a key like any other.
    const models: Record<string, Partial<Record<TaskKind, Counts>>> = Object.create(null) as Record<string, never>;
    for (const [id, perKind] of Object.entries(storedModels(text, FEEDBACK_FORMAT_VERSION))) {
        if (typeof perKind !== 'object' || perKind === null) throw new Error(`bad entry for model ${id}`);
        const out: Partial<Record<TaskKind, Counts>> = Object.create(null) as Record<string, never>;
        for (const [kind, c] of Object.entries(perKind as Record<string, unknown>)) {
            if (!(TASK_KINDS as readonly string[]).includes(kind)) continue;
            if (!isCounts(c)) throw new Error(`bad counts for ${id}/${kind}`);
            out[kind as TaskKind] = { shown: c.shown, accepted: c.accepted, dismissed: c.dismissed };
        }
        models[id] = out;
    }
    return { version: 1, models };
}

export class FeedbackModel {
    /** Null prototypes throughout: ids and kinds come from files too. */
    private data: Record<string, Partial<Record<TaskKind, Counts>>> = Object.create(null) as Record<string, never>;
    /** Bumped on every change; the router caches quality values per generation. */
    generation = 0;

    record(modelId: string, kind: TaskKind, event: FeedbackEvent): void {
        let perKind = this.data[modelId];
        if (!perKind) perKind = this.data[modelId] = Object.create(null) as Record<string, never>;
        let c = perKind[kind];
        if (!c) c = perKind[kind] = { shown: 0, accepted: 0, dismissed: 0 };
        c[event === 'shown' ? 'shown' : event === 'accepted' ? 'accepted' : 'dismissed']++;
        this.generation++;
    }

    counts(modelId: string, kind: TaskKind): Readonly<Counts> | undefined {
        return this.data[modelId]?.[kind];
    }

    /** Posterior mean acceptance: (a0 + accepted) / (a0 + b0 + accepted + dismissed). */
    quality(modelId: string, role: Role, kind: TaskKind, learn: boolean): number {
        const prior = QUALITY_PRIOR[role][kind];
        const a0 = prior * PRIOR_STRENGTH;
        const b0 = (1 - prior) * PRIOR_STRENGTH;
        const c = learn ? this.data[modelId]?.[kind] : undefined;
        if (!c) return prior;
        return (a0 + c.accepted) / (a0 + b0 + c.accepted + c.dismissed);
    }

    serialize(): string {
        const file: FeedbackFileV1 = { version: FEEDBACK_FORMAT_VERSION, models: this.data };
        return JSON.stringify(file);
    }

    /** Merges loaded counts under any counted since start (both are kept). */
    merge(file: FeedbackFileV1): void {
        for (const [id, perKind] of Object.entries(file.models)) {
            for (const [kind, c] of Object.entries(perKind) as Array<[TaskKind, Counts]>) {
                let mine = this.data[id];
                if (!mine) mine = this.data[id] = Object.create(null) as Record<string, never>;
                const m = mine[kind];
                mine[kind] = m ? { shown: m.shown + c.shown, accepted: m.accepted + c.accepted, dismissed: m.dismissed + c.dismissed } : { ...c };
            }
        }
        this.generation++;
    }

    /**
     * Loads from the store. Invalid content is set aside and reported with logger.warn; an error of
     * the store itself is reported too. Never throws.
     */
    async loadFrom(store: TextStore, logger: RouterLogger | undefined): Promise<void> {
        const file = await loadStored(store, { label: 'feedback', noun: 'stored feedback', fallback: 'starting afresh' }, parseFeedback, logger);
        if (file) this.merge(file);
    }
}
