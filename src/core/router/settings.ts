/**
 * Default routing settings and the fixed tables the router starts from (priorities, objectives,
 * quality priors). Units: milliseconds, bytes.
 */
import type { Role } from '../backend';
import type { Levers, RoutingSettings, TaskClassSettings, TaskKind } from '../tasks';

export const defaultLevers: Levers = Object.freeze({
    prefixAffinity: true,
    pauseOthers: true,
    holdSupersedable: true,
    spill: true,
    forecastHeadroom: true,
    coldStart: true,
});

/** Higher priority runs first. Objectives are multiples of the best idle model's predicted time. */
export const DEFAULT_TASK_CLASSES: Readonly<Record<TaskKind, TaskClassSettings>> = Object.freeze({
    completion: { priority: 100, objectiveFactor: 4 },
    embedQuery: { priority: 90, objectiveFactor: 4 },
    edit: { priority: 60, objectiveFactor: 4 },
    explain: { priority: 50, objectiveFactor: 4 },
    refactorPlan: { priority: 40, objectiveFactor: 5 },
    embed: { priority: 0, objectiveFactor: 20 },
});

export function defaultRoutingSettings(): RoutingSettings {
    return {
        policy: 'zeta',
        levers: { ...defaultLevers },
        taskClasses: { ...DEFAULT_TASK_CLASSES },
        maxQueue: 64,
        keepAliveMs: 5 * 60_000,
        memoryBudgetBytes: undefined,
        cooldownMs: 30_000,
        embedBatchSize: 1,
        learnFromFeedback: true,
    };
}

/** The role whose model serves a task kind when nothing pulls it elsewhere (the `static` policy's map). */
export const PREFERRED_ROLE: Readonly<Record<TaskKind, Role>> = Object.freeze({
    completion: 'coder',
    edit: 'coder',
    explain: 'reasoner',
    refactorPlan: 'reasoner',
    embed: 'embedder',
    embedQuery: 'embedder',
});

/**
 * Prior acceptance rate per role and task (0..1): the coder is best at completions and edits, the
 * reasoner at explanations and plans, the small embedder an acceptable fallback. Feedback moves
 * these (Beta posterior with PRIOR_STRENGTH pseudo-observations).
 */
export const QUALITY_PRIOR: Readonly<Record<Role, Readonly<Record<TaskKind, number>>>> = Object.freeze({
    coder: { completion: 0.9, edit: 0.85, explain: 0.7, refactorPlan: 0.65, embed: 0.8, embedQuery: 0.8 },
    reasoner: { completion: 0.75, edit: 0.8, explain: 0.9, refactorPlan: 0.9, embed: 0.8, embedQuery: 0.8 },
    embedder: { completion: 0.6, edit: 0.5, explain: 0.5, refactorPlan: 0.45, embed: 0.9, embedQuery: 0.9 },
});
export const PRIOR_STRENGTH = 20;

/**
 * Quality penalty per task kind, in multiples of the preferred model's idle time per unit of
 * acceptance lost: a candidate with acceptance q, against the best candidate's qBest, pays
 * (qBest - q) * QUALITY_WEIGHT[kind] * (preferred model's predicted idle time). It stands for the
 * expected cost of redoing rejected work. With the priors above: a completion leaves an idle-
 * equivalent coder for the embedder only when the coder's wait exceeds ~0.7x its own idle time;
 * an edit goes to the reasoner before the embedder, and only when the coder is busy for > ~2x.
 * Embeddings stay in one space, so quality never decides between them.
 */
export const QUALITY_WEIGHT: Readonly<Record<TaskKind, number>> = Object.freeze({
    completion: 4,
    edit: 10,
    explain: 10,
    refactorPlan: 10,
    embed: 0,
    embedQuery: 0,
});

/** A queued background job that has waited this long runs next regardless of priority (starvation bound). */
export const STARVATION_MS = 5_000;

/**
 * Headroom holds take at most this share of the time background work is pending (indexing slows
 * by at most 1 / (1 - share) = 1.5x, the bound issue 4 sets), banked up to HOLD_BANK_MAX_MS while
 * it is not needed. 1/4 (1.33x) let embeddings start just before keystrokes once long bursts had
 * drained the bank (bench/FINDINGS.md F22).
 */
export const MAX_HOLD_SHARE = 1 / 3;
/**
 * A background batch is held while a completion is at least this likely to arrive before the batch
 * would finish. Measured on the benchmark's 4B / 7B / 14B simulation (typing + indexing) with
 * one-text batches: 0.5 -> completion p95 first token 47 ms, indexing 62 s; 0.2 -> 43 ms, 76 s
 * (1.28x static's 59 s, within the 1.5x bound); 0.1 -> 44 ms, 76 s. With 8-text batches a
 * completion is nearly always expected within a batch, holds drained the budget through typing
 * bursts and released batches just before keystrokes, which cost more than it saved.
 */
