/**
 * The targets of issue 4 §5 (and the ±30% fidelity of §3 in real mode): each one's text and limit
 * (TARGETS), and their evaluation from a run's numbers (`evaluateTargets`). A target's value is a
 * ratio to static or to the best baseline, a share, or µs, as its text says.
 */
import { POLICY_NAMES, type PolicyName } from '../../src/core/tasks';
import type { PolicyReport, Report, Target } from './report';

/** How a value must compare with its limit: "le" <=, "lt" <, "ge" >=. */
type Comparison = 'le' | 'lt' | 'ge';

interface TargetSpec {
    readonly text: string;
    readonly limit: number;
    readonly cmp: Comparison;
}

/** Every target, in the order of the report's targets table. */
export const TARGETS = {
    'p95-vs-static': { text: 'zeta completion p95 first token <= 0.5x static', limit: 0.5, cmp: 'le' },
    'p95-vs-best-baseline': { text: 'zeta completion p95 first token <= 0.8x the best other baseline', limit: 0.8, cmp: 'le' },
    'p95-vs-isolated': { text: 'zeta completion p95 first token <= 1.3x isolated', limit: 1.3, cmp: 'le' },
    'wasted-share': { text: 'zeta wasted-token share <= 0.5x static', limit: 0.5, cmp: 'le' },
    'coder-share': { text: 'at least 70% of zeta served completions from the coder', limit: 0.7, cmp: 'ge' },
    'explain-p95': { text: 'zeta explain p95 first token <= 1.5x static', limit: 1.5, cmp: 'le' },
    'index-done': { text: 'indexing finishes no later than 1.5x static', limit: 1.5, cmp: 'le' },
    'decision-cost': { text: 'router decision cost p99 < 50 µs', limit: 50, cmp: 'lt' },
    'real-beats-all': { text: 'real mode: zeta completion p95 beats every baseline', limit: 1, cmp: 'lt' },
    'sim-fidelity': { text: 'sim p50 first token within ±30% of real, every policy', limit: 0.3, cmp: 'le' },
} as const satisfies Record<string, TargetSpec>;

export type TargetId = keyof typeof TARGETS;

function target(id: TargetId, value: number, detail: string): Target {
    const { text, limit, cmp } = TARGETS[id] as TargetSpec;
    const ok = cmp === 'le' ? value <= limit : cmp === 'lt' ? value < limit : value >= limit;
    const met = Number.isFinite(value) && Number.isFinite(limit) && ok;
    return { id, text, value, limit, met, detail };
}

/** The targets that apply to `mode`, evaluated; sim-fidelity only with `simVsReal`. */
export function evaluateTargets(
    mode: 'sim' | 'real',
    policies: Record<PolicyName, PolicyReport>,
    isolatedP95: number,
    decisionP99: number,
    simVsReal?: Report['simVsReal'],
): Target[] {
    const z = policies.zeta;
    const s = policies.static;
    const zp95 = z.completion.firstTokenMs.p95;
    const baselines = POLICY_NAMES.filter((p) => p !== 'zeta');
    const best = baselines.reduce((b, p) => (policies[p].completion.firstTokenMs.p95 < policies[b].completion.firstTokenMs.p95 ? p : b), baselines[0]);
    const bestP95 = policies[best].completion.firstTokenMs.p95;
    const r = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 0) : 'n/a');
    const out: Target[] = [];
    if (mode === 'sim') {
        out.push(target('p95-vs-static', zp95 / s.completion.firstTokenMs.p95, `${r(zp95)} ms vs static ${r(s.completion.firstTokenMs.p95)} ms`));
        out.push(target('p95-vs-best-baseline', zp95 / bestP95, `${r(zp95)} ms vs ${best} ${r(bestP95)} ms`));
        out.push(target('p95-vs-isolated', zp95 / isolatedP95, `${r(zp95)} ms vs isolated ${r(isolatedP95)} ms`));
    }
    out.push(target('wasted-share', z.wastedShare / s.wastedShare, `${(100 * z.wastedShare).toFixed(1)}% vs static ${(100 * s.wastedShare).toFixed(1)}% (counting reused prompt tokens as wasted too: ${(100 * z.wastedShareIgnoringReuse).toFixed(1)}% vs ${(100 * s.wastedShareIgnoringReuse).toFixed(1)}%, ${(z.wastedShareIgnoringReuse / s.wastedShareIgnoringReuse).toFixed(2)}x)`));
    const coder = z.completionsByModel.coder ?? 0;
    out.push(target('coder-share', coder, `${(100 * coder).toFixed(1)}% from the coder`));
    out.push(target('explain-p95', z.explain.firstTokenMs.p95 / s.explain.firstTokenMs.p95, `${r(z.explain.firstTokenMs.p95)} ms vs static ${r(s.explain.firstTokenMs.p95)} ms`));
    out.push(target('index-done', z.embed.indexDoneMs / s.embed.indexDoneMs, `${r(z.embed.indexDoneMs / 1000)} s vs static ${r(s.embed.indexDoneMs / 1000)} s`));
    out.push(target('decision-cost', decisionP99, `p99 ${r(decisionP99)} µs`));
    if (mode === 'real') {
        const worst = Math.max(...baselines.map((p) => zp95 / policies[p].completion.firstTokenMs.p95));
        out.push(target('real-beats-all', worst, baselines.map((p) => `${p} ${r(policies[p].completion.firstTokenMs.p95)} ms`).join(', ') + ` vs zeta ${r(zp95)} ms`));
        if (simVsReal) {
            const ratios = Object.values(simVsReal).map((v) => Math.abs(v.ratio - 1));
            out.push(target('sim-fidelity', Math.max(...ratios), Object.entries(simVsReal).map(([p, v]) => `${p} ${r(v.simP50)}/${r(v.realP50)} ms`).join(', ')));
        }
    }
    return out;
}
