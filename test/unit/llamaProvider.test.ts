import { strict as assert } from 'node:assert';
import { defaultMaxThreads } from '../../src/backends/llamaProvider';

describe('llama provider defaults', () => {
    it('uses half the logical cores, never fewer than one thread', () => {
        assert.equal(defaultMaxThreads(1), 1);
        assert.equal(defaultMaxThreads(2), 1);
        assert.equal(defaultMaxThreads(3), 1);
        assert.equal(defaultMaxThreads(16), 8);
    });
});
