/**
 * What `--workbench` measures, from timestamps taken inside the page (`performance.now()`, ms):
 * each key event (a `keydown` listener on the window, capture phase) and each time ghost text is
 * rendered (a MutationObserver that notes when nodes matching GHOST_SELECTOR, scripts/workbenchDom.ts,
 * are added or their text changes), plus the start and end of each burst's window as the driver marks them.
 *
 * Time to suggestion for a pause = the first ghost render after the burst's last keystroke, within
 * the pause, minus that keystroke's time. A pause that ends with no ghost text counts as the whole
 * pause (from the last keystroke to the pause's end mark) and as unanswered.
 */
import { percentile, percentileSorted } from '../../lib/stats';


/** Keys that are modifiers, not typed: their key events are not keystrokes of the script. */
const MODIFIER_KEYS = new Set(['Shift', 'Control', 'Alt', 'Meta', 'CapsLock', 'AltGraph']);

export interface KeyEvent {
    readonly t: number;
    readonly key: string;
}

/** One burst's window in page time: from just before its first key to the end of its pause. */
export interface BurstWindow {
    readonly start: number;
    readonly end: number;
}

/** What the page recorded during one round. */
export interface RoundLog {
    readonly keys: readonly KeyEvent[];
    /** Times at which ghost text was rendered (added, or its text changed), ascending. */
    readonly ghosts: readonly number[];
    readonly bursts: readonly BurstWindow[];
}

export interface PauseTiming {
    readonly burst: number;
    /** Key events seen in the burst's window (modifiers excluded). */
    readonly keys: number;
    /** Last keystroke to ghost text, or to the pause's end when none came (ms). */
    readonly ms: number;
    readonly answered: boolean;
}

/**
 * Per burst: the time to suggestion. A burst whose window holds no key event (the page missed the
 * keys: a driver fault) is left out and counted in `missing`.
 */
export function pauseTimings(log: RoundLog): { readonly pauses: PauseTiming[]; readonly missing: number } {
    const keys = log.keys.filter((k) => !MODIFIER_KEYS.has(k.key)).map((k) => k.t).sort((a, b) => a - b);
    const ghosts = [...log.ghosts].sort((a, b) => a - b);
    const pauses: PauseTiming[] = [];
    let missing = 0;
    log.bursts.forEach((w, burst) => {
        const inWindow = keys.filter((t) => t >= w.start && t < w.end);
        if (inWindow.length === 0) {
            missing++;
            return;
        }
        const last = inWindow[inWindow.length - 1];
        const ghost = ghosts.find((g) => g > last && g <= w.end);
        pauses.push(ghost === undefined
            ? { burst, keys: inWindow.length, ms: w.end - last, answered: false }
            : { burst, keys: inWindow.length, ms: ghost - last, answered: true });
    });
    return { pauses, missing };
}

export interface Summary {
    /** Pauses measured. */
    readonly n: number;
    readonly answered: number;
    readonly unanswered: number;
    /** Over every pause, an unanswered one counting as its whole length (ms). */
    readonly p50: number;
    readonly p95: number;
    /** Over the answered pauses only (ms). */
    readonly answeredP50: number;
    readonly answeredP95: number;
}

export function summarize(pauses: readonly PauseTiming[]): Summary {
    const all = pauses.map((p) => p.ms);
    const answered = pauses.filter((p) => p.answered).map((p) => p.ms);
    return {
        n: pauses.length,
        answered: answered.length,
        unanswered: pauses.length - answered.length,
        p50: percentile(all, 50),
        p95: percentile(all, 95),
        answeredP50: percentile(answered, 50),
        answeredP95: percentile(answered, 95),
    };
}

/** a / b, or NaN when either is not a positive finite number. */
export function ratio(a: number, b: number): number {
    return Number.isFinite(a) && Number.isFinite(b) && a > 0 && b > 0 ? a / b : Number.NaN;
}

/**
 * A percentile bootstrap interval for the ratio of two samples' `p`-th percentiles (a / b): each
 * resample draws both samples anew, with replacement, from `next` (uniform in [0, 1)). How far the
 * ratio could have landed from these pauses alone; an interval across 1 leaves its sign open.
 * Empty samples: [NaN, NaN].
 */
