/**
 * Composition root: constructs Zeta's pieces, wires them, and hands every disposable to VS Code.
 * No logic lives here beyond wiring. Ordering rules: the log exists before anything that can fail;
 * the settings, and the API keys of the remote models they name, are read before the router is made; the router is disposed (tasks settled, models
 * unloaded) before the llama.cpp runtime it uses. If start-up fails, everything made so far is
 * released and the user gets the error with "Show Log" / "Retry".
 */
import { mkdir, open, readFile, rename, unlink, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { createBackendFactory, createLlamaProvider, type LlamaProvider } from '../backends';
import { probeMachineMemory } from '../backends/machineInfo';
import { createTreeSitterParser, type TreeSitterParser } from '../backends/treeSitter';
import { SystemClock, type Clock } from '../core/clock';
import { errorMessage } from '../core/errors';
import { EvalTurns } from '../core/evalTurns';
import { createFileTextStore, createRouter, defaultRoutingSettings } from '../core/router';
import { remoteSpecId, toModelSpecs, type ParsedSettings, type RoutingInternals } from '../core/userSettings';
import type { DecisionRecord, Router } from '../core/tasks';
import type { ChatMessage, ModelBackend } from '../core/backend';
import { estimateTokens } from '../core/selectionLimit';
import { AnswerPanel } from './answerPanel';
import { COMPLETION_SCHEMES, ZetaCompletionProvider } from './completionProvider';
import { PROPOSAL_SCHEME, ProposalProvider, editSelection, type EditSelectionArgs } from './editSelection';
import { LoadView } from './loadView';
import { Notifier } from './notifications';
import { RemoteKeys, clearRemoteApiKey, setRemoteApiKey, type RemoteKeyArgs } from './remoteKeys';
import { checkChatSelection, explainMessages, refactorPlanMessages, type ChatModel } from './prompts';
import { SettingsService } from './settingsService';
import { chooseModelFiles, downloadRecommendedModels, maybeShowFirstRun, openWalkthrough, type SetupDeps } from './setup';
import { WorkspaceSearch } from './search/workspaceSearch';
import { StatusBar } from './statusBar';
import { Throttle } from './throttle';

/** Settles the router and the runtime on deactivation; set while Zeta is running. */
let shutdown: (() => Promise<void>) | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
    const log = vscode.window.createOutputChannel('Zeta', { log: true });
    context.subscriptions.push(log);
    await startWithRetry(context, log);
}

export async function deactivate(): Promise<void> {
    const s = shutdown;
    shutdown = undefined;
    await s?.();
}

