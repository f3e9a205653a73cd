/**
 * A webview panel that streams one chat task's markdown answer (Explain Selection, Plan Refactor).
 *
 * Model output is untrusted: the panel sends it to the webview as the markdown it is, and the
 * webview turns it into DOM through an allowlist (src/webview/markdown.ts: markdown-it tokens with
 * raw HTML disabled, links only to http(s) and opened here, never navigated there, images never
 * loaded), under a strict CSP with a nonce. The panel holds the model's exact text: Copy puts that
 * markdown on VS Code's clipboard. A new run in the same panel, the Stop button and closing the
 * panel each abort the running task. The panel shows which model answered and the router's reason:
 * provisionally from the router's latest decision for this kind, then definitively from the task's
 * result.
 */
import * as vscode from 'vscode';
import type { Clock } from '../core/clock';
import { abortError, errorMessage, isAbortError } from '../core/errors';
import type { ChatTask, DecisionRecord, Router, TaskResult } from '../core/tasks';
import type { AnswerFromWebview, AnswerToWebview, RoutingInfo } from '../shared/messages';
import { e2eFixtureAnswer } from './e2eFixtureAnswer';
import type { Notifier } from './notifications';
import { Throttle } from './throttle';
import { webviewHtml, webviewOptions } from './webviewHtml';

/**
 * True only in the e2e build's bundle (esbuild `define`, scripts/build.mjs): chat answers may then
 * come from a fixture file (e2eFixtureAnswer.ts). `false` in dist/, where esbuild drops that code.
 */
declare const __ZETA_E2E__: boolean;

/** Send the streamed markdown to the webview at most this often (ms). */
const RENDER_INTERVAL_MS = 80;

export interface AnswerPanelDeps {
    readonly extensionUri: vscode.Uri;
    readonly router: Router;
    readonly clock: Clock;
    readonly log: vscode.LogOutputChannel;
    readonly notifier: Notifier;
}

/** The state the webview shows; replayed when the webview (re)loads. */
interface ViewState {
    start?: Extract<AnswerToWebview, { type: 'start' }>;
    /** Its markdown is the model's text so far, exactly (what Copy copies). */
    content?: Extract<AnswerToWebview, { type: 'content' }>;
    routing?: Extract<AnswerToWebview, { type: 'routing' }>;
    status?: Extract<AnswerToWebview, { type: 'status' }>;
    error?: Extract<AnswerToWebview, { type: 'error' }>;
}

export class AnswerPanel implements vscode.Disposable {
    private panel: vscode.WebviewPanel | undefined;
    private panelDisposables: vscode.Disposable[] = [];
    private running: AbortController | undefined;
    private ready = false;
    private state: ViewState = {};

    constructor(
        private readonly deps: AnswerPanelDeps,
        private readonly viewType: string,
        private readonly panelTitle: string,
    ) {}

    /**
     * Shows the panel and streams `task`'s answer into it. Resolves with the result, or undefined
     * when stopped or failed (failures are shown in the panel and reported through the notifier).
     */
    async run(subject: string, task: Omit<ChatTask, 'onToken'>): Promise<TaskResult | undefined> {
        this.running?.abort(abortError('replaced by a new request'));
        const controller = new AbortController();
        this.running = controller;
        const panel = this.ensurePanel();
        panel.title = this.panelTitle;
        panel.reveal(vscode.ViewColumn.Beside, true);

        this.state = {};
        this.post({ type: 'start', title: this.panelTitle, subject });
        this.post({ type: 'status', text: 'Waiting for a model...', busy: true });

        let text = '';
        let provisional = false;
        const submittedAt = this.deps.clock.now();
        const render = new Throttle(this.deps.clock, RENDER_INTERVAL_MS, () => {
            if (this.running === controller) this.post({ type: 'content', markdown: text });
        });
        const onToken = (piece: string): void => {
            if (this.running !== controller) return;
            if (text === '') {
                this.post({ type: 'status', text: 'Answering...', busy: true });
                if (!provisional) {
                    provisional = true;
                    const d = this.latestDecision(task.kind, submittedAt);
                    if (d) this.post({ type: 'routing', routing: this.routingInfo(d, d.chosen ?? '?', false) });
                }
            }
            text += piece;
            render.trigger();
        };
        try {
            const result = await this.submit({ ...task, onToken }, controller.signal);
            render.dispose();
            if (this.running !== controller) return result;
            text = result.text ?? text;
            this.post({ type: 'content', markdown: text });
            this.post({ type: 'routing', routing: this.routingInfo(result.decision, result.modelId, true) });
            const t = result.timings;
            const first = t.firstTokenMs !== undefined ? `, first token after ${Math.round(t.firstTokenMs)} ms` : '';
            const empty = text === '' ? ' The model returned no text.' : '';
            this.post({ type: 'status', text: `Done: ${result.generatedTokens} tokens in ${(t.totalMs / 1000).toFixed(1)} s${first}.${empty}`, busy: false });
            this.deps.log.info(`${task.kind} #${result.taskId} by ${result.modelId}: ${result.generatedTokens} tokens in ${Math.round(t.totalMs)} ms; ${result.decision.reason}`);
            return result;
        } catch (e) {
            render.dispose();
            if (this.running === controller) {
                if (isAbortError(e)) {
                    if (text !== '') this.post({ type: 'content', markdown: text });
                    this.post({ type: 'status', text: 'Stopped.', busy: false });
                } else {
                    const message = this.deps.notifier.taskFailed(this.panelTitle, e) ?? String(e);
                    this.post({ type: 'error', message });
                    this.post({ type: 'status', text: 'Failed.', busy: false });
                }
            }
            return undefined;
        } finally {
            if (this.running === controller) this.running = undefined;
        }
    }

