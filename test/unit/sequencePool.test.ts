import { strict as assert } from 'node:assert';
import { abortError } from '../../src/core/errors';
import { UNTAGGED_CALL } from '../../src/core/backend';
import { SequencePool, commonPrefixLength, type HeldSequence } from '../../src/backends/sequencePool';

/** A sequence as the fake backends keep one: the tokens it holds. */
interface Seq {
    tokens: string[];
}

const toks = (s: string): string[] => (s.length === 0 ? [] : s.split(' '));
const never = new AbortController().signal;

function pool(n: number): SequencePool<Seq, string> {
    return new SequencePool(
        Array.from({ length: n }, () => ({ tokens: [] as string[] })),
        (s) => s.tokens,
    );
}

/** Acquires for `key` with `prompt`, fills the sequence with the prompt and releases it with the key. */
async function serve(p: SequencePool<Seq, string>, key: string | undefined, prompt: string): Promise<number> {
    const held = await p.acquire({ key, tokens: toks(prompt) }, never);
    held.sequence.tokens = toks(prompt);
    p.release(held, key);
    return held.index;
}

/** Lets pending promise callbacks run. */
const flush = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('SequencePool', () => {
    it('commonPrefixLength counts the leading tokens two sequences share', () => {
        assert.equal(commonPrefixLength(toks('a b c'), toks('a b d')), 2);
        assert.equal(commonPrefixLength(toks('a b'), toks('a b c')), 2);
        assert.equal(commonPrefixLength([], toks('a')), 0);
        assert.equal(commonPrefixLength(toks('x'), toks('a')), 0);
    });

    it('a call with a key takes its key’s sequence back, and only the latest release keeps a key', async () => {
        const p = pool(2);
        const a = await serve(p, 'a', 'x y z');
        const b = await serve(p, 'b', 'x y');
        assert.notEqual(a, b);
        assert.equal(await serve(p, 'a', 'x y z w'), a);
        assert.deepEqual(p.holding('a')?.tokens, toks('x y z w'));
        assert.deepEqual(p.holding('b')?.tokens, toks('x y'));
        assert.equal(p.holding('c'), undefined);
        // Released with b's key from a's sequence: b's older sequence no longer keeps it.
        const held = await p.acquire({ key: 'a', tokens: [] }, never);
        p.release(held, 'b');
        assert.equal(p.holding('a'), undefined);
        assert.equal(p.holding('b'), held.sequence);
        p.forgetKeys();
        assert.equal(p.holding('b'), undefined);
    });

    it('a call without a key takes the keyless sequence sharing the longest prefix, ties the least recently released', async () => {
        const p = pool(3);
        const chat1 = await serve(p, undefined, 'sys hello there');
        const chat2 = await serve(p, undefined, 'usr other');
        const third = await serve(p, undefined, 'q');
        assert.equal(new Set([chat1, chat2, third]).size, 3);
        assert.equal(await serve(p, undefined, 'sys hello again'), chat1);
        assert.equal(await serve(p, undefined, 'usr other thing'), chat2);
        // Nothing shared: the least recently released keyless one.
        assert.equal(await serve(p, undefined, 'zzz'), third);
    });

    it('a keyed call takes a keyless sequence before it evicts a key; with every sequence keyed it evicts the least recently released', async () => {
        const p = pool(2);
        await serve(p, 'a', '1 2');
        const chat = await serve(p, undefined, 'chat');
        assert.equal(await serve(p, 'b', '3 4'), chat, 'b took the chat’s sequence');
        assert.deepEqual(p.holding('a')?.tokens, toks('1 2'));
        // a is now the least recently released: c evicts it.
        await serve(p, 'c', '5');
        assert.equal(p.holding('a'), undefined);
        assert.ok(p.holding('b') && p.holding('c'));
    });

    it('a call for a key whose sequence is busy waits for that one, even with a free sequence', async () => {
        const p = pool(2);
        const first = await p.acquire({ key: 'doc', tokens: toks('1 2 3') }, never);
        assert.equal(p.holding('doc'), first.sequence, 'the busy sequence serving a key holds it');
        const got: Array<HeldSequence<Seq>> = [];
        const next = p.acquire({ key: 'doc', tokens: toks('1 2 3 4') }, never).then((h) => got.push(h));
        await flush();
        assert.equal(got.length, 0);
        assert.equal(p.busy, 1);
        first.sequence.tokens = toks('1 2');
        p.release(first, 'doc');
        await next;
        assert.equal(got[0].index, first.index);
        assert.deepEqual(got[0].sequence.tokens, toks('1 2'), 'it finds what the earlier call left');
    });

    it('serves the line first come, first served, from its head only; counts busy and the peak', async () => {
        const p = pool(2);
        const a = await p.acquire({ key: 'a', tokens: [] }, never);
        const b = await p.acquire({ key: 'b', tokens: [] }, never);
        assert.equal(p.busy, 2);
        const order: string[] = [];
        // a2 waits for a's sequence; c, behind it, waits too, although b's frees first.
        const a2 = p.acquire({ key: 'a', tokens: [] }, never).then((h) => (order.push('a2'), h));
        const c = p.acquire({ key: 'c', tokens: [] }, never).then((h) => (order.push('c'), h));
        p.release(b, 'b');
        await flush();
        assert.deepEqual(order, []);
        p.release(a, 'a');
        await Promise.all([a2, c]);
        assert.deepEqual(order, ['a2', 'c']);
        assert.equal(p.peakBusy, 2);
        assert.equal(p.size, 2);
    });

    it('a waiter aborted in line rejects with the reason and never takes a sequence; an aborted signal is refused at once', async () => {
        const p = pool(1);
        const held = await p.acquire({ key: undefined, tokens: [] }, never);
        const ac = new AbortController();
        const reason = abortError('gone');
        const waiting = p.acquire({ key: undefined, tokens: [] }, ac.signal);
        ac.abort(reason);
        await assert.rejects(waiting, (e) => e === reason);
        assert.deepEqual(p.waits().waiting, []);
        p.release(held, undefined);
        assert.equal(p.busy, 0);
        await assert.rejects(p.acquire({ key: undefined, tokens: [] }, ac.signal), (e) => e === reason);
        assert.equal(p.busy, 0);
    });

    it('waits() names who waits, best first, and who holds what the first waiter waits for', async () => {
        const p = pool(2);
        const tag = (taskId: number): { taskId: number; label: string } => ({ taskId, label: `task #${taskId}` });
        assert.deepEqual(p.waits(), { waiting: [] });
        const a = await p.acquire({ key: 'a', tokens: [], tag: tag(1) }, never);
        await p.acquire({ key: 'b', tokens: [] }, never);
        assert.deepEqual(p.waits(), { holder: tag(1), waiting: [] }, 'nobody waits: the longest holder');
        const ac = new AbortController();
        const later = p.acquire({ key: 'c', tokens: [], tag: tag(3) }, ac.signal);
        const forA = p.acquire({ key: 'a', tokens: [], tag: tag(2), priority: 100 }, ac.signal);
        assert.deepEqual(p.waits(), { holder: tag(1), waiting: [tag(2), tag(3)] }, 'higher priority first');
        p.release(a, 'a');
        assert.equal((await forA).index, a.index);
        assert.deepEqual(p.waits(), { holder: UNTAGGED_CALL, waiting: [tag(3)] }, 'an untagged holder is named as such');
        ac.abort(abortError('done'));
        await assert.rejects(later);
    });

    it('grants every free sequence at once, then serves waiters first come, first served: a newcomer never overtakes one', async () => {
        const p = pool(2);
        const a = await p.acquire({ key: undefined, tokens: [] }, never);
        const b = await p.acquire({ key: undefined, tokens: [] }, never);
        assert.equal(p.busy, 2);
        const order: string[] = [];
        const first = p.acquire({ key: undefined, tokens: [] }, never).then((h) => (order.push('first'), h));
        p.release(a, undefined);
        const second = p.acquire({ key: undefined, tokens: [] }, never).then((h) => (order.push('second'), h));
        const firstHeld = await first;
        p.release(b, undefined);
        await second;
        assert.deepEqual(order, ['first', 'second']);
        p.release(firstHeld, undefined);
        assert.equal(p.busy, 1);
    });

    it('own: whether the sequence holds what this key (or, without a key, a keyless call) left', async () => {
        const p = pool(1);
        const first = await p.acquire({ key: 'doc', tokens: toks('p 1 2') }, never);
        assert.equal(first.own, false, 'a fresh sequence kept no key');
        p.release(first, 'doc');
        const again = await p.acquire({ key: 'doc', tokens: toks('p 1 2 3') }, never);
        assert.equal(again.own, true);
        p.release(again, 'doc');
        // A chat on the only sequence evicts the document: with one slot, as on llama.cpp.
        const chat = await p.acquire({ key: undefined, tokens: toks('chat a') }, never);
        assert.equal(chat.own, false);
        assert.equal(p.holding('doc'), undefined);
        p.release(chat, undefined);
        const chat2 = await p.acquire({ key: undefined, tokens: toks('chat a b') }, never);
        assert.equal(chat2.own, true, 'a later chat finds what the chat left');
        p.release(chat2, undefined);
    });

    it('a borrow leaves the sequence’s key and eviction order; a call for that key waits for it', async () => {
        const p = pool(2);
        await serve(p, 'a', '1 2');
        await serve(p, 'b', '3 4');
        // Both keyed: the borrow takes the least recently released (a’s), and a keeps its key.
        const borrowed = await p.acquire({ key: undefined, tokens: [], borrow: true }, never);
        assert.equal(borrowed.sequence, p.holding('a'));
        const got: number[] = [];
        const forA = p.acquire({ key: 'a', tokens: toks('1 2 5') }, never).then((h) => (got.push(h.index), h));
        await flush();
        assert.deepEqual(got, [], 'a waits for its sequence');
        p.release(borrowed, 'ignored');
        const held = await forA;
        assert.equal(held.index, borrowed.index);
        assert.equal(held.own, true);
        p.release(held, 'a');
        // The borrow did not refresh a's place: c evicts b, released after a's first call but before its second.
        await serve(p, 'c', '5');
        assert.ok(p.holding('a') && p.holding('c'));
        assert.equal(p.holding('b'), undefined);
    });
});
