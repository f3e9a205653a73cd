/**
 * The routing decision: for one task, a prediction on every model (or why it is excluded), the
 * policy's choice, zeta's cold start, the latency objective, and the record that explains it.
 * Computed once per routing of a task (a held completion is decided again when its hold ends).
 *
 * Hot path: one Candidate per model, no sorting, no strings (reasons are composed lazily),
 * O(models * (classes + slots)).
 */
import type { Clock } from '../clock';
import { NoCapableModelError, QueueFullError } from '../errors';
import type { TaskKind } from '../tasks';
import type { RouterConfig } from './config';
import { Candidate, DecisionRecordImpl } from './decision';
import { QUALITY_WEIGHT } from './defaults';
import { predict, type EstimateInputs } from './estimator';
import { capabilityOf, type Job, type ModelEntry } from './state';
import type { ModelSet } from './models';
import { choose } from './policies';
import { COLD_PROMPT_REUSE, COLD_START_MIN_GAIN_MS, COLD_START_MIN_QUALITY, COLD_START_RATIO } from './tuning';

export interface DeciderDeps {
    readonly clock: Clock;
    readonly models: ModelSet;
    readonly config: () => RouterConfig;
    /** Expected acceptance 0..1 of `m`'s answers for `kind` (learned under zeta when `learn`). */
    readonly quality: (m: ModelEntry, kind: TaskKind, learn: boolean) => number;
    /** Remaining time of the load in progress on some model (ms; 0 when none). */
    readonly loadBusyMs: (now: number) => number;
    /** Prompt tokens per character, for tasks whose characters are unknown. */
    readonly tokensPerChar: () => number;
}

export class Decider {
    /** Round-robin: per class index, the index after the last model chosen. */
    private readonly rrCursor: Int32Array;

    constructor(private readonly deps: DeciderDeps) {
        this.rrCursor = new Int32Array(deps.config().priorities.length);
    }

    /**
     * The routing decision for `job` now. Sets `job.objectiveMs` and, when a cold start sends a
     * completion elsewhere, `job.readOn`; advances the round-robin cursor for real jobs (id > 0).
     */
    decide(job: Job): DecisionRecordImpl {
        const { clock, models } = this.deps;
        const now = clock.now();
        const cfg = this.deps.config();
        const s = cfg.settings;
        const list = models.list;
        const n = list.length;
        const x = this.inputs(job, now, cfg);
        const learn = s.learnFromFeedback;
        const cands = new Array<Candidate>(n);
        let usable = 0;
        let soft = 0;
        for (let i = 0; i < n; i++) {
            const m = list[i];
            const c = new Candidate(m.id);
            cands[i] = c;
            // A remote engine's live load, read once for this decision (the estimator reads the copy).
            const rl = m.readRemoteLoad();
            const hard = hardExclusion(m, job);
            if (hard !== undefined) {
                c.excluded = hard;
                continue;
            }
            predict(c, m, job, x);
            c.meanLatencyMs = m.speed.meanLatency();
            c.quality = cfg.zeta ? this.deps.quality(m, job.kind, learn) : 1;
            if (job.failedOn !== undefined && job.failedOn.includes(m)) {
                c.excluded = 'failed this task';
            } else if (m.coolingDownUntil > now) {
                c.excluded = m.coolingReason;
                c.soft = true;
                soft++;
            } else if (rl !== undefined && !rl.reachable && m.residency === 'loaded') {
                // The engine's own polls fail: left out, softly (it may be back before anything else
                // frees). Only once connected: before, no poll has run, and connecting finds out.
                c.excluded = `${m.id} unreachable (${rl.error ?? 'no answer'})`;
                c.soft = true;
                soft++;
            } else if (m.queue.length >= s.maxQueue) {
                c.excluded = 'queue full';
            } else usable++;
        }
        if (usable === 0 && soft > 0) {
            // Every capable model is cooling down: the soonest is still better than failing.
            for (const c of cands) if (c.soft) c.excluded = undefined;
        }
        let pref = models.preferredIndex(job.classIndex);
        if (pref >= n) pref = -1;
        let isoBest = Number.POSITIVE_INFINITY;
        let qMax = 0;
        for (let i = 0; i < n; i++) {
            const c = cands[i];
            if (c.excluded !== undefined) continue;
            if (c.isolatedMs < isoBest) isoBest = c.isolatedMs;
            if (c.quality > qMax) qMax = c.quality;
        }
        const qWeight = QUALITY_WEIGHT[job.kind];
        const refIso = pref >= 0 && cands[pref].excluded === undefined ? cands[pref].isolatedMs : isoBest;
        for (let i = 0; i < n; i++) {
            const c = cands[i];
            if (c.excluded !== undefined) continue;
            c.qualityPenaltyMs = cfg.zeta ? qWeight * (qMax - c.quality) * refIso : 0;
            c.score = c.finishMs + c.qualityPenaltyMs;
        }
        job.readOn = undefined;
        const cold = cfg.on('coldStart') && s.levers.spill && job.kind === 'completion' && pref >= 0 ? this.coldStart(job, cands, pref) : -1;
        const ch = choose(s.policy, cands, pref, this.rrCursor[job.classIndex], s.levers.spill);
        if (cold >= 0 && ch.index === pref) {
            ch.index = cold;
            ch.code = 'cold-start';
            job.readOn = list[pref];
        }
        if (job.id !== 0 && ch.index >= 0 && s.policy === 'round-robin') this.rrCursor[job.classIndex] = (ch.index + 1) % n;
        job.objectiveMs = Number.isFinite(isoBest) ? s.taskClasses[job.kind].objectiveFactor * isoBest : Number.POSITIVE_INFINITY;
        return new DecisionRecordImpl(job.id, job.kind, job.doc, now, s.policy, ch.index >= 0 ? cands[ch.index].modelId : undefined, cands, ch.code, pref >= 0 ? list[pref].id : undefined);
    }

