/**
 * What the user sees when something goes wrong. The core throws typed errors; this is where the
 * shell decides how to show them: a message with actions ("Open Settings", "Show Log", "Get
 * Started"), logged in full to the "Zeta" output channel. Repeats of the same problem are shown
 * once (they stay in the log).
 */
import * as vscode from 'vscode';
import { DeadlineError, ModelFileError, ModelRuntimeError, NoCapableModelError, QueueFullError, RemoteEngineError, errorMessage, isAbortError } from '../core/errors';
import { openZetaSettings } from './settingsService';

const OPEN_SETTINGS = 'Open Settings';
const SHOW_LOG = 'Show Log';
const GET_STARTED = 'Get Started';
const SET_KEY = 'Set Remote API Key';

/** The part of a remote engine's 401/403 message that names the command (src/backends/remote/http.ts). */
const UNAUTHORIZED_HINT = /Zeta: Set Remote API Key/;

export class Notifier {
    /** Problems already shown, by key; cleared when the problem goes away. */
    private readonly shown = new Set<string>();

    constructor(
        private readonly log: vscode.LogOutputChannel,
        private readonly anyModelConfigured: () => boolean,
    ) {}

    /**
     * A model failed to load or keeps failing. Shown once per (model, message) until cleared.
     * `remoteId`: the model is served by remote model `remoteId` of zeta.remoteModels (its settings
     * are there, and a refused key offers "Set Remote API Key").
     */
    modelFailed(modelId: string, role: string, message: string, remoteId?: string): void {
        const key = `model:${modelId}:${message}`;
        this.log.error(`model ${modelId} (${role}) failed: ${message}`);
        if (this.shown.has(key)) return;
        this.shown.add(key);
        if (remoteId !== undefined) {
            const actions = UNAUTHORIZED_HINT.test(message) ? [SET_KEY, SHOW_LOG] : [OPEN_SETTINGS, SHOW_LOG];
            void this.show('error', `Zeta: the remote ${role} model "${remoteId}" is not available. ${message} Its work goes to the other models.`, actions, 'remoteModels', remoteId);
            return;
        }
        void this.show('error', `Zeta: the ${role} model is not available. ${message} The rest of Zeta keeps working with the other models.`, [OPEN_SETTINGS, SHOW_LOG], `models.${role}.path`);
    }

    /** The model is fine again: a later failure is shown again. */
    modelRecovered(modelId: string): void {
        for (const key of [...this.shown]) if (key.startsWith(`model:${modelId}:`)) this.shown.delete(key);
    }

    settingsProblems(problems: readonly string[]): void {
        for (const p of problems) this.log.warn(`settings: ${p}`);
        const more = problems.length > 1 ? ` (and ${problems.length - 1} more in the log)` : '';
        void this.show('warning', `Zeta: ${problems[0]}${more}`, [OPEN_SETTINGS, SHOW_LOG]);
    }

    /**
     * A task the user asked for (Explain, Edit, Plan) failed. Aborts are not errors and are ignored.
     * Returns the one-line message, for panels that show it inline.
     */
    taskFailed(what: string, e: unknown, options: { quiet?: boolean } = {}): string | undefined {
        if (isAbortError(e)) return undefined;
        const message = errorMessage(e);
        this.log.error(`${what} failed: ${message}`);
        if (e instanceof Error && e.stack) this.log.debug(e.stack);
        if (options.quiet) return message;
        if (e instanceof NoCapableModelError) {
            if (!this.anyModelConfigured()) {
                void this.show('warning', `Zeta has no models yet: ${what} needs one. Set them up in the walkthrough or in the settings.`, [GET_STARTED, OPEN_SETTINGS]);
            } else {
                void this.show('error', `Zeta: ${message}`, [OPEN_SETTINGS, SHOW_LOG]);
            }
        } else if (e instanceof QueueFullError || e instanceof DeadlineError) {
            void this.show('warning', `Zeta is busy: ${message}`, [SHOW_LOG]);
        } else if (e instanceof ModelFileError) {
            void this.show('error', `Zeta: a model file cannot be used: ${message}`, [OPEN_SETTINGS, SHOW_LOG]);
        } else if (e instanceof RemoteEngineError) {
            void this.show('error', `Zeta: ${what} failed: a remote engine ${e.problem === 'unauthorized' ? 'refused the API key' : 'could not serve it'}: ${message}`, e.problem === 'unauthorized' ? [SET_KEY, SHOW_LOG] : [SHOW_LOG, OPEN_SETTINGS], 'remoteModels');
        } else if (e instanceof ModelRuntimeError) {
            void this.show('error', `Zeta: ${message}`, [SHOW_LOG, OPEN_SETTINGS]);
        } else {
            void this.show('error', `Zeta: ${what} failed: ${message}`, [SHOW_LOG]);
        }
        return message;
    }

    private async show(level: 'error' | 'warning', message: string, actions: string[], settingKey?: string, remoteId?: string): Promise<void> {
        const pick = level === 'error' ? await vscode.window.showErrorMessage(message, ...actions) : await vscode.window.showWarningMessage(message, ...actions);
        if (pick === OPEN_SETTINGS) await openZetaSettings(settingKey);
        else if (pick === SET_KEY) await vscode.commands.executeCommand('zeta.setRemoteApiKey', remoteId === undefined ? undefined : { id: remoteId });
        else if (pick === SHOW_LOG) this.log.show(true);
        else if (pick === GET_STARTED) await vscode.commands.executeCommand('zeta.setup.openWalkthrough');
    }
}
