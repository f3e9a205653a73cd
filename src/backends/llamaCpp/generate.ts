/**
 * The llama.cpp backend's token loop: prefix reuse on the call's sequence, the prefill in chunks
 * (one native call each), then one token per native call, with the request's gate and abort
 * signal checked between calls. Native calls of a CPU model take turns on the shared evaluation
 * thread (`nativeCalls`).
 */
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import { prefillChunkSize, type GenerationResult, type StopReason, type TokenGate } from '../../core/backend';
import { ModelRuntimeError } from '../../core/errors';
import type { Reservation } from '../../core/evalTurns';
import type { Priority, WaitTag } from '../../core/scheduling';
import type { Env, Loaded } from './loaded';
import type { PreparedPrompt } from './prompts';
import { DETOKENIZER_LOOKBACK, TextStream } from './textStream';
import { ListenerFailure } from '../calls';

/** Runs one native call (see `nativeCalls`). */
export type Native = <T>(fn: () => Promise<T>) => Promise<T>;

/** Totals of what the token loop computed, as `stats()` reports them. */
export interface TokenCounters {
    promptTokensEvaluated: number;
    promptTokensReused: number;
    generatedTokens: number;
}

/** What a call did on its sequence, filled in as it goes (reported as CallUsage once it reached it). */
export interface Usage {
    reachedSequence: boolean;
    reused: number;
    /** Prompt tokens whose native call has begun. */
    begun: number;
    generated: number;
    completed: boolean;
}

/**
 * Wraps one native call of `loaded`'s model: within a turn (`env.turns`, at `priority`, named by
 * `tag`) for a CPU model, as is otherwise. `gateWait`: the request's gate, asked again when the
 * turn comes.
 */
export function nativeCalls(
    env: Env,
    loaded: Loaded,
    priority: Priority,
    signal: AbortSignal,
    gateWait?: () => Promise<void> | undefined,
    tag?: WaitTag,
): Native {
    const turns = env.turns;
    if (!turns || loaded.info.gpu) return (fn) => fn();
    return (fn) => turns.run(priority, signal, fn, gateWait, tag);
}

/**
 * Evaluates tokens[from, to) in chunks of `chunk` tokens (or fewer tokens, as the gate's
 * `chunkTokens` says once `before` has passed), awaiting `before` ahead of each chunk; each chunk
 * is one native call (`native`), counted by `begin(n)` as that call begins.
 */
export async function prefillChunks(
    sequence: LlamaContextSequence,
    tokens: readonly Token[],
    from: number,
    to: number,
    chunk: number,
    before: () => Promise<void> | void,
    native: Native,
    begin: (n: number) => void,
    gate?: TokenGate,
): Promise<void> {
    for (let pos = from; pos < to; ) {
        await before();
        const end = Math.min(to, pos + prefillChunkSize(chunk, gate));
        await native(() => {
            begin(end - pos);
            return sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(pos, end));
        });
        pos = end;
    }
}

/**
 * The token loop. The caller holds `sequence` (one slot) for the whole call; `reservation` is its
 * claim on the evaluation thread (ended at the first token, suspended while the gate holds it).
 * `usage` is filled in as the call goes.
 */
