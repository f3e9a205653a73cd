/**
 * The search view: a webview view in Zeta's activity-bar container. It runs each query the view
 * sends (a newer query cancels the one in progress), posts the lexical answer at once and the
 * fused one when the query's embedding arrives, shows the index's progress and the channel
 * weights, and opens a result at its lines. Strict CSP (webviewHtml.ts); file text and paths go to
 * the webview as data and are rendered as text there.
 *
 * Ordering rules: results carry the view's query number, and the view ignores older ones; status
 * updates are throttled by the caller and sent only while the view is visible.
 */
import * as vscode from 'vscode';
import { errorMessage, isAbortError } from '../../core/errors';
import type { SearchResponse } from '../../core/search/query';
import { answerOutdated, type AnswerBasis } from '../../core/search/status';
import type { SearchFromWebview, SearchResultRow, SearchStatus, SearchToWebview } from '../../shared/messages';
import { webviewHtml, webviewOptions } from '../webviewHtml';

export const SEARCH_VIEW_ID = 'zeta.search';

/** A search refused for a reason the user can act on; its message is shown as it is. */
export class SearchUnavailable extends Error {
    override readonly name = 'SearchUnavailable';
}
/** A query answered while indexing was partial is asked again after this many more points of progress (and at 100). */
const RERUN_STEP = 10;

export interface SearchViewDeps {
    readonly extensionUri: vscode.Uri;
    /** Runs a search; `onUpdate` gets the lexical answer first. Rejects with the signal's reason when cancelled. */
    readonly search: (query: string, signal: AbortSignal, onUpdate: (r: SearchResponse) => void) => Promise<SearchResponse>;
    readonly status: () => SearchStatus;
    /** The index's content version (Indexer.version). */
    readonly indexVersion: () => number;
    readonly open: (file: string, startLine: number, endLine: number) => Promise<void>;
    readonly pause: () => void;
    readonly resume: () => void;
    readonly reindex: () => void;
    readonly log: vscode.LogOutputChannel;
}

export class SearchView implements vscode.WebviewViewProvider, vscode.Disposable {
    private view: vscode.WebviewView | undefined;
    private viewDisposables: vscode.Disposable[] = [];
    private ready = false;
    private running: AbortController | undefined;
    /** A query to put in the box once the view is ready (Zeta: Search Workspace with a selection). */
    private seed: string | undefined;
    /**
     * The last query answered, and the index it was answered against: it is asked again when that
     * answer is out of date (status.ts answerOutdated: a partial one as indexing moves on, every
     * RERUN_STEP points and at 100%; a complete one when a file's chunks changed since).
     */
    private answered: { seq: number; query: string; basis: AnswerBasis } | undefined;

    constructor(private readonly deps: SearchViewDeps) {}

    resolveWebviewView(view: vscode.WebviewView): void {
        this.releaseView();
        this.view = view;
        this.ready = false;
        view.webview.options = webviewOptions(this.deps.extensionUri);
        view.webview.html = webviewHtml(view.webview, this.deps.extensionUri, {
            title: 'Zeta: Search',
            script: 'search.js',
            style: 'search.css',
            body: `<div class="bar"><input id="query" type="search" placeholder="Search the workspace by words and meaning" aria-label="Search the workspace" aria-controls="results" autocomplete="off" spellcheck="false">
<div class="status"><div id="summary" role="status"></div><div id="details"></div><div class="actions"><button id="pause" type="button">Pause indexing</button><button id="reindex" type="button">Reindex</button></div></div></div>
<div id="note" role="status"></div>
<ol id="results" role="listbox" tabindex="0" aria-label="Results"></ol>`,
        });
        this.viewDisposables.push(
            view.webview.onDidReceiveMessage((m: SearchFromWebview) => this.onMessage(m)),
            view.onDidChangeVisibility(() => {
                if (view.visible) this.postStatus();
            }),
            view.onDidDispose(() => this.releaseView()),
        );
    }

    /** Reveals the view; with `query`, searches for it. */
    async show(query?: string): Promise<void> {
        if (query !== undefined && query.trim() !== '') this.seed = query;
        await vscode.commands.executeCommand(`${SEARCH_VIEW_ID}.focus`);
        this.flushSeed();
    }

    /** The index changed: the view shows its progress (when visible), and an answer now out of date is asked again. */
    statusChanged(): void {
        this.postStatus();
        this.rerunIfOutdated();
    }

