/**
 * The status bar item: each model's state at a glance (busy or idle, queue depth), the numbers in
 * its tooltip; a click opens the load view. Renders the router's snapshot only, at most 4 times a
 * second (router.onDidChange fires far more often).
 */
import * as vscode from 'vscode';
import type { Clock } from '../core/clock';
import type { ModelSnapshot, Router, RouterSnapshot } from '../core/tasks';
import { Throttle } from './throttle';

export const STATUS_INTERVAL_MS = 250;

const ROLE_LETTER: Readonly<Record<string, string>> = { coder: 'C', reasoner: 'R', embedder: 'E' };

export function modelGlyph(m: ModelSnapshot): string {
    const letter = ROLE_LETTER[m.role] ?? m.id.slice(0, 1).toUpperCase();
    if (m.residency === 'failed') return `${letter}$(error)`;
    // A remote engine its polls cannot reach, or one left out until its settings change.
    if (m.remote && ((!m.remote.reachable && m.residency === 'loaded') || m.unavailable !== undefined)) return `${letter}$(cloud)$(warning)`;
    if (m.residency === 'loading') return `${letter}$(loading~spin)`;
    const busy = m.inFlight + m.paused;
    if (busy === 0 && m.queued === 0) return `${letter}$(circle-outline)`;
    return `${letter}$(circle-filled)${busy}${m.queued > 0 ? `+${m.queued}` : ''}`;
}

export function statusText(s: RouterSnapshot): string {
    if (s.models.length === 0) return '$(hubot) Zeta: set up models';
    return `$(hubot) ${s.models.map(modelGlyph).join(' ')}`;
}

function fmt(n: number | undefined, digits = 0, unit = ''): string {
    return n === undefined || !Number.isFinite(n) ? '–' : `${n.toFixed(digits)}${unit}`;
}

export function statusTooltip(s: RouterSnapshot): vscode.MarkdownString {
    const md = new vscode.MarkdownString(undefined, true);
    md.isTrusted = false;
    md.supportHtml = false;
    if (s.models.length === 0) {
        md.appendMarkdown('**Zeta** has no models configured. Click to open the load view, or run **Zeta: Get Started**.');
        return md;
    }
    md.appendMarkdown(`**Zeta** — policy \`${s.policy}\`\n\n`);
    md.appendMarkdown('| model | state | running | waiting | first token | decode | memory |\n|---|---|---:|---:|---:|---:|---:|\n');
    for (const m of s.models) {
        const state = m.residency === 'loaded' ? (m.inFlight + m.paused > 0 ? 'busy' : 'idle') : m.residency;
        const r = m.remote;
        // A remote engine: its slots over all clients (others' + ours) and its queue; no local memory.
        const running = r ? `${m.inFlight}/${m.slots} (engine ${r.slotsBusy}/${r.slots ?? '?'}, ${r.othersBusy} others)` : `${m.inFlight}/${m.slots}${m.paused ? ` (${m.paused} paused)` : ''}`;
        md.appendMarkdown(
            `| ${escapeCell(m.id)}${r ? ' (remote)' : ''} | ${state}${r && !r.reachable && m.residency === 'loaded' ? ', unreachable' : ''} | ${running} | ${m.queued}${r ? ` (+${r.deferred} in engine)` : ''} | ${fmt(m.firstTokenMs, 0, ' ms')} | ${fmt(m.decodeTokensPerSec, 1, ' tok/s')} | ${r ? 'remote' : fmt(m.memoryBytes / 1024 ** 2, 0, ' MB')} |\n`,
        );
    }
    for (const m of s.models) if (m.unavailable) md.appendMarkdown(`\n$(debug-pause) ${escapeCell(m.id)} left out: ${escapeCell(m.unavailable)}\n`);
    const failed = s.models.filter((m) => m.error);
    for (const m of failed) md.appendMarkdown(`\n$(warning) ${escapeCell(m.id)}: ${escapeCell(m.error ?? '')}\n`);
    md.appendMarkdown('\nClick for the load view.');
    return md;
}

function escapeCell(s: string): string {
    return s.replace(/[|\\`*_[\]<>]/g, (c) => `\\${c}`).replace(/\n/g, ' ');
}

export class StatusBar implements vscode.Disposable {
    private readonly item: vscode.StatusBarItem;
    private readonly throttle: Throttle;
    private readonly disposables: vscode.Disposable[] = [];

    constructor(
        private readonly router: Router,
        clock: Clock,
        command: string,
    ) {
        this.item = vscode.window.createStatusBarItem('zeta.status', vscode.StatusBarAlignment.Right, 100);
        this.item.name = 'Zeta models';
        this.item.command = command;
        this.throttle = new Throttle(clock, STATUS_INTERVAL_MS, () => this.render());
        const sub = router.onDidChange(() => this.throttle.trigger());
        this.disposables.push(this.item, { dispose: () => sub.dispose() }, { dispose: () => this.throttle.dispose() });
        this.render();
        this.item.show();
    }

    render(): void {
        const s = this.router.snapshot();
        this.item.text = statusText(s);
        this.item.tooltip = statusTooltip(s);
        const failed = s.models.some((m) => m.residency === 'failed');
        this.item.backgroundColor = failed ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
        this.item.accessibilityInformation = {
            label: s.models.length === 0 ? 'Zeta: no models configured' : `Zeta: ${s.models.map((m) => `${m.id} ${m.residency}, ${m.inFlight} running, ${m.queued} waiting`).join('; ')}`,
        };
    }

    dispose(): void {
        for (const d of this.disposables.splice(0)) d.dispose();
    }
}
