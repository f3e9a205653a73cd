/**
 * Prediction from recent history: per task kind arrival rates (Holt's linear smoothing over
 * fixed buckets) and the user's typing cadence (a decayed histogram of inter-keystroke intervals).
 * Units: ms; rates in arrivals per second. Nothing here sets timers: state advances lazily when
 * an event or a query arrives.
 */
import { TASK_KINDS, type TaskKind } from '../tasks';

export const FORECAST_BUCKET_MS = 1_000;
const HOLT_ALPHA = 0.4;
const HOLT_BETA = 0.2;
/** Buckets folded at most per update; older silence is treated as converged to zero. */
const MAX_FOLD = 60;

/** Holt's double exponential smoothing of arrivals per bucket. */
class HoltRate {
    private level = 0;
    private trend = 0;
    private bucketStart: number | undefined;
    private count = 0;

    arrive(now: number): void {
        this.advance(now);
        this.count++;
    }

    /** Forecast arrivals per second over the next bucket. */
    rate(now: number): number {
        this.advance(now);
        if (this.bucketStart === undefined) return 0;
        // The running bucket's count so far is evidence in proportion to the elapsed share f, at the
        // same smoothing weight as a whole bucket: (1 - a f)(level + trend) + a f (count / f).
        const f = Math.min(1, (now - this.bucketStart) / FORECAST_BUCKET_MS);
        const perBucket = Math.max(0, (1 - HOLT_ALPHA * f) * (this.level + this.trend) + HOLT_ALPHA * this.count);
        return (perBucket * 1000) / FORECAST_BUCKET_MS;
    }

    private advance(now: number): void {
        if (this.bucketStart === undefined) {
            this.bucketStart = now - (now % FORECAST_BUCKET_MS);
            return;
        }
        let folds = 0;
        while (now - this.bucketStart >= FORECAST_BUCKET_MS) {
            if (folds < MAX_FOLD) {
                const prevLevel = this.level;
                this.level = HOLT_ALPHA * this.count + (1 - HOLT_ALPHA) * (this.level + this.trend);
                this.trend = HOLT_BETA * (this.level - prevLevel) + (1 - HOLT_BETA) * this.trend;
                if (this.level < 1e-6) {
                    this.level = 0;
                    this.trend = Math.max(0, this.trend);
                }
            } else {
                this.level = 0;
                this.trend = 0;
            }
            folds++;
            this.count = 0;
            const skip = Math.floor((now - this.bucketStart) / FORECAST_BUCKET_MS);
            if (folds >= MAX_FOLD && skip > 1) {
                this.bucketStart += (skip - 1) * FORECAST_BUCKET_MS;
            }
            this.bucketStart += FORECAST_BUCKET_MS;
        }
    }
}

/** Width and number of the cadence histogram's bins; the last bin holds every longer interval. */
export const CADENCE_BIN_MS = 25;
export const CADENCE_BINS = 81;
/** Each new interval multiplies older weights by this: the cadence follows this user's recent typing. */
const CADENCE_DECAY = 0.99;
/** Fewer samples than this: no cadence-based decisions (never a fixed debounce instead). */
export const CADENCE_MIN_SAMPLES = 8;
/**
 * A completion's start is held only while the next keystroke is at least this likely to supersede
 * it before its first token, and after its first token, only while it is at least this likely
 * before its end. Every hold delays the completion that is finally served by as much (a start hold
 * its first token, a hold after it its finish): the lever trades latency for wasted tokens and is
 * switchable by `levers.holdSupersedable`.
 */
export const HOLD_CONFIDENCE = 0.8;

/** A gap between keystrokes longer than this is a pause, not part of the typing cadence (`typingIntervalMs`). */
export const TYPING_PAUSE_MS = 1_500;

/**
 * The one model of the user's typing cadence: inter-keystroke intervals per document, read by the
 * router (holds, pauses, headroom) and, through the snapshot, by the completion debounce. The probability that the next keystroke comes within (a, b] after
 * the last one is read from a cumulative histogram kept up to date on each sample.
 */
export class Cadence {
    private readonly bins = new Float64Array(CADENCE_BINS);
    /** cdf[i] = share of intervals <= (i + 1) * CADENCE_BIN_MS (last bin: 1). */
    private readonly cdf = new Float64Array(CADENCE_BINS);
    private total = 0;
    samples = 0;
    /** Last keystroke time per document. */
    private readonly last = new Map<string, number>();
    lastAt: number | undefined;
    lastDoc: string | undefined;

    keystroke(doc: string, now: number): void {
        const prev = this.last.get(doc);
        this.last.set(doc, now);
        if (this.last.size > 256) this.last.delete(this.last.keys().next().value as string);
        this.lastAt = now;
        this.lastDoc = doc;
        if (prev === undefined) return;
        const interval = now - prev;
        const bin = Math.min(CADENCE_BINS - 1, Math.floor(interval / CADENCE_BIN_MS));
        for (let i = 0; i < CADENCE_BINS; i++) this.bins[i] *= CADENCE_DECAY;
        this.total = this.total * CADENCE_DECAY + 1;
        this.bins[bin] += 1;
        this.samples++;
        let c = 0;
        for (let i = 0; i < CADENCE_BINS; i++) {
            c += this.bins[i];
            this.cdf[i] = c / this.total;
        }
    }

