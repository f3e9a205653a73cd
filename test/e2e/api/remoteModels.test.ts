/**
 * A remote model in the real workbench: the test starts a llama-server (the binary `npm run engine`
 * built) serving the generated tiny coder on a loopback port, writes `zeta.remoteModels` to the user
 * settings as a user would, and a completion VS Code asks Zeta for is then served by that engine,
 * with no reload. What the test sees is what a user or another extension could: the setting, the
 * editor's inline-suggestion commands, and the feedback Zeta persists per model id.
 *
 * `zeta.routing.policy` is set to "static" (the role's first model: the remote one) so which model
 * serves is decided by the settings alone, not by the two models' measured speeds on a busy machine.
 * Both settings are removed again afterwards, and the server is stopped.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { startLlamaServer, type LlamaServer } from '../../../scripts/llamaServer';
import { EXTENSION_ID, readFeedback, until } from './support';

/** The repository: this file runs bundled from out/test/e2e/api/. */
const ROOT = path.resolve(__dirname, '../../../..');
/** Caps on waits: far above what the slowest machine needs, so only a hang reaches them. */
const START_CAP_MS = 120_000;
const HANG_CAP_MS = 90_000;

describe('a remote model from the user settings serves completions', function () {
    this.timeout(300_000);
    let server: LlamaServer | undefined;
    let url = '';

    before(async function () {
        this.timeout(START_CAP_MS + 60_000);
        const model = process.env.ZETA_CODER_MODEL;
        assert.ok(model && existsSync(model), 'ZETA_CODER_MODEL names the generated coder (test/e2e/run.mjs)');
        const binary = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'engine.mjs'), '--print-only'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!.trim();
        assert.ok(existsSync(binary), `no llama-server at ${binary}: run npm run engine`);
        // This suite runs bundled (out/test/e2e/api), so the binary is found from the repository root here.
        server = await startLlamaServer({ model, binary, slots: 1 });
        url = server.url;
        await vscode.extensions.getExtension(EXTENSION_ID)?.activate();
    });

    after(async () => {
        const zeta = vscode.workspace.getConfiguration('zeta');
        await zeta.update('remoteModels', undefined, vscode.ConfigurationTarget.Global);
        await zeta.update('routing.policy', undefined, vscode.ConfigurationTarget.Global);
        await server?.stop();
    });

    it('zeta.remoteModels in the user settings applies without a reload: the remote coder serves a completion', async () => {
        const zeta = vscode.workspace.getConfiguration('zeta');
        await zeta.update('routing.policy', 'static', vscode.ConfigurationTarget.Global);
        await zeta.update('remoteModels', [{ id: 'team', url, api: 'llama-server', roles: ['coder'] }], vscode.ConfigurationTarget.Global);
        assert.deepEqual(vscode.workspace.getConfiguration('zeta').inspect('remoteModels')?.globalValue, [{ id: 'team', url, api: 'llama-server', roles: ['coder'] }]);

        const doc = await vscode.workspace.openTextDocument({ language: 'python', content: '' });
        const editor = await vscode.window.showTextDocument(doc);
        const initial = readFeedback()?.team?.completion?.shown ?? 0;
        // VS Code asks Zeta's provider; commit accepts whatever ghost text shows. Each ask is for a new
        // function (a suggestion cached for the same text would be shown again without routing), until
        // a suggestion the remote model made was shown (Zeta records it per model id, debounced). The
        // first asks may go to the local coder while the remote one is still being inspected.
        let asked = 0;
        const counts = await until('a completion shown from the remote model "team"', HANG_CAP_MS, async () => {
            asked++;
            await editor.edit((e) => e.replace(new vscode.Range(0, 0, doc.lineCount, 0), `def times_${asked}(n):\n    return `));
            const end = doc.lineAt(doc.lineCount - 1).range.end;
            editor.selection = new vscode.Selection(end, end);
            await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
            await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
            const c = readFeedback()?.team?.completion;
            return c && c.shown > initial ? c : undefined;
        }, 250);
        console.log(`      the remote model's suggestion was shown after ${asked} ask(s)`);
        assert.ok(counts.shown > initial);
        await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    });
});
