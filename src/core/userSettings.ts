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
import { FIM_FAMILIES, ROLES, type FimFamily, type ModelSpec, type RemoteApi, type Role } from './backend';
import { memoryBudget, type MachineMemory, type MemoryBudget } from './memoryBudget';
import { remoteModelsFromLayers } from './restrictedMode';
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

/**
 * A model served by an engine outside this process, as the user configured it in `zeta.remoteModels`.
 * Code is sent to `url`: only the user's own settings can name one (see restrictedMode.ts).
 */
export interface RemoteModelSettings {
    /** Unique among remote models, never a role name (those are the local models' ids); no ':' (the role suffix). */
    readonly id: string;
    /** Base URL, http(s), no credentials, query or fragment; without a trailing slash or `/v1`. */
    readonly url: string;
    readonly api: RemoteApi;
    /** At least one; in the order given, duplicates dropped. */
    readonly roles: readonly Role[];
    readonly model?: string;
    readonly identity?: string;
    readonly fimTemplate: FimFamily | 'auto' | 'none';
    /** Parallel requests Zeta sends to the engine for this model. */
    readonly slots: number;
    /** Context size in tokens Zeta assumes when the engine does not tell its own. */
    readonly contextSize: number;
}

export interface ZetaSettings {
    readonly models: Readonly<Record<Role, ModelSettings>>;
    /** Valid entries of `zeta.remoteModels`, in the order given (invalid ones are skipped and reported). */
    readonly remoteModels: readonly RemoteModelSettings[];
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
    /**
     * The models in routing order (`toModelSpecs`): remote models of a role before its local one;
     * remote specs carry no API key (the composition root adds the keys from secret storage).
     */
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
    remoteModels: [],
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
        remoteModels: parseRemoteModels(raw.remoteModels, prev.remoteModels, problems),
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

/** Property names that would put a secret in settings: an entry carrying one is refused. */
const SECRET_PROPERTIES = /^(api[_-]?key|key|token|secret|password|authorization|bearer)$/i;
/** Remote model ids: a letter or digit first, then letters, digits, '.', '_', '-' (no ':', the role suffix). */
const REMOTE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const REMOTE_APIS: readonly RemoteApi[] = ['llama-server', 'openai'];
const REMOTE_FIELDS = new Set(['id', 'url', 'api', 'roles', 'model', 'identity', 'fimTemplate', 'slots', 'contextSize']);

/**
 * `url` as a remote engine's base URL, or why it cannot be one. Only http(s); no user name,
 * password, query or fragment (an API key goes in VS Code's secret storage, never in settings);
 * trailing slashes and an OpenAI-style `/v1` are dropped (the backends add their own paths).
 */
export function remoteBaseUrl(url: unknown): { ok: true; url: string } | { ok: false; fix: string } {
    if (typeof url !== 'string' || url.trim() === '') return { ok: false, fix: 'give "url", e.g. "http://127.0.0.1:8080"' };
    let u: URL;
    try {
        u = new URL(url.trim());
    } catch {
        return { ok: false, fix: `"url" ${describeValue(url)} is not a URL; write it as "http://host:port"` };
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, fix: `"url" must start with http:// or https://, not ${u.protocol}//` };
    if (u.username !== '' || u.password !== '')
        return { ok: false, fix: '"url" carries a user name or password: remove them, and store an API key with "Zeta: Set Remote API Key"' };
    if (u.search !== '' || u.hash !== '')
        return { ok: false, fix: '"url" has a query or fragment (a key must never be in a URL): give the base URL only, and store an API key with "Zeta: Set Remote API Key"' };
    const path = u.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
    return { ok: true, url: `${u.protocol}//${u.host}${path}` };
}

/**
 * `zeta.remoteModels`: each entry is validated on its own; a bad one is skipped with a line naming
 * it and what to fix, and the others keep working. Skipped rather than kept at its previous value:
 * an entry says where code is sent, and a half-edited one must not send it anywhere. A value that is
 * not a list at all keeps the previous list.
 */
function parseRemoteModels(v: unknown, previous: readonly RemoteModelSettings[], problems: string[]): RemoteModelSettings[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
        problems.push(`zeta.remoteModels: expected a list of remote models, received ${describeValue(v)}; keeping ${previous.length} remote model(s) as before`);
        return [...previous];
    }
    const out: RemoteModelSettings[] = [];
    v.forEach((entry: unknown, i) => {
        const r = parseRemoteModel(entry);
        const name = r.ok ? `"${r.value.id}"` : r.name;
        const fix = r.ok ? (out.some((m) => m.id === r.value.id) ? `the id is already used by an earlier entry: give each remote model its own "id"` : undefined) : r.fix;
        if (r.ok && fix === undefined) out.push(r.value);
        else problems.push(`zeta.remoteModels[${i}] ${name}: ${fix}; this entry is skipped, the others are used`);
    });
    return out;
}