    /** Aborts the running task, if any. */
    stop(): void {
        this.running?.abort(abortError('stopped by the user'));
    }

    get visible(): boolean {
        return this.panel?.visible ?? false;
    }

    dispose(): void {
        this.stop();
        this.panel?.dispose();
        this.releasePanel();
    }

    private ensurePanel(): vscode.WebviewPanel {
        if (this.panel) return this.panel;
        const panel = vscode.window.createWebviewPanel(this.viewType, this.panelTitle, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
            ...webviewOptions(this.deps.extensionUri),
            retainContextWhenHidden: false,
        });
        this.panel = panel;
        this.ready = false;
        panel.webview.html = webviewHtml(panel.webview, this.deps.extensionUri, {
            title: this.panelTitle,
            script: 'answer.js',
            style: 'answer.css',
            body: `<header>
  <div class="title-row"><h1 id="title"></h1><button id="copy" type="button" title="Copy the answer as markdown" disabled>Copy</button><button id="stop" type="button" title="Stop generating">Stop</button></div>
  <div id="subject" class="subject"></div>
  <div id="routing" class="routing" aria-live="polite"></div>
  <div id="status" class="status" aria-live="polite"></div>
  <div id="copied" class="status" role="status"></div>
</header>
<div id="error" class="error" role="alert" hidden></div>
<main id="content" class="markdown"></main>`,
        });
        this.panelDisposables.push(
            panel.webview.onDidReceiveMessage((m: AnswerFromWebview) => this.onMessage(m)),
            panel.onDidChangeViewState(() => {
                // A hidden webview is torn down (retainContextWhenHidden: false); it sends "ready" again.
                if (!panel.visible) this.ready = false;
            }),
            panel.onDidDispose(() => {
                this.stop();
                this.releasePanel();
            }),
        );
        return panel;
    }

    private releasePanel(): void {
        this.panel = undefined;
        this.ready = false;
        for (const d of this.panelDisposables.splice(0)) d.dispose();
    }

    private onMessage(m: AnswerFromWebview): void {
        switch (m.type) {
            case 'ready':
                this.ready = true;
                this.replay();
                break;
            case 'stop':
                this.stop();
                break;
            case 'openLink':
                this.openLink(m.href);
                break;
            case 'copy':
                void this.copy();
                break;
        }
    }

    /** Opens an http(s) link of the answer outside the webview; anything else is refused (and logged). */
    private openLink(href: unknown): void {
        let uri: vscode.Uri | undefined;
        try {
            uri = typeof href === 'string' ? vscode.Uri.parse(href, true) : undefined;
        } catch {
            uri = undefined;
        }
        if (uri && (uri.scheme === 'http' || uri.scheme === 'https')) void vscode.env.openExternal(uri);
        else this.deps.log.warn(`answer panel: refused to open a link that is not http(s): ${String(href).slice(0, 200)}`);
    }

    /** Copies the model's text as it is (markdown), and tells the webview how much was copied. */
    private async copy(): Promise<void> {
        const markdown = this.state.content?.markdown ?? '';
        let reply: AnswerToWebview;
        try {
            await vscode.env.clipboard.writeText(markdown);
            reply = { type: 'copied', ok: true, chars: markdown.length };
        } catch (e) {
            reply = { type: 'copied', ok: false, chars: 0, message: errorMessage(e) };
        }
        if (this.ready && this.panel) void this.panel.webview.postMessage(reply);
    }

    /** The router, or in the e2e build a fixture answer when the test placed one. */
    private async submit(task: ChatTask, signal: AbortSignal): Promise<TaskResult> {
        if (__ZETA_E2E__) {
            const fixture = await e2eFixtureAnswer(task, signal, this.deps.clock);
            if (fixture) return fixture;
        }
        return this.deps.router.submit(task, signal);
    }

    /** Records the message as state and sends it when the webview is ready. */
    private post(m: AnswerToWebview): void {
        switch (m.type) {
            case 'start':
                this.state = { start: m };
                break;
            case 'content':
                this.state.content = m;
                break;
            case 'routing':
                this.state.routing = m;
                break;
            case 'status':
                this.state.status = m;
                break;
            case 'error':
                this.state.error = m;
                break;
            case 'copied':
                break;
        }
        if (this.ready && this.panel) void this.panel.webview.postMessage(m);
    }

    private replay(): void {
        if (!this.panel) return;
        const s = this.state;
        for (const m of [s.start, s.content, s.routing, s.status, s.error]) if (m) void this.panel.webview.postMessage(m);
    }

    private latestDecision(kind: ChatTask['kind'], since: number): DecisionRecord | undefined {
        return this.deps.router.snapshot().recentDecisions.find((d) => d.kind === kind && d.at >= since);
    }

    private routingInfo(d: DecisionRecord, modelId: string, final: boolean): RoutingInfo {
        const info = this.deps.router.modelInfo(modelId);
        return { model: modelId, modelName: info?.name ?? modelId, reason: d.reason, policy: d.policy, final };
    }
}
