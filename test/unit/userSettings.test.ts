import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
    DEFAULT_SETTINGS,
    SETTING_KEYS,
    parseSettings,
    unconfiguredRoles,
} from '../../src/core/userSettings';
import { defaultRoutingSettings } from '../../src/core/router';

describe('settings', () => {
    it('defaults: no models, no problems, routing derived', () => {
        const r = parseSettings({});
        assert.deepEqual(r.problems, []);
        assert.deepEqual(r.modelSpecs, []);
        assert.deepEqual(r.settings, DEFAULT_SETTINGS);
        assert.equal(r.routing.policy, 'zeta');
        assert.equal(r.routing.keepAliveMs, 300_000);
        assert.equal(r.routing.taskClasses.completion.priority, 100);
        assert.equal(r.routing.memoryBudgetBytes, undefined);
        assert.deepEqual(unconfiguredRoles(r.settings), ['coder', 'reasoner', 'embedder']);
    });

    it('builds one model spec per configured role, id = role', () => {
        const r = parseSettings({
            'models.coder.path': '/m/coder.gguf',
            'models.coder.slots': 3,
            'models.coder.gpuLayers': 0,
            'models.coder.fimTemplate': 'deepseek',
            'models.reasoner.path': '/m/reasoner.gguf',
            memoryBudgetMB: 2048,
        });
        assert.deepEqual(r.problems, []);
        assert.equal(r.modelSpecs.length, 2);
        assert.deepEqual(r.modelSpecs[0], {
            id: 'coder',
            role: 'coder',
            path: '/m/coder.gguf',
            contextSize: 4096,
            slots: 3,
            threads: 0,
            gpuLayers: 0,
            fimTemplate: 'deepseek',
            memoryBudgetBytes: 2048 * 1024 * 1024,
        });
        assert.equal(r.modelSpecs[1].id, 'reasoner');
        assert.equal(r.routing.memoryBudgetBytes, 2048 * 1024 * 1024);
        assert.deepEqual(unconfiguredRoles(r.settings), ['embedder']);
    });

    it('reports a bad value naming the value received and keeps the previous good one', () => {
        const first = parseSettings({ 'models.coder.contextSize': 8192, 'routing.maxQueue': 4 });
        assert.deepEqual(first.problems, []);
        const second = parseSettings({ 'models.coder.contextSize': 'big', 'routing.maxQueue': -1 }, first.settings);
        assert.equal(second.settings.models.coder.contextSize, 8192);
        assert.equal(second.settings.routing.maxQueue, 4);
        assert.equal(second.problems.length, 2);
        assert.match(second.problems[0], /zeta\.models\.coder\.contextSize: expected an integer .* received "big"; keeping 8192/);
        assert.match(second.problems[1], /zeta\.routing\.maxQueue: .* received -1; keeping 4/);
    });

    it('a missing key returns to its default even after a previous value', () => {
        const first = parseSettings({ 'completion.maxTokens': 10 });
        const second = parseSettings({}, first.settings);
        assert.equal(second.settings.completion.maxTokens, DEFAULT_SETTINGS.completion.maxTokens);
    });

    it('rejects relative model paths and expands ~', () => {
        const r = parseSettings({ 'models.coder.path': 'models/coder.gguf', 'models.reasoner.path': '~/r.gguf' }, undefined, { HOME: '/home/u' });
        assert.equal(r.settings.models.coder.path, '');
        assert.match(r.problems[0], /zeta\.models\.coder\.path: expected an absolute path .* received "models\/coder\.gguf"; keeping ""/);
        assert.equal(r.settings.models.reasoner.path, '/home/u/r.gguf');
    });

    it('gpuLayers accepts "auto", integers and numeric strings', () => {
        assert.equal(parseSettings({ 'models.coder.gpuLayers': 'auto' }).settings.models.coder.gpuLayers, 'auto');
        assert.equal(parseSettings({ 'models.coder.gpuLayers': 12 }).settings.models.coder.gpuLayers, 12);
        assert.equal(parseSettings({ 'models.coder.gpuLayers': '33' }).settings.models.coder.gpuLayers, 33);
        const bad = parseSettings({ 'models.coder.gpuLayers': 'max' });
        assert.equal(bad.settings.models.coder.gpuLayers, 'auto');
        assert.match(bad.problems[0], /received "max"/);
    });

    it('environment variables supply model paths and threads only when settings are empty', () => {
        const env = { ZETA_CODER_MODEL: '/gen/coder.gguf', ZETA_REASONER_MODEL: '/gen/reasoner.gguf', ZETA_EMBEDDER_MODEL: '/gen/embedder.gguf', ZETA_THREADS: '1' };
        const r = parseSettings({ 'models.reasoner.path': '/mine/r.gguf', 'models.embedder.threads': 2 }, undefined, env);
        assert.deepEqual(r.problems, []);
        assert.equal(r.settings.models.coder.path, '/gen/coder.gguf');
        assert.equal(r.settings.models.reasoner.path, '/mine/r.gguf');
        assert.equal(r.settings.models.embedder.path, '/gen/embedder.gguf');
        assert.equal(r.settings.models.coder.threads, 1);
        assert.equal(r.settings.models.embedder.threads, 2);
        assert.equal(r.modelSpecs.length, 3);
    });

    it('bad environment values are reported and ignored', () => {
        const r = parseSettings({}, undefined, { ZETA_THREADS: 'many', ZETA_CODER_MODEL: 'rel.gguf' });
        assert.equal(r.settings.models.coder.threads, 0);
        assert.equal(r.settings.models.coder.path, '');
        assert.equal(r.problems.length, 2);
        assert.match(r.problems.join('\n'), /ZETA_THREADS: .*received "many"/);
        assert.match(r.problems.join('\n'), /ZETA_CODER_MODEL: .*received "rel.gguf"/);
    });

    it('per-kind objectives and priorities merge over defaults, each property validated', () => {
        const r = parseSettings({ 'routing.objectives': { completion: 2, explain: 'slow', bogus: 1 }, 'routing.priorities': { embed: 5 } });
        assert.equal(r.settings.routing.objectives.completion, 2);
        assert.equal(r.settings.routing.objectives.explain, DEFAULT_SETTINGS.routing.objectives.explain);
        assert.equal(r.settings.routing.objectives.edit, DEFAULT_SETTINGS.routing.objectives.edit);
        assert.equal(r.routing.taskClasses.completion.objectiveFactor, 2);
        assert.equal(r.routing.taskClasses.embed.priority, 5);
        assert.equal(r.problems.length, 2);
        assert.match(r.problems.join('\n'), /zeta\.routing\.objectives\.explain: .*received "slow"/);
        assert.match(r.problems.join('\n'), /unknown task kind "bogus"/);
        const notObject = parseSettings({ 'routing.priorities': 7 }, r.settings);
        assert.equal(notObject.settings.routing.priorities.embed, 5);
        assert.match(notObject.problems[0], /received 7; keeping/);
    });

    it('policy must be a known name', () => {
        const r = parseSettings({ 'routing.policy': 'fastest' });
        assert.equal(r.settings.routing.policy, 'zeta');
        assert.match(r.problems[0], /one of "static", "round-robin".* received "fastest"/);
        assert.equal(parseSettings({ 'routing.policy': 'least-busy' }).routing.policy, 'least-busy');
    });

    it('booleans and features', () => {
        const r = parseSettings({ 'features.inlineCompletions': false, 'features.explain': 'no' });
        assert.equal(r.settings.features.inlineCompletions, false);
        assert.equal(r.settings.features.explain, true);
        assert.match(r.problems[0], /zeta\.features\.explain: expected true or false, received "no"/);
    });

    it('debounce bounds must be ordered; the previous pair is kept', () => {
        const r = parseSettings({ 'completion.debounceMinMs': 900, 'completion.debounceMaxMs': 100 });
        assert.equal(r.settings.completion.debounceMinMs, DEFAULT_SETTINGS.completion.debounceMinMs);
        assert.equal(r.settings.completion.debounceMaxMs, DEFAULT_SETTINGS.completion.debounceMaxMs);
        assert.match(r.problems[0], /debounceMinMs \(900\) is above/);
    });

    it('package.json contributes exactly the settings the parser reads, model paths machine-scoped', () => {
        const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as {
            contributes: { configuration: { properties: Record<string, { scope?: string; default?: unknown }> } };
        };
        const props = pkg.contributes.configuration.properties;
        const manifestKeys = Object.keys(props).filter((k) => k.startsWith('zeta.')).map((k) => k.slice('zeta.'.length)).sort();
        assert.deepEqual(manifestKeys, [...SETTING_KEYS].sort());
        for (const role of ['coder', 'reasoner', 'embedder']) {
            assert.equal(props[`zeta.models.${role}.path`].scope, 'machine');
        }
        // Manifest defaults parse without problems and equal the parser's defaults.
        const raw: Record<string, unknown> = {};
        for (const key of SETTING_KEYS) raw[key] = props[`zeta.${key}`].default;
        const r = parseSettings(raw);
        assert.deepEqual(r.problems, []);
        assert.deepEqual(r.settings, DEFAULT_SETTINGS);
    });
});

describe('settings and the router agree on defaults', () => {
    it('default settings give exactly the router\'s default routing settings', () => {
        const d = defaultRoutingSettings();
        const r = parseSettings({}, undefined, {}, { levers: d.levers, cooldownMs: d.cooldownMs, embedBatchSize: d.embedBatchSize });
        assert.deepEqual(r.routing, d);
    });
});
