/**
 * A small reader of the Prometheus text exposition format (version 0.0.4), enough for the load
 * metrics engines publish: llama-server's `/metrics` (`llamacpp:requests_processing`, ...) and vLLM's
 * (`vllm:num_requests_running{model_name="..."}`, ...).
 *
 * Invariants: parsing never throws; a line it cannot read is skipped (and counted in `skipped`), so
 * one odd metric cannot hide the others. `# HELP` and `# TYPE` lines give the type of a family;
 * other comments are ignored. Timestamps after a value are accepted and dropped.
 */

export interface Sample {
    /** The metric's name as written, e.g. `llamacpp:requests_processing` or `vllm:num_requests_running`. */
    readonly name: string;
    /** Label names to values (unescaped); empty when the sample has none. */
    readonly labels: Readonly<Record<string, string>>;
    /** The value; NaN and ±Inf are kept as such. */
    readonly value: number;
}

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Metrics {
    /** Every sample, in the order the text gives them. */
    readonly samples: readonly Sample[];
    /** `# TYPE` declarations, by family name. */
    readonly types: ReadonlyMap<string, MetricType>;
    /** Lines that were neither blank, a comment, nor a readable sample. */
    readonly skipped: number;
}

const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** A metric name: letters, digits, `_` and `:` (not starting with a digit). */
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

/** Parses an exposition text. */
export function parsePrometheus(text: string): Metrics {
    const samples: Sample[] = [];
    const types = new Map<string, MetricType>();
    let skipped = 0;
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (line === '') continue;
        if (line.startsWith('#')) {
            const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
            if (m && TYPES.has(m[2])) types.set(m[1], m[2] as MetricType);
            continue;
        }
        const sample = parseSample(line);
        if (sample) samples.push(sample);
        else skipped++;
    }
    return { samples, types, skipped };
}

function parseSample(line: string): Sample | undefined {
    const nameMatch = NAME.exec(line);
    if (!nameMatch) return undefined;
    const name = nameMatch[0];
    let pos = name.length;
    const labels: Record<string, string> = {};
    if (line[pos] === '{') {
        const end = parseLabels(line, pos + 1, labels);
        if (end < 0) return undefined;
        pos = end;
    }
    const rest = line.slice(pos).trim().split(/\s+/);
    if (rest.length < 1 || rest[0] === '') return undefined;
    const value = parseValue(rest[0]);
    if (value === undefined) return undefined;
    return { name, labels, value };
}

/** Reads `a="x",b="y"}` from `from` into `labels`; the index after `}`, or -1 when malformed. */
function parseLabels(line: string, from: number, labels: Record<string, string>): number {
    let i = from;
    for (;;) {
        while (line[i] === ' ' || line[i] === ',') i++;
        if (line[i] === '}') return i + 1;
        const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
        if (!m) return -1;
        const key = m[0];
        i += key.length;
        while (line[i] === ' ') i++;
        if (line[i] !== '=') return -1;
        i++;
        while (line[i] === ' ') i++;
        if (line[i] !== '"') return -1;
        i++;
        let value = '';
        for (;;) {
            const c = line[i];
            if (c === undefined) return -1;
            if (c === '"') {
                i++;
                break;
            }
            if (c === '\\') {
                const n = line[i + 1];
                value += n === 'n' ? '\n' : (n ?? '');
                i += 2;
                continue;
            }
            value += c;
            i++;
        }
        labels[key] = value;
    }
}

function parseValue(text: string): number | undefined {
    switch (text) {
        case 'NaN':
            return Number.NaN;
        case '+Inf':
        case 'Inf':
            return Number.POSITIVE_INFINITY;
        case '-Inf':
            return Number.NEGATIVE_INFINITY;
    }
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined;
    return Number(text);
}

/**
 * The sum of the samples named `name` whose labels include every pair in `match` (e.g. one model's
 * series on a vLLM serving several); undefined when there is none.
 */
export function metricValue(metrics: Metrics, name: string, match: Readonly<Record<string, string>> = {}): number | undefined {
    let sum: number | undefined;
    for (const s of metrics.samples) {
        if (s.name !== name) continue;
        if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
        sum = (sum ?? 0) + s.value;
    }
    return sum;
}

/**
 * A rate from two readings of a counter (units per second): undefined before a second reading, when
 * no time passed, or when the counter went down (the engine restarted: its counters began again).
 * `atMs` are clock milliseconds.
 */
export function counterRate(previous: { value: number; atMs: number } | undefined, current: { value: number; atMs: number }): number | undefined {
    if (!previous) return undefined;
    const dt = current.atMs - previous.atMs;
    const dv = current.value - previous.value;
    if (!(dt > 0) || dv < 0) return undefined;
    return (dv * 1000) / dt;
}
