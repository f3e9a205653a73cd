/**
 * A llama-server's live load, as the engine reports it: `/slots` (which slots are processing, each
 * one's generation budget and progress) and `/metrics` (requests processing and deferred, token
 * counters), plus the network round trip measured on `/health`. `EngineLoad` holds the readings and
 * computes `RemoteLoad`; `LoadPoller` reads them on the clock's timers.
 *
 * Invariants: a poll never throws anywhere (a failure marks the engine unreachable, with the reason);
 * polls never overlap (the next is scheduled when the previous has ended); polling stops for good
 * at `stop()`. An endpoint the engine does not serve (`/slots` off, `/metrics` without `--metrics`:
 * HTTP 404/501) is not asked again. Units: clock milliseconds, tokens, tokens per second.
 */
import type { RemoteApi, RemoteLoad } from '../../core/backend';
import type { Clock, TimerHandle } from '../../core/clock';
import { RemoteEngineError, errorMessage } from '../../core/errors';
import { metricValue, parsePrometheus, type Metrics } from './prometheus';
import type { SlotReport } from './llamaServerSlots';

/** Gap between polls while the backend has had a call within ACTIVE_WINDOW_MS (ms). */
export const ACTIVE_POLL_MS = 250;
/** Gap between polls otherwise (ms); with `pollIntervalMs` set, 8 times it. */
export const IDLE_POLL_MS = 2_000;
/** How long after its last call the backend still counts as in use (ms). */
export const ACTIVE_WINDOW_MS = 10_000;
/** Most time one poll's requests may take before the engine is marked unreachable (ms). */
export const POLL_TIMEOUT_MS = 5_000;
/** Weight of a new sample in the moving averages (RTT, decode speed). */
const EWMA = 0.3;

/** Moving average: the first sample replaces undefined. */
function ewma(previous: number | undefined, sample: number): number {
    return previous === undefined ? sample : previous + EWMA * (sample - previous);
}

export class EngineLoad {
    private at: number | undefined;
    private reachable = true;
    private error: string | undefined;
    private slots: number | undefined;
    private slotsBusy = 0;
    private deferred = 0;
    private busyRemaining: number | undefined;
    private decodeTps: number | undefined;
    private rtt: number | undefined;
    /** The previous `/slots` reading: per slot, its task and tokens decoded, and when. */
    private lastSlots: { readonly at: number; readonly bySlot: Map<number, { task: number | undefined; decoded: number }> } | undefined;
    /** The previous `tokens_predicted_total`, for a speed when `/slots` is not served. */
    private lastPredicted: { readonly value: number; readonly at: number } | undefined;
    /** Whether the latest poll had a `/slots` answer (its busy count wins over the metrics'). */
    private slotsSeen = false;

    /** `onSlots`: told each `/slots` answer too (the backend's slot affinity). */
    constructor(
        private readonly api: RemoteApi,
        private readonly url: string,
        private readonly onSlots?: (reports: readonly SlotReport[], askedAt: number) => void,
    ) {}

    /** A `/slots` answer asked for at `askedAt` and read at `at`. */
    observeSlots(reports: readonly SlotReport[], at: number, askedAt = at): void {
        this.slotsSeen = true;
        this.slots = reports.length;
        let busy = 0;
        let remaining: number | undefined = 0;
        let decoded = 0;
        const bySlot = new Map<number, { task: number | undefined; decoded: number }>();
        for (const r of reports) {
            const next = r.next_token?.[0];
            const n = next?.n_decoded ?? 0;
            bySlot.set(r.id, { task: r.id_task, decoded: n });
            const before = this.lastSlots?.bySlot.get(r.id);
            // Tokens decoded since the previous reading: the same task's progress, or a new task's all.
            if (before === undefined || before.task !== r.id_task) decoded += r.is_processing || before !== undefined ? n : 0;
            else decoded += Math.max(0, n - before.decoded);
            if (!r.is_processing) continue;
            busy++;
            const left = next?.n_remain;
            // -1: no budget (generates until the end of the context or an end token): unknown.
            if (remaining !== undefined && left !== undefined && left >= 0) remaining += left;
            else remaining = undefined;
        }
        if (this.lastSlots && decoded > 0 && at > this.lastSlots.at) this.decodeTps = ewma(this.decodeTps, (decoded * 1000) / (at - this.lastSlots.at));
        this.lastSlots = { at, bySlot };
        this.slotsBusy = busy;
        this.busyRemaining = remaining;
        this.markReached(at);
        this.onSlots?.(reports, askedAt);
    }

    /** A `/metrics` answer read at `at`. */
    observeMetrics(text: string, at: number): void {
        const m: Metrics = parsePrometheus(text);
        const processing = metricValue(m, 'llamacpp:requests_processing');
        const deferred = metricValue(m, 'llamacpp:requests_deferred');
        if (processing !== undefined && !this.slotsSeen) {
            this.slotsBusy = processing;
            this.busyRemaining = undefined;
        }
        if (deferred !== undefined) this.deferred = deferred;
        const predicted = metricValue(m, 'llamacpp:tokens_predicted_total');
        if (predicted !== undefined) {
            // Counted as requests finish: only a speed when `/slots` cannot tell one.
            const last = this.lastPredicted;
            if (!this.slotsSeen && last && predicted > last.value && at > last.at) this.decodeTps = ewma(this.decodeTps, ((predicted - last.value) * 1000) / (at - last.at));
            this.lastPredicted = { value: predicted, at };
        }
        this.markReached(at);
    }

    /** The time a `/health` call took (ms). */
    observeRtt(ms: number): void {
        if (ms >= 0) this.rtt = ewma(this.rtt, ms);
    }

