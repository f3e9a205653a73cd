/**
 * First run: the walkthrough's commands. "Choose Model Files" points each role at a GGUF file on
 * disk; "Download Recommended Models" picks a trio sized to the machine (GPU memory as
 * node-llama-cpp reports it, or RAM), downloads each with progress (cancellable; a later run
 * resumes; size/checksum/GGUF verified), then sets the role's path. Paths are written to the user
 * (global) settings: the model paths are machine-scoped.
 */
import * as vscode from 'vscode';
import { ROLES, type Role } from '../core/backend';
import { errorMessage, isAbortError } from '../core/errors';
import { abortError } from '../core/errors';
import type { ZetaSettings } from '../core/userSettings';
import { DownloadError, downloadModel } from '../backends/downloader';
import { getMachineInfo, recommendModels, type ModelRecommendation } from '../backends/machineInfo';
import type { LlamaProvider } from '../backends/llamaProvider';
import { abortSignalFromToken } from './cancellation';

export const WALKTHROUGH_ID = 'zeta-dev.zeta#firstRun';
const WALKTHROUGH_SHOWN_KEY = 'zeta.walkthroughShown';

const ROLE_PURPOSE: Readonly<Record<Role, string>> = {
    coder: 'inline completions and Edit Selection',
    reasoner: 'Explain Selection and Plan Refactor',
    embedder: 'embeddings for search',
};

export interface SetupDeps {
    readonly context: vscode.ExtensionContext;
    readonly provider: LlamaProvider | undefined;
    readonly settings: () => ZetaSettings;
    readonly log: vscode.LogOutputChannel;
    /** Mirror for downloads (ZETA_MODEL_MIRROR): `<base>/<fileName>` replaces each model URI. */
    readonly mirrorBaseUrl: string | undefined;
}

async function setModelPath(role: Role, path: string): Promise<void> {
    await vscode.workspace.getConfiguration('zeta').update(`models.${role}.path`, path, vscode.ConfigurationTarget.Global);
}

export async function openWalkthrough(): Promise<void> {
    await vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH_ID, false);
}

/** Opens the walkthrough once, the first time Zeta starts with no model configured (local or remote). */
export async function maybeShowFirstRun(deps: SetupDeps): Promise<void> {
    const s = deps.settings();
    const none = ROLES.every((r) => s.models[r].path === '') && s.remoteModels.length === 0;
    if (!none || deps.context.globalState.get<boolean>(WALKTHROUGH_SHOWN_KEY)) return;
    await deps.context.globalState.update(WALKTHROUGH_SHOWN_KEY, true);
    await openWalkthrough();
}

export async function chooseModelFiles(deps: SetupDeps): Promise<Role[]> {
    const chosen: Role[] = [];
    for (const role of ROLES) {
        const current = deps.settings().models[role].path;
        const picked = await vscode.window.showOpenDialog({
            title: `Zeta: choose the ${role} model (${ROLE_PURPOSE[role]}); cancel to skip`,
            openLabel: `Use as ${role}`,
            canSelectFiles: true,
            canSelectFolders: false,
            canSelectMany: false,
            filters: { 'GGUF models': ['gguf'], 'All files': ['*'] },
            ...(current ? { defaultUri: vscode.Uri.file(current) } : {}),
        });
        const file = picked?.[0];
        if (!file) continue;
        await setModelPath(role, file.fsPath);
        deps.log.info(`setup: ${role} model set to ${file.fsPath}`);
        chosen.push(role);
    }
    if (chosen.length > 0) void vscode.window.showInformationMessage(`Zeta: using your files for ${chosen.join(', ')}. Models load on first use.`);
    return chosen;
}

interface RecommendationItem extends vscode.QuickPickItem {
    readonly rec: ModelRecommendation;
}

function gb(bytes: number): string {
    return `${(bytes / 1e9).toFixed(bytes < 1e9 ? 2 : 1)} GB`;
}

export async function downloadRecommendedModels(deps: SetupDeps): Promise<Role[]> {
    const machine = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Zeta: checking this machine' }, () =>
        getMachineInfo(deps.provider, new AbortController().signal),
    );
    const recs = recommendModels(machine, deps.mirrorBaseUrl);
    const settings = deps.settings();
    const items: RecommendationItem[] = recs.map((rec) => ({
        rec,
        label: `${rec.role}: ${rec.title}`,
        description: gb(rec.approxBytes),
        detail: `${ROLE_PURPOSE[rec.role]} · ${rec.why}${settings.models[rec.role].path ? ` · replaces ${settings.models[rec.role].path}` : ''}`,
        picked: settings.models[rec.role].path === '',
    }));
    const picked = await vscode.window.showQuickPick(items, {
        title: 'Zeta: download recommended models',
        placeHolder: 'Models to download (sized to this machine)',
        canPickMany: true,
        ignoreFocusOut: true,
    });
    if (!picked || picked.length === 0) return [];
    const dir = vscode.Uri.joinPath(deps.context.globalStorageUri, 'models').fsPath;
    const done: Role[] = [];
    for (const { rec } of picked) {
        const ok = await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: `Zeta: downloading the ${rec.role} (${rec.title})`, cancellable: true },
            async (progress, token) => {
                const { signal, dispose } = abortSignalFromToken(token, 'download cancelled');
                let reported = 0;
                try {
                    const r = await downloadModel(
                        {
                            uri: rec.uri,
                            dirPath: dir,
                            fileName: rec.fileName,
                            onProgress: (p) => {
                                if (p.totalBytes <= 0) return;
                                const pct = (100 * p.downloadedBytes) / p.totalBytes;
                                const speed = p.bytesPerSec > 0 ? `, ${(p.bytesPerSec / 1e6).toFixed(1)} MB/s` : '';
                                progress.report({ increment: Math.max(0, pct - reported), message: `${gb(p.downloadedBytes)} of ${gb(p.totalBytes)}${speed}` });
                                reported = Math.max(reported, pct);
                            },
                        },
                        signal,
                    );
                    await setModelPath(rec.role, r.path);
                    deps.log.info(`setup: downloaded ${rec.uri} to ${r.path} (${r.bytes} bytes${r.resumedFromBytes > 0 ? `, resumed from ${r.resumedFromBytes}` : ''})`);
                    return true;
                } catch (e) {
                    if (isAbortError(e) || signal.aborted) {
                        deps.log.info(`setup: download of ${rec.uri} cancelled; the partial file is kept and the next run resumes`);
                        void vscode.window.showInformationMessage(`Zeta: download of the ${rec.role} paused. Run "Download Recommended Models" again to resume.`);
                        throw abortError('cancelled');
                    }
                    const message = errorMessage(e);
                    deps.log.error(`setup: ${message}`);
                    const detail = e instanceof DownloadError && e.problem !== 'failed' ? ' The file did not verify and was set aside.' : '';
                    void vscode.window.showErrorMessage(`Zeta: could not download the ${rec.role}: ${message}.${detail}`, 'Show Log').then((a) => {
                        if (a === 'Show Log') deps.log.show(true);
                    });
                    return false;
                } finally {
                    dispose();
                }
            },
        ).then(
            (v) => v,
            () => undefined, // cancelled: stop the remaining downloads too
        );
        if (ok === undefined) break;
        if (ok) done.push(rec.role);
    }
    if (done.length > 0) void vscode.window.showInformationMessage(`Zeta: ${done.join(', ')} ready. Models load on first use.`);
    return done;
}
