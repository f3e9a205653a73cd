/**
 * Bad model files for tests: `writeBadModelFiles(dir)` writes one small file per model-file
 * problem, for tests that prove bad files are rejected before they reach llama.cpp. The generated
 * models themselves: scripts/generatedModels.ts (`ensureModels`).
 */

import { mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { ModelFileProblem } from '../../src/core/errors';
import { syntheticModelSpec } from '../../src/core/gguf/synthetic';
import type { GgufValue } from '../../src/core/gguf/types';
import { writeGgufToBuffer } from '../../src/core/gguf/writer';
import { writeAtomically } from '../../scripts/generatedModels';

/** Every case of a bad model file, each with the problem the validator must report. */
export type BadModelCase =
    | 'missing'
    | 'directory'
    | 'empty'
    | 'badMagic'
    | 'cutTo64Bytes'
    | 'cutInHalf'
    | 'noFeedForwardLength'
    | 'noHeadCount'
    | 'headCountNotDividing'
    | 'vocabMismatch'
    | 'badArchitecture'
    | 'badTokenizer'
    | 'overBudget';

export type BadFileProblem = Exclude<ModelFileProblem, 'loadFailed' | 'insufficientMemory'>;

export interface BadModelFile {
    readonly path: string;
    readonly problem: BadFileProblem;
}

/**
 * Paths keyed by problem (one representative each), plus every case. The `overMemoryBudget`
 * file is a sound tiny model: it fails only under `memoryBudgetBytes`.
 */
export type BadModelFiles = Readonly<Record<BadFileProblem, string>> & {
    readonly cases: Readonly<Record<BadModelCase, BadModelFile>>;
    /** A budget below the estimated need of the `overMemoryBudget` file, in bytes. */
    readonly memoryBudgetBytes: number;
};

/** A budget far below any synthetic model's needs. */
export const BAD_FILE_MEMORY_BUDGET_BYTES = 64 * 1024;

function withMetadata(edit: (m: Map<string, GgufValue>) => Map<string, GgufValue>): Promise<Uint8Array> {
    const spec = syntheticModelSpec('coder', { preset: 'tiny' });
    return writeGgufToBuffer({ metadata: edit(spec.metadata), tensors: spec.tensors });
}

function renameArchitecture(m: Map<string, GgufValue>, arch: string): Map<string, GgufValue> {
    const out = new Map<string, GgufValue>();
    for (const [k, v] of m) {
        if (k === 'general.architecture') out.set(k, { type: 'string', value: arch });
        else out.set(k.startsWith('llama.') ? `${arch}.${k.slice('llama.'.length)}` : k, v);
    }
    return out;
}

/** Writes the bad files into `dir` (created if needed), from the tiny coder; about 10 MB in all. */
export async function writeBadModelFiles(dir: string): Promise<BadModelFiles> {
    await mkdir(dir, { recursive: true });
    const good = await writeGgufToBuffer(syntheticModelSpec('coder', { preset: 'tiny' }));
    const at = (name: string): string => path.join(dir, name);

    const missing = at('missing.gguf');
    await rm(missing, { force: true, recursive: true });
    const directory = at('directory.gguf');
    await mkdir(directory, { recursive: true });

    const files: Record<string, Uint8Array | string> = {
        'empty.gguf': new Uint8Array(0),
        'bad-magic.gguf': 'This is not a GGUF model file, just text that happens to end in .gguf\n'.repeat(8),
        'cut-to-64-bytes.gguf': good.subarray(0, 64),
        'cut-in-half.gguf': good.subarray(0, Math.floor(good.length / 2)),
        'no-feed-forward-length.gguf': await withMetadata((m) => { m.delete('llama.feed_forward_length'); return m; }),
        'no-head-count.gguf': await withMetadata((m) => { m.delete('llama.attention.head_count'); m.delete('llama.attention.head_count_kv'); return m; }),
        'head-count-not-dividing.gguf': await withMetadata((m) => {
            m.set('llama.attention.head_count', { type: 'uint32', value: 5 });
            m.set('llama.attention.head_count_kv', { type: 'uint32', value: 5 });
            m.delete('llama.rope.dimension_count');
            return m;
        }),
        'vocab-mismatch.gguf': await withMetadata((m) => {
            const tokens = m.get('tokenizer.ggml.tokens');
            const scores = m.get('tokenizer.ggml.scores');
            const types = m.get('tokenizer.ggml.token_type');
            if (tokens?.type !== 'array' || tokens.itemType !== 'string' || scores?.type !== 'array' || types?.type !== 'array') {
                throw new Error('synthetic vocabulary layout changed');
            }
            m.set('tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens.value.slice(0, -10) });
            m.set('tokenizer.ggml.scores', { type: 'array', itemType: 'float32', value: (scores.value as readonly number[]).slice(0, -10) });
            m.set('tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: (types.value as readonly number[]).slice(0, -10) });
            return m;
        }),
        'bad-architecture.gguf': await withMetadata((m) => renameArchitecture(m, 'zetanet')),
        'bad-tokenizer.gguf': await withMetadata((m) => { m.set('tokenizer.ggml.model', { type: 'string', value: 'zeta-pieces' }); return m; }),
        'over-budget.gguf': good,
    };
    for (const [name, content] of Object.entries(files)) await writeAtomically(at(name), content);

    const cases: Record<BadModelCase, BadModelFile> = {
        missing: { path: missing, problem: 'missing' },
        directory: { path: directory, problem: 'missing' },
        empty: { path: at('empty.gguf'), problem: 'notGguf' },
        badMagic: { path: at('bad-magic.gguf'), problem: 'notGguf' },
        cutTo64Bytes: { path: at('cut-to-64-bytes.gguf'), problem: 'truncated' },
        cutInHalf: { path: at('cut-in-half.gguf'), problem: 'truncated' },
        noFeedForwardLength: { path: at('no-feed-forward-length.gguf'), problem: 'badMetadata' },
        noHeadCount: { path: at('no-head-count.gguf'), problem: 'badMetadata' },
        headCountNotDividing: { path: at('head-count-not-dividing.gguf'), problem: 'badMetadata' },
        vocabMismatch: { path: at('vocab-mismatch.gguf'), problem: 'badMetadata' },
        badArchitecture: { path: at('bad-architecture.gguf'), problem: 'unsupportedArchitecture' },
        badTokenizer: { path: at('bad-tokenizer.gguf'), problem: 'unsupportedTokenizer' },
        overBudget: { path: at('over-budget.gguf'), problem: 'overMemoryBudget' },
    };
    return {
        missing: cases.missing.path,
        notGguf: cases.badMagic.path,
        truncated: cases.cutInHalf.path,
        badMetadata: cases.noFeedForwardLength.path,
        unsupportedArchitecture: cases.badArchitecture.path,
        unsupportedTokenizer: cases.badTokenizer.path,
        overMemoryBudget: cases.overBudget.path,
        cases,
        memoryBudgetBytes: BAD_FILE_MEMORY_BUDGET_BYTES,
    };
}
