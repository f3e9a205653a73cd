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
 * - A document's cached prompt lives in one engine slot and is lost when another request uses
 *   that slot (`SimRemoteBackend`), as llama-server's slot cache is overwritten. A call takes its
 *   document's slot when it is free, else another free one; with none free it waits for the next
 *   slot freed (llama-server's `id_slot` would wait for the document's own).
 *
 * Units: ms (virtual), tokens.
 */
import type { GenerateRequest, GenerationResult, ModelInfo, ModelSpec, RemoteLoad, ChatRequest } from '../../src/core/backend';
import { sleep, type Clock } from '../../src/core/clock';
import { SimBackend, type SimBackendOptions } from './simBackend';
import { SimDevice } from './device';
import type { DeviceProfile, ModelProfile } from './speedProfile';
import { ScheduledLoad, type BurstOptions, type LoadRequest } from '../workload/teamSchedule';

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

/** A slot held: which one, and how to free it (once; a second call frees nothing). */
export interface SlotLease {
    readonly slot: number;
    release(): void;
}

interface Waiter {
    readonly resolve: (lease: SlotLease) => void;
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
    /** Free slots' indices; a freed slot goes to the back, the next request takes the front. */
    private readonly free: number[];
    /** Per slot: how many requests it has served (a request overwrites the slot's cached prompt). */
    private readonly uses: number[];
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
        this.free = Array.from({ length: options.slots }, (_, i) => i);
        this.uses = new Array<number>(options.slots).fill(0);
    }

    get slotsBusy(): number {
        return this.options.slots - this.free.length;
    }

    /** Requests slot `slot` has served so far: a cache on it survives only while this has not moved. */
    usesOf(slot: number): number {
        return this.uses[slot];
    }

    get deferred(): number {
        return this.queue.length;
    }

    /**
     * Takes a slot, first come first served (the request counts as a use of the slot): `preferred`
     * when it is free (the slot holding the caller's document, as llama-server's `id_slot`), else
     * the one free longest; with none free, the request waits in the queue for the next slot freed.
     * Rejects with `signal.reason` when aborted while waiting (the engine drops a closed
     * connection's request).
     */
    acquire(signal?: AbortSignal, preferred?: number): Promise<SlotLease> {
        if (signal?.aborted) return Promise.reject(signal.reason);
        if (this.queue.length === 0 && this.free.length > 0) {
            const at = preferred === undefined ? -1 : this.free.indexOf(preferred);
            const slot = at >= 0 ? this.free.splice(at, 1)[0] : (this.free.shift() as number);
            return Promise.resolve(this.lease(slot));
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

    private lease(slot: number): SlotLease {
        this.uses[slot]++;
        let done = false;
        return {
            slot,
            release: () => {
                if (done) return;
                done = true;
                const next = this.queue.shift();
                if (next) {
                    next.signal?.removeEventListener('abort', next.onAbort);
                    next.resolve(this.lease(slot));
                } else this.free.push(slot);
            },
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
                slotsBusy: this.slotsBusy,
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
export class SimLoadGenerator extends ScheduledLoad {
    constructor(
        clock: Clock,
        private readonly engine: SimEngine,
        schedule: readonly LoadRequest[],
        limits: Pick<BurstOptions, 'slots' | 'queue'>,
    ) {
        super(clock, schedule, limits);
    }

    /** One teammate's request: a slot, its prefill and every token on the engine's device (an abort settles it at once). */
    protected async send(r: LoadRequest, _index: number, signal: AbortSignal): Promise<void> {
        const id = this.engine.options.modelId;
        let lease: SlotLease | undefined;
        const tracked = this.engine.track(r.nPredict);
        try {
            lease = await this.engine.acquire(signal);
            await this.engine.device.run(id, 'prefill', this.engine.prefillMs(r.promptTokens), signal).done;
            for (let i = 0; i < r.nPredict; i++) {
                await this.engine.device.run(id, 'decode', this.engine.decodeMs(), signal).done;
                tracked.left--;
            }
        } finally {
            tracked.done();
            lease?.release();
        }
    }
}

/**
 * Zeta's backend for the simulated engine: RTT each way, an engine slot per call, `SimBackend`
 * otherwise. A document's cached prompt lives in the engine slot its last call ran on, and only
 * until another request (a teammate's, or ours for another document) uses that slot: a call that
 * gets another slot, or its own after someone else, reads its prompt again, as on llama-server.
 * (Modelled by giving `SimBackend` a new cache key for the document, which holds nothing.)
 */
export class SimRemoteBackend extends SimBackend {
    /** Per document: the engine slot holding its prompt, that slot's use count then, and its key's generation. */
    private readonly held = new Map<string, { slot: number; uses: number; generation: number }>();

    constructor(
        private readonly vclock: Clock,
        private readonly engine: SimEngine,
        options: SimBackendOptions,
    ) {
        super(vclock, engine.device, engine.options.model, options);
    }

    override generate(request: GenerateRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.remoteCall(request.cacheKey, signal, (cacheKey) => super.generate({ ...request, cacheKey }, signal));
    }

    override chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        return this.remoteCall(request.cacheKey, signal, (cacheKey) => super.chat({ ...request, cacheKey }, signal));
    }

    /** What the engine holds for the document now: nothing once its slot served another request. */
    override cachedTokens(cacheKey: string): number {
        const h = this.held.get(cacheKey);
        if (!h || this.engine.usesOf(h.slot) !== h.uses) return 0;
        return super.cachedTokens(keyOf(cacheKey, h.generation));
    }

    remoteLoad(): RemoteLoad {
        return this.engine.load();
    }

    private async remoteCall(cacheKey: string | undefined, signal: AbortSignal, call: (cacheKey: string | undefined) => Promise<GenerationResult>): Promise<GenerationResult> {
        const half = this.engine.options.rttMs / 2;
        this.engine.ownInFlight++;
        let lease: SlotLease | undefined;
        try {
            await sleep(this.vclock, half, signal);
            lease = await this.engine.acquire(signal, cacheKey === undefined ? undefined : this.held.get(cacheKey)?.slot);
            let key = cacheKey;
            if (cacheKey !== undefined) {
                const h = this.held.get(cacheKey);
                // This call is the slot's newest use (acquire counted it): the cache survives when
                // the document's previous call was the use just before it, on the same slot.
                const kept = h !== undefined && h.slot === lease.slot && h.uses + 1 === this.engine.usesOf(lease.slot);
                const generation = kept ? h.generation : (h?.generation ?? 0) + 1;
                this.held.set(cacheKey, { slot: lease.slot, uses: this.engine.usesOf(lease.slot), generation });
                key = keyOf(cacheKey, generation);
            }
            const result = await call(key);
            lease.release();
            lease = undefined;
            await sleep(this.vclock, half, signal);
            return result;
        } finally {
            lease?.release();
            this.engine.ownInFlight--;
        }
    }

    protected override makeInfo(spec: ModelSpec): ModelInfo {
        return { ...super.makeInfo(spec), name: `simulated team server ${spec.id}`, remote: { api: 'llama-server', url: this.engine.options.url } };
    }
}

/** The `SimBackend` cache key of a document's prompt in its `generation`-th engine slot. */
function keyOf(cacheKey: string, generation: number): string {
    return `${cacheKey}#slot-generation-${generation}`;
}
