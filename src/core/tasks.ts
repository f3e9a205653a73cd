/**
 * The router's public contract: the tasks it takes, what it returns, and the snapshot the status
 * bar and load view render. Implemented in src/core/router/; used by src/vscode/ and bench/.
 * Units: milliseconds, tokens.
 */
import type { ChatMessage, ModelBackend, ModelInfo, ModelSpec, RemoteApi, Role, TokenListener } from './backend';
import type { Clock } from './clock';
import type { WaitExplanation, WaitState } from './scheduling';

export type TaskKind = 'completion' | 'edit' | 'explain' | 'refactorPlan' | 'embed' | 'embedQuery';
export const TASK_KINDS: readonly TaskKind[] = ['completion', 'edit', 'explain', 'refactorPlan', 'embed', 'embedQuery'];

/** Inline fill-in-the-middle. Supersedable: a newer completion for the same `doc` cancels this one. */
export interface CompletionTask {
    readonly kind: 'completion';
    /** Document identity (URI); also the prefix-cache key. */
    readonly doc: string;
    /** Text before the cursor up to where `middle` starts (a line start); all of it when `middle` is absent. */
    readonly prefix: string;
    readonly suffix: string;
    /**
     * The start of the middle: the text before the cursor from a line start at or above the cursor
     * line (`prefix + middle` is all the text before it; see `chooseMiddleStart`). See
     * `GenerateRequest.middle`: it goes after the FIM middle marker, so typing, Enter included, only
     * appends to the prompt and the evaluated suffix is reused.
     */
    readonly middle?: string;
    readonly maxTokens: number;
    readonly stop?: readonly string[];
    readonly onToken?: TokenListener;
    /** Prompt tokens when the caller already knows them; otherwise the router counts with the backend's tokenizer. */
    readonly promptTokens?: number;
}

/** Streaming chat-style work: edits, explanations, refactor plans. */
export interface ChatTask {
    readonly kind: 'edit' | 'explain' | 'refactorPlan';
    readonly doc?: string;
    readonly messages: readonly ChatMessage[];
    readonly maxTokens: number;
    readonly onToken?: TokenListener;
    /** Prompt tokens when the caller already knows them; otherwise the router counts with the backend's tokenizer. */
    readonly promptTokens?: number;
}

/**
 * Embeddings. `embed` is background indexing, run in small batches that can be interrupted
 * between batches; `embedQuery` is interactive. `space` names the embedding space of the index
 * the vectors are for: only models of that space may serve it (undefined: any embedder, and the
 * result names the space used, so the caller can bind a new index to it).
 */
export interface EmbedTask {
    readonly kind: 'embed' | 'embedQuery';
    readonly texts: readonly string[];
    readonly space?: string;
    /** Called after each batch with the number of texts embedded so far (progress). */
    readonly onProgress?: (done: number, total: number) => void;
}

export type Task = CompletionTask | ChatTask | EmbedTask;

/** Predicted cost of one task on one candidate model. */
export interface CandidatePrediction {
    readonly modelId: string;
    /** Predicted wait before the task starts (work ahead of it at its priority, load time). */
    readonly waitMs: number;
    /** Predicted time to first token from submission (completion/chat) or to finish (embed). */
    readonly firstTokenMs: number;
    readonly finishMs: number;
    /** Learned quality penalty, in milliseconds-equivalent, added before choosing the minimum. */
    readonly qualityPenaltyMs: number;
    /** Prompt tokens expected to be reused from this model's cache for the task's document. */
    readonly reusedTokens: number;
    /** Why this candidate was excluded, if it was. */
    readonly excluded?: string;
}

/** Why a task went where it did; kept for the load view and the log. */
export interface DecisionRecord {
    readonly taskId: number;
    readonly kind: TaskKind;
    readonly doc?: string;
    /** Time of the decision (clock ms). */
    readonly at: number;
    readonly policy: string;
    readonly chosen: string | undefined;
    readonly candidates: readonly CandidatePrediction[];
    /** A reason in words a user can follow, e.g. "coder busy (3 waiting): reasoner idle, 120 ms sooner". */
    readonly reason: string;
}

export interface TaskTimings {
    /** Submission to start on a model. */
    readonly queuedMs: number;
    /** Submission to first token (chat/completion) or first batch (embed); undefined if none. */
    readonly firstTokenMs: number | undefined;
    readonly totalMs: number;
}

