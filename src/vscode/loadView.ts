/**
 * The load view: a webview panel with live per-model queue, in-flight requests, tokens/s, memory,
 * a short timeline chart, why each waiting task waits, and the router's latest decisions with
 * their reasons. A model on a remote engine is marked remote, with the engine's live slots (other
 * clients' vs ours), its queue, the round trip, and why it is left out when it is.
 *
 * Ordering rules: it renders the router's snapshot only; updates are throttled to at most one per
 * 250 ms; while the panel is hidden it does not subscribe to the router at all (no work, no
 * messages), and on becoming visible it subscribes again and sends a fresh snapshot. A 1 s tick
 * while visible keeps the timeline moving when nothing changes.
 */
import * as vscode from 'vscode';
import type { Clock, TimerHandle } from '../core/clock';
import type { Disposable as CoreDisposable, Router, RouterSnapshot } from '../core/tasks';
import type { LoadFromWebview, LoadSnapshotMessage, LoadToWebview } from '../shared/messages';
import { openZetaSettings } from './settingsService';
import { Throttle } from './throttle';
import { webviewHtml, webviewOptions } from './webviewHtml';

export const LOAD_VIEW_TYPE = 'zeta.loadView';
export const LOAD_INTERVAL_MS = 250;
const TICK_MS = 1000;
const DECISIONS_SHOWN = 12;
const WAITS_SHOWN = 12;

/**
 * The message for one snapshot. `docLabel` names a task's document (a URI string) as the user
 * knows it; by default its last path segment.
 */
export function toLoadMessage(s: RouterSnapshot, wallTime: number, docLabel: (doc: string) => string = lastSegment, memoryBudget?: string): LoadSnapshotMessage {
    return {
        type: 'snapshot',
        wallTime,
        policy: s.policy,
        ...(memoryBudget !== undefined ? { memoryBudget } : {}),
        models: s.models.map((m) => ({
            id: m.id,
            role: m.role,
            name: m.name,
            residency: m.residency,
            ...(m.error !== undefined ? { error: m.error } : {}),
            queued: m.queued,
            inFlight: m.inFlight,
            slots: m.slots,
            paused: m.paused,
            firstTokenMs: m.firstTokenMs,
            decodeTokensPerSec: m.decodeTokensPerSec,
            promptTokensPerSec: m.promptTokensPerSec,
            utilisation: m.utilisation,
            memoryBytes: m.memoryBytes,
            served: m.served,
            failed: m.failed,
            ...(m.unavailable !== undefined ? { unavailable: m.unavailable } : {}),
            ...(m.remote !== undefined
                ? {
                      remote: {
                          api: m.remote.api,
                          url: m.remote.url,
                          slots: m.remote.slots,
                          slotsBusy: m.remote.slotsBusy,
                          othersBusy: m.remote.othersBusy,
                          deferred: m.remote.deferred,
                          rttMs: m.remote.rttMs,
                          reachable: m.remote.reachable,
                          ...(m.remote.error !== undefined ? { error: m.remote.error } : {}),
                          ageMs: m.remote.ageMs,
                      },
                  }
                : {}),
        })),
        decisions: s.recentDecisions.slice(0, DECISIONS_SHOWN).map((d) => ({
            taskId: d.taskId,
            kind: d.kind,
            agoMs: Math.max(0, s.at - d.at),
            chosen: d.chosen ?? '(none)',
            reason: d.reason,
            ...(d.doc !== undefined ? { doc: docLabel(d.doc) } : {}),
        })),
        waits: s.waits.slice(0, WAITS_SHOWN).map((w) => ({ taskId: w.taskId, modelId: w.modelId, stage: w.stage, reason: w.reason })),
    };
}

function lastSegment(doc: string): string {
    const path = doc.replace(/[?#].*$/, '');
    return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1)) || doc;
}

/** A document URI string as a workspace-relative path (or its last segment when it is not a URI). */
function workspaceLabel(doc: string): string {
    try {
        return vscode.workspace.asRelativePath(vscode.Uri.parse(doc, true), false);
    } catch {
        return lastSegment(doc);
    }
}

export class LoadView implements vscode.Disposable {
    private panel: vscode.WebviewPanel | undefined;
    private panelDisposables: vscode.Disposable[] = [];
    private subscription: CoreDisposable | undefined;
    private tick: TimerHandle | undefined;
    private ready = false;
    private readonly throttle: Throttle;
    /** Messages posted, for tests and diagnostics. */
    posted = 0;

