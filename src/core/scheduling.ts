/**
 * The one vocabulary of Zeta's three schedulers, so that "why did this request wait" has one
 * answer however deep the wait was:
 *
 *   1. the router's per-model queues (src/core/router): which task starts on which model, when;
 *   2. a backend's sequence pool (src/backends/sequencePool.ts): which of a model's parallel
 *      sequences a started call takes (a document's call waits for the sequence holding it);
 *   3. the evaluation turns (src/core/evalTurns.ts): which native call runs next on an evaluation
 *      thread shared by several models (llama.cpp on the CPU).
 *
 * All three order their waiters by the same `Priority` (the router's task-class priorities,
 * unchanged), and all three name their waiters and holders with the same `WaitTag`, which the
 * router puts on every backend call. The router's snapshot joins them into one `WaitExplanation`
 * per waiting task, which the load view shows.
 */

/**
 * Order among waiters: higher goes first; equal priorities go in arrival order. The router's
 * task-class priorities (completion 100 ... indexing 0) are passed down unchanged to the sequence
 * pool and the evaluation turns; work that is not a task (a model's warm-up) uses
 * `Number.NEGATIVE_INFINITY`, below everything.
 */
export type Priority = number;

/** Who waits or holds, as every scheduler names it: the router's task and a label for people. */
export interface WaitTag {
    /** The router's task id (0: not a routed task, e.g. a model's warm-up). */
    readonly taskId: number;
    /** A short label for the load view, e.g. "completion #41 on coder". */
    readonly label: string;
}

/** One scheduler's state as it explains waits: who holds its resource and who waits, best first. */
export interface WaitState {
    /** The call holding the resource (the native call in progress, a busy sequence), if known. */
    readonly holder?: WaitTag;
    readonly waiting: readonly WaitTag[];
}

/**
 * Where a task waits now, outermost first:
 * - `held`: the router holds it before routing (the typing cadence says a keystroke will replace it);
 * - `queued`: in its model's queue (slots busy, or held back for a completion or for headroom);
 * - `loading`: its model is loading;
 * - `sequence`: started, waiting for a sequence of its model (its document's sequence is busy);
 * - `turn`: waiting for the shared evaluation thread (another native call runs);
 * - `paused`: its gate is closed (a completion's prompt is being read, or a predicted keystroke).
 */
export type WaitStage = 'held' | 'queued' | 'loading' | 'sequence' | 'turn' | 'paused';

/** Why one task waits now, in words a user can follow; the load view renders these as they are. */
export interface WaitExplanation {
    readonly taskId: number;
    readonly modelId: string | undefined;
    readonly stage: WaitStage;
    /** e.g. "waiting for the evaluation thread: prefill of explain #40 on reasoner is running". */
    readonly reason: string;
}
