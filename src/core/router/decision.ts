/**
 * Decision records. A record is built on the hot path with numbers only; its `reason` sentence is
 * composed the first time someone reads it (load view, log), so routing pays no string cost.
 */
import type { CandidatePrediction, DecisionRecord, TaskKind } from '../tasks';

/** A candidate's prediction. Mutable while the decision is made; never changed after. Units: ms. */
export class Candidate implements CandidatePrediction {
    modelId: string;
    waitMs = 0;
    firstTokenMs = 0;
    finishMs = 0;
    qualityPenaltyMs = 0;
    reusedTokens = 0;
    /** The job's prompt tokens (for reasons). */
    promptTokens = 0;
    excluded?: string;
    /** Prefill + decode with no wait and no load (ms): the idle reference for objectives. */
    isolatedMs = 0;
    /** Expected acceptance 0..1 (Beta posterior mean). */
    quality = 0;
    /** Excluded only softly (cooling down): usable when nothing else is. */
    soft = false;
    /** finishMs + qualityPenaltyMs: what the zeta policy minimises. */
    score = Number.POSITIVE_INFINITY;
    /** Load at decision time. */
    inFlight = 0;
    queued = 0;
    meanLatencyMs = 0;
    /** Served by a remote engine (its load read for this decision). */
    remote = false;
    /** Remote engines: other clients' requests on the engine's busy slots, and in its queue, as reported. */
    othersBusy = 0;
    engineQueued = 0;

    constructor(modelId: string) {
        this.modelId = modelId;
    }
}

export type ReasonCode = 'best' | 'spill' | 'cold-start' | 'static' | 'round-robin' | 'least-busy' | 'lowest-latency' | 'none';

function ms(x: number): string {
    return `${Math.round(x)} ms`;
}

export class DecisionRecordImpl implements DecisionRecord {
    private text: string | undefined;
    /** Free-form notes appended to the reason (retry, hold, drop). */
    notes: string[] | undefined;

    constructor(
        readonly taskId: number,
        readonly kind: TaskKind,
        readonly doc: string | undefined,
        readonly at: number,
        readonly policy: string,
        readonly chosen: string | undefined,
        readonly candidates: readonly Candidate[],
        private readonly code: ReasonCode,
        /** The model the task's kind goes to when nothing pulls it elsewhere. */
        private readonly preferred: string | undefined,
    ) {}

    note(text: string): void {
        (this.notes ??= []).push(text);
        this.text = undefined;
    }

    get reason(): string {
        return (this.text ??= this.compose());
    }

    /** A plain copy (no getters, no shared arrays). */
    copy(): DecisionRecord {
        return {
            taskId: this.taskId,
            kind: this.kind,
            doc: this.doc,
            at: this.at,
            policy: this.policy,
            chosen: this.chosen,
            candidates: this.candidates.map((c) => ({
                modelId: c.modelId,
                waitMs: c.waitMs,
                firstTokenMs: c.firstTokenMs,
                finishMs: c.finishMs,
                qualityPenaltyMs: c.qualityPenaltyMs,
                reusedTokens: c.reusedTokens,
                ...(c.excluded !== undefined ? { excluded: c.excluded } : {}),
            })),
            reason: this.reason,
        };
    }

    private find(id: string | undefined): Candidate | undefined {
        return id === undefined ? undefined : this.candidates.find((c) => c.modelId === id);
    }

