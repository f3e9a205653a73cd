/**
 * The one place a VS Code CancellationToken becomes an AbortSignal. The listener is released by
 * `dispose()`, which callers run in `finally`.
 */
import type * as vscode from 'vscode';
import { abortError } from '../core/errors';

export interface TokenSignal extends vscode.Disposable {
    readonly signal: AbortSignal;
}

export function abortSignalFromToken(token: vscode.CancellationToken, reason = 'cancelled by the editor'): TokenSignal {
    const controller = new AbortController();
    if (token.isCancellationRequested) {
        controller.abort(abortError(reason));
        return { signal: controller.signal, dispose: () => undefined };
    }
    const listener = token.onCancellationRequested(() => controller.abort(abortError(reason)));
    return { signal: controller.signal, dispose: () => listener.dispose() };
}
