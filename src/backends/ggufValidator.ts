/**
 * Validates a model file before it reaches llama.cpp, which aborts the whole process (the shared
 * extension host) on some malformed files instead of throwing. Reads only the header region
 * through a file handle, parses it with Zeta's own GGUF reader (src/core/gguf/reader.ts: unlike
 * node-llama-cpp's readGgufFileInfo it detects truncation), then checks the metadata llama.cpp
 * asserts on. Every failure is a ModelFileError naming the file and the problem.
 */

import { open, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { ModelFileError, abortError, errorMessage, type ModelFileProblem } from '../core/errors';
import { readGguf, type GgufFileInfo, type GgufProblemKind } from '../core/gguf/reader';
import { TOKEN_TYPE, isIntegerType, numberValue, stringValue, type GgufMetadata, type GgufValue } from '../core/gguf/types';

/**
 * Architectures the llama.cpp bundled with node-llama-cpp 3.21.1 runs and whose required
 * hyperparameters this validator knows (all attention transformers with the common keys).
 * Mistral and CodeLlama files use "llama".
 */
export const SUPPORTED_ARCHITECTURES: ReadonlySet<string> = new Set([
    'llama', 'llama4', 'mistral3', 'deci', 'qwen', 'qwen2', 'qwen2moe', 'qwen2vl', 'qwen3', 'qwen3moe',
    'gemma', 'gemma2', 'gemma3', 'gemma-embedding', 'phi2', 'phi3', 'phimoe', 'starcoder', 'starcoder2',
    'deepseek', 'deepseek2', 'bert', 'nomic-bert', 'jina-bert-v2', 'modern-bert', 'gpt2', 'gptneox',
    'falcon', 'stablelm', 'internlm2', 'minicpm', 'command-r', 'cohere2', 'olmo', 'olmo2', 'olmoe',
    'granite', 'granitemoe', 'exaone', 'smollm3', 'glm4', 'chatglm', 'mpt', 'bloom', 'baichuan',
    'codeshell', 'orion', 'refact', 'gpt-oss', 'ernie4_5', 'seed_oss', 'hunyuan-dense', 'arcee',
]);

/**
 * `tokenizer.ggml.model` values llama.cpp can tokenize text with, minus those no supported
 * architecture uses: "rwkv" aborts the process at load when the vocabulary cannot tokenize "\n"
 * (llama-vocab.cpp: GGML_ASSERT(!ids.empty() && "model vocab missing newline token")), and
 * "plamo2" belongs to an architecture Zeta does not run.
 */
export const SUPPORTED_TOKENIZERS: ReadonlySet<string> = new Set(['llama', 'gpt2', 'bert', 't5', 'gemma4']);

/**
 * Architectures whose graph asserts that the key and value head sizes are equal
 * (`GGML_ASSERT(n_embd_head == hparams.n_embd_head_k())` in src/models/<arch>.cpp of the bundled
 * llama.cpp), and those that also assert the rotary dimensions equal the head size
 * (`GGML_ASSERT(n_embd_head == n_rot)`). Both abort when a context is created, not at load.
 */
const EQUAL_KV_HEADS: ReadonlySet<string> = new Set([
    'llama', 'llama4', 'mistral3', 'deci', 'qwen', 'qwen2', 'qwen2moe', 'qwen2vl', 'qwen3', 'qwen3moe', 'phi2', 'phi3', 'phimoe',
    'starcoder', 'starcoder2', 'deepseek', 'bert', 'nomic-bert', 'jina-bert-v2', 'modern-bert', 'gpt2', 'gptneox', 'falcon',
    'stablelm', 'internlm2', 'command-r', 'cohere2', 'olmo', 'olmo2', 'olmoe', 'granite', 'granitemoe', 'exaone', 'smollm3',
    'glm4', 'chatglm', 'mpt', 'bloom', 'baichuan', 'codeshell', 'orion', 'refact', 'ernie4_5', 'seed_oss', 'arcee',
]);
const ROPE_IS_HEAD: ReadonlySet<string> = new Set([
    'llama', 'llama4', 'mistral3', 'deci', 'qwen2', 'qwen2moe', 'qwen2vl', 'qwen3', 'qwen3moe', 'starcoder2', 'deepseek', 'falcon',
    'internlm2', 'olmo', 'olmo2', 'olmoe', 'granite', 'granitemoe', 'exaone', 'smollm3', 'baichuan', 'codeshell', 'orion',
    'ernie4_5', 'seed_oss', 'arcee',
]);

/**
 * Architectures whose load_tensors sizes attention tensors per layer (`n_head_kv(i)`,
 * `n_embd_k_gqa(i)`): the only supported one whose layers may have different head counts. Every
 * other one sizes them from layer 0 while the KV cache is sized per layer, so a per-layer
 * head_count_kv that differs from layer 0 aborts the first evaluation
 * (ggml.c: GGML_ASSERT(a->ne[0] == b->ne[0]) copying K into a cache row of another width).
 */
const PER_LAYER_ATTENTION: ReadonlySet<string> = new Set(['deci']);

/** Upper bounds no real model reaches; larger values are corruption. */
const LIMITS = {
    /** llama.cpp's LLAMA_MAX_LAYERS (an assertion). */
    blockCount: 512,
    embeddingLength: 1 << 17,
    feedForwardLength: 1 << 20,
    headCount: 1 << 12,
    contextLength: 1 << 24,
    vocabSize: 1 << 22,
    /** llama.cpp's LLAMA_MAX_EXPERTS (an assertion). */
    expertCount: 1024,
} as const;

const ROPE_SCALING_TYPES: ReadonlySet<string> = new Set(['none', 'linear', 'yarn', 'longrope']);

/** Token texts recognised as fill-in-the-middle markers when no fim_*_token_id keys are present. */
const FIM_TEXTS: readonly (readonly [string, string, string])[] = [
    ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>'],
    ['<fim_prefix>', '<fim_suffix>', '<fim_middle>'],
    ['<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>'],
    ['▁<PRE>', '▁<SUF>', '▁<MID>'],
    ['<PRE>', '<SUF>', '<MID>'],
];

export interface ValidateOptions {
    /** Context size in tokens the model will be used with (for the KV cache estimate). */
    readonly contextSize: number;
    /** Reject when the estimated memory need exceeds this many bytes. */
    readonly memoryBudgetBytes?: number;
    /** Sequences sharing the context (default 1); they share its cells, so only compute grows. */
    readonly sequences?: number;
    /**
     * Refine the memory estimate with node-llama-cpp's GgufInsights (loads node-llama-cpp and
     * re-reads the header; default false). Used only when the file passed every other check.
     */
    readonly useInsights?: boolean;
    /** Largest header region read, in bytes (default 256 MiB). */
    readonly maxHeaderBytes?: number;
}

export interface FimTokenIds {
    readonly prefix: number;
    readonly suffix: number;
    readonly middle: number;
}

export interface MemoryNeed {
    /** Host memory, in bytes. */
    readonly totalBytes: number;
    /** Model weights (the file is memory-mapped, but its pages are resident while in use). */
    readonly weightsBytes: number;
    /** The context: KV cache plus compute buffers. */
    readonly contextBytes: number;
    readonly source: 'zeta' | 'gguf-insights';
}

/** What a sound file's vocabulary declares (all a vocabulary-only load reads). Counts in tokens, sizes in bytes. */
export interface VocabularyFacts {
    readonly path: string;
    readonly fileSize: number;
    readonly ggufVersion: number;
    readonly architecture: string;
    /** `general.name`, or the file name without extension. */
    readonly name: string;
    readonly tokenizerModel: string;
    readonly vocabSize: number;
    readonly bosTokenId: number | undefined;
    readonly eosTokenId: number | undefined;
    /** Control and user-defined tokens (and known FIM/ChatML markers), text -> id. */
    readonly specialTokens: ReadonlyMap<string, number>;
    readonly fim: FimTokenIds | undefined;
    /** Both `<|im_start|>` and `<|im_end|>` are in the vocabulary. */
    readonly chatMl: boolean;
    readonly chatTemplate: string | undefined;
    readonly tensorCount: number;
    /** All metadata as parsed (arrays included). */
    readonly metadata: GgufMetadata;
}

/** What a sound model file declares. Counts in tokens, sizes in bytes. */
export interface ModelFileFacts extends VocabularyFacts {
    readonly embeddingLength: number;
    readonly blockCount: number;
    readonly trainContextSize: number;
    /** Largest per-layer value when the file stores one per layer. */
    readonly feedForwardLength: number;
    readonly headCount: number;
    readonly headCountKv: number;
    /** `<arch>.pooling_type` when present (0 none, 1 mean, 2 cls, 3 last, 4 rank). */
    readonly poolingType: number | undefined;
    readonly memory: MemoryNeed;
}

const DEFAULT_MAX_HEADER_BYTES = 256 * 1024 * 1024;
const FIRST_READ_BYTES = 1024 * 1024;

function fail(problem: ModelFileProblem, file: string, detail: string): never {
    throw new ModelFileError(problem, file, detail);
}

function checkAborted(signal: AbortSignal | undefined): void {
    if (signal?.aborted === true) throw signal.reason instanceof Error ? signal.reason : abortError();
}

async function readPrefix(handle: FileHandle, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
        const { bytesRead } = await handle.read(buf, filled, length - filled, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
    }
    return filled === length ? buf : buf.subarray(0, filled);
}

const READER_PROBLEMS: Readonly<Record<GgufProblemKind, ModelFileProblem>> = {
    badMagic: 'notGguf',
    unsupportedVersion: 'notGguf',
    truncatedHeader: 'truncated',
    tensorOutOfBounds: 'truncated',
    hugeCount: 'badMetadata',
    badMetadata: 'badMetadata',
    badAlignment: 'badMetadata',
    badTensorInfo: 'badMetadata',
    unknownTensorType: 'badMetadata',
    misalignedTensor: 'badMetadata',
    badTensorLayout: 'badMetadata',
};

/** Opens and parses the header; rejects with ModelFileError for missing, not-GGUF, truncated and corrupt files. */
async function readHeader(file: string, maxHeaderBytes: number, signal: AbortSignal | undefined): Promise<GgufFileInfo> {
    let handle: FileHandle;
    try {
        handle = await open(file, 'r');
    } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') fail('missing', file, 'no such file');
        if (code === 'EISDIR') fail('missing', file, 'is a directory, not a model file');
        fail('missing', file, `cannot be opened (${code ?? errorMessage(e)})`);
    }
    try {
        const st = await handle.stat();
        if (st.isDirectory()) fail('missing', file, 'is a directory, not a model file');
        if (!st.isFile()) fail('missing', file, 'is not a regular file');
        const fileSize = st.size;
        if (fileSize === 0) fail('notGguf', file, 'is empty (0 bytes), not a GGUF model');
        let length = Math.min(fileSize, FIRST_READ_BYTES);
        for (;;) {
            checkAborted(signal);
            const bytes = await readPrefix(handle, length);
            // A file that shrank while being read is read as what is there now.
            const result = readGguf(bytes, bytes.length < length ? bytes.length : fileSize);
            if (result.status === 'ok') return result.info;
            if (result.status === 'invalid') {
                const problem = READER_PROBLEMS[result.problem.kind];
                const what = problem === 'notGguf' ? 'not a usable GGUF file' : problem === 'truncated' ? 'truncated or incomplete download' : 'corrupt GGUF header';
                fail(problem, file, `${what}: ${result.problem.message}`);
            }
            if (result.bytesWanted > maxHeaderBytes) {
                fail('badMetadata', file, `header is larger than ${Math.round(maxHeaderBytes / 1048576)} MiB; refusing to read it`);
            }
            length = result.bytesWanted;
        }
    } finally {
        await handle.close();
    }
}

