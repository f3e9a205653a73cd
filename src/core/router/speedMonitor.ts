/**
 * The router's one speed monitor, one per model: moving averages of time to first token, prefill
 * and decode cost per token, embedding cost per text, load time, the last 10 latencies and a
 * utilisation window, learned from what the router observes of each call (backends keep no speed
 * averages of their own). Units: ms, tokens. Everything is O(1) per update and per read; no
 * allocation.
 */

/** Smoothing for speed EWMAs: recent observations weigh about a third. */
const ALPHA = 0.3;
/** Utilisation window. */
export const UTIL_WINDOW_MS = 10_000;
export const LATENCY_RING = 10;
/**
 * A first-token time with fewer evaluated prompt tokens than this is left out of the prefill
 * estimate (rate and overhead fit): it is mostly fixed cost and waiting (for a shared evaluation
 * thread, say), and a few such samples can make a model look several times slower or faster than
 * it is. It still bounds the overhead from above (`smallFirstMs`).
 */
export const MIN_RATE_SAMPLE_TOKENS = 32;
/**
 * The prefill fit frees its intercept (the overhead) only when the prompt sizes it has seen vary
 * this much (standard deviation over mean): long prompts of similar size, slowed by other models'
 * work, otherwise fit a large overhead that, scaled to another model as its prior, predicts a
 * one-token keystroke far too slow.
 */
export const MIN_FIT_SPREAD = 0.25;

export interface SpeedPrior {
    /** ms per evaluated prompt token. */
    readonly prefillMsPerToken: number;
    /** ms per generated token after the first. */
    readonly decodeMsPerToken: number;
    /** Fixed part of time to first token, ms. */
    readonly overheadMs: number;
    readonly embedMsPerText: number;
    readonly loadMs: number;
}

/**
 * Priors from a model's memory size when nothing is measured yet: bigger models are slower,
 * roughly linearly in bytes moved per token (a 4 GB Q4 model ~ 25 ms/token decode on a consumer GPU).
 */
export function priorFromMemory(bytes: number): SpeedPrior {
    const gb = Math.max(0.01, bytes / 1e9);
    return {
        decodeMsPerToken: 2 + 6 * gb,
        prefillMsPerToken: 0.1 + 0.3 * gb,
        overheadMs: 10,
        embedMsPerText: 2 + 2 * gb,
        loadMs: 200 + 500 * gb,
    };
}

/** A model's measured speeds as kept between sessions (ms); an absent field was not measured. */
export interface LearnedSpeeds {
    /** `fromEmbed`: the rate came from embedding calls (no generation measured it). */
    readonly prefill?: { readonly msPerToken: number; readonly overheadMs: number; readonly fromEmbed: boolean };
    readonly decodeMsPerToken?: number;
    readonly embedMsPerText?: number;
    readonly loadMs?: number;
    readonly firstTokenMs?: number;
}

export class SpeedMonitor {
    prefillMsPerToken: number;
    decodeMsPerToken: number;
    overheadMs: number;
    embedMsPerText: number;
    loadMs: number;
    /** EWMA of observed time to first token (ms, as the backend reported it); undefined until measured. */
    firstTokenMs: number | undefined;
    /**
     * EWMA of the time to first token of calls that evaluated fewer than MIN_RATE_SAMPLE_TOKENS
     * prompt tokens (ms): fixed cost plus any waiting, so an upper bound on the overhead (as is
     * every single call's time).
     */
    private smallFirstMs: number | undefined;
    measured = false;
    /**
     * EWMA of a whole generation call's time on this model (ms, from the call to its end, pauses
     * at the gate removed); undefined until one finished. For a remote engine it stands for the
     * time other clients' requests take there (teammates send requests like ours).
     */
    callMs: number | undefined;
    /** Last LATENCY_RING end-to-end latencies (ms), ring buffer. */
    private readonly latencies = new Float64Array(LATENCY_RING);
    private latencyCount = 0;
    private latencyNext = 0;
    /** Least-squares fit of ttft = overhead + slope * evaluated, with exponentially decayed sums. */
    private sw = 0;
    private sx = 0;
    private sy = 0;
    private sxx = 0;
    private sxy = 0;
    /** Busy accounting: time spent with >= 1 task running, in the current and previous window. */
    private busySince: number | undefined;
    private windowStart = 0;
    private busyCurrent = 0;
    private busyPrevious = 0;

