/**
 * Speed profiles: how fast each model of a trio runs on one device, and how models slow each
 * other when they run at once. The simulator (bench/sim) is driven only by these numbers.
 * Units: tokens per second, milliseconds, bytes. Stored as JSON in bench/profiles/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROLES, type Role } from '../../src/core/backend';

/** Where the shipped profiles are: bench/profiles/<name>.json. */
export const PROFILES_DIR = join(__dirname, '..', 'profiles');

/** The file of the shipped profile `name` (`rtx4090-qwen2.5-trio`, `local-generated`). */
export function shippedProfile(name: string): string {
    return join(PROFILES_DIR, `${name}.json`);
}

export type Phase = 'prefill' | 'decode' | 'embed';
export const PHASES: readonly Phase[] = ['prefill', 'decode', 'embed'];

export interface ModelProfile {
    /** Prompt evaluation rate alone on the device (tokens/s). */
    readonly promptTokensPerSec: number;
    /** Generation rate alone on the device (tokens/s), one sequence. */
    readonly decodeTokensPerSec: number;
    /** Fixed part of every generate/chat call before the first token (ms): setup, sampling. */
    readonly firstTokenOverheadMs: number;
    /**
     * Attention's share of prompt evaluation (ms per token pair): evaluating n prompt tokens after
     * P tokens already in the sequence costs `n * 1000 / promptTokensPerSec + this * n * (P + n / 2)`.
     * It is what makes a few typed tokens evaluated after a 500-token cached prefix cost more than
     * the same tokens at the start of a sequence. Absent or 0: not modelled (the GPU profile).
     */
    readonly attentionMsPerTokenPair?: number;
    /**
     * The per-call cost model (profiles measured on the CPU). When present, every native evaluation
     * call (a prefill chunk, the call that evaluates a prompt's last token and samples the first
     * token, each decoded token) of n tokens after P already in the sequence costs
     * `callOverheadMs + cachedTokenMsPerCall * P + n * 1000 / promptTokensPerSec + attentionMsPerTokenPair * n * (P + n / 2)`,
     * and a generate/chat call adds `firstTokenOverheadMs` once. This is how the llama.cpp backend
     * evaluates: a keystroke that changes one token costs one call, about a decoded token's time,
     * which the rate alone prices at a tenth of that. Absent: prefill chunks cost the rate and
     * attention terms only, the first token `firstTokenOverheadMs`, a decoded token
     * `1000 / decodeTokensPerSec` (the GPU profile, from published throughput figures).
     */
    readonly callOverheadMs?: number;
    /** See `callOverheadMs`: ms per call per token already in the sequence (reading the KV cache). */
    readonly cachedTokenMsPerCall?: number;
    /** Embedding evaluation rate alone (tokens/s). */
    readonly embedTokensPerSec: number;
    /** Fixed cost per embedded text (ms). */
    readonly embedOverheadMsPerItem: number;
    readonly loadMs: number;
    /** Resident memory for weights + context (bytes). */
    readonly memoryBytes: number;
    readonly slots: number;
    readonly contextSize: number;
    readonly fim: boolean;
    readonly hasChat: boolean;
    /**
     * Total throughput multiplier when n sequences of this model run at once (index n-1), per phase.
     * [1, 1.4] means two sequences together run 1.4x as many tokens/s as one (each at 0.7x).
     */
    readonly batchGain: Readonly<Record<Phase, readonly number[]>>;
}

export interface DeviceProfile {
    readonly kind: 'gpu' | 'cpu';
    readonly name: string;
    /** Memory budget for resident models (bytes). */
    readonly memoryBytes: number;
    /**
     * Slowdown of a job in a phase when k distinct models are computing at once (index k-1),
     * relative to running alone: [1, 1.9, 2.8] means 1.9x slower with one other model active.
     * A model waiting at the token gate or idle does not count.
     */
    readonly contention: Readonly<Record<Phase, readonly number[]>>;
    /**
     * "shared" (default): models compute at once and slow each other by `contention`.
     * "serial": one evaluation at a time in arrival order, never preempted (node-llama-cpp with
     * maxThreads 1); `contention` is then only a record of what was measured.
     */
    readonly scheduling?: 'shared' | 'serial';
    /**
     * Extra ms a job costs when it starts on a device that has computed nothing for at least
     * IDLE_WAKE_AFTER_MS (on the CPU: the evaluation thread wakes up and the weights come back into
     * the caches). Absent: 0 (the GPU profile).
     */
    readonly idleWakeMs?: number;
}

/** Idle time after which a device's next job pays `DeviceProfile.idleWakeMs` (ms). */
export const IDLE_WAKE_AFTER_MS = 50;

export interface SpeedProfile {
    readonly name: string;
    readonly description: string;
    /** Where the numbers come from (URLs, or "measured by bench/real/measure.ts on ..."). */
    readonly sources: readonly string[];
    readonly device: DeviceProfile;
    readonly models: Readonly<Record<Role, ModelProfile>>;
    /**
     * What a sequence keeps for prefix reuse when its call is aborted: "evaluated" keeps the
     * tokens evaluated so far (llama.cpp's KV cache holds them), "nothing" drops the sequence.
     */
    readonly keepOnAbort: 'evaluated' | 'nothing';
    /**
     * Prompt tokens per native prefill call: the backend checks the gate and the abort signal
     * between calls, and an aborted call still runs to its end (src/backends/llamaCpp/backend.ts: 64).
     */
    readonly prefillChunkTokens: number;
    /** Free-form measurement details (conditions, raw samples, machine load). */
    readonly measurement?: Record<string, unknown>;
}

