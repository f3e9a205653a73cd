import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_TRACE_SEED, TRACE_SPECS, generateTrace } from '../../../bench/workload/generate';
import { TraceError, completionsOnly, parseTrace, serializeTrace, summarize, withFocus, type TraceLine } from '../../../bench/workload/trace';
import { TaskBuilder, TraceDocuments, calibrate } from '../../../bench/replay/text';
import { MIDDLE_MAX_LINES } from '../../../src/core/completion/context';
import { loadProfile } from '../../../bench/sim/speedProfile';
import { runSim } from '../../../bench/sim/run';
import { createRouter, defaultRoutingSettings } from '../../../src/core/router';

const TRACES = join(__dirname, '..', '..', '..', 'bench', 'traces');

describe('bench traces', () => {
    it('generation is deterministic: same seed, same lines; another seed, other lines', () => {
        const spec = TRACE_SPECS[0];
        assert.deepEqual(generateTrace(spec, 7), generateTrace(spec, 7));
        assert.notDeepEqual(generateTrace(spec, 7), generateTrace(spec, 8));
    });

    it('the shipped traces are exactly what the generator writes with the default seed', () => {
        for (const spec of TRACE_SPECS) {
            const shipped = readFileSync(join(TRACES, `${spec.name}.jsonl`), 'utf8');
            assert.equal(shipped, serializeTrace(generateTrace(spec, DEFAULT_TRACE_SEED)), `${spec.name}.jsonl is stale: run npx tsx bench/workload/generate.ts`);
        }
    });

    it('every shipped trace parses, is time-ordered and has the workload it promises', () => {
        for (const spec of TRACE_SPECS) {
            const t = parseTrace(spec.name, readFileSync(join(TRACES, `${spec.name}.jsonl`), 'utf8'));
            for (let i = 1; i < t.lines.length; i++) assert.ok(t.lines[i].t >= t.lines[i - 1].t);
            const s = summarize(t);
            assert.ok((s.counts.completion ?? 0) > 20, `${spec.name}: typing`);
            assert.ok((s.counts.embed ?? 0) > 0 && s.embedChunks > 0, `${spec.name}: indexing`);
            assert.ok((s.counts.explain ?? 0) > 0, `${spec.name}: explains`);
            assert.ok(s.durationMs <= spec.durationMs);
        }
    });

    it('typing: consecutive keystrokes in one document grow its prompt by at most one token', () => {
        const lines = generateTrace(TRACE_SPECS[0], 3).filter((l) => l.kind === 'completion');
        const last = new Map<string, number>();
        for (const l of lines) {
            const prev = last.get(l.doc);
            if (prev !== undefined) assert.ok(l.promptTokens - prev === 0 || l.promptTokens - prev === 1);
            assert.ok((l.suffixTokens ?? 0) < l.promptTokens);
            last.set(l.doc, l.promptTokens);
        }
    });

    it('typing: every keystroke has lineTokens; Enter resets it to 0 and keeps the prompt, lines have the spec lengths', () => {
        const spec = TRACE_SPECS[0];
        const typing = spec.typing;
        assert.ok(typing);
        const cpt = typing.charsPerToken;
        const lines = generateTrace(spec, 3).filter((l) => l.kind === 'completion');
        const byDoc = new Map<string, TraceLine[]>();
        for (const l of lines) byDoc.set(l.doc, [...(byDoc.get(l.doc) ?? []), l]);
        let enters = 0;
        let measured = 0;
        for (const seq of byDoc.values()) {
            let lastEnter: number | undefined;
            for (let i = 0; i < seq.length; i++) {
                const l = seq[i];
                const lt = l.lineTokens;
                assert.ok(lt !== undefined && lt <= Math.ceil(typing.lineChars[1] / cpt), `lineTokens ${lt}`);
                assert.ok(lt <= l.promptTokens - (l.suffixTokens ?? 0));
                if (i === 0) continue;
                const prev = seq[i - 1];
                const before = (x: TraceLine): number => x.promptTokens - (x.suffixTokens ?? 0) - (x.lineTokens ?? 0);
                if (lt === 0) {
                    // Enter: the finished line joins the prefix; the text before the cursor is unchanged.
                    enters++;
                    assert.equal(l.promptTokens, prev.promptTokens);
                    assert.equal(before(l), before(prev) + (prev.lineTokens ?? 0));
                    assert.ok((prev.lineTokens ?? 0) >= Math.ceil(typing.lineChars[0] / cpt), `a line ended after ${prev.lineTokens} tokens`);
                    // Keystrokes between two Enters: the line's characters, then the Enter.
                    if (lastEnter !== undefined) {
                        const keys = i - lastEnter;
                        assert.ok(keys >= typing.lineChars[0] + 1 && keys <= typing.lineChars[1] + 1, `a line of ${keys - 1} characters`);
                        measured++;
                    }
                    lastEnter = i;
                } else {
                    // Within a line: the part before it stays put, the line grows by at most a token.
                    assert.equal(before(l), before(prev));
                    assert.ok(lt - (prev.lineTokens ?? 0) === 0 || lt - (prev.lineTokens ?? 0) === 1, `${prev.lineTokens} -> ${lt}`);
                    // After an Enter, typing starts from one token.
                    if (prev.lineTokens === 0) assert.equal(lt, 1);
                }
            }
        }
        assert.ok(enters >= 5 && measured >= 2, `${enters} Enters, ${measured} whole lines`);
        assert.deepEqual(
            generateTrace(spec, 3).map((l) => l.lineTokens),
            generateTrace(spec, 3).map((l) => l.lineTokens),
        );
    });

    it('lineTokens is parsed and serialized back; absent stays absent', () => {
        const text = '{"t":0,"kind":"completion","doc":"a","promptTokens":10,"suffixTokens":4,"lineTokens":6,"maxTokens":1,"items":1}\n{"t":1,"kind":"completion","doc":"a","promptTokens":10,"maxTokens":1,"items":1}\n';
        const t = parseTrace('x', text);
        assert.equal(t.lines[0].lineTokens, 6);
        assert.equal(t.lines[1].lineTokens, undefined);
        // Serialization keeps it (key order aside): a round trip gives the same lines.
        assert.match(serializeTrace(t.lines), /"lineTokens":6/);
        assert.deepEqual(parseTrace('x', serializeTrace(t.lines)), t);
    });

    it('t is in milliseconds, fractions allowed; a keystroke trace with fractional times replays', async () => {
        const text = '{"t":0.25,"kind":"completion","doc":"a","promptTokens":40,"suffixTokens":4,"lineTokens":3,"maxTokens":4}\n{"t":120.5,"kind":"completion","doc":"a","promptTokens":41,"suffixTokens":4,"lineTokens":4,"maxTokens":4}\n';
        const t = parseTrace('x', text);
        assert.deepEqual(t.lines.map((l) => l.t), [0.25, 120.5]);
        assert.throws(() => parseTrace('x', '{"t":-0.5,"kind":"completion","doc":"a","promptTokens":5,"maxTokens":1}'), /"t" must be a non-negative number/);
        const profile = loadProfile(join(TRACES, '..', 'profiles', 'local-generated.json'));
        const r = await runSim(t, profile, defaultRoutingSettings(), createRouter);
        assert.equal(r.replay.hung, 0);
        assert.deepEqual(r.replay.records.map((x) => x.keystrokeAt), [0.25, 120.5]);
        assert.equal(r.metrics.suggestion.served.n, 1, 'the last keystroke gets its suggestion');
    });

    it('parse errors name the line and the field', () => {
        assert.throws(() => parseTrace('x', '{"t":0,"kind":"completion","doc":"a","promptTokens":5,"maxTokens":1,"items":1}\n{"t":1,"kind":"nope","doc":"a"}'), (e: unknown) => e instanceof TraceError && /x:2.*kind/.test(e.message));
        assert.throws(() => parseTrace('x', '{"t":5,"kind":"embed","doc":"a","promptTokens":5,"maxTokens":0,"items":1}\n{"t":1,"kind":"embed","doc":"a","promptTokens":5,"maxTokens":0,"items":1}'), /backwards/);
        assert.throws(() => parseTrace('x', '{"t":0,"kind":"completion","doc":"a","promptTokens":5,"maxTokens":1,"suffixTokens":9}'), /suffixTokens/);
        assert.throws(() => parseTrace('x', 'not json'), /not JSON/);
        // lineTokens is part of the text before the cursor: at most promptTokens - suffixTokens.
        assert.throws(() => parseTrace('x', '{"t":0,"kind":"completion","doc":"a","promptTokens":10,"suffixTokens":4,"lineTokens":7,"maxTokens":1}'), (e: unknown) => e instanceof TraceError && /x:1.*"lineTokens" \(7\).*\(6\)/.test(e.message));
        assert.throws(() => parseTrace('x', '{"t":0,"kind":"completion","doc":"a","promptTokens":10,"lineTokens":11,"maxTokens":1}'), /lineTokens/);
        assert.throws(() => parseTrace('x', '{"t":0,"kind":"completion","doc":"a","promptTokens":10,"lineTokens":-1,"maxTokens":1}'), /"lineTokens" must be a non-negative integer/);
        assert.throws(() => parseTrace('x', '{"t":0,"kind":"completion","doc":"a","promptTokens":10,"lineTokens":1.5,"maxTokens":1}'), /"lineTokens" must be a non-negative integer/);
    });

    it('completionsOnly keeps only completions, in order', () => {
        const t = parseTrace('x', readFileSync(join(TRACES, 'real-typing-indexing.jsonl'), 'utf8'));
        const c = completionsOnly(t);
        assert.ok(c.lines.length > 0 && c.lines.every((l) => l.kind === 'completion'));
        assert.equal(c.lines.length, t.lines.filter((l) => l.kind === 'completion').length);
    });
});

