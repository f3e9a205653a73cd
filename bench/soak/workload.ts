/**
 * The soak's editing session: an endless sequence of epochs, each a trace generated from one of
 * the real-mode specs (sized for the generated CPU models) with its own seed, so no stretch of the
 * session repeats another's keystrokes, pauses, chats or indexing. Every epoch adds search queries
 * and, in the explain-heavy one, refactor plans; every document switched to is shown before its
 * first keystroke (a focus event: the pipeline's read-ahead). Pure.
 */
import { TRACE_SPECS, generateTrace, type TraceSpec } from '../workload/generate';
import { hashString } from '../lib/rng';
import { withFocus, type Trace } from '../workload/trace';

/** A document is shown this long (ms) before its first keystroke (`withFocus`). */
export const FOCUS_LEAD_MS = 600;

function spec(name: string): TraceSpec {
    const s = TRACE_SPECS.find((x) => x.name === name);
    if (!s) throw new Error(`no trace spec ${name}`);
    return s;
}

/** Search queries: one every 8-20 s, 12 tokens each. */
const QUERIES = { everyMs: [8_000, 20_000], tokens: 12 } as const;

/** The epochs' specs, played in turn: 60 + 40 + 40 s. */
export const SOAK_SPECS: readonly TraceSpec[] = [
    { ...spec('real-typing-indexing'), queries: QUERIES },
    { ...spec('real-heavy-indexing'), queries: QUERIES },
    ((): TraceSpec => {
        const s = spec('real-explain-heavy');
        return { ...s, queries: QUERIES, chats: [...s.chats, { kind: 'refactorPlan', everyMs: [15_000, 30_000], promptTokens: [150, 300], maxTokens: 32 }] };
    })(),
];

/** Epoch `index` of the session drawn with `seed`: its spec in turn, its own seed, focus events added. */
export function epochTrace(index: number, seed: number): Trace {
    const s = SOAK_SPECS[index % SOAK_SPECS.length];
    const epochSeed = hashString(`soak:${seed}:${index}`);
    return withFocus({ name: `${s.name}#${index}`, lines: generateTrace(s, epochSeed) }, FOCUS_LEAD_MS);
}