export class ProfileError extends Error {
    override readonly name = 'ProfileError';
}

function posNum(v: unknown, where: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ProfileError(`${where} must be a positive number, got ${JSON.stringify(v)}`);
    return v;
}

function factors(v: unknown, where: string, ascending: boolean): number[] {
    if (!Array.isArray(v) || v.length === 0) throw new ProfileError(`${where} must be a non-empty array of numbers`);
    const out = v.map((x, i) => posNum(x, `${where}[${i}]`));
    if (ascending && Math.abs(out[0] - 1) > 1e-9) throw new ProfileError(`${where}[0] must be 1 (alone), got ${out[0]}`);
    return out;
}

/** Validates a parsed profile; throws ProfileError naming the field. */
export function validateProfile(o: unknown, where = 'profile'): SpeedProfile {
    if (typeof o !== 'object' || o === null) throw new ProfileError(`${where}: not an object`);
    const p = o as Record<string, unknown>;
    const device = p.device as Record<string, unknown> | undefined;
    if (!device) throw new ProfileError(`${where}.device missing`);
    const cont = device.contention as Record<string, unknown> | undefined;
    if (!cont) throw new ProfileError(`${where}.device.contention missing`);
    for (const ph of PHASES) factors(cont[ph], `${where}.device.contention.${ph}`, true);
    posNum(device.memoryBytes, `${where}.device.memoryBytes`);
    const wake = device.idleWakeMs;
    if (wake !== undefined && (typeof wake !== 'number' || !(wake >= 0))) throw new ProfileError(`${where}.device.idleWakeMs must be a number >= 0, got ${JSON.stringify(wake)}`);
    if (device.scheduling !== undefined && device.scheduling !== 'shared' && device.scheduling !== 'serial') {
        throw new ProfileError(`${where}.device.scheduling must be "shared" or "serial", got ${JSON.stringify(device.scheduling)}`);
    }
    const models = p.models as Record<string, Record<string, unknown>> | undefined;
    if (!models) throw new ProfileError(`${where}.models missing`);
    for (const r of ROLES) {
        const m = models[r];
        if (!m) throw new ProfileError(`${where}.models.${r} missing`);
        for (const k of ['promptTokensPerSec', 'decodeTokensPerSec', 'embedTokensPerSec', 'memoryBytes', 'slots', 'contextSize']) {
            posNum(m[k], `${where}.models.${r}.${k}`);
        }
        for (const k of ['attentionMsPerTokenPair', 'callOverheadMs', 'cachedTokenMsPerCall']) {
            if (m[k] !== undefined && (typeof m[k] !== 'number' || !((m[k] as number) >= 0))) throw new ProfileError(`${where}.models.${r}.${k} must be a number >= 0`);
        }
        for (const k of ['firstTokenOverheadMs', 'embedOverheadMsPerItem', 'loadMs']) {
            if (typeof m[k] !== 'number' || (m[k] as number) < 0) throw new ProfileError(`${where}.models.${r}.${k} must be >= 0`);
        }
        const bg = m.batchGain as Record<string, unknown> | undefined;
        if (!bg) throw new ProfileError(`${where}.models.${r}.batchGain missing`);
        for (const ph of PHASES) factors(bg[ph], `${where}.models.${r}.batchGain.${ph}`, true);
    }
    posNum(p.prefillChunkTokens, `${where}.prefillChunkTokens`);
    if (p.keepOnAbort !== 'evaluated' && p.keepOnAbort !== 'nothing') throw new ProfileError(`${where}.keepOnAbort must be "evaluated" or "nothing"`);
    return o as SpeedProfile;
}

export function loadProfile(file: string): SpeedProfile {
    return validateProfile(JSON.parse(readFileSync(file, 'utf8')), file);
}

/** Factor at index n-1, extrapolated linearly in n past the end of the table. */
export function factorAt(table: readonly number[], n: number): number {
    if (n <= 1) return table[0];
    if (n <= table.length) return table[n - 1];
    const last = table[table.length - 1];
    const prev = table.length >= 2 ? table[table.length - 2] : last;
    return last + (n - table.length) * Math.max(0, last - prev);
}

/**
 * `profile` with every time of model m multiplied by `factors[m]` (rates divided by it): the same
 * shape of costs on a machine that runs that model `factors[m]` times slower. Load times, memory
 * and the device's contention table are kept.
 */
export function scaleProfile(profile: SpeedProfile, factors: Partial<Record<Role, number>>, note: string): SpeedProfile {
    const models = { ...profile.models };
    for (const role of ROLES) {
        const f = factors[role];
        if (f === undefined || !(f > 0)) continue;
        const m = profile.models[role];
        models[role] = {
            ...m,
            promptTokensPerSec: m.promptTokensPerSec / f,
            decodeTokensPerSec: m.decodeTokensPerSec / f,
            firstTokenOverheadMs: m.firstTokenOverheadMs * f,
            ...(m.attentionMsPerTokenPair !== undefined ? { attentionMsPerTokenPair: m.attentionMsPerTokenPair * f } : {}),
            ...(m.callOverheadMs !== undefined ? { callOverheadMs: m.callOverheadMs * f } : {}),
            ...(m.cachedTokenMsPerCall !== undefined ? { cachedTokenMsPerCall: m.cachedTokenMsPerCall * f } : {}),
            embedTokensPerSec: m.embedTokensPerSec / f,
            embedOverheadMsPerItem: m.embedOverheadMsPerItem * f,
        };
    }
    return { ...profile, models, sources: [...profile.sources, note] };
}
