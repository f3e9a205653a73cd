/**
 * Zeta's settings: one typed object, one parser. The VS Code layer reads the raw `zeta.*` values
 * (src/vscode/settingsService.ts) and hands them here as a flat record keyed by setting name without the
 * `zeta.` prefix ("models.coder.path"); this module validates every value and derives what the
 * router needs. Pure: no vscode, no file system; the environment arrives as a parameter.
 *
 * Invariant: a value that fails validation is reported (naming the value received) and the previous
 * good value stays in force, so one typo never resets the rest of the configuration.
 * Units: tokens, milliseconds (seconds in user-facing keys named *Seconds), megabytes where named MB.
 */
import { FIM_FAMILIES, ROLES, type FimFamily, type ModelSpec, type Role } from './backend';
import { memoryBudget, type MachineMemory, type MemoryBudget } from './memoryBudget';
import {
    POLICY_NAMES,
    TASK_KINDS,
    type Levers,
    type PolicyName,
    type RoutingSettings,
    type TaskClassSettings,
    type TaskKind,
} from './tasks';

export interface ModelSettings {
    /** Absolute path of the GGUF file; "" when not configured. */
    readonly path: string;
    readonly gpuLayers: 'auto' | number;
    readonly contextSize: number;
    readonly slots: number;
    /** 0 lets node-llama-cpp decide. */
    readonly threads: number;
    readonly fimTemplate: FimFamily | 'auto' | 'none';
}

export interface ZetaSettings {
    readonly models: Readonly<Record<Role, ModelSettings>>;
    /** Memory budget for all resident models in MB; 0 = decided from the machine. */
    readonly memoryBudgetMB: number;
    readonly routing: {
        readonly policy: PolicyName;
        /** Latency objective per task kind, as a multiple of the predicted time on the best idle model. */
        readonly objectives: Readonly<Record<TaskKind, number>>;
        /** Higher runs first. */
        readonly priorities: Readonly<Record<TaskKind, number>>;
        readonly maxQueue: number;
        readonly keepAliveSeconds: number;
        readonly learnFromFeedback: boolean;
    };
    readonly features: {
        readonly inlineCompletions: boolean;
        readonly explain: boolean;
        readonly edit: boolean;
        readonly refactorPlan: boolean;
        /** Workspace search: the index (built in the background) and the search view. */
        readonly search: boolean;
    };
    readonly search: {
        /** Files larger than this (KiB) are not indexed. */
        readonly maxFileKB: number;
    };
    readonly completion: {
        /** Tokens of context before the cursor. */
        readonly prefixTokens: number;
        /** Tokens of context after the cursor. */
        readonly suffixTokens: number;
        /** Most tokens generated per completion. */
        readonly maxTokens: number;
        /** Bounds of the adaptive debounce, ms. */
        readonly debounceMinMs: number;
        readonly debounceMaxMs: number;
    };
    /** Most tokens generated for Explain / Plan Refactor / Edit answers. */
    readonly chatMaxTokens: number;
}

export interface ParsedSettings {
    readonly settings: ZetaSettings;
    /** One spec per role that has a model path (roles without one are simply not configured). */
    readonly modelSpecs: ModelSpec[];
    readonly routing: RoutingSettings;
    /** The memory budget in force and why (the setting, or measured from the machine). */
    readonly memoryBudget: MemoryBudget;
    /** Each names the setting, the value received and the value kept. Empty when all is well. */
    readonly problems: string[];
}

/** Environment variables that supply defaults when the settings are empty. */
export interface SettingsEnv {
    readonly ZETA_CODER_MODEL?: string;
    readonly ZETA_REASONER_MODEL?: string;
    readonly ZETA_EMBEDDER_MODEL?: string;
    readonly ZETA_THREADS?: string;
    /** Used to expand a leading "~" in model paths. */
    readonly HOME?: string;
}

const ENV_MODEL_KEYS: Readonly<Record<Role, keyof SettingsEnv>> = {
    coder: 'ZETA_CODER_MODEL',
    reasoner: 'ZETA_REASONER_MODEL',
    embedder: 'ZETA_EMBEDDER_MODEL',
};

/** Same values as the router's DEFAULT_TASK_CLASSES (src/core/router/defaults.ts). */
export const DEFAULT_PRIORITIES: Readonly<Record<TaskKind, number>> = {
    completion: 100,
    embedQuery: 90,
    edit: 60,
    explain: 50,
    refactorPlan: 40,
    embed: 0,
};

