/**
 * Chat prompts for Explain Selection, Plan Refactor and Edit Selection, and the parsing of an
 * edit's answer. Pure (no vscode). Selections are capped so that prompt + answer fit a model's
 * context; the cap is in characters (about 3 per token for code).
 */
import type { ChatMessage } from '../core/backend';

export const MAX_SELECTION_CHARS = 9000;

function fence(code: string, languageId: string): string {
    const ticks = code.includes('```') ? '~~~~' : '```';
    return `${ticks}${languageId}\n${code}\n${ticks}`;
}

function capped(code: string): { code: string; note: string } {
    if (code.length <= MAX_SELECTION_CHARS) return { code, note: '' };
    return { code: code.slice(0, MAX_SELECTION_CHARS), note: `\n(The selection was cut to its first ${MAX_SELECTION_CHARS} characters.)` };
}

export function explainMessages(code: string, languageId: string, fileName: string): ChatMessage[] {
    const c = capped(code);
    return [
        {
            role: 'system',
            content: 'You are Zeta, a coding assistant inside VS Code. Explain code clearly and concisely in Markdown: what it does, how it does it, and anything subtle or risky. Use short paragraphs, lists and `code` spans; no preamble.',
        },
        { role: 'user', content: `Explain this ${languageId} code from ${fileName}:\n\n${fence(c.code, languageId)}${c.note}` },
    ];
}

export function refactorPlanMessages(code: string, languageId: string, fileName: string, goal: string | undefined): ChatMessage[] {
    const c = capped(code);
    const aim = goal && goal.trim() !== '' ? `The goal: ${goal.trim()}.` : 'Improve readability, structure and testability without changing behaviour.';
    return [
        {
            role: 'system',
            content: 'You are Zeta, a coding assistant inside VS Code. Write refactoring plans in Markdown: a one-line summary, then numbered steps, each small and safe, naming the functions or lines it touches, with risks and how to test each step. No full rewrites.',
        },
        { role: 'user', content: `Plan a refactor of this ${languageId} code from ${fileName}. ${aim}\n\n${fence(c.code, languageId)}${c.note}` },
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