function parseRemoteModel(v: unknown): { ok: true; value: RemoteModelSettings } | { ok: false; name: string; fix: string } {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, name: describeValue(v), fix: 'expected an object such as {"id": "team", "url": "http://host:8080", "api": "llama-server", "roles": ["coder"]}' };
    const e = v as Record<string, unknown>;
    const name = typeof e.id === 'string' && e.id !== '' ? `"${e.id}"` : '(no id)';
    const fail = (fix: string) => ({ ok: false as const, name, fix });
    const secret = Object.keys(e).find((k) => SECRET_PROPERTIES.test(k));
    if (secret !== undefined) return fail(`"${secret}" puts a secret in settings files: remove it, and store the key with "Zeta: Set Remote API Key"`);
    const unknown = Object.keys(e).filter((k) => !REMOTE_FIELDS.has(k));
    if (unknown.length > 0) return fail(`unknown field(s) ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${[...REMOTE_FIELDS].join(', ')})`);
    if (typeof e.id !== 'string' || !REMOTE_ID.test(e.id)) return fail(`"id" must be 1-64 letters, digits, '.', '_' or '-', received ${describeValue(e.id)}`);
    if ((ROLES as readonly string[]).includes(e.id)) return fail(`the id "${e.id}" is a local model's id (the role names are): choose another`);
    const url = remoteBaseUrl(e.url);
    if (!url.ok) return fail(url.fix);
    if (typeof e.api !== 'string' || !(REMOTE_APIS as readonly string[]).includes(e.api)) return fail(`"api" must be "llama-server" or "openai", received ${describeValue(e.api)}`);
    if (!Array.isArray(e.roles) || e.roles.length === 0) return fail(`"roles" must list at least one of ${ROLES.map((r) => `"${r}"`).join(', ')}, received ${describeValue(e.roles)}`);
    const badRole = e.roles.find((r) => typeof r !== 'string' || !(ROLES as readonly string[]).includes(r));
    if (badRole !== undefined) return fail(`unknown role ${describeValue(badRole)} in "roles" (known: ${ROLES.join(', ')})`);
    const roles = [...new Set(e.roles as Role[])];
    for (const field of ['model', 'identity'] as const) {
        if (e[field] !== undefined && (typeof e[field] !== 'string' || e[field].trim() === '')) return fail(`"${field}" must be a non-empty string when given, received ${describeValue(e[field])}`);
    }
    const optional = <T>(field: string, check: Check<T>, dflt: T): { ok: true; value: T } | { ok: false; fix: string } => {
        if (e[field] === undefined) return { ok: true, value: dflt };
        const r = check(e[field]);
        return r.ok ? r : { ok: false, fix: `"${field}" must be ${r.expected}, received ${describeValue(e[field])}` };
    };
    // Defaults: those of a local model of the entry's first role (the engine's own, where it says, win).
    const d = DEFAULT_SETTINGS.models[roles[0]];
    const fimTemplate = optional('fimTemplate', oneOf<FimFamily | 'auto' | 'none'>(['auto', 'none', ...FIM_FAMILIES]), 'auto');
    if (!fimTemplate.ok) return fail(fimTemplate.fix);
    const slots = optional('slots', int(1, 64), d.slots);
    if (!slots.ok) return fail(slots.fix);
    const contextSize = optional('contextSize', int(128, 1_048_576), d.contextSize);
    if (!contextSize.ok) return fail(contextSize.fix);
    return {
        ok: true,
        value: {
            id: e.id,
            url: url.url,
            api: e.api as RemoteApi,
            roles,
            ...(typeof e.model === 'string' ? { model: e.model.trim() } : {}),
            ...(typeof e.identity === 'string' ? { identity: e.identity.trim() } : {}),
            fimTemplate: fimTemplate.value,
            slots: slots.value,
            contextSize: contextSize.value,
        },
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
 * The spec id of a remote model serving `role`: the entry's id, suffixed by `:role` when the entry
 * serves several roles (one router model per role: each role has its own queue and preference).
 */
export function remoteSpecId(m: RemoteModelSettings, role: Role): string {
    return m.roles.length > 1 ? `${m.id}:${role}` : m.id;
}

/**
 * Model specs: per role, the remote models serving it (in settings order), then the local model
 * of the role when it has a path (id = the role name). Order rule: a remote model comes first, so it
 * is the role's preferred model (the user configured it on purpose), and the router spills to the
 * local model when the engine is busy, slow or down.
 *
 * `apiKey` gives a remote model's key by its entry id (read from the editor's secret storage by
 * the composition root; never from settings). Only a budget the user set goes into local specs (a
 * file whose own estimate exceeds it is refused); a budget measured from the machine only governs
 * which models stay loaded together (RoutingSettings.memoryBudgetBytes). A remote model's memory is
 * the engine's: no budget applies to it.
 */
export function toModelSpecs(s: ZetaSettings, apiKey: (remoteModelId: string) => string | undefined = () => undefined): ModelSpec[] {
    const budget = memoryBudgetBytes(s);
    const specs: ModelSpec[] = [];
    for (const role of ROLES) {
        for (const r of s.remoteModels) {
            if (!r.roles.includes(role)) continue;
            const key = apiKey(r.id);
            specs.push({
                id: remoteSpecId(r, role),
                role,
                path: r.url,
                remote: {
                    api: r.api,
                    url: r.url,
                    ...(r.model !== undefined ? { model: r.model } : {}),
                    ...(r.identity !== undefined ? { identity: r.identity } : {}),
                    ...(key ? { apiKey: key } : {}),
                },
                contextSize: r.contextSize,
                slots: r.slots,
                threads: 0,
                gpuLayers: 0,
                fimTemplate: r.fimTemplate,
            });
        }
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

/** Roles with no model path and no remote model: the first-run walkthrough offers to fill these. */
export function unconfiguredRoles(s: ZetaSettings): Role[] {
    return ROLES.filter((r) => s.models[r].path === '' && !s.remoteModels.some((m) => m.roles.includes(r)));
}

/** Each role's model settings (`models.<role>.<name>`), in manifest order. */
const MODEL_KEYS: readonly string[] = ROLES.flatMap((r) => ['path', 'gpuLayers', 'contextSize', 'slots', 'threads', 'fimTemplate'].map((n) => `models.${r}.${n}`));

/**
 * Settings a workspace may never choose: which files llama.cpp opens and how much of the machine
 * they take (threads, GPU layers, context, slots, the memory budget), and which servers code is
 * sent to (`remoteModels`). They are machine-scoped in package.json, so VS Code itself ignores them
 * in workspace settings; the reader takes them only from the user (or remote machine) layer as
 * well, so the rule holds whatever the host does.
 */
export const MACHINE_ONLY_KEYS: readonly string[] = [...MODEL_KEYS, 'remoteModels', 'memoryBudgetMB'];

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
 * resolves it (which honours restricted mode's `restrictedConfigurations`). `remoteModels` follows
 * restrictedMode.ts's rule (the user layer alone, trusted or not); `trusted` only words the message.
 */
export function rawSettingsFromLayers(layers: (key: string) => SettingLayers | undefined, trusted = true): { raw: Record<string, unknown>; ignored: string[] } {
    const raw: Record<string, unknown> = {};
    const ignored: string[] = [];
    for (const key of SETTING_KEYS) {
        const l = layers(key);
        if (key === 'remoteModels') {
            const r = remoteModelsFromLayers(l, trusted);
            raw[key] = r.value;
            if (r.ignored !== undefined) ignored.push(r.ignored);
            continue;
        }
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
    'remoteModels',
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
