/**
 * `zeta.remoteModels`: each entry validated on its own (a bad one skipped with a line naming it and
 * what to fix, the rest used), each role of an entry one model spec, remote models of a role before
 * its local model, API keys only from the caller (secret storage), never from settings.
 */
import { strict as assert } from 'node:assert';
import { FakeBackend } from '../../src/backends/fakeBackend';
import type { ModelSpec } from '../../src/core/backend';
import { VirtualClock } from '../../src/core/clock';
import { ModelSet } from '../../src/core/router/models';
import { parseSettings, remoteBaseUrl, toModelSpecs, unconfiguredRoles } from '../../src/core/userSettings';

const team = { id: 'team', url: 'http://gpu-box:8080', api: 'llama-server', roles: ['coder'] };

describe('settings: remote models', () => {
    it('an entry becomes a spec per role: the URL as path, the endpoint without a key, ids suffixed by role when several', () => {
        const r = parseSettings({
            remoteModels: [team, { id: 'vllm', url: 'https://llm.example.org/v1/', api: 'openai', roles: ['reasoner', 'embedder'], model: 'qwen', identity: 'qwen3-emb.gguf 4.1GB', slots: 4, contextSize: 8192, fimTemplate: 'qwen' }],
        });
        assert.deepEqual(r.problems, []);
        assert.deepEqual(r.modelSpecs, [
            { id: 'team', role: 'coder', path: 'http://gpu-box:8080', remote: { api: 'llama-server', url: 'http://gpu-box:8080' }, contextSize: 4096, slots: 2, threads: 0, gpuLayers: 0, fimTemplate: 'auto' },
            {
                id: 'vllm:reasoner',
                role: 'reasoner',
                path: 'https://llm.example.org',
                remote: { api: 'openai', url: 'https://llm.example.org', model: 'qwen', identity: 'qwen3-emb.gguf 4.1GB' },
                contextSize: 8192,
                slots: 4,
                threads: 0,
                gpuLayers: 0,
                fimTemplate: 'qwen',
            },
            {
                id: 'vllm:embedder',
                role: 'embedder',
                path: 'https://llm.example.org',
                remote: { api: 'openai', url: 'https://llm.example.org', model: 'qwen', identity: 'qwen3-emb.gguf 4.1GB' },
                contextSize: 8192,
                slots: 4,
                threads: 0,
                gpuLayers: 0,
                fimTemplate: 'qwen',
            },
        ]);
        assert.deepEqual(unconfiguredRoles(r.settings), [], 'a role served remotely is configured');
    });

    it('a remote model comes before the local model of its role; other roles keep their local model first', () => {
        const r = parseSettings({
            'models.coder.path': '/m/coder.gguf',
            'models.reasoner.path': '/m/reasoner.gguf',
            memoryBudgetMB: 1024,
            remoteModels: [{ ...team, roles: ['coder'] }, { id: 'b', url: 'http://b:1', api: 'openai', roles: ['coder'] }],
        });
        assert.deepEqual(r.problems, []);
        assert.deepEqual(
            r.modelSpecs.map((s) => [s.id, s.role]),
            [
                ['team', 'coder'],
                ['b', 'coder'],
                ['coder', 'coder'],
                ['reasoner', 'reasoner'],
            ],
        );
        // The memory is the engine's: the user's budget applies to local files only.
        assert.deepEqual(
            r.modelSpecs.map((s) => s.memoryBudgetBytes),
            [undefined, undefined, 1024 * 1024 * 1024, 1024 * 1024 * 1024],
        );
    });

    it('API keys come from the caller (secret storage), by entry id, into every spec of the entry', () => {
        const r = parseSettings({ remoteModels: [team, { id: 'x', url: 'http://x:1', api: 'openai', roles: ['coder', 'reasoner'] }] });
        const asked: string[] = [];
        const specs = toModelSpecs(r.settings, (id) => {
            asked.push(id);
            return id === 'x' ? 'sk-123' : undefined;
        });
        assert.deepEqual(
            specs.map((s) => [s.id, s.remote?.apiKey]),
            [
                ['team', undefined],
                ['x:coder', 'sk-123'],
                ['x:reasoner', 'sk-123'],
            ],
        );
        assert.deepEqual([...new Set(asked)].sort(), ['team', 'x']);
        assert.ok(
            r.modelSpecs.every((s) => s.remote !== undefined && !('apiKey' in s.remote)),
            'parsed settings never carry a key',
        );
    });

    it('each bad entry is skipped with a line naming it and what to fix; the good ones are used', () => {
        const bad: [unknown, RegExp][] = [
            [{ ...team, id: 'ftp', url: 'ftp://host/x' }, /"ftp": "url" must start with http:\/\/ or https:\/\//],
            [{ ...team, id: 'creds', url: 'http://me:pw@host:8080' }, /"creds": "url" carries a user name or password.*Zeta: Set Remote API Key/],
            [{ ...team, id: 'query', url: 'http://host:8080/?api_key=sk-1' }, /"query": "url" has a query or fragment.*Set Remote API Key/],
            [{ ...team, id: 'keyed', apiKey: 'sk-1' }, /"keyed": "apiKey" puts a secret in settings files: remove it, and store the key with "Zeta: Set Remote API Key"/],
            [{ ...team, id: 'wrongApi', api: 'ollama' }, /"wrongApi": "api" must be "llama-server" or "openai", received "ollama"/],
            [{ ...team, id: 'noRoles', roles: [] }, /"noRoles": "roles" must list at least one of "coder", "reasoner", "embedder"/],
            [{ ...team, id: 'badRole', roles: ['coder', 'chat'] }, /"badRole": unknown role "chat"/],
            [{ ...team }, /"team": the id is already used by an earlier entry/],
            [{ ...team, id: 'coder' }, /"coder": the id "coder" is a local model's id/],
            [{ ...team, id: 'a:b' }, /"a:b": "id" must be 1-64 letters/],
            [{ url: 'http://host:1', api: 'openai', roles: ['coder'] }, /\(no id\): "id" must be/],
            [{ ...team, id: 'slots', slots: 0 }, /"slots": "slots" must be an integer from 1 to 64, received 0/],
            [{ ...team, id: 'typo', rols: ['coder'] }, /"typo": unknown field\(s\) "rols"/],
            ['http://host:8080', /"http:\/\/host:8080": expected an object/],
            [{ ...team, id: 'nourl', url: '' }, /"nourl": give "url"/],
            [{ ...team, id: 'notUrl', url: 'gpu-box:8080' }, /"notUrl": "url" must start with http/],
            [{ ...team, id: 'emptyModel', model: '' }, /"emptyModel": "model" must be a non-empty string/],
        ];
        const r = parseSettings({ remoteModels: [team, ...bad.map(([e]) => e), { ...team, id: 'last' }] });
        assert.equal(r.problems.length, bad.length, r.problems.join('\n'));
        bad.forEach(([, pattern], i) => {
            // Entry i of `bad` is entry i + 1 of the setting (the good "team" is entry 0).
            assert.ok(r.problems[i].startsWith(`zeta.remoteModels[${i + 1}] `), r.problems[i]);
            assert.match(r.problems[i], pattern);
            assert.match(r.problems[i], /this entry is skipped, the others are used$/);
        });
        assert.deepEqual(
            r.settings.remoteModels.map((m) => m.id),
            ['team', 'last'],
        );
        assert.deepEqual(
            r.modelSpecs.map((s) => s.id),
            ['team', 'last'],
        );
    });

    it('a value that is not a list keeps the previous remote models; removing the setting removes them', () => {
        const first = parseSettings({ remoteModels: [team] });
        const typo = parseSettings({ remoteModels: { id: 'team' } }, first.settings);
        assert.match(typo.problems[0], /zeta\.remoteModels: expected a list of remote models, received \{"id":"team"\}; keeping 1 remote model\(s\) as before/);
        assert.deepEqual(typo.settings.remoteModels, first.settings.remoteModels);
        const removed = parseSettings({}, first.settings);
        assert.deepEqual(removed.settings.remoteModels, []);
        assert.deepEqual(removed.modelSpecs, []);
    });

    it('base URLs: http(s) only, no credentials, query or fragment; trailing slashes and /v1 dropped, a path prefix kept', () => {
        const ok = (u: string): string | undefined => {
            const r = remoteBaseUrl(u);
            return r.ok ? r.url : undefined;
        };
        assert.equal(ok('http://127.0.0.1:8080'), 'http://127.0.0.1:8080');
        assert.equal(ok(' https://host/ '), 'https://host');
        assert.equal(ok('https://host/v1'), 'https://host');
        assert.equal(ok('https://host/proxy/llm/v1/'), 'https://host/proxy/llm');
        assert.equal(ok('http://[::1]:8080/'), 'http://[::1]:8080');
        for (const bad of ['file:///etc/passwd', 'ws://host:1', 'javascript:alert(1)', 'http://user@host', 'http://:pw@host', 'http://host/#k', 'http://host/?token=1', 'host:8080', '']) {
            assert.equal(ok(bad), undefined, bad);
        }
        assert.equal(remoteBaseUrl(42).ok, false);
    });

    it('a new, changed or cleared key gives the model a fresh backend when the router reconfigures; the same key keeps it', () => {
        const settings = parseSettings({ 'models.coder.path': '/m/coder.gguf', remoteModels: [team] }).settings;
        const made: string[] = [];
        const clock = new VirtualClock(0);
        const models = new ModelSet((spec: ModelSpec) => {
            made.push(`${spec.id}:${spec.remote?.apiKey ?? 'no key'}`);
            return new FakeBackend(clock);
        });
        const specs = (key: string | undefined): ModelSpec[] => toModelSpecs(settings, (id) => (id === 'team' ? key : undefined));
        models.reconcile(specs(undefined));
        assert.deepEqual(made, ['team:no key', 'coder:no key']);
        const steps: [string | undefined, number][] = [
            ['k1', 1], // set: the remote model's backend is replaced (the local one kept)
            ['k1', 0], // unchanged
            ['k2', 1], // replaced
            [undefined, 1], // cleared
        ];
        for (const [key, replaced] of steps) {
            const r = models.reconcile(specs(key));
            assert.equal(r.replaced.length, replaced, `key ${key}`);
            assert.ok(r.replaced.every((x) => x.model.id === 'team'));
            assert.equal(r.retire.length, 0);
        }
        assert.deepEqual(made, ['team:no key', 'coder:no key', 'team:k1', 'team:k2', 'team:no key']);
        // The entry removed from settings: its model is retired, the local one stays.
        const r = models.reconcile(toModelSpecs(parseSettings({ 'models.coder.path': '/m/coder.gguf' }).settings));
        assert.deepEqual(r.retire.map((m) => m.id), ['team']);
    });
});
