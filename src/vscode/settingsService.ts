/**
 * The one reader of Zeta's settings. Reads every `zeta.*` key the core knows (SETTING_KEYS), the
 * machine-only ones (model files, remote models) from the user layer alone (rawSettingsFromLayers,
 * core/restrictedMode.ts's rule for remote models, trusted workspace or not), parses them with the
 * environment's defaults (ZETA_*_MODEL, ZETA_THREADS) and the machine's measured memory, reports
 * problems, and fires `onDidChange` with the new parsed settings whenever `zeta` configuration
 * changes or the machine's memory has been measured. Invalid values keep the previous good value
 * (parseSettings).
 *
 * Ordering rule: the machine is measured at most once, and only when a budget from the machine is
 * wanted (`zeta.memoryBudgetMB` 0 with a local model configured); `measured()` resolves once that
 * measurement, if one is wanted, has been applied, so the router is built with the budget in force.
 */
import * as vscode from 'vscode';
import { errorMessage } from '../core/errors';
import type { MachineMemory } from '../core/memoryBudget';
import { parseSettings, rawSettingsFromLayers, type ParsedSettings, type RoutingInternals, type SettingsEnv, type ZetaSettings } from '../core/userSettings';

export function readRawSettings(): { raw: Record<string, unknown>; ignored: string[] } {
    const config = vscode.workspace.getConfiguration('zeta');
    return rawSettingsFromLayers((key) => {
        const i = config.inspect(key);
        return { value: config.get(key), globalValue: i?.globalValue, workspaceValue: i?.workspaceValue, workspaceFolderValue: i?.workspaceFolderValue };
    }, vscode.workspace.isTrusted);
}

export function readSettings(previous: ZetaSettings | undefined, internals: RoutingInternals, machine: MachineMemory | undefined, env: SettingsEnv = process.env): ParsedSettings {
    const { raw, ignored } = readRawSettings();
    const parsed = parseSettings(raw, previous, env, internals, machine);
    return ignored.length === 0 ? parsed : { ...parsed, problems: [...ignored, ...parsed.problems] };
}

export interface SettingsServiceOptions {
    readonly internals: RoutingInternals;
    readonly reportProblems: (problems: readonly string[]) => void;
    /** Measures the machine's memory (src/backends/machineInfo.ts); a side effect passed in. */
    readonly probeMachine: (signal: AbortSignal) => Promise<MachineMemory>;
    readonly log: (message: string) => void;
}

export class SettingsService implements vscode.Disposable {
    private parsed: ParsedSettings;
    private machine: MachineMemory | undefined;
    private measuring: Promise<void> | undefined;
    private readonly controller = new AbortController();
    private readonly emitter = new vscode.EventEmitter<ParsedSettings>();
    private readonly disposables: vscode.Disposable[] = [this.emitter];
    readonly onDidChange = this.emitter.event;

    constructor(private readonly options: SettingsServiceOptions) {
        this.parsed = readSettings(undefined, options.internals, undefined);
        if (this.parsed.problems.length > 0) options.reportProblems(this.parsed.problems);
        this.measureIfWanted();
        this.disposables.push(
            vscode.workspace.onDidChangeConfiguration((e) => {
                if (!e.affectsConfiguration('zeta')) return;
                this.parsed = readSettings(this.parsed.settings, this.options.internals, this.machine);
                if (this.parsed.problems.length > 0) this.options.reportProblems(this.parsed.problems);
                this.emitter.fire(this.parsed);
                this.measureIfWanted();
            }),
        );
    }

    get current(): ParsedSettings {
        return this.parsed;
    }

    get settings(): ZetaSettings {
        return this.parsed.settings;
    }

    /** Resolves once the machine's memory, if a budget from it is wanted now, is measured and applied. */
    async measured(): Promise<void> {
        await this.measuring;
    }

    dispose(): void {
        this.controller.abort(new Error('settings disposed'));
        for (const d of this.disposables.splice(0)) d.dispose();
    }

    private measureIfWanted(): void {
        const s = this.parsed.settings;
        if (this.machine !== undefined || this.measuring !== undefined) return;
        // Remote models' memory is their engine's: only a local model wants the machine measured.
        if (s.memoryBudgetMB !== 0 || this.parsed.modelSpecs.every((spec) => spec.remote !== undefined)) return;
        this.measuring = this.options.probeMachine(this.controller.signal).then(
            (machine) => {
                if (this.controller.signal.aborted) return;
                this.machine = machine;
                // Same raw values, now with the machine: only the budget can differ, so no problem is reported again.
                this.parsed = readSettings(this.parsed.settings, this.options.internals, machine);
                this.options.log(`${this.parsed.memoryBudget.text}`);
                this.emitter.fire(this.parsed);
            },
            (e: unknown) => {
                if (!this.controller.signal.aborted) this.options.log(`measuring the machine's memory failed: ${errorMessage(e)}; no memory budget`);
            },
        );
    }
}

/** Opens the Settings editor on Zeta's settings (optionally one key). */
export function openZetaSettings(key?: string): Thenable<unknown> {
    return vscode.commands.executeCommand('workbench.action.openSettings', key ? `zeta.${key}` : '@ext:zeta-dev.zeta');
}
