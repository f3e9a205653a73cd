/**
 * Settle accounting for the soak: every request the session makes (a keystroke's suggestion, a chat,
 * an embedding batch, a search query) is one promise given to `track`, which counts it at once and
 * counts it settled when it resolves or rejects. Invariants: `requests === settled + pending`;
 * `settled === resolved + rejected`; a tracked promise is always handled (its rejection is counted
 * here, never unhandled).
 */
import { SupersededError, errorMessage, isAbortError } from '../../src/core/errors';

/** What became of a settled request. */
export type SettleOutcome =
    /** Resolved with something to show (a suggestion, an answer, vectors). */
    | 'served'
    /** Resolved with nothing (a completion that post-processing emptied). */
    | 'empty'
    /** Rejected by a newer keystroke (SupersededError). */
    | 'superseded'
    /** Rejected by another abort: the user closed the panel, pressed Escape, typed a newer query. */
    | 'cancelled'
    /** Rejected with any other error (queue full, deadline, no capable model, a backend error). */
    | 'failed';

export const SETTLE_OUTCOMES: readonly SettleOutcome[] = ['served', 'empty', 'superseded', 'cancelled', 'failed'];

/** What `track` resolves to: never rejects. */
export type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

export interface KindCounts {
    requests: number;
    resolved: number;
    rejected: number;
}

/** Distinct failure messages kept; the rest are counted under OTHER_ERRORS. */
const MAX_ERROR_MESSAGES = 20;
const OTHER_ERRORS = '(other messages)';

export class SettleLedger {
    private requestCount = 0;
    private settledCount = 0;
    private readonly kinds = new Map<string, KindCounts>();
    private readonly outcomeCounts: Record<SettleOutcome, number> = { served: 0, empty: 0, superseded: 0, cancelled: 0, failed: 0 };
    /** Failure message (first 160 characters) -> times seen; at most MAX_ERROR_MESSAGES + 1 keys. */
    private readonly errorCounts = new Map<string, number>();

    get requests(): number {
        return this.requestCount;
    }

    get settled(): number {
        return this.settledCount;
    }

    /** Requests made and not yet settled. */
    get pending(): number {
        return this.requestCount - this.settledCount;
    }

    /**
     * Counts `promise` as a request of `kind` now and as settled when it settles. `empty(value)`
     * says whether a resolved value is "nothing to show". The returned promise never rejects.
     */
    track<T>(kind: string, promise: Promise<T>, empty: (value: T) => boolean = (v) => v === undefined): Promise<Settled<T>> {
        this.requestCount++;
        const k = this.kindCounts(kind);
        k.requests++;
        return promise.then(
            (value) => {
                this.settledCount++;
                k.resolved++;
                this.outcomeCounts[empty(value) ? 'empty' : 'served']++;
                return { ok: true, value } as const;
            },
            (error: unknown) => {
                this.settledCount++;
                k.rejected++;
                const outcome = classifyRejection(error);
                this.outcomeCounts[outcome]++;
                if (outcome === 'failed') this.noteError(error);
                return { ok: false, error } as const;
            },
        );
    }

    /** Counts per request kind (copies). */
    byKind(): Record<string, KindCounts> {
        const out: Record<string, KindCounts> = {};
        for (const [kind, c] of [...this.kinds].sort((a, b) => a[0].localeCompare(b[0]))) out[kind] = { ...c };
        return out;
    }

    outcomes(): Record<SettleOutcome, number> {
        return { ...this.outcomeCounts };
    }

    /** Failure messages and how often each was seen, most frequent first. */
    errors(): Array<{ message: string; count: number }> {
        return [...this.errorCounts].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count || a.message.localeCompare(b.message));
    }

    private kindCounts(kind: string): KindCounts {
        let k = this.kinds.get(kind);
        if (!k) {
            k = { requests: 0, resolved: 0, rejected: 0 };
            this.kinds.set(kind, k);
        }
        return k;
    }

    private noteError(error: unknown): void {
        let key = errorMessage(error).slice(0, 160);
        if (!this.errorCounts.has(key) && this.errorCounts.size >= MAX_ERROR_MESSAGES) key = OTHER_ERRORS;
        this.errorCounts.set(key, (this.errorCounts.get(key) ?? 0) + 1);
    }
}

export function classifyRejection(error: unknown): Exclude<SettleOutcome, 'served' | 'empty'> {
    if (error instanceof SupersededError) return 'superseded';
    if (isAbortError(error)) return 'cancelled';
    return 'failed';
}

/** `fn()`'s promise, with a synchronous throw turned into a rejection (so `track` sees it too). */
export function promiseOf<T>(fn: () => Promise<T>): Promise<T> {
    try {
        return fn();
    } catch (e) {
        return Promise.reject(e);
    }
}