type Check = (problem: ModelFileProblem, detail: string) => never;

/** An integer hyperparameter stored as a scalar or as one value per layer. */
function layered(m: GgufMetadata, key: string, blockCount: number | undefined, bad: Check): number[] | undefined {
    const v = m.get(key);
    if (v === undefined) return undefined;
    if (v.type === 'array') {
        if (!isIntegerType(v.itemType)) bad('badMetadata', `${key} must hold integers, not ${v.itemType}`);
        const values = (v.value as readonly (number | bigint)[]).map(Number);
        if (blockCount !== undefined && values.length !== blockCount) bad('badMetadata', `${key} has ${values.length} values for ${blockCount} layers`);
        if (values.some((x) => !Number.isSafeInteger(x) || x < 0)) bad('badMetadata', `${key} has a negative or invalid value`);
        return values;
    }
    if (!isIntegerType(v.type)) bad('badMetadata', `${key} must be an integer, not ${v.type}`);
    const n = numberValue(v);
    if (n === undefined || !Number.isSafeInteger(n)) bad('badMetadata', `${key} is not a usable integer`);
    return [n];
}

function requiredInt(m: GgufMetadata, key: string, max: number, bad: Check): number {
    const v = m.get(key);
    if (v === undefined) bad('badMetadata', `required key ${key} is missing (llama.cpp would abort loading it)`);
    if (v.type === 'array' || !isIntegerType(v.type)) bad('badMetadata', `${key} must be an integer, not ${v.type === 'array' ? 'an array' : v.type}`);
    const n = numberValue(v);
    if (n === undefined || n <= 0 || n > max) bad('badMetadata', `${key} is ${String(v.value)}, outside 1..${max}`);
    return n;
}

