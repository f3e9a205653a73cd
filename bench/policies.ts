/**
 * The policies the benchmark compares, each with the request handling of the editor that uses it.
 * A policy is a router policy (src/core/router) plus how keystrokes become requests: the same
 * completion pipeline (src/core/completion/pipeline.ts) for all, with the debounce each has. Zeta
 * runs its adaptive debounce between the extension's default bounds; the baselines wait a fixed
 * BASELINE_DEBOUNCE_MS after the last keystroke before asking, as Continue does by default
 * (`debounceDelay: 350` in its autocomplete options); `static-nodebounce` is static asking at every
 * keystroke. Units: ms.
 */
import type { CompletionPipelineSettings } from '../src/core/completion/pipeline';
import type { PolicyName } from '../src/core/tasks';
import { DEFAULT_SETTINGS } from '../src/core/userSettings';

export type BenchPolicy = PolicyName | 'static-nodebounce';

/** Every policy of a run, in the report's order. */
export const BENCH_POLICIES: readonly BenchPolicy[] = ['static', 'static-nodebounce', 'round-robin', 'least-busy', 'lowest-latency', 'zeta'];

/** The policies zeta is compared with. */
export const BASELINES: readonly BenchPolicy[] = BENCH_POLICIES.filter((p) => p !== 'zeta');

/** Continue's default autocomplete debounce (ms). */
export const BASELINE_DEBOUNCE_MS = 350;

/** The router policy a bench policy runs. */
export function routerPolicy(p: BenchPolicy): PolicyName {
    return p === 'static-nodebounce' ? 'static' : p;
}

/** The completion settings (windows, debounce bounds) a policy's pipeline runs with. */
export function completionHandling(p: BenchPolicy): CompletionPipelineSettings {
    const d = DEFAULT_SETTINGS.completion;
    if (p === 'zeta') return d;
    const ms = p === 'static-nodebounce' ? 0 : BASELINE_DEBOUNCE_MS;
    return { ...d, debounceMinMs: ms, debounceMaxMs: ms };
}