export const DEFAULT_OBJECTIVES: Readonly<Record<TaskKind, number>> = {
    completion: 4,
    embedQuery: 4,
    edit: 4,
    explain: 4,
    refactorPlan: 5,
    embed: 20,
};

function modelDefaults(role: Role): ModelSettings {
    return {
        path: '',
        gpuLayers: 'auto',
        contextSize: role === 'embedder' ? 2048 : 4096,
        slots: role === 'coder' ? 2 : 1,
        threads: 0,
        fimTemplate: 'auto',
    };
}

export const DEFAULT_SETTINGS: ZetaSettings = {
    models: { coder: modelDefaults('coder'), reasoner: modelDefaults('reasoner'), embedder: modelDefaults('embedder') },
    memoryBudgetMB: 0,
    routing: {
        policy: 'zeta',
        objectives: DEFAULT_OBJECTIVES,
        priorities: DEFAULT_PRIORITIES,
        maxQueue: 64,
        keepAliveSeconds: 300,
        learnFromFeedback: true,
    },
    features: { inlineCompletions: true, explain: true, edit: true, refactorPlan: true, search: true },
    search: { maxFileKB: 512 },
    completion: { prefixTokens: 512, suffixTokens: 128, maxTokens: 64, debounceMinMs: 25, debounceMaxMs: 600 },
    chatMaxTokens: 768,
};

/** Routing fields that have no user-facing setting. */
export interface RoutingInternals {
    readonly levers: Levers;
    readonly cooldownMs: number;
    readonly embedBatchSize: number;
}

export const DEFAULT_ROUTING_INTERNALS: RoutingInternals = {
    levers: { prefixAffinity: true, pauseOthers: true, holdSupersedable: true, spill: true, forecastHeadroom: true, coldStart: true },
    cooldownMs: 30_000,
    embedBatchSize: 8,
};

// ---- validators -------------------------------------------------------------------------------

type Check<T> = (v: unknown) => { ok: true; value: T } | { ok: false; expected: string };

const int = (min: number, max: number): Check<number> => (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
        ? { ok: true, value: v }
        : { ok: false, expected: `an integer from ${min} to ${max}` };

const num = (min: number, max: number): Check<number> => (v) =>
    typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max
        ? { ok: true, value: v }
        : { ok: false, expected: `a number from ${min} to ${max}` };

const bool: Check<boolean> = (v) => (typeof v === 'boolean' ? { ok: true, value: v } : { ok: false, expected: 'true or false' });

function oneOf<T extends string>(values: readonly T[]): Check<T> {
    return (v) =>
        typeof v === 'string' && (values as readonly string[]).includes(v)
            ? { ok: true, value: v as T }
            : { ok: false, expected: `one of ${values.map((x) => `"${x}"`).join(', ')}` };
}

const gpuLayers: Check<'auto' | number> = (v) => {
    if (v === 'auto') return { ok: true, value: 'auto' };
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 1000) return { ok: true, value: v };
    if (typeof v === 'string' && /^\d{1,4}$/.test(v.trim())) return { ok: true, value: Number(v.trim()) };
    return { ok: false, expected: '"auto" or a whole number of layers (0 = CPU only)' };
};

/** Paths must be absolute (a leading "~" is expanded); "" means not configured. */
function modelPath(home: string | undefined): Check<string> {
    return (v) => {
        if (typeof v !== 'string') return { ok: false, expected: 'a path to a .gguf file' };
        let p = v.trim();
        if (p === '') return { ok: true, value: '' };
        if ((p === '~' || p.startsWith('~/')) && home) p = home + p.slice(1);
        const absolute = p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');
        if (!absolute) return { ok: false, expected: 'an absolute path to a .gguf file' };
        return { ok: true, value: p };
    };
}

export function describeValue(v: unknown): string {
    if (v === undefined) return 'undefined';
    if (typeof v === 'string') return JSON.stringify(v.length > 80 ? v.slice(0, 77) + '...' : v);
    try {
        const s = JSON.stringify(v);
        return s.length > 80 ? s.slice(0, 77) + '...' : s;
    } catch {
        return String(v);
    }
}

/**
 * Parses raw settings. `raw` keys are setting names without the "zeta." prefix; a missing key
 * (undefined) takes its default. `previous` is the last good result (or undefined at start-up):
 * invalid values keep the previous value and add a problem line.
 */
