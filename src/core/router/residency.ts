/**
 * Residency: which models are in memory. Loads one model at a time, the pinned completion model
 * first, then models with work waiting (highest priority first), then pre-loads; under a memory
 * budget it evicts idle models (least recently used first) to make room, unloads a model idle for
 * `keepAliveMs` while memory is short, and pre-loads a model whose work the forecast expects soon.
 *
 * A smaller budget (a settings change) evicts idle models at once, least recently used first, and
 * each busy one as soon as it is idle; a change of budget never reloads a model.
 *
 * Invariants: at most one load runs at a time (`loading`); a busy model is never unloaded; the
 * pinned model is never evicted; a pre-load never evicts a model whose own work is forecast.
 * A model that takes no local memory (a remote engine's: estimatedMemory 0; its "load" connects)
 * counts nothing against the budget and is never unloaded for memory (eviction, a smaller budget,
 * keep-alive): unloading it would free nothing. A connect that fails (RemoteEngineError) leaves it
 * unloaded and cooling down (remote.ts), not failed: the engine may be back later.
 * Units: ms (clock), bytes.
 */
import type { Clock } from '../clock';
import { RemoteEngineError, errorMessage } from '../errors';
import { markRemoteFault } from './remote';
import { TASK_KINDS, type RouterLogger, type TaskKind } from '../tasks';
import type { RouterConfig } from './config';
import { NK } from './config';
import type { ModelEntry } from './state';
import type { ModelSet } from './models';
import type { SpeedBook } from './speeds';

export interface ResidencyDeps {
    readonly clock: Clock;
    readonly models: ModelSet;
    readonly config: () => RouterConfig;
    readonly speeds: SpeedBook;
    /** Forecast arrivals per second of a task kind. */
    readonly rate: (kind: TaskKind, now: number) => number;
    /** Loads start only once the router is ready, and stop mattering once it is disposed. */
    readonly ready: () => boolean;
    readonly disposed: () => boolean;
    /** `m` loaded: its queue may start. */
    readonly onLoaded: (m: ModelEntry) => void;
    /** `m` failed to load: its queued work must go elsewhere. */
    readonly onLoadFailed: (m: ModelEntry, error: unknown) => void;
    readonly emit: () => void;
    readonly logger: RouterLogger | undefined;
}

export class Residency {
    /** The model loading now, if any. */
    private loading: ModelEntry | undefined;
    private loadingPromise: Promise<void> | undefined;
    /** Aborted on dispose: cancels inspections and the load in progress. */
    private readonly controller = new AbortController();
    /** The budget (bytes; undefined: none) at the last `runLoads`: a smaller one is enforced at once. */
    private budgetSeen: number | undefined;
    /** True while resident models exceed a budget that shrank and a busy model can still be evicted. */
    private overBudget = false;

    constructor(private readonly deps: ResidencyDeps) {}

    /** Aborted when the router is disposed (inspections and loads take it). */
    get signal(): AbortSignal {
        return this.controller.signal;
    }

    /** Remaining time of the load in progress (ms; 0 when none): loads run one at a time. */
    loadBusyMs(now: number): number {
        const l = this.loading;
        return l ? Math.max(0, l.loadStartedAt + l.speed.loadMs - now) : 0;
    }

    /** Loads at start: the pinned model always; the others while they fit in the memory budget. */
    wantInitialLoad(m: ModelEntry): void {
        if (m.residency !== 'unloaded' || m.retired) return;
        if (this.deps.models.isPinned(m)) {
            m.loadWanted = true;
            return;
        }
        const budget = this.budget();
        if (budget === undefined) {
            m.loadWanted = true;
            return;
        }
        let planned = 0;
        for (const o of this.deps.models.list) if (o !== m && (o.residency === 'loaded' || o.residency === 'loading' || o.loadWanted)) planned += o.memoryBytes;
        if (planned + m.memoryBytes <= budget) m.loadWanted = true;
    }

    /** `m`'s backend was replaced: a load of the old one no longer counts. */
    forget(m: ModelEntry): void {
        if (this.loading === m) this.loading = undefined;
    }

