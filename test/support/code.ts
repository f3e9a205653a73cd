/** Source text to build long prompts from: `n` lines of about 11 tokens each with the synthetic tokenizer. */
export function codeLines(n: number): string {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(`    const value${i} = compute(${i}, input) + offset;`);
    return `function handler(input, offset) {\n${lines.join('\n')}\n`;
}
