/** Trace files on disk, and regeneration of a shipped trace with another seed. */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseTrace, type Trace } from './trace';
import { DEFAULT_TRACE_SEED, TRACES_DIR, TRACE_SPECS, generateTrace } from './generate';

/** The file of the shipped trace `name` (a TRACE_SPECS name). */
export function shippedTrace(name: string): string {
    return join(TRACES_DIR, `${name}.jsonl`);
}

/**
 * Loads a trace file. With a seed other than the shipped one, a shipped trace is regenerated
 * from its spec with that seed instead (same shape, different random draws).
 */
export function loadTraceFile(file: string, seed: number): Trace {
    const name = basename(file).replace(/\.jsonl$/, '');
    if (seed !== DEFAULT_TRACE_SEED) {
        const spec = TRACE_SPECS.find((s) => s.name === name);
        if (!spec) throw new Error(`--seed ${seed}: "${name}" is not a shipped trace, so it cannot be regenerated`);
        return { name, lines: generateTrace(spec, seed) };
    }
    return parseTrace(name, readFileSync(file, 'utf8'));
}