describe('bench traces: editor focus events (--read-ahead)', () => {
    it('a focus event comes before the first keystroke in each document typed in, not before the last keystroke elsewhere', () => {
        const t = parseTrace('x', readFileSync(join(TRACES, 'real-typing-indexing.jsonl'), 'utf8'));
        const f = withFocus(t, 1000);
        assert.equal(f.lines, t.lines);
        const focus = f.focus ?? [];
        assert.ok(focus.length >= 3, `${focus.length} focus events`);
        let prev: TraceLine | undefined;
        let switches = 0;
        t.lines.forEach((l, i) => {
            if (l.kind !== 'completion') return;
            const e = focus.find((x) => x.line === i);
            if (prev === undefined || prev.doc !== l.doc) {
                switches++;
                assert.ok(e, `no focus before line ${i}`);
                assert.equal(e.doc, l.doc);
                assert.ok(e.t <= l.t && e.t >= l.t - 1000, `focus at ${e.t} for a keystroke at ${l.t}`);
                if (prev) assert.ok(e.t > prev.t, 'not before the last keystroke in the other document');
            } else assert.equal(e, undefined);
            prev = l;
        });
        assert.equal(focus.length, switches);
        // The isolated replay keeps them, pointing at the same lines.
        const c = completionsOnly(f);
        assert.deepEqual(c.focus?.map((x) => c.lines[x.line]), focus.map((x) => t.lines[x.line]));
    });

    it('a document before its keystroke (a read-ahead\'s position) is that keystroke\'s text without the word typed, and leaves the state alone', () => {
        for (const tpw of [1, 2.738]) {
            const docs = new TraceDocuments(tpw);
            const t = parseTrace('x', readFileSync(join(TRACES, 'typing-indexing.jsonl'), 'utf8'));
            const focus = withFocus(t, 1000).focus ?? [];
            let checked = 0;
            t.lines.forEach((l, i) => {
                if (l.kind !== 'completion') return;
                if (focus.some((x) => x.line === i)) {
                    const ahead = docs.beforeKeystroke(l);
                    assert.deepEqual(docs.beforeKeystroke(l), ahead, 'looking ahead changes nothing');
                    const key = docs.keystroke(l);
                    assert.equal(key.doc, ahead.doc);
                    assert.ok(key.offset > ahead.offset);
                    // The keystroke only inserts the word typed at the cursor.
                    assert.equal(key.text.slice(0, ahead.offset), ahead.text.slice(0, ahead.offset));
                    assert.equal(key.text.slice(key.offset), ahead.text.slice(ahead.offset));
                    assert.match(key.text.slice(ahead.offset, key.offset), /^[a-z]+$/);
                    checked++;
                } else docs.keystroke(l);
            });
            assert.ok(checked >= 3, `${checked} documents switched to`);
        }
    });
});