    lastKeystroke(doc: string): number | undefined {
        return this.last.get(doc);
    }

    /** P(interval <= ms). Linear within a bin. */
    cdfAt(ms: number): number {
        if (this.total === 0 || ms <= 0) return 0;
        const x = ms / CADENCE_BIN_MS;
        const i = Math.floor(x);
        if (i >= CADENCE_BINS - 1) return 1;
        const lo = i === 0 ? 0 : this.cdf[i - 1];
        return lo + (this.cdf[i] - lo) * (x - i);
    }

    /** P(next keystroke within (elapsed, elapsed + horizon] | none by elapsed). */
    nextWithin(elapsed: number, horizon: number): number {
        const f0 = this.cdfAt(elapsed);
        const rest = 1 - f0;
        if (rest <= 1e-9) return 0;
        return (this.cdfAt(elapsed + horizon) - f0) / rest;
    }

    /**
     * The median interval between recent keystrokes that were not pauses (at most TYPING_PAUSE_MS),
     * or undefined when the last keystroke is a pause ago or none was measured. Linear within a bin.
     */
    typingIntervalMs(now: number): number | undefined {
        if (this.lastAt === undefined || now - this.lastAt > TYPING_PAUSE_MS || this.samples === 0) return undefined;
        const target = 0.5 * this.cdfAt(TYPING_PAUSE_MS);
        if (target <= 0) return undefined;
        for (let i = 0; i < CADENCE_BINS; i++) {
            if (this.cdf[i] < target) continue;
            const lo = i === 0 ? 0 : this.cdf[i - 1];
            return (i + (target - lo) / (this.cdf[i] - lo)) * CADENCE_BIN_MS;
        }
        return undefined;
    }

    /** The q-quantile of intervals (ms). */
    quantile(q: number): number {
        for (let i = 0; i < CADENCE_BINS; i++) if (this.cdf[i] >= q) return (i + 1) * CADENCE_BIN_MS;
        return CADENCE_BINS * CADENCE_BIN_MS;
    }

    /**
     * How long to hold the start of a completion whose first token takes `workMs`, `elapsed` ms after
     * the last keystroke: the shortest hold after which a keystroke within that time is no longer
     * HOLD_CONFIDENCE likely, capped at this user's 90th-percentile interval. 0 = start now.
     */
    holdFor(elapsed: number, workMs: number): number {
        if (this.samples < CADENCE_MIN_SAMPLES) return 0;
        const cap = this.quantile(0.9);
        for (let h = elapsed; h <= cap; h += CADENCE_BIN_MS / 2) {
            if (this.nextWithin(h, workMs) < HOLD_CONFIDENCE) return h - elapsed;
        }
        return Math.max(0, cap - elapsed);
    }

    /**
     * When a completion that ends `workMs` from now, `elapsed` ms after the last keystroke, becomes
     * more likely than not to be seen: the first wait w (ms from now, steps of half a bin) after
     * which a keystroke before its end is below even odds. Undefined: not before it ends, or too
     * few samples to say.
     */
    quietAfter(elapsed: number, workMs: number): number | undefined {
        if (this.samples < CADENCE_MIN_SAMPLES) return undefined;
        for (let w = 0; w < workMs; w += CADENCE_BIN_MS / 2) {
            if (this.nextWithin(elapsed + w, workMs - w) < 0.5) return w;
        }
        return undefined;
    }
}

export class Forecaster {
    private readonly rates = new Map<TaskKind, HoltRate>();
    readonly cadence = new Cadence();
    /** True once the editor has sent activity signals; until then completion arrivals stand in for keystrokes. */
    activitySeen = false;

    constructor() {
        for (const k of TASK_KINDS) this.rates.set(k, new HoltRate());
    }

    arrival(kind: TaskKind, now: number, doc: string | undefined): void {
        this.rates.get(kind)!.arrive(now);
        if (kind === 'completion' && !this.activitySeen && doc !== undefined) this.cadence.keystroke(doc, now);
    }

    keystroke(doc: string, now: number): void {
        this.activitySeen = true;
        this.cadence.keystroke(doc, now);
    }

    rate(kind: TaskKind, now: number): number {
        return this.rates.get(kind)!.rate(now);
    }

    /** Probability that a completion request arrives within `horizon` ms from now. */
    completionWithin(now: number, horizon: number): number {
        const last = this.cadence.lastAt;
        if (this.cadence.samples >= CADENCE_MIN_SAMPLES && last !== undefined) {
            return this.cadence.nextWithin(now - last, horizon);
        }
        const r = this.rate('completion', now);
        return 1 - Math.exp((-r * horizon) / 1000);
    }

    snapshot(now: number): Partial<Record<TaskKind, number>> {
        const out: Partial<Record<TaskKind, number>> = {};
        for (const k of TASK_KINDS) out[k] = this.rate(k, now);
        return out;
    }
}
