/**
 * The five choice rules. Each picks one of the usable candidates (not excluded) and says why.
 *   static:         the task kind's fixed model (coder: completion/edit; reasoner: explain/
 *                   refactorPlan; embedder: embed/embedQuery); FIFO; falls back to the first
 *                   usable model only when that one cannot serve.
 *   round-robin:    the next usable model after the last one chosen for this kind.
 *   least-busy:     fewest running + waiting.
 *   lowest-latency: lowest mean of the model's last 10 end-to-end latencies.
 *   zeta:           lowest predicted finish + quality penalty (with spill off: the fixed model).
 * Ties go to the preferred model, then to registration order.
 */
import type { PolicyName } from '../tasks';
import type { Candidate, ReasonCode } from './decision';

export interface Choice {
    index: number;
    code: ReasonCode;
}

function usable(c: Candidate): boolean {
    return c.excluded === undefined;
}

/** Index of the minimum of `key` over usable candidates; ties prefer `preferred`, then lower index. */
function argmin(cands: readonly Candidate[], preferred: number, key: (c: Candidate) => number): number {
    let best = -1;
    let bestKey = Number.POSITIVE_INFINITY;
    if (preferred >= 0 && usable(cands[preferred])) {
        best = preferred;
        bestKey = key(cands[preferred]);
    }
    for (let i = 0; i < cands.length; i++) {
        const c = cands[i];
        if (i === preferred || !usable(c)) continue;
        const k = key(c);
        if (k < bestKey || best < 0) {
            best = i;
            bestKey = k;
        }
    }
    return best;
}

const byNothing = (): number => 0;
const byScore = (c: Candidate): number => c.score;
const byBusy = (c: Candidate): number => c.inFlight + c.queued;
const byLatency = (c: Candidate): number => c.meanLatencyMs;

/**
 * @param preferred index of the kind's fixed model, or -1.
 * @param cursor    round-robin: index after the last model chosen for this kind.
 */
export function choose(policy: PolicyName, cands: readonly Candidate[], preferred: number, cursor: number, spill: boolean): Choice {
    const out: Choice = { index: -1, code: 'none' };
    switch (policy) {
        case 'static': {
            // Falls back only when the fixed model cannot serve at all, never because it is busy.
            if (preferred >= 0 && usable(cands[preferred])) out.index = preferred;
            else if (preferred < 0 || cands[preferred].excluded !== 'queue full') out.index = argmin(cands, -1, byNothing);
            out.code = out.index === preferred ? 'static' : 'spill';
            break;
        }
        case 'round-robin': {
            const n = cands.length;
            for (let k = 0; k < n; k++) {
                const i = (cursor + k) % n;
                if (usable(cands[i])) {
                    out.index = i;
                    break;
                }
            }
            out.code = 'round-robin';
            break;
        }
        case 'least-busy':
            out.index = argmin(cands, preferred, byBusy);
            out.code = 'least-busy';
            break;
        case 'lowest-latency':
            out.index = argmin(cands, preferred, byLatency);
            out.code = 'lowest-latency';
            break;
        case 'zeta':
        default:
            if (!spill && preferred >= 0 && usable(cands[preferred])) out.index = preferred;
            else out.index = argmin(cands, preferred, byScore);
            out.code = out.index === preferred || preferred < 0 ? 'best' : 'spill';
            break;
    }
    if (out.index < 0) out.code = 'none';
    return out;
}
