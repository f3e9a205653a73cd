/**
 * Fill-in-the-middle (FIM) prompt templates, and which one a model file speaks.
 *
 * A template is a list of parts: control tokens (emitted as the model's special token, never
 * tokenized from user text) and text spans (the user's prefix and suffix, tokenized as plain text,
 * so code that happens to contain "<|fim_prefix|>" cannot inject a control token). Joining the parts
 * gives the exact prompt string the model card documents; `test/unit/fim.test.ts` pins each one.
 *
 * Sources of the token strings: the models' tokenizer configurations and cards (Qwen2.5-Coder,
 * DeepSeek-Coder, Code Llama, StarCoder2, Codestral), cross-checked with llama.cpp's FIM token
 * detection and the templates Continue ships.
 */
import type { FimFamily } from './backend';
import { FIM_FAMILIES } from './backend';

/** Which FIM role a control token plays; lets a backend use the model's own infill token ids. */
export type FimRole = 'prefix' | 'suffix' | 'middle';

export type FimPart =
    | { readonly kind: 'control'; readonly token: string; readonly role: FimRole }
    | { readonly kind: 'text'; readonly text: string };

export interface FimTemplate {
    readonly family: FimFamily;
    /** Human-readable name for settings and logs. */
    readonly label: string;
    readonly prefixToken: string;
    readonly suffixToken: string;
    /** Absent for suffix-prefix-middle templates whose middle is implied (Codestral). */
    readonly middleToken: string | undefined;
    /** "psm": prefix, suffix, middle. "spm": suffix first, then prefix (Codestral). */
    readonly order: 'psm' | 'spm';
    /**
     * Alternative spellings of the control tokens in real vocabularies (Code Llama's SentencePiece
     * vocabulary stores "▁<PRE>"). Used by detection only.
     */
    readonly aliases: Readonly<Record<string, readonly string[]>>;
    /**
     * Strings that end a completion: the end-of-text tokens and every control token of the family
     * (a model that emits another FIM marker has finished the middle). Backends stop on these as
     * tokens when the vocabulary has them, and as text otherwise.
     */
    readonly stop: readonly string[];
    /**
     * Builds the parts for one request; joining their text gives `buildFimPrompt`. `middle` is the
     * start of the middle: empty, or the text before the cursor from a line start (at or above the
     * cursor line) with `prefix` ending there. Templates whose middle may begin with given text put it after the
     * middle marker, as llama.cpp's /infill puts its `prompt` there; Code Llama (whose SentencePiece
     * spacing around `<MID>` makes text after it uncertain) and Codestral (whose prefix already
     * comes last) append it to the prefix.
     */
    parts(prefix: string, suffix: string, middle: string): readonly FimPart[];
}

const control = (token: string, role: FimRole): FimPart => ({ kind: 'control', token, role });
const text = (t: string): FimPart => ({ kind: 'text', text: t });
/** The start of the middle after the middle marker: no part at all when empty. */
const middleText = (t: string): FimPart[] => (t === '' ? [] : [text(t)]);

/** Qwen2.5-Coder: `<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>`. */
const QWEN: FimTemplate = {
    family: 'qwen',
    label: 'Qwen2.5-Coder',
    prefixToken: '<|fim_prefix|>',
    suffixToken: '<|fim_suffix|>',
    middleToken: '<|fim_middle|>',
    order: 'psm',
    aliases: {},
    stop: [
        '<|endoftext|>',
        '<|fim_prefix|>',
        '<|fim_middle|>',
        '<|fim_suffix|>',
        '<|fim_pad|>',
        '<|repo_name|>',
        '<|file_sep|>',
        '<|im_start|>',
        '<|im_end|>',
    ],
    parts: (prefix, suffix, middle) => [
        control('<|fim_prefix|>', 'prefix'),
        text(prefix),
        control('<|fim_suffix|>', 'suffix'),
        text(suffix),
        control('<|fim_middle|>', 'middle'),
        ...middleText(middle),
    ],
};

/**
 * DeepSeek-Coder: `<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>`. The bars are U+FF5C
 * (FULLWIDTH VERTICAL LINE) and the underscores U+2581 (LOWER ONE EIGHTH BLOCK), as in its tokenizer.
 */
