/**
 * Default routing settings and the fixed tables the router starts from: priorities, objectives,
 * the role each task kind goes to, quality priors and weights. The router's tuning constants are in
 * tuning.ts. Units: milliseconds, bytes.
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
