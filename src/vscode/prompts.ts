/**
 * Chat prompts for Explain Selection, Plan Refactor and Edit Selection, the size check of a
 * selection against the models that could answer, and the parsing of an edit's answer. Pure (no
 * vscode). A selection is sent whole or refused (src/core/selectionLimit.ts), never cut.
 */
import type { ChatMessage } from '../core/backend';
import { TEMPLATE_TOKENS_PER_MESSAGE, checkSelection, type SelectionCheck, type TokenCount } from '../core/selectionLimit';

/** A model that could answer a chat now, and how it counts tokens (exact when loaded, else an estimate). */
export interface ChatModel {
    readonly modelId: string;
    readonly contextSize: number;
    readonly count: (text: string) => TokenCount;
}

/**
 * Whether `code` fits a chat built by `messages` with an answer of `maxTokens`, on the roomiest of
 * `models`. `answerIsSelection`: the answer rewrites the selection (Edit Selection).
 */
export function checkChatSelection(
    what: string,
    code: string,
    messages: (code: string) => ChatMessage[],
    models: readonly ChatModel[],
    maxTokens: number,
    answerIsSelection: boolean,
): SelectionCheck {
    const empty = messages('');
    return checkSelection({
        what,
        chars: code.length,
        lines: code.split('\n').length,
        maxTokens,
        answerIsSelection,
        models: models.map((m) => {
            let tokens = TEMPLATE_TOKENS_PER_MESSAGE * empty.length;
            let exact = true;
            for (const msg of empty) {
                const c = m.count(msg.content);
                tokens += c.tokens;
                exact &&= c.exact;
            }
            return { modelId: m.modelId, contextSize: m.contextSize, overhead: { tokens, exact }, selection: m.count(code) };
        }),
    });
}

function fence(code: string, languageId: string): string {
    const ticks = code.includes('```') ? '~~~~' : '```';
    return `${ticks}${languageId}\n${code}\n${ticks}`;
}

export function explainMessages(code: string, languageId: string, fileName: string): ChatMessage[] {
    return [
        {
            role: 'system',
            content: 'You are Zeta, a coding assistant inside VS Code. Explain code clearly and concisely in Markdown: what it does, how it does it, and anything subtle or risky. Use short paragraphs, lists and `code` spans; no preamble.',
        },
        { role: 'user', content: `Explain this ${languageId} code from ${fileName}:\n\n${fence(code, languageId)}` },
    ];
}

export function refactorPlanMessages(code: string, languageId: string, fileName: string, goal: string | undefined): ChatMessage[] {
    const aim = goal && goal.trim() !== '' ? `The goal: ${goal.trim()}.` : 'Improve readability, structure and testability without changing behaviour.';
    return [
        {
            role: 'system',
            content: 'You are Zeta, a coding assistant inside VS Code. Write refactoring plans in Markdown: a one-line summary, then numbered steps, each small and safe, naming the functions or lines it touches, with risks and how to test each step. No full rewrites.',
        },
        { role: 'user', content: `Plan a refactor of this ${languageId} code from ${fileName}. ${aim}\n\n${fence(code, languageId)}` },
    ];
}

export function editMessages(code: string, languageId: string, instruction: string): ChatMessage[] {
    return [
        {
            role: 'system',
            content: 'You are Zeta, a code editor. Rewrite the code the user gives you as instructed. Reply with the complete rewritten code only, in one fenced code block, with no explanation before or after. Keep the original indentation and style.',
        },
        { role: 'user', content: `Instruction: ${instruction.trim()}\n\n${fence(code, languageId)}` },
    ];
}

/**
 * The code in an edit answer: the first fenced block when there is one (a missing closing fence
 * takes the rest), else the whole answer. The result keeps the original's trailing newline (or
 * lack of one) so the edit does not eat or add a line break.
 */
export function extractEditedCode(answer: string, original: string): string {
    let code = answer;
    const open = /^[ \t]*(```+|~~~+)[^\n]*\n/m.exec(answer);
    if (open) {
        const rest = answer.slice(open.index + open[0].length);
        const close = new RegExp(`^[ \\t]*${open[1]}[ \\t]*$`, 'm').exec(rest);
        code = close ? rest.slice(0, close.index) : rest;
    }
    code = code.replace(/\s+$/, '');
    const trailing = /\r?\n$/.exec(original)?.[0] ?? '';
    return code + trailing;
}