const DEEPSEEK: FimTemplate = {
    family: 'deepseek',
    label: 'DeepSeek-Coder',
    prefixToken: '<\uFF5Cfim\u2581begin\uFF5C>',
    suffixToken: '<\uFF5Cfim\u2581hole\uFF5C>',
    middleToken: '<\uFF5Cfim\u2581end\uFF5C>',
    order: 'psm',
    aliases: {},
    stop: [
        '<\uFF5Cend\u2581of\u2581sentence\uFF5C>',
        '<|EOT|>',
        '<\uFF5Cfim\u2581begin\uFF5C>',
        '<\uFF5Cfim\u2581hole\uFF5C>',
        '<\uFF5Cfim\u2581end\uFF5C>',
    ],
    parts: (prefix, suffix, middle) => [
        control('<\uFF5Cfim\u2581begin\uFF5C>', 'prefix'),
        text(prefix),
        control('<\uFF5Cfim\u2581hole\uFF5C>', 'suffix'),
        text(suffix),
        control('<\uFF5Cfim\u2581end\uFF5C>', 'middle'),
        ...middleText(middle),
    ],
};

/**
 * Code Llama: `<PRE> {prefix} <SUF>{suffix} <MID>` (the spaces are part of the format; Meta's
 * reference encodes the prefix with SentencePiece's leading space). Ends with `<EOT>`.
 */
const CODELLAMA: FimTemplate = {
    family: 'codellama',
    label: 'Code Llama',
    prefixToken: '<PRE>',
    suffixToken: '<SUF>',
    middleToken: '<MID>',
    order: 'psm',
    aliases: { '<PRE>': ['\u2581<PRE>'], '<SUF>': ['\u2581<SUF>'], '<MID>': ['\u2581<MID>'], '<EOT>': ['\u2581<EOT>'] },
    stop: ['<EOT>', '<PRE>', '<SUF>', '<MID>'],
    parts: (prefix, suffix, middle) => [
        control('<PRE>', 'prefix'),
        text(` ${prefix}${middle} `),
        control('<SUF>', 'suffix'),
        text(`${suffix} `),
        control('<MID>', 'middle'),
    ],
};

/** StarCoder2: `<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>`. */
const STARCODER2: FimTemplate = {
    family: 'starcoder2',
    label: 'StarCoder2',
    prefixToken: '<fim_prefix>',
    suffixToken: '<fim_suffix>',
    middleToken: '<fim_middle>',
    order: 'psm',
    aliases: {},
    stop: ['<|endoftext|>', '<file_sep>', '<fim_prefix>', '<fim_suffix>', '<fim_middle>'],
    parts: (prefix, suffix, middle) => [
        control('<fim_prefix>', 'prefix'),
        text(prefix),
        control('<fim_suffix>', 'suffix'),
        text(suffix),
        control('<fim_middle>', 'middle'),
        ...middleText(middle),
    ],
};

/**
 * Codestral: `[SUFFIX]{suffix}[PREFIX]{prefix}`: suffix first, and the middle follows the prefix
 * with no marker (Mistral's `encode_fim`: BOS, [SUFFIX], suffix, [PREFIX], prefix).
 */
const CODESTRAL: FimTemplate = {
    family: 'codestral',
    label: 'Codestral',
    prefixToken: '[PREFIX]',
    suffixToken: '[SUFFIX]',
    middleToken: undefined,
    order: 'spm',
    aliases: {},
    stop: ['</s>', '[PREFIX]', '[SUFFIX]'],
    parts: (prefix, suffix, middle) => [control('[SUFFIX]', 'suffix'), text(suffix), control('[PREFIX]', 'prefix'), text(prefix + middle)],
};

const TEMPLATES: Readonly<Record<FimFamily, FimTemplate>> = {
    qwen: QWEN,
    deepseek: DEEPSEEK,
    codellama: CODELLAMA,
    starcoder2: STARCODER2,
    codestral: CODESTRAL,
};

export function fimTemplate(family: FimFamily): FimTemplate {
    return TEMPLATES[family];
}

export function buildFimParts(family: FimFamily, prefix: string, suffix: string, middle = ''): readonly FimPart[] {
    return TEMPLATES[family].parts(prefix, suffix, middle);
}