    constructor(
        private readonly extensionUri: vscode.Uri,
        private readonly router: Router,
        private readonly clock: Clock,
        private readonly log: vscode.LogOutputChannel,
        /** The memory budget in force and why, one line (the settings' `memoryBudget.text`). */
        private readonly memoryBudget: () => string | undefined = () => undefined,
    ) {
        this.throttle = new Throttle(clock, LOAD_INTERVAL_MS, () => this.send());
    }

    show(): void {
        if (this.panel) {
            this.panel.reveal(undefined, false);
            return;
        }
        const panel = vscode.window.createWebviewPanel(LOAD_VIEW_TYPE, 'Zeta: Model Load', vscode.ViewColumn.Active, {
            ...webviewOptions(this.extensionUri),
            // Keeps the timeline across tab switches; nothing is sent while hidden.
            retainContextWhenHidden: true,
        });
        this.panel = panel;
        this.ready = false;
        panel.webview.html = webviewHtml(panel.webview, this.extensionUri, {
            title: 'Zeta: Model Load',
            script: 'load.js',
            style: 'load.css',
            body: `<header><h1>Model load</h1><span id="policy" class="policy"></span><span id="budget" class="policy"></span><span class="actions"><button id="settings" type="button">Settings</button> <button id="log" type="button">Log</button></span></header>
<div id="empty" class="empty" hidden></div>
<section id="models" aria-label="Models"></section>
<section class="chart-section"><h2>Work on each model (running + waiting), last 2 minutes</h2><div id="chart" class="chart"></div><div id="legend" class="legend"></div></section>
<section><h2>Waiting now</h2><ol id="waits" class="waits"></ol></section>
<section><h2>Latest routing decisions</h2><ol id="decisions" class="decisions"></ol></section>`,
        });
        this.panelDisposables.push(
            panel.webview.onDidReceiveMessage((m: LoadFromWebview) => this.onMessage(m)),
            panel.onDidChangeViewState(() => this.updateSubscription()),
            panel.onDidDispose(() => this.releasePanel()),
        );
        this.updateSubscription();
    }

    get visible(): boolean {
        return this.panel?.visible ?? false;
    }

    dispose(): void {
        this.panel?.dispose();
        this.releasePanel();
        this.throttle.dispose();
    }

    private onMessage(m: LoadFromWebview): void {
        switch (m.type) {
            case 'ready':
                this.ready = true;
                this.send();
                break;
            case 'openSettings':
                void openZetaSettings();
                break;
            case 'showLog':
                this.log.show(true);
                break;
        }
    }

    /** Subscribed to the router (and ticking) exactly while the panel is visible. */
    private updateSubscription(): void {
        const visible = this.panel?.visible ?? false;
        if (visible && !this.subscription) {
            this.subscription = this.router.onDidChange(() => this.throttle.trigger());
            this.scheduleTick();
            this.throttle.trigger();
        } else if (!visible && this.subscription) {
            this.unsubscribe();
        }
    }

    private scheduleTick(): void {
        this.clock.clearTimeout(this.tick);
        this.tick = this.clock.setTimeout(() => {
            this.tick = undefined;
            if (!this.subscription) return;
            this.throttle.trigger();
            this.scheduleTick();
        }, TICK_MS);
    }

    private unsubscribe(): void {
        this.subscription?.dispose();
        this.subscription = undefined;
        this.clock.clearTimeout(this.tick);
        this.tick = undefined;
    }

    private send(): void {
        const panel = this.panel;
        if (!panel || !this.ready || !panel.visible) return;
        const s = this.router.snapshot();
        const message: LoadToWebview =
            s.models.length === 0
                ? { type: 'empty', message: 'No models are configured. Run "Zeta: Get Started" or set zeta.models.*.path.' }
                : toLoadMessage(s, Date.now(), workspaceLabel, this.memoryBudget());
        this.posted++;
        void panel.webview.postMessage(message);
    }

    private releasePanel(): void {
        this.unsubscribe();
        this.panel = undefined;
        this.ready = false;
        for (const d of this.panelDisposables.splice(0)) d.dispose();
    }
}
