/**
 * A simulated team server for the team scenario in sim mode: a llama-server-like engine on a
 * device of its own (its own speed, not sharing the editor machine's `SimDevice`), reached over a
 * network with a round trip time, whose slots are shared by Zeta's calls and the teammates' load.
 *
 * - `SimEngine`: `slots` slots taken first come first served; a request that finds none waits in
 *   the engine's own queue (llama-server's "deferred"). Work runs on the engine's `SimDevice`
 *   under one model id, so requests on several slots are batched as llama-server batches its
 *   slots (`batchGain`).
 * - `SimLoadGenerator`: the teammates: a `LoadRequest` schedule (bench/workload/teamSchedule.ts) replayed on the
 *   virtual clock, each request a prefill job and one decode job per token on the engine's device,
 *   holding a slot from its start to its last token; at most `slots + queue` outstanding (`admit`).
 * - `SimRemoteBackend`: Zeta's backend for that engine. A call costs RTT/2 on the way there, waits
 *   for an engine slot, runs as `SimBackend` runs (prefix reuse, gate, token loop) on the engine's
 *   device, and costs RTT/2 back. `remoteLoad()` reports the engine's slots, busy slots and queue
 *   over all clients, Zeta's own calls and the RTT, as the real backend reads them from `/slots`
 *   and `/metrics`: a snapshot at most `pollIntervalMs` old (taken when asked and older than that).
 *
 * Simplification: Zeta's prefix cache on the engine is kept per document by `SimBackend` whatever
 * the teammates ran in between; on llama-server a teammate's request on the same slot overwrites
 * it. The simulated static policy is then faster under load than the real one (its keystrokes
 * reuse their prefix after waiting in the queue).
 *
 * Units: ms (virtual), tokens.
 */
import type { GenerateRequest, GenerationResult, ModelInfo, ModelSpec, RemoteLoad, ChatRequest } from '../../src/core/backend';
import { sleep, type Clock } from '../../src/core/clock';
import { SimBackend, type SimBackendOptions } from './simBackend';
import { SimDevice } from './device';
import type { DeviceProfile, ModelProfile } from './speedProfile';
import { admit, type BurstOptions, type LoadCounts, type LoadRequest } from '../workload/teamSchedule';

/**
 * The generated full coder on this machine's llama-server (1 thread, 2 slots), measured 2026-12-03
 * with /completion timings: 600-token prompts at ~1900 tokens/s, 128 tokens at ~283 tokens/s alone
 * and ~152 each with both slots decoding (x1.07 together), a keystroke (2 new tokens after 640
 * cached, 8 generated) in 37 ms. No per-call cost term: the server batches its slots in one call per
 * step. `slots` is the engine's.
 */
export const MEASURED_SERVER_MODEL: ModelProfile = {
    promptTokensPerSec: 1900,
    decodeTokensPerSec: 283,
    firstTokenOverheadMs: 3,
    embedTokensPerSec: 1900,
    embedOverheadMsPerItem: 1,
    loadMs: 0,
    memoryBytes: 0,
    slots: 2,
    contextSize: 2048,
    fim: true,
    hasChat: true,
    batchGain: { prefill: [1, 1], decode: [1, 1.07], embed: [1, 1] },
};

export interface SimEngineOptions {
    /** The engine's model id on its device (Zeta's spec id for it, so its calls batch with the load's). */
    readonly modelId: string;
    readonly model: ModelProfile;
    readonly slots: number;
    /** Round trip to the engine (ms). */
    readonly rttMs: number;
    /** How stale the load reported by `remoteLoad()` may be (ms): the real backend's poll interval. */
    readonly pollIntervalMs: number;
    readonly url: string;
}

interface Waiter {
    readonly resolve: (release: () => void) => void;
    readonly reject: (e: unknown) => void;
    readonly signal: AbortSignal | undefined;
    readonly onAbort: () => void;
}

/** The device of a server running one model with batched slots (llama-server): shared, no other model. */
export function serverDevice(name: string): DeviceProfile {
    return { kind: 'cpu', name, memoryBytes: Number.MAX_SAFE_INTEGER, contention: { prefill: [1], decode: [1], embed: [1] }, scheduling: 'shared' };
}

export class SimEngine {
    readonly device: SimDevice;
    private busy = 0;
    private readonly queue: Waiter[] = [];
    /** Tokens still to generate per busy slot of a teammate's request (Zeta's own calls are not counted). */
    private readonly remaining = new Set<{ left: number }>();
    /** Zeta's calls in flight now (from sending to the answer's arrival). */
    ownInFlight = 0;
    private snapshot: RemoteLoad | undefined;
    /** Highest queue length seen. */
    maxDeferred = 0;

    constructor(
        private readonly clock: Clock,
        readonly options: SimEngineOptions,
    ) {
        this.device = new SimDevice(clock, serverDevice(`team server (${options.modelId})`), { [options.modelId]: options.model });
    }

    get slotsBusy(): number {
        return this.busy;
    }

    get deferred(): number {
        return this.queue.length;
    }

    /**
     * Takes a slot, first come first served; the returned function frees it (once). Rejects with
     * `signal.reason` when aborted while waiting (the engine drops a closed connection's request).
     */
    acquire(signal?: AbortSignal): Promise<() => void> {
        if (signal?.aborted) return Promise.reject(signal.reason);
        if (this.busy < this.options.slots && this.queue.length === 0) {
            this.busy++;
            return Promise.resolve(this.releaser());
        }
        return new Promise((resolve, reject) => {
            const w: Waiter = {
                resolve,
                reject,
                signal,
                onAbort: () => {
                    const i = this.queue.indexOf(w);
                    if (i >= 0) this.queue.splice(i, 1);
                    reject(signal?.reason);
                },
            };
            this.queue.push(w);
            this.maxDeferred = Math.max(this.maxDeferred, this.queue.length);
            signal?.addEventListener('abort', w.onAbort, { once: true });
        });
    }