function optionalInt(m: GgufMetadata, key: string): number | undefined {
    const v = m.get(key);
    return v !== undefined && v.type !== 'array' && isIntegerType(v.type) ? numberValue(v) : undefined;
}

function stringArray(v: GgufValue | undefined): readonly string[] | undefined {
    return v !== undefined && v.type === 'array' && v.itemType === 'string' ? v.value : undefined;
}

interface Hyperparameters {
    readonly trainContextSize: number;
    readonly embeddingLength: number;
    readonly blockCount: number;
    readonly feedForwardLength: number;
    readonly headCount: number;
    readonly headCountKv: number;
    /** Sum over layers of the K and V widths (head_count_kv x head size), in elements. */
    readonly kvWidthAllLayers: number;
    /** As llama.cpp derives them: from layer 0 (`hparams.n_head()`, `n_ff()`), in elements. */
    readonly layer0: {
        readonly heads: number;
        readonly headsKv: number;
        readonly feedForward: number;
        readonly keyHead: number;
        readonly valueHead: number;
        readonly rope: number;
        readonly experts: number;
    };
}

function checkHyperparameters(m: GgufMetadata, arch: string, bad: Check): Hyperparameters {
    const k = (suffix: string): string => `${arch}.${suffix}`;
    const trainContextSize = requiredInt(m, k('context_length'), LIMITS.contextLength, bad);
    const embeddingLength = requiredInt(m, k('embedding_length'), LIMITS.embeddingLength, bad);
    const blockCount = requiredInt(m, k('block_count'), LIMITS.blockCount, bad);

    const ff = layered(m, k('feed_forward_length'), blockCount, bad);
    if (ff === undefined) bad('badMetadata', `required key ${k('feed_forward_length')} is missing (llama.cpp would abort loading it)`);
    const maxFf = Math.max(...ff);
    if (maxFf <= 0 || maxFf > LIMITS.feedForwardLength) bad('badMetadata', `${k('feed_forward_length')} is ${maxFf}, outside 1..${LIMITS.feedForwardLength}`);

    const heads = layered(m, k('attention.head_count'), blockCount, bad);
    if (heads === undefined) bad('badMetadata', `required key ${k('attention.head_count')} is missing (llama.cpp would abort loading it)`);
    const maxHeads = Math.max(...heads);
    if (maxHeads <= 0 || maxHeads > LIMITS.headCount) bad('badMetadata', `${k('attention.head_count')} is ${maxHeads}, outside 1..${LIMITS.headCount}`);
    const headsKv = layered(m, k('attention.head_count_kv'), blockCount, bad) ?? heads;
    if (headsKv.length === 1 && headsKv[0] === 0) bad('badMetadata', `${k('attention.head_count_kv')} is 0`);

    // llama.cpp derives the head sizes from the first layer's head count (hparams.n_head()).
    const heads0 = heads[0]!;
    if (heads0 === 0) bad('badMetadata', `${k('attention.head_count')} is 0 for layer 0`);
    if (!PER_LAYER_ATTENTION.has(arch)) {
        for (const [key, values] of [['attention.head_count', heads], ['attention.head_count_kv', headsKv]] as const) {
            const other = values.findIndex((x) => x !== values[0]);
            if (other >= 0) {
                bad('badMetadata', `${k(key)} is ${values[0]} for layer 0 but ${values[other]} for layer ${other}; ${arch} sizes every layer's attention ` +
                    'from layer 0, so per-layer head counts must be equal (a differing head_count_kv aborts llama.cpp)');
            }
        }
    }
    const keyLength = optionalInt(m, k('attention.key_length'));
    const valueLength = optionalInt(m, k('attention.value_length'));
    if ((keyLength === undefined || valueLength === undefined) && embeddingLength % heads0 !== 0) {
        bad('badMetadata', `${k('attention.head_count')} ${heads0} does not divide ${k('embedding_length')} ${embeddingLength}`);
    }
    for (const [key, n] of [['attention.key_length', keyLength], ['attention.value_length', valueLength]] as const) {
        if (n !== undefined && (n <= 0 || n > LIMITS.embeddingLength)) bad('badMetadata', `${k(key)} is ${n}, outside 1..${LIMITS.embeddingLength}`);
    }
    const headDim = keyLength ?? embeddingLength / heads0;
    const valueDim = valueLength ?? embeddingLength / heads0;
    // Standard transformers create attention tensors in every layer: a layer with no (KV) heads
    // gives a zero dimension (llama-model-loader.cpp: GGML_ASSERT(t_meta.ne[dim] >= 1)).
    if (EQUAL_KV_HEADS.has(arch) && (heads.includes(0) || headsKv.includes(0))) {
        bad('badMetadata', `a layer has 0 attention heads or KV heads, which ${arch} models cannot have (llama.cpp would abort)`);
    }
    if (EQUAL_KV_HEADS.has(arch) && headDim !== valueDim) {
        bad('badMetadata', `key head size ${headDim} differs from value head size ${valueDim}, which ${arch} models cannot have (llama.cpp would abort)`);
    }
    for (let i = 0; i < heads.length; i++) {
        const h = heads[i]!;
        const hk = headsKv[Math.min(i, headsKv.length - 1)]!;
        if (h > 0 && hk > 0 && h % hk !== 0) bad('badMetadata', `head_count ${h} is not a multiple of head_count_kv ${hk}`);
    }
    const ropeDims = optionalInt(m, k('rope.dimension_count'));
    if (ROPE_IS_HEAD.has(arch) && ropeDims !== undefined && ropeDims !== headDim) {
        bad('badMetadata', `${k('rope.dimension_count')} is ${ropeDims}, expected the head size ${headDim} (llama.cpp would abort)`);
    }
    const ropeScaling = stringValue(m.get(k('rope.scaling.type')));
    if (ropeScaling !== undefined && !ROPE_SCALING_TYPES.has(ropeScaling)) {
        bad('badMetadata', `${k('rope.scaling.type')} "${ropeScaling}" is not one of ${[...ROPE_SCALING_TYPES].join(', ')} (llama.cpp would abort)`);
    }
    const experts = optionalInt(m, k('expert_count')) ?? 0;
    const expertsUsed = Math.max(0, ...(layered(m, k('expert_used_count'), blockCount, bad) ?? [0]));
    if (experts > LIMITS.expertCount) bad('badMetadata', `${k('expert_count')} ${experts} exceeds ${LIMITS.expertCount}`);
    if (expertsUsed > experts || (experts > 0 && expertsUsed === 0)) {
        bad('badMetadata', `${k('expert_used_count')} ${expertsUsed} does not fit ${k('expert_count')} ${experts} (llama.cpp would abort)`);
    }
    // llama_model_base::load_hparams asserts on expert groups and multi-token-prediction layers.
    const groups = optionalInt(m, k('expert_group_count')) ?? 0;
    const groupsUsed = optionalInt(m, k('expert_group_used_count')) ?? 0;
    const groupsOk = experts === 0
        ? groups === 0
        : groups < experts && (groups <= 1 || (experts % groups === 0 && groupsUsed > 0 && groupsUsed < groups));
    if (!groupsOk) {
        bad('badMetadata', `${k('expert_group_count')} ${groups} / ${k('expert_group_used_count')} ${groupsUsed} do not fit ${experts} experts (llama.cpp would abort)`);
    }
    const nextn = optionalInt(m, k('nextn_predict_layers')) ?? 0;
    if (nextn > blockCount) bad('badMetadata', `${k('nextn_predict_layers')} ${nextn} exceeds ${k('block_count')} ${blockCount} (llama.cpp would abort)`);
    if (!m.has(k('attention.layer_norm_rms_epsilon')) && !m.has(k('attention.layer_norm_epsilon'))) {
        bad('badMetadata', `neither ${k('attention.layer_norm_rms_epsilon')} nor ${k('attention.layer_norm_epsilon')} is present`);
    }
    // Real hyperparameters are finite; a NaN epsilon aborts the norm (ggml-cpu: GGML_ASSERT(eps >= 0.0f)).
    for (const [key, v] of m) {
        if (!key.startsWith(`${arch}.`)) continue;
        const xs = v.type === 'float32' || v.type === 'float64' ? [v.value] : v.type === 'array' && (v.itemType === 'float32' || v.itemType === 'float64') ? (v.value as readonly number[]) : [];
        if (xs.some((x) => !Number.isFinite(x))) bad('badMetadata', `${key} is not a finite number`);
        if (key.includes('epsilon') && xs.some((x) => x < 0)) bad('badMetadata', `${key} is negative (llama.cpp would abort)`);
    }

    let kvWidthAllLayers = 0;
    for (let i = 0; i < blockCount; i++) {
        const hk = headsKv[Math.min(i, headsKv.length - 1)]!;
        kvWidthAllLayers += hk * (headDim + (valueLength ?? headDim));
    }
    return {
        trainContextSize, embeddingLength, blockCount, feedForwardLength: maxFf, headCount: maxHeads,
        headCountKv: Math.max(...headsKv), kvWidthAllLayers,
        layer0: { heads: heads0, headsKv: headsKv[0]!, feedForward: ff[0]!, keyHead: headDim, valueHead: valueDim, rope: ropeDims ?? headDim, experts },
    };
}

