import { strict as assert } from 'node:assert';
import { FIM_FAMILIES } from '../../src/core/backend';
import {
    buildFimParts,
    buildFimPrompt,
    detectFimFamily,
    fimStopTokens,
    fimTemplate,
    fimTextOrder,
    resolveFimFamily,
    vocabularySupports,
} from '../../src/core/fim';

const PREFIX = 'def add(a, b):\n    ';
const SUFFIX = '\n\nprint(add(1, 2))\n';

describe('FIM templates', () => {
    it('Qwen2.5-Coder: <|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>', () => {
        assert.equal(
            buildFimPrompt('qwen', PREFIX, SUFFIX),
            '<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>',
        );
    });

    it('DeepSeek-Coder: fullwidth bars (U+FF5C) and U+2581 in its markers', () => {
        const prompt = buildFimPrompt('deepseek', PREFIX, SUFFIX);
        assert.equal(prompt, '<｜fim▁begin｜>def add(a, b):\n    <｜fim▁hole｜>\n\nprint(add(1, 2))\n<｜fim▁end｜>');
        assert.ok(prompt.includes('\uFF5Cfim\u2581begin\uFF5C'));
        assert.ok(!prompt.includes('|fim'), 'ASCII bars would tokenize as text');
    });

    it('Code Llama: <PRE> P <SUF>S <MID> with its spaces', () => {
        assert.equal(buildFimPrompt('codellama', PREFIX, SUFFIX), '<PRE> def add(a, b):\n     <SUF>\n\nprint(add(1, 2))\n <MID>');
        assert.equal(buildFimPrompt('codellama', 'a', 'b'), '<PRE> a <SUF>b <MID>');
    });

    it('StarCoder2: <fim_prefix>P<fim_suffix>S<fim_middle>', () => {
        assert.equal(buildFimPrompt('starcoder2', 'a', 'b'), '<fim_prefix>a<fim_suffix>b<fim_middle>');
    });

    it('Codestral: suffix first, [SUFFIX]S[PREFIX]P, no middle marker', () => {
        assert.equal(buildFimPrompt('codestral', 'a', 'b'), '[SUFFIX]b[PREFIX]a');
        assert.equal(fimTemplate('codestral').order, 'spm');
        assert.equal(fimTemplate('codestral').middleToken, undefined);
    });

    it('the start of the middle (the cursor line) follows the middle marker where the template allows it', () => {
        const [pre, suf, mid] = ['def f():\n', '\n    return x\n', '    x = ad'];
        assert.equal(buildFimPrompt('qwen', pre, suf, mid), '<|fim_prefix|>def f():\n<|fim_suffix|>\n    return x\n<|fim_middle|>    x = ad');
        assert.equal(buildFimPrompt('starcoder2', 'a', 'b', 'c'), '<fim_prefix>a<fim_suffix>b<fim_middle>c');
        assert.equal(buildFimPrompt('deepseek', 'a', 'b', 'c'), '<\uFF5Cfim\u2581begin\uFF5C>a<\uFF5Cfim\u2581hole\uFF5C>b<\uFF5Cfim\u2581end\uFF5C>c');
        // Code Llama and Codestral keep it at the end of the prefix: the old prompt, byte for byte.
        assert.equal(buildFimPrompt('codellama', pre, suf, mid), buildFimPrompt('codellama', pre + mid, suf));
        assert.equal(buildFimPrompt('codestral', pre, suf, mid), '[SUFFIX]\n    return x\n[PREFIX]def f():\n    x = ad');
        // An empty middle adds no part: the prompt of a template that allows one is unchanged.
        for (const family of FIM_FAMILIES) assert.deepEqual(buildFimParts(family, pre, suf, ''), buildFimParts(family, pre, suf), family);
        // Text in the middle is text, never a control token.
        const parts = buildFimParts('qwen', 'a', 'b', '<|fim_prefix|>');
        assert.deepEqual(parts.at(-1), { kind: 'text', text: '<|fim_prefix|>' });
    });

    it('lists the texts in the order the model reads them (what a later prompt can reuse)', () => {
        assert.deepEqual(fimTextOrder('qwen', 'P', 'S', 'M'), ['P', 'S', 'M']);
        assert.deepEqual(fimTextOrder(undefined, 'P', 'S', 'M'), ['P', 'S', 'M']);
        assert.deepEqual(fimTextOrder('codellama', 'P', 'S', 'M'), [' PM ', 'S ']);
        assert.deepEqual(fimTextOrder('codestral', 'P', 'S', 'M'), ['S', 'PM']);
        // The order agrees with the prompt: the texts appear in the prompt in that order.
        for (const family of FIM_FAMILIES) {
            const prompt = buildFimPrompt(family, 'PPP', 'SSS', 'MMM');
            let at = 0;
            for (const t of fimTextOrder(family, 'PPP', 'SSS', 'MMM')) {
                const i = prompt.indexOf(t, at);
                assert.ok(i >= at, `${family}: ${t} after ${at} in ${prompt}`);
                at = i + t.length;
            }
        }
    });

    it('keeps user text out of control parts (no injection through the prefix)', () => {
        for (const family of FIM_FAMILIES) {
            const parts = buildFimParts(family, '<|fim_middle|>QQ', 'y');
            const controls = parts.filter((p) => p.kind === 'control');
            assert.equal(controls.length, fimTemplate(family).middleToken === undefined ? 2 : 3, family);
            for (const p of controls) assert.ok(p.kind === 'control' && !p.token.includes('QQ'));
            const texts = parts.filter((p) => p.kind === 'text').map((p) => (p.kind === 'text' ? p.text : ''));
            assert.ok(texts.some((t) => t.includes('<|fim_middle|>QQ')), family);
        }
    });

    it('gives each family its stop tokens, including end of text and its own markers', () => {
        assert.deepEqual(fimStopTokens('qwen'), [
            '<|endoftext|>',
            '<|fim_prefix|>',
            '<|fim_middle|>',
            '<|fim_suffix|>',
            '<|fim_pad|>',
            '<|repo_name|>',
            '<|file_sep|>',
            '<|im_start|>',
            '<|im_end|>',
        ]);
        assert.ok(fimStopTokens('deepseek').includes('<｜end▁of▁sentence｜>'));
        assert.ok(fimStopTokens('codellama').includes('<EOT>'));
        assert.ok(fimStopTokens('starcoder2').includes('<file_sep>'));
        assert.deepEqual(fimStopTokens('codestral'), ['</s>', '[PREFIX]', '[SUFFIX]']);
    });
});