    constructor(prior: SpeedPrior) {
        this.prefillMsPerToken = prior.prefillMsPerToken;
        this.decodeMsPerToken = prior.decodeMsPerToken;
        this.overheadMs = prior.overheadMs;
        this.embedMsPerText = prior.embedMsPerText;
        this.loadMs = prior.loadMs;
    }

    /** Which quantities have been measured; a measured one is never replaced by a prior. */
    prefillMeasured = false;
    /** The prefill rate comes from this model's embedding calls (no generation measured yet). */
    prefillFromEmbed = false;
    decodeMeasured = false;
    embedMeasured = false;
    loadMeasured = false;

    /** Replaces the priors of quantities not measured yet (e.g. scaled from a measured model). */
    setPrior(prior: SpeedPrior): void {
        if (!this.prefillMeasured && !this.prefillFromEmbed) {
            this.prefillMsPerToken = prior.prefillMsPerToken;
            this.overheadMs = Math.min(prior.overheadMs, this.smallFirstMs ?? Number.POSITIVE_INFINITY);
        }
        if (!this.decodeMeasured) this.decodeMsPerToken = prior.decodeMsPerToken;
        if (!this.embedMeasured) this.embedMsPerText = prior.embedMsPerText;
        if (!this.loadMeasured) this.loadMs = prior.loadMs;
    }

    /**
     * A generation finished. `firstTokenMs` is from the backend call to its first token, with any
     * gate pause before it removed; `decodeMs` is first token to end with pauses removed.
     */
    observeGeneration(evaluatedTokens: number, firstTokenMs: number | undefined, generatedTokens: number, decodeMs: number): void {
        this.measured = true;
        if (firstTokenMs !== undefined && firstTokenMs >= 0) {
            this.firstTokenMs = this.firstTokenMs === undefined ? firstTokenMs : this.firstTokenMs + ALPHA * (firstTokenMs - this.firstTokenMs);
            if (evaluatedTokens > 0 && evaluatedTokens < MIN_RATE_SAMPLE_TOKENS) {
                this.smallFirstMs = this.smallFirstMs === undefined ? firstTokenMs : this.smallFirstMs + ALPHA * (firstTokenMs - this.smallFirstMs);
                if (this.overheadMs > this.smallFirstMs) this.overheadMs = this.smallFirstMs;
                return this.observeDecode(generatedTokens, decodeMs);
            }
            this.observePrefill(evaluatedTokens, firstTokenMs);
        }
        this.observeDecode(generatedTokens, decodeMs);
    }

