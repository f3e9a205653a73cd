/**
 * Reading OpenAI-style streamed completions (`/v1/completions` and `/v1/chat/completions` with
 * `stream: true`): each parsed SSE event's text piece, its `finish_reason`, and the `usage` the engine
 * sends in the last chunk (`stream_options.include_usage`), with the request's stop strings guarded on
 * the client side too (an engine that ignores `stop`, or streams the start of a stop string before it
 * knows, never gets it into a piece or the result).
 *
 * Pure: no I/O, no clock. Units: characters, tokens.
 */

/** `usage` of an OpenAI-style response (prompt_tokens_details.cached_tokens: vLLM with prefix caching, llama-server). */
export interface OpenAiUsage {
    readonly promptTokens: number;
    readonly completionTokens: number;
    /** Prompt tokens the engine reused from its cache; undefined when it does not say. */
    readonly cachedTokens: number | undefined;
}

/** How the engine said the choice ended. */
export interface OpenAiFinish {
    /** `finish_reason`: "stop" (end of generation or a stop string), "length" (max_tokens), others as sent. */
    readonly reason: string;
    /**
     * vLLM's `stop_reason`: the stop string matched (a string), a stop token id (a number), or null
     * (end of sequence); undefined when the engine does not send the field (llama-server, Ollama).
     */
    readonly stopReason: string | number | null | undefined;
}

/** A streamed event that is an error object (`{"error": {...}}`), as some engines send mid-stream. */
export class StreamedError extends Error {
    override readonly name = 'StreamedError';
}

function asNumber(v: unknown): number | undefined {
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Reads `usage` (undefined when absent or malformed). */
export function parseUsage(value: unknown): OpenAiUsage | undefined {
    if (value === null || typeof value !== 'object') return undefined;
    const u = value as Record<string, unknown>;
    const promptTokens = asNumber(u.prompt_tokens);
    if (promptTokens === undefined) return undefined;
    const details = u.prompt_tokens_details as Record<string, unknown> | null | undefined;
    return {
        promptTokens,
        completionTokens: asNumber(u.completion_tokens) ?? 0,
        cachedTokens: details && typeof details === 'object' ? asNumber(details.cached_tokens) : undefined,
    };
}

/** What one streamed event carries for choice 0. */
export interface StreamEvent {
    /** The text piece (completions' `text`, chat's `delta.content`); '' when none. */
    readonly text: string;
    readonly finish: OpenAiFinish | undefined;
    readonly usage: OpenAiUsage | undefined;
}

/**
 * One event of a completions or chat stream. Throws StreamedError for an `{"error": ...}` event and
 * a plain Error for an event that is not an object (the caller makes both a RemoteEngineError).
 * Choices other than index 0 are ignored (Zeta asks for one).
 */
export function parseStreamEvent(event: unknown, kind: 'completion' | 'chat'): StreamEvent {
    if (event === null || typeof event !== 'object' || Array.isArray(event)) throw new Error(`an event that is not an object: ${JSON.stringify(event)?.slice(0, 80)}`);
    const e = event as Record<string, unknown>;
    if (e.error !== undefined) {
        const err = e.error as Record<string, unknown> | string | null;
        const message = typeof err === 'string' ? err : typeof err?.message === 'string' ? err.message : JSON.stringify(err);
        throw new StreamedError(message.slice(0, 300));
    }
    const usage = parseUsage(e.usage);
    const choices = Array.isArray(e.choices) ? (e.choices as unknown[]) : [];
    const choice = choices.find((c) => (c as { index?: unknown } | null)?.index === undefined || (c as { index?: unknown }).index === 0) as
        | Record<string, unknown>
        | undefined;
    if (!choice) return { text: '', finish: undefined, usage };
    let text = '';
    if (kind === 'completion') {
        if (typeof choice.text === 'string') text = choice.text;
    } else {
        const delta = choice.delta as Record<string, unknown> | undefined;
        if (delta && typeof delta.content === 'string') text = delta.content;
    }
    const reason = choice.finish_reason;
    const finish =
        typeof reason === 'string' && reason !== ''
            ? {
                  reason,
                  stopReason: 'stop_reason' in choice ? (choice.stop_reason as string | number | null) : undefined,
              }
            : undefined;
    return { text, finish, usage };
}

/**
 * Streamed text with the request's stop strings cut, as the local backend's TextStream does: a tail
 * that could be the start of a stop string is held back until the next piece decides it, and the
 * text ends before the first stop string. Invariant: what `push`/`flush` returned, joined, is a
 * prefix of `text`, and `text` never contains a stop string.
 */
export class StopGuard {
    text = '';
    private emitted = 0;
    /** True once a stop string was found (the text is cut before it; later pieces are ignored). */
    stopped = false;
    private readonly stops: readonly string[];

    constructor(stops: readonly string[]) {
        this.stops = stops.filter((s) => s.length > 0);
    }

    /** Adds a piece; returns the text that may be shown now ('' when all of it is held back or cut). */
    push(piece: string): string {
        if (this.stopped || piece === '') return '';
        const longest = this.stops.reduce((n, s) => Math.max(n, s.length), 0);
        const from = Math.max(0, this.text.length - longest + 1);
        this.text += piece;
        let cut = -1;
        for (const s of this.stops) {
            const i = this.text.indexOf(s, from);
            if (i >= 0 && (cut < 0 || i < cut)) cut = i;
        }
        if (cut >= 0) {
            this.text = this.text.slice(0, cut);
            this.stopped = true;
            return this.emitUpTo(this.text.length);
        }
        return this.emitUpTo(this.text.length - this.heldForStops());
    }

    /** The held-back tail, once the stream ended without completing a stop string. */
    flush(): string {
        return this.emitUpTo(this.text.length);
    }

    private heldForStops(): number {
        let held = 0;
        for (const s of this.stops) {
            for (let k = Math.min(s.length - 1, this.text.length); k > held; k--) {
                if (this.text.endsWith(s.slice(0, k))) {
                    held = k;
                    break;
                }
            }
        }
        return held;
    }

    private emitUpTo(end: number): string {
        if (end <= this.emitted) return '';
        const piece = this.text.slice(this.emitted, end);
        this.emitted = end;
        return piece;
    }
}
