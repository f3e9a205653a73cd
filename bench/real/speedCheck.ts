/**
 * Speed checks: a few seconds of the profile's own measurements between real-mode rounds,
 * and how much slower or faster than the profile they found each model (the factors real mode's
 * sim prediction scales the profile by). Units: ms.
 */
import { ROLES, type Role } from '../../src/core/backend';
import type { SpeedProfile } from '../sim/speedProfile';
import { embedMsPerText, firstTokenMs, freshKey, freshText, median, sendAgain } from './probes';
import type { RealSetup } from './setup';

/** What one speed check measured per model, in ms (`measureSpeedCheck`). */
export interface SpeedCheck {
    readonly models: Readonly<Record<Role, { readonly oneTokenMs: number; readonly decodeMs: number; readonly embedMs?: number }>>;
}

/** Prompt tokens the check's keystroke and decode steps follow, as the profile's LONG prompt. */
const CHECK_PROMPT_TOKENS = 448;
const CHECK_REPS = 3;

/**
 * A few seconds of the profile's own measurements, taken between real-mode rounds to follow
 * how fast the machine is at the time (a shared VM drifts by tens of percent within minutes):
 * per model, a one-token keystroke after a cached CHECK_PROMPT_TOKENS-token prompt (the profile's
 * `ttftOneTokenMs`) and the decode step there (`decodeLong`); the embedder also embeds 96-token
 * texts (`embedMsPerText96`). Loads the three models and unloads them again; nothing else may run.
 */
export async function measureSpeedCheck(setup: RealSetup, tokensPerWord: number): Promise<SpeedCheck> {
    const signal = new AbortController().signal;
    const words = (tokens: number): number => Math.max(1, Math.round(tokens / tokensPerWord));
    const models = {} as Record<Role, { oneTokenMs: number; decodeMs: number; embedMs?: number }>;
    for (const spec of setup.specs) {
        const b = setup.createBackend(spec);
        await b.load(spec, signal);
        try {
            const prompt = freshText(words(CHECK_PROMPT_TOKENS));
            const key = freshKey('check');
            const one = (await sendAgain(b, prompt, key, CHECK_REPS, 0, signal)).map(firstTokenMs);
            const d = await b.generate({ mode: 'raw', prompt, maxTokens: 17, cacheKey: key }, signal);
            const decodeMs = (d.totalMs - (d.firstTokenMs ?? 0)) / Math.max(1, d.generatedTokens - 1);
            const embedMs = spec.role === 'embedder' ? await embedMsPerText(b, setup.clock, words(96), 4, signal) : undefined;
            models[spec.role] = { oneTokenMs: median(one), decodeMs, embedMs };
        } finally {
            await b.unload();
        }
    }
    return { models };
}

/**
 * Per model, how much slower (> 1) or faster the checks found it than the profile's own
 * measurements of the same things: the median over checks of the geometric mean of the ratios.
 * Undefined for a model the profile has no raw measurements of.
 */
export function speedFactors(profile: SpeedProfile, checks: readonly SpeedCheck[]): Partial<Record<Role, number>> {
    const raw = (profile.measurement?.raw ?? {}) as Record<string, { ttftOneTokenMs?: number[]; decodeLong?: Array<{ ms: number }>; embedMsPerText96?: number[] } | undefined>;
    const out: Partial<Record<Role, number>> = {};
    for (const role of ROLES) {
        const r = raw[role];
        if (!r?.ttftOneTokenMs?.length || !r.decodeLong?.length || checks.length === 0) continue;
        const one = median(r.ttftOneTokenMs);
        const dec = median(r.decodeLong.map((x) => x.ms));
        const emb = r.embedMsPerText96?.length ? median(r.embedMsPerText96) : undefined;
        const perCheck = checks.map((c) => {
            const m = c.models[role];
            const ratios = [m.oneTokenMs / one, m.decodeMs / dec];
            if (m.embedMs !== undefined && emb !== undefined) ratios.push(m.embedMs / emb);
            return Math.exp(ratios.reduce((a, x) => a + Math.log(x), 0) / ratios.length);
        });
        out[role] = median(perCheck);
    }
    return out;
}

/**
 * Per round, the speed factors (`speedFactors`) of the two checks around it: round i went between
 * checks i and i + 1. The machine's speed drifts within minutes (F37, F49: the same check moved the
 * coder's one-token keystroke between 13 and 28 ms within four minutes), so the checks nearest a
 * round say more about it than the median over the whole run. `checks` has one more entry than rounds.
 */
export function bracketFactors(profile: SpeedProfile, checks: readonly SpeedCheck[]): Array<Partial<Record<Role, number>>> {
    return checks.slice(0, -1).map((_, i) => speedFactors(profile, checks.slice(i, i + 2)));
}