    /**
     * A prefill of `evaluatedTokens` took `ms` to its first token (or to its end, for a call that
     * only reads a prompt). Fits ttft = overhead + slope * evaluated over decayed sums; the
     * overhead never exceeds what small calls took (smallFirstMs), and is only fitted freely when
     * prompt sizes vary enough (MIN_FIT_SPREAD).
     */
    observePrefill(evaluatedTokens: number, ms: number): void {
        if (!(ms >= 0) || evaluatedTokens < 0 || (evaluatedTokens > 0 && evaluatedTokens < MIN_RATE_SAMPLE_TOKENS)) return;
        this.measured = true;
        // No call comes in under the fixed cost: a restored or scaled overhead above this one is wrong.
        if (this.overheadMs > ms) this.overheadMs = ms;
        const d = 1 - ALPHA / 2;
        this.sw = this.sw * d + 1;
        this.sx = this.sx * d + evaluatedTokens;
        this.sy = this.sy * d + ms;
        this.sxx = this.sxx * d + evaluatedTokens * evaluatedTokens;
        this.sxy = this.sxy * d + evaluatedTokens * ms;
        const varX = this.sxx * this.sw - this.sx * this.sx;
        const spread = MIN_FIT_SPREAD * this.sx;
        if (varX > 1e-6 * this.sw * this.sw * Math.max(1, this.sxx / this.sw) && varX >= spread * spread) {
            let slope = (this.sxy * this.sw - this.sx * this.sy) / varX;
            let icpt = (this.sy - slope * this.sx) / this.sw;
            const cap = this.smallFirstMs ?? Number.POSITIVE_INFINITY;
            if (icpt > cap) {
                // Least squares through the capped intercept.
                icpt = cap;
                slope = (this.sxy - icpt * this.sx) / this.sxx;
            }
            if (slope > 0 && icpt >= 0) {
                this.prefillMsPerToken = slope;
                this.overheadMs = icpt;
                this.prefillMeasured = true;
                return;
            }
        }
        // Not enough spread in prompt sizes: keep the overhead, attribute the rest to prefill.
        // The first measurement replaces the prior outright.
        if (evaluatedTokens >= MIN_RATE_SAMPLE_TOKENS) {
            const per = Math.max(0, ms - this.overheadMs) / evaluatedTokens;
            if (per > 0) this.prefillMsPerToken = this.prefillMeasured ? this.prefillMsPerToken + ALPHA * (per - this.prefillMsPerToken) : per;
            this.prefillMeasured = true;
        } else if (evaluatedTokens === 0) {
            this.overheadMs += ALPHA * (ms - this.overheadMs);
        }
    }

    private observeDecode(generatedTokens: number, decodeMs: number): void {
        if (generatedTokens >= 2 && decodeMs > 0) {
            const per = decodeMs / (generatedTokens - 1);
            this.decodeMsPerToken = this.decodeMeasured ? this.decodeMsPerToken + ALPHA * (per - this.decodeMsPerToken) : per;
            this.decodeMeasured = true;
        }
    }

    /**
     * An embedding call of `texts` texts (`tokens` prompt tokens in all, when known) took `ms`.
     * Embedding is the same forward pass as a prefill, so until a generation has measured this
     * model's prefill, its embedding speed per token (fixed costs included: an upper bound) stands
     * in for it, rather than a prior scaled from another model's size.
     */
    observeEmbed(texts: number, ms: number, tokens?: number): void {
        if (texts <= 0 || ms <= 0) return;
        this.measured = true;
        this.embedMsPerText = this.embedMeasured ? this.embedMsPerText + ALPHA * (ms / texts - this.embedMsPerText) : ms / texts;
        this.embedMeasured = true;
        if (tokens !== undefined && tokens >= MIN_RATE_SAMPLE_TOKENS && !this.prefillMeasured) {
            const per = ms / tokens;
            this.prefillMsPerToken = this.prefillFromEmbed ? this.prefillMsPerToken + ALPHA * (per - this.prefillMsPerToken) : per;
            this.prefillFromEmbed = true;
        }
    }

    /** What has been measured, to keep for the next session. */
    learned(): LearnedSpeeds {
        const prefill = this.prefillMeasured || this.prefillFromEmbed ? { msPerToken: this.prefillMsPerToken, overheadMs: this.overheadMs, fromEmbed: !this.prefillMeasured } : undefined;
        return {
            ...(prefill ? { prefill } : {}),
            ...(this.decodeMeasured ? { decodeMsPerToken: this.decodeMsPerToken } : {}),
            ...(this.embedMeasured ? { embedMsPerText: this.embedMsPerText } : {}),
            ...(this.loadMeasured ? { loadMs: this.loadMs } : {}),
            ...(this.firstTokenMs !== undefined ? { firstTokenMs: this.firstTokenMs } : {}),
        };
    }

