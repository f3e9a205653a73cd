/**
 * What the router keeps between sessions (learned feedback, learned speeds) goes through a
 * `TextStore`: loaded once at start, saved debounced after changes and flushed on dispose.
 * Neither ever throws: a store that fails or holds unreadable content costs a warning (one per
 * problem, not one per save), and the router goes on with what it has.
 */
import type { Clock, TimerHandle } from '../clock';
import { errorMessage } from '../errors';
import type { TextStore, RouterLogger } from '../tasks';

/** Names used in warnings: `label` prefixes them, `noun` is what is stored, `fallback` what happens instead. */
export interface StoredText {
    readonly label: string;
    readonly noun: string;
    readonly fallback: string;
}

/**
 * Characters a stored file may have. The files kept here are small (a few counts or speeds per
 * model, at most SPEEDS_MAX_MODELS models): anything far larger is not one of them, and is set
 * aside without being parsed.
 */
export const MAX_STORED_CHARS = 4 * 1024 * 1024;

/**
 * Reads and parses the store's content; undefined when there is none, or when it cannot be read
 * or parsed. Content that cannot be parsed is set aside; a file that cannot be read at all is set
 * aside too when it can be moved (the store never overwrites one it could not read). Each problem
 * is one warning that says what happened and what Zeta does instead. Never throws.
 */
export async function loadStored<T>(store: TextStore, names: StoredText, parse: (text: string) => T, logger: RouterLogger | undefined): Promise<T | undefined> {
    let text: string | undefined;
    try {
        text = await store.load();
    } catch (e) {
        const reason = errorMessage(e);
        let where: string | undefined;
        let moveFailed: string | undefined;
        try {
            where = await store.setAside(reason);
        } catch (e2) {
            moveFailed = errorMessage(e2);
        }
        const then = where ? `set aside at ${where}` : moveFailed ? `it could not be moved aside either (${moveFailed}), so it will not be overwritten` : 'it is gone';
        logger?.warn(`${names.label}: could not read ${names.noun} (${reason}); ${then}; ${names.fallback}`);
        return undefined;
    }
    if (text === undefined) return undefined;
    try {
        if (text.length > MAX_STORED_CHARS) throw new Error(`${text.length} characters, far more than ${names.noun} ever holds`);
        return parse(text);
    } catch (e) {
        const reason = errorMessage(e);
        let where: string | undefined;
        try {
            where = await store.setAside(reason);
        } catch (e2) {
            logger?.warn(`${names.label}: could not set the corrupt file aside (${errorMessage(e2)})`);
        }
        logger?.warn(`${names.label}: ${names.noun} is unreadable (${reason}); set aside${where ? ` at ${where}` : ''}, ${names.fallback}`);
        return undefined;
    }
}

/**
 * The entries of a stored `{ "version": n, "models": { ... } }` file, unchecked; throws with a
 * reason when the text is not JSON, not an object, of another version, or has no "models".
 */
export function storedModels(text: string, version: number): Record<string, unknown> {
    // Keys become keys of plain objects, where "__proto__" would replace the object's prototype.
    const data: unknown = JSON.parse(text, (key, value: unknown) => {
        if (key === '__proto__') throw new Error('a "__proto__" key');
        return value;
    });
    if (typeof data !== 'object' || data === null) throw new Error('not a JSON object');
    const d = data as Record<string, unknown>;
    if (d.version !== version) throw new Error(`unsupported version ${JSON.stringify(d.version)} (expected ${version})`);
    if (typeof d.models !== 'object' || d.models === null) throw new Error('missing "models"');
    return d.models as Record<string, unknown>;
}

/**
 * Saves `serialize()` to the store `delayMs` after the first change since the last save; saves
 * never overlap. A failing store (a full disk, a read-only folder) is reported once, when it starts
 * failing, and once more when a save succeeds again: the learned state stays in memory meanwhile,
 * and every later change tries again.
 */
export class DebouncedSave {
    private timer: TimerHandle | undefined;
    private saving: Promise<void> | undefined;
    /** Saves that failed since the last one that succeeded (0: the store works). */
    private failures = 0;

    constructor(
        private readonly clock: Clock,
        private readonly store: TextStore,
        private readonly serialize: () => string,
        private readonly delayMs: number,
        private readonly label: string,
        private readonly logger: RouterLogger | undefined,
    ) {}

    schedule(): void {
        if (this.timer) return;
        this.timer = this.clock.setTimeout(() => {
            this.timer = undefined;
            void this.save();
        }, this.delayMs);
    }

    /** Saves now what is pending, and waits for any save in progress. */
    async flush(): Promise<void> {
        if (this.timer) {
            this.clock.clearTimeout(this.timer);
            this.timer = undefined;
            await this.save();
        } else if (this.saving) await this.saving;
    }

    private save(): Promise<void> {
        const data = this.serialize();
        const p = (this.saving ?? Promise.resolve())
            .then(() => this.store.save(data))
            .then(
                () => {
                    if (this.failures > 0) this.logger?.info(`${this.label}: saved again after ${this.failures} failed ${this.failures === 1 ? 'save' : 'saves'}`);
                    this.failures = 0;
                },
                (e: unknown) => {
                    if (this.failures++ === 0) this.logger?.warn(`${this.label}: could not save (${errorMessage(e)}); what was learned stays in memory, and the next change tries again (reported once)`);
                },
            );
        this.saving = p;
        return p;
    }
}
