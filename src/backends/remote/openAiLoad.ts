/**
 * Live load of an OpenAI-compatible engine, as the engine itself tells it where it can: Prometheus
 * `/metrics` (vLLM: `vllm:num_requests_running`, `vllm:num_requests_waiting`,
 * `vllm:generation_tokens_total`; llama-server with `--metrics`: `llamacpp:requests_processing`,
 * `llamacpp:requests_deferred`, `llamacpp:tokens_predicted_total`), polled on the Clock's timers.
 * The decode speed is the generated-tokens counter's rate between two polls over which it grew
 * (llama-server's `llamacpp:predicted_tokens_seconds` gauge is no use: it covers only the requests
 * that ended since the previous scrape, and reads 0 between them).
 * Engines without metrics (Ollama, LM Studio; a 404) are polled at `GET /v1/models` instead, for the
 * round trip and reachability only: their load is then our own calls in flight.
 *
 * Invariants: at most one poll is in flight (the next is scheduled when the previous settles);
 * `stop()` cancels the timer and aborts a poll in flight, and nothing is scheduled after it; a poll
 * never throws (a failure marks the engine unreachable with its message).
 * Units: milliseconds (clock), tokens per second.
 */
import type { RemoteLoad } from '../../core/backend';
import type { Clock, TimerHandle } from '../../core/clock';
import { RemoteEngineError, errorMessage } from '../../core/errors';
import { joinUrl, requestText, type Fetch } from './http';
import { counterRate, metricValue, parsePrometheus, type Metrics } from './prometheus';

/** Default gap between polls while the model was used in the last ACTIVE_WINDOW_MS. */
export const ACTIVE_POLL_MS = 500;
/** Polls are this many times sparser once the model has been idle ACTIVE_WINDOW_MS. */
const IDLE_FACTOR = 10;
/** A model used within this window counts as in use. */
const ACTIVE_WINDOW_MS = 10_000;
/** Weight of a new round-trip sample in the moving average. */
const RTT_WEIGHT = 0.3;

/** The load figures read from one `/metrics` text; undefined where the engine publishes none. */
export interface EngineMetrics {
    readonly running: number | undefined;
    readonly waiting: number | undefined;
    /** The generated-tokens counter (vLLM, llama-server), for a rate between two polls. */
    readonly generatedTotal: number | undefined;
}

/** Reads vLLM's or llama-server's load metrics; `model` selects vLLM's series for one model when labelled. */
export function readEngineMetrics(metrics: Metrics, model: string | undefined): EngineMetrics {
    const vllm = (name: string): number | undefined => {
        const labelled = model === undefined ? undefined : metricValue(metrics, name, { model_name: model });
        return labelled ?? metricValue(metrics, name);
    };
    return {
        running: vllm('vllm:num_requests_running') ?? metricValue(metrics, 'llamacpp:requests_processing'),
        waiting: vllm('vllm:num_requests_waiting') ?? metricValue(metrics, 'llamacpp:requests_deferred'),
        generatedTotal: vllm('vllm:generation_tokens_total') ?? metricValue(metrics, 'llamacpp:tokens_predicted_total'),
    };
}

export interface LoadPollerOptions {
    readonly clock: Clock;
    readonly fetch?: Fetch;
    readonly log?: (message: string) => void;
    /** Base URL (no `/v1`). */
    readonly url: string;
    readonly apiKey?: string;
    /** The served model's id (vLLM labels its series with it). */
    readonly model: string | undefined;
    readonly slots: number;
    readonly pollIntervalMs: number;
    readonly headersTimeoutMs: number;
    /** Our own calls in flight now. */
    readonly ownInFlight: () => number;
    /** Clock ms of our last call's start (polls slow down when it is long ago). */
    readonly lastUsedAt: () => number;
}

export class LoadPoller {
    private timer: TimerHandle | undefined;
    private polling: AbortController | undefined;
    private stopped = false;
    /** False once `/metrics` answered 404 (or not Prometheus text): polls go to `/v1/models` instead. */
    private metricsAvailable = true;
    private metrics: EngineMetrics | undefined;
    private previousGenerated: { value: number; atMs: number } | undefined;
    private decodeRate: number | undefined;
    private at: number | undefined;
    private rtt: number | undefined;
    private reachable = true;
    private error: string | undefined;

    constructor(private readonly o: LoadPollerOptions) {}

    /** Starts polling now (the first poll right away). */
    start(): void {
        this.schedule(0);
    }