interface TokenizerFacts {
    readonly tokenizerModel: string;
    readonly vocabSize: number;
    readonly specialTokens: ReadonlyMap<string, number>;
    readonly fim: FimTokenIds | undefined;
    readonly bosTokenId: number | undefined;
    readonly eosTokenId: number | undefined;
}

function checkTokenizer(info: GgufFileInfo, bad: Check): TokenizerFacts {
    const m = info.metadata;
    const modelValue = m.get('tokenizer.ggml.model');
    if (modelValue === undefined) bad('badMetadata', 'tokenizer.ggml.model is missing');
    const tokenizerModel = stringValue(modelValue);
    if (tokenizerModel === undefined) bad('badMetadata', 'tokenizer.ggml.model must be a string');
    if (!SUPPORTED_TOKENIZERS.has(tokenizerModel)) {
        bad('unsupportedTokenizer', `tokenizer "${tokenizerModel}" is not supported (supported: ${[...SUPPORTED_TOKENIZERS].join(', ')})`);
    }
    const tokens = stringArray(m.get('tokenizer.ggml.tokens'));
    if (tokens === undefined) bad('badMetadata', 'tokenizer.ggml.tokens is missing or not an array of strings');
    if (tokens.length === 0 || tokens.length > LIMITS.vocabSize) bad('badMetadata', `tokenizer.ggml.tokens has ${tokens.length} tokens`);
    // llama_vocab::impl::load: scores (float32 or int32) and token types (int32), when present,
    // must cover every token; merges are required by the BPE tokenizers (a throw, but a clear one).
    const scores = m.get('tokenizer.ggml.scores');
    if (scores !== undefined && (scores.type !== 'array' || (scores.itemType !== 'float32' && scores.itemType !== 'int32') || scores.value.length < tokens.length)) {
        bad('badMetadata', `tokenizer.ggml.scores must be a float32 array of ${tokens.length} values`);
    }
    const types = m.get('tokenizer.ggml.token_type');
    if (types !== undefined && (types.type !== 'array' || types.itemType !== 'int32' || types.value.length < tokens.length)) {
        bad('badMetadata', `tokenizer.ggml.token_type must be an int32 array of ${tokens.length} values`);
    }
    if ((tokenizerModel === 'gpt2' || tokenizerModel === 'gemma4') && stringArray(m.get('tokenizer.ggml.merges')) === undefined) {
        bad('badMetadata', `tokenizer.ggml.merges is missing or not an array of strings (required by the ${tokenizerModel} tokenizer)`);
    }
    // llama.cpp asserts `id_to_token.size() == token_to_id.size()`: token texts must be unique
    // byte strings as it reads them: through a C string (`gguf_get_arr_str`), so cut at the first
    // NUL byte, and an empty text at id i renamed "[EMPTY_i]". The reader decodes strings
    // byte-exactly, so string equality here is byte equality there.
    const index = new Map<string, number>();
    for (let i = 0; i < tokens.length; i++) {
        const nul = tokens[i]!.indexOf('\0');
        const cut = nul < 0 ? tokens[i]! : tokens[i]!.slice(0, nul);
        const t = cut === '' ? `[EMPTY_${i}]` : cut;
        const first = index.get(t);
        if (first !== undefined) bad('badMetadata', `token ${JSON.stringify(t)} appears twice (ids ${first} and ${i}); llama.cpp would abort loading it`);
        index.set(t, i);
    }
    for (const t of info.tensors) {
        if (t.name === 'token_embd.weight' && t.dims.length >= 2 && t.dims[1] !== tokens.length) {
            bad('badMetadata', `tokenizer has ${tokens.length} tokens but token_embd.weight has rows for ${t.dims[1]}`);
        }
    }
    const typeValues = types?.type === 'array' ? (types.value as readonly number[]) : undefined;
    checkTokenizerCanSpell(tokenizerModel, index, typeValues, tokens, bad);

    const specialTokens = new Map<string, number>();
    if (typeValues !== undefined) {
        for (let i = 0; i < tokens.length; i++) {
            if (typeValues[i] === TOKEN_TYPE.control || typeValues[i] === TOKEN_TYPE.userDefined) specialTokens.set(tokens[i]!, i);
        }
    }
    for (const texts of [...FIM_TEXTS, ['<|im_start|>', '<|im_end|>', '<|endoftext|>'] as const]) {
        for (const t of texts) {
            const id = index.get(t);
            if (id !== undefined) specialTokens.set(t, id);
        }
    }
    const id = (key: string): number | undefined => {
        const n = optionalInt(m, `tokenizer.ggml.${key}`);
        return n !== undefined && n >= 0 && n < tokens.length ? n : undefined;
    };
    let fim: FimTokenIds | undefined;
    const [pre, suf, mid] = [id('fim_pre_token_id') ?? id('prefix_token_id'), id('fim_suf_token_id') ?? id('suffix_token_id'), id('fim_mid_token_id') ?? id('middle_token_id')];
    if (pre !== undefined && suf !== undefined && mid !== undefined) {
        fim = { prefix: pre, suffix: suf, middle: mid };
    } else {
        for (const [p, s, md] of FIM_TEXTS) {
            const ids = [index.get(p), index.get(s), index.get(md)];
            if (ids[0] !== undefined && ids[1] !== undefined && ids[2] !== undefined) {
                fim = { prefix: ids[0], suffix: ids[1], middle: ids[2] };
                break;
            }
        }
    }
    return { tokenizerModel, vocabSize: tokens.length, specialTokens, fim, bosTokenId: id('bos_token_id'), eosTokenId: id('eos_token_id') };
}

