/**
 * The typing script of `--workbench`: bursts of keystrokes and the pauses after them, fixed by a
 * seed. Every round types the same script into the same document, so the policies see the same
 * keystrokes at the same gaps.
 *
 * A burst is a piece of one code line (a line is cut at spaces into pieces of about 5-16 keys);
 * each line after the first starts with Enter. The lines are flat Python statements (no line ends
 * with ":"), so the editor's auto-indentation never changes what the next line starts with.
 * Units: ms.
 */
import { createRng } from '../../lib/rng';

/** A key as Playwright names it: one printable character, or "Enter". */
export type ScriptKey = string;

export interface Burst {
    /** The keys, in order. */
    readonly keys: readonly ScriptKey[];
    /** Before each key: the gap after the previous key (the first key's is 0: it ends a pause). */
    readonly gapsMs: readonly number[];
    /** After the last key: how long the typist waits before the next burst. */
    readonly pauseMs: number;
}

export interface TypingScript {
    readonly seed: number;
    readonly bursts: readonly Burst[];
}

export interface ScriptOptions {
    readonly seed: number;
    /** At most this many bursts (fewer when the lines run out). */
    readonly bursts: number;
    readonly keyGapMs?: readonly [number, number];
    readonly pauseMs?: readonly [number, number];
    /** Keys per burst: a piece of a line is cut at the first space at or after this many characters. */
    readonly burstKeys?: readonly [number, number];
    readonly lines?: readonly string[];
}

export const DEFAULT_KEY_GAP_MS: readonly [number, number] = [60, 120];
export const DEFAULT_PAUSE_MS: readonly [number, number] = [800, 1500];
export const DEFAULT_BURST_KEYS: readonly [number, number] = [5, 16];

/**
 * Typed at the end of the e2e fixture's src/geometry.py (which defines `distance` and
 * `perimeter`). Flat statements only; no quotes.
 */
export const SCRIPT_LINES: readonly string[] = [
    'origin = (0.0, 0.0)',
    'corners = [(0, 0), (4, 0), (4, 3), (0, 3)]',
    'def midpoint(a, b): return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)',
    'def scale(points, k): return [(p[0] * k, p[1] * k) for p in points]',
    'edges = [distance(corners[i], corners[i - 1]) for i in range(len(corners))]',
    'longest = max(edges)',
    'bigger = scale(corners, 2.5)',
    'print(perimeter(corners), perimeter(bigger), midpoint(origin, corners[2]))',
];

/** Cuts a line into pieces at spaces: each piece at least `min` characters when the line allows. */
function cutLine(line: string, next: () => number): string[] {
    const pieces: string[] = [];
    let rest = line;
    while (rest.length > 0) {
        const want = Math.round(next());
        let at = rest.indexOf(' ', want);
        // The space goes with the piece before it: the next burst starts on a word.
        at = at < 0 ? rest.length : at + 1;
        // A short tail joins its piece rather than make a burst of one or two keys.
        if (rest.length - at < 3) at = rest.length;
        pieces.push(rest.slice(0, at));
        rest = rest.slice(at);
    }
    return pieces;
}

/** The script for `opts.seed`: the same seed always gives the same script. */
export function typingScript(opts: ScriptOptions): TypingScript {
    const [gapLo, gapHi] = opts.keyGapMs ?? DEFAULT_KEY_GAP_MS;
    const [pauseLo, pauseHi] = opts.pauseMs ?? DEFAULT_PAUSE_MS;
    const [keysLo, keysHi] = opts.burstKeys ?? DEFAULT_BURST_KEYS;
    const lines = opts.lines ?? SCRIPT_LINES;
    if (!(Number.isInteger(opts.bursts) && opts.bursts >= 1)) throw new Error(`a script needs at least one burst, got ${opts.bursts}`);
    if (!(gapLo > 0 && gapHi >= gapLo && pauseLo > 0 && pauseHi >= pauseLo && keysLo >= 1 && keysHi >= keysLo)) throw new Error('a script needs positive, ordered ranges');
    const rng = createRng(opts.seed);
    const bursts: Burst[] = [];
    for (let li = 0; li < lines.length && bursts.length < opts.bursts; li++) {
        const pieces = cutLine(lines[li], () => rng.uniform(keysLo, keysHi));
        for (let pi = 0; pi < pieces.length && bursts.length < opts.bursts; pi++) {
            const keys: ScriptKey[] = [...(li > 0 && pi === 0 ? ['Enter'] : []), ...pieces[pi]];
            const gapsMs = keys.map((_, i) => (i === 0 ? 0 : Math.round(rng.uniform(gapLo, gapHi))));
            bursts.push({ keys, gapsMs, pauseMs: Math.round(rng.uniform(pauseLo, pauseHi)) });
        }
    }
    return { seed: opts.seed, bursts };
}

/** The text the script leaves after the document's last line (Enter as "\n"). */
export function scriptText(script: TypingScript): string {
    return script.bursts.map((b) => b.keys.map((k) => (k === 'Enter' ? '\n' : k)).join('')).join('');
}

/** How long one round of the script takes to type, pauses included (ms). */
export function scriptDurationMs(script: TypingScript): number {
    let ms = 0;
    for (const b of script.bursts) ms += b.gapsMs.reduce((a, g) => a + g, 0) + b.pauseMs;
    return ms;
}

export function scriptKeyCount(script: TypingScript): number {
    return script.bursts.reduce((n, b) => n + b.keys.length, 0);
}