/** The exact prompt string (control tokens written out as text). */
export function buildFimPrompt(family: FimFamily, prefix: string, suffix: string, middle = ''): string {
    return buildFimParts(family, prefix, suffix, middle)
        .map((p) => (p.kind === 'control' ? p.token : p.text))
        .join('');
}

/**
 * The request's texts in the order the model evaluates them: the text parts of its template (control
 * tokens left out). What a later prompt of the same document can reuse is the common start of this
 * sequence. Unknown family (undefined): prefix, suffix, middle.
 */
export function fimTextOrder(family: FimFamily | undefined, prefix: string, suffix: string, middle: string): readonly string[] {
    if (family === undefined) return [prefix, suffix, middle];
    const texts: string[] = [];
    for (const p of TEMPLATES[family].parts(prefix, suffix, middle)) if (p.kind === 'text') texts.push(p.text);
    return texts;
}

/** The family's stop strings (see `FimTemplate.stop`). */
export function fimStopTokens(family: FimFamily): readonly string[] {
    return TEMPLATES[family].stop;
}

export interface FimDetectionInput {
    /**
     * Texts of the vocabulary's tokens (`tokenizer.ggml.tokens`), or at least of its control tokens.
     * Empty when unknown.
     */
    readonly tokens: Iterable<string>;
    /** `general.name`, e.g. "Qwen2.5 Coder 7B Instruct". */
    readonly generalName?: string;
    /** `general.architecture`, e.g. "qwen2", "starcoder2". */
    readonly architecture?: string;
}

/** Families whose names or architectures a model's metadata mentions, in order of specificity. */
function hintedFamily(generalName: string | undefined, architecture: string | undefined): FimFamily | undefined {
    const name = (generalName ?? '').toLowerCase();
    const arch = (architecture ?? '').toLowerCase();
    if (/codestral/.test(name)) return 'codestral';
    if (/deepseek[\s._-]*coder/.test(name)) return 'deepseek';
    if (/code[\s._-]*llama/.test(name)) return 'codellama';
    if (/starcoder/.test(name) || arch === 'starcoder2') return 'starcoder2';
    if (/qwen.*coder/.test(name)) return 'qwen';
    return undefined;
}

function hasToken(vocab: ReadonlySet<string>, template: FimTemplate, token: string): boolean {
    return vocab.has(token) || (template.aliases[token] ?? []).some((a) => vocab.has(a));
}

/** True when the vocabulary holds every control token the family's template needs. */
export function vocabularySupports(family: FimFamily, vocab: ReadonlySet<string>): boolean {
    const t = TEMPLATES[family];
    const needed = [t.prefixToken, t.suffixToken, ...(t.middleToken === undefined ? [] : [t.middleToken])];
    return needed.every((token) => hasToken(vocab, t, token));
}

/**
 * Which FIM template a model speaks. Rules, in order:
 * 1. The candidates are the families whose control tokens are all in the vocabulary.
 * 2. One candidate: it. Several: the one `general.name`/architecture hints at, else the first in
 *    `FIM_FAMILIES` order (qwen, deepseek, codellama, starcoder2, codestral).
 * 3. No candidate: undefined (the model cannot infill), unless the vocabulary is unknown (empty
 *    input), in which case the name/architecture hint decides.
 */
export function detectFimFamily(input: FimDetectionInput): FimFamily | undefined {
    const vocab = input.tokens instanceof Set ? (input.tokens as ReadonlySet<string>) : new Set(input.tokens);
    const hint = hintedFamily(input.generalName, input.architecture);
    if (vocab.size === 0) return hint;
    const candidates = FIM_FAMILIES.filter((f) => vocabularySupports(f, vocab));
    if (candidates.length === 0) return undefined;
    if (hint !== undefined && candidates.includes(hint)) return hint;
    return candidates[0];
}

/** Applies the `fimTemplate` setting: "none" disables FIM, a family forces it, "auto" detects. */
export function resolveFimFamily(setting: FimFamily | 'auto' | 'none', detected: FimFamily | undefined): FimFamily | undefined {
    if (setting === 'none') return undefined;
    if (setting === 'auto') return detected;
    return setting;
}
