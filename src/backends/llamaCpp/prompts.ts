/**
 * Prompts for the llama.cpp backend: raw text, fill-in-the-middle (the model's FIM template, trimmed
 * to fit the context around the cursor) and chat (the model's chat template), each with the tokens
 * and strings that end its generation. Texts are tokenized through `tokenizeRecent`.
 */
import type { ChatHistoryItem, ChatWrapper, LlamaText, Token } from 'node-llama-cpp' with { 'resolution-mode': 'import' };
import type { CallUsage, ChatRequest, FimFamily, GenerateRequest, TokenGate, TokenListener } from '../../core/backend';
import { ModelRuntimeError, errorMessage } from '../../core/errors';
import { buildFimParts, fimTemplate, type FimRole } from '../../core/fim';
import type { Priority, WaitTag } from '../../core/scheduling';
import type { Loaded } from './loaded';

type Log = (message: string) => void;

/** How a text is tokenized: as a prompt's text part (no leading space added), or with special-token text honoured too. */
export type TokenizeKind = 'trim' | 'specialTrim' | 'special';
const TOKENIZE_CODE: Readonly<Record<TokenizeKind, string>> = { trim: 't', specialTrim: 'S', special: 's' };

/**
 * `loaded.model.tokenize` with the last RECENT_TEXTS results kept (`Loaded.tokenized`). A text is
 * tokenized once per model while it is kept: the router counts a completion's prefix, middle and
 * suffix (`countTokens`) and the prompt is built from the same tokens, and while a line is typed
 * prefix and suffix stay the same. Tokenization is a pure function of the model and the text.
 */
export function tokenizeRecent(loaded: Loaded, text: string, kind: TokenizeKind): readonly Token[] {
    return loaded.tokenized.get(TOKENIZE_CODE[kind] + text, () =>
        loaded.model.tokenize(text, kind !== 'trim', kind === 'special' ? undefined : 'trimLeadingSpace'),
    );
}

/** A prompt ready to evaluate, with what ends its generation. */
export interface PreparedPrompt {
    readonly tokens: Token[];
    /** Tokens that end generation (besides llama.cpp's end-of-generation tokens). */
    readonly stopTokens: ReadonlySet<Token>;
    /** Text that ends generation; trimmed from the result. */
    readonly stopStrings: readonly string[];
    readonly maxTokens: number;
    readonly temperature: number;
    readonly seed: number | undefined;
    readonly cacheKey: string | undefined;
    readonly gate: TokenGate | undefined;
    readonly onToken: TokenListener | undefined;
    readonly ignoreEndOfGeneration: boolean;
    readonly priority: Priority;
    readonly tag: WaitTag | undefined;
    readonly onUsage: ((usage: CallUsage) => void) | undefined;
}

/** A raw or fill-in-the-middle prompt, cut at its start (raw) or around the cursor (FIM) to fit the context. */
export function prepareGenerate(loaded: Loaded, request: GenerateRequest): PreparedPrompt {
    const contextSize = loaded.context.contextSize;
    const budget = promptBudget(contextSize, request.maxTokens);
    const bos = beginningToken(loaded);
    const stopTokens = new Set<Token>();
    const stopStrings = [...(request.stop ?? [])].filter((s) => s.length > 0);
    let tokens: Token[];
    if (request.mode === 'raw') {
        const text = request.prompt ?? '';
        // Raw prompts are evaluated as is: special-token text in them is honoured.
        let body = tokenizeRecent(loaded, text, bos === undefined ? 'special' : 'specialTrim');
        const room = budget - (bos === undefined ? 0 : 1);
        if (body.length > room) body = body.slice(body.length - room);
        tokens = promptTokens(bos, [body]);
    } else {
        const family = loaded.info.fim;
        if (family === undefined) {
            throw new ModelRuntimeError(loaded.spec.id, 'unsupported', 'this model cannot fill in the middle (no FIM template detected or set)');
        }
        const ids = fimTokenIds(loaded, family);
        const parts = buildFimParts(family, request.prefix ?? '', request.suffix ?? '', request.middle ?? '');
        const encoded = parts.map((p) => (p.kind === 'control' ? [ids.get(p.token)!] : tokenizeRecent(loaded, p.text, 'trim')));
        // Trim to fit: the text just before the cursor (the end of the middle, then of the
        // prefix) and the start of the suffix matter most.
        const fixed = encoded.reduce((n, e, i) => n + (parts[i].kind === 'control' ? e.length : 0), bos === undefined ? 0 : 1);
        // The text part right after a role's control token holds that role's text.
        const textAfter = (role: FimRole): number =>
            parts.findIndex((p, i) => p.kind === 'text' && i > 0 && parts[i - 1].kind === 'control' && (parts[i - 1] as { role: FimRole }).role === role);
        const [prefixIndex, suffixIndex, middleIndex] = [textAfter('prefix'), textAfter('suffix'), textAfter('middle')];
        const textRoom = budget - fixed;
        const prefixTokens = encoded[prefixIndex] ?? [];
        const suffixTokens = encoded[suffixIndex] ?? [];
        const middleTokens = encoded[middleIndex] ?? [];
        if (textRoom < 1) throw new ModelRuntimeError(loaded.spec.id, 'promptTooLong', `the context (${contextSize} tokens) has no room for a prompt`);
        const before = prefixTokens.length + middleTokens.length;
        if (before + suffixTokens.length > textRoom) {
            let suffixKeep = Math.min(suffixTokens.length, Math.floor(textRoom / 4));
            const beforeKeep = Math.min(before, textRoom - suffixKeep);
            suffixKeep = Math.min(suffixTokens.length, textRoom - beforeKeep);
            const middleKeep = Math.min(middleTokens.length, beforeKeep);
            const prefixKeep = beforeKeep - middleKeep;
            if (prefixIndex >= 0) encoded[prefixIndex] = prefixTokens.slice(prefixTokens.length - prefixKeep);
            if (middleIndex >= 0) encoded[middleIndex] = middleTokens.slice(middleTokens.length - middleKeep);
            if (suffixIndex >= 0) encoded[suffixIndex] = suffixTokens.slice(0, suffixKeep);
        }
        tokens = promptTokens(bos, encoded);
        for (const stop of fimTemplate(family).stop) {
            const id = singleControlToken(loaded, stop, fimTemplate(family).aliases[stop] ?? []);
            if (id !== undefined) stopTokens.add(id);
            else stopStrings.push(stop);
        }
    }
    return preparedPrompt(request, tokens, stopTokens, stopStrings);
}

