/**
 * The pause controller (zeta's pauseOthers and, for completions, holdSupersedable after the first
 * token). It decides when running work waits at its gate (`JobGate`) so that the completion the
 * user waits for gets the device:
 *
 * - a completion's prefill and first token pause lower-priority generations, on every model, at
 *   their next token or prefill chunk (`begin`); the pause ends at the first token, or at the
 *   completion's end when the rest is short (PAUSE_TO_END_MAX_MS), and the last pausing completion
 *   lets everything go (`release`);
 * - a completion past its first token that the next keystroke is likely to replace stops at its
 *   own gate while other interactive work waits for its first token (`holdRest`), and one the
 *   burst has likely ended for pauses others again for its last tokens (`armQuietPause`);
 * - on a GPU, a predicted keystroke stops lower-priority streams just before it (`armPredictive`);
 * - on the CPU, lower-priority prompts are read in short chunks while typing goes on (`chunkCap`).
 *
 * Invariants: a job is paused only while its predicted finish (pauses included) stays within its
 * own objective (`slack`), and a timer lets it go when that runs out; `pausers` counts the jobs
 * with `pausesOthers` set; every job in `pausedJobs` has its gate closed and counts in its
 * model's `paused`. Units: ms (clock), tokens.
 */
import type { Clock, TimerHandle } from '../clock';
import { CLASS_INDEX, type RouterConfig } from './config';
import { CADENCE_MIN_SAMPLES, type Cadence } from './forecast';
import { type Job, type ModelEntry, isEmbedTask } from './state';
import {
    PAUSE_TO_END_MAX_MS,
    PREDICTIVE_PAUSE_CONFIDENCE,
    PREDICTIVE_PAUSE_STEP_MS,
    PREDICTIVE_PAUSE_STEPS,
    TYPING_CHUNK_MIN_TOKENS,
    TYPING_CHUNK_MS,
} from './tuning';

export interface PauseDeps {
    readonly clock: Clock;
    /** The models whose running jobs may be paused. */
    readonly models: () => readonly ModelEntry[];
    readonly config: () => RouterConfig;
    readonly cadence: Cadence;
    /** Work held back from starting may start now on `m`. */
    readonly pump: (m: ModelEntry) => void;
    readonly emit: () => void;
    readonly disposed: () => boolean;
}

export class PauseController {
    /** Jobs with `pausesOthers` set; while > 0, lower-priority work stays paused and unstarted. */
    private pausers = 0;
    private readonly pausedJobs: Job[] = [];
    /** Lets a paused job go when its slack runs out. */
    private slackTimer: TimerHandle | undefined;
    /** The predicted-keystroke pause's timer (`armPredictive`): to its start, then to its end. */
    private predictiveTimer: TimerHandle | undefined;

    constructor(private readonly deps: PauseDeps) {}

    /** A completion pauses lower-priority work (on any model but `m`): work there must not start. */
    othersPausing(m: ModelEntry): boolean {
        return this.pausers - m.pausers > 0;
    }

    /** Paused jobs, for the snapshot's explanations. */
    get paused(): readonly Job[] {
        return this.pausedJobs;
    }

    /** Completions pausing others now. */
    pausing(): Job[] {
        const out: Job[] = [];
        for (const m of this.deps.models()) for (const r of m.running) if (r.pausesOthers) out.push(r);
        return out;
    }

    /**
     * `job` starts on `m`. A completion (not a background read) begins pausing others; a
     * lower-priority generation on the CPU gets its prefill chunks capped while typing goes on.
     */
    started(job: Job, m: ModelEntry): void {
        // Set again on each start: a retry may run on another kind of model.
        job.gate.chunkCap = undefined;
        const cfg = this.deps.config();
        if (!cfg.on('pauseOthers')) return;
        // A remote engine's work shares no device with local models: a completion there pauses
        // nothing here, and its calls are not paused or cut (see pauseBelow).
        if (m.remote) return;
        if (job.kind === 'completion' && !job.backgroundRead) this.begin(job);
        else if (job.priority < cfg.priorities[CLASS_INDEX.completion] && !isEmbedTask(job.task) && m.info?.gpu !== true) {
            job.gate.chunkCap = () => this.typingChunk(job);
        }
    }