/** A one-byte token text as the reader decodes it (bytes 0x80-0xFF alone are not UTF-8: U+DC00 + byte). */
function singleByteText(b: number): string {
    return String.fromCharCode(b < 0x80 ? b : 0xdc00 + b);
}

/**
 * Rules that let llama.cpp tokenize and detokenize any text with the vocabulary; a miss is an
 * uncaught C++ exception or an abort in the middle of tokenizing the user's text, not at load.
 * - SentencePiece ("llama"): a piece that is not a token is spelled byte by byte with
 *   `byte_to_token`, which looks up "<0xXX>" and then the one-byte text with
 *   `token_to_id.at()`: a byte with neither throws std::out_of_range through the addon
 *   (terminate). Every byte must be spellable (real SentencePiece vocabularies hold all 256).
 * - WordPiece ("bert"): detokenizing a token typed BYTE calls `token_to_byte`, which aborts for
 *   WordPiece (llama-vocab.cpp: GGML_ABORT), and every token is detokenized at load.
 */
function checkTokenizerCanSpell(model: string, index: ReadonlyMap<string, number>, types: readonly number[] | undefined, tokens: readonly string[], bad: Check): void {
    if (model === 'llama') {
        const missing: string[] = [];
        for (let b = 0; b < 256; b++) {
            const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
            if (!index.has(hex) && (b === 0 || !index.has(singleByteText(b)))) missing.push(hex);
        }
        if (missing.length > 0) {
            bad('badMetadata', `the SentencePiece vocabulary cannot spell ${missing.length} byte(s) (${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', ...' : ''}): ` +
                'no byte token and no one-byte token for them (llama.cpp would abort tokenizing text that holds them)');
        }
    }
    if (model === 'bert' && types !== undefined) {
        const i = types.findIndex((t, id) => id < tokens.length && t === TOKEN_TYPE.byte);
        if (i >= 0) bad('badMetadata', `token ${i} (${JSON.stringify(tokens[i])}) is typed as a byte, which a WordPiece (bert) vocabulary cannot have (llama.cpp would abort)`);
    }
}

