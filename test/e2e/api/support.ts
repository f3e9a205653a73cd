/**
 * What the API suite's files share: waits bounded by a hang cap, and reading the feedback Zeta
 * persists per model id in its global storage (what another extension or a user could see).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export const EXTENSION_ID = 'zeta-dev.zeta';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Asks `probe` every `everyMs` until it returns a value; `capMs` only catches a hang. */
export async function until<T>(what: string, capMs: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 200): Promise<T> {
    const deadline = Date.now() + capMs;
    for (;;) {
        const v = await probe();
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error(`no ${what} within ${capMs} ms (a hang)`);
        await sleep(everyMs);
    }
}

export interface FeedbackCounts {
    readonly shown: number;
    readonly accepted: number;
    readonly dismissed: number;
}

/** Counts per model id and task kind, as Zeta's router last saved them (debounced); undefined before the first save. */
export function readFeedback(): Record<string, Record<string, FeedbackCounts>> | undefined {
    const userData = process.env.ZETA_E2E_USER_DATA;
    const file = userData && path.join(userData, 'User', 'globalStorage', EXTENSION_ID, 'feedback.json');
    if (!file || !existsSync(file)) return undefined;
    try {
        const data = JSON.parse(readFileSync(file, 'utf8')) as { models?: Record<string, Record<string, FeedbackCounts>> };
        return data.models;
    } catch {
        return undefined; // being replaced (written to a temp name and renamed): read again
    }
}
