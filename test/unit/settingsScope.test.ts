/**
 * The settings reader takes model paths, threads and the other machine-only settings from the user
 * (or remote machine) layer alone: a workspace's value is ignored, and named, whatever the host does.
 */
import assert from 'node:assert/strict';
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
});
