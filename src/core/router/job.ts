/**
 * A submitted task as the router tracks it, from submission until it settles, and the per-job
 * token gate used to pause its generation between tokens. Units: ms (clock time), tokens.
 */
import type { TokenGate } from '../backend';
import type { TimerHandle } from '../clock';
import type { ChatTask, EmbedTask, Task, TaskKind, TaskResult } from '../tasks';
import type { DecisionRecordImpl } from './decision';
import type { ModelEntry } from './modelEntry';

/**
 * holding: waiting before routing (hold-start);
 * queued: in `model`'s queue; running: a backend call in progress; done: settled.
 * Transitions only go forward, except running -> queued between embedding batches and on retry.
 */
export type JobState = 'holding' | 'queued' | 'running' | 'done';

/**
 * Pauses a generation between tokens. Open: `wait` returns undefined (no promise, no allocation).
 * Closed: `wait` returns a promise resolved by `open()`, or rejected with the signal's reason.
 */
export class JobGate implements TokenGate {
    private waiters: Array<() => void> = [];
    closed = false;
    /** When the current pause began (clock ms), if closed. */
    closedAt = 0;
    /** Total time spent closed (ms). */
    pausedMs = 0;
    /** Set by the router for jobs whose prefill chunks it may shorten (`TokenGate.chunkTokens`). */
    chunkCap: (() => number | undefined) | undefined;

    chunkTokens(): number | undefined {
        return this.chunkCap?.();
    }

    wait(signal: AbortSignal): Promise<void> | undefined {
        if (!this.closed) return undefined;
        if (signal.aborted) return Promise.reject(signal.reason);
        return new Promise<void>((resolve, reject) => {
            const onAbort = (): void => {
                const i = this.waiters.indexOf(done);
                if (i >= 0) this.waiters.splice(i, 1);
                reject(signal.reason);
            };
            const done = (): void => {
                signal.removeEventListener('abort', onAbort);
                resolve();
            };
            this.waiters.push(done);
            signal.addEventListener('abort', onAbort, { once: true });
        });
    }

    close(now: number): void {
        if (this.closed) return;
        this.closed = true;
        this.closedAt = now;
    }

    open(now: number): void {
        if (!this.closed) return;
        this.closed = false;
        this.pausedMs += now - this.closedAt;
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
    }
}

export function isEmbedTask(t: Task): t is EmbedTask {
    return t.kind === 'embed' || t.kind === 'embedQuery';
}

export function isChatTask(t: Task): t is ChatTask {
    return t.kind === 'edit' || t.kind === 'explain' || t.kind === 'refactorPlan';
}

export class Job {
    state: JobState = 'holding';
    /** FIFO order among equal priorities; kept across embedding batches so a job keeps its place. */
    seq: number;
    model: ModelEntry | undefined;
    decision: DecisionRecordImpl | undefined;
    readonly controller = new AbortController();
    readonly gate = new JobGate();
    /** Prompt tokens (whole prompt). */
    promptTokens = 0;
    /** Characters of the prompt, for the tokens-per-character estimate. */
    promptChars = 0;
    /** Expected generated tokens. */
    genTokens = 0;
    /** Predicted service time on `model` (ms), for the wait of jobs queued behind it. */
    serviceMs = 0;
    /** Share of `serviceMs` counted as "ahead" of other jobs (one batch for background embeds). */
    aheadMs = 0;
    /** Tokens of work this job adds to its queue (prompt + max generated). */
    workTokens = 0;
    /** Clock time the running call is predicted to end. */
    predictedEndAt = 0;
    /** Latency objective (ms from submission) and its deadline (clock ms). */
    objectiveMs = Number.POSITIVE_INFINITY;
    deadlineAt = Number.POSITIVE_INFINITY;
    attempts = 0;
    /** Set once the job was routed to a model that had to load first: never dropped for lateness. */
    waitsForLoad = false;
    /** Models that failed this job (not retried there). */
    failedOn: ModelEntry[] | undefined;
    startedAt: number | undefined;
    firstTokenAt: number | undefined;
    /** Predicted time to first token once started (ms; one batch for embeds). */
    firstMs = 0;
    /** Hold-start duration chosen at admission (ms), for the record. */
    holdMs = 0;
    /** Clock time the current backend call started. */
    callStartedAt = 0;
    /** The current backend call, while running. */
    execution: Promise<void> | undefined;
    /** The last backend error, for the rejection when no retry is possible. */
    lastError: unknown;
    /** When the job last entered a queue (clock ms). */
    queuedAt = 0;
    /** Embedding progress. */
    textsDone = 0;
    vectors: number[][] | undefined;
    space: string | undefined;
    /** Set while this completion pauses lower-priority work (its prefill and first token, or its last tokens). */
    pausesOthers = false;
    timer: TimerHandle | undefined;
    /** Pauses others again once the typing burst has likely ended (`Router.armQuietPause`). */
    quietTimer: TimerHandle | undefined;
    /** Ends a hold after the first token (`Router.holdRest`). */
    restTimer: TimerHandle | undefined;
    /** The gate's paused ms when the first token came (pauses during prefill), this call. */
    pausedBeforeFirstMs = 0;
    detachExternal: (() => void) | undefined;
    /**
     * A background read (cold start or read-ahead): a prefill-only completion nobody awaits, never
     * superseded by a keystroke, that leaves the document's prompt in its model's sequence.
     */
    backgroundRead = false;
    /** Set by the decision when a cold start sends this completion elsewhere: the model that reads the document meanwhile. */
    readOn: ModelEntry | undefined;
    promptTokensResult = 0;
    reusedTokensResult = 0;
    generatedTokensResult = 0;

    constructor(
        readonly id: number,
        readonly task: Task,
        readonly kind: TaskKind,
        /** Index of `kind` in TASK_KINDS. */
        readonly classIndex: number,
        readonly priority: number,
        readonly submittedAt: number,
        readonly resolve: (r: TaskResult) => void,
        readonly reject: (e: unknown) => void,
    ) {
        this.seq = id;
    }

    get doc(): string | undefined {
        const t = this.task;
        return isEmbedTask(t) ? undefined : t.doc;
    }

    get isBackground(): boolean {
        return this.kind === 'embed';
    }

    get signal(): AbortSignal {
        return this.controller.signal;
    }
}
