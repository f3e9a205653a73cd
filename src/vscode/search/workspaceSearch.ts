/**
 * Workspace search in the editor: wires the core's indexer and query to the workspace's folders,
 * its file events, trust and settings, the router's embedder, the search view, the status bar and
 * the commands. Glue only: every decision is in src/core/search.
 *
 * Ordering rules: indexing starts only in a trusted workspace with `zeta.features.search` on; in
 * Restricted Mode nothing reads the workspace, on its own or on request (src/core/restrictedMode.ts:
 * Search Workspace, Reindex Workspace and a query are refused with the reason and an offer to trust
 * the workspace), and trust granted at run time starts indexing without a reload;
 * a `.gitignore` change or a change of the exclude settings rescans; the router's model changes
 * are checked for a new embedder (another index). Everything is disposed with the extension, the
 * index saved first.
 */
import * as fsp from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import * as vscode from 'vscode';
import type { TreeSitterParser } from '../../backends/treeSitter';
import type { Clock } from '../../core/clock';
import { errorMessage } from '../../core/errors';
import { searchPermission, type SearchPermission } from '../../core/restrictedMode';
import { calibrate } from '../../core/search/calibrate';
import { createChunker } from '../../core/search/chunker';
import { workspaceFiles, workspaceFsFromNode, type ExcludeMap } from '../../core/search/files';
import { hybridRanking } from '../../core/search/fusion';
import { createSearchIndex, type InMemorySearchIndex } from '../../core/search/index/index';
import { Indexer, isLexicalOnly, type IndexKeeper } from '../../core/search/indexer';
import { mineDocQueries } from '../../core/search/mining';
import { searchWorkspace, type SearchResponse } from '../../core/search/query';
import { routerEmbeddings } from '../../core/search/routerEmbeddings';
import { statusText } from '../../core/search/status';
import { createIndexStore, identityKey, type IndexStore } from '../../core/search/store';
import type { ChannelWeights } from '../../core/search/types';
import { folderFiles, type FolderFiles, type IndexedFolder } from '../../core/search/workspaceFolders';
import { createFileTextStore } from '../../core/router/textFileStore';
import type { Router, TextStore } from '../../core/tasks';
import type { ZetaSettings } from '../../core/userSettings';
import type { SearchStatus } from '../../shared/messages';
import { Throttle } from '../throttle';
import { SearchUnavailable, SearchView, SEARCH_VIEW_ID } from './searchView';

export interface WorkspaceSearchDeps {
    readonly context: vscode.ExtensionContext;
    readonly router: Router;
    readonly clock: Clock;
    readonly settings: () => ZetaSettings;
    readonly onSettingsChange: (listener: () => void) => vscode.Disposable;
    readonly parser: TreeSitterParser;
    readonly log: vscode.LogOutputChannel;
}

/** Status updates (view, status bar) at most this often (ms). */
const STATUS_INTERVAL_MS = 250;

export class WorkspaceSearch implements vscode.Disposable {
    private readonly disposables: vscode.Disposable[] = [];
    private readonly indexer: Indexer<InMemorySearchIndex>;
    private readonly view: SearchView;
    private readonly statusItem: vscode.StatusBarItem;
    private readonly status: Throttle;
    private files: FolderFiles;
    private rulesKey = '';

