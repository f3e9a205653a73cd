/**
 * What the user sees when something goes wrong. The core throws typed errors; this is where the
 * shell decides how to show them: a message with actions ("Open Settings", "Show Log", "Get
 * Started"), logged in full to the "Zeta" output channel. Repeats of the same problem are shown
 * once (they stay in the log).
 */
import * as vscode from 'vscode';
import { DeadlineError, ModelFileError, ModelRuntimeError, NoCapableModelError, QueueFullError, errorMessage, isAbortError } from '../core/errors';
import { openZetaSettings } from './settingsService';

const OPEN_SETTINGS = 'Open Settings';
const SHOW_LOG = 'Show Log';
const GET_STARTED = 'Get Started';

export class Notifier {
    /** Problems already shown, by key; cleared when the problem goes away. */
    private readonly shown = new Set<string>();

    constructor(
        private readonly log: vscode.LogOutputChannel,
        private readonly anyModelConfigured: () => boolean,
    ) {}

    /** A model failed to load or keeps failing. Shown once per (model, message) until cleared. */
    modelFailed(modelId: string, role: string, message: string): void {
        const key = `model:${modelId}:${message}`;
        this.log.error(`model ${modelId} (${role}) failed: ${message}`);
        if (this.shown.has(key)) return;
        this.shown.add(key);
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
        } else if (e instanceof ModelRuntimeError) {
            void this.show('error', `Zeta: ${message}`, [SHOW_LOG, OPEN_SETTINGS]);
        } else {
            void this.show('error', `Zeta: ${what} failed: ${message}`, [SHOW_LOG]);
        }
        return message;
    }

    private async show(level: 'error' | 'warning', message: string, actions: string[], settingKey?: string): Promise<void> {
        const pick = level === 'error' ? await vscode.window.showErrorMessage(message, ...actions) : await vscode.window.showWarningMessage(message, ...actions);
        if (pick === OPEN_SETTINGS) await openZetaSettings(settingKey);
        else if (pick === SHOW_LOG) this.log.show(true);
        else if (pick === GET_STARTED) await vscode.commands.executeCommand('zeta.setup.openWalkthrough');
    }
}
