/**
 * Token accounting of a benchmark run from each generate/chat call's own report (`CallUsage`), the
 * same in sim and real mode.
 *
 * Besides the totals it credits what a superseded call computed and a later call then used: a call
 * builds on the prompt tokens its sequence holds (its reused prefix), which earlier calls of the same
 * key evaluated, some of them aborted. Such tokens are not wasted once a call that generated a
 * result reuses them; each is credited once. Positions are tracked per model and cache key, as the
 * backends keep one sequence per key.
 */
import type { CallUsage, ChatRequest, GenerateRequest, ModelBackend } from '../../src/core/backend';
import type { TokenTotals } from './metrics';

/** Positions [from, to) of a key's sequence and whether a completed call has used them yet. */
interface Span {
    readonly from: number;
    readonly to: number;
    /** Evaluated by a call that generated its result, or reused by one: no longer creditable. */
    readonly used: boolean;
}

export class UsageLedger {
    private counting = false;
    private computed = 0;
    private generated = 0;
    private recovered = 0;
    private readonly sequences = new Map<string, Span[]>();

    /** From now on calls count; what earlier calls left in their sequences is never credited. */
    start(): void {
        this.counting = true;
        this.computed = 0;
        this.generated = 0;
        this.recovered = 0;
        for (const [key, spans] of this.sequences) this.sequences.set(key, spans.map((s) => ({ ...s, used: true })));
    }

    totals(): TokenTotals {
        return { computed: this.computed, generated: this.generated, recovered: this.recovered };
    }

    /** Records one call's usage on `modelId`'s sequence for `cacheKey` (undefined: no sequence kept). */
    record(modelId: string, cacheKey: string | undefined, u: CallUsage): void {
        if (this.counting) {
            this.computed += u.evaluatedPromptTokens + u.generatedTokens;
            this.generated += u.generatedTokens;
        }
        if (cacheKey === undefined) return;
        const key = `${modelId}\u0000${cacheKey}`;
        // The call kept the first `reusedPromptTokens` positions and overwrote the rest.
        const kept: Span[] = [];
        for (const s of this.sequences.get(key) ?? []) {
            if (s.from >= u.reusedPromptTokens) continue;
            kept.push({ ...s, to: Math.min(s.to, u.reusedPromptTokens) });
        }
        // A call that generated its result used what it reused (a prefill-only read passes it on).
        const used = u.completed && u.generatedTokens > 0;
        const spans = used
            ? kept.map((s) => {
                  if (!s.used && this.counting) this.recovered += s.to - s.from;
                  return { ...s, used: true };
              })
            : kept;
        if (u.evaluatedPromptTokens > 0) spans.push({ from: u.reusedPromptTokens, to: u.reusedPromptTokens + u.evaluatedPromptTokens, used });
        this.sequences.set(key, spans);
    }

    /** `backend` with its generate and chat calls reporting here; every other member delegates to it. */
    observe(backend: ModelBackend, modelId: string): ModelBackend {
        const chain = (request: GenerateRequest | ChatRequest) => (u: CallUsage): void => {
            this.record(modelId, request.cacheKey, u);
            request.onUsage?.(u);
        };
        const cached = backend.cachedTokens?.bind(backend);
        const waits = backend.waits?.bind(backend);
        const remoteLoad = backend.remoteLoad?.bind(backend);
        return {
            inspect: (spec, signal) => backend.inspect(spec, signal),
            load: (spec, signal) => backend.load(spec, signal),
            unload: () => backend.unload(),
            generate: (request, signal) => backend.generate({ ...request, onUsage: chain(request) }, signal),
            chat: (request, signal) => backend.chat({ ...request, onUsage: chain(request) }, signal),
            embed: (texts, signal, priority, tag) => backend.embed(texts, signal, priority, tag),
            countTokens: (text) => backend.countTokens(text),
            stats: () => backend.stats(),
            ...(cached ? { cachedTokens: cached } : {}),
            ...(waits ? { waits } : {}),
            // A remote engine's live load passes through (the router reads it to see other clients).
            ...(remoteLoad ? { remoteLoad } : {}),
            get info() {
                return backend.info;
            },
        };
    }
}
