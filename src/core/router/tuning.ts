/**
 * The router's tuning constants. Each comment states the rule the constant sets and its unit; why
 * each value was chosen, with the measurements behind it, is in bench/FINDINGS.md. Units:
 * milliseconds unless a name says otherwise.
 */

/** A queued background job that has waited this long runs next regardless of priority (starvation bound). */
export const STARVATION_MS = 5_000;

/**
 * Headroom holds of background work take at most this share of the time it is pending, so
 * indexing slows by at most 1 / (1 - share) = 1.5x. The budget is banked while unused, up to
 * HOLD_BANK_MAX_MS. A smaller share drains the bank in long typing bursts and then releases
 * batches just before keystrokes.
 */
export const MAX_HOLD_SHARE = 1 / 3;
export const HOLD_BANK_MAX_MS = 20_000;

/**
 * A background batch is held while a completion is at least this likely to arrive before the
 * batch would finish. It assumes one-text batches: with larger batches a completion is nearly
 * always expected within one, and holds drain the budget.
 */
export const HEADROOM_CONFIDENCE = 0.2;
/**
 * HEADROOM_CONFIDENCE for a model on a GPU, lower: there a batch that overlaps a keystroke slows
 * that keystroke's completion for the batch's whole length (the models share the device), while
 * on the CPU the evaluation turns make the keystroke wait for at most the one text in flight.
 */
export const HEADROOM_CONFIDENCE_GPU = 0.1;

/**
 * Predicted-keystroke pause (the router's pause controller, on a GPU): lower-priority generations
 * stop at their gate once the next keystroke is at least PREDICTIVE_PAUSE_CONFIDENCE likely within
 * PREDICTIVE_PAUSE_STEPS of their decode steps; the moment is searched in steps of
 * PREDICTIVE_PAUSE_STEP_MS after the last keystroke. A decode step cannot be stopped once begun.
 */
export const PREDICTIVE_PAUSE_CONFIDENCE = 0.2;
export const PREDICTIVE_PAUSE_STEPS = 3;
export const PREDICTIVE_PAUSE_STEP_MS = 5;

/**
 * pauseOthers: the pause a completion imposes ends at its first token, unless the rest of it is
 * predicted to take at most this long; then it lasts until the completion ends (an inline
 * suggestion is shown only when complete). Longer rests would hold other work for too long.
 */
export const PAUSE_TO_END_MAX_MS = 200;

/** Decision records kept for the snapshot, newest first. */
export const RECENT_DECISIONS = 50;

/** Learned feedback and speeds are saved at most this often. */
export const FEEDBACK_SAVE_DEBOUNCE_MS = 2_000;

/**
 * hold-start: a completion whose model can reuse less than this share of its prompt (a cold
 * document) starts at once; its prefill is mostly prefix that the next keystroke reuses.
 */
export const COLD_PROMPT_REUSE = 0.5;

/**
 * coldStart: a cold completion (less than COLD_PROMPT_REUSE of its prompt reusable on the preferred
 * model) goes to another capable model when that one's first token is predicted at most
 * COLD_START_RATIO of the preferred model's and at least COLD_START_MIN_GAIN_MS sooner, and its
 * expected acceptance is at least COLD_START_MIN_QUALITY (feedback lowers it for a user who
 * dismisses its suggestions). On a fast GPU a cold prompt takes tens of ms and this never fires.
 */
export const COLD_START_RATIO = 0.6;
export const COLD_START_MIN_GAIN_MS = 150;
export const COLD_START_MIN_QUALITY = 0.5;

/**
 * readAhead: no read is queued when the preferred model would read fewer than this many tokens of
 * the prompt (it holds the document already; a keystroke evaluates a token or two).
 */
export const READ_AHEAD_MIN_TOKENS = 32;
/**
 * readAhead, for a model on a GPU: nor when reading the prompt alone is predicted to take less than
 * this (the bar of a worthwhile cold start): the first keystroke would hardly wait for it, and a
 * read on a GPU shares the device with keystrokes and explanations. On the CPU the evaluation turns
 * keep a read out of every other request's way.
 */
