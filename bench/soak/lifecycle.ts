/**
 * Lifecycle changes the soak puts the router through, all by its public API (`Router.reconfigure`),
 * as the editor does when the user edits settings: each change is drawn from the session's seed,
 * applied for a while, then undone (the session's own models and settings again). Pure: the run
 * (soak.ts) applies them.
 *
 * - `policy`: another routing policy (settings change; no model reloads);
 * - `reload`: one model's context size changed, which reloads it on a fresh backend (the old one is
 *   unloaded once its running calls settle), and again when undone;
 * - `unload`: one model removed from the settings (retired: its queue rerouted, unloaded when its
 *   running work ends), added back when undone (a fresh backend, loaded again);
 * - `memory`: a memory budget that holds any two models but not all three, and a 2 s keep-alive, so the
 *   router evicts idle models and loads them on demand; undone, no budget.
 */
import type { ModelSpec } from '../../src/core/backend';
import type { PolicyName, RoutingSettings } from '../../src/core/tasks';
import type { Rng } from '../lib/rng';

export type ChangeKind = 'policy' | 'reload' | 'unload' | 'memory';
export const CHANGE_KINDS: readonly ChangeKind[] = ['policy', 'reload', 'unload', 'memory'];

export interface LifecycleChange {
    readonly kind: ChangeKind;
    /** In words, for the log: "reload reasoner (context 2048 -> 1536)". */
    readonly what: string;
    readonly models: readonly ModelSpec[];
    readonly settings: RoutingSettings;
}

/** Keep-alive during a `memory` change (ms): idle models are evicted within seconds, not minutes. */
export const TIGHT_KEEP_ALIVE_MS = 2_000;

const OTHER_POLICIES: readonly PolicyName[] = ['static', 'round-robin', 'least-busy', 'lowest-latency'];

/**
 * A change from the session's `models` and `settings`, drawn with `rng`. `memoryBytes(id)`: a
 * model's memory as the router estimates it (0 when unknown); a `memory` change needs all known.
 */
export function drawChange(rng: Rng, models: readonly ModelSpec[], settings: RoutingSettings, memoryBytes: (id: string) => number): LifecycleChange {
    const memories = models.map((m) => memoryBytes(m.id));
    const kinds = CHANGE_KINDS.filter((k) => k !== 'memory' || (models.length >= 2 && memories.every((b) => b > 0)));
    const kind = rng.pick(kinds);
    switch (kind) {
        case 'policy': {
            const policy = rng.pick(OTHER_POLICIES.filter((p) => p !== settings.policy));
            return { kind, what: `policy ${settings.policy} -> ${policy}`, models, settings: { ...settings, policy } };
        }
        case 'reload': {
            const target = rng.pick(models);
            const contextSize = Math.max(512, Math.round((target.contextSize * 0.75) / 256) * 256);
            return {
                kind,
                what: `reload ${target.id} (context ${target.contextSize} -> ${contextSize})`,
                models: models.map((m) => (m === target ? { ...m, contextSize } : m)),
                settings,
            };
        }
        case 'unload': {
            const target = rng.pick(models);
            return { kind, what: `unload ${target.id} (removed from the settings)`, models: models.filter((m) => m !== target), settings };
        }
        case 'memory': {
            // Any two models fit, never all of them: the total less half the smallest.
            const total = memories.reduce((a, b) => a + b, 0);
            const budget = Math.round(total - Math.min(...memories) / 2);
            return {
                kind,
                what: `memory budget ${(budget / 2 ** 20).toFixed(0)} MB (all models: ${(total / 2 ** 20).toFixed(0)} MB), keep-alive ${TIGHT_KEEP_ALIVE_MS} ms`,
                models,
                settings: { ...settings, memoryBudgetBytes: budget, keepAliveMs: TIGHT_KEEP_ALIVE_MS },
            };
        }
    }
}