    /**
     * Work now waits for `m`'s slots: with no completion pausing, what is paused there was held for
     * a predicted keystroke and goes on (`armPredictive` holds nothing while work waits).
     */
    workWaits(m: ModelEntry): void {
        if (this.pausers === 0) for (const r of m.running) if (r.gate.closed) this.unpause(r);
    }

    /**
     * `job` produced its first token (`restMs`: its predicted rest). A suggestion is shown when it
     * is complete: a short rest keeps the pause on; a long one ends it, unless holdSupersedable
     * stops the job itself.
     */
    firstToken(job: Job, restMs: number): void {
        if (!this.holdRest(job, restMs) && job.pausesOthers && restMs > PAUSE_TO_END_MAX_MS) {
            this.end(job);
            this.armQuietPause(job, restMs);
        }
    }

    /**
     * `job`'s backend call returned: it is no longer paused. Returns whether it was pausing others;
     * that pause is released by `release` only once the next queued work on its model has started,
     * so that a completion superseding this one takes the pause over instead of letting held work
     * start at its keystroke.
     */
    callEnded(job: Job): boolean {
        const held = job.pausesOthers;
        job.pausesOthers = false;
        this.unpause(job);
        return held;
    }

    /** `job` settled: whatever pause it imposed or suffered ends. */
    settled(job: Job): void {
        if (job.pausesOthers) this.end(job);
        this.unpause(job);
    }

    /** One pausing completion on `model` is done pausing; the last one lets held work go. */
    release(model: ModelEntry | undefined): void {
        this.pausers--;
        if (model) model.pausers--;
        if (this.pausers > 0) return;
        for (const r of this.pausedJobs.slice()) this.unpause(r);
        this.deps.clock.clearTimeout(this.slackTimer);
        this.slackTimer = undefined;
        // Work held from starting during the prefill may start now.
        for (const o of this.deps.models()) if (o !== model && o.queue.length > 0) this.deps.pump(o);
        this.armPredictive();
    }

    dispose(): void {
        this.deps.clock.clearTimeout(this.slackTimer);
        this.slackTimer = undefined;
        this.clearPredictive();
    }

    /**
     * `job` (a completion) pauses the running generations below its priority, on other models and
     * on its own, in their prefill (the backends check the gate between prefill chunks) or
     * streaming. Embeddings are single native calls and cannot be paused.
     */
    private begin(job: Job): void {
        // A completion that pauses others takes over what a predicted-keystroke pause holds.
        this.clearPredictive();
        job.pausesOthers = true;
        this.pausers++;
        if (job.model) job.model.pausers++;
        this.pauseBelow(job.priority, job, false);
    }

    private end(job: Job): void {
        if (!job.pausesOthers) return;
        job.pausesOthers = false;
        this.release(job.model);
    }

    /**
     * Closes the gates of running generations below `priority` (all but `except`; with
     * `streamingOnly`, only those past their first token) that can still be paused within their
     * objective, and arms the slack timer.
     */
    private pauseBelow(priority: number, except: Job | undefined, streamingOnly: boolean): void {
        const now = this.deps.clock.now();
        let soonest = Number.POSITIVE_INFINITY;
        for (const m of this.deps.models()) {
            // Pausing a remote engine's stream frees nothing on this machine's device.
            if (m.remote) continue;
            for (const r of m.running) {
                if (r === except || r.priority >= priority || r.gate.closed) continue;
                if (r.kind === 'embed' || r.kind === 'embedQuery') continue;
                // A predicted keystroke holds a stream only on a GPU, and only while nothing waits for
                // its model's slots (what waits would pay the hold before its own first token). On
                // the CPU the evaluation turns already give the keystroke's call the next turn.
                if (streamingOnly && (r.firstTokenAt === undefined || m.queue.length > 0 || m.info?.gpu !== true)) continue;
                const slack = this.slack(r, now);
                if (slack <= 0) continue;
                r.gate.close(now);
                m.paused++;
                this.pausedJobs.push(r);
                soonest = Math.min(soonest, slack);
            }
        }
        if (Number.isFinite(soonest)) this.armSlackTimer(soonest);
    }

    private unpause(r: Job): void {
        const i = this.pausedJobs.indexOf(r);
        if (i < 0) return;
        this.pausedJobs.splice(i, 1);
        r.gate.open(this.deps.clock.now());
        if (r.model) r.model.paused = Math.max(0, r.model.paused - 1);
    }