/** A chat through the model's chat template; refused (`promptTooLong`) when it does not fit. `log`: template fallbacks. */
export function prepareChat(loaded: Loaded, request: ChatRequest, log: Log | undefined): PreparedPrompt {
    const { model } = loaded;
    const history: ChatHistoryItem[] = request.messages.map((m): ChatHistoryItem => {
        if (m.role === 'system') return { type: 'system', text: m.content };
        if (m.role === 'user') return { type: 'user', text: m.content };
        return { type: 'model', response: [m.content] };
    });
    // The last model response is the one generated: an assistant message at the end is continued.
    if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
    let state: ReturnType<ChatWrapper['generateContextState']>;
    try {
        state = chatWrapperFor(loaded, log).generateContextState({ chatHistory: history });
    } catch (e) {
        if (loaded.chatWrapper?.wrapperName !== 'JinjaTemplate') throw e;
        // The model's own template failed to render this chat: fall back to node-llama-cpp's
        // wrapper for the model family, for this and later chats.
        log?.(`${loaded.spec.id}: chat template failed (${errorMessage(e)}); using a built-in chat format`);
        loaded.chatWrapper = loaded.runtime.lib.resolveChatWrapper(model, { warningLogs: false, noJinja: true });
        state = loaded.chatWrapper.generateContextState({ chatHistory: history });
    }
    const tokens = state.contextText.tokenize(model.tokenizer);
    const contextSize = loaded.context.contextSize;
    const budget = promptBudget(contextSize, request.maxTokens);
    if (tokens.length > budget) {
        throw new ModelRuntimeError(
            loaded.spec.id,
            'promptTooLong',
            `the chat has ${tokens.length} tokens; with ${request.maxTokens} to generate, ${budget} fit in the ${contextSize}-token context`,
        );
    }
    const stopTokens = new Set<Token>();
    const stopStrings: string[] = [];
    for (const trigger of state.stopGenerationTriggers) addStopTrigger(loaded, trigger, stopTokens, stopStrings);
    return preparedPrompt(request, tokens, stopTokens, stopStrings);
}

/**
 * The model's own chat template (GGUF `tokenizer.chat_template`, rendered by node-llama-cpp's
 * Jinja wrapper); for a model without one, node-llama-cpp's wrapper for its family. Cached.
 */
export function chatWrapperFor(loaded: Loaded, log: Log | undefined): ChatWrapper {
    if (loaded.chatWrapper) return loaded.chatWrapper;
    const { lib } = loaded.runtime;
    const tokenizerMeta = (loaded.model.fileInfo.metadata as unknown as Record<string, unknown>).tokenizer as Record<string, unknown> | undefined;
    const template = tokenizerMeta?.chat_template;
    if (typeof template === 'string' && template.length > 0) {
        try {
            loaded.chatWrapper = new lib.JinjaTemplateChatWrapper({ template, tokenizer: loaded.model.tokenizer });
        } catch (e) {
            log?.(`${loaded.spec.id}: cannot compile its chat template (${errorMessage(e)}); using a built-in chat format`);
        }
    }
    // resolveChatWrapper tries templates against every known family: about 0.4 s, once.
    loaded.chatWrapper ??= lib.resolveChatWrapper(loaded.model, { warningLogs: false, noJinja: true });
    return loaded.chatWrapper;
}

