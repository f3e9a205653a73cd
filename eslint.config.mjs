// ESLint flat config. Two architectural rules are errors: src/core never imports 'vscode' (nor
// node-llama-cpp), and only src/backends imports node-llama-cpp. Promises are never left floating.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
    { ignores: ['dist/**', 'out/**', 'node_modules/**', 'tools/**', '.vscode-test/**', '.zeta/**', 'demo/**', 'media/**/*.js', '**/*.mjs'] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ['**/*.ts'],
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        rules: {
            '@typescript-eslint/no-floating-promises': 'error',
            '@typescript-eslint/no-misused-promises': 'error',
            '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
            'no-restricted-imports': ['error', { paths: [{ name: 'node-llama-cpp', message: 'Only src/backends imports node-llama-cpp.' }] }],
        },
    },
    {
        files: ['src/core/**/*.ts'],
        rules: {
            'no-restricted-imports': ['error', {
                paths: [
                    { name: 'vscode', message: 'src/core never imports vscode: talk to the editor through interfaces.' },
                    { name: 'node-llama-cpp', message: 'Only src/backends imports node-llama-cpp.' },
                ],
            }],
        },
    },
    {
        // CommonJS helper scripts (mocha reporter).
        files: ['**/*.cjs'],
        languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly' } },
        rules: { '@typescript-eslint/no-require-imports': 'off' },
    },
    {
        files: ['src/backends/**/*.ts', 'test/integration/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
        rules: { 'no-restricted-imports': 'off' },
    },
);
