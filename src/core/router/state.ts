/**
 * The router's state objects, which its parts share: a task as the router tracks it (`Job`, with
 * the token gate that pauses its generation), a model as the router tracks it (`ModelEntry`), and
 * a model's bounded queue (`JobQueue`). They refer to each other (a job knows its model, a model
 * holds its jobs), so they live in one module. Units: ms (clock time), tokens, bytes.
 */
import type { ModelBackend, ModelInfo, ModelSpec, RemoteLoad, TokenGate } from '../backend';
import type { TimerHandle } from '../clock';
import { fimTextOrder } from '../fim';
import { TASK_KINDS, type ChatTask, type CompletionTask, type EmbedTask, type Residency, type Task, type TaskKind, type TaskResult } from '../tasks';
import type { DecisionRecordImpl } from './decision';
import { SpeedMonitor, priorFromMemory } from './speedMonitor';
import { REMOTE_CONNECT_PRIOR_MS } from './tuning';

// ---------------------------------------------------------------- jobs

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
    /**
     * Times a backend asked the gate (before each prefill chunk and each token): the call's
     * heartbeat, which the watchdog reads. Only ever increases.
     */
    asked = 0;

    chunkTokens(): number | undefined {
        this.asked++;
        return this.chunkCap?.();
    }

    wait(signal: AbortSignal): Promise<void> | undefined {
        this.asked++;
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
    /** The watchdog of the running call (execute.ts), armed from its start to its end. */
    watchdog: TimerHandle | undefined;
    /** The remote watchdog of the running call on a remote engine (execute.ts, REMOTE_MIN_SILENCE_MS). */
    remoteWatch: TimerHandle | undefined;
    /** Clock ms the current call's first token came (undefined before it); reset at each call. */
    callFirstTokenAt: number | undefined;
    /** Clock ms the decision predicted the first token at (decision time + its first-token prediction). */
    predictedFirstAt = 0;
    /** Tokens streamed by the current call (progress, for the watchdog). */
    tokensSeen = 0;
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

    /** The job's result, served by `m` and finished at `now` (clock ms). */
    result(m: ModelEntry, now: number, text: string | undefined, vectors: number[][] | undefined): TaskResult {
        return {
            taskId: this.id,
            kind: this.kind,
            modelId: m.id,
            ...(text !== undefined ? { text } : {}),
            ...(vectors !== undefined ? { vectors, space: m.space } : {}),
            timings: {
                queuedMs: (this.startedAt ?? now) - this.submittedAt,
                firstTokenMs: this.firstTokenAt === undefined ? undefined : this.firstTokenAt - this.submittedAt,
                totalMs: now - this.submittedAt,
            },
            decision: this.decision!.copy(),
            promptTokens: this.promptTokensResult,
            reusedPromptTokens: this.reusedTokensResult,
            generatedTokens: this.generatedTokensResult,
        };
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

// ---------------------------------------------------------------- queues

/**
 * A bounded per-model queue. Jobs are kept in arrival (seq) order; the scheduler picks by
 * priority (or FIFO for the baseline policies). Aggregates per task class are kept up to date so
 * that the wait estimate costs O(classes), not O(queue).
 * Invariant: `aheadMs[c]`, `count[c]` and `tokens` equal the sums over the jobs in `items`.
 */
export class JobQueue {
    /** Sorted by seq ascending. Bounded by the router's maxQueue (small), so scans are cheap. */
    readonly items: Job[] = [];
    readonly aheadMs = new Float64Array(TASK_KINDS.length);
    readonly count = new Int32Array(TASK_KINDS.length);
    tokens = 0;

    get length(): number {
        return this.items.length;
    }

    push(job: Job): void {
        const items = this.items;
        let i = items.length;
        while (i > 0 && items[i - 1].seq > job.seq) i--;
        items.splice(i, 0, job);
        this.aheadMs[job.classIndex] += job.aheadMs;
        this.count[job.classIndex]++;
        this.tokens += job.workTokens;
    }

    remove(job: Job): boolean {
        const i = this.items.indexOf(job);
        if (i < 0) return false;
        this.items.splice(i, 1);
        this.aheadMs[job.classIndex] -= job.aheadMs;
        this.count[job.classIndex]--;
        this.tokens -= job.workTokens;
        if (this.items.length === 0) {
            // Clears floating-point drift.
            this.aheadMs.fill(0);
            this.tokens = 0;
        }
        return true;
    }

    /**
     * The job to run next. FIFO: the oldest. Otherwise the highest priority, oldest first among
     * equals, except that a background job older than `starvationAt` (clock ms) goes first. Jobs
     * that may not start now are passed over: background jobs when `holdBackground` (headroom), and
     * jobs below `holdBelow` (a completion elsewhere is reading its prompt).
     */
    next(fifo: boolean, starvationAt: number, holdBackground: boolean, holdBelow: number): Job | undefined {
        let best: Job | undefined;
        for (const j of this.items) {
            if ((holdBackground && j.isBackground) || j.priority < holdBelow) continue;
            if (fifo) return j;
            if (j.isBackground && j.queuedAt <= starvationAt) return j;
            if (!best || j.priority > best.priority) best = j;
        }
        return best;
    }
}

// ---------------------------------------------------------------- models

/** What the router believes a model's sequence holds for a document (its last completion prompt). */
export interface DocPrefix {
    /** The prompt's texts in evaluation order (`fimTextOrder`). */
    texts: readonly string[];
    /** Prompt tokens of that request. */
    tokens: number;
}

/**
 * A model the router knows: spec, backend, what inspection learned (capabilities, memory),
 * residency, measured speeds, which documents its sequences likely hold, and cooldown.
 */
export class ModelEntry {
    info: ModelInfo | undefined;
    residency: Residency = 'unloaded';
    error: string | undefined;
    coolingDownUntil = 0;
    /** Why the model cools down, as a decision shows it ("cooling down after an error"). */
    coolingReason = 'cooling down after an error';
    /**
     * Calls the watchdog gave up on that have not returned yet: each still holds a slot in the
     * backend, so the router starts at most `slots - abandoned` calls here.
     */
    abandoned = 0;
    readonly queue = new JobQueue();
    /** Jobs with a backend call in progress. At most `spec.slots`. */
    readonly running: Job[] = [];
    /** Measured speeds and utilisation (the router's one speed monitor). */
    readonly speed: SpeedMonitor;
    /** Clock time the model last finished work (for keep-alive and eviction order). */
    lastUsedAt = 0;
    keepAliveTimer: TimerHandle | undefined;
    /** When the current load began (clock ms). */
    loadStartedAt = 0;
    loadWanted = false;
    /** Documents whose prefix this model's sequences likely hold; most recent last, <= slots entries. */
    readonly docs = new Map<string, DocPrefix>();
    /** Documents this model is reading in the background (background-read jobs queued or running). */
    readonly reading = new Set<string>();
    served = 0;
    failed = 0;
    /** Generations of this model's jobs currently paused at their gate. */
    paused = 0;
    /** Completions on this model pausing lower-priority work (`Job.pausesOthers`). */
    pausers = 0;
    /** Headroom hold budget (ms) and the state it accrues from, updated lazily at each pump. */
    readonly holdBudget = { bankMs: 0, lastAt: 0, pending: false, holding: false };
    /** Re-pump timer while background batches are held for headroom. */
    holdTimer: TimerHandle | undefined;
    /** Called when the last running job finishes (used while retiring). */
    onIdle: (() => void) | undefined;
    /** Removed by reconfigure: finishes its running work, takes no new work. */
    retired = false;
    /**
     * Set when the model cannot serve until the user changes its settings (a remote engine refused
     * its credentials: "unauthorized: set its API key"); a hard exclusion, cleared when reconfigure
     * gives the model a fresh backend.
     */
    needsSetup: string | undefined;
    /**
     * What the backend said this model cannot do, by capability (a ModelRuntimeError 'unsupported':
     * a llama-server started without --embeddings, an engine without a chat endpoint): a hard
     * exclusion for tasks of that capability only, never a cooldown of the whole model; cleared when
     * reconfigure gives the model a fresh backend.
     */
    readonly unsupported = new Map<Capability, string>();
    /**
     * The remote engine's load as read at the latest decision (`readRemoteLoad`), undefined for a
     * local model. Read once per decision per model so the estimator (a hot path) never calls the
     * backend; copies, so it never changes after it was read.
     */
    remoteLoad: RemoteLoad | undefined;
    constructor(
        public spec: ModelSpec,
        public backend: ModelBackend,
    ) {
        this.speed = new SpeedMonitor(priorFromMemory(1e9));
    }

    get id(): string {
        return this.spec.id;
    }

    get slots(): number {
        return Math.max(1, this.info?.slots ?? this.spec.slots);
    }

    /** Served by an engine outside this process: takes no local memory, shares no local device. */
    get remote(): boolean {
        return this.spec.remote !== undefined || this.info?.remote !== undefined;
    }

    /** Reads the engine's live load into `remoteLoad` (undefined for a local model); once per decision. */
    readRemoteLoad(): RemoteLoad | undefined {
        return (this.remoteLoad = this.backend.remoteLoad?.());
    }

    /** Memory the model needs when loaded (bytes, host + GPU). */
    get memoryBytes(): number {
        // A remote engine's model takes no memory on this machine, whatever its backend estimates.
        if (this.remote) return 0;
        const m = this.info?.estimatedMemory;
        return m ? m.ramBytes + m.vramBytes : 0;
    }

    get canInfill(): boolean {
        return this.info !== undefined && this.info.fim !== undefined && this.spec.fimTemplate !== 'none';
    }

    get canChat(): boolean {
        return this.info?.hasChat === true;
    }

    get space(): string | undefined {
        return this.info?.embeddingSpace;
    }

    get idle(): boolean {
        return this.running.length === 0 && this.queue.length === 0;
    }

    setInfo(info: ModelInfo): void {
        this.info = info;
        const prior = priorFromMemory(this.memoryBytes || 1e9);
        // A remote model's "load" connects to its engine: no weights are read here.
        this.speed.setPrior(this.remote ? { ...prior, loadMs: REMOTE_CONNECT_PRIOR_MS } : prior);
    }

    /** A completion's prompt texts in the order this model evaluates them (its FIM template's). */
    fimTexts(t: Pick<CompletionTask, 'prefix' | 'suffix' | 'middle'>): readonly string[] {
        return fimTextOrder(this.info?.fim, t.prefix, t.suffix, t.middle ?? '');
    }

    /** Remembers the prompt a completion left in this model's sequences for `doc` (texts from `fimTexts`). */
    rememberDoc(doc: string, texts: readonly string[], tokens: number): void {
        this.docs.delete(doc);
        this.docs.set(doc, { texts, tokens });
        while (this.docs.size > this.slots) this.docs.delete(this.docs.keys().next().value as string);
    }

    /**
     * Prompt tokens a completion for `doc` would reuse here: the common start of its texts (from
     * `fimTexts`, in evaluation order) with those of the document's last prompt, in tokens
     * (characters scaled by the task's tokens per character). A text counts up to its first
     * difference, and the texts after it only when it matched in full.
     * O(common length) character comparisons; no allocation.
     */
    reusableTokens(doc: string, texts: readonly string[], promptTokens: number, tokensPerChar: number): number {
        const d = this.docs.get(doc);
        if (!d) return 0;
        let chars = 0;
        for (let k = 0; k < texts.length && k < d.texts.length; k++) {
            const a = d.texts[k];
            const b = texts[k];
            const n = Math.min(a.length, b.length);
            let i = 0;
            while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
            chars += i;
            if (i !== a.length || i !== b.length) break;
        }
        // The template's leading control token is shared too; at least one token is always evaluated.
        return Math.max(0, Math.min(promptTokens - 1, Math.floor(chars * tokensPerChar)));
    }
}


/** What a task needs of a model: fill-in-the-middle, chat, or embeddings. */
export type Capability = 'infill' | 'chat' | 'embed';

export function capabilityOf(kind: TaskKind): Capability {
    return kind === 'completion' ? 'infill' : kind === 'embed' || kind === 'embedQuery' ? 'embed' : 'chat';
}
