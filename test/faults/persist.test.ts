/**
 * Faults in the router's persisted files (learned feedback, learned speeds), on a real temporary
 * folder through the real file store (createFileTextStore: temporary file, fsync, rename), with
 * the router on the fake backend and a virtual clock. Faults are real where this machine allows
 * (bytes on disk, a real ENOSPC from /dev/full, chmod when not root) and injected otherwise (an
 * fs whose writes fail part-way with ENOSPC, or are refused with EACCES / EROFS).
 *
 * Every case ends the same way: the previous file is still valid (or, when it was the problem,
 * moved aside byte for byte), the problem was logged once with what to do, and the router still
 * serves a completion.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFeedback } from '../../src/core/router/feedback';
import { MAX_STORED_CHARS } from '../../src/core/router/persist';
import { parseSpeeds } from '../../src/core/router/speeds';
import { createFileTextStore } from '../../src/core/router/textFileStore';
import type { TextStore } from '../../src/core/tasks';
import { completion, makeFixture, submit, words, type Fixture } from '../unit/router/helpers';
import { FaultyFs, permissionsIgnored, until } from './support/filesFaults';

type Which = 'feedback' | 'speeds';

/** A store that counts saves that have settled (either way), so a test can wait for one. */
function observed(inner: TextStore): TextStore & { settled: number } {
    const s = {
        settled: 0,
        load: () => inner.load(),
        setAside: (reason: string) => inner.setAside(reason),
        save: (data: string) =>
            inner.save(data).finally(() => {
                s.settled++;
            }),
    };
    return s;
}

function start(which: Which, store: TextStore): Fixture {
    return makeFixture({ ...(which === 'feedback' ? { store } : { speedStore: store }), settings: { levers: { holdSupersedable: false } } });
}

/** Virtual time and real I/O, in turns. */
const tick = (f: Fixture) => () => f.clock.advance(20);

/** Serves one completion (the router is ready only once its stores were read). */
async function serve(f: Fixture, doc = 'a.ts'): Promise<string> {
    const c = submit(f, completion(doc, words(40), 8));
    await until(() => c.outcome !== undefined, 'a completion to settle', tick(f));
    assert.ok(c.outcome?.ok, `the router serves: ${c.outcome && !c.outcome.ok ? String(c.outcome.error) : ''}`);
    return c.outcome.value.modelId;
}

/** Something the store keeps changes: an accepted completion (feedback), or a measured one (speeds). */
async function learn(which: Which, f: Fixture, n: number): Promise<void> {
    if (which === 'feedback') f.router.feedback({ modelId: 'coder', kind: 'completion', event: 'accepted' });
    else await serve(f, `learn${n}.ts`);
}

/** Runs until the debounced save that `learn` scheduled has settled. */
async function saved(f: Fixture, store: { settled: number }, before: number): Promise<void> {
    await until(() => store.settled > before, 'a save to settle', () => f.clock.advance(500));
}

function parse(which: Which, text: string): unknown {
    return which === 'feedback' ? parseFeedback(text) : parseSpeeds(text);
}

/** A valid file of `which`, written by a real session. */
async function validFile(which: Which, file: string): Promise<string> {
    const store = observed(createFileTextStore(file, new FaultyFs()));
    const f = start(which, store);
    await serve(f);
    await learn(which, f, 0);
    await f.router.dispose();
    const text = await fsp.readFile(file, 'utf8');
    parse(which, text);
    return text;
}

const warnings = (f: Fixture, which: Which): string[] => f.log.warn.filter((w) => w.startsWith(`${which}:`));

