/**
 * §6 of issue 20: no network listeners in the extension, no telemetry, no network access except the
 * model downloader when the user asks for it; Restricted Mode reads only what the user selects.
 * Issue 21 adds one client: the remote backends (src/backends/remote/) speak HTTP through `fetch`,
 * only to the URLs the user configured in zeta.remoteModels (spec.remote.url); still no listener,
 * no network module, no telemetry anywhere.
 *
 * Static checks over every file of src/ (and over the built bundle dist/extension.js when a build is
 * present), each exception listed with its reason. The runtime check (no listening socket after
 * real requests on the real backend) is in test/integration/security.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { MACHINE_ONLY_KEYS, SETTING_KEYS, parseSettings, toModelSpecs } from '../../src/core/userSettings';
import type { ModelBackend, ModelSpec } from '../../src/core/backend';
import { SystemClock } from '../../src/core/clock';
import { createBackendFactory } from '../../src/backends';
import type { Fetch } from '../../src/backends/remote/http';
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
    /** Files (relative to the repository), or folders ending in '/', allowed to match, each with why. */
    readonly allowed: Readonly<Record<string, string>>;
    /** A line the rule must catch (checks the pattern itself). */
    readonly example: string;
}

const DOWNLOADER = 'src/backends/downloader.ts';
/** The remote engines' backends: the only HTTP client, to URLs from `spec.remote.url` alone. */
const REMOTE = 'src/backends/remote/';
const REMOTE_WHY = 'the remote backends, which call only the engines the user configured (zeta.remoteModels: spec.remote.url)';

function allowedBy(allowed: Readonly<Record<string, string>>, rel: string): boolean {
    return Object.keys(allowed).some((a) => (a.endsWith('/') ? rel.startsWith(a) : rel === a));
}

