/**
 * Finish-time prediction for one task on one model (ms from now):
 *   wait     = (remaining time of running work + queued work at or above the task's priority) / slots,
 *              or 0 when a slot is free and nothing is ahead; plus load time when not resident
 *   prefill  = overhead + (prompt tokens - tokens reused from the model's cache) * ms per token
 *   decode   = (expected generated tokens - 1) * ms per token
 *   embed    = texts * ms per text
 * All rates are the model's measured moving averages (priors until measured).
 * Hot path: no allocation, O(task classes + running slots).
 */
import { TASK_KINDS } from '../tasks';
import type { Candidate } from './decision';
import type { Job, ModelEntry } from './state';

const NK = TASK_KINDS.length;

export interface EstimateInputs {
    readonly now: number;
    /** Baseline policies: all queued work is ahead (FIFO). */
    readonly fifo: boolean;
    /** Priority per task class index. */
    readonly priorities: Float64Array;
    /** Count reused prefix tokens as free. */
    readonly affinity: boolean;
    /** Texts per background embedding batch. */
    readonly embedBatch: number;
    /** Remaining time of the load in progress on another model (ms); loads run one at a time. */
    readonly loadBusyMs: number;
    /** Prompt tokens per character of the job's prompt. */
    readonly tokensPerChar: number;
}

export function predict(c: Candidate, m: ModelEntry, job: Job, x: EstimateInputs): void {
    const q = m.queue;
    let aheadMs = 0;
    let aheadN = 0;
    for (let k = 0; k < NK; k++) {
        if (x.fifo || x.priorities[k] >= job.priority) {
            aheadMs += q.aheadMs[k];
            aheadN += q.count[k];
        }
    }
    const running = m.running;
    let runRem = 0;
    let live = 0;
    for (let i = 0; i < running.length; i++) {
        const r = running[i];
        // An aborted call (superseded, cancelled) frees its slot at its next token or chunk.
        if (r.signal.aborted) continue;
        live++;
        const rem = r.predictedEndAt + r.gate.pausedMs - x.now;
        if (rem > 0) runRem += rem;
    }
    const slots = m.slots;
    let wait = live + aheadN < slots ? 0 : (runRem + aheadMs) / slots;
    if (m.residency === 'loading') wait += Math.max(0, m.loadStartedAt + m.speed.loadMs - x.now);
    else if (m.residency === 'unloaded') wait += x.loadBusyMs + m.speed.loadMs;

    const lm = m.speed;
    let first: number;
    let finish: number;
    let iso: number;
    let reused = 0;
    const t = job.task;
    if (t.kind === 'embed' || t.kind === 'embedQuery') {
        const remaining = t.texts.length - job.textsDone;
        const batch = t.kind === 'embed' ? Math.min(x.embedBatch, remaining) : remaining;
        first = wait + batch * lm.embedMsPerText;
        iso = remaining * lm.embedMsPerText;
        finish = wait + iso;
    } else {
        if (x.affinity && t.kind === 'completion') {
            reused = m.reusableTokens(t.doc, m.fimTexts(t), job.promptTokens, x.tokensPerChar);
            // What the backend really holds for the document bounds it (a key evicted for another
            // document, a prefill aborted part-way).
            const held = reused > 0 ? m.backend.cachedTokens?.(t.doc) : undefined;
            if (held !== undefined && held < reused) reused = held;
        }
        const prefill = lm.overheadMs + (job.promptTokens - reused) * lm.prefillMsPerToken;
        const decode = Math.max(0, job.genTokens - 1) * lm.decodeMsPerToken;
        first = wait + prefill;
        iso = prefill + decode;
        finish = first + decode;
    }
    c.waitMs = wait;
    c.firstTokenMs = first;
    c.finishMs = finish;
    c.isolatedMs = iso;
    c.reusedTokens = reused;
    c.promptTokens = job.promptTokens;
    c.inFlight = live;
    c.queued = q.length;
}
