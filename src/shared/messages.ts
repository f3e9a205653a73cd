/**
 * The typed protocol between the extension and its webviews: one discriminated union per
 * direction per webview. Both sides import these types (the webview scripts in src/webview/ are
 * bundled separately), so a misspelled message type is a compile error, not a silent no-op.
 * Plain data only: everything here crosses postMessage (structured clone).
 */

// ---- Markdown answer panel (Explain Selection, Plan Refactor) --------------------------------

export interface RoutingInfo {
    /** Model id that answered (or is answering). */
    readonly model: string;
    /** Display name of the model file. */
    readonly modelName: string;
    /** The router's reason in words. */
    readonly reason: string;
    readonly policy: string;
    /** True once the task finished (the model that actually served it, after any retry). */
    readonly final: boolean;
}

export type AnswerToWebview =
    /** A new task started in this panel: clear it. */
    | { readonly type: 'start'; readonly title: string; readonly subject: string }
    /**
     * The answer so far, exactly as the model wrote it (markdown, untrusted: the webview renders it
     * through an allowlist, never as HTML). Replaces the previous content.
     */
    | { readonly type: 'content'; readonly markdown: string }
    | { readonly type: 'routing'; readonly routing: RoutingInfo }
    | { readonly type: 'status'; readonly text: string; readonly busy: boolean }
    | { readonly type: 'error'; readonly message: string }
    /** The answer to a `copy`: `chars` characters of markdown are on the clipboard, or why not. */
    | { readonly type: 'copied'; readonly ok: boolean; readonly chars: number; readonly message?: string };

export type AnswerFromWebview =
    | { readonly type: 'ready' }
    | { readonly type: 'stop' }
    /** A link in the answer was clicked (http/https only are opened, by the extension). */
    | { readonly type: 'openLink'; readonly href: string }
    /** Copy the answer's markdown (the model's text as the extension holds it) to the clipboard. */
    | { readonly type: 'copy' };

// ---- Load view ------------------------------------------------------------------------------

export interface LoadModelRow {
    readonly id: string;
    readonly role: string;
    readonly name: string;
    readonly residency: string;
    readonly error?: string;
    readonly queued: number;
    readonly inFlight: number;
    readonly slots: number;
    readonly paused: number;
    readonly firstTokenMs: number | undefined;
    readonly decodeTokensPerSec: number | undefined;
    readonly promptTokensPerSec: number | undefined;
    readonly utilisation: number;
    readonly memoryBytes: number;
    readonly served: number;
    readonly failed: number;
    /** Why decisions leave the model out now (cooling down, or until its settings change), in words. */
    readonly unavailable?: string;
    /** Set for a model served by a remote engine: the engine's live load. */
    readonly remote?: LoadRemoteRow;
}

/** A remote engine's live load, as the load view shows it. Units: requests, ms. */
export interface LoadRemoteRow {
    /** "llama-server" or "openai". */
    readonly api: string;
    readonly url: string;
    readonly slots: number | undefined;
    /** Busy slots over all clients, and of those other clients' (the rest are ours). */
    readonly slotsBusy: number;
    readonly othersBusy: number;
    /** Requests waiting in the engine's own queue, over all clients. */
    readonly deferred: number;
    readonly rttMs: number | undefined;
    readonly reachable: boolean;
    readonly error?: string;
    /** Age of the engine's load report (ms); undefined before the first. */
    readonly ageMs: number | undefined;
}

export interface LoadDecisionRow {
    readonly taskId: number;
    readonly kind: string;
    /** Milliseconds before the snapshot time. */
    readonly agoMs: number;
    readonly chosen: string;
    readonly reason: string;
    /** The document the task is about, as the user knows it (workspace-relative path), if any. */
    readonly doc?: string;
}

/** Why one task waits now (the router's `WaitExplanation`). */
export interface LoadWaitRow {
    readonly taskId: number;
    readonly modelId: string | undefined;
    /** held, queued, loading, sequence, turn or paused. */
    readonly stage: string;
    readonly reason: string;
}

export interface LoadSnapshotMessage {
    readonly type: 'snapshot';
    /** Wall-clock time of the snapshot, ms since the epoch (for the timeline axis). */
    readonly wallTime: number;
    readonly policy: string;
    /** The memory budget in force and why ("memory budget 9.6 GB (50% of 19.2 GB RAM, no GPU; from the machine)"). */
    readonly memoryBudget?: string;
    readonly models: readonly LoadModelRow[];
    readonly decisions: readonly LoadDecisionRow[];
    /** Tasks waiting now and why, oldest first. */
    readonly waits: readonly LoadWaitRow[];
}

export type LoadToWebview =
    | LoadSnapshotMessage
    /** Shown instead of the tables when no model is configured. */
    | { readonly type: 'empty'; readonly message: string };

export type LoadFromWebview =
    | { readonly type: 'ready' }
    | { readonly type: 'openSettings' }
    | { readonly type: 'showLog' };

// ---- Search view ----------------------------------------------------------------------------

export interface SearchSnippetLine {
    readonly line: number;
    readonly text: string;
    /** [start, end) ranges of the query's words in `text`, marked in the view. */
    readonly marks: ReadonlyArray<readonly [number, number]>;
}

export interface SearchResultRow {
    /** Workspace-relative path. */
    readonly file: string;
    readonly startLine: number;
    readonly endLine: number;
    readonly symbol?: string;
    /** The fused score, and each channel's rank where it ranked the chunk (1-based). */
    readonly score: number;
    readonly lexicalRank?: number;
    readonly vectorRank?: number;
    readonly snippet: readonly SearchSnippetLine[];
}

/** The index and the channels, as the view's details show them. */
export interface SearchStatus {
    /** "indexed 8,412 / 10,000 files", "paused", "restricted mode: not indexing"... */
    readonly summary: string;
    /** Share of the chunks searchable by meaning, 0..100. */
    readonly percent: number;
    readonly state: string;
    readonly paused: boolean;
    /** The embedder of the index ("none": lexical only). */
    readonly model: string;
    /** How the channels are weighted and why, in words. */
    readonly weights: string;
}

export type SearchToWebview =
    /** Results for the view's query number `seq` (older ones are ignored); `final` once the vector channel is in. */
    | { readonly type: 'results'; readonly seq: number; readonly query: string; readonly results: readonly SearchResultRow[]; readonly final: boolean; readonly note?: string }
    | { readonly type: 'status'; readonly status: SearchStatus }
    /** Puts `query` in the search box and searches (Zeta: Search Workspace with a selection). */
    | { readonly type: 'seed'; readonly query: string }
    | { readonly type: 'error'; readonly seq: number; readonly message: string };

export type SearchFromWebview =
    | { readonly type: 'ready' }
    | { readonly type: 'search'; readonly seq: number; readonly query: string }
    /** Open a result: its file at its first line, its range selected. */
    | { readonly type: 'open'; readonly file: string; readonly startLine: number; readonly endLine: number }
    | { readonly type: 'reindex' }
    | { readonly type: 'pause' }
    | { readonly type: 'resume' };
