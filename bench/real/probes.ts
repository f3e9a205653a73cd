/**
 * The timing probes that the profile measurement and the speed checks both take on a real
 * backend: prompts that share nothing with earlier ones, a prompt sent again (one token
 * evaluated), embedding time per text, and the median of repetitions. Units: ms.
 */
import type { GenerationResult, ModelBackend } from '../../src/core/backend';
import { docWord } from '../replay/text';
import type { RealSetup } from './setup';

export function median(xs: readonly number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

let uniq = 0;
/** A prompt of about `tokens` tokens that shares nothing with earlier prompts (no reuse). */
export function freshText(words: number): string {
    const tag = `z${(uniq++).toString(36)}`;
    const out: string[] = [tag];
    for (let i = 1; i < words; i++) out.push(docWord(tag, 'profile', i));
    return out.join(' ');
}

/** A cache key of its own: `prefix` and the number of fresh texts made so far. */
export function freshKey(prefix: string): string {
    return `${prefix}${uniq}`;
}

/**
 * Reads `prompt` once under cache key `key` (a key of its own), then sends it again `n` times,
 * `pauseMs` before each (0: back to back): each time the last token alone is evaluated, in one
 * native call. The one-token keystroke (F32), after a pause (F39), and the speed checks' (F37).
 */
export async function sendAgain(b: ModelBackend, prompt: string, key: string, n: number, pauseMs: number, signal: AbortSignal): Promise<GenerationResult[]> {
    await b.generate({ mode: 'raw', prompt, maxTokens: 1, cacheKey: key }, signal);
    const out: GenerationResult[] = [];
    for (let i = 0; i < n; i++) {
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
        out.push(await b.generate({ mode: 'raw', prompt, maxTokens: 1, cacheKey: key }, signal));
    }
    return out;
}

/** ms per text of embedding `n` fresh texts of `words` words each, in one call. */
export async function embedMsPerText(b: ModelBackend, clock: RealSetup['clock'], words: number, n: number, signal: AbortSignal): Promise<number> {
    const texts = Array.from({ length: n }, () => freshText(words));
    const t0 = clock.now();
    await b.embed(texts, signal);
    return (clock.now() - t0) / n;
}

export const firstTokenMs = (r: GenerationResult): number => r.firstTokenMs ?? r.totalMs;
