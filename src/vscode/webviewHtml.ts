/**
 * HTML shells for Zeta's webviews: a strict Content-Security-Policy (`default-src 'none'`, scripts
 * only with a fresh nonce, styles, fonts and images only from the extension's own webview
 * resources: no inline script or style, no `data:` or remote URL, no fetch, no frame; `base-uri`
 * and `form-action` (which `default-src` does not cover) 'none'), and resource roots limited to the
 * built webview scripts and media/. Untrusted text (model output, file contents, paths) never goes
 * into this HTML: the scripts put it in the DOM as text nodes or allowlisted elements.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions & vscode.WebviewPanelOptions {
    return {
        enableScripts: true,
        enableCommandUris: false,
        localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
    };
}

export interface ShellOptions {
    readonly title: string;
    /** Script file in dist/webview/. */
    readonly script: string;
    /** Stylesheet in media/. */
    readonly style: string;
    /** Static markup (no untrusted content: the script fills it in). */
    readonly body: string;
}

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, o: ShellOptions): string {
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', o.script));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', o.style));
    const csp = [
        "default-src 'none'",
        `img-src ${webview.cspSource}`,
        `style-src ${webview.cspSource}`,
        `font-src ${webview.cspSource}`,
        `script-src 'nonce-${nonce}'`,
        "base-uri 'none'",
        "form-action 'none'",
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>${escapeHtml(o.title)}</title>
</head>
<body>
${o.body}
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
}

export function escapeHtml(s: string): string {
    return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}
