/**
 * §6 of issue 20: no network listeners in the extension, no telemetry, no network access except the
 * model downloader when the user asks for it; Restricted Mode reads only what the user selects.
 *
 * Static checks over every file of src/ (and over the built bundle dist/extension.js when a build is
 * present), each exception listed with its reason. The runtime check (no listening socket after
 * real requests on the real backend) is in test/integration/security.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { MACHINE_ONLY_KEYS, SETTING_KEYS } from '../../src/core/userSettings';
import { RESTRICTED_SEARCH_REASON, searchPermission } from '../../src/core/restrictedMode';

const ROOT = join(__dirname, '../..');

function sourceFiles(dir: string): string[] {
    const out: string[] = [];
    for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
        else if (/\.(ts|js|mjs|cjs)$/.test(name)) out.push(p);
    }
    return out;
}

/** Source text without comments (parsed and printed by TypeScript), so a comment that mentions an API does not count. */
function code(text: string, file: string): string {
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
    return ts.createPrinter({ removeComments: true }).printFile(source);
}

interface Rule {
    readonly name: string;
    readonly pattern: RegExp;
    /** Files (relative to the repository) allowed to match, each with why. */
    readonly allowed: Readonly<Record<string, string>>;
    /** A line the rule must catch (checks the pattern itself). */
    readonly example: string;
}

const DOWNLOADER = 'src/backends/downloader.ts';