export interface TaskResult {
    readonly taskId: number;
    readonly kind: TaskKind;
    /** The model that served the task (after any retry). */
    readonly modelId: string;
    readonly text?: string;
    readonly vectors?: number[][];
    /** Embedding space of `vectors`. */
    readonly space?: string;
    readonly timings: TaskTimings;
    readonly decision: DecisionRecord;
    readonly promptTokens: number;
    readonly reusedPromptTokens: number;
    readonly generatedTokens: number;
}

export type Residency = 'unloaded' | 'loading' | 'loaded' | 'failed';

/** One model's live state, as the load view shows it. Copies, never live objects. */
export interface ModelSnapshot {
    readonly id: string;
    readonly role: Role;
    readonly name: string;
    readonly residency: Residency;
    /** Set when residency is "failed" or the model is cooling down after errors. */
    readonly error?: string;
    readonly coolingDownUntil?: number;
    /**
     * Why decisions leave the model out now, in words, while it cools down or until its settings
     * change ("team-coder unreachable (connection refused): cooling down", "unauthorized: set its API key").
     */
    readonly unavailable?: string;
    readonly queued: number;
    /** Tokens of work waiting in the queue (prompt + max generated). */
    readonly queuedTokens: number;
    readonly inFlight: number;
    readonly slots: number;
    readonly paused: number;
    readonly firstTokenMs: number | undefined;
    readonly promptTokensPerSec: number | undefined;
    readonly decodeTokensPerSec: number | undefined;
    /** Share of the last window the model spent working, 0..1. */
    readonly utilisation: number;
    readonly memoryBytes: number;
    readonly served: number;
    readonly failed: number;
    /** Set for a model served by a remote engine: the engine's live load as it last reported it. */
    readonly remote?: RemoteModelSnapshot;
}

/** A remote engine's load in a snapshot (see RemoteLoad in backend.ts). Units: ms, requests. */
export interface RemoteModelSnapshot {
    readonly api: RemoteApi;
    readonly url: string;
    /** The engine's slots (undefined when it does not say). */
    readonly slots: number | undefined;
    /** Slots processing now, over all clients. */
    readonly slotsBusy: number;
    /** Of those, other clients' (slotsBusy less our calls in flight). */
    readonly othersBusy: number;
    /** Requests waiting in the engine's own queue, over all clients. */
    readonly deferred: number;
    readonly rttMs: number | undefined;
    readonly reachable: boolean;
    /** Why the engine is unreachable, in words. */
    readonly error?: string;
    /** Age of the load report at the snapshot (ms); undefined before the first. */
    readonly ageMs: number | undefined;
}

export interface RouterSnapshot {
    readonly at: number;
    readonly policy: string;
    readonly models: readonly ModelSnapshot[];
    /** Newest first, bounded. */
    readonly recentDecisions: readonly DecisionRecord[];
    /** Forecast arrivals per second per task kind. */
    readonly forecast: Readonly<Partial<Record<TaskKind, number>>>;
    /** Median gap between the user's recent keystrokes (ms); undefined after a pause or before any. */
    readonly typingIntervalMs: number | undefined;
    /** Why each waiting task waits now (held, queued, loading, a sequence, the evaluation thread, paused), oldest first. */
    readonly waits: readonly WaitExplanation[];
}

export type FeedbackEvent = 'shown' | 'accepted' | 'dismissed';

export interface Feedback {
    readonly modelId: string;
    readonly kind: TaskKind;
    readonly event: FeedbackEvent;
}

/** Editor activity fed in by the VS Code layer; drives the typing-cadence forecast. */
export interface ActivitySignal {
    readonly type: 'keystroke';
    readonly doc: string;
}

export interface Disposable {
    dispose(): void;
}

export type PolicyName = 'static' | 'round-robin' | 'least-busy' | 'lowest-latency' | 'zeta';
export const POLICY_NAMES: readonly PolicyName[] = ['static', 'round-robin', 'least-busy', 'lowest-latency', 'zeta'];

