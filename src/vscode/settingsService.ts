/**
 * The one reader of Zeta's settings. Reads every `zeta.*` key the core knows (SETTING_KEYS), parses
 * them with the environment's defaults (ZETA_*_MODEL, ZETA_THREADS), reports problems, and fires
 * `onDidChange` with the new parsed settings whenever `zeta` configuration changes. Invalid values
 * keep the previous good value (parseSettings).
 */
import * as vscode from 'vscode';
import { SETTING_KEYS, parseSettings, type ParsedSettings, type RoutingInternals, type SettingsEnv, type ZetaSettings } from '../core/userSettings';

export function readRawSettings(): Record<string, unknown> {
    const config = vscode.workspace.getConfiguration('zeta');
    const raw: Record<string, unknown> = {};
    for (const key of SETTING_KEYS) raw[key] = config.get(key);
    return raw;
}

export function readSettings(previous: ZetaSettings | undefined, internals: RoutingInternals, env: SettingsEnv = process.env): ParsedSettings {
    return parseSettings(readRawSettings(), previous, env, internals);
}

export class SettingsService implements vscode.Disposable {
    private parsed: ParsedSettings;
    private readonly emitter = new vscode.EventEmitter<ParsedSettings>();
    private readonly disposables: vscode.Disposable[] = [this.emitter];
    readonly onDidChange = this.emitter.event;

    constructor(
        private readonly internals: RoutingInternals,
        private readonly reportProblems: (problems: readonly string[]) => void,
    ) {
        this.parsed = readSettings(undefined, internals);
        if (this.parsed.problems.length > 0) reportProblems(this.parsed.problems);
        this.disposables.push(
            vscode.workspace.onDidChangeConfiguration((e) => {
                if (!e.affectsConfiguration('zeta')) return;
                this.parsed = readSettings(this.parsed.settings, this.internals);
                if (this.parsed.problems.length > 0) this.reportProblems(this.parsed.problems);
                this.emitter.fire(this.parsed);
            }),
        );
    }

    get current(): ParsedSettings {
        return this.parsed;
    }

    get settings(): ZetaSettings {
        return this.parsed.settings;
    }

    dispose(): void {
        for (const d of this.disposables.splice(0)) d.dispose();
    }
}

/** Opens the Settings editor on Zeta's settings (optionally one key). */
export function openZetaSettings(key?: string): Thenable<unknown> {
    return vscode.commands.executeCommand('workbench.action.openSettings', key ? `zeta.${key}` : '@ext:zeta-dev.zeta');
}