    /** The prediction for `job` on `m` alone, now (a background read, which goes to `m` regardless). */
    predictOn(m: ModelEntry, job: Job): Candidate {
        const now = this.deps.clock.now();
        const c = new Candidate(m.id);
        m.readRemoteLoad();
        predict(c, m, job, this.inputs(job, now, this.deps.config()));
        return c;
    }

    /** The typed error for a task no model can take now: a full queue, the last backend error, or none capable. */
    noModelError(job: Job, rec: DecisionRecordImpl): Error {
        const { models } = this.deps;
        const full = rec.candidates.filter((c) => c.excluded === 'queue full');
        if (full.length > 0) {
            const pm = models.preferred(job.classIndex);
            const m = (pm && full.find((c) => c.modelId === pm.id)) || full[0];
            const entry = models.get(m.modelId);
            return new QueueFullError(m.modelId, entry ? entry.queue.length : m.queued, this.deps.config().settings.maxQueue);
        }
        if (job.lastError !== undefined) return job.lastError as Error;
        return new NoCapableModelError(job.kind, rec.reason);
    }

    private inputs(job: Job, now: number, cfg: RouterConfig): EstimateInputs {
        return {
            now,
            fifo: cfg.fifo,
            priorities: cfg.priorities,
            affinity: cfg.affinity,
            embedBatch: cfg.embedBatch,
            loadBusyMs: this.deps.loadBusyMs(now),
            tokensPerChar: job.promptChars > 0 ? job.promptTokens / job.promptChars : this.deps.tokensPerChar(),
        };
    }

    /**
     * coldStart (zeta, completions): while the preferred model reads this document in the
     * background, it is left out (softly: it still serves when nothing else can). When its prompt is
     * cold there, returns the index of a capable model whose first token is predicted much sooner
     * (COLD_START_RATIO, COLD_START_MIN_GAIN_MS) at acceptable quality; -1 otherwise.
     */
    private coldStart(job: Job, cands: Candidate[], pref: number): number {
        const pc = cands[pref];
        if (pc.excluded !== undefined) return -1;
        let alt = -1;
        for (let i = 0; i < cands.length; i++) {
            const c = cands[i];
            if (i === pref || c.excluded !== undefined) continue;
            if (alt < 0 || c.firstTokenMs < cands[alt].firstTokenMs) alt = i;
        }
        if (alt < 0) return -1;
        const doc = job.doc;
        if (doc !== undefined && this.deps.models.list[pref].reading.has(doc)) {
            pc.excluded = 'reading this document in the background';
            pc.soft = true;
            return -1;
        }
        if (pc.reusedTokens >= COLD_PROMPT_REUSE * job.promptTokens) return -1;
        const a = cands[alt];
        if (a.quality < COLD_START_MIN_QUALITY) return -1;
        if (a.firstTokenMs > COLD_START_RATIO * pc.firstTokenMs || pc.firstTokenMs - a.firstTokenMs < COLD_START_MIN_GAIN_MS) return -1;
        return alt;
    }
}

/** Why `m` can never serve `job` (capability, space, residency failure), or undefined. */
function hardExclusion(m: ModelEntry, job: Job): string | undefined {
    if (m.retired) return 'being removed';
    if (m.needsSetup !== undefined) return m.needsSetup;
    if (m.residency === 'failed') return m.error !== undefined ? `failed: ${m.error}` : 'failed to load';
    if (m.info === undefined) return 'not inspected yet';
    if (m.abandoned >= m.slots) return 'stopped responding: every slot holds a call that never returned';
    const cannot = m.unsupported.get(capabilityOf(job.kind));
    if (cannot !== undefined) return `cannot: ${cannot}`;
    switch (job.kind) {
        case 'completion':
            return m.canInfill ? undefined : 'no fill-in-the-middle template';
        case 'embed':
        case 'embedQuery':
            return m.space === job.space ? undefined : 'other embedding space';
        default:
            return m.canChat ? undefined : 'no chat template';
    }
}
