/**
 * Background reads (zeta's coldStart lever): prefill-only completions nobody awaits that leave a
 * document's prompt in its preferred model's sequence, so that the next keystroke there reads a
 * token or two instead of the whole file.
 *
 * - Cold start: a completion sent elsewhere because its preferred model would first have to read
 *   the document (`Decider.coldStart`) has that model read it meanwhile, just below completions.
 * - Read-ahead: when the editor shows a document and the cursor rests (`Router.readAhead`), the
 *   preferred model reads the prompt from there, just above indexing, unless it holds nearly all
 *   of it already.
 *
 * Invariants: `m.reading` holds a document while a background read of it is queued or running on
 * `m` (the job's settlement removes it); at most one read-ahead is live (a newer hint replaces one
 * still waiting; a completion for its document replaces it, keeping what it has read).
 */
import type { Clock } from '../clock';
import { SupersededError, abortError } from '../errors';
import type { CompletionTask, TaskKind } from '../tasks';
import type { Admission } from './admission';
import { CLASS_INDEX, type RouterConfig } from './config';
import { DecisionRecordImpl, type Candidate } from './decision';
import type { Decider } from './decide';
import type { Dispatcher } from './dispatch';
import type { Job, ModelEntry } from './state';
import type { ModelSet } from './models';
import { READ_AHEAD_MIN_GPU_MS, READ_AHEAD_MIN_TOKENS } from './tuning';

export interface BackgroundReadDeps {
    readonly clock: Clock;
    readonly config: () => RouterConfig;
    readonly models: ModelSet;
    readonly admission: Admission;
    readonly decider: Decider;
    readonly dispatcher: () => Dispatcher;
    /** A new job (nobody awaits it): takes the next task id. */
    readonly newJob: (task: CompletionTask, kind: TaskKind, priority: number) => Job;
    /** The job is live from now on (settled by the router like any other). */
    readonly track: (job: Job) => void;
    readonly cancel: (job: Job, reason: unknown) => void;
    readonly remember: (rec: DecisionRecordImpl) => void;
    readonly emit: () => void;
    readonly disposed: () => boolean;
}

export class BackgroundReads {
    /** The latest read-ahead, until it settles or a completion replaces it. */
    private readAheadJob: Job | undefined;

    constructor(private readonly deps: BackgroundReadDeps) {}

    /**
     * The editor shows `task.doc` and the cursor rests at `task`'s position: the preferred
     * completion model reads that prompt in the background, if it is worth it.
     */
    readAhead(task: CompletionTask): void {
        const cfg = this.deps.config();
        if (!cfg.on('coldStart') || task.kind !== 'completion') return;
        const m = this.deps.models.preferred(CLASS_INDEX.completion);
        if (m === undefined || m.residency !== 'loaded' || m.retired || m.reading.has(task.doc)) return;
        // A newer hint replaces a read still waiting (the user has moved on); a started one runs on.
        const prev = this.readAheadJob;
        if (prev !== undefined && prev.state === 'queued') this.deps.cancel(prev, abortError('replaced by a newer read-ahead'));
        // On the CPU the evaluation turns keep the read out of every other request's way. On a GPU
        // it shares the device with whatever runs, so it is worth it only where reading the prompt
        // would cost the first keystroke noticeably (READ_AHEAD_MIN_GPU_MS).
        const worth = (c: Candidate, job: Job): boolean => job.promptTokens - c.reusedTokens >= READ_AHEAD_MIN_TOKENS && (m.info?.gpu !== true || c.isolatedMs >= READ_AHEAD_MIN_GPU_MS);
        this.readAheadJob = this.queue(m, task, cfg.priorities[CLASS_INDEX.embed] + 1, worth, 'read ahead: the editor shows this document; the model reads it before the first keystroke');
        this.deps.emit();
    }

    /**
     * A completion for `doc` replaces a read-ahead of it: a queued read is dropped, a running one
     * aborted (its sequence keeps what it has read, which the completion then reuses), and the model
     * is no longer taken as busy reading the document (coldStart would send the completion elsewhere).
     */
    endReadAhead(doc: string): void {
        const r = this.readAheadJob;
        if (r === undefined || r.state === 'done' || r.doc !== doc) return;
        this.readAheadJob = undefined;
        r.model?.reading.delete(doc);
        this.deps.cancel(r, new SupersededError(doc));
    }

    /**
     * Cold start sent `src` elsewhere: `m` (its preferred model) reads the document in the
     * background, just below completions, so that it waits while one prefills and is paused by the
     * next; no keystroke supersedes it.
     */
    coldStartRead(m: ModelEntry, src: Job): void {
        const t = src.task as CompletionTask;
        if (m.reading.has(t.doc)) return;
        this.queue(m, { ...t, promptTokens: src.promptTokens }, this.deps.config().priorities[CLASS_INDEX.completion] - 1, () => true, `cold start: reads the document in the background for task ${src.id}`);
    }

    /**
     * Queues on `m` a read of `t`'s prompt at `priority`, when `worth` says so given `m`'s
     * prediction for it. Returns the job, or undefined when nothing was queued.
     */
    private queue(m: ModelEntry, t: CompletionTask, priority: number, worth: (c: Candidate, job: Job) => boolean, note: string): Job | undefined {
        if (this.deps.disposed() || m.retired) return undefined;
        const now = this.deps.clock.now();
        const task: CompletionTask = { kind: 'completion', doc: t.doc, prefix: t.prefix, suffix: t.suffix, middle: t.middle, maxTokens: 0, ...(t.promptTokens !== undefined ? { promptTokens: t.promptTokens } : {}) };
        const job = this.deps.newJob(task, 'completion', priority);
        job.backgroundRead = true;
        this.deps.admission.size(job);
        job.genTokens = 0;
        const c = this.deps.decider.predictOn(m, job);
        if (!worth(c, job)) return undefined;
        this.deps.track(job);
        m.reading.add(t.doc);
        const rec = new DecisionRecordImpl(job.id, 'completion', t.doc, now, this.deps.config().settings.policy, m.id, [c], 'best', m.id);
        rec.note(note);
        job.decision = rec;
        this.deps.remember(rec);
        this.deps.dispatcher().enqueue(job, m, c.isolatedMs, c.isolatedMs);
        return job;
    }
}
