/**
 * What the router keeps between sessions (learned feedback, learned speeds) goes through a
 * `TextStore`: loaded once at start, saved debounced after changes and flushed on dispose.
 * Neither ever throws: a store that fails or holds unreadable content costs a warning, and the
 * router goes on with what it has.
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
 * Reads and parses the store's content; undefined when there is none, or when it cannot be read
 * or parsed (unreadable content is set aside first). Never throws.
 */
export async function loadStored<T>(store: TextStore, names: StoredText, parse: (text: string) => T, logger: RouterLogger | undefined): Promise<T | undefined> {
    let text: string | undefined;
    try {
        text = await store.load();
    } catch (e) {
        logger?.warn(`${names.label}: could not read ${names.noun} (${errorMessage(e)}); ${names.fallback}`);
        return undefined;
    }
    if (text === undefined) return undefined;
    try {
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
    const data: unknown = JSON.parse(text);
    if (typeof data !== 'object' || data === null) throw new Error('not a JSON object');
    const d = data as Record<string, unknown>;
    if (d.version !== version) throw new Error(`unsupported version ${JSON.stringify(d.version)} (expected ${version})`);
    if (typeof d.models !== 'object' || d.models === null) throw new Error('missing "models"');
    return d.models as Record<string, unknown>;
}

/** Saves `serialize()` to the store `delayMs` after the first change since the last save; saves never overlap. */
export class DebouncedSave {
    private timer: TimerHandle | undefined;
    private saving: Promise<void> | undefined;

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
            .catch((e: unknown) => this.logger?.warn(`${this.label}: could not save (${errorMessage(e)})`));
        this.saving = p;
        return p;
    }
}
