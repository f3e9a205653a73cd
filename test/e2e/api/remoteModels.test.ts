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
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { freePort } from '../../support/llamaServer';

const EXTENSION_ID = 'zeta-dev.zeta';
/** The repository: this file runs bundled from out/test/e2e/api/. */
const ROOT = path.resolve(__dirname, '../../../..');
/** Caps on waits: far above what the slowest machine needs, so only a hang reaches them. */
const START_CAP_MS = 120_000;
const HANG_CAP_MS = 90_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, capMs: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 200): Promise<T> {
    const deadline = Date.now() + capMs;
    for (;;) {
        const v = await probe();
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error(`no ${what} within ${capMs} ms (a hang)`);
        await sleep(everyMs);
    }
}

interface FeedbackCounts {
    readonly shown: number;
    readonly accepted: number;
}

function readFeedback(modelId: string): FeedbackCounts | undefined {
    const userData = process.env.ZETA_E2E_USER_DATA;
    const file = userData && path.join(userData, 'User', 'globalStorage', EXTENSION_ID, 'feedback.json');
    if (!file || !existsSync(file)) return undefined;
    try {
        const data = JSON.parse(readFileSync(file, 'utf8')) as { models?: Record<string, Record<string, FeedbackCounts>> };
        return data.models?.[modelId]?.completion;
    } catch {
        return undefined; // being replaced (written to a temp name and renamed): read again
    }
}

describe('a remote model from the user settings serves completions', function () {
    this.timeout(300_000);
    let server: ChildProcess | undefined;
    let url = '';

    before(async function () {
        this.timeout(START_CAP_MS + 60_000);
        const model = process.env.ZETA_CODER_MODEL;
        assert.ok(model && existsSync(model), 'ZETA_CODER_MODEL names the generated coder (test/e2e/run.mjs)');
        const binary = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'engine.mjs'), '--print-only'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!.trim();
        assert.ok(existsSync(binary), `no llama-server at ${binary}: run npm run engine`);
        const port = await freePort();
        url = `http://127.0.0.1:${port}`;
        const lines: string[] = [];
        server = spawn(binary, ['-m', model, '--host', '127.0.0.1', '--port', String(port), '-t', '1', '-tb', '1', '-c', '2048', '--parallel', '1', '--metrics', '--no-webui'], { stdio: ['ignore', 'pipe', 'pipe'] });
        server.stdout?.on('data', (b: Buffer) => lines.push(b.toString('utf8')));
        server.stderr?.on('data', (b: Buffer) => lines.push(b.toString('utf8')));
        await until('llama-server answering /health', START_CAP_MS, async () => {
            assert.equal(server?.exitCode, null, `llama-server exited: ${lines.join('').slice(-2000)}`);
            try {
                const res = await fetch(`${url}/health`);
                await res.body?.cancel();
                return res.ok ? true : undefined;
            } catch {
                return undefined; // not listening yet
            }
        }, 100);
        await vscode.extensions.getExtension(EXTENSION_ID)?.activate();
    });

    after(async () => {
        const zeta = vscode.workspace.getConfiguration('zeta');
        await zeta.update('remoteModels', undefined, vscode.ConfigurationTarget.Global);
        await zeta.update('routing.policy', undefined, vscode.ConfigurationTarget.Global);
        if (server && server.exitCode === null) {
            const exited = new Promise((r) => server?.once('exit', r));
            server.kill('SIGTERM');
            const timer = setTimeout(() => server?.kill('SIGKILL'), 5_000);
            await exited;
            clearTimeout(timer);
        }
    });

    it('zeta.remoteModels in the user settings applies without a reload: the remote coder serves a completion', async () => {
        const zeta = vscode.workspace.getConfiguration('zeta');
        await zeta.update('routing.policy', 'static', vscode.ConfigurationTarget.Global);
        await zeta.update('remoteModels', [{ id: 'team', url, api: 'llama-server', roles: ['coder'] }], vscode.ConfigurationTarget.Global);
        assert.deepEqual(vscode.workspace.getConfiguration('zeta').inspect('remoteModels')?.globalValue, [{ id: 'team', url, api: 'llama-server', roles: ['coder'] }]);

        const doc = await vscode.workspace.openTextDocument({ language: 'python', content: '' });
        const editor = await vscode.window.showTextDocument(doc);
        const initial = readFeedback('team')?.shown ?? 0;
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
            const c = readFeedback('team');
            return c && c.shown > initial ? c : undefined;
        }, 250);
        console.log(`      the remote model's suggestion was shown after ${asked} ask(s)`);
        assert.ok(counts.shown > initial);
        await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    });
});