/** Bytes: weights (the file, memory-mapped), an f16 KV cache for the context, compute buffers. */
function estimateMemory(fileSize: number, splitCount: number, hp: Hyperparameters, vocabSize: number, contextSize: number, sequences: number): MemoryNeed {
    const weightsBytes = fileSize * splitCount;
    const kvCacheBytes = contextSize * hp.kvWidthAllLayers * 2;
    const batch = Math.min(contextSize, 512);
    // Logits for a batch plus the largest activations of one layer, f32.
    const computeBytes = (vocabSize + 4 * hp.embeddingLength + 2 * hp.feedForwardLength) * batch * 4 * Math.max(1, sequences);
    return { totalBytes: weightsBytes + kvCacheBytes + computeBytes, weightsBytes, contextBytes: kvCacheBytes + computeBytes, source: 'zeta' };
}

async function insightsEstimate(file: string, contextSize: number, sequences: number, signal: AbortSignal | undefined): Promise<MemoryNeed | undefined> {
    try {
        const { readGgufFileInfo, GgufInsights } = await import('node-llama-cpp');
        const fileInfo = await readGgufFileInfo(file, { sourceType: 'filesystem', logWarnings: false, signal });
        const insights = await GgufInsights.from(fileInfo);
        const model = await insights.estimateModelResourceRequirementsV2({ gpuLayers: 0 });
        const context = await insights.estimateContextResourceRequirementsV2({ contextSize, modelGpuLayers: 0, sequences });
        return { totalBytes: model.cpuRam + context.cpuRam, weightsBytes: model.cpuRam, contextBytes: context.cpuRam, source: 'gguf-insights' };
    } catch (e) {
        if (signal?.aborted === true) throw e;
        return undefined;
    }
}

/**
 * Keys node-llama-cpp's addon reads with `gguf_get_val_u16` without checking their type
 * (AddonGgufMetadata.cpp); gguf.cpp asserts the type and that the value is a scalar, so any other
 * type aborts the process.
 */
const UINT16_KEYS: readonly string[] = ['split.no', 'split.count', 'split.tensors.count'];

/** Tensors llama.cpp uses as one-dimensional F32 operands (norms, biases, rope factors: `ggml_rope_ext` asserts F32). */
const VECTOR_TENSOR = /(?:^|\.)(?:[a-z_]*norm(?:_[a-z]+)?\.weight|bias|rope_freqs\.weight|rope_factors_(?:long|short)\.weight)$/;

/**
 * ggml type ids that are never weights: integer and F64 tensors and the vec_dot-only Q8_1 / Q8_K
 * (a matrix multiplication on them crashed llama.cpp with SIGSEGV in the faults suite).
 */
const NON_WEIGHT_TYPES: ReadonlySet<number> = new Set([9, 15, 24, 25, 26, 27, 28]);

/** ggml-backend asserts that mmap'd tensor data is aligned to TENSOR_ALIGNMENT (32 bytes). */
const GGML_TENSOR_ALIGNMENT = 32;