const RULES: readonly Rule[] = [
    { name: 'network server or listener', pattern: /\bcreateServer\s*\(|\.listen\s*\(|\bWebSocketServer\b|\bcreateSocket\s*\(/, allowed: {}, example: 'http.createServer((q, r) => r.end()).listen(8080);' },
    { name: 'network module', pattern: /(\bfrom|\brequire\(|\bimport\()\s*['"]((node:)?(net|dgram|http|https|http2|tls|dns)|ws|undici|axios|node-fetch|got|request)['"]/, allowed: {}, example: "import * as net from 'node:net';" },
    {
        name: 'HTTP client',
        // `fetch)(` too: `(options.fetch ?? fetch)(url)` calls the global one.
        pattern: /\bfetch\s*\)?\s*\(|\bXMLHttpRequest\b|\bWebSocket\s*\(|\bEventSource\s*\(|\bsendBeacon\s*\(/,
        allowed: { [REMOTE]: REMOTE_WHY },
        example: "const r = await (custom ?? fetch)('https://example.com');",
    },
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

const NETWORK_GLOBALS = new Set(['fetch', 'XMLHttpRequest', 'WebSocket', 'EventSource']);
const GLOBAL_OBJECTS = new Set(['globalThis', 'global', 'window', 'self']);

/**
 * Uses of a network global in `text`: any identifier `fetch` (etc.) that is not a property's or a
 * declaration's own name, and `globalThis.fetch` / `globalThis['fetch']`. A local binding of that name
 * counts when used (conservative: rename it).
 */
function networkGlobalUses(text: string, file: string): string[] {
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
    const out: string[] = [];
    const isOwnName = (node: ts.Identifier): boolean => {
        const p = node.parent;
        if (ts.isPropertyAccessExpression(p) && p.name === node) return true;
        if ((ts.isPropertyAssignment(p) || ts.isPropertySignature(p) || ts.isPropertyDeclaration(p) || ts.isMethodDeclaration(p) || ts.isMethodSignature(p)) && p.name === node) return true;
        if ((ts.isParameter(p) || ts.isVariableDeclaration(p) || ts.isFunctionDeclaration(p) || ts.isBindingElement(p)) && p.name === node) return true;
        if (ts.isBindingElement(p) && p.propertyName === node) return true;
        return false;
    };
    const visit = (node: ts.Node): void => {
        if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && GLOBAL_OBJECTS.has(node.expression.text) && NETWORK_GLOBALS.has(node.name.text)) {
            out.push(node.getText(source));
            return;
        }
        if (ts.isElementAccessExpression(node) && ts.isIdentifier(node.expression) && GLOBAL_OBJECTS.has(node.expression.text) && ts.isStringLiteralLike(node.argumentExpression) && NETWORK_GLOBALS.has(node.argumentExpression.text)) {
            out.push(node.getText(source));
            return;
        }
        if (ts.isIdentifier(node) && NETWORK_GLOBALS.has(node.text) && !isOwnName(node)) out.push(node.text);
        ts.forEachChild(node, visit);
    };
    visit(source);
    return out;
}

/** String and template literals in `text` that begin with a web address (a request's target written into code). */
function urlLiterals(text: string, file: string): string[] {
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
    const out: string[] = [];
    const visit = (node: ts.Node): void => {
        if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node)) && /^(https?|wss?):\/\//i.test(node.text)) out.push(node.text);
        ts.forEachChild(node, visit);
    };
    visit(source);
    return out;
}

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
            const hits = files.filter((f) => rule.pattern.test(f.text) && !allowedBy(rule.allowed, f.rel)).map((f) => `${f.rel}: ${rule.pattern.exec(f.text)?.[0]}`);
            assert.deepEqual(hits, []);
            for (const allowed of Object.keys(rule.allowed)) assert.ok(files.some((f) => allowedBy({ [allowed]: '' }, f.rel) && rule.pattern.test(f.text)), `the exception ${allowed} no longer matches: remove it`);
        });
    }

    it('no reference to a network global (fetch, XMLHttpRequest, WebSocket, EventSource) outside the remote backends, however it is called', () => {
        // The regular expressions above see calls; this sees any use of the global itself (passed on,
        // aliased, reached through globalThis), so an HTTP client cannot slip in under another name.
        assert.deepEqual(networkGlobalUses('const f = globalThis.fetch; const g = fetch; call({ fetch }); new WebSocket(u); globalThis["fetch"](u);', 'x.ts'), [
            'globalThis.fetch',
            'fetch',
            'fetch',
            'WebSocket',
            'globalThis["fetch"]',
        ]);
        assert.deepEqual(networkGlobalUses('const o = { fetch: 1 }; o.fetch(u); function f(fetch: F) {} interface I { fetch(): void }', 'x.ts'), []);
        const hits = files.flatMap((f) => (f.rel.startsWith(REMOTE) ? [] : networkGlobalUses(f.text, f.rel).map((u) => `${f.rel}: ${u}`)));
        assert.deepEqual(hits, []);
        assert.ok(files.some((f) => f.rel.startsWith(REMOTE) && networkGlobalUses(f.text, f.rel).includes('fetch')), 'the remote backends use the global fetch (the exception is still needed)');
    });

    it('no URL is written into the code that makes requests: the remote backends and the core take every address from settings', () => {
        const literals = (f: { rel: string; text: string }) => urlLiterals(f.text, f.rel).map((u) => `${f.rel}: ${u}`);
        assert.deepEqual(urlLiterals('const a = "http://evil.example/x"; const b = `https://${host}/v1`; const c = "see http://x in a message";', 'x.ts'), ['http://evil.example/x', 'https://']);
        const hits = files.filter((f) => f.rel.startsWith(REMOTE) || f.rel.startsWith('src/core/') || f.rel.startsWith('src/vscode/') || f.rel === 'src/backends/index.ts').flatMap(literals);
        assert.deepEqual(hits, []);
    });

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
        // fetch) never runs in the Node extension host (the grammars are read from dist/tree-sitter),
        // and `fetch` in the remote backends' modules (src/backends/remote/*.ts: the same files the
        // source checks above allow; never a server, socket or other client there either).
        const sections = text.split(/^\/\/ ((?:node_modules|src)\/\S+)$/m);
        const hits: string[] = [];
        for (let i = 1; i < sections.length; i += 2) {
            const name = sections[i];
            if (name === 'node_modules/@vscode/tree-sitter-wasm/wasm/tree-sitter.js') continue;
            const client = name.startsWith(REMOTE) ? '' : '\\bfetch\\s*\\)?\\s*\\(|';
            const m = new RegExp(`${client}\\bXMLHttpRequest\\b|\\bcreateServer\\s*\\(|\\.listen\\s*\\(|\\bWebSocket\\b|\\bEventSource\\b|\\bsendBeacon\\b`).exec(sections[i + 1]);
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

/** One request a backend sent: where, and with which credentials. */
interface SentRequest {
    readonly url: string;
    readonly authorization: string | undefined;
}

/**
 * A stand-in engine at any address: records every request, and answers each path the two remote
 * APIs use with a small well-formed reply (a generation as a one-event stream), so the backends get
 * past inspection and loading to their polls and calls. Its answers only keep the backends going:
 * what is checked is where the requests went.
 */
function recordingFetch(sent: SentRequest[]): Fetch {
    const json = (body: unknown): Response => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    const sse = (events: readonly unknown[]): Response =>
        new Response(events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join(''), { status: 200, headers: { 'content-type': 'text/event-stream' } });
    return (async (input: string | URL | Request, init?: RequestInit) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        const headers = new Headers(init?.headers);
        sent.push({ url, authorization: headers.get('authorization') ?? undefined });
        const path = new URL(url).pathname.replace(/^\/proxy/, '');
        switch (path) {
            case '/props':
                return json({ model_path: '/models/coder.gguf', total_slots: 2, default_generation_settings: { n_ctx: 2048 }, chat_template: '{{ messages }}' });
            case '/v1/models':
                return json({ object: 'list', data: [{ id: 'coder.gguf', object: 'model', meta: { n_embd: 8, n_ctx_train: 2048 } }] });
            case '/tokenize':
                return json({ tokens: [1, 2, 3] });
            case '/health':
                return json({ status: 'ok' });
            case '/slots':
                return json([]);
            case '/metrics':
                return new Response('', { status: 200, headers: { 'content-type': 'text/plain' } });
            case '/infill':
            case '/completion':
                return sse([{ content: 'x', stop: true, tokens_evaluated: 3, tokens_predicted: 1 }]);
            case '/v1/completions':
                return sse([{ choices: [{ index: 0, text: 'x', finish_reason: 'stop' }] }, '[DONE]']);
            case '/v1/chat/completions':
                return sse([{ choices: [{ index: 0, delta: { content: 'x' }, finish_reason: 'stop' }] }, '[DONE]']);
            case '/embeddings':
            case '/v1/embeddings':
                return json({ data: [{ index: 0, embedding: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] }] });
            default:
                return new Response('not found', { status: 404 });
        }
    }) as Fetch;
}

/** Every call of the contract once, each failure ignored (only the requests matter here), then unload. */
async function exercise(backend: ModelBackend, spec: ModelSpec): Promise<void> {
    const signal = new AbortController().signal;
    const ignore = (): undefined => undefined;
    await backend.inspect(spec, signal).catch(ignore);
    await backend.load(spec, signal).catch(ignore);
    await backend.generate({ mode: 'fim', prefix: 'def add(a, b):\n    return ', suffix: '\n', maxTokens: 2 }, signal).catch(ignore);
    await backend.generate({ mode: 'raw', prompt: 'x = ', maxTokens: 2 }, signal).catch(ignore);
    await backend.chat({ messages: [{ role: 'user', content: 'hi' }], maxTokens: 2 }, signal).catch(ignore);
    await backend.embed(['text'], signal).catch(ignore);
    backend.countTokens('some text');
    // Let the load polls run a few rounds.
    await new Promise((resolve) => setTimeout(resolve, 60));
    await backend.unload();
}

describe('security: requests go only to the URLs the user configured', () => {
    it('each remote backend calls only its own spec.remote.url, and sends its key only there; local specs make no request', async () => {
        const parsed = parseSettings({
            'models.coder.path': '/models/local-coder.gguf',
            remoteModels: [
                { id: 'a', url: 'http://engine-a.test:8080/', api: 'llama-server', roles: ['coder', 'embedder'] },
                { id: 'b', url: 'https://engine-b.test/proxy/v1', api: 'openai', roles: ['coder', 'reasoner'], model: 'coder.gguf' },
            ],
        });
        assert.deepEqual(parsed.problems, []);
        const keys: Record<string, string> = { a: 'key-of-a', b: 'key-of-b' };
        const specs = toModelSpecs(parsed.settings, (id) => keys[id]);
        const remote = specs.filter((s) => s.remote);
        assert.deepEqual(remote.map((s) => s.id), ['a:coder', 'b:coder', 'b:reasoner', 'a:embedder']);

        const sent: SentRequest[] = [];
        const clock = new SystemClock();
        const factory = createBackendFactory({
            runtime: () => Promise.reject(new Error('no llama.cpp in this test')),
            clock,
            turns: false,
            remote: { fetch: recordingFetch(sent), pollIntervalMs: 10 },
        });
        const made = specs.map((spec) => ({ spec, backend: factory(spec) }));
        assert.equal(sent.length, 0, 'making a backend contacts nothing: only inspecting or loading a model does');

        for (const { spec, backend } of made.filter((m) => m.spec.remote)) {
            const before = sent.length;
            await exercise(backend, spec);
            const mine = sent.slice(before);
            const base = spec.remote!.url;
            assert.ok(mine.length >= 3, `${spec.id}: only ${mine.length} request(s): the stand-in engine did not get the backend going`);
            for (const r of mine) {
                assert.ok(r.url.startsWith(`${base}/`), `${spec.id} (${base}) sent a request to ${r.url}`);
                assert.equal(r.authorization, `Bearer ${keys[spec.id.split(':')[0]]}`, `${spec.id}: ${r.url} without its own key`);
            }
            assert.ok(
                mine.some((r) => /\/(infill|completion|completions|chat\/completions|embeddings)$/.test(new URL(r.url).pathname)),
                `${spec.id}: no generation or embedding request was sent (${[...new Set(mine.map((r) => new URL(r.url).pathname))].join(', ')})`,
            );
        }
        const hosts = new Set(sent.map((r) => new URL(r.url).host));
        assert.deepEqual([...hosts].sort(), ['engine-a.test:8080', 'engine-b.test']);

        // The local model's backend is llama.cpp's: no request, whatever it is asked.
        const local = made.find((m) => !m.spec.remote)!;
        const before = sent.length;
        await local.backend.inspect(local.spec, new AbortController().signal).catch(() => undefined);
        assert.equal(sent.length, before);
        assert.ok(!local.backend.remoteLoad, 'the local model got a remote backend');
    });
});