    private releaser(): () => void {
        let done = false;
        return () => {
            if (done) return;
            done = true;
            const next = this.queue.shift();
            if (next) {
                next.signal?.removeEventListener('abort', next.onAbort);
                next.resolve(this.releaser());
            } else this.busy--;
        };
    }

    /** Tracks a busy slot's tokens still to generate; returns the counter to decrement. */
    track(tokens: number): { left: number; done: () => void } {
        const t = { left: tokens };
        this.remaining.add(t);
        return Object.assign(t, { done: () => void this.remaining.delete(t) });
    }

    /** The engine's load as a remote backend reports it: at most `pollIntervalMs` old. */
    load(): RemoteLoad {
        const now = this.clock.now();
        if (!this.snapshot || this.snapshot.at === undefined || now - this.snapshot.at >= this.options.pollIntervalMs) {
            let left = 0;
            for (const t of this.remaining) left += Math.max(0, t.left);
            this.snapshot = {
                api: 'llama-server',
                url: this.options.url,
                at: now,
                reachable: true,
                slots: this.options.slots,
                slotsBusy: this.busy,
                deferred: this.queue.length,
                ownInFlight: this.ownInFlight,
                busyRemainingTokens: left,
                decodeTokensPerSec: this.options.model.decodeTokensPerSec,
                rttMs: this.options.rttMs,
            };
        }
        return { ...this.snapshot };
    }

    /** Isolated ms of a teammate's prefill of `n` fresh tokens. */
    prefillMs(n: number): number {
        const m = this.options.model;
        return (n * 1000) / m.promptTokensPerSec + (m.attentionMsPerTokenPair ?? 0) * n * (n / 2) + m.firstTokenOverheadMs;
    }

    /** Isolated ms of one decoded token. */
    decodeMs(): number {
        return 1000 / this.options.model.decodeTokensPerSec;
    }
}

/** The teammates: replays a schedule against the engine from `start()` (virtual ms) until `stop()`. */
export class SimLoadGenerator {
    private readonly ac = new AbortController();
    private outstanding = 0;
    private counts = { due: 0, sent: 0, skipped: 0, completed: 0, failed: 0, aborted: 0 };
    private readonly pending = new Set<Promise<void>>();

    constructor(
        private readonly clock: Clock,
        private readonly engine: SimEngine,
        private readonly schedule: readonly LoadRequest[],
        private readonly limits: Pick<BurstOptions, 'slots' | 'queue'>,
    ) {}

    /** Schedules every request relative to now. */
    start(): void {
        for (const r of this.schedule) {
            this.clock.setTimeout(() => {
                if (this.ac.signal.aborted) return;
                this.counts.due++;
                if (!admit(this.outstanding, this.limits)) {
                    this.counts.skipped++;
                    return;
                }
                this.counts.sent++;
                this.outstanding++;
                const p = this.one(r).finally(() => {
                    this.outstanding--;
                    this.pending.delete(p);
                });
                this.pending.add(p);
            }, r.t);
        }
    }

    private async one(r: LoadRequest): Promise<void> {
        const signal = this.ac.signal;
        const id = this.engine.options.modelId;
        let release: (() => void) | undefined;
        const tracked = this.engine.track(r.nPredict);
        try {
            release = await this.engine.acquire(signal);
            await this.engine.device.run(id, 'prefill', this.engine.prefillMs(r.promptTokens), signal).done;
            for (let i = 0; i < r.nPredict; i++) {
                await this.engine.device.run(id, 'decode', this.engine.decodeMs(), signal).done;
                tracked.left--;
            }
            this.counts.completed++;
        } catch {
            if (signal.aborted) this.counts.aborted++;
            else this.counts.failed++;
        } finally {
            tracked.done();
            release?.();
        }
    }

    /**
     * Cancels what is outstanding (teammates' connections closed; an abort settles a device job or
     * a queued request at once, no virtual time passes) and resolves with the counts once each has
     * settled; no new request starts.
     */
    async stop(): Promise<LoadCounts> {
        this.ac.abort(new Error('load generator stopped'));
        await Promise.all([...this.pending]);
        return { ...this.counts };
    }
}

/** Zeta's backend for the simulated engine: RTT each way, an engine slot per call, `SimBackend` otherwise. */
export class SimRemoteBackend extends SimBackend {
    constructor(
        private readonly vclock: Clock,
        private readonly engine: SimEngine,
        options: SimBackendOptions,
    ) {
        super(vclock, engine.device, engine.options.model, options);
    }

    override generate(request: GenerateRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.remoteCall(signal, () => super.generate(request, signal));
    }

    override chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.remoteCall(signal, () => super.chat(request, signal));
    }

    remoteLoad(): RemoteLoad {
        return this.engine.load();
    }

    private async remoteCall(signal: AbortSignal, call: () => Promise<GenerationResult>): Promise<GenerationResult> {
        const half = this.engine.options.rttMs / 2;
        this.engine.ownInFlight++;
        let release: (() => void) | undefined;
        try {
            await sleep(this.vclock, half, signal);
            release = await this.engine.acquire(signal);
            const result = await call();
            release();
            release = undefined;
            await sleep(this.vclock, half, signal);
            return result;
        } finally {
            release?.();
            this.engine.ownInFlight--;
        }
    }

    protected override makeInfo(spec: ModelSpec): ModelInfo {
        return { ...super.makeInfo(spec), name: `simulated team server ${spec.id}`, remote: { api: 'llama-server', url: this.engine.options.url } };
    }
}
