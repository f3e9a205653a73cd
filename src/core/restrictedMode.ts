/**
 * What Zeta does in an untrusted workspace (VS Code's Restricted Mode). Pure: the editor layer
 * passes in whether the workspace is trusted.
 *
 * The rule, one the user can predict: until the workspace is trusted, Zeta reads only what the user
 * selects or types around (completions, Explain, Plan Refactor, Edit Selection), with the model
 * files from user or machine settings. Workspace search reads every file of the folder, runs the
 * tree-sitter chunker on them and keeps an index on disk, and results show text of files the user
 * never opened: it does not run, on its own or on request, until the workspace is trusted. The
 * request is answered with the reason and a way to trust the workspace (one click), after which
 * indexing starts without a reload (`onDidGrantWorkspaceTrust`).
 *
 * Remote models send code off the machine, so one rule holds for them whether the workspace is
 * trusted or not: they come only from the user's own settings (`remoteModelsFromLayers`). A
 * workspace or folder can never name a server, not even a trusted one (trust says the folder's code
 * may run, not that it may choose where your code goes); in Restricted Mode the same rule is what
 * allows remote use at all: the user configured it, not the workspace.
 */

export type SearchPermission =
    | { readonly allowed: true }
    | {
          readonly allowed: false;
          /** Why, in words the search view and the notification show. */
          readonly reason: string;
          /** True when trusting the workspace would allow it (offer "Manage Workspace Trust"). */
          readonly offerTrust: boolean;
          /** The setting that turned it off, if one did. */
          readonly setting?: string;
      };

export const RESTRICTED_SEARCH_REASON =
    'Restricted Mode: Zeta does not index or search this workspace until you trust it. Completions, Explain and Edit Selection work on what you select.';

/** Whether workspace search (indexing, a query, a reindex) may read the workspace now. */
export function searchPermission(state: { readonly searchEnabled: boolean; readonly trusted: boolean; readonly folders: number }): SearchPermission {
    if (!state.searchEnabled) return { allowed: false, reason: 'Search is turned off (zeta.features.search).', offerTrust: false, setting: 'features.search' };
    if (!state.trusted) return { allowed: false, reason: RESTRICTED_SEARCH_REASON, offerTrust: true };
    if (state.folders === 0) return { allowed: false, reason: 'No folder is open: open a folder to search it.', offerTrust: false };
    return { allowed: true };
}

/** One setting's values per configuration layer (VS Code's `WorkspaceConfiguration.inspect`). */
export interface LayerValues {
    /** The value in force as VS Code resolves it: never read for remote models. */
    readonly value?: unknown;
    /** User settings (or, in a remote window, the remote machine's user settings). */
    readonly globalValue?: unknown;
    readonly workspaceValue?: unknown;
    readonly workspaceFolderValue?: unknown;
}

/**
 * The rule for remote models: `zeta.remoteModels` is read from the user layer alone (`globalValue`),
 * trusted workspace or not, even when VS Code would resolve a workspace's value (a host that ignored
 * the setting's machine scope). A workspace's or folder's value is never used, and is named in
 * `ignored` (worded for Restricted Mode when the workspace is not trusted).
 */
export function remoteModelsFromLayers(layers: LayerValues | undefined, trusted: boolean): { value: unknown; ignored?: string } {
    const value = layers?.globalValue;
    const fromWorkspace = layers?.workspaceFolderValue ?? layers?.workspaceValue;
    if (fromWorkspace === undefined) return { value };
    const where = layers?.workspaceFolderValue !== undefined ? 'a folder' : 'the workspace';
    const why = trusted
        ? 'remote models send your code to a server, so only your user settings can configure them'
        : 'Restricted Mode: remote models send your code to a server, so only your user settings can configure them, never an untrusted workspace';
    return { value, ignored: `zeta.remoteModels: ${where} sets remote models, which are ignored (${why})` };
}