const RULES: readonly Rule[] = [
    { name: 'network server or listener', pattern: /\bcreateServer\s*\(|\.listen\s*\(|\bWebSocketServer\b|\bcreateSocket\s*\(/, allowed: {}, example: 'http.createServer((q, r) => r.end()).listen(8080);' },
    { name: 'network module', pattern: /(\bfrom|\brequire\(|\bimport\()\s*['"]((node:)?(net|dgram|http|https|http2|tls|dns)|ws|undici|axios|node-fetch|got|request)['"]/, allowed: {}, example: "import * as net from 'node:net';" },
    { name: 'HTTP client', pattern: /\bfetch\s*\(|\bXMLHttpRequest\b|\bWebSocket\s*\(|\bEventSource\s*\(|\bsendBeacon\s*\(/, allowed: {}, example: "const r = await fetch('https://example.com');" },
    {
        name: 'telemetry module or logger',
        pattern: /extension-telemetry|applicationinsights|createTelemetryLogger|TelemetryReporter|\bsentry\b|posthog|segment\.io/i,
        allowed: {}, example: 'const logger = vscode.env.createTelemetryLogger(sender);',
    },
    {
        name: "node-llama-cpp's downloader",
        pattern: /\bcreateModelDownloader\b|\bcombineModelDownloaders\b|\bresolveModelFile\b/,
        allowed: { [DOWNLOADER]: 'the model downloader, run only from the commands the user picks (setup.ts)' }, example: 'const d = await lib.createModelDownloader({ modelUri });',
    },
];

describe('security: no network in the extension except the downloader the user asks for', () => {
    const files = sourceFiles(join(ROOT, 'src')).map((p) => ({ rel: relative(ROOT, p).split('\\').join('/'), text: code(readFileSync(p, 'utf8'), p) }));

    it('finds the sources it scans', () => {
        assert.ok(files.length > 50, `only ${files.length} files under src/`);
        assert.ok(files.some((f) => f.rel === DOWNLOADER));
    });

    it('each rule catches its example in code, and not in a comment', () => {
        for (const rule of RULES) {
            assert.ok(rule.pattern.test(code(rule.example, 'example.ts')), `${rule.name}: ${rule.example}`);
            assert.ok(!rule.pattern.test(code(`// ${rule.example}\n/* ${rule.example} */\nexport {};`, 'example.ts')), `${rule.name} in a comment`);
        }
    });

    for (const rule of RULES) {
        it(`no ${rule.name} outside the listed exceptions`, () => {
            const hits = files.filter((f) => rule.pattern.test(f.text) && rule.allowed[f.rel] === undefined).map((f) => `${f.rel}: ${rule.pattern.exec(f.text)?.[0]}`);
            assert.deepEqual(hits, []);
            for (const allowed of Object.keys(rule.allowed)) assert.ok(files.some((f) => f.rel === allowed), `the exception ${allowed} no longer exists: remove it`);
        });
    }

    it('the downloader is reached only from the setup commands', () => {
        const importers = files.filter((f) => /from ['"](\.\.?\/)+(backends\/)?downloader['"]/.test(f.text)).map((f) => f.rel);
        assert.deepEqual(importers, ['src/vscode/setup.ts']);
    });

    it('llama.cpp is never built (a build would download its sources) and GGUF files are read from the file system only', () => {
        const provider = files.find((f) => f.rel === 'src/backends/llamaProvider.ts')!;
        assert.match(provider.text, /getLlama\(\{[\s\S]*?build: ['"]never['"]/);
        const readers = files.filter((f) => /readGgufFileInfo\(/.test(f.text));
        assert.ok(readers.length > 0);
        for (const f of readers) {
            const calls = f.text.split(/readGgufFileInfo\(/).slice(1);
            for (const call of calls) assert.match(call.slice(0, 300), /sourceType: ['"]filesystem['"]/, `${f.rel} reads GGUF metadata without sourceType 'filesystem' (it could fetch a URL)`);
        }
    });

    it('webviews open links only through the extension, for http(s) only', () => {
        // The one place a URL leaves the editor: a link the user clicks in an answer, opened by the system browser.
        const openers = files.filter((f) => /openExternal\(/.test(f.text)).map((f) => f.rel);
        assert.deepEqual(openers, ['src/vscode/answerPanel.ts']);
        assert.match(files.find((f) => f.rel === 'src/vscode/answerPanel.ts')!.text, /uri\.scheme === ['"]http['"] \|\| uri\.scheme === ['"]https['"]\)\)\s*void vscode\.env\.openExternal/);
    });

    it('the built bundle requires no network module and has no network call outside the WebAssembly loader', function () {
        const bundle = join(ROOT, 'dist/extension.js');
        if (!existsSync(bundle)) this.skip(); // Not built yet (npm run build): the sources above are checked regardless.
        const text = readFileSync(bundle, 'utf8');
        const required = new Set([...text.matchAll(/\brequire\("([^"]+)"\)|\bimport\("([^"]+)"\)/g)].map((m) => m[1] ?? m[2]));
        const network = [...required].filter((m) => /^(node:)?(net|dgram|http|https|http2|tls|dns)$|^(ws|undici|axios|node-fetch|got)$/.test(m));
        assert.deepEqual(network, []);
        assert.ok(required.has('node-llama-cpp'), 'node-llama-cpp is loaded at run time, not bundled');
        // esbuild marks each bundled module with a "// path" line; a network API may appear only in
        // the Emscripten loader of @vscode/tree-sitter-wasm, whose browser branch (XMLHttpRequest,
        // fetch) never runs in the Node extension host (the grammars are read from dist/tree-sitter).
        const sections = text.split(/^\/\/ ((?:node_modules|src)\/\S+)$/m);
        const hits: string[] = [];
        for (let i = 1; i < sections.length; i += 2) {
            const name = sections[i];
            if (name === 'node_modules/@vscode/tree-sitter-wasm/wasm/tree-sitter.js') continue;
            const m = /\bfetch\s*\(|\bXMLHttpRequest\b|\bcreateServer\s*\(|\bWebSocket\b|\bsendBeacon\b/.exec(sections[i + 1]);
            if (m) hits.push(`${name}: ${m[0]}`);
        }
        assert.ok(sections.length > 20, 'the bundle has esbuild module markers');
        assert.deepEqual(hits, []);
    });
});

describe('security: model paths and thread counts only from user or machine settings', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        contributes: { configuration: { properties: Record<string, { scope?: string }> } };
        capabilities?: { untrustedWorkspaces?: { supported?: unknown; description?: unknown; restrictedConfigurations?: unknown } };
    };
    const props = pkg.contributes.configuration.properties;

    it('every path, thread, GPU, context, slot and memory setting is machine-scoped, and the reader knows them all', () => {
        const resourceKeys = SETTING_KEYS.filter((k) => /\.(path|threads|gpuLayers|contextSize|slots|fimTemplate)$|^memoryBudgetMB$/.test(k));
        assert.equal(resourceKeys.length, 19);
        for (const k of resourceKeys) assert.ok(['machine', 'machine-overridable'].includes(props[`zeta.${k}`].scope ?? ''), `zeta.${k} has scope ${props[`zeta.${k}`].scope}`);
        // And the servers code is sent to: remote models come from the user layer alone (restrictedMode.ts).
        assert.equal(props['zeta.remoteModels'].scope, 'machine');
        assert.deepEqual([...MACHINE_ONLY_KEYS].sort(), [...resourceKeys, 'remoteModels'].sort());
    });

    it('Restricted Mode is supported in part: the manifest says what works and restricts every other setting that sets how much work is done', () => {
        const u = pkg.capabilities?.untrustedWorkspaces;
        assert.equal(u?.supported, 'limited');
        assert.match(String(u?.description), /Restricted Mode/);
        assert.ok(Array.isArray(u?.restrictedConfigurations));
        const restricted = new Set(u.restrictedConfigurations as string[]);
        // What a workspace may still set in Restricted Mode: turning features off or on (each reads
        // only what the user selects, except search, which waits for trust anyway) and the debounce.
        const harmless = (k: string): boolean => k.startsWith('features.') || k.startsWith('completion.debounce');
        for (const k of SETTING_KEYS) {
            if (MACHINE_ONLY_KEYS.includes(k) || harmless(k)) continue;
            assert.ok(restricted.has(`zeta.${k}`), `zeta.${k} is neither machine-scoped nor restricted`);
        }
        for (const k of restricted) assert.ok(props[k] !== undefined, `${k} is not a Zeta setting`);
    });

    it('search waits for trust: refused with the reason and an offer to trust; allowed once trusted', () => {
        const untrusted = searchPermission({ searchEnabled: true, trusted: false, folders: 1 });
        assert.deepEqual(untrusted, { allowed: false, reason: RESTRICTED_SEARCH_REASON, offerTrust: true });
        assert.match(RESTRICTED_SEARCH_REASON, /until you trust it/);
        assert.deepEqual(searchPermission({ searchEnabled: true, trusted: true, folders: 1 }), { allowed: true });
        const off = searchPermission({ searchEnabled: false, trusted: false, folders: 1 });
        assert.equal(off.allowed, false);
        assert.equal(!off.allowed && off.setting, 'features.search');
        assert.equal(searchPermission({ searchEnabled: true, trusted: true, folders: 0 }).allowed, false);
    });
});