function addStopTrigger(loaded: Loaded, trigger: LlamaText, stopTokens: Set<Token>, stopStrings: string[]): void {
    const plain = trigger.values.every((v) => typeof v === 'string');
    if (!plain) {
        // A trigger that starts with a control token ("<|im_end|>\n") stops at that token: control
        // tokens produce no text, so the text form could never match.
        const first = trigger.tokenize(loaded.model.tokenizer)[0];
        if (first !== undefined && (loaded.model.isSpecialToken(first) || loaded.model.isEogToken(first))) {
            stopTokens.add(first);
            return;
        }
    }
    const text = trigger.toString();
    if (text.length > 0) stopStrings.push(text);
}

/** The BOS token when this model's tokenizer expects one at the start of a sequence. */
function beginningToken(loaded: Loaded): Token | undefined {
    const t = loaded.model.tokens;
    return t.shouldPrependBosToken && t.bos !== null ? t.bos : undefined;
}

/** Resolves a control-token string (or an alias) to one special token of this vocabulary. */
function singleControlToken(loaded: Loaded, text: string, aliases: readonly string[]): Token | undefined {
    for (const candidate of [text, ...aliases]) {
        const ids = loaded.model.tokenize(candidate, true);
        if (ids.length === 1 && loaded.model.isSpecialToken(ids[0])) return ids[0];
    }
    return undefined;
}

/** Ids of the family's control tokens; prefers llama.cpp's own infill ids for the matching roles. */
function fimTokenIds(loaded: Loaded, family: FimFamily): Map<string, Token> {
    const cached = loaded.fimIds.get(family);
    if (cached) return cached;
    const template = fimTemplate(family);
    const ids = new Map<string, Token>();
    const infill = loaded.model.tokens.infill;
    const byRole: Record<'prefix' | 'suffix' | 'middle', Token | null> = { prefix: infill.prefix, suffix: infill.suffix, middle: infill.middle };
    for (const part of template.parts('', '', '')) {
        if (part.kind !== 'control') continue;
        const spellings = [part.token, ...(template.aliases[part.token] ?? [])];
        const fromInfill = byRole[part.role];
        let id: Token | undefined;
        if (fromInfill !== null && spellings.includes(loaded.model.detokenize([fromInfill], true).trim().replace(/^\u2581/, ''))) id = fromInfill;
        id ??= singleControlToken(loaded, part.token, template.aliases[part.token] ?? []);
        if (id === undefined) {
            throw new ModelRuntimeError(
                loaded.spec.id,
                'unsupported',
                `the vocabulary has no "${part.token}" token, which the ${template.label} FIM template needs; set the FIM template to match the model or to "none"`,
            );
        }
        ids.set(part.token, id);
    }
    loaded.fimIds.set(family, ids);
    return ids;
}

/**
 * `bos` (if any) then `parts`, in a new array. A plain loop: this runs every keystroke, and flat()
 * with spread costs ~0.2 ms on a 900-token prompt.
 */
function promptTokens(bos: Token | undefined, parts: ReadonlyArray<readonly Token[]>): Token[] {
    const out: Token[] = bos === undefined ? [] : [bos];
    for (const part of parts) for (const t of part) out.push(t);
    return out;
}

/** Prompt tokens allowed so that `maxTokens` can still be generated, but never less than half the context. */
function promptBudget(contextSize: number, maxTokens: number): number {
    return Math.max(Math.floor(contextSize / 2), contextSize - Math.max(1, maxTokens));
}

/** The generation options common to raw, fill-in-the-middle and chat prompts. */
function preparedPrompt(
    request: GenerateRequest | ChatRequest,
    tokens: Token[],
    stopTokens: Set<Token>,
    stopStrings: string[],
): PreparedPrompt {
    return {
        tokens,
        stopTokens,
        stopStrings,
        maxTokens: request.maxTokens,
        temperature: request.temperature ?? 0,
        seed: request.seed,
        cacheKey: request.cacheKey,
        gate: request.gate,
        onToken: request.onToken,
        ignoreEndOfGeneration: request.ignoreEndOfGeneration === true,
        priority: request.priority ?? 0,
        tag: request.tag,
        onUsage: request.onUsage,
    };
}
