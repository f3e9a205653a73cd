/**
 * In the e2e build only: a chat answer read from a fixture file instead of a model, so that the
 * workbench tests can put chosen text (hostile markdown) through the answer panel's real path.
 *
 * Only `answerPanel.ts` calls this, under `if (__ZETA_E2E__)`: scripts/build.mjs defines the flag
 * `false` for dist/ (npm run build, npm start, npm run package), so esbuild drops the call and this
 * module is absent from every shipped bundle (scripts/package.mjs refuses a dist/extension.js
 * that contains FIXTURE_FILE). The e2e runner's .vsix is bundled again with the flag `true`.
 *
 * Even there, a workspace cannot supply an answer: the file is `zeta-e2e-answer.md` beside the
 * workspace folder named by the environment variable ZETA_E2E_WORKSPACE (set by test/e2e/run.mjs
 * for code-server, and inherited by the extension host), outside the workspace. It is deleted as
 * it is read: one file answers one request, and every other request goes to the models.
 */
import { readFile, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import type { Clock } from '../core/clock';
import type { ChatTask, TaskResult } from '../core/tasks';

export const FIXTURE_FILE = 'zeta-e2e-answer.md';
/** The answer streams in at most this many pieces, PIECE_GAP_MS apart (so the panel re-renders while it grows). */
const PIECES = 48;
const PIECE_GAP_MS = 15;

/** The fixture answer to `task`, streamed to its `onToken`; undefined when no fixture file waits. */
export async function e2eFixtureAnswer(task: ChatTask, signal: AbortSignal, clock: Clock): Promise<TaskResult | undefined> {
    const workspace = process.env.ZETA_E2E_WORKSPACE;
    if (!workspace) return undefined;
    const file = path.join(path.dirname(workspace), FIXTURE_FILE);
    let text: string;
    try {
        text = await readFile(file, 'utf8');
        await unlink(file);
    } catch {
        return undefined;
    }
    const start = clock.now();
    const size = Math.max(1, Math.ceil(text.length / PIECES));
    let first: number | undefined;
    let pieces = 0;
    for (let at = 0; at < text.length; at += size) {
        signal.throwIfAborted();
        await new Promise<void>((resolve) => clock.setTimeout(resolve, PIECE_GAP_MS));
        signal.throwIfAborted();
        first ??= clock.now() - start;
        task.onToken?.(text.slice(at, at + size));
        pieces++;
    }
    signal.throwIfAborted();
    const reason = `e2e build: answered from ${FIXTURE_FILE} (no model ran)`;
    return {
        taskId: 0,
        kind: task.kind,
        modelId: 'e2e-fixture',
        text,
        timings: { queuedMs: 0, firstTokenMs: first, totalMs: clock.now() - start },
        decision: { taskId: 0, kind: task.kind, at: start, policy: 'e2e-fixture', chosen: 'e2e-fixture', candidates: [], reason },
        promptTokens: 0,
        reusedPromptTokens: 0,
        generatedTokens: pieces,
    };
}