export function parseSettings(
    raw: Readonly<Record<string, unknown>>,
    previous: ZetaSettings | undefined = undefined,
    env: SettingsEnv = {},
    internals: RoutingInternals = DEFAULT_ROUTING_INTERNALS,
    machine: MachineMemory | undefined = undefined,
): ParsedSettings {
    const prev = previous ?? DEFAULT_SETTINGS;
    const problems: string[] = [];

    function read<T>(key: string, check: Check<T>, fallback: T, dflt: T): T {
        const v = raw[key];
        if (v === undefined || v === null) return dflt;
        const r = check(v);
        if (r.ok) return r.value;
        problems.push(`zeta.${key}: expected ${r.expected}, received ${describeValue(v)}; keeping ${describeValue(fallback)}`);
        return fallback;
    }

    /** Object-valued settings (per task kind): each property is validated on its own. */
    function readPerKind(key: string, check: Check<number>, fallback: Readonly<Record<TaskKind, number>>, dflt: Readonly<Record<TaskKind, number>>): Record<TaskKind, number> {
        const out = { ...dflt } as Record<TaskKind, number>;
        const v = raw[key];
        if (v === undefined || v === null) return out;
        if (typeof v !== 'object' || Array.isArray(v)) {
            problems.push(`zeta.${key}: expected an object keyed by task kind, received ${describeValue(v)}; keeping ${describeValue(fallback)}`);
            return { ...fallback };
        }
        for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
            if (!(TASK_KINDS as readonly string[]).includes(k)) {
                problems.push(`zeta.${key}: unknown task kind ${describeValue(k)} (known: ${TASK_KINDS.join(', ')}); ignored`);
                continue;
            }
            const kind = k as TaskKind;
            const r = check(val);
            if (r.ok) out[kind] = r.value;
            else {
                problems.push(`zeta.${key}.${kind}: expected ${r.expected}, received ${describeValue(val)}; keeping ${describeValue(fallback[kind])}`);
                out[kind] = fallback[kind];
            }
        }
        return out;
    }

    const envThreads = parseEnvThreads(env.ZETA_THREADS, problems);
    const models = {} as Record<Role, ModelSettings>;
    for (const role of ROLES) {
        const p = prev.models[role];
        const d = DEFAULT_SETTINGS.models[role];
        const k = (name: string): string => `models.${role}.${name}`;
        let path = read(k('path'), modelPath(env.HOME), p.path, d.path);
        const envPath = env[ENV_MODEL_KEYS[role]];
        if (path === '' && envPath && envPath.trim() !== '') {
            const r = modelPath(env.HOME)(envPath);
            if (r.ok) path = r.value;
            else problems.push(`${ENV_MODEL_KEYS[role]}: expected ${r.expected}, received ${describeValue(envPath)}; ignored`);
        }
        let threads = read(k('threads'), int(0, 256), p.threads, d.threads);
        if (threads === 0 && envThreads !== undefined) threads = envThreads;
        models[role] = {
            path,
            gpuLayers: read(k('gpuLayers'), gpuLayers, p.gpuLayers, d.gpuLayers),
            contextSize: read(k('contextSize'), int(128, 1_048_576), p.contextSize, d.contextSize),
            slots: read(k('slots'), int(1, 64), p.slots, d.slots),
            threads,
            fimTemplate: read(k('fimTemplate'), oneOf<FimFamily | 'auto' | 'none'>(['auto', 'none', ...FIM_FAMILIES]), p.fimTemplate, d.fimTemplate),
        };
    }

    const D = DEFAULT_SETTINGS;
    const settings: ZetaSettings = {
        models,
        memoryBudgetMB: read('memoryBudgetMB', int(0, 16_777_216), prev.memoryBudgetMB, D.memoryBudgetMB),
        routing: {
            policy: read('routing.policy', oneOf(POLICY_NAMES), prev.routing.policy, D.routing.policy),
            objectives: readPerKind('routing.objectives', num(1, 1000), prev.routing.objectives, D.routing.objectives),
            priorities: readPerKind('routing.priorities', int(0, 1000), prev.routing.priorities, D.routing.priorities),
            maxQueue: read('routing.maxQueue', int(1, 1000), prev.routing.maxQueue, D.routing.maxQueue),
            keepAliveSeconds: read('routing.keepAliveSeconds', int(0, 86_400), prev.routing.keepAliveSeconds, D.routing.keepAliveSeconds),
            learnFromFeedback: read('routing.learnFromFeedback', bool, prev.routing.learnFromFeedback, D.routing.learnFromFeedback),
        },
        features: {
            inlineCompletions: read('features.inlineCompletions', bool, prev.features.inlineCompletions, D.features.inlineCompletions),
            explain: read('features.explain', bool, prev.features.explain, D.features.explain),
            edit: read('features.edit', bool, prev.features.edit, D.features.edit),
            refactorPlan: read('features.refactorPlan', bool, prev.features.refactorPlan, D.features.refactorPlan),
            search: read('features.search', bool, prev.features.search, D.features.search),
        },
        search: {
            maxFileKB: read('search.maxFileKB', int(1, 100_000), prev.search.maxFileKB, D.search.maxFileKB),
        },
        completion: {
            prefixTokens: read('completion.prefixTokens', int(16, 32_768), prev.completion.prefixTokens, D.completion.prefixTokens),
            suffixTokens: read('completion.suffixTokens', int(0, 32_768), prev.completion.suffixTokens, D.completion.suffixTokens),
            maxTokens: read('completion.maxTokens', int(1, 2048), prev.completion.maxTokens, D.completion.maxTokens),
            debounceMinMs: read('completion.debounceMinMs', int(0, 5000), prev.completion.debounceMinMs, D.completion.debounceMinMs),
            debounceMaxMs: read('completion.debounceMaxMs', int(0, 10_000), prev.completion.debounceMaxMs, D.completion.debounceMaxMs),
        },
        chatMaxTokens: read('chatMaxTokens', int(16, 32_768), prev.chatMaxTokens, D.chatMaxTokens),
    };

    // Cross-field rules: report, then keep the previous pair.
    let completion = settings.completion;
    if (completion.debounceMinMs > completion.debounceMaxMs) {
        problems.push(
            `zeta.completion.debounceMinMs (${completion.debounceMinMs}) is above zeta.completion.debounceMaxMs (${completion.debounceMaxMs}); keeping ${prev.completion.debounceMinMs}..${prev.completion.debounceMaxMs}`,
        );
        completion = { ...completion, debounceMinMs: prev.completion.debounceMinMs, debounceMaxMs: prev.completion.debounceMaxMs };
    }
    const finalSettings: ZetaSettings = { ...settings, completion };
    const budget = resolveMemoryBudget(finalSettings, machine);

    return {
        settings: finalSettings,
        modelSpecs: toModelSpecs(finalSettings),
        routing: toRoutingSettings(finalSettings, internals, budget),
        memoryBudget: budget,
        problems,
    };
}

