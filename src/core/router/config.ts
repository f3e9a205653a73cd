/**
 * The routing settings in force, with what the router's hot paths derive from them. Immutable:
 * `Router.reconfigure` makes a new one, and a job keeps the priority it was given at submission.
 */
import { TASK_KINDS, type Levers, type RoutingSettings, type TaskKind } from '../tasks';
import type { Priority } from '../scheduling';

/** Number of task kinds (classes). */
export const NK = TASK_KINDS.length;
/** Index of each task kind in TASK_KINDS: the router's per-class arrays are indexed by it. */
export const CLASS_INDEX: Readonly<Record<TaskKind, number>> = Object.fromEntries(TASK_KINDS.map((k, i) => [k, i])) as Record<TaskKind, number>;

export class RouterConfig {
    /** Priority per class index. */
    readonly priorities: Float64Array;
    /** The zeta policy (every lever may act); the others are the baselines. */
    readonly zeta: boolean;
    /** Baseline policies: queues are first come, first served, and all queued work is ahead of a new task. */
    readonly fifo: boolean;
    /** Reused prefix tokens are free in predictions (zeta with prefixAffinity). */
    readonly affinity: boolean;
    /** Texts per background embedding batch, at least 1. */
    readonly embedBatch: number;

    constructor(readonly settings: RoutingSettings) {
        this.priorities = new Float64Array(NK);
        for (let k = 0; k < NK; k++) this.priorities[k] = settings.taskClasses[TASK_KINDS[k]].priority;
        this.zeta = settings.policy === 'zeta';
        this.fifo = !this.zeta;
        this.affinity = this.zeta && settings.levers.prefixAffinity;
        this.embedBatch = Math.max(1, Math.floor(settings.embedBatchSize));
    }

    /** Whether zeta's lever `name` acts (always false under a baseline policy). */
    on(name: keyof Levers): boolean {
        return this.zeta && this.settings.levers[name];
    }

    priority(kind: TaskKind): Priority {
        return this.priorities[CLASS_INDEX[kind]];
    }
}