export function ratioInterval(a: readonly number[], b: readonly number[], p: number, level: number, resamples: number, next: () => number): [number, number] {
    if (a.length === 0 || b.length === 0) return [Number.NaN, Number.NaN];
    const resampled = (values: readonly number[]): number => {
        const draw = Array.from({ length: values.length }, () => values[Math.floor(next() * values.length)]);
        return percentileSorted(draw.sort((x, y) => x - y), p);
    };
    const ratios: number[] = [];
    for (let i = 0; i < resamples; i++) {
        const r = ratio(resampled(a), resampled(b));
        if (Number.isFinite(r)) ratios.push(r);
    }
    ratios.sort((x, y) => x - y);
    return [percentileSorted(ratios, (100 * (1 - level)) / 2), percentileSorted(ratios, (100 * (1 + level)) / 2)];
}

/**
 * Whether two ratios (zeta / static) say the same thing: both below 1 (zeta faster), both above 1,
 * or both exactly 1. Null when either is missing.
 */
export function agreeInSign(a: number | null, b: number | null): boolean | null {
    if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b)) return null;
    return Math.sign(Math.log(a)) === Math.sign(Math.log(b));
}

/**
 * The sim's ratio from a sim report.json: `policies.<p>.suggestion.waitedFor.p95`, zeta over static.
 * Undefined fields (an older report) give null with the reason.
 */
export function simRatio(report: unknown): { readonly ratio: number | null; readonly zetaP95: number | null; readonly staticP95: number | null; readonly note?: string } {
    const p95 = (policy: string): number | null => {
        const v = (report as { policies?: Record<string, { suggestion?: { waitedFor?: { p95?: unknown } } }> } | undefined)?.policies?.[policy]?.suggestion?.waitedFor?.p95;
        return typeof v === 'number' && Number.isFinite(v) ? v : null;
    };
    const z = p95('zeta');
    const s = p95('static');
    if (z === null || s === null) return { ratio: null, zetaP95: z, staticP95: s, note: 'the sim report has no policies.{zeta,static}.suggestion.waitedFor.p95' };
    const r = ratio(z, s);
    return Number.isFinite(r) ? { ratio: r, zetaP95: z, staticP95: s } : { ratio: null, zetaP95: z, staticP95: s, note: 'a sim p95 is not positive' };
}

/**
 * The recorder installed in the page (run by `page.evaluate`; it must not refer to anything
 * outside itself). Idempotent. `window.__zetaBench` then holds the logs; `take()` returns and
 * clears them. Helpers are methods, not `const f = () => ...`: tsx (esbuild, keepNames) wraps a
 * named function in `__name(...)`, which does not exist in the page.
 */
export function installRecorder(selector: string): void {
    interface Recorder {
        keys: { t: number; key: string }[];
        ghosts: number[];
        take(): { keys: { t: number; key: string }[]; ghosts: number[] };
        /** Whether a node is ghost text, inside it, or holds some. */
        isGhost(n: Node | null): boolean;
    }
    const w = window as unknown as { __zetaBench?: Recorder };
    if (w.__zetaBench) return;
    const rec: Recorder = {
        keys: [],
        ghosts: [],
        take() {
            const out = { keys: rec.keys, ghosts: rec.ghosts };
            rec.keys = [];
            rec.ghosts = [];
            return out;
        },
        isGhost(n) {
            const el = n instanceof Element ? n : n?.parentElement;
            return !!el && (el.matches(selector) || el.closest(selector) !== null || el.querySelector(selector) !== null);
        },
    };
    w.__zetaBench = rec;
    window.addEventListener('keydown', (e) => rec.keys.push({ t: performance.now(), key: e.key }), true);
    new MutationObserver((records) => {
        const t = performance.now();
        for (const r of records) {
            const rendered = r.type === 'characterData' ? rec.isGhost(r.target) : Array.from(r.addedNodes).some((n) => rec.isGhost(n));
            if (rendered) {
                // Rendered and still in the document (not removed again in the same batch).
                if (document.querySelector(selector)) rec.ghosts.push(t);
                return;
            }
        }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
}