async function startWithRetry(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<void> {
    try {
        await start(context, log);
    } catch (e) {
        log.error(`Zeta failed to start: ${errorMessage(e)}`);
        if (e instanceof Error && e.stack) log.error(e.stack);
        void vscode.window.showErrorMessage(`Zeta failed to start: ${errorMessage(e)}`, 'Show Log', 'Retry').then((pick) => {
            if (pick === 'Show Log') log.show(true);
            else if (pick === 'Retry') void startWithRetry(context, log);
        });
    }
}

function routingInternals(): RoutingInternals {
    const d = defaultRoutingSettings();
    return { levers: d.levers, cooldownMs: d.cooldownMs, embedBatchSize: d.embedBatchSize };
}

function envThreads(): number | undefined {
    const n = Number(process.env.ZETA_THREADS);
    return Number.isInteger(n) && n > 0 ? n : undefined;
}

async function start(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<void> {
    // Everything made here is owned by this list until start-up succeeds, then by context.subscriptions.
    const owned: vscode.Disposable[] = [];
    const own = <T extends vscode.Disposable>(d: T): T => {
        owned.push(d);
        return d;
    };
    let router: Router | undefined;
    let search: WorkspaceSearch | undefined;
    let parser: TreeSitterParser | undefined;
    let provider: LlamaProvider | undefined;
    try {
        const clock: Clock = new SystemClock();
        provider = createLlamaProvider({
            gpu: 'auto',
            maxThreads: envThreads(),
            log: (level, message) => (level === 'error' ? log.error(`llama.cpp: ${message.trim()}`) : log.warn(`llama.cpp: ${message.trim()}`)),
        });
        const runtimeProvider = provider;
        const ref: { settings?: SettingsService } = {};
        const notifier = new Notifier(log, () => (ref.settings?.current.modelSpecs.length ?? 0) > 0);
        const settings = own(
            new SettingsService({
                internals: routingInternals(),
                reportProblems: (problems) => notifier.settingsProblems(problems),
                probeMachine: (signal) => probeMachineMemory(runtimeProvider, signal),
                log: (m) => log.info(m),
            }),
        );
        ref.settings = settings;
        // zeta.memoryBudgetMB 0 budgets the machine: measured before the router loads anything.
        await settings.measured();
        const initial = settings.current;
        logModels(log, initial);
        // Remote models' API keys live in secret storage: the router gets them in its specs, never the settings.
        const keys = own(new RemoteKeys(context.secrets, (m) => log.info(m)));
        await keys.load(initial.settings.remoteModels.map((m) => m.id));
        const specsOf = (p: ParsedSettings) => toModelSpecs(p.settings, keys.get);

        const storage = context.globalStorageUri.fsPath;
        // One evaluation thread for the models on the CPU: their native calls take turns here, and the
        // router reads who holds it and who waits, for the load view.
        const evalTurns = new EvalTurns();
        // Local specs get llama.cpp on this evaluation thread; remote ones (zeta.remoteModels) their engine's HTTP backend.
        const backendFactory = createBackendFactory({ runtime: provider, clock, log: (m) => log.debug(m), turns: evalTurns });
        /** The current backend of each model id (a reconfiguration replaces it): token counts for the selection check. */
        const backends = new Map<string, ModelBackend>();
        const zetaRouter = createRouter({
            clock,
            turns: evalTurns,
            createBackend: (spec) => {
                const backend = backendFactory(spec);
                backends.set(spec.id, backend);
                return backend;
            },
            settings: initial.routing,
            models: specsOf(initial),
            feedbackStore: createFileTextStore(join(storage, 'feedback.json'), { readFile, writeFile, rename, mkdir, access, open, unlink }),
            // Same atomic file store: the speeds measured here, so a restart predicts from them.
            speedStore: createFileTextStore(join(storage, 'speeds.json'), { readFile, writeFile, rename, mkdir, access, open, unlink }),
            logger: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (m) => log.error(m) },
        });
        router = zetaRouter;

        // Settings and API key changes apply without a reload; reconfigurations run one at a time, in
        // order, each with the keys of the remote models its settings name (read first).
        let reconfiguring: Promise<void> = Promise.resolve();
        let loggedSpecs = JSON.stringify(initial.modelSpecs);
        const apply = (parsed: ParsedSettings): void => {
            reconfiguring = reconfiguring
                .then(async () => {
                    await keys.load(parsed.settings.remoteModels.map((m) => m.id));
                    await zetaRouter.reconfigure(specsOf(parsed), parsed.routing);
                })
                .catch((e: unknown) => log.error(`applying settings failed: ${errorMessage(e)}`));
        };
        own(
            settings.onDidChange((parsed) => {
                const specs = JSON.stringify(parsed.modelSpecs);
                if (specs !== loggedSpecs) {
                    loggedSpecs = specs;
                    logModels(log, parsed);
                }
                apply(parsed);
            }),
        );
        own(keys.onDidChange(() => apply(settings.current)));

        /** The remote model (zeta.remoteModels entry id) serving router model `modelId`, if it is remote. */
        const remoteIdOf = (modelId: string): string | undefined =>
            settings.current.modelSpecs.flatMap((spec) => {
                if (spec.id !== modelId || !spec.remote) return [];
                return settings.current.settings.remoteModels.filter((r) => remoteSpecId(r, spec.role) === modelId).map((r) => r.id);
            })[0];
        own(watchRouter(zetaRouter, clock, log, notifier, remoteIdOf));

        const proposals = own(new ProposalProvider());
        own(vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, proposals));
        const completions = own(new ZetaCompletionProvider({ router: zetaRouter, clock, settings: () => settings.settings, log }));
        own(
            vscode.languages.registerInlineCompletionItemProvider(
                COMPLETION_SCHEMES.map((scheme) => ({ scheme })),
                completions,
            ),
        );

        /**
         * The models that could answer a chat now (configured, not failed, with a chat template), with
         * their context and a token counter: the model's tokenizer when it is loaded, else an estimate.
         */
        const chatModels = (): ChatModel[] =>
            zetaRouter.snapshot().models.flatMap((m) => {
                const info = zetaRouter.modelInfo(m.id);
                const backend = backends.get(m.id);
                if (m.residency === 'failed' || !info?.hasChat || !backend) return [];
                const loaded = m.residency === 'loaded';
                return [{ modelId: m.id, contextSize: info.contextSize, count: (text: string) => (loaded ? { tokens: backend.countTokens(text), exact: true } : { tokens: estimateTokens(text), exact: false }) }];
            });

        const panelDeps = { extensionUri: context.extensionUri, router: zetaRouter, clock, log, notifier };
        const explainPanel = own(new AnswerPanel(panelDeps, 'zeta.explain', 'Zeta: Explain'));
        const planPanel = own(new AnswerPanel(panelDeps, 'zeta.refactorPlan', 'Zeta: Refactor Plan'));
        const loadView = own(new LoadView(context.extensionUri, zetaRouter, clock, log, () => settings.current.memoryBudget.text));
        own(new StatusBar(zetaRouter, clock, 'zeta.showLoad'));

        const setupDeps: SetupDeps = { context, provider, settings: () => settings.settings, log, mirrorBaseUrl: process.env.ZETA_MODEL_MIRROR || undefined };

        /** Explain / Plan Refactor: the selection, refused when it does not fit any chat model, else asked in `panel`. */
        const answerSelection = async (panel: AnswerPanel, name: string, kind: 'explain' | 'refactorPlan', prompt: (code: string, sel: Selection) => ChatMessage[]) => {
            const sel = currentSelection();
            if (!sel) return undefined;
            const maxTokens = settings.settings.chatMaxTokens;
            const build = (code: string): ChatMessage[] => prompt(code, sel);
            const fits = checkChatSelection(name, sel.text, build, chatModels(), maxTokens, false);
            if (!fits.ok) return refuse(fits.message);
            const result = await panel.run(sel.subject, { kind, doc: sel.doc, messages: build(sel.text), maxTokens });
            return result && { modelId: result.modelId, text: result.text ?? '', reason: result.decision.reason };
        };
        own(
            vscode.commands.registerCommand('zeta.explainSelection', async () => {
                if (!settings.settings.features.explain) return featureOff('Explain Selection', 'explain');
                return answerSelection(explainPanel, 'Explain Selection', 'explain', (code, sel) => explainMessages(code, sel.languageId, sel.fileName));
            }),
        );
        own(
            vscode.commands.registerCommand('zeta.planRefactor', async (args?: { goal?: string }) => {
                if (!settings.settings.features.refactorPlan) return featureOff('Plan Refactor', 'refactorPlan');
                const goal = typeof args?.goal === 'string' ? args.goal : undefined;
                return answerSelection(planPanel, 'Plan Refactor', 'refactorPlan', (code, sel) => refactorPlanMessages(code, sel.languageId, sel.fileName, goal));
            }),
        );
        own(
            vscode.commands.registerCommand('zeta.editSelection', (args?: EditSelectionArgs) =>
                editSelection({ router: zetaRouter, settings: () => settings.settings, chatModels, proposals, log, notifier }, args),
            ),
        );
        own(vscode.commands.registerCommand('zeta.showLoad', () => loadView.show()));
        own(vscode.commands.registerCommand('zeta.showLog', () => log.show(true)));
        own(vscode.commands.registerCommand('zeta.setup.chooseModelFiles', () => chooseModelFiles(setupDeps)));
        own(vscode.commands.registerCommand('zeta.setup.downloadModels', () => downloadRecommendedModels(setupDeps)));
        own(vscode.commands.registerCommand('zeta.setup.openWalkthrough', () => openWalkthrough()));
        const keyDeps = { keys, remoteModels: () => settings.settings.remoteModels, log };
        own(vscode.commands.registerCommand('zeta.setRemoteApiKey', (args?: RemoteKeyArgs) => setRemoteApiKey(keyDeps, args)));
        own(vscode.commands.registerCommand('zeta.clearRemoteApiKey', (args?: RemoteKeyArgs) => clearRemoteApiKey(keyDeps, args)));

        // Workspace search: the index (built in the background through the router) and its view.
        parser = createTreeSitterParser({ dir: context.asAbsolutePath('dist/tree-sitter'), onError: (m) => log.warn(`tree-sitter: ${m}`) });
        const searchParser = parser;
        const workspaceSearch = new WorkspaceSearch({
            context,
            router: zetaRouter,
            clock,
            settings: () => settings.settings,
            onSettingsChange: (listener) => settings.onDidChange(listener),
            parser: searchParser,
            log,
        });
        search = workspaceSearch;

        // Search, then the router, then the runtime: the index is saved while the router still
        // settles its embeddings, tasks settle and models unload before llama.cpp goes away.
        const runtime = provider;
        const teardown = async (): Promise<void> => {
            await workspaceSearch.dispose().catch((e: unknown) => log.error(`search shutdown: ${errorMessage(e)}`));
            searchParser.dispose();
            await zetaRouter.dispose().catch((e: unknown) => log.error(`router shutdown: ${errorMessage(e)}`));
            await runtime.dispose().catch((e: unknown) => log.error(`llama.cpp shutdown: ${errorMessage(e)}`));
        };
        shutdown = teardown;
        own({
            dispose: () => {
                if (shutdown !== teardown) return;
                shutdown = undefined;
                void teardown();
            },
        });

        context.subscriptions.push(...owned.splice(0));
        log.info(`Zeta started: ${initial.modelSpecs.length} model(s) configured, policy ${initial.routing.policy}`);
        void maybeShowFirstRun(setupDeps);
    } catch (e) {
        for (const d of owned.splice(0).reverse()) {
            try {
                d.dispose();
            } catch {
                // Releasing what was made must not hide the start-up error.
            }
        }
        await search?.dispose().catch(() => undefined);
        parser?.dispose();
        await router?.dispose().catch(() => undefined);
        await provider?.dispose().catch(() => undefined);
        throw e;
    }
}

