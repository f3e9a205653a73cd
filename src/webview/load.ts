/**
 * The load view's script: model cards (a remote engine's marked remote, with its live slots, queue
 * and round trip), a timeline chart drawn as inline SVG (no libraries) from the snapshots
 * received, why each waiting task waits, and the latest routing decisions. All strings go in
 * through textContent.
 */
import type { LoadFromWebview, LoadModelRow, LoadSnapshotMessage, LoadToWebview } from '../shared/messages';
import { byId, connect } from './vscodeApi';

const bridge = connect<LoadFromWebview>();
const policy = byId('policy');
const budget = byId('budget');
const empty = byId('empty');
const models = byId('models');
const chart = byId('chart');
const legend = byId('legend');
const decisions = byId('decisions');
const waits = byId('waits');
byId('settings').addEventListener('click', () => bridge.post({ type: 'openSettings' }));
byId('log').addEventListener('click', () => bridge.post({ type: 'showLog' }));

/** Timeline window, ms. */
const WINDOW_MS = 120_000;
const COLORS = ['var(--vscode-charts-blue)', 'var(--vscode-charts-orange)', 'var(--vscode-charts-green)', 'var(--vscode-charts-purple)', 'var(--vscode-charts-red)', 'var(--vscode-charts-yellow)'];

interface Sample {
    readonly t: number;
    readonly work: ReadonlyMap<string, number>;
}
const samples: Sample[] = [];
const colorOf = new Map<string, string>();

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
}

function fmt(n: number | undefined, digits: number, unit: string): string {
    return n === undefined || !Number.isFinite(n) ? '–' : `${n.toFixed(digits)} ${unit}`;
}

function card(m: LoadModelRow): HTMLElement {
    const r = m.remote;
    const c = el('article', `card ${m.residency}${r ? ' remote' : ''}`);
    const head = el('div', 'card-head');
    const dot = el('span', 'dot');
    dot.style.background = colorFor(m.id);
    const busy = m.inFlight + m.paused > 0;
    head.append(dot, el('strong', undefined, m.id), el('span', 'muted', ` ${m.name}`));
    // Unreachable as its polls say, once connected (before, no poll has run).
    const unreachable = r !== undefined && !r.reachable && m.residency === 'loaded';
    if (r) head.append(el('span', 'badge remote', unreachable ? 'remote: unreachable' : 'remote'));
    head.append(el('span', `badge ${busy ? 'busy' : m.residency}`, m.residency === 'loaded' ? (busy ? 'busy' : 'idle') : r && m.residency === 'loading' ? 'connecting' : m.residency));
    c.append(head);
    if (r) c.append(el('div', 'muted', `${r.api} at ${r.url}`));
    const grid = el('dl', 'stats');
    const add = (k: string, v: string): void => {
        grid.append(el('dt', undefined, k), el('dd', undefined, v));
    };
    add('running', `${m.inFlight} / ${m.slots}${m.paused ? ` (${m.paused} paused)` : ''}`);
    add('waiting', String(m.queued));
    if (r) {
        // The engine's own view, every client's work: other clients' slots vs ours, its queue, the network.
        add('engine slots', `${r.slotsBusy} / ${r.slots ?? '?'} busy (${r.othersBusy} other clients, ${Math.max(0, r.slotsBusy - r.othersBusy)} ours)`);
        add('engine queue', String(r.deferred));
        add('round trip', fmt(r.rttMs, 0, 'ms'));
        add('load report', r.ageMs === undefined ? 'none yet' : `${(r.ageMs / 1000).toFixed(1)} s old`);
    }
    add('decode', fmt(m.decodeTokensPerSec, 1, 'tok/s'));
    add('prompt', fmt(m.promptTokensPerSec, 0, 'tok/s'));
    add('first token', fmt(m.firstTokenMs, 0, 'ms'));
    add('busy', `${Math.round(m.utilisation * 100)} %`);
    if (!r) add('memory', fmt(m.memoryBytes / 1024 ** 2, 0, 'MB'));
    add('served', `${m.served}${m.failed ? ` (${m.failed} failed)` : ''}`);
    c.append(grid);
    if (m.unavailable) c.append(el('div', 'error', `left out: ${m.unavailable}`));
    if (unreachable && r.error) c.append(el('div', 'error', `unreachable: ${r.error}`));
    if (m.error) c.append(el('div', 'error', m.error));
    return c;
}