/** Checks that hold for every file llama.cpp may open: key types its callers assume, tensor types its ops assert. */
function checkStructure(info: GgufFileInfo, bad: Check): void {
    if (info.alignment % GGML_TENSOR_ALIGNMENT !== 0) {
        bad('badMetadata', `general.alignment is ${info.alignment}; llama.cpp needs a multiple of ${GGML_TENSOR_ALIGNMENT} (it would abort)`);
    }
    for (const key of UINT16_KEYS) {
        const v = info.metadata.get(key);
        if (v !== undefined && v.type !== 'uint16') bad('badMetadata', `${key} must be a uint16, not ${v.type === 'array' ? 'an array' : v.type} (node-llama-cpp would abort)`);
    }
    // llama_model_base::load_tensors asserts that an output tied to token_embd (no output.weight)
    // has no output scales; with output.weight absent they belong to nothing.
    const names = new Set(info.tensors.map((t) => t.name));
    if (!names.has('output.weight') && (names.has('output.scale') || names.has('output.input_scale'))) {
        bad('badMetadata', 'the file has output scales (output.scale / output.input_scale) but no output.weight (llama.cpp would abort)');
    }
    for (const t of info.tensors) {
        // Converters store every one-dimensional tensor as F32, and llama.cpp's ops on norms,
        // biases and rope factors assume it; anything else is corruption.
        if (NON_WEIGHT_TYPES.has(t.typeId)) bad('badMetadata', `tensor ${t.name} has type ${t.typeName ?? t.typeId}, which no model weight has (llama.cpp would crash)`);
        const vector = VECTOR_TENSOR.test(t.name);
        if ((vector || t.dims.length === 1) && t.typeName !== 'F32') {
            bad('badMetadata', `tensor ${t.name} is ${t.typeName ?? `type ${t.typeId}`}, but one-dimensional tensors must be F32 (llama.cpp would abort)`);
        }
        if (vector && t.dims.slice(1).some((d) => d !== 1)) {
            bad('badMetadata', `tensor ${t.name} has dims [${t.dims.join(', ')}], but it must be one-dimensional`);
        }
    }
}

/** A tensor llama.cpp's load_tensors creates: its name, its shape in ggml order, and whether it may be absent. */
interface ExpectedTensor {
    readonly name: string;
    readonly ne: readonly number[];
    readonly optional: boolean;
}

/**
 * The tensors `llama_model_llama::load_arch_tensors` (src/models/llama.cpp) creates, with the
 * shapes it asks for: every size from layer 0's hyperparameters, the vocabulary size from the
 * token list. Alternatives: a fused attn_qkv or separate q/k/v; experts (expert_count > 0) or a
 * dense feed-forward.
 */
function llamaTensors(info: GgufFileInfo, hp: Hyperparameters, vocabSize: number): ExpectedTensor[] {
    const { heads, headsKv, feedForward: ff, keyHead, valueHead, rope, experts } = hp.layer0;
    const e = hp.embeddingLength;
    const names = new Set(info.tensors.map((t) => t.name));
    const req = (name: string, ne: readonly number[]): ExpectedTensor => ({ name, ne, optional: false });
    const opt = (name: string, ne: readonly number[]): ExpectedTensor => ({ name, ne, optional: true });
    const q = keyHead * heads;
    const k = keyHead * headsKv;
    const v = valueHead * headsKv;
    const out = [req('token_embd.weight', [e, vocabSize]), req('output_norm.weight', [e]), opt('output.weight', [e, vocabSize])];
    if (rope >= 2) out.push(opt('rope_freqs.weight', [Math.floor(rope / 2)]), opt('rope_factors_long.weight', [Math.floor(rope / 2)]), opt('rope_factors_short.weight', [Math.floor(rope / 2)]));
    for (let i = 0; i < hp.blockCount; i++) {
        const p = `blk.${i}.`;
        out.push(req(`${p}attn_norm.weight`, [e]), req(`${p}ffn_norm.weight`, [e]), req(`${p}attn_output.weight`, [q, e]), opt(`${p}attn_output.bias`, [e]));
        if (names.has(`${p}attn_qkv.weight`)) {
            out.push(req(`${p}attn_qkv.weight`, [e, q + k + v]), opt(`${p}attn_qkv.bias`, [q + k + v]));
        } else {
            out.push(req(`${p}attn_q.weight`, [e, q]), req(`${p}attn_k.weight`, [e, k]), req(`${p}attn_v.weight`, [e, v]),
                opt(`${p}attn_q.bias`, [q]), opt(`${p}attn_k.bias`, [k]), opt(`${p}attn_v.bias`, [v]));
        }
        if (experts === 0) {
            out.push(req(`${p}ffn_gate.weight`, [e, ff]), req(`${p}ffn_down.weight`, [ff, e]), req(`${p}ffn_up.weight`, [e, ff]),
                opt(`${p}ffn_gate.bias`, [ff]), opt(`${p}ffn_down.bias`, [e]), opt(`${p}ffn_up.bias`, [ff]));
        } else {
            out.push(req(`${p}ffn_gate_inp.weight`, [e, experts]), opt(`${p}ffn_gate_exps.weight`, [e, ff, experts]),
                req(`${p}ffn_down_exps.weight`, [ff, e, experts]), req(`${p}ffn_up_exps.weight`, [e, ff, experts]));
        }
    }
    return out;
}

/** Expected tensors per architecture; an architecture without an entry is left to llama.cpp's own shape checks (a thrown error). */
const EXPECTED_TENSORS: Readonly<Record<string, (info: GgufFileInfo, hp: Hyperparameters, vocabSize: number) => ExpectedTensor[]>> = {
    llama: llamaTensors,
};

/**
 * Every tensor load_tensors creates must be present (unless optional) with the shape it asks for
 * (ggml order, trailing dimensions 1). llama.cpp throws on most mismatches itself, but a shape it
 * accepts is what its graph later trusts: checked here, the file is refused with the tensor named
 * before llama.cpp sees it. Types are checked for all tensors in checkStructure.
 */
