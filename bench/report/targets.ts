/**
 * The targets of issue 19 §3 (time to suggestion, with its guards) and real mode's: each one's text
 * and limit (TARGETS), and their evaluation from a run's numbers (`evaluateTargets`). A target's
 * value is a ratio, a share, or µs, as its text says. "Time to suggestion" is over the completions
 * the user waited for (bench/replay/metrics.ts `waitedFor`): from the keystroke to the suggestion
 * the provider returns.
 */
import { BASELINES, type BenchPolicy } from '../policies';
import type { PolicyReport, Report, RoundRatio, Target } from './report';

/** How a value must compare with its limit: "le" <=, "lt" <, "ge" >=. */
type Comparison = 'le' | 'lt' | 'ge';

interface TargetSpec {
    readonly text: string;
    readonly limit: number;
    readonly cmp: Comparison;
}

/** Every target, in the order of the report's targets table. */
export const TARGETS = {
    'tts-p50-vs-static': { text: 'zeta time to suggestion p50 <= 0.6x static (350 ms debounce)', limit: 0.6, cmp: 'le' },
    'tts-p95-vs-static': { text: 'zeta time to suggestion p95 <= 0.6x static (350 ms debounce)', limit: 0.6, cmp: 'le' },
    'tts-p50-vs-nodebounce': { text: 'zeta time to suggestion p50 <= 0.9x static-nodebounce', limit: 0.9, cmp: 'le' },
    'tts-p95-vs-nodebounce': { text: 'zeta time to suggestion p95 <= 0.9x static-nodebounce', limit: 0.9, cmp: 'le' },
    'tts-p95-vs-others': { text: 'zeta time to suggestion p95 <= 0.8x every other baseline', limit: 0.8, cmp: 'le' },
    'tts-p50-vs-isolated': { text: 'zeta time to suggestion p50 <= 1.2x isolated', limit: 1.2, cmp: 'le' },
    'tts-p95-vs-isolated': { text: 'zeta time to suggestion p95 <= 1.2x isolated', limit: 1.2, cmp: 'le' },
    'explain-p95': { text: 'guard: zeta explain p95 first token <= 1.0x static', limit: 1.0, cmp: 'le' },
    'index-done': { text: 'guard: indexing done <= 1.3x static', limit: 1.3, cmp: 'le' },
    'coder-share': { text: 'guard: at least 70% of zeta served completions from the coder', limit: 0.7, cmp: 'ge' },
    'decision-cost': { text: 'router decision cost p99 < 50 µs', limit: 50, cmp: 'lt' },
    'real-beats-all': { text: "real mode: zeta time to suggestion p95 / every baseline's, upper end of its 90% interval over rounds < 1", limit: 1, cmp: 'lt' },
    'sim-fidelity': { text: 'sim p50 time to suggestion within ±30% of real, every policy (real mode: pooled rounds)', limit: 0.3, cmp: 'le' },
} as const satisfies Record<string, TargetSpec>;

export type TargetId = keyof typeof TARGETS;

function target(id: TargetId, value: number, detail: string): Target {
    const { text, limit, cmp } = TARGETS[id] as TargetSpec;
    const ok = cmp === 'le' ? value <= limit : cmp === 'lt' ? value < limit : value >= limit;
    const met = Number.isFinite(value) && Number.isFinite(limit) && ok;
    return { id, text, value, limit, met, detail };
}

/**
 * The targets that apply to `mode`, evaluated; sim-fidelity only with `simVsReal`, real-beats-all
 * only with `zetaVs` (real mode's ratios over rounds). `isolated`: time
 * to suggestion of zeta's pipeline on the trace's completions alone. Waste is reported beside them,
 * not a target: tokens saved at the cost of a later suggestion are no gain.
 */
export function evaluateTargets(
    mode: 'sim' | 'real',
    policies: Record<BenchPolicy, PolicyReport>,
    isolated: { readonly p50: number; readonly p95: number },
    decisionP99: number,
    simVsReal?: Report['simVsReal'],
    zetaVs?: Report['zetaVs'],
): Target[] {
    const tts = (p: BenchPolicy): { p50: number; p95: number } => policies[p].suggestion.waitedFor;
    const z = policies.zeta;
    const s = policies.static;
    const r = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 0) : 'n/a');
    const vs = (q: 'p50' | 'p95', p: BenchPolicy): [number, string] => [tts('zeta')[q] / tts(p)[q], `${r(tts('zeta')[q])} ms vs ${p} ${r(tts(p)[q])} ms`];
    const out: Target[] = [];
    if (mode === 'sim') {
        out.push(target('tts-p50-vs-static', ...vs('p50', 'static')));
        out.push(target('tts-p95-vs-static', ...vs('p95', 'static')));
        out.push(target('tts-p50-vs-nodebounce', ...vs('p50', 'static-nodebounce')));
        out.push(target('tts-p95-vs-nodebounce', ...vs('p95', 'static-nodebounce')));
        const others = BASELINES.filter((p) => p !== 'static' && p !== 'static-nodebounce');
        const worst = Math.max(...others.map((p) => tts('zeta').p95 / tts(p).p95));
        out.push(target('tts-p95-vs-others', worst, others.map((p) => `${p} ${r(tts(p).p95)} ms`).join(', ') + ` vs zeta ${r(tts('zeta').p95)} ms`));
        out.push(target('tts-p50-vs-isolated', tts('zeta').p50 / isolated.p50, `${r(tts('zeta').p50)} ms vs isolated ${r(isolated.p50)} ms`));
        out.push(target('tts-p95-vs-isolated', tts('zeta').p95 / isolated.p95, `${r(tts('zeta').p95)} ms vs isolated ${r(isolated.p95)} ms`));
    }
    out.push(target('explain-p95', z.explain.firstTokenMs.p95 / s.explain.firstTokenMs.p95, `${r(z.explain.firstTokenMs.p95)} ms vs static ${r(s.explain.firstTokenMs.p95)} ms`));
    out.push(target('index-done', z.embed.indexDoneMs / s.embed.indexDoneMs, `${r(z.embed.indexDoneMs / 1000)} s vs static ${r(s.embed.indexDoneMs / 1000)} s`));
    const coder = z.completionsByModel.coder ?? 0;
    out.push(target('coder-share', coder, `${(100 * coder).toFixed(1)}% from the coder`));
    out.push(target('decision-cost', decisionP99, `p99 ${r(decisionP99)} µs`));
    if (mode === 'real') {
        // Over interleaved rounds (bench/real/rounds.ts): the interval's upper end for every baseline.
        if (zetaVs) {
            const of = (p: BenchPolicy): RoundRatio => zetaVs[p]?.waitedForP95Ratio ?? { median: Number.NaN, ci90: [Number.NaN, Number.NaN] };
            const upper = BASELINES.map((p) => of(p).ci90[1]);
            const worst = upper.some((u) => !Number.isFinite(u)) ? Number.NaN : Math.max(...upper);
            out.push(target('real-beats-all', worst, BASELINES.map((p) => `${p} ${r(of(p).median)} (${r(of(p).ci90[0])}-${r(of(p).ci90[1])})`).join(', ') + ': zeta p95 / baseline p95, median over rounds (90% interval)'));
        }
        if (simVsReal) {
            const ratios = Object.values(simVsReal).map((v) => Math.abs(v.ratio - 1));
            out.push(target('sim-fidelity', Math.max(...ratios), Object.entries(simVsReal).map(([p, v]) => `${p} ${r(v.simP50)}/${r(v.realP50)} ms`).join(', ')));
        }
    }
    return out;
}
