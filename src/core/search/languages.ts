/**
 * The language of a workspace file, from its name: VS Code's language ids, so that a language id
 * from the editor and one from a file name mean the same thing to the chunker and the parser.
 * Unknown names give undefined (the chunker then cuts line windows).
 */

/** Extension (lower case, with the dot) -> VS Code language id. */
const BY_EXTENSION: ReadonlyMap<string, string> = new Map([
    ...pairs('typescript', '.ts', '.mts', '.cts'),
    ...pairs('typescriptreact', '.tsx'),
    ...pairs('javascript', '.js', '.mjs', '.cjs'),
    ...pairs('javascriptreact', '.jsx'),
    ...pairs('python', '.py', '.pyi', '.pyw'),
    ...pairs('go', '.go'),
    ...pairs('rust', '.rs'),
    ...pairs('java', '.java'),
    ...pairs('csharp', '.cs'),
    ...pairs('cpp', '.cpp', '.cc', '.cxx', '.c++', '.hpp', '.hh', '.hxx', '.h++', '.ipp', '.tpp'),
    ...pairs('c', '.c', '.h'),
    ...pairs('ruby', '.rb', '.rake', '.gemspec'),
    ...pairs('php', '.php', '.phtml'),
    ...pairs('shellscript', '.sh', '.bash', '.zsh', '.ksh'),
    ...pairs('kotlin', '.kt', '.kts'),
    ...pairs('swift', '.swift'),
    ...pairs('scala', '.scala', '.sc'),
    ...pairs('lua', '.lua'),
    ...pairs('dart', '.dart'),
    ...pairs('elixir', '.ex', '.exs'),
    ...pairs('haskell', '.hs'),
    ...pairs('perl', '.pl', '.pm'),
    ...pairs('r', '.r'),
    ...pairs('sql', '.sql'),
    ...pairs('vue', '.vue'),
    ...pairs('svelte', '.svelte'),
    ...pairs('html', '.html', '.htm'),
    ...pairs('css', '.css'),
    ...pairs('scss', '.scss'),
    ...pairs('less', '.less'),
    ...pairs('markdown', '.md', '.markdown', '.mdx'),
    ...pairs('restructuredtext', '.rst'),
    ...pairs('plaintext', '.txt'),
    ...pairs('json', '.json'),
    ...pairs('jsonc', '.jsonc'),
    ...pairs('yaml', '.yaml', '.yml'),
    ...pairs('toml', '.toml'),
    ...pairs('ini', '.ini', '.cfg'),
    ...pairs('xml', '.xml', '.xsd', '.csproj', '.props'),
    ...pairs('powershell', '.ps1', '.psm1'),
    ...pairs('dockerfile', '.dockerfile'),
]);

/** Whole file names (lower case) whose language the extension does not tell. */
const BY_NAME: ReadonlyMap<string, string> = new Map([
    ['dockerfile', 'dockerfile'],
    ['makefile', 'makefile'],
    ['gnumakefile', 'makefile'],
    ['rakefile', 'ruby'],
    ['gemfile', 'ruby'],
    ['.bashrc', 'shellscript'],
    ['.zshrc', 'shellscript'],
    ['.profile', 'shellscript'],
    ['tsconfig.json', 'jsonc'],
    ['jsconfig.json', 'jsonc'],
]);

function pairs(language: string, ...extensions: string[]): Array<[string, string]> {
    return extensions.map((e) => [e, language]);
}

/** The language id of a workspace-relative or absolute path (either separator), or undefined. */
export function languageOf(path: string): string | undefined {
    const name = path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1).toLowerCase();
    const byName = BY_NAME.get(name);
    if (byName) return byName;
    const dot = name.lastIndexOf('.');
    return dot > 0 ? BY_EXTENSION.get(name.slice(dot)) : undefined;
}
