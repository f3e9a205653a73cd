/**
 * The teammates on a real llama-server: a `LoadRequest` schedule (bench/workload/teamSchedule.ts) sent as streamed
 * `/infill` requests, as their editors send completions (llama.vscode's way, and Zeta's): the
 * prefix is the text of `promptTokens` tokens (`/detokenize` of a slice of token ids, so the engine
 * reads about that many plus the FIM markers), `n_predict` with `ignore_eos` so each runs its whole
 * answer, from `start()` on the wall clock. Infill, not `/completion`: llama-server never batches
 * the two kinds of task together (measured: a 4-token /infill waited ~1 s for a running
 * /completion to finish despite a free slot), so a `/completion` load would make any editor's
 * infill wait for whole answers, not for a slot. At most `slots + queue` are
 * outstanding (`admit`). `stop()` aborts what is outstanding: the stream's connection closes and
 * llama-server cancels the task, freeing its slot; `waitIdle` then polls `/slots` until no slot
 * is processing, so the next replay starts on an idle server.
 *
 * Side effects passed in: the clock (timers) and fetch. Units: ms, tokens.
 */
import type { Clock } from '../../src/core/clock';
import { ScheduledLoad, type BurstOptions, type LoadRequest } from '../workload/teamSchedule';

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** Gap between two polls of `/slots` while waiting for the server to go idle (ms). */
const IDLE_POLL_MS = 50;

/**
 * Token ids for the teammates' prompts: the server's tokenization of a fixed text long enough for
 * the largest prompt plus room to vary the start per request.
 */
export async function promptTokens(url: string, minTokens: number, fetchFn: Fetch, signal: AbortSignal): Promise<number[]> {
    const words = ['const', 'value', 'return', 'function', 'index', 'result', 'items', 'update', 'state', 'render', 'config', 'client', 'server', 'request'];
    const parts: string[] = [];
    let tokens: number[] = [];
    for (let i = 0; tokens.length < minTokens; i++) {
        for (let k = 0; k < 400; k++) parts.push(`${words[(i * 400 + k) % words.length]}${(i * 400 + k) % 97}`);
        const res = await fetchFn(`${url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: parts.join(' ') }), signal });
        if (!res.ok) throw new Error(`${url}/tokenize answered ${res.status}`);
        tokens = ((await res.json()) as { tokens: number[] }).tokens;
        if (i > 100) throw new Error(`${url}/tokenize: ${tokens.length} tokens after ${parts.length} words`);
    }
    return tokens;
}

export class HttpLoadGenerator extends ScheduledLoad {
    constructor(
        clock: Clock,
        private readonly url: string,
        schedule: readonly LoadRequest[],
        limits: Pick<BurstOptions, 'slots' | 'queue'>,
        /** Token ids to cut prompts from (`promptTokens`); longer than the largest prompt. */
        private readonly tokens: readonly number[],
        private readonly fetchFn: Fetch = fetch,
    ) {
        super(clock, schedule, limits);
        const most = Math.max(0, ...schedule.map((r) => r.promptTokens));
        if (tokens.length < most) throw new RangeError(`${tokens.length} prompt tokens, the schedule needs ${most}`);
    }

    /** One teammate's request: streamed, read to its end (or to the abort). */
    protected async send(r: LoadRequest, i: number, signal: AbortSignal): Promise<void> {
        // A different part of the text per request: teammates' prompts share no prefix with each other.
        const room = this.tokens.length - r.promptTokens;
        const from = room > 0 ? (i * 131) % room : 0;
        const text = await this.fetchFn(`${this.url}/detokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tokens: this.tokens.slice(from, from + r.promptTokens) }), signal });
        if (!text.ok) throw new Error(`/detokenize answered ${text.status}`);
        const prefix = ((await text.json()) as { content: string }).content;
        const body = { input_prefix: prefix, input_suffix: '', n_predict: r.nPredict, ignore_eos: true, stream: true, cache_prompt: true };
        const res = await this.fetchFn(`${this.url}/infill`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
        if (!res.ok || !res.body) throw new Error(`/infill answered ${res.status}`);
        const reader = res.body.getReader();
        for (;;) {
            const { done } = await reader.read();
            if (done) break;
        }
    }
}

/**
 * Waits until the server's `/slots` shows no slot processing (after `stop()`, llama-server frees a
 * cancelled task's slot at its next step). `capMs` is a hang cap: past it, throws.
 */
export async function waitIdle(url: string, clock: Clock, capMs: number, fetchFn: Fetch = fetch): Promise<void> {
    const end = clock.now() + capMs;
    let last = 'no answer yet';
    for (;;) {
        try {
            const res = await fetchFn(`${url}/slots`);
            if (res.ok) {
                const slots = (await res.json()) as Array<{ is_processing?: boolean }>;
                if (!slots.some((s) => s.is_processing)) return;
                last = `${slots.filter((s) => s.is_processing).length} slot(s) processing`;
            } else {
                last = `HTTP ${res.status}`;
                await res.body?.cancel();
            }
        } catch (e) {
            // A poll that fails (a connection reset on a machine this busy) is asked again.
            last = e instanceof Error ? e.message : String(e);
        }
        if (clock.now() > end) throw new Error(`${url}: not idle ${capMs} ms after the load stopped (${last}): a hang or a dead server`);
        await new Promise((r) => setTimeout(r, IDLE_POLL_MS));
    }
}
