/**
 * Finish-time prediction for one task on one model (ms from now):
 *   wait     = (remaining time of running work + queued work at or above the task's priority) / slots,
 *              or 0 when a slot is free and nothing is ahead; plus load time when not resident
 *   prefill  = overhead + (prompt tokens - tokens reused from the model's cache) * ms per token
 *   decode   = (expected generated tokens - 1) * ms per token
 *   embed    = texts * ms per text
 * All rates are the model's measured moving averages (priors until measured).
 *
 * A model served by a remote engine (its backend has `remoteLoad`, read once per decision into
 * `ModelEntry.remoteLoad`) is shared with other clients, whose work the engine reports:
 *   slots    = the engine's slots when it says (else the model's)
 *   others   = other clients' requests on busy slots (slotsBusy - ownInFlight) and in the engine's
 *              queue (deferred, less any of ours beyond the busy slots)
 *   their ms = busy slots: busyRemainingTokens (their share of it) x decode ms per token when the
 *              engine tells it, else half an average call each; queued: an average call each. The
 *              average call is the model's measured call time (SpeedMonitor.callMs), else this
 *              task's own predicted time (teammates send requests like ours). Decode ms per token:
 *              measured here, else from the engine's reported speed over its busy slots.
 *   wait     = 0 when ours + others leave a slot free, else (ours + their ms) / slots; blended
 *              with the wait from our own work alone by the report's freshness w (1 up to
 *              REMOTE_LOAD_FRESH_MS old, 0 from REMOTE_LOAD_STALE_MS or never polled, linear in
 *              between): w * with-report + (1 - w) * without
 *   network  = rttMs added to the first token (hence the finish) only while the model's prefill is
 *              not measured: the speed monitor measures a remote call from the request to its first
 *              streamed token, so a measured overhead already holds one round trip (the decode
 *              rate, measured between streamed tokens, holds none). Embeddings likewise until
 *              their ms per text is measured.
 * Hot path: no allocation, O(task classes + running slots).
 */
import { TASK_KINDS } from '../tasks';
import type { Candidate } from './decision';
import type { Job, ModelEntry } from './state';
import { REMOTE_LOAD_FRESH_MS, REMOTE_LOAD_STALE_MS } from './tuning';

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

    const lm = m.speed;
    let first: number;
    let iso: number;
    let decode = 0;
    let reused = 0;
    let rtt = 0;
    const rl = m.remoteLoad;
    const t = job.task;
    if (t.kind === 'embed' || t.kind === 'embedQuery') {
        const remaining = t.texts.length - job.textsDone;
        const batch = t.kind === 'embed' ? Math.min(x.embedBatch, remaining) : remaining;
        if (rl !== undefined && rl.rttMs !== undefined && !lm.embedMeasured) rtt = rl.rttMs;
        first = rtt + batch * lm.embedMsPerText;
        iso = rtt + remaining * lm.embedMsPerText;
    } else {
        if (x.affinity && t.kind === 'completion') {
            reused = m.reusableTokens(t.doc, m.fimTexts(t), job.promptTokens, x.tokensPerChar);
            // What the backend really holds for the document bounds it (a key evicted for another
            // document, a prefill aborted part-way).
            const held = reused > 0 ? m.backend.cachedTokens?.(t.doc) : undefined;
            if (held !== undefined && held < reused) reused = held;
        }
        if (rl !== undefined && rl.rttMs !== undefined && !lm.prefillMeasured) rtt = rl.rttMs;
        const prefill = rtt + lm.overheadMs + (job.promptTokens - reused) * lm.prefillMsPerToken;
        decode = Math.max(0, job.genTokens - 1) * lm.decodeMsPerToken;
        first = prefill;
        iso = prefill + decode;
    }

    let slots = m.slots;
    let othersMs = 0;
    let othersN = 0;
    let othersBusy = 0;
    let othersQueued = 0;
    let w = 0;
    if (rl !== undefined) {
        if (rl.slots !== undefined && rl.slots >= 1) slots = rl.slots;
        w = remoteWeight(rl.at, x.now);
        if (w > 0) {
            othersBusy = Math.max(0, rl.slotsBusy - rl.ownInFlight);
            // Our calls beyond the busy slots wait in the engine's queue: the rest of it is others'.
            othersQueued = Math.max(0, rl.deferred - Math.max(0, rl.ownInFlight - rl.slotsBusy));
            const callMs = lm.callMs ?? iso;
            let busyMs: number;
            if (rl.busyRemainingTokens !== undefined && rl.slotsBusy > 0) {
                const perToken = lm.decodeMeasured || rl.decodeTokensPerSec === undefined || !(rl.decodeTokensPerSec > 0) ? lm.decodeMsPerToken : (1000 * rl.slotsBusy) / rl.decodeTokensPerSec;
                busyMs = ((rl.busyRemainingTokens * othersBusy) / rl.slotsBusy) * perToken;
            } else busyMs = (othersBusy * callMs) / 2;
            othersMs = busyMs + othersQueued * callMs;
            othersN = othersBusy + othersQueued;
        }
    }
    const ownWait = live + aheadN < slots ? 0 : (runRem + aheadMs) / slots;
    let wait = ownWait;
    // A partly stale report: a blend of the predictions with it (weight w) and without it.
    if (w > 0) wait = w * (live + aheadN + othersN < slots ? 0 : (runRem + aheadMs + othersMs) / slots) + (1 - w) * ownWait;
    if (m.residency === 'loading') wait += Math.max(0, m.loadStartedAt + m.speed.loadMs - x.now);
    else if (m.residency === 'unloaded') wait += x.loadBusyMs + m.speed.loadMs;

    c.waitMs = wait;
    c.firstTokenMs = wait + first;
    c.finishMs = t.kind === 'embed' || t.kind === 'embedQuery' ? wait + iso : wait + first + decode;
    c.isolatedMs = iso;
    c.reusedTokens = reused;
    c.promptTokens = job.promptTokens;
    c.inFlight = live;
    c.queued = q.length;
    c.remote = rl !== undefined;
    c.othersBusy = othersBusy;
    c.engineQueued = othersQueued;
}

/**
 * How much a remote load report taken at `at` (clock ms) counts at `now`: 1 while fresh
 * (REMOTE_LOAD_FRESH_MS), 0 once stale (REMOTE_LOAD_STALE_MS) or never taken, linear in between.
 */
export function remoteWeight(at: number | undefined, now: number): number {
    if (at === undefined) return 0;
    const age = now - at;
    if (age <= REMOTE_LOAD_FRESH_MS) return 1;
    if (age >= REMOTE_LOAD_STALE_MS) return 0;
    return (REMOTE_LOAD_STALE_MS - age) / (REMOTE_LOAD_STALE_MS - REMOTE_LOAD_FRESH_MS);
}
