/**
 * A `ModelBackend` that injects faults around a real one (the llama.cpp backend in the faults
 * suite, the fake in the router's unit tests). Everything not faulted passes through, so the
 * router drives the real backend and the real backend does the real work up to the fault.
 *
 * Faults are armed for the next generate/chat call (`next`), which then never ends at an
 * end-of-generation token, and act through that call's gate,
 * which every backend asks before each prefill chunk and each token (src/core/backend.ts
 * `TokenGate`): so they strike inside the real backend's token loop, mid-stream, as a native
 * failure or a stuck native call would.
 * - `throw`: after `afterTokens` tokens the gate throws `error` (the backend's own error path runs:
 *   its sequence is cleared, the call rejects with a ModelRuntimeError).
 * - `hang`: after `afterTokens` tokens the gate never opens. With `honoursAbort` it rejects when
 *   the call's signal aborts (a call that stops when told); without, the inner call stays blocked
 *   (its sequence held) and the call this wrapper returns never settles, until `release()`.
 * Load faults: `failLoads(error)` makes the next load reject with `error` without loading.
 */
import type { CallUsage, ChatRequest, GenerateRequest, GenerationResult, ModelBackend, ModelInfo, ModelSpec, TokenGate } from '../../../src/core/backend';
import type { Priority, WaitState, WaitTag } from '../../../src/core/scheduling';

export type Fault =
    | { readonly kind: 'throw'; readonly afterTokens: number; readonly error: Error }
    | { readonly kind: 'hang'; readonly afterTokens: number; readonly honoursAbort: boolean };

/** What happened to the faults this wrapper injected. */
export interface FaultLog {
    /** Faults that struck (the gate threw or blocked), in order. */
    readonly struck: Fault[];
    /** Calls currently blocked by a `hang`. */
    hanging: number;
    /** Outer calls that never settled because their hang ignores aborts (until `release`). */
    unsettled: number;
}

export class FaultyBackend implements ModelBackend {
    readonly log: FaultLog = { struck: [], hanging: 0, unsettled: 0 };
    private readonly armed: Fault[] = [];
    private loadFailures: Error[] = [];
    /** Unblocks every hang (blocked gates open, unsettled outer calls reject). */
    private releasers: Array<() => void> = [];
    /** Called each time a fault strikes (tests wait for it instead of for time). */
    onStrike: ((fault: Fault) => void) | undefined;

    constructor(readonly inner: ModelBackend) {}

    /** Arms `fault` for the next generate or chat call. */
    next(fault: Fault): void {
        this.armed.push(fault);
    }

    /** The next load rejects with `error` (the inner backend is not asked). */
    failLoads(error: Error): void {
        this.loadFailures.push(error);
    }

    /** Ends every hang: blocked gates open (the inner call sees its abort and ends), never-settling calls reject. */
    release(): void {
        const r = this.releasers;
        this.releasers = [];
        for (const f of r) f();
    }

    get info(): ModelInfo | undefined {
        return this.inner.info;
    }
    inspect(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        return this.inner.inspect(spec, signal);
    }
    load(spec: ModelSpec, signal: AbortSignal): Promise<ModelInfo> {
        const e = this.loadFailures.shift();
        if (e) return Promise.reject(e);
        return this.inner.load(spec, signal);
    }
    unload(): Promise<void> {
        return this.inner.unload();
    }
    generate(request: GenerateRequest, signal: AbortSignal): Promise<GenerationResult> {
        const fault = this.armed.shift();
        if (!fault) return this.inner.generate(request, signal);
        return this.faulted(fault, request, signal, (r, s) => this.inner.generate(r, s));
    }
    chat(request: ChatRequest, signal: AbortSignal): Promise<GenerationResult> {
        const fault = this.armed.shift();
        if (!fault) return this.inner.chat(request, signal);
        return this.faulted(fault, request, signal, (r, s) => this.inner.chat(r, s));
    }
    embed(texts: readonly string[], signal: AbortSignal, priority?: Priority, tag?: WaitTag): Promise<number[][]> {
        return this.inner.embed(texts, signal, priority, tag);
    }
    countTokens(text: string): number {
        return this.inner.countTokens(text);
    }
    cachedTokens(cacheKey: string): number {
        return this.inner.cachedTokens?.(cacheKey) ?? 0;
    }
    waits(): WaitState {
        return this.inner.waits?.() ?? { waiting: [] };
    }
    stats(): ReturnType<ModelBackend['stats']> {
        return this.inner.stats();
    }

    private faulted<R extends GenerateRequest | ChatRequest>(
        fault: Fault,
        request: R,
        signal: AbortSignal,
        call: (request: R, signal: AbortSignal) => Promise<GenerationResult>,
    ): Promise<GenerationResult> {
        let tokens = 0;
        let struck = false;
        /** Set when the caller's promise must stop following the inner call once the fault strikes. */
        let detach: (() => void) | undefined;
        const outer = request.gate;
        const strike = (): void => {
            if (struck) return;
            struck = true;
            this.log.struck.push(fault);
            detach?.();
            this.onStrike?.(fault);
        };
        const gate: TokenGate = {
            chunkTokens: () => outer?.chunkTokens?.(),
            wait: (s: AbortSignal) => {
                if (tokens < fault.afterTokens) return outer?.wait(s);
                strike();
                if (fault.kind === 'throw') throw fault.error;
                this.log.hanging++;
                return new Promise<void>((resolve, reject) => {
                    const unblock = (): void => {
                        this.log.hanging--;
                        resolve();
                    };
                    this.releasers.push(unblock);
                    if (!fault.honoursAbort) return;
                    const onAbort = (): void => {
                        const i = this.releasers.indexOf(unblock);
                        if (i >= 0) this.releasers.splice(i, 1);
                        this.log.hanging--;
                        reject(s.reason);
                    };
                    if (s.aborted) onAbort();
                    else s.addEventListener('abort', onAbort, { once: true });
                });
            },
        };
        const onToken = (text: string): void => {
            tokens++;
            request.onToken?.(text);
        };
        const onUsage = (usage: CallUsage): void => request.onUsage?.(usage);
        // Faulted calls never end at an end-of-generation token: the random generated models often
        // sample one at once, and the fault must strike mid-stream.
        const running = call({ ...request, gate, onToken, onUsage, ignoreEndOfGeneration: true }, signal);
        if (fault.kind !== 'hang' || fault.honoursAbort) return running;
        // A call that ignores its abort: once the hang strikes, the caller's promise settles only on
        // release(); before, it settles as the inner call does.
        return new Promise<GenerationResult>((resolve, reject) => {
            detach = () => {
                this.log.unsettled++;
                this.releasers.push(() => {
                    this.log.unsettled--;
                    reject(new Error('released by the test: this call had stopped responding'));
                });
            };
            running.then(
                (value) => {
                    if (!struck) resolve(value);
                },
                (e: unknown) => {
                    if (!struck) reject(e);
                },
            );
        });
    }
}