    /** Stops for good: no poll runs or is scheduled after this returns. */
    stop(): void {
        this.stopped = true;
        this.o.clock.clearTimeout(this.timer);
        this.timer = undefined;
        this.polling?.abort(new Error('the model was unloaded'));
    }

    /** A call reached the engine (true), or failed to (false, with the error): reachability follows the latest news. */
    noteCall(ok: true): void;
    noteCall(ok: false, e: RemoteEngineError): void;
    noteCall(ok: boolean, e?: RemoteEngineError): void {
        if (ok) {
            this.reachable = true;
            this.error = undefined;
        } else if (e && e.problem !== 'protocol') {
            this.reachable = false;
            this.error = e.message;
        }
    }

    /** A round trip measured outside the poller (e.g. the inspection's `/v1/models`). */
    noteRtt(ms: number): void {
        this.rtt = this.rtt === undefined ? ms : this.rtt + RTT_WEIGHT * (ms - this.rtt);
    }

    snapshot(): RemoteLoad {
        const own = this.o.ownInFlight();
        const slots = this.o.slots;
        const m = this.metrics;
        // The engine's figures lag by up to one poll: our own calls since then are counted at least.
        const slotsBusy = Math.max(m?.running ?? 0, Math.min(own, slots));
        const deferred = Math.max(m?.waiting ?? 0, own - slots);
        return {
            api: 'openai',
            url: this.o.url,
            at: this.at,
            reachable: this.reachable,
            ...(this.error === undefined ? {} : { error: this.error }),
            slots,
            slotsBusy,
            deferred,
            ownInFlight: own,
            busyRemainingTokens: undefined,
            decodeTokensPerSec: this.decodeRate,
            rttMs: this.rtt,
        };
    }

    private schedule(ms: number): void {
        if (this.stopped) return;
        this.timer = this.o.clock.setTimeout(() => {
            this.timer = undefined;
            void this.poll().then(() => this.schedule(this.gap()));
        }, ms);
    }

    /** The gap before the next poll: short while the model is in use, IDLE_FACTOR times longer otherwise. */
    private gap(): number {
        const used = this.o.ownInFlight() > 0 || this.o.clock.now() - this.o.lastUsedAt() < ACTIVE_WINDOW_MS;
        return used ? this.o.pollIntervalMs : this.o.pollIntervalMs * IDLE_FACTOR;
    }

    private async poll(): Promise<void> {
        if (this.stopped) return;
        const ctl = new AbortController();
        this.polling = ctl;
        const clock = this.o.clock;
        const started = clock.now();
        const path = this.metricsAvailable ? 'metrics' : 'v1/models';
        try {
            const text = await requestText({
                base: this.o.url,
                url: joinUrl(this.o.url, path),
                apiKey: this.o.apiKey,
                signal: ctl.signal,
                headersTimeoutMs: this.o.headersTimeoutMs,
                fetch: this.o.fetch,
            });
            if (this.stopped) return;
            const now = clock.now();
            this.noteRtt(now - started);
            this.at = now;
            this.reachable = true;
            this.error = undefined;
            if (this.metricsAvailable) this.readMetrics(text, now);
        } catch (e) {
            if (this.stopped) return;
            if (this.metricsAvailable && e instanceof RemoteEngineError && e.problem === 'protocol') {
                // 404 (no /metrics; vLLM always has it, llama-server only with --metrics) or another 4xx:
                // measured latency only from now on.
                this.metricsAvailable = false;
                this.metrics = undefined;
                this.o.log?.(`${this.o.url}: no Prometheus /metrics (${errorMessage(e)}); load from our own calls and measured latency only`);
                return;
            }
            this.reachable = false;
            this.error = errorMessage(e);
        } finally {
            if (this.polling === ctl) this.polling = undefined;
        }
    }

    private readMetrics(text: string, now: number): void {
        const m = readEngineMetrics(parsePrometheus(text), this.o.model);
        if (m.running === undefined && m.waiting === undefined && m.generatedTotal === undefined) {
            this.metricsAvailable = false;
            this.metrics = undefined;
            this.o.log?.(`${this.o.url}: /metrics has no load figures Zeta reads; load from our own calls and measured latency only`);
            return;
        }
        this.metrics = m;
        if (m.generatedTotal !== undefined) {
            const current = { value: m.generatedTotal, atMs: now };
            const rate = counterRate(this.previousGenerated, current);
            // A rate over an idle interval says nothing about speed: keep the last one measured while busy.
            if (rate !== undefined && rate > 0) this.decodeRate = rate;
            this.previousGenerated = current;
        }
    }
}