function parseEnvThreads(v: string | undefined, problems: string[]): number | undefined {
    if (v === undefined || v.trim() === '') return undefined;
    const n = Number(v.trim());
    if (Number.isInteger(n) && n >= 1 && n <= 256) return n;
    problems.push(`ZETA_THREADS: expected an integer from 1 to 256, received ${describeValue(v)}; ignored`);
    return undefined;
}

/**
 * The budget in force: `memoryBudgetMB`, or, when it is 0, measured from `machine` (undefined until
 * the machine is measured: no budget meanwhile). The GPU is budgeted when some configured model may
 * use it (gpuLayers not 0), the RAM otherwise.
 */
export function resolveMemoryBudget(s: ZetaSettings, machine: MachineMemory | undefined): MemoryBudget {
    const usesGpu = ROLES.some((r) => s.models[r].path !== '' && s.models[r].gpuLayers !== 0);
    return memoryBudget(s.memoryBudgetMB, machine, usesGpu);
}

/** The budget the user set (bytes), or undefined when it is 0 ("from the machine"). */
export function memoryBudgetBytes(s: ZetaSettings): number | undefined {
    return s.memoryBudgetMB > 0 ? s.memoryBudgetMB * 1024 * 1024 : undefined;
}

/**
 * Model specs for the roles that have a path; the model id is the role name. Only a budget the user
 * set goes into the specs (a file whose own estimate exceeds it is refused); a budget measured from
 * the machine only governs which models stay loaded together (RoutingSettings.memoryBudgetBytes).
 */
export function toModelSpecs(s: ZetaSettings): ModelSpec[] {
    const budget = memoryBudgetBytes(s);
    const specs: ModelSpec[] = [];
    for (const role of ROLES) {
        const m = s.models[role];
        if (m.path === '') continue;
        specs.push({
            id: role,
            role,
            path: m.path,
            contextSize: m.contextSize,
            slots: m.slots,
            threads: m.threads,
            gpuLayers: m.gpuLayers,
            fimTemplate: m.fimTemplate,
            ...(budget !== undefined ? { memoryBudgetBytes: budget } : {}),
        });
    }
    return specs;
}

