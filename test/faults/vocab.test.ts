/**
 * Real vocabularies (issue 20, part 3): the vocabulary-only GGUFs that ship in llama.cpp's source
 * (`models/ggml-vocab-*.gguf` of the bundle inside node-llama-cpp, extracted at test time by
 * commit into .zeta/llama-src/). The validator accepts them in its vocabulary-only mode, FIM
 * detection picks each family's template from the file's own metadata, and the FIM markers of the
 * prompt Zeta builds resolve, through the real node-llama-cpp tokenizer, to exactly the model's
 * one control token each (the ids llama.cpp's converters gave them).
 */
import * as assert from 'node:assert/strict';
import { validateVocabularyFile } from '../../src/backends/ggufValidator';
import { createLlamaProvider, type LlamaProvider } from '../../src/backends/llamaProvider';
import { loadTokenizer } from '../../src/backends/tokenizer';
import type { FimFamily } from '../../src/core/backend';
import { buildFimParts, detectFimFamily } from '../../src/core/fim';
import { stringValue } from '../../src/core/gguf/types';
import { listLlamaSource, llamaSourceFiles } from './support/llamaSource';

/** Families and FIM ids as the models' own tokenizer configurations define them. */
const FIM_VOCABULARIES: readonly { file: string; family: FimFamily | undefined; ids?: readonly [number, number, number] }[] = [
    { file: 'ggml-vocab-deepseek-coder.gguf', family: 'deepseek', ids: [32016, 32015, 32017] },
    { file: 'ggml-vocab-starcoder.gguf', family: 'starcoder2', ids: [1, 3, 2] },
    { file: 'ggml-vocab-refact.gguf', family: 'starcoder2', ids: [1, 3, 2] },
    // Qwen2 base (not Qwen2.5-Coder): no FIM tokens in the vocabulary, so no infill.
    { file: 'ggml-vocab-qwen2.gguf', family: undefined },
    { file: 'ggml-vocab-llama-spm.gguf', family: undefined },
    { file: 'ggml-vocab-llama-bpe.gguf', family: undefined },
];

describe('real vocabularies from the llama.cpp bundle', function () {
    this.timeout(300_000);
    let files: Map<string, string>;
    let provider: LlamaProvider;

    before(async () => {
        const names = (await listLlamaSource('models')).filter((p) => p.endsWith('.gguf'));
        const paths = await llamaSourceFiles(names);
        files = new Map(names.map((n, i) => [n.slice('models/'.length), paths[i]!]));
        provider = createLlamaProvider({ gpu: false, maxThreads: 1 });
    });

    after(async () => {
        await provider?.dispose();
    });

    it('the validator accepts every vocabulary in the bundle (vocabulary-only mode)', async () => {
        assert.ok(files.size >= 10, `only ${files.size} vocabularies in the bundle`);
        for (const [name, file] of files) {
            const facts = await validateVocabularyFile(file);
            assert.equal(facts.tensorCount, 0, name);
            assert.ok(facts.vocabSize > 1000, `${name}: ${facts.vocabSize} tokens`);
        }
    });

    for (const v of FIM_VOCABULARIES) {
        it(`${v.file}: FIM detection gives ${v.family ?? 'none'}${v.ids ? `, markers tokenize to ${v.ids.join('/')}` : ''}`, async () => {
            const file = files.get(v.file)!;
            const facts = await validateVocabularyFile(file);
            const tokens = facts.metadata.get('tokenizer.ggml.tokens')!.value as readonly string[];
            const detected = detectFimFamily({
                tokens,
                generalName: stringValue(facts.metadata.get('general.name')),
                architecture: stringValue(facts.metadata.get('general.architecture')),
            });
            assert.equal(detected, v.family);
            if (v.family === undefined || v.ids === undefined) {
                assert.equal(facts.fim, undefined, 'the validator found FIM tokens detection did not');
                return;
            }
            const [prefix, suffix, middle] = v.ids;
            assert.deepEqual(facts.fim, { prefix, suffix, middle });

            // The prompt Zeta builds: control parts resolved the way the backend resolves them,
            // text parts tokenized as plain text (code that spells a marker cannot inject it).
            const tokenizer = await loadTokenizer(provider, file);
            try {
                const parts = buildFimParts(v.family, 'def add(a, b):\n    ', '\n\nprint(add(1, 2))\n', '');
                const expected: Record<string, number> = { prefix, suffix, middle };
                const roles: string[] = [];
                for (const p of parts) {
                    if (p.kind !== 'control') continue;
                    assert.equal(tokenizer.controlToken(p.token), expected[p.role], `${p.role} marker ${p.token}`);
                    roles.push(p.role);
                }
                assert.deepEqual(roles.sort(), ['middle', 'prefix', 'suffix']);
                const marker = parts.find((p) => p.kind === 'control')!;
                const asText = tokenizer.tokenize(`x = "${marker.kind === 'control' ? marker.token : ''}"`);
                assert.ok(!asText.includes(prefix), 'a marker spelled in code became the control token');
            } finally {
                await tokenizer.dispose();
            }
        });
    }
});
