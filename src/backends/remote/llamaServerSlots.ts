/**
 * A slot per document on a llama-server: which of the engine's slots a cache key's requests go to
 * (`id_slot`), so the slot keeps the document's prompt and the next keystroke reuses its prefix
 * (`cache_prompt`), as the in-process backend's sequence pool does.
 *
 * Rules:
 * - A key keeps its slot until the slot is given to another key (least recently used first) or
 *   the engine shows the slot serving another client's work.
 * - A key whose slot is busy with another client's work (per the latest `/slots` poll: processing
 *   while none of our calls is on it) is sent with `id_slot: -1` (the engine picks a free slot):
 *   we never queue behind a teammate for affinity. Busy with one of our own calls (the previous
 *   keystroke, being aborted): the key keeps its slot, as locally.
 * - A new key takes the least recently used slot that neither we nor, per the latest poll, anyone
 *   else is using; when there is none, -1.
 * - The slot the engine reports having used (a final event's `id_slot`) becomes the key's slot.
 *
 * Invariants: a slot holds at most one key and a key at most one slot; `cachedTokens(key)` is 0
 * unless the key's slot last held our prompt for that key (the engine's own count, from the call's
 * final event or a later poll that shows nothing else ran there).
 */

/** A slot as llama-server's `/slots` describes it (the fields used here). */
export interface SlotReport {
    readonly id: number;
    readonly is_processing: boolean;
    readonly id_task?: number;
    /** Tokens the slot's cache holds (its prompt, plus what it generated). */
    readonly n_prompt_tokens?: number;
    readonly next_token?: ReadonlyArray<{ readonly n_remain?: number; readonly n_decoded?: number }>;
}

interface SlotState {
    key: string | undefined;
    /** Clock ms of our last call's start on it (0: never used by us). */
    lastUsed: number;
    /** Our calls on it now (sent with its id). */
    ownCalls: number;
    /** The latest poll saw it processing while none of our calls was on it. */
    foreignBusy: boolean;
    /** Another client's work ran on it since our last call there: it holds nothing of ours. */
    foreignSince: boolean;
    /** Clock ms our last call on it ended (-Infinity: never): a poll begun before then may show that call. */
    lastOwnEnd: number;
    /** The engine's task id the first poll after our last call showed there (a later other id: another client's). */
    ownTask: number | undefined;
    /** Tokens it holds for `key`, per the engine; undefined when unknown or not ours any more. */
    cached: number | undefined;
}

/**
 * The final event's `tokens_cached` and a later `/slots` `n_prompt_tokens` of the same call may differ
 * by the last sampled token (kept or not): within this many tokens they are the same prompt.
 */
const CACHE_COUNT_SLACK = 2;

/** Sentinel `id_slot`: the engine chooses. */
export const ANY_SLOT = -1;

export class SlotAffinity {
    private readonly slots: SlotState[];
    private readonly byKey = new Map<string, number>();

    constructor(slotCount: number) {
        this.slots = Array.from({ length: Math.max(1, slotCount) }, () => ({ key: undefined, lastUsed: 0, ownCalls: 0, foreignBusy: false, foreignSince: false, lastOwnEnd: Number.NEGATIVE_INFINITY, ownTask: undefined, cached: undefined }));
    }

    /** The slot of `key` for a call starting now (ANY_SLOT: the engine picks). */
    choose(key: string | undefined, now: number): number {
        if (key === undefined) return ANY_SLOT;
        const mine = this.byKey.get(key);
        if (mine !== undefined) {
            const s = this.slots[mine];
            if (s.foreignBusy && s.ownCalls === 0) return ANY_SLOT;
            s.lastUsed = now;
            return mine;
        }
        let best = -1;
        for (let i = 0; i < this.slots.length; i++) {
            const s = this.slots[i];
            if (s.ownCalls > 0 || s.foreignBusy) continue;
            if (best < 0 || s.lastUsed < this.slots[best].lastUsed) best = i;
        }
        if (best < 0) return ANY_SLOT;
        this.assign(key, best);
        this.slots[best].lastUsed = now;
        return best;
    }

    /** A call was sent with `slot` (not ANY_SLOT). */
    begin(slot: number): void {
        const s = this.slots[slot];
        if (!s) return;
        s.ownCalls++;
        // From now on the slot holds (the start of) our prompt.
        s.foreignSince = false;
    }

    /**
     * The call sent with `sent` ended at `now`; `used` is the slot the engine reported, `cached` the
     * tokens it now holds.
     */
    end(sent: number, key: string | undefined, used: number | undefined, cached: number | undefined, now: number): void {
        const s = this.slots[sent];
        if (s) {
            s.ownCalls = Math.max(0, s.ownCalls - 1);
            s.lastOwnEnd = now;
            s.ownTask = undefined;
        }
        if (used === undefined || !this.slots[used]) {
            // Aborted or failed: what the slot holds is unknown until the next poll.
            if (s && key !== undefined && s.key === key) s.cached = undefined;
            return;
        }
        const u = this.slots[used];
        u.lastOwnEnd = now;
        u.ownTask = undefined;
        if (key !== undefined) this.assign(key, used);
        else if (u.key !== undefined) this.release(used);
        u.cached = key === undefined ? undefined : cached;
        u.foreignBusy = false;
        u.foreignSince = false;
    }

    /**
     * The latest `/slots` answer, asked at `askedAt` (clock ms). A slot where one of our calls ended
     * after that is skipped: the answer may show that call, not another client's.
     */
    observe(reports: readonly SlotReport[], askedAt: number): void {
        for (const r of reports) {
            const s = this.slots[r.id];
            if (!s || s.lastOwnEnd >= askedAt) continue;
            if (r.is_processing && s.ownCalls === 0) {
                // Another client's work: whatever the slot held for our key is being replaced.
                s.foreignBusy = true;
                s.foreignSince = true;
                s.cached = undefined;
                continue;
            }
            s.foreignBusy = false;
            if (r.is_processing || s.ownCalls > 0 || s.key === undefined || s.foreignSince) continue;
            const held = r.n_prompt_tokens;
            if (held === undefined) continue;
            if (s.ownTask === undefined) s.ownTask = r.id_task;
            else if (r.id_task !== s.ownTask) {
                // Another task ran there between two polls.
                s.foreignSince = true;
                s.cached = undefined;
                continue;
            }
            if (s.cached === undefined) {
                // Our last call there was aborted (no final count): the engine keeps what it evaluated.
                if (s.lastUsed > 0) s.cached = held;
            } else if (Math.abs(s.cached - held) <= CACHE_COUNT_SLACK) s.cached = held;
            else {
                // Something else ran there between two polls.
                s.foreignSince = true;
                s.cached = undefined;
            }
        }
    }

    /** Tokens the key's slot holds for it (0: none known). */
    cachedTokens(key: string): number {
        const i = this.byKey.get(key);
        if (i === undefined) return 0;
        return this.slots[i].cached ?? 0;
    }

    /** The slot a key holds now (tests, logs). */
    slotOf(key: string): number | undefined {
        return this.byKey.get(key);
    }

    private assign(key: string, slot: number): void {
        const previous = this.byKey.get(key);
        if (previous === slot) return;
        if (previous !== undefined) this.release(previous);
        const s = this.slots[slot];
        if (s.key !== undefined) this.byKey.delete(s.key);
        s.key = key;
        s.cached = undefined;
        this.byKey.set(key, slot);
    }

    private release(slot: number): void {
        const s = this.slots[slot];
        if (s.key !== undefined) this.byKey.delete(s.key);
        s.key = undefined;
        s.cached = undefined;
    }
}