    constructor(private readonly deps: WorkspaceSearchDeps) {
        const { context, router, clock, log } = deps;
        this.files = this.folderFiles();
        const storage = join((context.storageUri ?? context.globalStorageUri).fsPath, 'search');
        this.indexer = new Indexer<InMemorySearchIndex>({
            files: { list: (s) => this.files.list(s), read: (f, s) => this.files.read(f, s) },
            chunker: createChunker(deps.parser),
            store: indexKeeper(storage, log),
            embeddings: routerEmbeddings(router),
            createIndex: createSearchIndex,
            mine: (chunks) => mineDocQueries(chunks, { max: 4 }),
            calibrate,
            clock,
            logger: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (m) => log.error(m) },
            onChange: () => this.status.trigger(),
            onRebuild: (problem) => void vscode.window.showWarningMessage(`Zeta: the search index of this workspace could not be used (${problem}). It was set aside and is being rebuilt; search works by words meanwhile.`, 'Show Log').then((pick) => pick && log.show(true)),
        });
        this.view = new SearchView({
            extensionUri: context.extensionUri,
            search: (query, signal, onUpdate) => this.search(query, signal, onUpdate),
            status: () => this.viewStatus(),
            indexVersion: () => this.indexer.version,
            open: (file, start, end) => this.open(file, start, end),
            pause: () => this.indexer.pause(),
            resume: () => this.indexer.resume(),
            reindex: () => this.reindex(),
            log,
        });
        this.statusItem = vscode.window.createStatusBarItem('zeta.search.status', vscode.StatusBarAlignment.Left, 99);
        this.statusItem.name = 'Zeta Search Index';
        this.statusItem.command = `${SEARCH_VIEW_ID}.focus`;
        this.status = new Throttle(clock, STATUS_INTERVAL_MS, () => this.renderStatus());
        const embedderCheck = new Throttle(clock, 1_000, () => this.indexer.embedderChanged());
        this.disposables.push(
            this.view,
            this.statusItem,
            { dispose: () => this.status.dispose() },
            { dispose: () => embedderCheck.dispose() },
            vscode.window.registerWebviewViewProvider(SEARCH_VIEW_ID, this.view, { webviewOptions: { retainContextWhenHidden: true } }),
            vscode.commands.registerCommand('zeta.searchWorkspace', () => this.searchCommand()),
            vscode.commands.registerCommand('zeta.reindexWorkspace', () => this.reindex()),
            vscode.commands.registerCommand('zeta.pauseIndexing', () => this.indexer.pause()),
            vscode.commands.registerCommand('zeta.resumeIndexing', () => this.indexer.resume()),
            this.watchFiles(),
            vscode.workspace.onDidChangeWorkspaceFolders(() => this.rulesChanged()),
            vscode.workspace.onDidChangeConfiguration((e) => {
                if (e.affectsConfiguration('files.exclude') || e.affectsConfiguration('search.exclude') || e.affectsConfiguration('search.useIgnoreFiles') || e.affectsConfiguration('search.followSymlinks')) this.rulesChanged();
            }),
            vscode.workspace.onDidGrantWorkspaceTrust(() => this.applySettings()),
            deps.onSettingsChange(() => this.rulesChanged()),
            router.onDidChange(() => embedderCheck.trigger()),
        );
        this.rulesKey = this.rulesFingerprint();
        this.applySettings();
    }

    async dispose(): Promise<void> {
        for (const d of this.disposables.splice(0).reverse()) d.dispose();
        await this.indexer.dispose().catch((e: unknown) => this.deps.log.warn(`search: ${errorMessage(e)}`));
    }

    // ---------------------------------------------------------------- indexing

    /** Whether search may read the workspace now (trust, the setting, an open folder). */
    private permission(): SearchPermission {
        return searchPermission({
            searchEnabled: this.deps.settings().features.search,
            trusted: vscode.workspace.isTrusted,
            folders: (vscode.workspace.workspaceFolders ?? []).length,
        });
    }

    /** Starts or stops indexing as trust and settings say. */
    private applySettings(): void {
        const p = this.permission();
        if (!p.allowed) return this.indexer.disable(p.reason);
        this.indexer.start(false);
    }

    /** Tells the user why search cannot run, with the action that would allow it. Returns false. */
    private refuse(p: Exclude<SearchPermission, { allowed: true }>): false {
        const TRUST = 'Manage Workspace Trust';
        const OPEN_SETTING = 'Open Settings';
        const actions = p.offerTrust ? [TRUST] : p.setting ? [OPEN_SETTING] : [];
        void vscode.window.showInformationMessage(`Zeta: ${p.reason}`, ...actions).then((pick) => {
            if (pick === TRUST) void vscode.commands.executeCommand('workbench.trust.manage');
            else if (pick === OPEN_SETTING) void vscode.commands.executeCommand('workbench.action.openSettings', `zeta.${p.setting}`);
        });
        return false;
    }

    /** Ignore rules, folders or limits changed: new rules, and a rescan. */
    private rulesChanged(): void {
        const key = this.rulesFingerprint();
        if (key === this.rulesKey) return this.applySettings();
        this.rulesKey = key;
        this.files = this.folderFiles();
        this.applySettings();
    }

    /** Reads everything again; false (with the reason shown) when search may not run. */
    private reindex(): boolean {
        const p = this.permission();
        if (!p.allowed) return this.refuse(p);
        this.files = this.folderFiles();
        this.indexer.start(true);
        return true;
    }

    private folderFiles(): FolderFiles {
        const s = this.deps.settings();
        const fs = workspaceFsFromNode(fsp);
        const folders: IndexedFolder[] = (vscode.workspace.workspaceFolders ?? [])
            .filter((f) => f.uri.scheme === 'file')
            .map((f) => {
                const config = vscode.workspace.getConfiguration(undefined, f.uri);
                return {
                    name: f.name,
                    root: f.uri.fsPath,
                    files: workspaceFiles(fs, f.uri.fsPath, {
                        maxFileKB: s.search.maxFileKB,
                        filesExclude: config.get<ExcludeMap>('files.exclude') ?? {},
                        searchExclude: config.get<ExcludeMap>('search.exclude') ?? {},
                        useGitignore: config.get<boolean>('search.useIgnoreFiles') ?? true,
                        followSymlinks: config.get<boolean>('search.followSymlinks') ?? true,
                        caseInsensitive: process.platform === 'win32' || process.platform === 'darwin',
                    }),
                };
            });
        return folderFiles(folders, (file, skip) => {
            // Counted in the status by reason (those the ignore rules leave out are not); each one traced.
            this.indexer.skipped(file, skip.reason, skip.detail);
            this.deps.log.trace(`search: skipped ${file}: ${skip.detail}`);
        });
    }

    private rulesFingerprint(): string {
        const folders = vscode.workspace.workspaceFolders ?? [];
        return JSON.stringify([
            this.deps.settings().search.maxFileKB,
            folders.map((f) => {
                const c = vscode.workspace.getConfiguration(undefined, f.uri);
                return [f.uri.toString(), c.get('files.exclude'), c.get('search.exclude'), c.get('search.useIgnoreFiles'), c.get('search.followSymlinks')];
            }),
        ]);
    }

    /** File events: created, changed and deleted files; a .gitignore change rescans. */
    private watchFiles(): vscode.Disposable {
        const watcher = vscode.workspace.createFileSystemWatcher('**/*');
        const nameOf = (uri: vscode.Uri): string | undefined => {
            if (uri.scheme !== 'file') return undefined;
            const folder = this.files.folders.find((f) => uri.fsPath.startsWith(f.root + sep));
            return folder ? this.files.nameOf(folder, relative(folder.root, uri.fsPath).split(sep).join('/')) : undefined;
        };
        const onChange = (uri: vscode.Uri): void => {
            // Restricted Mode or search off: nothing is queued (trust or the setting starts a scan).
            if (!this.permission().allowed) return;
            if (uri.path.endsWith('/.gitignore')) {
                this.files = this.folderFiles();
                this.indexer.start(false);
                return;
            }
            const file = nameOf(uri);
            if (file !== undefined) this.indexer.changed(file);
        };
        return vscode.Disposable.from(
            watcher,
            watcher.onDidCreate(onChange),
            watcher.onDidChange(onChange),
            watcher.onDidDelete((uri) => {
                if (!this.permission().allowed) return;
                const file = nameOf(uri);
                if (file !== undefined) this.indexer.deleted(file);
            }),
        );
    }

    // ---------------------------------------------------------------- searching

    private search(query: string, signal: AbortSignal, onUpdate: (r: SearchResponse) => void): Promise<SearchResponse> {
        const p = this.permission();
        if (!p.allowed) return Promise.reject(new SearchUnavailable(p.reason));
        return searchWorkspace(
            {
                source: this.indexer,
                fuse: hybridRanking,
                readLines: (file, start, end, s) => this.readLines(file, start, end, s),
            },
            query,
            signal,
            onUpdate,
        );
    }

    private uriOf(file: string): vscode.Uri | undefined {
        const where = this.files.locate(file);
        return where ? vscode.Uri.joinPath(vscode.Uri.file(where.folder.root), ...where.path.split('/')) : undefined;
    }

    /** Lines of a file as the editor has it (an open document, saved or not) or as it is on disk. */
    private async readLines(file: string, start: number, end: number, signal: AbortSignal): Promise<readonly string[] | undefined> {
        const uri = this.uriOf(file);
        if (!uri) return undefined;
        const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
        if (open) {
            const out: string[] = [];
            for (let l = start; l <= Math.min(end, open.lineCount); l++) out.push(open.lineAt(l - 1).text);
            return out;
        }
        const text = await fsp.readFile(uri.fsPath, { encoding: 'utf8', signal }).catch(() => undefined);
        return text?.split(/\r?\n/).slice(start - 1, end);
    }

    private async open(file: string, startLine: number, endLine: number): Promise<void> {
        const uri = this.uriOf(file);
        if (!uri) throw new Error('it is not in this workspace any more');
        const doc = await vscode.workspace.openTextDocument(uri);
        const end = Math.min(endLine, doc.lineCount);
        const range = new vscode.Range(startLine - 1, 0, startLine - 1, 0);
        const editor = await vscode.window.showTextDocument(doc, { selection: range, preview: true });
        editor.revealRange(new vscode.Range(startLine - 1, 0, end - 1, 0), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    }

    /** Opens the search view (searching for the selection); false (with the reason shown) when search may not run. */
    private async searchCommand(): Promise<boolean> {
        const p = this.permission();
        if (!p.allowed) return this.refuse(p);
        const editor = vscode.window.activeTextEditor;
        const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection).trim().slice(0, 500) : undefined;
        await this.view.show(selected);
        return true;
    }

    // ---------------------------------------------------------------- status

    private viewStatus(): SearchStatus {
        const p = this.indexer.progress();
        const identity = this.indexer.index?.identity;
        const lexicalOnly = identity === undefined || isLexicalOnly(identity);
        const t = statusText(p, this.indexer.weights, lexicalOnly);
        return {
            summary: t.summary,
            percent: t.percent,
            state: p.state,
            paused: this.indexer.isPaused,
            model: lexicalOnly ? 'none (search by words only)' : (identity?.model ?? 'none'),
            weights: t.weights,
        };
    }

    private renderStatus(): void {
        const s = this.viewStatus();
        if (s.state === 'idle' || s.state === 'disabled') {
            this.statusItem.hide();
        } else {
            this.statusItem.text = `$(${s.state === 'paused' ? 'debug-pause' : 'sync~spin'}) ${s.summary}`;
            this.statusItem.tooltip = `Zeta search index: ${s.summary}. ${s.weights} Click to open the search view.`;
            this.statusItem.show();
        }
        this.view.statusChanged();
    }
}