describe('faults: the router\'s persisted files (feedback, speeds)', function () {
    this.timeout(60_000);
    let dir: string;
    beforeEach(async () => {
        dir = await fsp.mkdtemp(join(tmpdir(), 'zeta-persist-faults-'));
    });
    afterEach(async () => {
        await fsp.chmod(dir, 0o700).catch(() => undefined);
        await fsp.rm(dir, { recursive: true, force: true });
    });

    for (const which of ['feedback', 'speeds'] as const) {
        describe(`${which}.json`, () => {
            const file = (): string => join(dir, `${which}.json`);

            const corrupt: Array<[string, (valid: string) => Uint8Array]> = [
                ['random bytes with NULs and invalid UTF-8', () => Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)],
                ['a valid file cut in half', (valid) => Buffer.from(valid.slice(0, Math.floor(valid.length / 2)))],
                ['an empty file', () => new Uint8Array(0)],
                ['JSON of the wrong shape (an array)', () => Buffer.from('[{"version":1}]')],
                ['JSON of the wrong shape (models is a string)', () => Buffer.from('{"version":1,"models":"coder"}')],
                ['JSON with negative or non-numeric values', () => Buffer.from(which === 'feedback' ? '{"version":1,"models":{"coder":{"completion":{"shown":-1,"accepted":"2","dismissed":0}}}}' : '{"version":1,"models":{"k":{"seq":1,"speeds":{"decodeMsPerToken":-5}}}}')],
                ['a "__proto__" key (would change every object\'s prototype)', () => Buffer.from('{"version":1,"models":{"__proto__":{"completion":{"shown":1,"accepted":1,"dismissed":0}}}}')],
                ['a huge file (more than MAX_STORED_CHARS)', () => Buffer.from(`{"version":1,"models":{},"pad":"${'x'.repeat(MAX_STORED_CHARS + 1024)}"}`)],
            ];
            for (const [name, make] of corrupt) {
                it(`corrupt on disk (${name}): set aside byte for byte, one warning, routing goes on, the next save is valid`, async () => {
                    const bad = make(await validFile(which, file()));
                    await fsp.writeFile(file(), bad);
                    const store = observed(createFileTextStore(file(), new FaultyFs()));
                    const f = start(which, store);
                    await serve(f);
                    const w = warnings(f, which);
                    assert.equal(w.length, 1, w.join('\n'));
                    assert.match(w[0], new RegExp(`set aside at ${file().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.corrupt`));
                    assert.deepEqual(new Uint8Array(await fsp.readFile(`${file()}.corrupt`)), new Uint8Array(bad), 'the bad file is kept as it was');
                    assert.equal(({} as Record<string, unknown>).completion, undefined, 'no prototype was changed');
                    await learn(which, f, 1);
                    await f.router.dispose();
                    parse(which, await fsp.readFile(file(), 'utf8'));
                    assert.deepEqual((await fsp.readdir(dir)).sort(), [`${which}.json`, `${which}.json.corrupt`]);
                });
            }

            for (const [name, plan] of [
                ['a full disk (injected: ENOSPC after 12 bytes of the temporary file)', { code: 'ENOSPC', afterBytes: 12, advice: /the disk is full/ }],
                ['a read-only folder (injected: EACCES at open)', { code: 'EACCES', afterBytes: 0, advice: /check that .* is writable/ }],
                ['a read-only file system (injected: EROFS at open)', { code: 'EROFS', afterBytes: 0, advice: /check that .* is writable/ }],
            ] as const) {
                it(`${name}: the previous file stays, no temporary file is left, one warning for many saves, then it saves again`, async () => {
                    const previous = await validFile(which, file());
                    const fs = new FaultyFs({ failWrites: { test: (p) => p.startsWith(`${file()}.tmp-`), code: plan.code, afterBytes: plan.afterBytes } });
                    const store = observed(createFileTextStore(file(), fs));
                    const f = start(which, store);
                    await serve(f);
                    for (let i = 0; i < 4; i++) {
                        const before = store.settled;
                        await learn(which, f, i);
                        await saved(f, store, before);
                        assert.equal(await fsp.readFile(file(), 'utf8'), previous, 'the previous file is unchanged');
                        assert.deepEqual(await fsp.readdir(dir), [`${which}.json`], 'no temporary file is left');
                    }
                    assert.ok(fs.writesAttempted >= 4, `${fs.writesAttempted} saves were tried`);
                    const w = warnings(f, which);
                    assert.equal(w.length, 1, `reported once: ${w.join('\n')}`);
                    assert.match(w[0], new RegExp(plan.code));
                    assert.match(w[0], plan.advice);
                    assert.match(w[0], /previous file is unchanged/);
                    await serve(f, 'still.ts');

                    fs.plan = {};
                    const before = store.settled;
                    await learn(which, f, 9);
                    await saved(f, store, before);
                    assert.ok(f.log.info.some((l) => l.startsWith(`${which}: saved again after`)), f.log.info.join('\n'));
                    await f.router.dispose();
                    const now = await fsp.readFile(file(), 'utf8');
                    assert.notEqual(now, previous);
                    parse(which, now);
                    if (which === 'feedback') {
                        const old = parseFeedback(previous).models.coder?.completion?.accepted ?? 0;
                        assert.equal(parseFeedback(now).models.coder?.completion?.accepted, old + 5, 'what was learned while the disk was full was kept in memory and saved, with the previous counts');
                    }
                    assert.equal(warnings(f, which).length, 1);
                });
            }

            it('a real full disk (the temporary file is a link to /dev/full: the kernel\'s own ENOSPC)', async function () {
                if (!existsSync('/dev/full')) {
                    this.test!.title += ' (skipped: no /dev/full on this system)';
                    this.skip();
                }
                const previous = await validFile(which, file());
                // The store's temporary names are `<file>.tmp-<pid>-<n>`, n counting its saves from 0.
                const LINKS = 16;
                for (let n = 0; n < LINKS; n++) await fsp.symlink('/dev/full', `${file()}.tmp-${process.pid}-${n}`);
                const store = observed(createFileTextStore(file(), new FaultyFs()));
                const f = start(which, store);
                await serve(f);
                for (let i = 0; i < 3; i++) {
                    const before = store.settled;
                    await learn(which, f, i);
                    await saved(f, store, before);
                }
                const w = warnings(f, which);
                assert.equal(w.length, 1, w.join('\n'));
                assert.match(w[0], /ENOSPC/);
                assert.equal(await fsp.readFile(file(), 'utf8'), previous);
                await serve(f, 'still.ts');
                await f.router.dispose();
                assert.equal(await fsp.readFile(file(), 'utf8'), previous);
                const left = (await fsp.readdir(dir)).filter((n) => n !== `${which}.json`);
                assert.equal(left.length, LINKS - store.settled, `each failed save removed its temporary file (a link): ${store.settled} saves, left ${left.join(', ')}`);
            });

            it('a real read-only folder (chmod 555)', async function () {
                if (await permissionsIgnored(dir)) {
                    this.test!.title += ' (skipped: this process ignores file permissions, e.g. root; the injected EACCES case covers it)';
                    this.skip();
                }
                const previous = await validFile(which, file());
                await fsp.chmod(dir, 0o555);
                const store = observed(createFileTextStore(file(), new FaultyFs()));
                const f = start(which, store);
                await serve(f);
                const before = store.settled;
                await learn(which, f, 0);
                await saved(f, store, before);
                const w = warnings(f, which);
                assert.equal(w.length, 1, w.join('\n'));
                assert.match(w[0], /EACCES|EPERM/);
                await f.router.dispose();
                assert.equal(await fsp.readFile(file(), 'utf8'), previous);
            });

            it('a file that cannot be read (injected EACCES) is moved aside, never overwritten; routing goes on', async () => {
                const previous = await validFile(which, file());
                const fs = new FaultyFs({ failReads: { test: (p) => p === file(), code: 'EACCES' } });
                const store = observed(createFileTextStore(file(), fs));
                const f = start(which, store);
                await serve(f);
                const w = warnings(f, which);
                assert.equal(w.length, 1, w.join('\n'));
                assert.match(w[0], /could not read .*EACCES.*set aside at .*\.corrupt/);
                assert.equal(await fsp.readFile(`${file()}.corrupt`, 'utf8'), previous, 'moved, byte for byte');
                await learn(which, f, 0);
                await f.router.dispose();
                parse(which, await fsp.readFile(file(), 'utf8'));
            });

            it('a file that cannot be read nor moved (injected EACCES on read and rename) is left alone: saves refuse, once', async () => {
                const previous = await validFile(which, file());
                const fs = new FaultyFs({ failReads: { test: (p) => p === file(), code: 'EACCES' }, failRenames: { test: (p) => p === file(), code: 'EACCES' } });
                const store = observed(createFileTextStore(file(), fs));
                const f = start(which, store);
                await serve(f);
                for (let i = 0; i < 3; i++) {
                    const before = store.settled;
                    await learn(which, f, i);
                    await saved(f, store, before);
                }
                await f.router.dispose();
                assert.equal(await fsp.readFile(file(), 'utf8'), previous, 'never overwritten');
                const w = warnings(f, which);
                assert.equal(w.length, 2, `one for the read, one for the refused saves: ${w.join('\n')}`);
                assert.match(w[0], /could not be moved aside either .* will not be overwritten/);
                assert.match(w[1], /not overwriting .*fix its permissions or move it away/);
                assert.deepEqual(await fsp.readdir(dir), [`${which}.json`]);
            });
        });
    }
});
