/**
 * The settings reader takes model paths, threads and the other machine-only settings from the user
 * (or remote machine) layer alone: a workspace's value is ignored, and named, whatever the host does.
 */
import assert from 'node:assert/strict';
import { remoteModelsFromLayers } from '../../src/core/restrictedMode';
import { MACHINE_ONLY_KEYS, SETTING_KEYS, parseSettings, rawSettingsFromLayers, type SettingLayers } from '../../src/core/userSettings';

describe('settings reader: machine-only settings', () => {
    it('a workspace cannot choose a model file, threads or the memory budget; other settings resolve as VS Code resolves them', () => {
        const layers: Record<string, SettingLayers> = {
            'models.coder.path': { value: '/evil/model.gguf', globalValue: '/home/me/coder.gguf', workspaceValue: '/evil/model.gguf' },
            'models.coder.threads': { value: 64, workspaceFolderValue: 64 },
            memoryBudgetMB: { value: 999_999, globalValue: 8192, workspaceValue: 999_999 },
            chatMaxTokens: { value: 300, globalValue: 768, workspaceValue: 300 },
        };
        const { raw, ignored } = rawSettingsFromLayers((k) => layers[k]);
        assert.equal(raw['models.coder.path'], '/home/me/coder.gguf');
        assert.equal(raw['models.coder.threads'], undefined, 'no user value: the default');
        assert.equal(raw.memoryBudgetMB, 8192);
        assert.equal(raw.chatMaxTokens, 300);
        assert.deepEqual(ignored.map((l) => l.split(':')[0]), ['zeta.models.coder.path', 'zeta.models.coder.threads', 'zeta.memoryBudgetMB']);
        assert.match(ignored[0], /the workspace sets "\/evil\/model\.gguf", which is ignored; this setting is read only from user or machine settings/);
        const parsed = parseSettings(raw);
        assert.equal(parsed.modelSpecs[0].path, '/home/me/coder.gguf');
        assert.equal(parsed.settings.models.coder.threads, 0);
        assert.equal(parsed.settings.memoryBudgetMB, 8192);
    });

    it('every key is read, and with no value anywhere every setting takes its default', () => {
        const seen: string[] = [];
        const { raw, ignored } = rawSettingsFromLayers((k) => {
            seen.push(k);
            return undefined;
        });
        assert.deepEqual(seen, [...SETTING_KEYS]);
        assert.deepEqual(ignored, []);
        assert.ok(MACHINE_ONLY_KEYS.every((k) => SETTING_KEYS.includes(k)));
        assert.deepEqual(parseSettings(raw).problems, []);
    });

    describe('remote models: only from the user layer, trusted workspace or not', () => {
        const mine = [{ id: 'team', url: 'http://gpu-box:8080', api: 'llama-server', roles: ['coder'] }];
        const theirs = [{ id: 'exfil', url: 'https://collector.example', api: 'openai', roles: ['coder', 'embedder'] }];

        for (const trusted of [true, false]) {
            it(`${trusted ? 'a trusted' : 'an untrusted (Restricted Mode)'} workspace or folder cannot add, replace or remove remote models`, () => {
                const cases: { layers: SettingLayers; expected: unknown }[] = [
                    // VS Code would resolve the workspace's value if the host ignored the machine scope: never read.
                    { layers: { value: theirs, globalValue: mine, workspaceValue: theirs }, expected: mine },
                    { layers: { value: theirs, workspaceFolderValue: theirs }, expected: undefined },
                    { layers: { value: [], globalValue: mine, workspaceValue: [] }, expected: mine },
                    { layers: { value: theirs, globalValue: mine, workspaceValue: theirs, workspaceFolderValue: theirs }, expected: mine },
                ];
                for (const c of cases) {
                    const { raw, ignored } = rawSettingsFromLayers((k) => (k === 'remoteModels' ? c.layers : undefined), trusted);
                    assert.deepEqual(raw.remoteModels, c.expected);
                    assert.equal(ignored.length, 1);
                    assert.match(ignored[0], /^zeta\.remoteModels: (the workspace|a folder) sets remote models, which are ignored \(.*only your user settings can configure them/);
                    if (!trusted) assert.match(ignored[0], /Restricted Mode/);
                    const specs = parseSettings(raw).modelSpecs;
                    assert.ok(specs.every((s) => s.remote?.url === 'http://gpu-box:8080'), JSON.stringify(specs));
                }
            });
        }

        it('the user layer is used as is in either state, and nothing is reported when the workspace sets nothing', () => {
            for (const trusted of [true, false]) {
                assert.deepEqual(remoteModelsFromLayers({ value: mine, globalValue: mine }, trusted), { value: mine });
                assert.deepEqual(remoteModelsFromLayers(undefined, trusted), { value: undefined });
                const { raw, ignored } = rawSettingsFromLayers((k) => (k === 'remoteModels' ? { value: mine, globalValue: mine } : undefined), trusted);
                assert.deepEqual(ignored, []);
                assert.deepEqual(parseSettings(raw).modelSpecs.map((s) => s.id), ['team']);
            }
        });

        it('the folder is named when a folder sets them', () => {
            const r = remoteModelsFromLayers({ globalValue: mine, workspaceFolderValue: theirs }, false);
            assert.deepEqual(r.value, mine);
            assert.match(r.ignored ?? '', /^zeta\.remoteModels: a folder sets remote models, which are ignored \(Restricted Mode/);
        });
    });
});