    /** Starts the next wanted load, one at a time, evicting idle models when memory is short. */
    runLoads(): void {
        const { models } = this.deps;
        if (this.deps.disposed()) return;
        this.budgetChanged();
        if (this.loading || !this.deps.ready()) return;
        let next: ModelEntry | undefined;
        let nextRank = -1;
        for (const m of models.list) {
            if (!m.loadWanted || m.residency !== 'unloaded' || m.retired || m.info === undefined) continue;
            // Rank: the pinned model, then models with waiting work (highest priority first), then pre-loads.
            let rank = 0;
            if (models.isPinned(m)) rank = 1e9;
            else for (const j of m.queue.items) rank = Math.max(rank, 1 + j.priority);
            if (rank > nextRank) {
                next = m;
                nextRank = rank;
            }
        }
        if (!next) return;
        const budget = this.budget();
        if (budget !== undefined && this.usedMemory() + next.memoryBytes > budget) {
            // A pre-load (no work waiting) never evicts a model whose own work is forecast.
            const preloadOnly = next.queue.length === 0;
            const target = next;
            const evictable = this.idleEvictable().filter((m) => m !== target && !(preloadOnly && this.expectedSoon(m)));
            if (preloadOnly) {
                let free = budget - this.usedMemory();
                for (const v of evictable) free += v.memoryBytes;
                if (free < next.memoryBytes) {
                    next.loadWanted = false;
                    return;
                }
            }
            this.evict(evictable, next.memoryBytes, budget, `memory: making room for ${next.id}`);
            if (this.usedMemory() + next.memoryBytes > budget) {
                const busyEvictable = models.list.some((m) => m !== target && m.residency === 'loaded' && !models.isPinned(m) && holdsMemory(m));
                if (busyEvictable) return; // Retried when a model goes idle (afterWork).
                this.deps.logger?.warn(`model ${next.id} needs ${next.memoryBytes} bytes, over the memory budget of ${budget} with the resident models; loading anyway`);
            }
        }
        this.startLoad(next);
    }

    /**
     * After work on `m`: pending loads may now fit; an idle model that is not pinned gets a
     * keep-alive timer when memory is short; forecast pre-loads.
     */
    afterWork(m: ModelEntry): void {
        const { clock, models } = this.deps;
        if (this.deps.disposed()) return;
        if (this.overBudget) this.fitBudget();
        if (m.idle && m.residency === 'loaded' && !models.isPinned(m) && holdsMemory(m) && this.memoryShort() && m.keepAliveTimer === undefined) {
            const keepAliveMs = this.deps.config().settings.keepAliveMs;
            m.keepAliveTimer = clock.setTimeout(() => {
                m.keepAliveTimer = undefined;
                if (!m.idle || m.residency !== 'loaded' || !this.memoryShort()) return;
                if (this.expectedSoon(m) !== undefined) {
                    // Work for it is forecast: keep it another keep-alive period.
                    this.afterWork(m);
                    return;
                }
                this.unload(m, `idle for ${keepAliveMs} ms and memory is short`);
                this.runLoads();
            }, keepAliveMs);
        }
        this.preload();
        this.runLoads();
    }

    /** `m` starts work: it is not idle, so no keep-alive timer runs for it. */
    clearKeepAlive(m: ModelEntry): void {
        if (m.keepAliveTimer === undefined) return;
        this.deps.clock.clearTimeout(m.keepAliveTimer);
        m.keepAliveTimer = undefined;
    }

    /** Stops every load and timer; resolves when the load in progress (if any) has settled. */
    async dispose(reason: unknown): Promise<void> {
        this.controller.abort(reason);
        for (const m of this.deps.models.list) this.clearKeepAlive(m);
        if (this.loadingPromise) await this.loadingPromise.catch(() => undefined);
    }

    /** A budget smaller than the last one seen (or the first one) is enforced now. */
    private budgetChanged(): void {
        const budget = this.budget();
        if (budget === this.budgetSeen) return;
        const before = this.budgetSeen;
        this.budgetSeen = budget;
        if (budget !== undefined && (before === undefined || budget < before)) this.fitBudget();
        else this.overBudget = false;
    }

    /**
     * Evicts idle models that are not pinned, least recently used first, until the resident models
     * fit the budget; remembers whether a busy model is left to evict when it goes idle.
     */
    private fitBudget(): void {
        const { models } = this.deps;
        const budget = this.budget();
        this.overBudget = false;
        if (budget === undefined || this.usedMemory() <= budget) return;
        this.evict(this.idleEvictable(), 0, budget, `the memory budget is now ${budget} bytes`);
        if (this.usedMemory() <= budget) return;
        this.overBudget = models.list.some((m) => (m.residency === 'loaded' || m.residency === 'loading') && !models.isPinned(m) && holdsMemory(m));
        if (!this.overBudget) this.deps.logger?.warn(`the resident models need ${this.usedMemory()} bytes, over the memory budget of ${budget}; the completion model stays loaded`);
    }

    /** Loaded models that are idle, not pinned and hold local memory: the ones an eviction may unload. */
    private idleEvictable(): ModelEntry[] {
        const { models } = this.deps;
        return models.list.filter((m) => m.residency === 'loaded' && !models.isPinned(m) && m.idle && holdsMemory(m));
    }

    /** Unloads `candidates`, least recently used first, until `roomBytes` more fit in `budget`. */
    private evict(candidates: readonly ModelEntry[], roomBytes: number, budget: number, why: string): void {
        for (const v of [...candidates].sort((a, b) => a.lastUsedAt - b.lastUsedAt)) {
            if (this.usedMemory() + roomBytes <= budget) break;
            this.unload(v, why);
        }
    }