    /**
     * Starts from speeds an earlier session measured, for the quantities not measured in this one:
     * they count as measured, and new observations average into them (the prefill regression
     * starts afresh).
     */
    restore(s: LearnedSpeeds): void {
        if (s.prefill && !this.prefillMeasured && !this.prefillFromEmbed) {
            this.prefillMsPerToken = s.prefill.msPerToken;
            this.overheadMs = s.prefill.overheadMs;
            if (s.prefill.fromEmbed) this.prefillFromEmbed = true;
            else this.prefillMeasured = true;
        }
        if (s.decodeMsPerToken !== undefined && !this.decodeMeasured) {
            this.decodeMsPerToken = s.decodeMsPerToken;
            this.decodeMeasured = true;
        }
        if (s.embedMsPerText !== undefined && !this.embedMeasured) {
            this.embedMsPerText = s.embedMsPerText;
            this.embedMeasured = true;
        }
        if (s.loadMs !== undefined && !this.loadMeasured) {
            this.loadMs = s.loadMs;
            this.loadMeasured = true;
        }
        this.firstTokenMs ??= s.firstTokenMs;
        this.measured = true;
    }

    /** The first measured load replaces the prior; later ones are averaged. */
    observeLoad(ms: number): void {
        this.loadMs = this.loadMeasured ? this.loadMs + 0.5 * (ms - this.loadMs) : ms;
        this.loadMeasured = true;
    }

    /** A generation call took `ms` from the call to its end (pauses removed). */
    observeCall(ms: number): void {
        if (!(ms >= 0)) return;
        this.callMs = this.callMs === undefined ? ms : this.callMs + ALPHA * (ms - this.callMs);
    }

    observeLatency(ms: number): void {
        this.latencies[this.latencyNext] = ms;
        this.latencyNext = (this.latencyNext + 1) % LATENCY_RING;
        if (this.latencyCount < LATENCY_RING) this.latencyCount++;
    }

    /** Mean of the last LATENCY_RING latencies; 0 when none (so an untried model is tried first). */
    meanLatency(): number {
        if (this.latencyCount === 0) return 0;
        let s = 0;
        for (let i = 0; i < this.latencyCount; i++) s += this.latencies[i];
        return s / this.latencyCount;
    }

    /** Running-count transitions: call with the running count after each change. */
    markBusy(now: number, running: number): void {
        this.roll(now);
        if (running > 0 && this.busySince === undefined) this.busySince = now;
        else if (running === 0 && this.busySince !== undefined) {
            this.busyCurrent += now - this.busySince;
            this.busySince = undefined;
        }
    }

    /** Share of the last window spent with work running, 0..1. */
    utilisation(now: number): number {
        this.roll(now);
        const inWindow = now - this.windowStart;
        const open = this.busySince !== undefined ? now - Math.max(this.busySince, this.windowStart) : 0;
        const prevWeight = Math.max(0, UTIL_WINDOW_MS - inWindow) / UTIL_WINDOW_MS;
        const busy = this.busyCurrent + open + this.busyPrevious * prevWeight;
        return Math.min(1, Math.max(0, busy / UTIL_WINDOW_MS));
    }

    /** Invariant: busySince, when set, is >= windowStart. */
    private roll(now: number): void {
        while (now - this.windowStart >= UTIL_WINDOW_MS) {
            const end = this.windowStart + UTIL_WINDOW_MS;
            let cur = this.busyCurrent;
            if (this.busySince !== undefined) {
                cur += end - this.busySince;
                this.busySince = end;
            }
            this.busyPrevious = cur;
            this.busyCurrent = 0;
            this.windowStart = end;
            const whole = Math.floor((now - end) / UTIL_WINDOW_MS) - 1;
            if (whole > 0) {
                // Whole windows passed without an event: all busy or all idle.
                this.windowStart = end + whole * UTIL_WINDOW_MS;
                this.busyPrevious = this.busySince !== undefined ? UTIL_WINDOW_MS : 0;
                if (this.busySince !== undefined) this.busySince = this.windowStart;
            }
        }
    }
}
