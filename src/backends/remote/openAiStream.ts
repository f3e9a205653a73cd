/**
 * Reading OpenAI-style streamed completions (`/v1/completions` and `/v1/chat/completions` with
 * `stream: true`): each parsed SSE event's text piece, its `finish_reason`, and the `usage` the engine
 * sends in the last chunk (`stream_options.include_usage`). The request's stop strings are guarded on
 * the client side by StopText (backends/stopText.ts), as for llama-server's native API.
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