    private budget(): number | undefined {
        return this.deps.config().settings.memoryBudgetBytes;
    }

    private usedMemory(): number {
        let used = 0;
        for (const m of this.deps.models.list) if (m.residency === 'loaded' || m.residency === 'loading') used += m.memoryBytes;
        return used;
    }

    private memoryShort(): boolean {
        const budget = this.budget();
        if (budget === undefined) return false;
        let all = 0;
        for (const m of this.deps.models.list) if (!m.retired && m.residency !== 'failed') all += m.memoryBytes;
        return all > budget;
    }

    private startLoad(m: ModelEntry): void {
        const { clock, logger } = this.deps;
        const now = clock.now();
        m.loadWanted = false;
        m.residency = 'loading';
        m.loadStartedAt = now;
        this.loading = m;
        const backend = m.backend;
        this.deps.emit();
        this.loadingPromise = backend.load(m.spec, this.controller.signal).then(
            (info) => {
                if (m.backend !== backend) return;
                if (this.loading === m) this.loading = undefined;
                if (this.deps.disposed()) return;
                m.setInfo(info);
                m.residency = 'loaded';
                m.error = undefined;
                m.speed.observeLoad(clock.now() - now);
                this.deps.speeds.observed(m);
                logger?.info(`model ${m.id} loaded in ${Math.round(clock.now() - now)} ms`);
                this.deps.onLoaded(m);
                this.afterWork(m);
                this.runLoads();
                this.deps.emit();
            },
            (e: unknown) => {
                if (m.backend !== backend) return;
                if (this.loading === m) this.loading = undefined;
                if (this.deps.disposed()) return;
                if (e instanceof RemoteEngineError) {
                    // A remote engine that could not be reached is not a bad file: it stays
                    // unloaded, out of use for a cooldown (or until a new key), and connects
                    // again when work is routed to it.
                    m.residency = 'unloaded';
                    markRemoteFault(m, e, clock.now(), this.deps.config().settings.cooldownMs);
                    logger?.warn(`model ${m.id} could not connect to its engine: ${m.error}`);
                } else {
                    m.residency = 'failed';
                    m.error = errorMessage(e);
                    logger?.error(`model ${m.id} failed to load: ${m.error}`);
                }
                this.deps.onLoadFailed(m, e);
                this.runLoads();
                this.deps.emit();
            },
        );
    }

    private unload(m: ModelEntry, why: string): void {
        this.clearKeepAlive(m);
        m.residency = 'unloaded';
        m.docs.clear();
        this.deps.logger?.info(`model ${m.id} unloaded (${why})`);
        void m.backend.unload().catch((e: unknown) => this.deps.logger?.warn(`unload of ${m.id} failed: ${errorMessage(e)}`));
        this.deps.emit();
    }

    /**
     * Forecast pre-load: a kind whose preferred model is unloaded and whose next arrival is more
     * likely than not within twice that model's load time gets its model loaded, if it fits after
     * evicting only idle models.
     */
    private preload(): void {
        const { models } = this.deps;
        if (!this.deps.config().zeta || this.loading) return;
        for (let k = 0; k < NK; k++) {
            const m = models.preferred(k);
            if (m === undefined) continue;
            if (m.residency !== 'unloaded' || m.loadWanted || m.info === undefined || m.retired) continue;
            const kind = this.expectedSoon(m);
            if (kind === undefined) continue;
            const budget = this.budget();
            if (budget !== undefined) {
                let free = budget - this.usedMemory();
                for (const o of models.list) if (o !== m && o.residency === 'loaded' && !models.isPinned(o) && o.idle && this.expectedSoon(o) === undefined) free += o.memoryBytes;
                if (free < m.memoryBytes) continue;
            }
            this.deps.logger?.info(`pre-loading ${m.id}: ${kind} expected within ${Math.round(2 * m.speed.loadMs)} ms`);
            m.loadWanted = true;
        }
    }

    /**
     * A task kind whose preferred model is `m` and whose next arrival is more likely than not
     * within twice `m`'s load time (Poisson at the forecast rate), or undefined.
     */
    private expectedSoon(m: ModelEntry): TaskKind | undefined {
        if (!this.deps.config().zeta) return undefined;
        const now = this.deps.clock.now();
        for (let k = 0; k < NK; k++) {
            if (this.deps.models.preferred(k) !== m) continue;
            const rate = this.deps.rate(TASK_KINDS[k], now);
            if (rate > 0 && 1 - Math.exp((-rate * 2 * m.speed.loadMs) / 1000) >= 0.5) return TASK_KINDS[k];
        }
        return undefined;
    }
}

/** Whether unloading `m` frees local memory (false for a remote engine's model: it takes none here). */
function holdsMemory(m: ModelEntry): boolean {
    return !m.remote && m.memoryBytes > 0;
}