    /**
     * forecastHeadroom, for streaming generations on a GPU: once the pauses of a keystroke's
     * completion have ended, lower-priority generations past their first token (on models with
     * nothing waiting for their slots) stream on only until the typing cadence makes the next
     * keystroke PREDICTIVE_PAUSE_CONFIDENCE likely within PREDICTIVE_PAUSE_STEPS of their decode
     * steps (a step shares the device with the completion's, and cannot be stopped once begun).
     * Then they stop at their gate until that keystroke's completion takes the pause over, or
     * until this user's 90th-percentile interval has passed without one. First tokens are never
     * held this way (their prefill runs on), nor is anything past its objective (slack).
     */
    private armPredictive(): void {
        const cfg = this.deps.config();
        if (!cfg.on('forecastHeadroom') || !cfg.on('pauseOthers') || this.deps.disposed()) return;
        const { clock, cadence } = this.deps;
        const last = cadence.lastAt;
        if (last === undefined || cadence.samples < CADENCE_MIN_SAMPLES) return;
        const completion = cfg.priorities[CLASS_INDEX.completion];
        let stepMs = 0;
        for (const m of this.deps.models()) {
            if (m.info?.gpu !== true) continue;
            for (const r of m.running) {
                if (r.priority < completion && r.firstTokenAt !== undefined && !isEmbedTask(r.task)) stepMs = Math.max(stepMs, m.speed.decodeMsPerToken);
            }
        }
        if (stepMs <= 0) return;
        const now = clock.now();
        const horizon = PREDICTIVE_PAUSE_STEPS * stepMs;
        const cap = cadence.quantile(0.9);
        let at = now - last;
        while (at <= cap && cadence.nextWithin(at, horizon) < PREDICTIVE_PAUSE_CONFIDENCE) at += PREDICTIVE_PAUSE_STEP_MS;
        if (at > cap) return;
        clock.clearTimeout(this.predictiveTimer);
        this.predictiveTimer = clock.setTimeout(() => {
            this.predictiveTimer = undefined;
            if (cadence.lastAt !== last || this.pausers > 0 || this.deps.disposed()) return;
            this.pauseBelow(completion, undefined, true);
            this.predictiveTimer = clock.setTimeout(() => {
                this.predictiveTimer = undefined;
                if (this.pausers > 0) return;
                for (const r of this.pausedJobs.slice()) this.unpause(r);
                this.deps.emit();
            }, Math.max(1, last + cap - clock.now()));
            this.deps.emit();
        }, Math.max(1, last + at - now));
    }

    /** Ends the predicted-keystroke pause's timers; what it holds stays in `pausedJobs`. */
    private clearPredictive(): void {
        this.deps.clock.clearTimeout(this.predictiveTimer);
        this.predictiveTimer = undefined;
    }

    /**
     * pauseOthers on the CPU: the prompt tokens `job`'s next prefill chunk may take (undefined: the
     * backend's own size). While a typing burst goes on (the last keystroke is less than this user's
     * 90th-percentile interval ago) and `job` can still be held up within its objective, a chunk
     * takes about TYPING_CHUNK_MS at its model's measured rate: a keystroke's call waits for the
     * chunk in flight, whatever its priority.
     */
    private typingChunk(job: Job): number | undefined {
        const m = job.model;
        const cadence = this.deps.cadence;
        const last = cadence.lastAt;
        if (m === undefined || last === undefined || cadence.samples < CADENCE_MIN_SAMPLES) return undefined;
        const now = this.deps.clock.now();
        if (now - last > cadence.quantile(0.9) || this.slack(job, now) <= 0) return undefined;
        return Math.max(TYPING_CHUNK_MIN_TOKENS, Math.floor(TYPING_CHUNK_MS / m.speed.prefillMsPerToken));
    }

    /**
     * ms a running job can still be paused while meeting its objective: its kind's objectiveFactor
     * times its predicted run time on the model it runs on (or its deadline from submission, if
     * later), against its predicted end pushed out by the pauses so far.
     */
    private slack(r: Job, now: number): number {
        const paused = r.gate.pausedMs + (r.gate.closed ? now - r.gate.closedAt : 0);
        const objective = Math.max(r.deadlineAt, r.callStartedAt + this.deps.config().settings.taskClasses[r.kind].objectiveFactor * r.serviceMs);
        return objective - (r.predictedEndAt + paused);
    }

