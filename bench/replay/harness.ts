/**
 * Replays a trace through one router instance and records what happened to every request.
 * The same code runs in virtual time (simulator) and in wall-clock time (real models); only the
 * `ReplayEnv` differs. Request handling:
 * - a `completion` line is a keystroke, the user's event: it goes through the completion pipeline
 *   (src/core/completion/pipeline.ts), the editor's own code from "the user typed here" to the
 *   suggestion: the keystroke feeds the router's cadence, the debounce (the policy's: adaptive for
 *   zeta, fixed for the baselines as the editors using them have it) may end in a `completion`
 *   task, and the pipeline's result is the suggestion the provider would return. A keystroke
 *   cancels the previous one's request in the same document (as the editor cancels its token);
 * - a focus event is the cursor coming to rest in a document (the pipeline's `cursorRested`);
 * - embed lines are one sequential indexing stream (see bench/workload/trace.ts);
 * - every request must settle: a request still pending at the time limit is recorded as "hung".
 * Units: ms on the env's clock, from the trace's start.
 */
import type { ModelBackend, ModelSpec } from '../../src/core/backend';
import type { Clock, VirtualClock } from '../../src/core/clock';
import { DeadlineError, NoCapableModelError, QueueFullError, SupersededError, errorMessage, isAbortError } from '../../src/core/errors';
import type { TokenCounter } from '../../src/core/completion/context';
import { CompletionPipeline, type CompletionPipelineSettings } from '../../src/core/completion/pipeline';
import type { Router, RouterDeps, RoutingSettings, Task, TaskKind, TaskResult } from '../../src/core/tasks';
import { TraceDocuments, type TaskBuilder } from './text';
import type { Trace, TraceLine } from '../workload/trace';

export type Outcome = 'served' | 'cancelled' | 'dropped' | 'failed' | 'hung';

export interface RequestRecord {
    readonly index: number;
    readonly line: TraceLine;
    readonly kind: TaskKind;
    /** The user's event (the trace line's time; a keystroke for a completion), from the trace start (ms). */
    readonly keystrokeAt: number;
    /**
     * When the task went to the router (ms); for a completion, after the debounce, and undefined when
     * a newer keystroke cancelled it before (no task was made).
     */
    submitAt?: number;
    /** Completions: when the pipeline returned a suggestion to show (ms); undefined when none. */
    suggestionAt?: number;
    /** Completions: the debounce the pipeline waited (ms). */
    debounceMs?: number;
    firstTokenAt?: number;
    endAt?: number;
    outcome?: Outcome;
    error?: string;
    modelId?: string;
    promptTokens?: number;
    reusedPromptTokens?: number;
    generatedTokens?: number;
    /** Decision reason in words, from the router's record. */
    reason?: string;
    /** Submission to start on a model, from the router's timings (ms). */
    queuedMs?: number;
}

export interface ReplayEnv {
    readonly clock: Clock;
    /** Lets time pass until `done()` holds or `limitMs` from now has passed. */
    drive(done: () => boolean, limitMs: number): Promise<void>;
}

export interface ReplayInput {
    readonly trace: Trace;
    readonly settings: RoutingSettings;
    readonly models: readonly ModelSpec[];
    readonly createRouter: (deps: RouterDeps) => Router;
    readonly createBackend: (spec: ModelSpec) => ModelBackend;
    readonly builder: TaskBuilder;
    /**
     * The completion settings the pipeline runs with (window limits, debounce bounds): the
     * policy's request handling.
     */
    readonly completion: CompletionPipelineSettings;
    /** The completion windows' token counter (the simulator's: one a word; real mode: the model's tokenizer). */
    readonly countTokens: TokenCounter;
    readonly env: ReplayEnv;
    /** Extra time allowed after the last line for the queues to drain (ms). */
    readonly drainLimitMs: number;
    /**
     * What the warm-up asks before the trace: a tiny request of each kind (default), or a completion
     * only, for a model set that serves nothing else (the team scenario: two coders, one of them a
     * llama-server started without `--embeddings`, which an embedding request would fail).
     */
    readonly warmUp?: 'all' | 'completion';
    /** Called once warm-up is over, just before the first trace line (snapshot counters here). */
    readonly onStart?: () => void;
}