export async function generateOnSequence(
    env: Env,
    counters: TokenCounters,
    loaded: Loaded,
    sequence: LlamaContextSequence,
    prompt: PreparedPrompt,
    signal: AbortSignal,
    startedAt: number,
    reservation: Reservation,
    usage: Usage,
): Promise<GenerationResult> {
    const { model } = loaded;
    const clock = env.clock;
    const tokens = prompt.tokens;
    const contextSize = sequence.contextSize;
    if (tokens.length === 0) throw new ModelRuntimeError(loaded.spec.id, 'unsupported', 'the prompt is empty');
    if (tokens.length >= contextSize) {
        throw new ModelRuntimeError(loaded.spec.id, 'promptTooLong', `the prompt has ${tokens.length} tokens; the context holds ${contextSize} per slot`);
    }
    const maxTokens = Math.max(0, Math.min(prompt.maxTokens, contextSize - tokens.length));

    // Prefix reuse: keep the common prefix, erase the diverging tail, evaluate the rest. At least
    // the last prompt token is evaluated, to get the logits of the first new token.
    const common = sequence.compareContextTokens(tokens).firstDifferentIndex;
    const keep = Math.min(common, tokens.length - 1);
    if (sequence.nextTokenIndex > keep) {
        await sequence.eraseContextTokenRanges([{ start: keep, end: sequence.nextTokenIndex }]);
    }
    // The library may keep fewer tokens than asked (e.g. models that cannot erase a suffix).
    const reused = Math.min(sequence.nextTokenIndex, keep);
    if (sequence.nextTokenIndex > reused) await sequence.eraseContextTokenRanges([{ start: reused, end: sequence.nextTokenIndex }]);
    counters.promptTokensReused += reused;
    usage.reachedSequence = true;
    usage.reused = reused;
    // Counted as each native call begins: an aborted prefill counts the chunks that ran.
    const begin = (n: number): void => {
        usage.begun += n;
        counters.promptTokensEvaluated += n;
    };

    // The gate's pending wait, if it is closed.
    const gateWait = (): Promise<void> | undefined => {
        signal.throwIfAborted();
        const wait = prompt.gate?.wait(signal);
        if (!wait) return undefined;
        // Paused: others may use the thread meanwhile.
        reservation.suspend();
        return wait.then(() => {
            signal.throwIfAborted();
            reservation.resume();
        });
    };
    const pass = async (): Promise<void> => {
        await gateWait();
        signal.throwIfAborted();
    };

    const native = nativeCalls(env, loaded, prompt.priority, signal, gateWait, prompt.tag);
    // The gate and the signal are also checked between prefill chunks.
    await prefillChunks(sequence, tokens, reused, tokens.length - 1, env.chunk, pass, native, begin, prompt.gate);
    await pass();

    const stream = new TextStream(model, tokens.slice(-DETOKENIZER_LOOKBACK), prompt.stopStrings, (piece) => {
        if (signal.aborted || !prompt.onToken) return;
        try {
            prompt.onToken(piece);
        } catch (e) {
            throw new ListenerFailure(e);
        }
    });
    const generated: Token[] = [];
    let stopReason: StopReason = 'maxTokens';
    let firstTokenAt: number | undefined;

    if (maxTokens === 0) {
        // Prefill only (e.g. warming a document's prefix): the whole prompt enters the sequence.
        await native(() => {
            begin(1);
            return sequence.evaluateWithoutGeneratingNewTokens([tokens[tokens.length - 1]]);
        });
    } else {
        const iterator = sequence.evaluateWithMetadata(
            [tokens[tokens.length - 1]],
            { probabilities: prompt.ignoreEndOfGeneration },
            { temperature: prompt.temperature, seed: prompt.seed, yieldEogToken: true },
        );
        try {
            // Each step of the iterator evaluates one token: one native call.
            let next = await native(() => {
                begin(1);
                return iterator.next();
            });
            for (;;) {
                if (next.done) {
                    stopReason = 'endOfGeneration';
                    break;
                }
                const output: { readonly token: Token; readonly probabilities?: Map<Token, number> } = next.value;
                const sampled = output.token;
                let token: Token | undefined = sampled;
                if (model.isEogToken(sampled) || prompt.stopTokens.has(sampled)) {
                    token = prompt.ignoreEndOfGeneration ? bestOtherToken(output.probabilities, model, prompt.stopTokens) : undefined;
                    if (token === undefined) {
                        stopReason = 'endOfGeneration';
                        break;
                    }
                }
                signal.throwIfAborted();
                if (firstTokenAt === undefined) {
                    firstTokenAt = clock.now();
                    reservation.end();
                }
                generated.push(token);
                usage.generated++;
                counters.generatedTokens++;
                if (stream.push(token)) {
                    stopReason = 'stopString';
                    break;
                }
                if (generated.length >= maxTokens) {
                    stopReason = 'maxTokens';
                    break;
                }
                await pass();
                next = await native(() => iterator.next(token === sampled ? undefined : token));
            }
        } finally {
            await iterator.return();
        }
    }
    signal.throwIfAborted();
    if (stopReason !== 'stopString') stream.flush();

    const end = clock.now();
    usage.completed = true;
    return {
        text: stream.text,
        stopReason,
        promptTokens: tokens.length,
        reusedPromptTokens: reused,
        evaluatedPromptTokens: tokens.length - reused,
        generatedTokens: generated.length,
        firstTokenMs: firstTokenAt === undefined ? undefined : firstTokenAt - startedAt,
        totalMs: end - startedAt,
    };
}

/** The most probable token that neither ends generation nor is a stop token (ignoreEndOfGeneration). */
function bestOtherToken(probabilities: Map<Token, number> | undefined, model: LlamaModel, stops: ReadonlySet<Token>): Token | undefined {
    if (!probabilities) return undefined;
    for (const token of probabilities.keys()) {
        if (!model.isEogToken(token) && !stops.has(token)) return token;
    }
    return undefined;
}