export function toRoutingSettings(
    s: ZetaSettings,
    internals: RoutingInternals = DEFAULT_ROUTING_INTERNALS,
    budget: MemoryBudget = resolveMemoryBudget(s, undefined),
): RoutingSettings {
    const taskClasses = {} as Record<TaskKind, TaskClassSettings>;
    for (const kind of TASK_KINDS) {
        taskClasses[kind] = { priority: s.routing.priorities[kind], objectiveFactor: s.routing.objectives[kind] };
    }
    return {
        policy: s.routing.policy,
        levers: internals.levers,
        taskClasses,
        maxQueue: s.routing.maxQueue,
        keepAliveMs: s.routing.keepAliveSeconds * 1000,
        memoryBudgetBytes: budget.bytes,
        cooldownMs: internals.cooldownMs,
        embedBatchSize: internals.embedBatchSize,
        learnFromFeedback: s.routing.learnFromFeedback,
    };
}

/** Roles with no model path: the first-run walkthrough offers to fill these. */
export function unconfiguredRoles(s: ZetaSettings): Role[] {
    return ROLES.filter((r) => s.models[r].path === '');
}

/** Each role's model settings (`models.<role>.<name>`), in manifest order. */
const MODEL_KEYS: readonly string[] = ROLES.flatMap((r) => ['path', 'gpuLayers', 'contextSize', 'slots', 'threads', 'fimTemplate'].map((n) => `models.${r}.${n}`));

/**
 * Settings a workspace may never choose: which files llama.cpp opens and how much of the machine
 * they take (threads, GPU layers, context, slots, the memory budget). They are machine-scoped in
 * package.json, so VS Code itself ignores them in workspace settings; the reader takes them only
 * from the user (or remote machine) layer as well, so the rule holds whatever the host does.
 */
export const MACHINE_ONLY_KEYS: readonly string[] = [...MODEL_KEYS, 'memoryBudgetMB'];

/** One setting's value in each configuration layer (VS Code's `WorkspaceConfiguration.inspect`). */
export interface SettingLayers {
    /** The value in force, as `WorkspaceConfiguration.get` resolves it. */
    readonly value?: unknown;
    /** User settings (or the remote machine's settings). */
    readonly globalValue?: unknown;
    readonly workspaceValue?: unknown;
    readonly workspaceFolderValue?: unknown;
}

/**
 * The raw `zeta.*` values for `parseSettings`, keyed without the prefix: a machine-only key from the
 * user layer alone (a workspace value is ignored and named in `ignored`), every other key as VS Code
 * resolves it (which honours restricted mode's `restrictedConfigurations`).
 */
export function rawSettingsFromLayers(layers: (key: string) => SettingLayers | undefined): { raw: Record<string, unknown>; ignored: string[] } {
    const raw: Record<string, unknown> = {};
    const ignored: string[] = [];
    for (const key of SETTING_KEYS) {
        const l = layers(key);
        if (!MACHINE_ONLY_KEYS.includes(key)) {
            raw[key] = l?.value;
            continue;
        }
        raw[key] = l?.globalValue;
        const fromWorkspace = l?.workspaceFolderValue ?? l?.workspaceValue;
        if (fromWorkspace !== undefined) {
            ignored.push(`zeta.${key}: the workspace sets ${describeValue(fromWorkspace)}, which is ignored; this setting is read only from user or machine settings`);
        }
    }
    return { raw, ignored };
}

/** Every setting key this module reads (without the "zeta." prefix), in manifest order. */
export const SETTING_KEYS: readonly string[] = [
    ...MODEL_KEYS,
    'memoryBudgetMB',
    'routing.policy',
    'routing.objectives',
    'routing.priorities',
    'routing.maxQueue',
    'routing.keepAliveSeconds',
    'routing.learnFromFeedback',
    'features.inlineCompletions',
    'features.explain',
    'features.edit',
    'features.refactorPlan',
    'features.search',
    'search.maxFileKB',
    'completion.prefixTokens',
    'completion.suffixTokens',
    'completion.maxTokens',
    'completion.debounceMinMs',
    'completion.debounceMaxMs',
    'chatMaxTokens',
];
