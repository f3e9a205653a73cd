/**
 * The size check of Explain Selection, Plan Refactor and Edit Selection: context minus the prompt's
 * fixed part minus zeta.chatMaxTokens; an edit's selection must also fit in its answer. Counted
 * exactly by a tokenizer (the fake backend's) or estimated, and the message says which.
 */
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock';
import { FakeBackend } from '../../src/backends/fakeBackend';
import { EDIT_FENCE_TOKENS, ESTIMATE_CHARS_PER_TOKEN, TEMPLATE_TOKENS_PER_MESSAGE, checkSelection, estimateTokens, roomFor, type ModelRoom } from '../../src/core/selectionLimit';
import { checkChatSelection, editMessages, explainMessages, type ChatModel } from '../../src/vscode/prompts';

const room = (modelId: string, contextSize: number, overhead: number, selection: number, exact = true): ModelRoom => ({
    modelId,
    contextSize,
    overhead: { tokens: overhead, exact },
    selection: { tokens: selection, exact },
});

describe('selection limit', () => {
    it('room is the context minus the prompt and the answer; an edit also at most the answer', () => {
        assert.equal(roomFor(room('r', 4096, 100, 0), 768, false), 4096 - 100 - 768);
        assert.equal(roomFor(room('c', 4096, 100, 0), 768, true), 768 - EDIT_FENCE_TOKENS);
        assert.equal(roomFor(room('c', 1024, 100, 0), 768, true), 1024 - 100 - 768, 'the context is the tighter bound');
        assert.equal(roomFor(room('t', 512, 100, 0), 768, false), 0, 'never negative');
    });

    it('a selection that fits goes to the roomiest model', () => {
        const r = checkSelection({ what: 'Explain Selection', chars: 4000, lines: 100, maxTokens: 768, answerIsSelection: false, models: [room('coder', 2048, 100, 1500), room('reasoner', 8192, 100, 1500)] });
        assert.deepEqual(r, { ok: true, modelId: 'reasoner' });
    });

    it('a selection over the context is refused with lines, characters and tokens the user can act on', () => {
        // 3,500 tokens over 200 lines / 10,000 characters; room 4096 - 200 - 768 = 3,128 tokens.
        const r = checkSelection({ what: 'Explain Selection', chars: 10_000, lines: 200, maxTokens: 768, answerIsSelection: false, models: [room('reasoner', 4096, 200, 3500)] });
        assert.equal(r.ok, false);
        assert.ok(!r.ok);
        assert.equal(r.maxSelectionTokens, 3128);
        assert.equal(r.maxLines, Math.floor((200 * 3128) / 3500));
        assert.equal(r.maxChars, Math.floor((10_000 * 3128) / 3500));
        assert.equal(
            r.message,
            "the selection is too large for Explain Selection: 3,500 tokens (counted with the reasoner model's tokenizer), and the reasoner model's 4,096-token context holds the prompt (200 tokens), the answer (768, zeta.chatMaxTokens) and at most 3,128 tokens of selection. " +
                'Select at most about 178 lines (8,937 characters) of this code, or raise zeta.models.<role>.contextSize of the reasoner model or lower zeta.chatMaxTokens.',
        );
    });

    it('an edit larger than its answer may be is refused naming zeta.chatMaxTokens; an estimate says so', () => {
        const r = checkSelection({ what: 'Edit Selection', chars: 3000, lines: 60, maxTokens: 768, answerIsSelection: true, models: [room('coder', 32_768, 150, 1000, false)] });
        assert.ok(!r.ok);
        assert.equal(r.maxSelectionTokens, 768 - EDIT_FENCE_TOKENS);
        assert.match(r.message, /Edit Selection writes the whole selection back, and an answer may take 768 tokens \(zeta\.chatMaxTokens\)/);
        assert.match(r.message, new RegExp(`estimated at ${ESTIMATE_CHARS_PER_TOKEN} characters a token while the coder model is not loaded`));
        assert.match(r.message, /Select at most about 45 lines \(2,256 characters\) of this code, or raise zeta\.chatMaxTokens\.$/);
    });

    it('the estimate overestimates code: never fewer tokens than the fake tokenizer counts', () => {
        const code = 'export function add(a: number, b: number): number {\n    return a + b; // sum\n}\n';
        const fake = new FakeBackend(new VirtualClock(0));
        assert.ok(estimateTokens(code) >= fake.countTokens(code));
        assert.equal(estimateTokens('abcde'), 3);
    });

    it('checkChatSelection counts the prompt without the selection and the selection with the model counter', () => {
        const fake = new FakeBackend(new VirtualClock(0));
        const exact: ChatModel = { modelId: 'reasoner', contextSize: 4096, count: (t) => ({ tokens: fake.countTokens(t), exact: true }) };
        const small = Array.from({ length: 10 }, (_, i) => `const v${i} = ${i};`).join('\n');
        const build = (code: string): ReturnType<typeof explainMessages> => explainMessages(code, 'typescript', 'a.ts');
        assert.deepEqual(checkChatSelection('Explain Selection', small, build, [exact], 768, false), { ok: true, modelId: 'reasoner' });
        // The exact budget: the room is what remains after the counted prompt and the answer.
        const overhead = build('').reduce((n, m) => n + fake.countTokens(m.content), 0) + TEMPLATE_TOKENS_PER_MESSAGE * 2;
        const big = Array.from({ length: 2000 }, (_, i) => `const v${i} = ${i};`).join('\n');
        const r = checkChatSelection('Explain Selection', big, build, [exact], 768, false);
        assert.ok(!r.ok);
        assert.equal(r.maxSelectionTokens, 4096 - overhead - 768);
        assert.match(r.message, /counted with the reasoner model's tokenizer/);
        // An edit's instruction is part of the prompt: a longer one leaves less room.
        const edit = (instruction: string): ReturnType<typeof checkChatSelection> =>
            checkChatSelection('Edit Selection', big, (code) => editMessages(code, 'typescript', instruction), [{ ...exact, contextSize: 1200 }], 768, true);
        const short = edit('');
        const long = edit('rename every variable to something descriptive and add a doc comment to each one');
        assert.ok(!short.ok && !long.ok);
        assert.ok(long.maxSelectionTokens < short.maxSelectionTokens);
    });

    it('no model to measure against: left to the router, which refuses with its own reason', () => {
        assert.deepEqual(checkSelection({ what: 'Explain Selection', chars: 10, lines: 1, maxTokens: 768, answerIsSelection: false, models: [] }), { ok: true, modelId: '' });
    });
});