/** A request refused before it was sent (the selection does not fit): told to the user, and returned to a caller. */
function refuse(message: string): { refused: string } {
    void vscode.window.showWarningMessage(`Zeta: ${message}`);
    return { refused: message };
}

function featureOff(name: string, key: string): undefined {
    void vscode.window.showInformationMessage(`Zeta: ${name} is turned off (zeta.features.${key}).`);
    return undefined;
}

interface Selection {
    readonly doc: string;
    readonly text: string;
    readonly languageId: string;
    readonly fileName: string;
    readonly subject: string;
}

/** The selection, or the cursor's line when nothing is selected. */
function currentSelection(): Selection | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
        void vscode.window.showInformationMessage('Zeta: open a file and select some code first.');
        return undefined;
    }
    const d = editor.document;
    const range = editor.selection.isEmpty ? d.lineAt(editor.selection.active.line).range : editor.selection;
    const text = d.getText(range);
    if (text.trim() === '') {
        void vscode.window.showInformationMessage('Zeta: select some code first.');
        return undefined;
    }
    const fileName = d.uri.path.split('/').pop() || 'untitled';
    const lines = range.start.line === range.end.line ? `line ${range.start.line + 1}` : `lines ${range.start.line + 1}-${range.end.line + 1}`;
    return { doc: d.uri.toString(), text, languageId: d.languageId, fileName, subject: `${fileName}, ${lines}` };
}

