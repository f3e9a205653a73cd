/**
 * A small SVG writer for the report's charts: a cumulative distribution of latencies (one line
 * per series) and grouped bars. Pure string building; no chart library. Coordinates are in px,
 * values in the units of the data (ms).
 */

export interface Series {
    readonly name: string;
    /** Ascending samples. */
    readonly values: readonly number[];
}

const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#7f7f7f'];
/** Dash patterns per series, so that identical series stay visible on top of each other. */
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '', '4 4', '1 2', '10 4'];

function esc(s: string): string {
    return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(x: number): string {
    return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

/** "Nice" tick step for a range: 1, 2 or 5 times a power of ten. */
export function niceStep(range: number, ticks = 5): number {
    if (!(range > 0)) return 1;
    const raw = range / ticks;
    const p = 10 ** Math.floor(Math.log10(raw));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

interface Frame {
    readonly w: number;
    readonly h: number;
    readonly left: number;
    readonly right: number;
    readonly top: number;
    readonly bottom: number;
}

function frameSvg(f: Frame, title: string, xLabel: string, yLabel: string, body: string[]): string {
    return [
        `<svg xmlns="http://www.w3.org/2000/svg" width="${f.w}" height="${f.h}" viewBox="0 0 ${f.w} ${f.h}" font-family="sans-serif" font-size="12">`,
        `<rect width="${f.w}" height="${f.h}" fill="#fff"/>`,
        `<text x="${f.w / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
        `<text x="${(f.left + f.w - f.right) / 2}" y="${f.h - 6}" text-anchor="middle">${esc(xLabel)}</text>`,
        `<text transform="translate(14 ${(f.top + f.h - f.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
        ...body,
        '</svg>',
        '',
    ].join('\n');
}

/**
 * Empirical CDF of each series: x = latency (ms, clipped at `xMax`, default the largest p99),
 * y = share of samples at or below it.
 */
export function cdfChart(title: string, series: readonly Series[], opts: { xLabel?: string; xMax?: number } = {}): string {
    const f: Frame = { w: 760, h: 420, left: 60, right: 190, top: 30, bottom: 45 };
    const pw = f.w - f.left - f.right;
    const ph = f.h - f.top - f.bottom;
    const p99s = series.filter((s) => s.values.length > 0).map((s) => s.values[Math.min(s.values.length - 1, Math.floor(0.99 * s.values.length))]);
    const xMax = opts.xMax ?? Math.max(1, ...p99s) * 1.05;
    const x = (v: number): number => f.left + (Math.min(v, xMax) / xMax) * pw;
    const y = (q: number): number => f.top + (1 - q) * ph;
    const body: string[] = [];
    const step = niceStep(xMax);
    for (let v = 0; v <= xMax + 1e-9; v += step) {
        body.push(`<line x1="${x(v)}" y1="${f.top}" x2="${x(v)}" y2="${f.top + ph}" stroke="#eee"/>`);
        body.push(`<text x="${x(v)}" y="${f.top + ph + 16}" text-anchor="middle">${fmt(v)}</text>`);
    }
    for (const q of [0, 0.25, 0.5, 0.75, 0.95, 1]) {
        body.push(`<line x1="${f.left}" y1="${y(q)}" x2="${f.left + pw}" y2="${y(q)}" stroke="${q === 0.95 ? '#bbb' : '#eee'}"${q === 0.95 ? ' stroke-dasharray="4 3"' : ''}/>`);
        body.push(`<text x="${f.left - 6}" y="${y(q) + 4}" text-anchor="end">${q === 0.95 ? 'p95' : fmt(q * 100) + '%'}</text>`);
    }
    body.push(`<rect x="${f.left}" y="${f.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    series.forEach((s, i) => {
        const color = COLORS[i % COLORS.length];
        const n = s.values.length;
        if (n > 0) {
            const pts: string[] = [`${x(s.values[0]).toFixed(1)},${y(0).toFixed(1)}`];
            s.values.forEach((v, j) => {
                pts.push(`${x(v).toFixed(1)},${y(j / n).toFixed(1)}`, `${x(v).toFixed(1)},${y((j + 1) / n).toFixed(1)}`);
            });
            const dash = DASHES[i % DASHES.length];
            body.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts.join(' ')}"/>`);
        }
        const ly = f.top + 10 + i * 20;
        const ldash = DASHES[i % DASHES.length];
        body.push(`<line x1="${f.w - f.right + 12}" y1="${ly}" x2="${f.w - f.right + 32}" y2="${ly}" stroke="${color}" stroke-width="3"${ldash ? ` stroke-dasharray="${ldash}"` : ''}/>`);
        body.push(`<text x="${f.w - f.right + 38}" y="${ly + 4}">${esc(s.name)} (n=${n})</text>`);
    });
    return frameSvg(f, title, opts.xLabel ?? 'ms', 'share of requests', body);
}

export interface BarGroup {
    readonly name: string;
    /** One value per bar label, same order as `labels`; NaN draws nothing. */
    readonly values: readonly number[];
}

/** Grouped bars: one group per entry, one bar per label (e.g. p50 / p95 / p99). */
export function barChart(title: string, labels: readonly string[], groups: readonly BarGroup[], yLabel = 'ms'): string {
    const f: Frame = { w: 720, h: 420, left: 60, right: 110, top: 30, bottom: 60 };
    const pw = f.w - f.left - f.right;
    const ph = f.h - f.top - f.bottom;
    const all = groups.flatMap((g) => g.values.filter((v) => Number.isFinite(v)));
    const yMax = Math.max(1, ...all) * 1.1;
    const y = (v: number): number => f.top + (1 - v / yMax) * ph;
    const body: string[] = [];
    const step = niceStep(yMax);
    for (let v = 0; v <= yMax + 1e-9; v += step) {
        body.push(`<line x1="${f.left}" y1="${y(v)}" x2="${f.left + pw}" y2="${y(v)}" stroke="#eee"/>`);
        body.push(`<text x="${f.left - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
    }
    const gw = pw / Math.max(1, groups.length);
    const bw = (gw * 0.8) / Math.max(1, labels.length);
    groups.forEach((g, gi) => {
        const gx = f.left + gi * gw + gw * 0.1;
        g.values.forEach((v, li) => {
            if (!Number.isFinite(v)) return;
            const bx = gx + li * bw;
            body.push(`<rect x="${bx.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(f.top + ph - y(v)).toFixed(1)}" fill="${COLORS[li % COLORS.length]}"><title>${esc(`${g.name} ${labels[li]}: ${fmt(v)}`)}</title></rect>`);
        });
        body.push(`<text x="${(gx + (gw * 0.8) / 2).toFixed(1)}" y="${f.top + ph + 16}" text-anchor="middle">${esc(g.name)}</text>`);
    });
    body.push(`<rect x="${f.left}" y="${f.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    labels.forEach((l, i) => {
        const ly = f.top + 10 + i * 20;
        body.push(`<rect x="${f.w - f.right + 12}" y="${ly - 8}" width="14" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
        body.push(`<text x="${f.w - f.right + 32}" y="${ly + 2}">${esc(l)}</text>`);
    });
    return frameSvg(f, title, '', yLabel, body);
}
