/**
 * Workload traces: JSON Lines, one request a line, ordered by `t`.
 *
 *   {"t": ms (fractions allowed), "kind": "completion|edit|explain|refactorPlan|embed|embedQuery", "doc": "name",
 *    "promptTokens": n, "maxTokens": n, "items": n}
 *
 * Meaning of the fields (units: ms from the start of the trace, tokens):
 * - completion: `promptTokens` is the whole fill-in-the-middle context (prefix + suffix);
 *   the optional `suffixTokens` says how much of it lies after the cursor (default 0), and the
 *   optional `lineTokens` how much of the part before the cursor is the cursor line's text before
 *   the cursor (default 0: all of it is prefix, the layout before the middle existed). With
 *   llama.cpp's /infill layout that text goes after the middle marker, so
 *   `lineTokens <= promptTokens - suffixTokens`.
 *   Every completion is a keystroke and supersedes the previous completion for the same `doc`.
 * - edit / explain / refactorPlan: `promptTokens` of chat context, `maxTokens` to generate.
 * - embed: background indexing of file `doc` in `items` chunks of `promptTokens` tokens each.
 *   Embed lines form one sequential stream, like an indexer that awaits each file: a line is
 *   submitted at `t` or when the previous embed line settles, whichever is later.
 * - embedQuery: `items` query texts of `promptTokens` tokens (interactive search).
 */
import { TASK_KINDS, type TaskKind } from '../../src/core/tasks';

export interface TraceLine {
    readonly t: number;
    readonly kind: TaskKind;
    readonly doc: string;
    readonly promptTokens: number;
    readonly maxTokens: number;
    readonly items: number;
    /** Completions only: tokens of the prompt after the cursor (part of promptTokens). */
    readonly suffixTokens?: number;
    /**
     * Completions only: tokens of the cursor line before the cursor (part of the tokens before the
     * cursor, so at most promptTokens - suffixTokens). Absent or 0: everything before the cursor is
     * prefix.
     */
    readonly lineTokens?: number;
}

export interface Trace {
    readonly name: string;
    readonly lines: readonly TraceLine[];
    /**
     * Editor events, not requests: at `t` (ms) the editor shows `doc` with the cursor where the
     * completion line `line` (an index into `lines`) will be typed. The harness passes them to
     * `Router.readAhead`; no trace file carries them (`withFocus` adds them).
     */
    readonly focus?: readonly FocusEvent[];
}

export interface FocusEvent {
    readonly t: number;
    readonly doc: string;
    readonly line: number;
}

/**
 * The trace with a focus event before the first keystroke in each document the typist switches to
 * (and the first document typed in): `leadMs` before that keystroke, but not before the previous
 * keystroke in another document (the user was still typing there).
 */
export function withFocus(trace: Trace, leadMs: number): Trace {
    const focus: FocusEvent[] = [];
    let prev: TraceLine | undefined;
    trace.lines.forEach((l, i) => {
        if (l.kind !== 'completion') return;
        if (prev === undefined || prev.doc !== l.doc) focus.push({ t: Math.max(prev === undefined ? 0 : prev.t + 1, l.t - leadMs), doc: l.doc, line: i });
        prev = l;
    });
    return { name: `${trace.name} (read ahead ${leadMs} ms)`, lines: trace.lines, focus };
}

export class TraceError extends Error {
    override readonly name = 'TraceError';
}

function nonNegNumber(v: unknown, field: string, where: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new TraceError(`${where}: "${field}" must be a non-negative number, got ${JSON.stringify(v)}`);
    }
    return v;
}

function nonNegInt(v: unknown, field: string, where: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || Math.floor(v) !== v) {
        throw new TraceError(`${where}: "${field}" must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    return v;
}

/** Parses JSON Lines; blank lines are skipped. Throws TraceError naming the line and field. */
export function parseTrace(name: string, text: string): Trace {
    const lines: TraceLine[] = [];
    const raw = text.split('\n');
    let lastT = 0;
    for (let i = 0; i < raw.length; i++) {
        const s = raw[i].trim();
        if (s.length === 0) continue;
        const where = `${name}:${i + 1}`;
        let o: Record<string, unknown>;
        try {
            o = JSON.parse(s) as Record<string, unknown>;
        } catch (e) {
            throw new TraceError(`${where}: not JSON (${(e as Error).message})`);
        }
        const kind = o.kind;
        if (typeof kind !== 'string' || !(TASK_KINDS as readonly string[]).includes(kind)) {
            throw new TraceError(`${where}: "kind" must be one of ${TASK_KINDS.join('|')}, got ${JSON.stringify(kind)}`);
        }
        if (typeof o.doc !== 'string' || o.doc.length === 0) throw new TraceError(`${where}: "doc" must be a non-empty string`);
        // Milliseconds, fractions allowed (a recorded keystroke's time is rarely a whole ms).
        const t = nonNegNumber(o.t, 't', where);
        if (t < lastT) throw new TraceError(`${where}: "t" goes backwards (${t} < ${lastT})`);
        lastT = t;
        const line: TraceLine = {
            t,
            kind: kind as TaskKind,
            doc: o.doc,
            promptTokens: nonNegInt(o.promptTokens, 'promptTokens', where),
            maxTokens: nonNegInt(o.maxTokens, 'maxTokens', where),
            items: nonNegInt(o.items ?? 1, 'items', where),
            ...(o.suffixTokens !== undefined ? { suffixTokens: nonNegInt(o.suffixTokens, 'suffixTokens', where) } : {}),
            ...(o.lineTokens !== undefined ? { lineTokens: nonNegInt(o.lineTokens, 'lineTokens', where) } : {}),
        };
        if (line.suffixTokens !== undefined && line.suffixTokens > line.promptTokens) {
            throw new TraceError(`${where}: "suffixTokens" (${line.suffixTokens}) exceeds "promptTokens" (${line.promptTokens})`);
        }
        const before = line.promptTokens - (line.suffixTokens ?? 0);
        if (line.lineTokens !== undefined && line.lineTokens > before) {
            throw new TraceError(`${where}: "lineTokens" (${line.lineTokens}) exceeds "promptTokens" - "suffixTokens" (${before})`);
        }
        lines.push(line);
    }
    return { name, lines };
}

export function serializeTrace(lines: readonly TraceLine[]): string {
    return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}

/** The trace's completions alone: the input of the `isolated` replay. */
export function completionsOnly(trace: Trace): Trace {
    const lines = trace.lines.filter((l) => l.kind === 'completion');
    const focus = trace.focus?.map((f) => ({ ...f, line: lines.indexOf(trace.lines[f.line]) }));
    return { name: `${trace.name} (completions only)`, lines, ...(focus ? { focus } : {}) };
}

export interface TraceSummary {
    readonly durationMs: number;
    readonly counts: Readonly<Partial<Record<TaskKind, number>>>;
    readonly embedChunks: number;
}

export function summarize(trace: Trace): TraceSummary {
    const counts: Partial<Record<TaskKind, number>> = {};
    let embedChunks = 0;
    for (const l of trace.lines) {
        counts[l.kind] = (counts[l.kind] ?? 0) + 1;
        if (l.kind === 'embed') embedChunks += l.items;
    }
    const last = trace.lines[trace.lines.length - 1];
    return { durationMs: last ? last.t : 0, counts, embedChunks };
}