    private compose(): string {
        const chosen = this.find(this.chosen);
        const pref = this.find(this.preferred);
        const others = this.candidates.filter((c) => c !== chosen && c.excluded === undefined);
        let s: string;
        switch (this.code) {
            case 'none':
                s = `no model can take ${this.kind} now`;
                break;
            case 'static':
                s = `static policy: ${this.kind} always goes to ${this.chosen}`;
                break;
            case 'round-robin':
                s = `round-robin: ${this.chosen} is next of ${others.length + 1} capable models`;
                break;
            case 'least-busy':
                s =
                    `least busy: ${this.chosen} has ${chosen ? chosen.inFlight + chosen.queued : 0} running or waiting` +
                    (others.length ? ` (${others.map((c) => `${c.modelId} ${c.inFlight + c.queued}`).join(', ')})` : '');
                break;
            case 'lowest-latency':
                s =
                    `lowest latency: ${this.chosen} averages ${ms(chosen?.meanLatencyMs ?? 0)} over its last 10 tasks` +
                    (others.length ? ` (${others.map((c) => `${c.modelId} ${ms(c.meanLatencyMs)}`).join(', ')})` : '');
                break;
            case 'spill':
                if (pref && chosen && pref.excluded === undefined && pref.remote && pref.othersBusy + pref.engineQueued > 0) {
                    // The preferred model is a shared engine busy with other clients' work.
                    s =
                        `${pref.modelId}: ${pref.othersBusy} slot(s) busy with other clients, ${pref.engineQueued} queued: ` +
                        `${chosen.remote ? '' : 'local '}${chosen.modelId} sooner by ${ms(pref.finishMs - chosen.finishMs)}` +
                        ` (predicted ${ms(chosen.finishMs)} vs ${ms(pref.finishMs)})`;
                } else if (pref && chosen) {
                    // Busy only when something runs or waits there; an idle model can still be the slower one.
                    const busy = pref.queued > 0 || pref.inFlight > 0 || pref.waitMs >= 1;
                    const why = pref.excluded ?? (busy ? `busy (${pref.queued} waiting, ~${ms(pref.waitMs)})` : 'idle but slower for this task');
                    s = `${pref.modelId} ${why}: spilled to ${chosen.modelId}, predicted ${ms(chosen.finishMs)}` + (pref.excluded ? '' : ` vs ${ms(pref.finishMs)}`);
                    // What the spill gave up: the preferred model already held part of the prompt.
                    if (pref.reusedTokens > 0 && pref !== chosen) s += ` though ${pref.modelId} holds ${pref.reusedTokens} cached prompt tokens of this document`;
                } else {
                    s = `sent to ${this.chosen}, predicted ${ms(chosen?.finishMs ?? 0)}`;
                }
                break;
            case 'cold-start':
                s =
                    pref && chosen
                        ? `cold start: ${pref.modelId} would first read ${Math.max(0, Math.round(pref.promptTokens - pref.reusedTokens))} tokens of this document (first token ~${ms(pref.firstTokenMs)}); ${chosen.modelId} answers (~${ms(chosen.firstTokenMs)}) while ${pref.modelId} reads it in the background`
                        : `cold start: sent to ${this.chosen}`;
                break;
            case 'best':
            default:
                s =
                    `${this.chosen}: predicted ${ms(chosen?.finishMs ?? 0)}` +
                    (chosen && chosen.waitMs >= 1 ? ` (waits ~${ms(chosen.waitMs)})` : '') +
                    (chosen && chosen.remote && chosen.othersBusy + chosen.engineQueued > 0
                        ? ` (engine shared: ${chosen.othersBusy} slot(s) busy with other clients, ${chosen.engineQueued} queued)`
                        : '') +
                    (others.length ? `, sooner or better than ${others.map((c) => `${c.modelId} ${ms(c.finishMs)}`).join(', ')}` : '');
                break;
        }
        if (chosen && chosen.reusedTokens > 0 && this.code !== 'none') s += `; reuses ${chosen.reusedTokens} cached prompt tokens of this document`;
        const excluded = this.candidates.filter((c) => c.excluded !== undefined && c !== pref);
        if (excluded.length) s += `; not considered: ${excluded.map((c) => `${c.modelId} (${c.excluded})`).join(', ')}`;
        if (this.code === 'none' && pref?.excluded) s += `; ${pref.modelId}: ${pref.excluded}`;
        if (this.notes) s += `; ${this.notes.join('; ')}`;
        return s;
    }
}
