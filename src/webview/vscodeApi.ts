/** The webview side of the extension bridge, typed by the message unions of one webview. */
interface VsCodeApi {
    postMessage(message: unknown): void;
    getState(): unknown;
    setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface Bridge<Out, State = never> {
    post(message: Out): void;
    /** What `saveState` kept for this webview (it survives the view being hidden and shown again). */
    loadState(): State | undefined;
    saveState(state: State): void;
}

/** May be called once per webview (VS Code's rule for acquireVsCodeApi). */
export function connect<Out, State = never>(): Bridge<Out, State> {
    const api = acquireVsCodeApi();
    return { post: (m) => api.postMessage(m), loadState: () => (api.getState() as State | undefined) ?? undefined, saveState: (s) => api.setState(s) };
}

export function byId<T extends HTMLElement>(id: string): T {
    const el = document.getElementById(id);
    if (!el) throw new Error(`missing element #${id}`);
    return el as T;
}
