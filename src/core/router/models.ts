/**
 * The set of models the router knows, in registration order (the order candidates are listed in
 * and ties are broken by), each task kind's preferred model, and the reconfiguration diff.
 *
 * Invariants: `list` and `byId` hold the same entries; a retired entry stays until its running
 * work has finished (`remove`); `preferredIdx[k]` is the first non-retired model of the kind's
 * preferred role, or -1, and is recomputed whenever the set or a role changes.
 */
import type { ModelBackend, ModelSpec, RemoteEndpoint } from '../backend';
import { errorMessage } from '../errors';
import { TASK_KINDS, type RouterLogger } from '../tasks';
import { CLASS_INDEX, NK } from './config';
import { PREFERRED_ROLE } from './defaults';
import { type Job, ModelEntry } from './state';

/** A model whose backend was replaced by `reconcile`: the old backend may still run `running`. */
export interface Replaced {
    readonly model: ModelEntry;
    readonly old: ModelBackend;
    readonly running: readonly Job[];
}

/** What `reconcile` changed: models to inspect (new or reloaded), models to retire, backends replaced. */
export interface Reconciliation {
    readonly inspect: ModelEntry[];
    readonly retire: ModelEntry[];
    readonly replaced: Replaced[];
}

export class ModelSet {
    readonly list: ModelEntry[] = [];
    private readonly byId = new Map<string, ModelEntry>();
    /** Per class index: index into `list` of the kind's preferred model, or -1. */
    private readonly preferredIdx = new Int32Array(NK).fill(-1);

    constructor(private readonly createBackend: (spec: ModelSpec) => ModelBackend) {}

    get(id: string): ModelEntry | undefined {
        return this.byId.get(id);
    }

    add(spec: ModelSpec): ModelEntry {
        const m = new ModelEntry(spec, this.createBackend(spec));
        this.list.push(m);
        this.byId.set(spec.id, m);
        return m;
    }

    /** Takes a retired model out of the set once its work has finished. */
    remove(m: ModelEntry): void {
        const i = this.list.indexOf(m);
        if (i >= 0) this.list.splice(i, 1);
        this.byId.delete(m.id);
        this.recomputePreferred();
    }

    /** Index into `list` of the preferred model of class `classIndex`, or -1. */
    preferredIndex(classIndex: number): number {
        return this.preferredIdx[classIndex];
    }

    preferred(classIndex: number): ModelEntry | undefined {
        const p = this.preferredIdx[classIndex];
        return p >= 0 ? this.list[p] : undefined;
    }

    /** The completion model (the coder) is always kept loaded. */
    isPinned(m: ModelEntry): boolean {
        return this.preferred(CLASS_INDEX.completion) === m;
    }

    recomputePreferred(): void {
        for (let k = 0; k < NK; k++) {
            const role = PREFERRED_ROLE[TASK_KINDS[k]];
            this.preferredIdx[k] = this.list.findIndex((m) => !m.retired && m.spec.role === role);
        }
    }

    /**
     * Brings the set to `specs`: adds new models, gives a model whose file or loading changed a
     * fresh backend (the old one may still be running work), takes back a retired model that is
     * wanted again, and lists the models no longer wanted (the caller retires them). A change of the
     * memory budget alone keeps the backend (and a loaded model loaded); a model that had failed is
     * inspected again under the new budget.
     */
    reconcile(specs: readonly ModelSpec[]): Reconciliation {
        const wanted = new Set(specs.map((s) => s.id));
        const out: Reconciliation = { inspect: [], retire: [], replaced: [] };
        for (const spec of specs) {
            const m = this.byId.get(spec.id);
            if (!m) {
                out.inspect.push(this.add(spec));
                continue;
            }
            m.retired = false;
            if (needsReload(m.spec, spec)) {
                out.replaced.push(this.replaceBackend(m, spec));
                out.inspect.push(m);
                continue;
            }
            const budgetChanged = m.spec.memoryBudgetBytes !== spec.memoryBudgetBytes;
            m.spec = spec;
            // A file refused under the old budget is checked again under the new one; a loaded
            // model stays loaded (residency evicts under a smaller budget, it never reloads).
            if (budgetChanged && m.residency === 'failed') out.inspect.push(m);
        }
        for (const m of this.list) if (!wanted.has(m.id) && !m.retired) out.retire.push(m);
        // The list follows the specs' order, so a model added by a reconfiguration can come first for
        // its role (a remote model the user configured while Zeta ran). Models no longer wanted keep
        // their relative order after the wanted ones until they are removed. The caller recomputes
        // each kind's preferred model afterwards.
        const order = new Map(specs.map((s, i) => [s.id, i]));
        this.list.sort((x, y) => (order.get(x.id) ?? Number.MAX_SAFE_INTEGER) - (order.get(y.id) ?? Number.MAX_SAFE_INTEGER));
        return out;
    }

    /**
     * Reads what each backend can tell of its file without loading it (capabilities, memory). A
     * model whose file is bad is marked failed with the reason; one whose backend was replaced
     * meanwhile is left to the newer inspection. Never throws.
     */
    async inspect(entries: readonly ModelEntry[], signal: AbortSignal, logger: RouterLogger | undefined): Promise<void> {
        await Promise.all(
            entries.map(async (m) => {
                const backend = m.backend;
                try {
                    const info = await backend.inspect(m.spec, signal);
                    if (m.backend !== backend) return;
                    m.setInfo(info);
                    if (m.residency === 'failed') m.residency = 'unloaded';
                    m.error = undefined;
                } catch (e) {
                    if (m.backend !== backend) return;
                    m.residency = 'failed';
                    m.error = errorMessage(e);
                    logger?.error(`model ${m.id}: ${m.error}`);
                }
            }),
        );
    }

    private replaceBackend(m: ModelEntry, spec: ModelSpec): Replaced {
        const replaced: Replaced = { model: m, old: m.backend, running: m.running.slice() };
        m.spec = spec;
        m.backend = this.createBackend(spec);
        m.info = undefined;
        m.residency = 'unloaded';
        m.error = undefined;
        m.docs.clear();
        m.loadWanted = true;
        // A fresh backend starts without the old one's faults (a new API key after "unauthorized").
        m.needsSetup = undefined;
        m.unsupported.clear();
        m.coolingDownUntil = 0;
        m.remoteLoad = undefined;
        return replaced;
    }
}

/**
 * A spec change that needs a new backend: the file or how llama.cpp loads it (context, slots,
 * threads, GPU layers, FIM template, role), or a remote model's endpoint (URL, API, model, key,
 * identity). The memory budget is not one: it decides which models
 * stay loaded together (residency), not how a model is loaded.
 */
export function needsReload(a: ModelSpec, b: ModelSpec): boolean {
    return (
        a.path !== b.path ||
        a.contextSize !== b.contextSize ||
        a.slots !== b.slots ||
        a.threads !== b.threads ||
        a.gpuLayers !== b.gpuLayers ||
        a.fimTemplate !== b.fimTemplate ||
        a.role !== b.role ||
        !sameEndpoint(a.remote, b.remote)
    );
}

/** Two remote endpoints (or their absence) the same in every field a backend is built from (the API key included). */
function sameEndpoint(a: RemoteEndpoint | undefined, b: RemoteEndpoint | undefined): boolean {
    if (a === undefined || b === undefined) return a === b;
    return a.api === b.api && a.url === b.url && a.model === b.model && a.apiKey === b.apiKey && a.identity === b.identity;
}