    /** The engine's slot count from `/props` (before the first `/slots` answer). */
    setSlots(n: number | undefined): void {
        if (this.slots === undefined) this.slots = n;
    }

    /** A poll in which `/slots` was not served: its busy count comes from the metrics. */
    noSlotsEndpoint(): void {
        this.slotsSeen = false;
    }

    /** A poll or a call reached the engine. */
    markReached(at?: number): void {
        this.reachable = true;
        this.error = undefined;
        if (at !== undefined) this.at = at;
    }

    /** A poll or a call failed to reach the engine (refused, timed out, 5xx, 401). */
    markUnreachable(reason: string): void {
        this.reachable = false;
        this.error = reason;
    }

    snapshot(ownInFlight: number): RemoteLoad {
        return {
            api: this.api,
            url: this.url,
            at: this.at,
            reachable: this.reachable,
            ...(this.error === undefined ? {} : { error: this.error }),
            slots: this.slots,
            slotsBusy: this.slotsBusy,
            deferred: this.deferred,
            ownInFlight,
            busyRemainingTokens: this.busyRemaining,
            decodeTokensPerSec: this.decodeTps,
            rttMs: this.rtt,
        };
    }
}

/** What one poll asks the engine; each returns undefined when the endpoint is not served. */
export interface PollRequests {
    health(signal: AbortSignal): Promise<void>;
    slots(signal: AbortSignal): Promise<readonly SlotReport[] | undefined>;
    metrics(signal: AbortSignal): Promise<string | undefined>;
}

/** True for an answer that means "this endpoint is not served here" (so: stop asking). */
export function notServed(e: unknown): boolean {
    return e instanceof RemoteEngineError && (e.status === 404 || e.status === 501);
}

/**
 * Polls `requests` on `clock`: every `activeMs` while `active()` says the backend is in use, every
 * `idleMs` otherwise. `hurry()` brings an idle wait forward to `activeMs` (a call began).
 */
export class LoadPoller {
    private timer: TimerHandle | undefined;
    private dueAt: number | undefined;
    private running = false;
    private stopped = false;
    private readonly lifetime = new AbortController();
    private slotsServed = true;
    private metricsServed = true;
    /** Polls completed (tests wait on it). */
    polls = 0;

    constructor(
        private readonly clock: Clock,
        private readonly load: EngineLoad,
        private readonly requests: PollRequests,
        private readonly activeMs: number,
        private readonly idleMs: number,
        private readonly active: () => boolean,
        private readonly log?: (message: string) => void,
    ) {}

    /** Polls now, then on schedule. */
    start(): void {
        this.schedule(0);
    }

    /** A call began: the next poll comes within `activeMs`. */
    hurry(): void {
        if (this.stopped || this.running) return;
        const now = this.clock.now();
        if (this.dueAt !== undefined && this.dueAt - now > this.activeMs) this.schedule(this.activeMs);
    }

    stop(): void {
        this.stopped = true;
        this.clock.clearTimeout(this.timer);
        this.timer = undefined;
        this.lifetime.abort(new Error('the backend was unloaded'));
    }

    private schedule(ms: number): void {
        if (this.stopped) return;
        this.clock.clearTimeout(this.timer);
        this.dueAt = this.clock.now() + ms;
        this.timer = this.clock.setTimeout(() => {
            this.timer = undefined;
            this.dueAt = undefined;
            void this.pollOnce();
        }, ms);
    }

    /** One poll: /health (timed), /slots and /metrics side by side. Never throws. */
    private async pollOnce(): Promise<void> {
        if (this.stopped || this.running) return;
        this.running = true;
        const limit = new AbortController();
        const timeout = AbortSignal.any([this.lifetime.signal, limit.signal]);
        const timer = this.clock.setTimeout(() => limit.abort(new RemoteEngineError('', 'timeout', `no answer to a load poll within ${POLL_TIMEOUT_MS / 1000} s`)), POLL_TIMEOUT_MS);
        const started = this.clock.now();
        try {
            const health = this.requests.health(timeout).then(() => this.load.observeRtt(this.clock.now() - started));
            const slots = this.slotsServed ? this.requests.slots(timeout) : Promise.resolve(undefined);
            const metrics = this.metricsServed ? this.requests.metrics(timeout) : Promise.resolve(undefined);
            const [h, s, m] = await Promise.allSettled([health, slots, metrics]);
            if (this.stopped) return;
            const at = this.clock.now();
            const failures: unknown[] = [];
            if (h.status === 'rejected') failures.push(h.reason);
            if (s.status === 'fulfilled') {
                if (s.value) this.load.observeSlots(s.value, at, started);
            } else if (notServed(s.reason)) {
                this.slotsServed = false;
                this.load.noSlotsEndpoint();
                this.log?.('llama-server does not serve /slots: its load comes from /metrics only');
            } else failures.push(s.reason);
            if (m.status === 'fulfilled') {
                if (m.value !== undefined) this.load.observeMetrics(m.value, at);
            } else if (notServed(m.reason)) {
                this.metricsServed = false;
                this.log?.('llama-server does not serve /metrics (start it with --metrics): no queue length or speed from it');
            } else failures.push(m.reason);
            if (failures.length > 0) this.load.markUnreachable(errorMessage(failures[0]));
            else if (h.status === 'fulfilled') this.load.markReached(at);
        } catch (e) {
            // Defensive: nothing above should throw, and a poll never fails anything.
            this.load.markUnreachable(errorMessage(e));
        } finally {
            this.clock.clearTimeout(timer);
            this.running = false;
            this.polls++;
            this.schedule(this.active() ? this.activeMs : this.idleMs);
        }
    }
}