function checkTensorShapes(info: GgufFileInfo, arch: string, hp: Hyperparameters, vocabSize: number, bad: Check): void {
    const expected = EXPECTED_TENSORS[arch]?.(info, hp, vocabSize);
    if (expected === undefined) return;
    const byName = new Map(info.tensors.map((t) => [t.name, t]));
    const pad = (ne: readonly number[]): number[] => [...ne, 1, 1, 1, 1].slice(0, 4);
    for (const x of expected) {
        const t = byName.get(x.name);
        if (t === undefined) {
            if (!x.optional) bad('badMetadata', `tensor ${x.name} is missing (${arch} needs it with shape [${x.ne.join(', ')}])`);
            continue;
        }
        if (t.dims.length > 4 || pad(t.dims).some((d, i) => d !== pad(x.ne)[i])) {
            bad('badMetadata', `tensor ${x.name} has shape [${t.dims.join(', ')}], but the hyperparameters give [${x.ne.join(', ')}]`);
        }
    }
}

function architectureOf(m: GgufMetadata, bad: Check): string {
    const architecture = stringValue(m.get('general.architecture'));
    if (architecture === undefined || architecture.length === 0) bad('badMetadata', 'general.architecture is missing or not a string');
    return architecture;
}

function vocabularyFacts(file: string, info: GgufFileInfo, architecture: string, tokenizer: TokenizerFacts): VocabularyFacts {
    const m = info.metadata;
    const chatTemplate = stringValue(m.get('tokenizer.chat_template'));
    return {
        path: file,
        fileSize: info.fileSize,
        ggufVersion: info.version,
        architecture,
        name: stringValue(m.get('general.name')) ?? path.basename(file, path.extname(file)),
        tokenizerModel: tokenizer.tokenizerModel,
        vocabSize: tokenizer.vocabSize,
        bosTokenId: tokenizer.bosTokenId,
        eosTokenId: tokenizer.eosTokenId,
        specialTokens: tokenizer.specialTokens,
        fim: tokenizer.fim,
        chatMl: tokenizer.specialTokens.has('<|im_start|>') && tokenizer.specialTokens.has('<|im_end|>'),
        chatTemplate: chatTemplate !== undefined && chatTemplate.trim().length > 0 ? chatTemplate : undefined,
        tensorCount: info.tensors.length,
        metadata: m,
    };
}

/**
 * Reads and checks what llama.cpp's vocabulary-only load (`loadModel({vocabOnly: true})`) reads:
 * the header and the tokenizer, not the hyperparameters or tensors (a vocabulary GGUF has none;
 * tensors that are declared must still lie inside the file). The architecture must be named but
 * need not be one Zeta runs: only the tokenizer is used. Rejects like `validateModelFile`.
 */
export async function validateVocabularyFile(file: string, options: Pick<ValidateOptions, 'maxHeaderBytes'> = {}, signal?: AbortSignal): Promise<VocabularyFacts> {
    checkAborted(signal);
    const info = await readHeader(file, options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, signal);
    checkAborted(signal);
    const bad: Check = (problem, detail) => fail(problem, file, detail);
    checkStructure(info, bad);
    const architecture = architectureOf(info.metadata, bad);
    return vocabularyFacts(file, info, architecture, checkTokenizer(info, bad));
}

/**
 * Reads and checks `file` without loading it into llama.cpp. Resolves with the facts it declares,
 * or rejects with a ModelFileError (problem: missing, notGguf, truncated, badMetadata,
 * unsupportedArchitecture, unsupportedTokenizer, overMemoryBudget), or with `signal.reason`.
 */
export async function validateModelFile(file: string, options: ValidateOptions, signal?: AbortSignal): Promise<ModelFileFacts> {
    checkAborted(signal);
    if (!Number.isSafeInteger(options.contextSize) || options.contextSize <= 0) {
        throw new RangeError(`contextSize must be a positive integer, got ${options.contextSize}`);
    }
    const info = await readHeader(file, options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, signal);
    checkAborted(signal);
    const bad: Check = (problem, detail) => fail(problem, file, detail);
    const m = info.metadata;

    checkStructure(info, bad);
    const architecture = architectureOf(m, bad);
    if (!SUPPORTED_ARCHITECTURES.has(architecture)) {
        bad('unsupportedArchitecture', `architecture "${architecture}" is not one Zeta can run with llama.cpp (supported include llama, qwen2, qwen3, gemma3, phi3, starcoder2, deepseek2, bert)`);
    }
    const tokenizer = checkTokenizer(info, bad);
    const hp = checkHyperparameters(m, architecture, bad);
    if (info.tensors.length === 0) bad('badMetadata', 'the file has no tensors (a vocabulary-only file cannot be run)');
    checkTensorShapes(info, architecture, hp, tokenizer.vocabSize, bad);

    const sequences = Math.max(1, options.sequences ?? 1);
    const splitCount = Math.max(1, optionalInt(m, 'split.count') ?? 1);
    let memory = estimateMemory(info.fileSize, splitCount, hp, tokenizer.vocabSize, options.contextSize, sequences);
    if (options.useInsights === true) memory = (await insightsEstimate(file, options.contextSize, sequences, signal)) ?? memory;
    checkAborted(signal);
    const budget = options.memoryBudgetBytes;
    if (budget !== undefined && memory.totalBytes > budget) {
        const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
        bad('overMemoryBudget', `needs about ${mib(memory.totalBytes)} (weights ${mib(memory.weightsBytes)}, ` +
            `context of ${options.contextSize} tokens ${mib(memory.contextBytes)}), over the budget of ${mib(budget)}; ` +
            'lower the context size or raise the memory budget');
    }

    return {
        ...vocabularyFacts(file, info, architecture, tokenizer),
        embeddingLength: hp.embeddingLength,
        blockCount: hp.blockCount,
        trainContextSize: hp.trainContextSize,
        feedForwardLength: hp.feedForwardLength,
        headCount: hp.headCount,
        headCountKv: hp.headCountKv,
        poolingType: optionalInt(m, `${architecture}.pooling_type`),
        memory,
    };
}