function colorFor(id: string): string {
    let c = colorOf.get(id);
    if (!c) {
        c = COLORS[colorOf.size % COLORS.length];
        colorOf.set(id, c);
    }
    return c;
}

const SVG = 'http://www.w3.org/2000/svg';

function drawChart(now: number): void {
    const w = 600;
    const h = 120;
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'Running plus waiting tasks per model over the last two minutes');
    let max = 1;
    for (const s of samples) for (const v of s.work.values()) max = Math.max(max, v);
    for (let i = 1; i <= max && max <= 8; i++) {
        const y = h - (i / max) * (h - 8);
        const line = document.createElementNS(SVG, 'line');
        line.setAttribute('x1', '0');
        line.setAttribute('x2', String(w));
        line.setAttribute('y1', y.toFixed(1));
        line.setAttribute('y2', y.toFixed(1));
        line.setAttribute('class', 'grid');
        svg.append(line);
    }
    for (const id of colorOf.keys()) {
        const points: string[] = [];
        let prevY: number | undefined;
        for (const s of samples) {
            const x = ((s.t - (now - WINDOW_MS)) / WINDOW_MS) * w;
            const y = h - ((s.work.get(id) ?? 0) / max) * (h - 8);
            if (prevY !== undefined) points.push(`${x.toFixed(1)},${prevY.toFixed(1)}`); // step chart
            points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
            prevY = y;
        }
        if (prevY !== undefined) points.push(`${w},${prevY.toFixed(1)}`);
        const poly = document.createElementNS(SVG, 'polyline');
        poly.setAttribute('points', points.join(' '));
        poly.setAttribute('fill', 'none');
        poly.style.stroke = colorFor(id); // CSSOM (allowed by the CSP), so theme variables resolve
        poly.setAttribute('stroke-width', '2');
        poly.setAttribute('vector-effect', 'non-scaling-stroke');
        svg.append(poly);
    }
    const maxLabel = document.createElementNS(SVG, 'text');
    maxLabel.setAttribute('x', '4');
    maxLabel.setAttribute('y', '12');
    maxLabel.setAttribute('class', 'axis');
    maxLabel.textContent = String(max);
    svg.append(maxLabel);
    chart.replaceChildren(svg);
    legend.replaceChildren(...[...colorOf.keys()].map((id) => {
        const item = el('span', 'legend-item');
        const sw = el('span', 'dot');
        sw.style.background = colorFor(id);
        item.append(sw, document.createTextNode(id));
        return item;
    }));
}

function render(m: LoadSnapshotMessage): void {
    empty.hidden = true;
    policy.textContent = `policy: ${m.policy}`;
    budget.textContent = m.memoryBudget ?? '';
    models.replaceChildren(...m.models.map(card));
    samples.push({ t: m.wallTime, work: new Map(m.models.map((x) => [x.id, x.inFlight + x.paused + x.queued])) });
    while (samples.length > 0 && samples[0].t < m.wallTime - WINDOW_MS) samples.shift();
    drawChart(m.wallTime);
    decisions.replaceChildren(
        ...m.decisions.map((d) => {
            const li = el('li');
            li.dataset.task = String(d.taskId);
            li.append(
                el('span', 'when', `${(d.agoMs / 1000).toFixed(1)} s ago`),
                el('span', 'kind', `${d.kind} #${d.taskId}`),
                ...(d.doc !== undefined ? [el('span', 'doc', d.doc)] : []),
                el('span', 'arrow', '→'),
                el('strong', undefined, d.chosen),
                el('div', 'reason', d.reason),
            );
            return li;
        }),
    );
    if (m.decisions.length === 0) decisions.append(el('li', 'muted', 'No tasks routed yet.'));
    waits.replaceChildren(
        ...m.waits.map((w) => {
            const li = el('li');
            li.append(el('span', `stage ${w.stage}`, w.stage), el('span', 'kind', `#${w.taskId}`), el('div', 'reason', w.reason));
            return li;
        }),
    );
    if (m.waits.length === 0) waits.append(el('li', 'muted', 'Nothing is waiting.'));
}

window.addEventListener('message', (e: MessageEvent<LoadToWebview>) => {
    const m = e.data;
    switch (m.type) {
        case 'snapshot':
            render(m);
            break;
        case 'empty':
            empty.hidden = false;
            empty.textContent = m.message;
            models.replaceChildren();
            break;
    }
});
bridge.post({ type: 'ready' });