/** Zeta's levers, each switchable for the benchmark's ablation. All true by default. */
export interface Levers {
    /** Prefer the model holding the document's prefix; count reused tokens as free. */
    readonly prefixAffinity: boolean;
    /**
     * Pause other models' generations between tokens during a completion's prefill/first token. On
     * the CPU also: native calls take the shared evaluation thread by priority, and lower-priority
     * prompts are read in shorter chunks while typing goes on.
     */
    readonly pauseOthers: boolean;
    /**
     * Hold a completion the typing cadence predicts will be superseded: its start, while the next
     * keystroke is likely before its first token; after its first token, while it is likely before
     * its end.
     */
    readonly holdSupersedable: boolean;
    /** Send work to a non-preferred model when it will finish sooner. */
    readonly spill: boolean;
    /** Keep coder headroom: hold background batches back when completions are forecast. */
    readonly forecastHeadroom: boolean;
    /**
     * A completion whose preferred model would first have to read most of the document (a cold
     * prompt) is answered by a much faster capable model while the preferred model reads the
     * document in the background; the next keystrokes go back to it.
     */
    readonly coldStart: boolean;
}

/** Per task kind: priority (higher first) and objective as a multiple of the isolated estimate. */
export interface TaskClassSettings {
    readonly priority: number;
    /** Latency objective as a multiple of the predicted time on the best idle model. */
    readonly objectiveFactor: number;
}

export interface RoutingSettings {
    readonly policy: PolicyName;
    readonly levers: Levers;
    readonly taskClasses: Readonly<Record<TaskKind, TaskClassSettings>>;
    /** Per-model queue bound; a task past it is rejected with QueueFullError. */
    readonly maxQueue: number;
    /** Idle models may be unloaded after this long when memory is short. */
    readonly keepAliveMs: number;
    /** Total memory budget for resident models (undefined: from the machine). */
    readonly memoryBudgetBytes: number | undefined;
    /** A model that errors is not chosen for this long. */
    readonly cooldownMs: number;
    /** Texts per background embedding batch (the interruption granularity). */
    readonly embedBatchSize: number;
    /** Learn quality penalties from accepted/dismissed completions. */
    readonly learnFromFeedback: boolean;
}

/**
 * Where the router keeps one text between sessions (learned feedback, learned speeds): a side effect
 * passed in (an atomic file in production, memory in tests).
 */
export interface TextStore {
    load(): Promise<string | undefined>;
    /** Must write atomically (temporary file + rename). */
    save(data: string): Promise<void>;
    /** Moves a corrupt file aside; returns where it went. */
    setAside(reason: string): Promise<string | undefined>;
}

export interface RouterLogger {
    info(message: string): void;
    warn(message: string): void;
    error(message: string): void;
}

export interface RouterDeps {
    readonly clock: Clock;
    /** Creates a backend for a model spec (llama.cpp in production, fakes in tests, simulator in bench). */
    readonly createBackend: (spec: ModelSpec) => ModelBackend;
    readonly settings: RoutingSettings;
    readonly models: readonly ModelSpec[];
    readonly feedbackStore?: TextStore;
    /** Keeps the speeds measured on this machine for the next session (same contract as feedbackStore). */
    readonly speedStore?: TextStore;
    /**
     * The evaluation turns the backends share (the composition root's `EvalTurns`), when models run
     * on one evaluation thread: the router reads who holds and who waits for the load view's
     * explanations. The router never takes turns itself.
     */
    readonly turns?: { waits(): WaitState };
    readonly logger?: RouterLogger;
}

export interface Router {
    /** Routes, queues and runs a task. Rejects with signal.reason on cancel/supersede, or a typed error. */
    submit(task: Task, signal?: AbortSignal): Promise<TaskResult>;
    feedback(feedback: Feedback): void;
    activity(signal: ActivitySignal): void;
    /**
     * A hint: the editor shows `task.doc` and the user may type at the position `task` was built
     * for. Zeta (levers.coldStart) has the preferred completion model read that prompt in the
     * background, just above background indexing, unless it already holds nearly all of it, so that
     * the first keystroke there does not wait for the whole file to be read. A newer hint replaces a
     * read that has not started; a completion for the document replaces the read (keeping what it
     * has read). Returns at once and never fails; other policies ignore it.
     */
    readAhead(task: CompletionTask): void;
    snapshot(): RouterSnapshot;
    /** Fires (synchronously, possibly often) whenever the snapshot would change. */
    onDidChange(listener: () => void): Disposable;
    /** Applies new settings/models without a restart; a model whose path changed reloads. */
    reconfigure(models: readonly ModelSpec[], settings: RoutingSettings): Promise<void>;
    /** Model info of loaded/inspected models by id. */
    modelInfo(id: string): ModelInfo | undefined;
    /** Cancels everything, settles every task, unloads every model. */
    dispose(): Promise<void>;
}
