/**
 * Evidence from Zeta's output channel (its log file, at debug level) that a round ran with the
 * settings it was meant to: every completion the router routed in the round names the policy in
 * force (`route #12 completion -> coder [static]: ...`), and every completion served names the
 * debounce it waited (`completion #12 by coder in 41 ms (debounce 350 ms, ...)`).
 * The lines' times are the extension host's local wall clock (ms).
 */

export interface LogEntry {
    /** Local wall-clock time, ms since the epoch. */
    readonly at: number;
    readonly kind: 'route' | 'completion';
    readonly taskId: number;
    readonly modelId: string;
    /** route: the policy in brackets. */
    readonly policy?: string;
    /** completion: the debounce it waited (ms). */
    readonly debounceMs?: number;
}

const STAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}) \[\w+\] /;
const ROUTE = /^route #(\d+) completion -> (\S+) \[([\w-]+)\]/;
const COMPLETION = /^completion #(\d+) by (\S+) in \d+ ms \(debounce (\d+) ms/;

/** The route and completion lines of completions in a Zeta log; other lines are skipped. */
export function parseZetaLog(text: string): LogEntry[] {
    const out: LogEntry[] = [];
    for (const line of text.split('\n')) {
        const s = STAMP.exec(line);
        if (!s) continue;
        const at = new Date(+s[1], +s[2] - 1, +s[3], +s[4], +s[5], +s[6], +s[7]).getTime();
        const rest = line.slice(s[0].length);
        const r = ROUTE.exec(rest);
        if (r) {
            out.push({ at, kind: 'route', taskId: +r[1], modelId: r[2], policy: r[3] });
            continue;
        }
        const c = COMPLETION.exec(rest);
        if (c) out.push({ at, kind: 'completion', taskId: +c[1], modelId: c[2], debounceMs: +c[3] });
    }
    return out;
}

export interface RoundEvidence {
    /** Completions routed in the round, by the policy each route line names. */
    readonly routedBy: Record<string, number>;
    /** Completions served (and logged) in the round, by model. */
    readonly servedBy: Record<string, number>;
    /** The smallest and largest debounce the served completions waited (ms); null with none. */
    readonly debounceMs: readonly [number, number] | null;
    /** Every route named `policy` and every debounce lay in [minMs, maxMs], with at least one route. */
    readonly inForce: boolean;
}

/**
 * What the log says about one round: the entries in [from, to] (wall clock, ms), checked against the
 * policy and debounce bounds the round set.
 */
export function roundEvidence(entries: readonly LogEntry[], from: number, to: number, want: { readonly policy: string; readonly minMs: number; readonly maxMs: number }): RoundEvidence {
    const routedBy: Record<string, number> = {};
    const servedBy: Record<string, number> = {};
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const e of entries) {
        if (e.at < from || e.at > to) continue;
        if (e.kind === 'route' && e.policy !== undefined) routedBy[e.policy] = (routedBy[e.policy] ?? 0) + 1;
        if (e.kind === 'completion' && e.debounceMs !== undefined) {
            servedBy[e.modelId] = (servedBy[e.modelId] ?? 0) + 1;
            lo = Math.min(lo, e.debounceMs);
            hi = Math.max(hi, e.debounceMs);
        }
    }
    const debounceMs: [number, number] | null = Number.isFinite(lo) ? [lo, hi] : null;
    const policies = Object.keys(routedBy);
    const inForce = policies.length === 1 && policies[0] === want.policy
        && (debounceMs === null || (debounceMs[0] >= want.minMs && debounceMs[1] <= want.maxMs));
    return { routedBy, servedBy, debounceMs, inForce };
}
