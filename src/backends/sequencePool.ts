/**
 * The parallel sequences of one model's context, and which call holds which. One pool serves every
 * backend: the llama.cpp backend's sequences are node-llama-cpp `LlamaContextSequence`s, the fake
 * and simulated backends' are token arrays; the pool reads a sequence's tokens through `tokensOf`.
 *
 * Rules (each a rule of llama.cpp's prompt cache as Zeta uses it):
 * - A call holds exactly one sequence from `acquire` to `release`; a sequence serves one call at a
 *   time. Calls wait in one line: higher `Priority` first, and in arrival order among equals.
 *   The line is served from its head only: a waiter that cannot take a sequence yet (its key's
 *   sequence is busy) keeps the ones behind it waiting, so nobody overtakes it.
 * - A sequence released with a cache key keeps that key (and its tokens) while idle; only the one
 *   released last keeps a given key. A call with a key takes its key's sequence back; while a busy
 *   sequence serves its key (e.g. an aborted call whose native chunk is still running) it waits for
 *   that one rather than evaluate the whole prompt again elsewhere.
 * - Otherwise a call takes the idle sequence without a key that shares the longest prefix with its
 *   prompt (ties: least recently released), else the least recently released idle sequence, whose
 *   key is then evicted.
 * - A `borrow` (the fake backends' embeddings, which hold a sequence without evaluating into it)
 *   takes a sequence as a call without a key does, but leaves its key and its place in the
 *   eviction order; a call for that key waits for it as for a sequence serving the key.
 *
 * Invariant: `busy` counts the sequences between acquire and release; each key is kept by at most
 * one idle sequence; a waiter is in `line` until it is granted a sequence or its signal aborts.
 */
import type { Priority, WaitState, WaitTag } from '../core/scheduling';
import { UNTAGGED_CALL } from '../core/backend';

/** A sequence as a caller holds it, from `acquire` until it passes it back to `release`. */
export interface HeldSequence<S> {
    readonly index: number;
    readonly sequence: S;
    /**
     * Whether what the sequence holds was left by this call's key (a call without a key: by a call
     * without one), rather than by another document's calls.
     */
    readonly own: boolean;
}

/** What a call asks the pool for. */
export interface SequenceClaim<T> {
    /** The call's cache key (a document), if any: its tokens are reused across calls. */
    readonly key: string | undefined;
    /** The call's prompt: a call without a key takes the keyless sequence sharing most of it. */
    readonly tokens: readonly T[];
    readonly priority?: Priority;
    readonly tag?: WaitTag;
    /**
     * The call does not touch the sequence's tokens (an embedding on the fake backends, which take
     * a sequence for it): the sequence keeps its key and its place in the eviction order.
     */
    readonly borrow?: boolean;
}

interface Slot<S> {
    readonly index: number;
    readonly sequence: S;
    busy: boolean;
    /** While busy: held by a `borrow` claim. */
    borrowed: boolean;
    /** The cache key whose tokens this sequence keeps while idle or borrowed; undefined: free for anyone. */
    key: string | undefined;
    /** While busy: the cache key of the call it serves. */
    serving: string | undefined;
    /** Release order (higher: released later); orders eviction, least recently released first. */
    released: number;
    /** Acquisition order (higher: taken later). */
    taken: number;
    /** While busy: the call holding it. */
    holder: WaitTag | undefined;
}

interface Waiter<T> {
    readonly claim: SequenceClaim<T>;
    readonly priority: Priority;
    readonly tag: WaitTag;
    readonly grant: (held: HeldSequence<unknown>) => void;
}

/** Length of the longest common prefix of two token sequences. */
export function commonPrefixLength<T>(a: readonly T[], b: readonly T[]): number {
    const n = Math.min(a.length, b.length);
    let i = 0;
    while (i < n && a[i] === b[i]) i++;
    return i;
}

export class SequencePool<S, T> {
    private readonly slots: Array<Slot<S>>;
    /** Waiting calls, best first (priority descending, then arrival). */
    private readonly line: Array<Waiter<T>> = [];
    private releases = 0;
    private takes = 0;
    private mostBusy = 0;

    constructor(
        sequences: readonly S[],
        private readonly tokensOf: (sequence: S) => readonly T[],
    ) {
        this.slots = sequences.map((sequence, index) => ({ index, sequence, busy: false, borrowed: false, key: undefined, serving: undefined, released: 0, taken: 0, holder: undefined }));
    }

    /** Number of sequences. */
    get size(): number {
        return this.slots.length;
    }

    /** Sequences held now. */
    get busy(): number {
        let n = 0;
        for (const s of this.slots) if (s.busy) n++;
        return n;
    }

    /** The most sequences ever held at once. */
    get peakBusy(): number {
        return this.mostBusy;
    }

    /** Sequences in index order (e.g. the first one for a warm-up, any one for its context size). */
    get sequences(): readonly S[] {
        return this.slots.map((s) => s.sequence);
    }

