/** The webview side of the extension bridge, typed by the message unions of one webview. */
interface VsCodeApi {
    postMessage(message: unknown): void;
    getState(): unknown;
    setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface Bridge<Out> {
    post(message: Out): void;
}

/** May be called once per webview (VS Code's rule for acquireVsCodeApi). */
export function connect<Out>(): Bridge<Out> {
    const api = acquireVsCodeApi();
    return { post: (m) => api.postMessage(m) };
}

export function byId<T extends HTMLElement>(id: string): T {
    const el = document.getElementById(id);
    if (!el) throw new Error(`missing element #${id}`);
    return el as T;
}
