/**
 * Adaptive debounce: how long to wait after a keystroke before asking for a completion.
 *
 * Short when the completion model is idle and fast (the answer arrives before the next keystroke
 * anyway), longer when it is busy or slow, or when the user types faster than the model answers
 * (a request started now would be superseded before it finishes, and its prefill would delay the
 * one that matters). Inputs come from the router's snapshot, typing cadence included (the router's
 * one cadence model). Units: milliseconds.
 */
import type { ModelSnapshot, RouterSnapshot } from '../tasks';

export interface DebounceInputs {
    /** Measured time to first token of the completion model; undefined until measured. */
    readonly firstTokenMs: number | undefined;
    /** Queued plus in-flight tasks on that model. */
    readonly pending: number;
    readonly slots: number;
    /** Share of the recent window the model was working, 0..1. */
    readonly utilisation: number;
    /** Median gap between the user's recent keystrokes; undefined when not typing. */
    readonly typingIntervalMs: number | undefined;
}

export interface DebounceBounds {
    readonly minMs: number;
    readonly maxMs: number;
}

/** Used until the model's first completion is measured. */
export const UNMEASURED_FIRST_TOKEN_MS = 250;

export function adaptiveDebounceMs(inputs: DebounceInputs, bounds: DebounceBounds): number {
    const service = inputs.firstTokenMs ?? UNMEASURED_FIRST_TOKEN_MS;
    // Work ahead of us per slot, as a multiple of one service time.
    const backlog = inputs.pending / Math.max(1, inputs.slots);
    const load = Math.min(1, Math.max(0, inputs.utilisation));
    // A fraction of one service time, growing with backlog and utilisation.
    let ms = 0.1 * service * (1 + 2 * backlog + load);
    // Fast typist, slow model: wait out most of a keystroke gap so that only the pause gets a request.
    if (inputs.typingIntervalMs !== undefined && inputs.typingIntervalMs < service) {
        ms = Math.max(ms, 0.75 * inputs.typingIntervalMs);
    }
    return Math.round(Math.min(bounds.maxMs, Math.max(bounds.minMs, ms)));
}

/** The model a completion would most likely go to: the coder, else any loaded model. */
export function completionModel(snapshot: RouterSnapshot): ModelSnapshot | undefined {
    const usable = snapshot.models.filter((m) => m.residency !== 'failed');
    return usable.find((m) => m.role === 'coder') ?? usable.find((m) => m.role === 'reasoner') ?? usable[0];
}

export function debounceInputs(snapshot: RouterSnapshot): DebounceInputs {
    const m = completionModel(snapshot);
    return {
        firstTokenMs: m?.firstTokenMs,
        pending: m ? m.queued + m.inFlight : 0,
        slots: m?.slots ?? 1,
        utilisation: m?.utilisation ?? 0,
        typingIntervalMs: snapshot.typingIntervalMs,
    };
}
