/**
 * Whether a selection fits what Explain Selection, Plan Refactor or Edit Selection may send: the
 * prompt (its fixed text plus the selection) and the whole answer (`zeta.chatMaxTokens`) must fit
 * the context of a model that can answer; an edit's answer is the rewritten selection, so the
 * selection must also fit in the answer. A selection that does not fit is refused with how large it
 * may be, in lines and characters of this selection (and tokens), and which setting would change
 * that; it is never cut silently.
 *
 * Pure. Token counts come in from the caller: exact (the model is loaded and its tokenizer counted
 * them) or a conservative estimate (`estimateTokens`), and the message says which.
 * Units: tokens, characters (UTF-16 code units, as the editor counts them), lines.
 */

/**
 * Characters per token assumed when a model's tokenizer is not at hand. Code averages 3-4 characters
 * a token in the BPE vocabularies of code models; 2 overestimates the count of nearly any code, so an
 * estimate refuses rather than lets through a prompt the model then rejects.
 */
export const ESTIMATE_CHARS_PER_TOKEN = 2;

/** Tokens a chat template adds around each message (role markers, separators), not counted in its text. */
export const TEMPLATE_TOKENS_PER_MESSAGE = 8;

/** Tokens an edit's answer needs besides the code: the fence lines around it. */
export const EDIT_FENCE_TOKENS = 16;

export function estimateTokens(text: string): number {
    return Math.ceil(text.length / ESTIMATE_CHARS_PER_TOKEN);
}

export interface TokenCount {
    readonly tokens: number;
    /** True when the model's tokenizer counted them; false for `estimateTokens`. */
    readonly exact: boolean;
}

/** One model that could answer, with the selection and the prompt counted for it. */
export interface ModelRoom {
    readonly modelId: string;
    /** The context size the model runs with (tokens). */
    readonly contextSize: number;
    /** The prompt without the selection: its texts plus TEMPLATE_TOKENS_PER_MESSAGE per message. */
    readonly overhead: TokenCount;
    readonly selection: TokenCount;
}

export interface SelectionCheckInput {
    /** "Explain Selection", "Plan Refactor", "Edit Selection". */
    readonly what: string;
    readonly chars: number;
    readonly lines: number;
    /** Tokens the answer may take (zeta.chatMaxTokens). */
    readonly maxTokens: number;
    /** True for an edit: the answer is the whole selection rewritten, so the selection must fit in it. */
    readonly answerIsSelection: boolean;
    /** The models that could answer (configured, able to chat, not failed); the roomiest is used. */
    readonly models: readonly ModelRoom[];
}

export type SelectionCheck =
    | { readonly ok: true; readonly modelId: string }
    | {
          readonly ok: false;
          readonly message: string;
          /** The largest selection that would fit, in tokens and, at this selection's density, lines and characters. */
          readonly maxSelectionTokens: number;
          readonly maxLines: number;
          readonly maxChars: number;
      };

/** Selection tokens a model can take: its context minus the prompt's fixed part and the answer (and, for an edit, at most the answer). */
export function roomFor(m: ModelRoom, maxTokens: number, answerIsSelection: boolean): number {
    const byContext = m.contextSize - m.overhead.tokens - maxTokens;
    const room = answerIsSelection ? Math.min(byContext, maxTokens - EDIT_FENCE_TOKENS) : byContext;
    return Math.max(0, room);
}

export function checkSelection(input: SelectionCheckInput): SelectionCheck {
    if (input.models.length === 0) {
        // No model to measure against: the router refuses the task with its own reason.
        return { ok: true, modelId: '' };
    }
    let best = input.models[0];
    let bestRoom = roomFor(best, input.maxTokens, input.answerIsSelection);
    for (const m of input.models.slice(1)) {
        const r = roomFor(m, input.maxTokens, input.answerIsSelection);
        if (r > bestRoom) {
            best = m;
            bestRoom = r;
        }
    }
    const needed = best.selection.tokens;
    if (needed <= bestRoom) return { ok: true, modelId: best.modelId };

    const share = needed > 0 ? bestRoom / needed : 0;
    const maxLines = Math.floor(input.lines * share);
    const maxChars = Math.floor(input.chars * share);
    const how = best.selection.exact ? `counted with the ${best.modelId} model's tokenizer` : `estimated at ${ESTIMATE_CHARS_PER_TOKEN} characters a token while the ${best.modelId} model is not loaded`;
    const byContext = best.contextSize - best.overhead.tokens - input.maxTokens;
    const limitedByAnswer = input.answerIsSelection && input.maxTokens - EDIT_FENCE_TOKENS < byContext;
    const why = limitedByAnswer
        ? `${input.what} writes the whole selection back, and an answer may take ${n(input.maxTokens)} tokens (zeta.chatMaxTokens)`
        : `the ${best.modelId} model's ${n(best.contextSize)}-token context holds the prompt (${n(best.overhead.tokens)} tokens), the answer (${n(input.maxTokens)}, zeta.chatMaxTokens) and at most ${n(bestRoom)} tokens of selection`;
    const fix = limitedByAnswer
        ? 'or raise zeta.chatMaxTokens'
        : `or raise zeta.models.<role>.contextSize of the ${best.modelId} model${input.answerIsSelection ? '' : ' or lower zeta.chatMaxTokens'}`;
    const message =
        `the selection is too large for ${input.what}: ${n(needed)} tokens (${how}), and ${why}. ` +
        `Select at most about ${n(maxLines)} lines (${n(maxChars)} characters) of this code, ${fix}.`;
    return { ok: false, message, maxSelectionTokens: bestRoom, maxLines, maxChars };
}

function n(x: number): string {
    return x.toLocaleString('en-US');
}