    private armSlackTimer(ms: number): void {
        const clock = this.deps.clock;
        clock.clearTimeout(this.slackTimer);
        this.slackTimer = clock.setTimeout(() => {
            this.slackTimer = undefined;
            const now = clock.now();
            let soonest = Number.POSITIVE_INFINITY;
            for (const r of this.pausedJobs.slice()) {
                const slack = this.slack(r, now);
                if (slack <= 0) this.unpause(r);
                else soonest = Math.min(soonest, slack);
            }
            if (Number.isFinite(soonest)) this.armSlackTimer(soonest);
            this.deps.emit();
        }, Math.max(1, ms));
    }

    /**
     * A completion whose pause ended at its first token (its rest, `restMs`, is long) pauses others
     * again for the rest of its run once it is more likely than not to be served: no keystroke has
     * come for long enough that the burst has likely ended (the typing cadence says so). VS Code
     * shows a suggestion only when it is complete, so its last tokens are what the user waits for;
     * mid-burst completions, which the next keystroke supersedes, do not hold others up.
     */
    private armQuietPause(job: Job, restMs: number): void {
        const t = job.task;
        if (t.kind !== 'completion') return;
        const { clock, cadence } = this.deps;
        const last = cadence.lastKeystroke(t.doc);
        if (last === undefined) return;
        const wait = cadence.quietAfter(clock.now() - last, restMs);
        if (wait === undefined) return;
        const fire = (): void => {
            job.quietTimer = undefined;
            if (job.state !== 'running' || job.pausesOthers || cadence.lastKeystroke(t.doc) !== last) return;
            this.begin(job);
            this.deps.emit();
        };
        if (wait < 1) return fire();
        job.quietTimer = clock.setTimeout(fire, wait);
    }

    /**
     * Interactive work other than completions (an explain, an edit, a search query) runs or waits on
     * some model and has not produced its first token: what a hold gives the device to.
     */
    private othersWaiting(job: Job): boolean {
        const waits = (r: Job): boolean => r !== job && r.kind !== 'completion' && !isEmbedTask(r.task) && r.firstTokenAt === undefined;
        for (const m of this.deps.models()) {
            for (const r of m.running) if (waits(r)) return true;
            for (const r of m.queue.items) if (waits(r)) return true;
        }
        return false;
    }

    /**
     * holdSupersedable, after the first token: while other interactive work waits for its first
     * token (`othersWaiting`), a completion that the next keystroke is likely to supersede before it
     * ends (Cadence.holdFor over its predicted rest, `restMs`) stops at its gate until that is no
     * longer HOLD_CONFIDENCE likely, capped at this user's 90th-percentile interval; the waiting
     * work gets the device meanwhile. The completion finally served pays the hold on its finish, so
     * with nothing else waiting there is no hold: saving the tokens of a superseded completion is
     * not worth a later suggestion (bench/FINDINGS.md F51). Returns whether it holds.
     */
    private holdRest(job: Job, restMs: number): boolean {
        const t = job.task;
        if (!this.deps.config().on('holdSupersedable') || t.kind !== 'completion' || job.backgroundRead || restMs <= 0) return false;
        // A hold delays the suggestion the user may be waiting for: worth it only while it gives the
        // device to other work waiting for its first token, never for the tokens alone.
        if (!this.othersWaiting(job)) return false;
        const { clock, cadence } = this.deps;
        const last = cadence.lastKeystroke(t.doc);
        if (last === undefined) return false;
        const now = clock.now();
        const hold = cadence.holdFor(now - last, restMs);
        if (hold < 1) return false;
        if (job.pausesOthers) this.end(job);
        job.gate.close(now);
        job.decision?.note(`stopped ${Math.round(hold)} ms after its first token: the next keystroke was likely to replace it before it ended`);
        job.restTimer = clock.setTimeout(() => {
            job.restTimer = undefined;
            if (job.state !== 'running') return;
            job.gate.open(clock.now());
            if (restMs > PAUSE_TO_END_MAX_MS) this.armQuietPause(job, restMs);
            else if (!job.pausesOthers) this.begin(job);
            this.deps.emit();
        }, hold);
        this.deps.emit();
        return true;
    }
}