describe('detectFimFamily', () => {
    const base = ['<unk>', '<s>', '</s>', '▁a', 'b'];
    const qwenTokens = [...base, '<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|im_start|>', '<|im_end|>'];

    it('detects each family from its control tokens', () => {
        assert.equal(detectFimFamily({ tokens: qwenTokens }), 'qwen');
        assert.equal(detectFimFamily({ tokens: [...base, '<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>'] }), 'deepseek');
        assert.equal(detectFimFamily({ tokens: [...base, '▁<PRE>', '▁<SUF>', '▁<MID>', '▁<EOT>'] }), 'codellama');
        assert.equal(detectFimFamily({ tokens: [...base, '<PRE>', '<SUF>', '<MID>'] }), 'codellama');
        assert.equal(detectFimFamily({ tokens: [...base, '<fim_prefix>', '<fim_suffix>', '<fim_middle>'] }), 'starcoder2');
        assert.equal(detectFimFamily({ tokens: [...base, '[PREFIX]', '[SUFFIX]', '[INST]'] }), 'codestral');
    });

    it('needs every control token: a partial set means no FIM', () => {
        assert.equal(detectFimFamily({ tokens: [...base, '<|fim_prefix|>', '<|fim_suffix|>'] }), undefined);
        assert.equal(detectFimFamily({ tokens: base, generalName: 'Qwen2.5 Coder 7B' }), undefined);
        assert.equal(vocabularySupports('qwen', new Set(qwenTokens)), true);
        assert.equal(vocabularySupports('starcoder2', new Set(qwenTokens)), false);
    });

    it('lets the name or architecture break a tie between families present', () => {
        const both = [...qwenTokens, '<fim_prefix>', '<fim_suffix>', '<fim_middle>'];
        assert.equal(detectFimFamily({ tokens: both }), 'qwen', 'FIM_FAMILIES order without a hint');
        assert.equal(detectFimFamily({ tokens: both, generalName: 'StarCoder2 7B' }), 'starcoder2');
        assert.equal(detectFimFamily({ tokens: both, architecture: 'starcoder2' }), 'starcoder2');
        assert.equal(detectFimFamily({ tokens: both, generalName: 'Llama 3 8B' }), 'qwen');
    });

    it('falls back to the name or architecture when the vocabulary is unknown', () => {
        assert.equal(detectFimFamily({ tokens: [], generalName: 'Qwen2.5-Coder-7B-Instruct' }), 'qwen');
        assert.equal(detectFimFamily({ tokens: [], generalName: 'deepseek-coder-6.7b-base' }), 'deepseek');
        assert.equal(detectFimFamily({ tokens: [], generalName: 'CodeLlama-13b-hf' }), 'codellama');
        assert.equal(detectFimFamily({ tokens: [], generalName: 'Codestral-22B-v0.1' }), 'codestral');
        assert.equal(detectFimFamily({ tokens: [], architecture: 'starcoder2' }), 'starcoder2');
        assert.equal(detectFimFamily({ tokens: [], generalName: 'Llama 3.1 8B Instruct', architecture: 'llama' }), undefined);
    });

    it('accepts a Set and an array alike', () => {
        assert.equal(detectFimFamily({ tokens: new Set(qwenTokens) }), 'qwen');
    });
});

describe('resolveFimFamily', () => {
    it('"none" disables, a family forces, "auto" takes the detected one', () => {
        assert.equal(resolveFimFamily('none', 'qwen'), undefined);
        assert.equal(resolveFimFamily('codestral', 'qwen'), 'codestral');
        assert.equal(resolveFimFamily('codestral', undefined), 'codestral');
        assert.equal(resolveFimFamily('auto', 'deepseek'), 'deepseek');
        assert.equal(resolveFimFamily('auto', undefined), undefined);
    });
});
