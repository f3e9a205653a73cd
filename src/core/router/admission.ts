/**
 * Admission: what a task costs before it is routed, and whether a completion waits before it is
 * routed at all.
 *
 * - Prompt sizing (`size`): prompt tokens counted once with a loaded model's tokenizer (the
 *   backend keeps the tokens, so the call itself does not tokenize the same texts again), or
 *   estimated from characters for long prompts and when no model is loaded; the expected generated
 *   tokens as a learned share of `maxTokens` per task kind.
 * - Hold-start (`holdStartMs`, zeta's holdSupersedable): a completion the next keystroke is likely
 *   to replace before its first token waits; if the keystroke comes, the work was never done.
 *
 * Units: tokens, characters, ms.
 */
import type { GenerationResult, ModelBackend } from '../backend';
import type { CompletionTask } from '../tasks';
import { CLASS_INDEX, NK } from './config';
import type { DecisionRecordImpl } from './decision';
import type { Cadence } from './forecast';
import { isEmbedTask, type Job } from './state';
import type { ModelSet } from './models';
import { COLD_PROMPT_REUSE } from './tuning';

/** Prompts up to this many characters are counted exactly with the backend's tokenizer. */
const EXACT_COUNT_CHARS = 4096;
/** FIM control tokens around prefix and suffix. */
const FIM_OVERHEAD_TOKENS = 3;
/** Chat template tokens per message (role markers). */
const CHAT_OVERHEAD_TOKENS = 4;
/** Weights of the newest sample in the learned ratios: tokens per character counted, and evaluated; generated share. */
const TPC_RATE_COUNTED = 0.2;
const TPC_RATE_EVALUATED = 0.1;
const GEN_RATIO_RATE = 0.2;

export class Admission {
    /** Expected generated tokens as a share of maxTokens, per task class (EWMA). */
    private readonly genRatio = new Float64Array(NK).fill(1);
    private tpc = 0.25;

    constructor(
        private readonly models: ModelSet,
        private readonly cadence: Cadence,
    ) {}

    /** Prompt tokens per character, learned from counted and evaluated prompts. */
    get tokensPerChar(): number {
        return this.tpc;
    }

    /** Sets `job`'s prompt tokens and characters, expected generated tokens and work, and embedding space. */
    size(job: Job): void {
        const t = job.task;
        let chars = 0;
        let tokens: number | undefined;
        if (t.kind === 'completion') {
            const middle = t.middle ?? '';
            chars = t.prefix.length + t.suffix.length + middle.length;
            tokens = t.promptTokens;
            if (tokens === undefined) {
                const b = this.countingBackend(job.classIndex);
                if (b && chars <= EXACT_COUNT_CHARS) {
                    tokens = b.countTokens(t.prefix) + b.countTokens(t.suffix) + (middle === '' ? 0 : b.countTokens(middle)) + FIM_OVERHEAD_TOKENS;
                    this.learnCounted(chars, tokens);
                } else tokens = Math.ceil(chars * this.tpc) + FIM_OVERHEAD_TOKENS;
            }
            job.genTokens = Math.max(1, t.maxTokens * this.genRatio[job.classIndex]);
            job.workTokens = tokens + t.maxTokens;
        } else if (isEmbedTask(t)) {
            for (const s of t.texts) chars += s.length;
            tokens = Math.ceil(chars * this.tpc);
            job.genTokens = 0;
            job.workTokens = tokens;
        } else {
            for (const msg of t.messages) chars += msg.content.length;
            tokens = t.promptTokens;
            if (tokens === undefined) {
                const b = this.countingBackend(job.classIndex);
                if (b && chars <= EXACT_COUNT_CHARS) {
                    tokens = CHAT_OVERHEAD_TOKENS * t.messages.length;
                    for (const msg of t.messages) tokens += b.countTokens(msg.content);
                    this.learnCounted(chars, tokens);
                } else tokens = Math.ceil(chars * this.tpc) + CHAT_OVERHEAD_TOKENS * t.messages.length;
            }
            job.genTokens = Math.max(1, t.maxTokens * this.genRatio[job.classIndex]);
            job.workTokens = tokens + t.maxTokens;
        }
        job.promptTokens = tokens;
        job.promptChars = chars;
        if (isEmbedTask(t) && job.space === undefined) job.space = t.space ?? this.defaultSpace();
    }

    /** A generation of `job` finished: the share of maxTokens generated and the tokens per character learn from it. */
    learn(job: Job, gen: GenerationResult): void {
        const t = job.task;
        if (isEmbedTask(t)) return;
        if (t.maxTokens > 0) this.genRatio[job.classIndex] += GEN_RATIO_RATE * (Math.min(1, gen.generatedTokens / t.maxTokens) - this.genRatio[job.classIndex]);
        if (gen.promptTokens > 0 && job.promptChars >= 16) this.tpc += TPC_RATE_EVALUATED * (gen.promptTokens / job.promptChars - this.tpc);
    }

    /** Whether the typing cadence knows enough about `t`'s document for a hold-start decision. */
    mayHold(t: CompletionTask): boolean {
        return this.cadence.lastKeystroke(t.doc) !== undefined && this.cadence.samples > 0;
    }

    /**
     * How long to hold completion `job` before routing it (ms; below 1: not at all), given the
     * decision `rec` made for it now. Sized on the time to the first token, not to the end: a
     * suggestion that reaches the user before the next keystroke is not wasted, and the completion
     * finally served pays the whole hold. A cold prompt is never held: its prefill is mostly the
     * document's prefix, which the next keystroke reuses. Nor is one whose first token is a guess:
     * a model whose prefill has not been measured is predicted from priors.
     */
    holdStartMs(job: Job, rec: DecisionRecordImpl, now: number): number {
        const t = job.task;
        if (t.kind !== 'completion') return 0;
        const last = this.cadence.lastKeystroke(t.doc);
        const c = rec.chosen === undefined ? undefined : rec.candidates.find((x) => x.modelId === rec.chosen);
        if (last === undefined || c === undefined) return 0;
        const lm = this.models.get(c.modelId)?.speed;
        const guessed = lm === undefined || (!lm.prefillMeasured && !lm.prefillFromEmbed);
        const cold = c.reusedTokens < COLD_PROMPT_REUSE * job.promptTokens;
        return cold || guessed ? 0 : this.cadence.holdFor(now - last, c.firstTokenMs);
    }

    private learnCounted(chars: number, tokens: number): void {
        if (chars >= 16) this.tpc += TPC_RATE_COUNTED * (tokens / chars - this.tpc);
    }

    /** A loaded backend to count tokens with: the kind's preferred model if loaded, else any. */
    private countingBackend(classIndex: number): ModelBackend | undefined {
        const p = this.models.preferred(classIndex);
        if (p && p.residency === 'loaded') return p.backend;
        for (const m of this.models.list) if (m.residency === 'loaded') return m.backend;
        return undefined;
    }

    /** The embedding space of the preferred embedder, else of the first inspected model. */
    private defaultSpace(): string | undefined {
        const p = this.models.preferred(CLASS_INDEX.embed);
        if (p && p.space !== undefined) return p.space;
        for (const m of this.models.list) if (m.space !== undefined && m.residency !== 'failed') return m.space;
        return undefined;
    }
}