describe('bench task builder', () => {
    const words = (s: string): number => s.split(/\s+/).filter((w) => w.length > 0).length;
    /** The text before the cursor: prefix and middle together. */
    const before = (c: { prefix: string; middle?: string }): string => c.prefix + (c.middle ?? '');

    it('builds prompts of the trace size (one word per token in the simulator)', () => {
        const b = new TaskBuilder(1);
        const c = b.completion({ t: 0, kind: 'completion', doc: 'a.ts', promptTokens: 500, suffixTokens: 100, maxTokens: 16, items: 1 });
        assert.equal(words(before(c)) + words(c.suffix) + 3, 500);
        const e = b.embed({ t: 0, kind: 'embed', doc: 'a.ts', promptTokens: 64, maxTokens: 0, items: 3 });
        assert.equal(e.texts.length, 3);
        assert.ok(e.texts.every((x) => words(x) === 64));
        const x = b.chat({ t: 0, kind: 'explain', doc: 'a.ts', promptTokens: 300, maxTokens: 50, items: 1 });
        assert.equal(x.maxTokens, 50);
        assert.equal(words(x.messages.map((m) => m.content).join(' ')), 3 + 292);
    });

    it('a later keystroke shares all but the word being typed with the previous prompt', () => {
        const b = new TaskBuilder(1);
        const l = { t: 0, kind: 'completion' as const, doc: 'a.ts', promptTokens: 400, suffixTokens: 50, maxTokens: 8, items: 1 };
        const p1 = before(b.completion(l)).split(/\s+/);
        const p2 = before(b.completion({ ...l, promptTokens: 401 })).split(/\s+/);
        assert.deepEqual(p2.slice(0, p1.length - 1), p1.slice(0, -1));
        assert.notEqual(p2[p1.length - 1], p1[p1.length - 1]);
        // Same document text whatever builder asks for it.
        assert.deepEqual(before(new TaskBuilder(1).completion(l)).split(/\s+/).slice(0, -1), p1.slice(0, -1));
    });

    it('lineTokens places the cursor line: the middle (the pipeline\'s FIM split) starts at its start and ends with the word being typed', () => {
        const l = { t: 0, kind: 'completion' as const, doc: 'a.ts', promptTokens: 400, suffixTokens: 50, maxTokens: 8, items: 1 };
        for (const tpw of [1, 2.738]) {
            // A fresh builder per request: no anchor yet, so the middle is the cursor line.
            const split = new TaskBuilder(tpw).completion({ ...l, lineTokens: 7 });
            assert.ok(split.prefix.endsWith('\n') && split.middle !== undefined && !/\s/.test(split.middle.charAt(0)));
            if (tpw === 1) assert.equal(words(split.middle), 7);
            // Enter: the cursor on an empty line after every word before it.
            const enter = new TaskBuilder(tpw).completion({ ...l, lineTokens: 0 });
            assert.equal(enter.middle, '');
            assert.ok(enter.prefix.endsWith('\n'));
            assert.equal(words(enter.prefix), Math.round((400 - 50 - 3) / tpw));
        }
    });

    it('keystrokes within a line share prefix and suffix exactly and differ only in the middle; Enter keeps them too', () => {
        const b = new TaskBuilder(1);
        const base = { t: 0, kind: 'completion' as const, doc: 'a.ts', suffixTokens: 50, maxTokens: 8, items: 1 };
        // 300 tokens before the line, then the line grows 1, 1, 2, 2, 3 tokens.
        const tasks = [1, 1, 2, 2, 3].map((lt) => b.completion({ ...base, promptTokens: 300 + lt + 50 + 3, lineTokens: lt }));
        for (let i = 1; i < tasks.length; i++) {
            assert.equal(tasks[i].prefix, tasks[0].prefix);
            assert.equal(tasks[i].suffix, tasks[0].suffix);
            assert.notEqual(tasks[i].middle, tasks[i - 1].middle);
        }
        assert.deepEqual(tasks.map((c) => words(c.middle ?? '')), [1, 1, 2, 2, 3]);
        assert.equal(words(tasks[0].prefix), 300);
        const enter = b.completion({ ...base, promptTokens: 300 + 3 + 50 + 3, lineTokens: 0 });
        // The middle keeps its anchor: the finished line stays in it, then the line break.
        assert.equal(enter.prefix, tasks[0].prefix);
        assert.equal(enter.suffix, tasks[0].suffix);
        assert.ok(enter.middle?.endsWith('\n'));
        assert.equal(words(enter.middle ?? ''), 3);
    });

    it('a shipped trace with a real tokenizer\'s tokens per word still keeps prefix and suffix fixed within each line, and mostly across Enter', () => {
        for (const tpw of [1, 1.3, 2.738]) {
            const b = new TaskBuilder(tpw);
            const t = parseTrace('x', readFileSync(join(TRACES, 'typing-indexing.jsonl'), 'utf8'));
            const last = new Map<string, { lineTokens: number; prefix: string; suffix: string }>();
            let within = 0;
            let enters = 0;
            let reanchors = 0;
            for (const l of t.lines) {
                if (l.kind !== 'completion') continue;
                const c = b.completion(l);
                const lt = l.lineTokens ?? 0;
                const prev = last.get(l.doc);
                if (prev && prev.lineTokens > 0 && lt >= prev.lineTokens) {
                    within++;
                    assert.equal(c.prefix, prev.prefix, `tokensPerWord ${tpw}: ${prev.lineTokens} -> ${lt} line tokens`);
                    assert.equal(c.suffix, prev.suffix);
                }
                // Empty only on the empty line an Enter leaves, when the middle moved to it.
                assert.ok(c.middle !== undefined && (c.middle !== '' || lt === 0));
                if (prev && c.prefix !== prev.prefix) reanchors++;
                if (prev && lt === 0) enters++;
                last.set(l.doc, { lineTokens: lt, prefix: c.prefix, suffix: c.suffix });
            }
            assert.ok(within > 100, `${within} keystrokes within a line`);
            // The prefix moves once every MIDDLE_MAX_LINES lines of a document, not at every Enter.
            assert.ok(enters >= MIDDLE_MAX_LINES && reanchors <= Math.floor(enters / MIDDLE_MAX_LINES), `${reanchors} prefix changes in ${enters} Enters (tokensPerWord ${tpw})`);
        }
    });

    it('calibrate converts a tokenizer to tokens per word', () => {
        assert.equal(calibrate((t) => t.split(/\s+/).length), 1);
        assert.equal(calibrate((t) => 2 * t.split(/\s+/).length), 2);
    });
});
