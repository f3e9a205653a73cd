/**
 * API keys of remote models: kept in VS Code's SecretStorage (the system keychain where there is
 * one), one secret per remote model id, never in a settings file. The composition root puts them
 * into `spec.remote.apiKey` (toModelSpecs) and reconfigures the router when one changes.
 *
 * Invariants: `get(id)` answers from memory, for the ids last passed to `load` (the configured remote
 * models); a key changed in secret storage (by the commands here, or by another window) is read again
 * before `onDidChange` fires with its id; a key is logged never, only whether one is set.
 */
import * as vscode from 'vscode';
import { errorMessage } from '../core/errors';
import type { RemoteModelSettings } from '../core/userSettings';

/** Secret storage key of a remote model's API key: this prefix + the model's id. */
export const API_KEY_SECRET_PREFIX = 'zeta.remoteApiKey.';

export function apiKeySecret(remoteModelId: string): string {
    return API_KEY_SECRET_PREFIX + remoteModelId;
}

export class RemoteKeys implements vscode.Disposable {
    /** Keys of the configured remote models that have one, by remote model id. */
    private readonly keys = new Map<string, string>();
    /** The configured remote model ids (the last `load`). */
    private ids = new Set<string>();
    private readonly emitter = new vscode.EventEmitter<string>();
    private readonly disposables: vscode.Disposable[] = [this.emitter];
    /** Fires with a configured remote model's id after its key was stored, replaced or deleted. */
    readonly onDidChange = this.emitter.event;

    constructor(
        private readonly secrets: vscode.SecretStorage,
        private readonly log: (message: string) => void,
    ) {
        this.disposables.push(
            secrets.onDidChange((e) => {
                if (!e.key.startsWith(API_KEY_SECRET_PREFIX)) return;
                const id = e.key.slice(API_KEY_SECRET_PREFIX.length);
                if (!this.ids.has(id)) return;
                void this.read(id).then((changed) => {
                    if (changed) this.emitter.fire(id);
                });
            }),
        );
    }

    /** The API key of remote model `id`, or undefined (none set, or `id` not configured). */
    readonly get = (id: string): string | undefined => this.keys.get(id);

    has(id: string): boolean {
        return this.keys.has(id);
    }

    /** Reads the keys of `ids` not read yet and forgets the others; resolves once every key is in memory. */
    async load(ids: readonly string[]): Promise<void> {
        const fresh = ids.filter((id) => !this.ids.has(id));
        this.ids = new Set(ids);
        for (const id of [...this.keys.keys()]) if (!this.ids.has(id)) this.keys.delete(id);
        await Promise.all(fresh.map((id) => this.read(id)));
    }

    async store(id: string, key: string): Promise<void> {
        await this.secrets.store(apiKeySecret(id), key);
    }

    async delete(id: string): Promise<void> {
        await this.secrets.delete(apiKeySecret(id));
    }

    dispose(): void {
        for (const d of this.disposables.splice(0)) d.dispose();
    }

    /** Reads one key from secret storage; true when what is in memory changed. */
    private async read(id: string): Promise<boolean> {
        let key: string | undefined;
        try {
            key = (await this.secrets.get(apiKeySecret(id))) || undefined;
        } catch (e) {
            // A locked or missing keychain: the model is used without a key (a 401 then says what to do).
            this.log(`remote model ${id}: reading its API key from secret storage failed: ${errorMessage(e)}`);
        }
        if (!this.ids.has(id) || this.keys.get(id) === key) return false;
        if (key === undefined) this.keys.delete(id);
        else this.keys.set(id, key);
        this.log(`remote model ${id}: ${key === undefined ? 'no API key' : 'API key set'} (secret storage)`);
        return true;
    }
}

export interface RemoteKeyCommandDeps {
    readonly keys: RemoteKeys;
    /** The remote models configured now (valid entries of zeta.remoteModels). */
    readonly remoteModels: () => readonly RemoteModelSettings[];
    readonly log: vscode.LogOutputChannel;
}

/** What a key command was given: `id` picks the remote model without asking (the key is always typed). */
export interface RemoteKeyArgs {
    readonly id?: string;
}

interface ModelItem extends vscode.QuickPickItem {
    readonly model: RemoteModelSettings;
}

/** The remote model to act on: `args.id` when configured, else picked by the user; undefined when none. */
async function pickRemoteModel(deps: RemoteKeyCommandDeps, args: RemoteKeyArgs | undefined, title: string): Promise<RemoteModelSettings | undefined> {
    const models = deps.remoteModels();
    if (models.length === 0) {
        const open = 'Open Settings';
        const pick = await vscode.window.showInformationMessage('Zeta: no remote model is configured. Add one to zeta.remoteModels in your user settings first.', open);
        if (pick === open) await vscode.commands.executeCommand('workbench.action.openSettingsJson', { revealSetting: { key: 'zeta.remoteModels' } });
        return undefined;
    }
    if (typeof args?.id === 'string') {
        const m = models.find((x) => x.id === args.id);
        if (!m) void vscode.window.showWarningMessage(`Zeta: no remote model "${args.id}" in zeta.remoteModels (configured: ${models.map((x) => x.id).join(', ')}).`);
        return m;
    }
    if (models.length === 1) return models[0];
    const items: ModelItem[] = models.map((m) => ({
        label: m.id,
        description: m.url,
        detail: `${m.api}, ${m.roles.join(', ')}; ${deps.keys.has(m.id) ? 'an API key is set' : 'no API key'}`,
        model: m,
    }));
    return (await vscode.window.showQuickPick(items, { title, placeHolder: 'Remote model' }))?.model;
}

/** "Zeta: Set Remote API Key": a configured remote model, then its key in a password box. Returns the model's id when stored. */
export async function setRemoteApiKey(deps: RemoteKeyCommandDeps, args?: RemoteKeyArgs): Promise<string | undefined> {
    const model = await pickRemoteModel(deps, args, 'Zeta: set the API key of a remote model');
    if (!model) return undefined;
    const key = await vscode.window.showInputBox({
        title: `Zeta: API key for "${model.id}"`,
        prompt: `Sent only to ${model.url} (as a bearer token); kept in VS Code's secret storage, never in settings.`,
        password: true,
        ignoreFocusOut: true,
        placeHolder: deps.keys.has(model.id) ? 'A key is set: type a new one to replace it' : 'API key',
        validateInput: (v) => (v.trim() === '' ? 'Type the key (Zeta: Clear Remote API Key removes one)' : /\s/.test(v.trim()) ? 'An API key has no spaces or line breaks' : undefined),
    });
    if (key === undefined || key.trim() === '') return undefined;
    await deps.keys.store(model.id, key.trim());
    deps.log.info(`remote model ${model.id}: API key stored in secret storage`);
    void vscode.window.showInformationMessage(`Zeta: the API key for "${model.id}" is stored; it is used from now on.`);
    return model.id;
}

/** "Zeta: Clear Remote API Key": removes a remote model's key from secret storage. Returns the model's id when removed. */
export async function clearRemoteApiKey(deps: RemoteKeyCommandDeps, args?: RemoteKeyArgs): Promise<string | undefined> {
    const model = await pickRemoteModel(deps, args, 'Zeta: clear the API key of a remote model');
    if (!model) return undefined;
    await deps.keys.delete(model.id);
    deps.log.info(`remote model ${model.id}: API key removed from secret storage`);
    void vscode.window.showInformationMessage(`Zeta: the API key for "${model.id}" is removed.`);
    return model.id;
}