function logModels(log: vscode.LogOutputChannel, p: ParsedSettings): void {
    log.info(p.memoryBudget.text);
    if (p.modelSpecs.length === 0) log.info('no model paths configured (zeta.models.*.path or ZETA_*_MODEL, or zeta.remoteModels)');
    for (const m of p.modelSpecs) {
        // A remote spec's URL is logged (the user wrote it in settings); its key never is (specs here carry none).
        if (m.remote) log.info(`model ${m.id}: remote ${m.remote.api} at ${m.remote.url}, ${m.role} (${m.slots} slot(s); code is sent there)`);
        else log.info(`model ${m.id}: ${m.path} (context ${m.contextSize}, ${m.slots} slot(s), threads ${m.threads || 'auto'}, gpu layers ${m.gpuLayers})`);
    }
}

/**
 * Follows the router's snapshot (throttled): logs each new routing decision once, and tells the
 * user when a model fails (once per failure) while the other models keep serving.
 */
function watchRouter(router: Router, clock: Clock, log: vscode.LogOutputChannel, notifier: Notifier, remoteIdOf: (modelId: string) => string | undefined): vscode.Disposable {
    let lastTaskId = -1;
    const failed = new Map<string, string>();
    const check = (): void => {
        const s = router.snapshot();
        const fresh: DecisionRecord[] = [];
        for (const d of s.recentDecisions) {
            if (d.taskId <= lastTaskId) break;
            fresh.push(d);
        }
        if (fresh.length > 0) lastTaskId = fresh[0].taskId;
        for (const d of fresh.reverse()) {
            const line = `route #${d.taskId} ${d.kind} -> ${d.chosen ?? 'none'} [${d.policy}]: ${d.reason}`;
            if (d.kind === 'completion' || d.kind === 'embed') log.debug(line);
            else log.info(line);
        }
        for (const m of s.models) {
            if (m.residency === 'failed') {
                const error = m.error ?? 'failed to load';
                if (failed.get(m.id) !== error) {
                    failed.set(m.id, error);
                    notifier.modelFailed(m.id, m.role, error, remoteIdOf(m.id));
                }
            } else if (m.residency === 'loaded' && failed.has(m.id)) {
                failed.delete(m.id);
                notifier.modelRecovered(m.id);
                log.info(`model ${m.id} is serving again`);
            }
        }
    };
    const throttle = new Throttle(clock, 250, check);
    const sub = router.onDidChange(() => throttle.trigger());
    // A model may already have failed while the router was being built, before this subscription.
    throttle.trigger();
    return {
        dispose: () => {
            sub.dispose();
            throttle.dispose();
        },
    };
}