    /** Asks the last answered query again when its answer is out of date; a query in progress is judged when it ends. */
    private rerunIfOutdated(): void {
        const a = this.answered;
        if (!a || !this.view?.visible || this.running) return;
        if (answerOutdated(a.basis, this.basis(), RERUN_STEP)) void this.runSearch(a.seq, a.query);
    }

    private basis(): AnswerBasis {
        return { percent: this.deps.status().percent, version: this.deps.indexVersion() };
    }

    dispose(): void {
        this.running?.abort();
        this.releaseView();
    }

    private onMessage(m: SearchFromWebview): void {
        switch (m.type) {
            case 'ready':
                this.ready = true;
                this.postStatus();
                this.flushSeed();
                break;
            case 'search':
                void this.runSearch(m.seq, m.query);
                break;
            case 'open':
                this.deps.open(m.file, m.startLine, m.endLine).catch((e: unknown) => {
                    void vscode.window.showWarningMessage(`Zeta: could not open ${m.file}: ${errorMessage(e)}`);
                });
                break;
            case 'reindex':
                this.deps.reindex();
                break;
            case 'pause':
                this.deps.pause();
                break;
            case 'resume':
                this.deps.resume();
                break;
        }
    }

    private async runSearch(seq: number, query: string): Promise<void> {
        this.running?.abort();
        const controller = new AbortController();
        this.running = controller;
        // Taken before the search reads the index: a change while it runs makes its answer out of date.
        const basis = this.basis();
        const post = (r: SearchResponse): void => {
            if (controller.signal.aborted) return;
            this.post({ type: 'results', seq, query, results: r.results.map(toRow), final: r.phase === 'final', ...noteOf(r) });
            if (r.phase !== 'final') return;
            this.answered = query.trim() !== '' ? { seq, query, basis } : undefined;
        };
        try {
            await this.deps.search(query, controller.signal, post);
        } catch (e) {
            if (isAbortError(e) || controller.signal.aborted) return;
            if (e instanceof SearchUnavailable) {
                this.post({ type: 'error', seq, message: e.message });
                return;
            }
            this.deps.log.warn(`search "${query}" failed: ${errorMessage(e)}`);
            this.post({ type: 'error', seq, message: `Search failed: ${errorMessage(e)}` });
        } finally {
            if (this.running === controller) {
                this.running = undefined;
                // The index may have changed while this query ran (the status updates then were not acted on).
                if (!controller.signal.aborted) this.rerunIfOutdated();
            }
        }
    }

    private flushSeed(): void {
        if (!this.ready || this.seed === undefined) return;
        const query = this.seed;
        this.seed = undefined;
        this.post({ type: 'seed', query });
    }

    private postStatus(): void {
        if (this.view?.visible) this.post({ type: 'status', status: this.deps.status() });
    }

    private post(m: SearchToWebview): void {
        if (!this.view || !this.ready) return;
        void this.view.webview.postMessage(m);
    }

    private releaseView(): void {
        this.view = undefined;
        this.ready = false;
        for (const d of this.viewDisposables.splice(0)) d.dispose();
    }
}

function toRow(r: SearchResponse['results'][number]): SearchResultRow {
    return {
        file: r.chunk.file,
        startLine: r.chunk.startLine,
        endLine: r.chunk.endLine,
        ...(r.chunk.symbol !== undefined ? { symbol: r.chunk.symbol } : {}),
        score: r.score,
        ...(r.lexicalRank !== undefined ? { lexicalRank: r.lexicalRank } : {}),
        ...(r.vectorRank !== undefined ? { vectorRank: r.vectorRank } : {}),
        snippet: r.snippet,
    };
}

/** A line under the box saying what the results are missing, if anything. */
function noteOf(r: SearchResponse): { note?: string } {
    const p = r.progress;
    const parts: string[] = [];
    if (p.chunks > 0 && p.chunksWithVectors < p.chunks && p.state !== 'disabled') parts.push(`${Math.floor((100 * p.chunksWithVectors) / p.chunks)}% indexed by meaning`);
    if (r.phase === 'lexical') parts.push('matching by meaning…');
    if (typeof r.vectors === 'object') parts.push(`by words only: ${r.vectors.failed}`);
    return parts.length > 0 ? { note: parts.join(' · ') } : {};
}