export interface ReplayResult {
    readonly records: RequestRecord[];
    /** Trace time when the last request settled (ms). */
    readonly endMs: number;
    readonly hung: number;
}

/**
 * A tiny request of each kind, so every policy starts with its models loaded and warm. Returns
 * the embedding space the index is bound to (as an indexer binds a new index to the first
 * space it gets), so that later embeddings never mix spaces.
 */
async function warmUp(router: Router, env: ReplayEnv, kinds: 'all' | 'completion'): Promise<string | undefined> {
    const completion: Task = { kind: 'completion', doc: '__warmup__.ts', prefix: 'const', suffix: '', maxTokens: 1 };
    const tasks: Task[] =
        kinds === 'completion'
            ? [completion]
            : [completion, { kind: 'explain', doc: '__warmup__.ts', messages: [{ role: 'user', content: 'warm' }], maxTokens: 1 }, { kind: 'embedQuery', texts: ['warm'] }];
    let pending = tasks.length;
    let space: string | undefined;
    for (const t of tasks) {
        router.submit(t).then(
            (r) => {
                if (r.space !== undefined) space = r.space;
                pending--;
            },
            () => pending--,
        );
    }
    await env.drive(() => pending === 0, 120_000);
    return space;
}

export async function replay(input: ReplayInput): Promise<ReplayResult> {
    const { env, trace, builder } = input;
    const clock = env.clock;
    const router = input.createRouter({
        clock,
        createBackend: input.createBackend,
        settings: input.settings,
        models: input.models,
    });
    const space = await warmUp(router, env, input.warmUp ?? 'all');
    input.onStart?.();

    const t0 = clock.now();
    const now = (): number => clock.now() - t0;
    const records: RequestRecord[] = [];
    let pending = 0;
    let submittedLines = 0;
    const latestByDoc = new Map<string, AbortController>();
    const embedQueue: RequestRecord[] = [];
    let embedInFlight = false;

    const settle = (rec: RequestRecord, result: TaskResult | undefined, error: unknown): void => {
        rec.endAt = now();
        if (result) {
            rec.outcome = 'served';
            rec.modelId = result.modelId;
            rec.promptTokens = result.promptTokens;
            rec.reusedPromptTokens = result.reusedPromptTokens;
            rec.generatedTokens = result.generatedTokens;
            rec.reason = result.decision.reason;
            rec.queuedMs = result.timings.queuedMs;
            if (rec.firstTokenAt === undefined && (rec.kind === 'embed' || rec.kind === 'embedQuery')) rec.firstTokenAt = rec.endAt;
        } else if (error instanceof SupersededError || isAbortError(error)) {
            rec.outcome = 'cancelled';
        } else if (error instanceof DeadlineError || error instanceof QueueFullError) {
            rec.outcome = 'dropped';
            rec.error = errorMessage(error);
        } else {
            rec.outcome = error instanceof NoCapableModelError ? 'dropped' : 'failed';
            rec.error = errorMessage(error);
        }
        pending--;
    };

    // No feedback: a trace has no accept events, and a keystroke that does not match a synthetic
    // suggestion is no user's judgement of it (every showing would count as dismissed).
    const pipeline = new CompletionPipeline({ router, clock, countTokens: input.countTokens, feedback: () => undefined });
    const documents = new TraceDocuments(builder.tokensPerWord);
    // Completion lines are keystrokes: the pipeline between them and the router, as in the editor.
    const keystroke = (rec: RequestRecord, line: TraceLine): void => {
        latestByDoc.get(line.doc)?.abort(new SupersededError(line.doc));
        const ac = new AbortController();
        latestByDoc.set(line.doc, ac);
        pipeline.keystroke(line.doc);
        pending++;
        let answer: TaskResult | undefined;
        pipeline
            .suggest(documents.keystroke(line), { ...input.completion, maxTokens: line.maxTokens }, ac.signal, {
                submitted: () => {
                    rec.submitAt = now();
                },
                firstToken: () => {
                    if (rec.firstTokenAt === undefined) rec.firstTokenAt = now();
                },
                answered: (r) => {
                    answer = r;
                },
            })
            .then(
                (suggestion) => {
                    if (suggestion) {
                        rec.suggestionAt = now();
                        rec.debounceMs = suggestion.debounceMs;
                    }
                    if (answer) settle(rec, answer, undefined);
                    else if (suggestion) {
                        // From the pipeline's cache: shown with no model call.
                        rec.endAt = now();
                        rec.outcome = 'served';
                        rec.modelId = suggestion.modelId;
                        pending--;
                    } else settle(rec, undefined, new Error('no answer'));
                },
                (e: unknown) => settle(rec, undefined, e),
            );
    };

    const submit = (rec: RequestRecord, task: Task, signal?: AbortSignal): void => {
        rec.submitAt = now();
        pending++;
        let p: Promise<TaskResult>;
        try {
            p = router.submit(task, signal);
        } catch (e) {
            settle(rec, undefined, e);
            return;
        }
        p.then(
            (r) => settle(rec, r, undefined),
            (e: unknown) => settle(rec, undefined, e),
        );
    };

    const pumpEmbeds = (): void => {
        if (embedInFlight) return;
        const rec = embedQueue.shift();
        if (!rec) return;
        embedInFlight = true;
        const task = { ...builder.embed(rec.line), space };
        rec.submitAt = now();
        pending++;
        router.submit(task).then(
            (r) => {
                settle(rec, r, undefined);
                embedInFlight = false;
                pumpEmbeds();
            },
            (e: unknown) => {
                settle(rec, undefined, e);
                embedInFlight = false;
                pumpEmbeds();
            },
        );
    };

    const startLine = (index: number, line: TraceLine): void => {
        submittedLines++;
        const rec: RequestRecord = { index, line, kind: line.kind, keystrokeAt: now() };
        records.push(rec);
        const firstToken = (): void => {
            if (rec.firstTokenAt === undefined) rec.firstTokenAt = now();
        };
        switch (line.kind) {
            case 'completion':
                keystroke(rec, line);
                break;
            case 'edit':
            case 'explain':
            case 'refactorPlan':
                submit(rec, builder.chat(line, firstToken));
                break;
            case 'embedQuery':
                submit(rec, { ...builder.embed(line), space });
                break;
            case 'embed':
                embedQueue.push(rec);
                pumpEmbeds();
                break;
        }
    };

    trace.lines.forEach((line, i) => {
        clock.setTimeout(() => startLine(i, line), line.t);
    });
    // Editor events: the document shown before its first keystroke (Router.readAhead). Scheduled
    // after the lines, so a focus at the same ms as a line of another document runs after it.
    for (const f of trace.focus ?? []) {
        const line = trace.lines[f.line];
        if (line?.kind !== 'completion') continue;
        clock.setTimeout(() => {
            const at = documents.beforeKeystroke(line);
            pipeline.cursorRested(() => at, () => input.completion);
        }, f.t);
    }
    const lastT = trace.lines.length > 0 ? trace.lines[trace.lines.length - 1].t : 0;
    const allDone = (): boolean => submittedLines === trace.lines.length && pending === 0 && embedQueue.length === 0;
    await env.drive(allDone, lastT + input.drainLimitMs);

    let hung = 0;
    for (const r of records) {
        if (r.outcome === undefined) {
            r.outcome = 'hung';
            hung++;
        }
    }
    const endMs = records.reduce((m, r) => Math.max(m, r.endAt ?? 0), 0);
    pipeline.dispose();
    await router.dispose();
    return { records, endMs, hung };
}

/** Virtual time: runs timers until `done()` or the limit. */
export function virtualEnv(clock: VirtualClock): ReplayEnv {
    return {
        clock,
        async drive(done, limitMs) {
            const end = clock.now() + limitMs;
            await clock.runUntil(clock.now());
            while (!done()) {
                const at = clock.nextAt();
                if (at === undefined || at > end) break;
                await clock.runUntil(at);
            }
        },
    };
}

/** Wall-clock time: polls every `pollMs`, keeping the process alive while it waits. */
export function wallEnv(clock: Clock, pollMs = 10): ReplayEnv {
    return {
        clock,
        drive(done, limitMs) {
            const end = clock.now() + limitMs;
            return new Promise((resolve) => {
                const iv = setInterval(() => {
                    if (done() || clock.now() > end) {
                        clearInterval(iv);
                        resolve();
                    }
                }, pollMs);
            });
        },
    };
}