/** The indexer's keeper over the store: one folder per embedder identity, the weights beside it. */
function indexKeeper(base: string, log: vscode.LogOutputChannel): IndexKeeper<InMemorySearchIndex> {
    // `open`: every file of a save is flushed to the disk before the manifest names it.
    const storeFs = {
        readFile: (p: string) => fsp.readFile(p),
        writeFile: (p: string, data: Iterable<Uint8Array>) => fsp.writeFile(p, data),
        rename: fsp.rename,
        mkdir: fsp.mkdir,
        readdir: (p: string) => fsp.readdir(p),
        unlink: fsp.unlink,
        access: (p: string) => fsp.access(p),
        open: fsp.open,
    };
    const weightsStore = (dir: string): TextStore => createFileTextStore(weightsFile(dir), { readFile: fsp.readFile, writeFile: fsp.writeFile, rename: fsp.rename, mkdir: fsp.mkdir, access: fsp.access, open: fsp.open, unlink: fsp.unlink });
    // One store per folder: a store runs its saves one at a time.
    const stores = new Map<string, IndexStore>();
    const storeOf = (identity: InMemorySearchIndex['identity']): IndexStore => {
        const dir = dirOf(identity);
        let store = stores.get(dir);
        if (!store) stores.set(dir, (store = createIndexStore(dir, identity, storeFs)));
        return store;
    };
    const dirOf = (identity: InMemorySearchIndex['identity']): string => join(base, isLexicalOnly(identity) ? 'lexical' : identityKey(identity));
    const weightsFile = (dir: string): string => join(dir, 'weights.json');
    return {
        async load(identity) {
            const dir = dirOf(identity);
            const r = await storeOf(identity).load();
            if (r.kind === 'setAside') return { problem: `the stored index could not be used (${r.reason}: ${r.detail})${r.movedTo ? `; set aside at ${r.movedTo}` : ''}` };
            if (r.kind === 'empty') return {};
            let weights: ChannelWeights | undefined;
            try {
                const text = await weightsStore(dir).load();
                weights = text === undefined ? undefined : parseWeights(text);
            } catch {
                weights = undefined; // measured again on this workspace
            }
            log.info(`search: loaded the index of ${identity.model} (${r.index.stats().chunks} chunks, ${Math.round(r.bytes / 1024)} KiB)`);
            return { index: r.index, ...(weights ? { weights } : {}) };
        },
        async save(index, weights) {
            const dir = dirOf(index.identity);
            await storeOf(index.identity).save(index);
            await weightsStore(dir).save(JSON.stringify(weights));
        },
    };
}

function parseWeights(text: string): ChannelWeights | undefined {
    const w = JSON.parse(text) as ChannelWeights;
    const ok = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x >= 0;
    if (!ok(w.lexical) || !ok(w.vector)) return undefined;
    return w.basis === 'default' || (typeof w.basis === 'object' && w.basis !== null) ? w : undefined;
}