    /**
     * Resolves with a sequence for `claim` once the rules above give it one; rejects with
     * `signal.reason` if the signal aborts first (the call then leaves the line and holds nothing).
     */
    acquire(claim: SequenceClaim<T>, signal: AbortSignal): Promise<HeldSequence<S>> {
        if (signal.aborted) return Promise.reject(signal.reason);
        const priority = claim.priority ?? 0;
        const tag = claim.tag ?? UNTAGGED_CALL;
        if (this.line.length === 0) {
            const free = this.pick(claim);
            if (free) return Promise.resolve(this.take(free, claim, tag));
        }
        return new Promise<HeldSequence<S>>((resolve, reject) => {
            const onAbort = (): void => {
                const i = this.line.indexOf(waiter);
                if (i >= 0) this.line.splice(i, 1);
                reject(signal.reason);
            };
            const waiter: Waiter<T> = {
                claim,
                priority,
                tag,
                grant: (held) => {
                    signal.removeEventListener('abort', onAbort);
                    resolve(held as HeldSequence<S>);
                },
            };
            let i = this.line.length;
            while (i > 0 && this.line[i - 1].priority < priority) i--;
            this.line.splice(i, 0, waiter);
            signal.addEventListener('abort', onAbort, { once: true });
            this.dispatch();
        });
    }

    /**
     * Gives `held` back. With `key` it keeps that key's tokens for the key's next call (and is the
     * only sequence to keep it); without, it is free for anyone. A borrowed one stays as it was.
     */
    release(held: HeldSequence<S>, key: string | undefined): void {
        const slot = this.slots[held.index];
        slot.busy = false;
        slot.serving = undefined;
        slot.holder = undefined;
        if (slot.borrowed) {
            slot.borrowed = false;
            this.dispatch();
            return;
        }
        slot.released = ++this.releases;
        if (key !== undefined) {
            for (const other of this.slots) if (other !== slot && !other.busy && other.key === key) other.key = undefined;
        }
        slot.key = key;
        this.dispatch();
    }

    /** The sequence with `key`'s tokens: the busy one serving it, else the one keeping it. */
    holding(key: string): S | undefined {
        for (const s of this.slots) if (s.serving === key || s.key === key) return s.sequence;
        return undefined;
    }

    /** Forgets every kept key (their sequences become free for anyone). */
    forgetKeys(): void {
        for (const s of this.slots) if (!s.busy) s.key = undefined;
    }

    /**
     * Who waits, best first, and who holds what the first waiter waits for: its key's busy
     * sequence, else the sequence held longest. With nobody waiting, the longest holder.
     */
    waits(): WaitState {
        const first = this.line[0];
        const key = first?.claim.key;
        const own = key === undefined ? undefined : this.slots.find((s) => s.busy && (s.serving === key || s.key === key));
        const holder = own?.holder ?? this.longestHolder();
        return { ...(holder ? { holder } : {}), waiting: this.line.map((w) => w.tag) };
    }

    private longestHolder(): WaitTag | undefined {
        let best: Slot<S> | undefined;
        for (const s of this.slots) if (s.busy && (!best || s.taken < best.taken)) best = s;
        return best?.holder;
    }

    /** Hands free sequences to the line, from its head, until the head cannot take one. */
    private dispatch(): void {
        while (this.line.length > 0) {
            const waiter = this.line[0];
            const slot = this.pick(waiter.claim);
            if (!slot) return;
            this.line.shift();
            waiter.grant(this.take(slot, waiter.claim, waiter.tag));
        }
    }

    private take(slot: Slot<S>, claim: SequenceClaim<T>, tag: WaitTag): HeldSequence<S> {
        const own = slot.key === claim.key;
        slot.busy = true;
        slot.borrowed = claim.borrow === true;
        // Taken for another key (or none): the key it kept is evicted; a borrow keeps it.
        if (!slot.borrowed) slot.key = undefined;
        slot.serving = claim.key;
        slot.holder = tag;
        slot.taken = ++this.takes;
        this.mostBusy = Math.max(this.mostBusy, this.busy);
        return { index: slot.index, sequence: slot.sequence, own };
    }

    /** The sequence `claim` takes now under the rules above, or undefined: it must wait. */
    private pick(claim: SequenceClaim<T>): Slot<S> | undefined {
        const free = this.slots.filter((s) => !s.busy);
        if (free.length === 0) return undefined;
        const key = claim.key;
        if (key !== undefined) {
            const own = free.find((s) => s.key === key);
            if (own) return own;
            if (this.slots.some((s) => s.busy && (s.serving === key || s.key === key))) return undefined;
        }
        const byAge = [...free].sort((a, b) => a.released - b.released);
        let best: Slot<S> | undefined;
        let bestShared = -1;
        for (const s of byAge) {
            if (s.key !== undefined) continue;
            const shared = commonPrefixLength(this.tokensOf(s.sequence), claim.tokens);
            if (shared > bestShared) {
                best = s;
                bestShared = shared;
            }
        }
        return best ?? byAge[0];
    }
}