export const HEADROOM_CONFIDENCE = 0.2;
/**
 * HEADROOM_CONFIDENCE for a model on a GPU. There a batch that overlaps a keystroke slows that
 * keystroke's completion for the batch's whole length (the models share the device); on the CPU the
 * evaluation turns make the keystroke wait for at most the one text in flight. Measured on the
 * benchmark's simulations (bench/FINDINGS.md F25): on the GPU trio 0.1 instead of 0.2 cut zeta's
 * completion p95 first token on all three traces (typing-indexing 27.4 -> 25.4 ms, heavy-indexing
 * 25.7 -> 22.1, explain-heavy 31.3 -> 29.6; indexing 1.28x -> 1.38x static's time); on the CPU
 * profile it made explain-heavy's p95 24% worse (271 -> 336 ms) and typing-indexing's 1% better.
 */
export const HEADROOM_CONFIDENCE_GPU = 0.1;
export const HOLD_BANK_MAX_MS = 20_000;

/**
 * Predicted-keystroke pause (forecastHeadroom for streaming generations, see the router's
 * armPredictivePause): lower-priority generations stop at their gate once the next keystroke is
 * this likely within PREDICTIVE_PAUSE_STEPS of their decode steps; the moment is searched in steps
 * of PREDICTIVE_PAUSE_STEP_MS after the last keystroke. Measured on the benchmark's GPU simulation
 * (typing + indexing): confidence 0.2 over 40 ms cut zeta's completion p95 first token from 30 to
 * 25 ms; 0.35 gave 30 ms (bench/FINDINGS.md F22).
 */
export const PREDICTIVE_PAUSE_CONFIDENCE = 0.2;
export const PREDICTIVE_PAUSE_STEPS = 3;
export const PREDICTIVE_PAUSE_STEP_MS = 5;

/**
 * pauseOthers: the pause a completion imposes ends at its first token, unless the rest of it is
 * predicted to take at most this long (ms); then it lasts until the completion ends. An inline
 * suggestion is shown only when complete, and the work held back would otherwise share the device
 * with its last tokens. Measured on the CPU profile (8-token completions, ~100 ms of decode): total
 * p50 460 -> 346 ms; on the GPU profile (48 tokens, ~340 ms) pausing to the end made explains wait
 * 3.3x longer, which this bound rules out.
 */
export const PAUSE_TO_END_MAX_MS = 200;

/** Decision records kept for the snapshot, newest first. */
export const RECENT_DECISIONS = 50;

/** Feedback is saved at most this often. */
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
 * dismisses its suggestions). On a fast GPU a cold 500-token prompt takes tens of ms and this
 * never fires; on the CPU a 7B-class coder takes about a second, a 4B-class model half of that.
 */
export const COLD_START_RATIO = 0.6;
/**
 * readAhead: no read is queued when the preferred model would read fewer than this many tokens of
 * the prompt (it holds the document already; a keystroke evaluates a token or two).
 */
export const READ_AHEAD_MIN_TOKENS = 32;
/**
 * readAhead, for a model on a GPU: nor when reading the prompt is predicted to take it less than
 * this long (ms, alone), the first keystroke would hardly wait for it. A cold prompt on a fast GPU
 * takes tens of ms, and reads there shared the device with keystrokes and explanations: on the
 * benchmark's GPU simulation completion p95 went from 22 to 28 ms and explanations from 4.6 to
 * 6.2 s (bench/FINDINGS.md F30). The same bar as a worthwhile cold start (COLD_START_MIN_GAIN_MS).
 * On the CPU the evaluation turns keep a read out of every other request's way.
 */
export const READ_AHEAD_MIN_GPU_MS = 150;
export const COLD_START_MIN_GAIN_MS = 150;
export const COLD_START_MIN_QUALITY = 0.5;

/**
 * pauseOthers, on the CPU (one evaluation thread for every model): while a typing burst goes on,
 * a lower-priority generation's prefill chunks are cut to about this many ms of evaluation (at the
 * model's measured ms per prompt token), so that a keystroke's call waits at most about this long
 * for the chunk in flight, which cannot be stopped once begun (bench/FINDINGS.md F41, F44).
 */
export const TYPING_CHUNK_MS = 100;
/** Never fewer prompt tokens than this in a cut chunk: each native call has a fixed cost (12-23 ms on the generated models). */
export const TYPING_CHUNK_MIN_TOKENS = 8;
