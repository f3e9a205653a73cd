/**
 * What the router shows: each model's live state, and one explanation per waiting task of where
 * it waits and why, joining the three schedulers (src/core/scheduling.ts): the router's hold and
 * queues, the model's sequence pool, the shared evaluation thread, and the gates the pause
 * controller closes. Copies only; nothing here changes the router's state. Units: ms, tokens.
 */
import type { WaitExplanation, WaitState, WaitTag } from '../scheduling';
import type { ModelSnapshot, RemoteModelSnapshot } from '../tasks';
import { CLASS_INDEX, type RouterConfig } from './config';
import type { PauseController } from './pauses';
import type { Job, ModelEntry } from './state';

export function modelSnapshot(m: ModelEntry, now: number): ModelSnapshot {
    return {
        id: m.id,
        role: m.spec.role,
        name: m.info?.name ?? m.spec.id,
        residency: m.residency,
        ...(m.error !== undefined ? { error: m.error } : {}),
        ...(m.coolingDownUntil > now ? { coolingDownUntil: m.coolingDownUntil } : {}),
        ...(m.needsSetup !== undefined ? { unavailable: m.needsSetup } : m.coolingDownUntil > now ? { unavailable: m.coolingReason } : {}),
        queued: m.queue.length,
        queuedTokens: m.queue.tokens,
        inFlight: m.running.length,
        slots: m.slots,
        paused: m.paused,
        firstTokenMs: m.speed.firstTokenMs,
        promptTokensPerSec: m.speed.measured ? 1000 / m.speed.prefillMsPerToken : undefined,
        decodeTokensPerSec: m.speed.measured ? 1000 / m.speed.decodeMsPerToken : undefined,
        utilisation: m.speed.utilisation(now),
        memoryBytes: m.residency === 'loaded' || m.residency === 'loading' ? m.memoryBytes : 0,
        served: m.served,
        failed: m.failed,
        ...remoteSnapshot(m, now),
    };
}

/** A remote model's engine load now (read from its backend: the snapshot is not a hot path). */
function remoteSnapshot(m: ModelEntry, now: number): { remote?: RemoteModelSnapshot } {
    const rl = m.backend.remoteLoad?.();
    if (rl === undefined) return {};
    return {
        remote: {
            api: rl.api,
            url: rl.url,
            slots: rl.slots,
            slotsBusy: rl.slotsBusy,
            othersBusy: Math.max(0, rl.slotsBusy - rl.ownInFlight),
            deferred: rl.deferred,
            rttMs: rl.rttMs,
            reachable: rl.reachable,
            ...(rl.error !== undefined ? { error: rl.error } : {}),
            ageMs: rl.at === undefined ? undefined : Math.max(0, now - rl.at),
        },
    };
}

/** How the router names a task to people and to the schedulers below it. */
export function jobTag(job: Job, modelId: string | undefined): WaitTag {
    return { taskId: job.id, label: `${job.kind} #${job.id}${modelId !== undefined ? ` on ${modelId}` : ''}` };
}

export interface WaitInputs {
    readonly jobs: Iterable<Job>;
    readonly config: RouterConfig;
    readonly pauses: PauseController;
    /** The shared evaluation thread's state, when the models take turns on one. */
    readonly turns: WaitState | undefined;
}

/** Why each unsettled task waits now; tasks that are running unhindered are left out. Oldest first. */
export function explainWaits(x: WaitInputs): WaitExplanation[] {
    const out: WaitExplanation[] = [];
    const pausers = x.pauses.pausing();
    const sequences = new Map<ModelEntry, WaitState>();
    for (const job of x.jobs) {
        const m = job.model;
        const wait = (stage: WaitExplanation['stage'], reason: string): number => out.push({ taskId: job.id, modelId: m?.id, stage, reason });
        switch (job.state) {
            case 'holding':
                if (job.timer !== undefined && job.holdMs > 0) wait('held', `held up to ${Math.round(job.holdMs)} ms before routing: this user's next keystroke is likely to replace it`);
                break;
            case 'queued':
                if (m === undefined) break;
                wait(m.residency === 'loaded' ? 'queued' : 'loading', queuedReason(job, m, x));
                break;
            case 'running': {
                if (m === undefined) break;
                let pool = sequences.get(m);
                const stage = runningWait(job, m, x.turns, () => {
                    if (pool === undefined && m.backend.waits) sequences.set(m, (pool = m.backend.waits()));
                    return pool;
                });
                if (stage === 'paused') wait('paused', pausedReason(job, pausers));
                else if (stage === 'turn') wait('turn', `waiting for the shared evaluation thread${x.turns?.holder ? `: ${x.turns.holder.label} is running` : ''}`);
                else if (stage === 'sequence') wait('sequence', `waiting for a sequence of ${m.id} (its ${m.slots} are busy, or the one holding its document is finishing a call)`);
                break;
            }
            default:
                break;
        }
    }
    return out.sort((a, b) => a.taskId - b.taskId);
}

/**
 * What a running job's call waits for now, if anything the router knows of holds it: its gate
 * (paused), the shared evaluation thread (`turns`), or a sequence of its model (`pool`, read only
 * when needed; default: the backend's `waits()`). Undefined: it runs unhindered.
 */
export function runningWait(
    job: Job,
    m: ModelEntry,
    turns: WaitState | undefined,
    pool: () => WaitState | undefined = () => m.backend.waits?.(),
): 'paused' | 'turn' | 'sequence' | undefined {
    if (job.gate.closed) return 'paused';
    if (turns && waitingIn(turns, job)) return 'turn';
    const p = pool();
    if (p && waitingIn(p, job)) return 'sequence';
    return undefined;
}

function waitingIn(state: WaitState, job: Job): boolean {
    for (const t of state.waiting) if (t.taskId === job.id) return true;
    return false;
}

function queuedReason(job: Job, m: ModelEntry, x: WaitInputs): string {
    if (m.residency === 'loading') return `waiting for ${m.id} to load`;
    if (m.residency === 'unloaded') return `waiting for ${m.id} to load (models load one at a time)`;
    if (m.residency !== 'loaded') return `waiting for ${m.id}, which ${m.residency === 'failed' ? 'failed to load' : 'is not loaded'}`;
    const cfg = x.config;
    if (job.isBackground && m.holdBudget.holding) return `held back on ${m.id}: a keystroke is likely before this batch would finish (headroom)`;
    if (cfg.on('pauseOthers') && x.pauses.othersPausing(m) && job.priority < cfg.priorities[CLASS_INDEX.completion]) {
        return `held back on ${m.id} while a completion reads its prompt`;
    }
    let ahead = 0;
    for (const q of m.queue.items) {
        if (q !== job && (cfg.fifo ? q.seq < job.seq : q.priority > job.priority || (q.priority === job.priority && q.seq < job.seq))) ahead++;
    }
    return `queued on ${m.id}: ${m.running.length} of ${m.slots} slot(s) busy, ${ahead} ahead of it`;
}

function pausedReason(job: Job, pausers: readonly Job[]): string {
    if (job.restTimer !== undefined) return 'stopped after its first token: the next keystroke is likely to replace it before it ends';
    if (pausers.length > 0) return `paused while ${pausers.map((p) => jobTag(p, p.model?.id).label).join(', ')} ${pausers.length === 1 ? 'reads its prompt' : 'read their prompts'}`;
    return 'paused: a keystroke is predicted, and a stream on a shared GPU would slow its completion';
}