export const READ_AHEAD_MIN_GPU_MS = COLD_START_MIN_GAIN_MS;

/**
 * pauseOthers, on the CPU (one evaluation thread for every model): while a typing burst goes on,
 * a lower-priority generation's prefill chunks are cut to about this much evaluation (at the
 * model's measured ms per prompt token), so that a keystroke's call waits at most about this long
 * for the chunk in flight, which cannot be stopped once begun.
 */
export const TYPING_CHUNK_MS = 100;
/** Never fewer prompt tokens than this in a cut chunk: each native call has a fixed cost. */
export const TYPING_CHUNK_MIN_TOKENS = 8;

/**
 * The watchdog (execute.ts): a backend call is stalled when it shows no progress (a token, or a
 * question to its gate, which a backend asks before each native call: every prefill chunk and
 * every token) for STALL_FACTOR times the gap the model's measured speeds predict (before the first
 * token: the whole predicted prefill; after it: one decode step; an embedding batch: the batch), and
 * never for less than STALL_MIN_MS, while nothing it is known to wait for holds it (its gate, the
 * shared evaluation thread, a sequence of its model).
 * STALL_FACTOR: measured speeds on a busy machine vary by 2-3x between calls (ENVIRONMENT: a coder
 * call 3.6 s with two other models running vs 0.9 s alone); 8x leaves a margin over that.
 * STALL_MIN_MS: the longest silence a healthy call can show whatever its speed, a first call that
 * pages a memory-mapped model in from disk or a long garbage collection in the extension host
 * (around a second each), with the same margin.
 */
export const STALL_FACTOR = 8;
export const STALL_MIN_MS = 5_000;

/**
 * A remote engine's load report (`RemoteLoad.at`, the newest successful poll) counts in full while
 * it is at most REMOTE_LOAD_FRESH_MS old, not at all once it is REMOTE_LOAD_STALE_MS old or more,
 * and linearly less in between (a weight on other clients' work in the prediction). Backends poll a
 * few times per second while in use (RemoteBackendOptions.pollIntervalMs), so fresh is a few poll
 * intervals; a report older than stale describes a queue that has long moved on. A report that
 * never came (`at` undefined) counts as stale: the prediction is then our own view (our calls).
 */
export const REMOTE_LOAD_FRESH_MS = 2_000;
export const REMOTE_LOAD_STALE_MS = 10_000;

/**
 * Load time assumed for a remote model until measured: its "load" connects to the engine and asks
 * what it serves (a few requests), no weights are read here.
 */
export const REMOTE_CONNECT_PRIOR_MS = 100;

/**
 * The remote watchdog (execute.ts), for an interactive task (every kind but background `embed`) on
 * a model served by a remote engine, besides the local rule above (which still applies):
 * - first token: a call with no first token (no vector, for embedQuery) by its limit is given up on
 *   (StalledError: cooldown, retry elsewhere). The limit (clock ms) is the latest of the task's
 *   objective deadline (Job.deadlineAt: submission + the decision's objective), the first token
 *   the decision predicted (its wait in the engine's queue included), and the call's start +
 *   REMOTE_MIN_SILENCE_MS (a call started or retried near its deadline still gets that long), or +
 *   STALL_MIN_MS while the model's speed for the call (prefill; embeddings for embedQuery) is not
 *   yet measured: its predictions are then priors, and a healthy engine slower than them must get
 *   the calls that measure it.
 *   The HTTP timeouts (30 s) are far beyond every objective: a dead server that accepts
 *   connections and says nothing costs a task at most its objective, never 30 s.
 * - a slow trickle: after the first token, once past the same limit, a call that has streamed fewer
 *   than 1 / REMOTE_TRICKLE_FACTOR of the tokens the model's measured decode speed predicts since
 *   its first token is given up on the same way (never while the decode speed is a prior). Checked at the limit, then every
 *   REMOTE_CHECK_MS (virtual or real clock ms).
 */
export const REMOTE_MIN_SILENCE_MS = 500;
export const REMOTE_TRICKLE_FACTOR = 4;
export const REMOTE_CHECK_MS = 250;
