import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_TRACE_SEED, TRACE_SPECS, generateTrace } from '../../../bench/traces/generate';
import { TraceError, completionsOnly, parseTrace, serializeTrace, summarize } from '../../../bench/trace';
import { TaskBuilder, calibrate } from '../../../bench/text';

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
            assert.equal(shipped, serializeTrace(generateTrace(spec, DEFAULT_TRACE_SEED)), `${spec.name}.jsonl is stale: run npx tsx bench/traces/generate.ts`);
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

    it('parse errors name the line and the field', () => {
        assert.throws(() => parseTrace('x', '{"t":0,"kind":"completion","doc":"a","promptTokens":5,"maxTokens":1,"items":1}\n{"t":1,"kind":"nope","doc":"a"}'), (e: unknown) => e instanceof TraceError && /x:2.*kind/.test(e.message));
        assert.throws(() => parseTrace('x', '{"t":5,"kind":"embed","doc":"a","promptTokens":5,"maxTokens":0,"items":1}\n{"t":1,"kind":"embed","doc":"a","promptTokens":5,"maxTokens":0,"items":1}'), /backwards/);
        assert.throws(() => parseTrace('x', '{"t":0,"kind":"completion","doc":"a","promptTokens":5,"maxTokens":1,"suffixTokens":9}'), /suffixTokens/);
        assert.throws(() => parseTrace('x', 'not json'), /not JSON/);
    });

    it('completionsOnly keeps only completions, in order', () => {
        const t = parseTrace('x', readFileSync(join(TRACES, 'real-typing-indexing.jsonl'), 'utf8'));
        const c = completionsOnly(t);
        assert.ok(c.lines.length > 0 && c.lines.every((l) => l.kind === 'completion'));
        assert.equal(c.lines.length, t.lines.filter((l) => l.kind === 'completion').length);
    });
});

describe('bench task builder', () => {
    const words = (s: string): number => s.split(' ').filter((w) => w.length > 0).length;

    it('builds prompts of the trace size (one word per token in the simulator)', () => {
        const b = new TaskBuilder(1);
        const c = b.completion({ t: 0, kind: 'completion', doc: 'a.ts', promptTokens: 500, suffixTokens: 100, maxTokens: 16, items: 1 });
        assert.equal(words(c.prefix) + words(c.suffix) + 3, 500);
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
        const p1 = b.completion(l).prefix.split(' ');
        const p2 = b.completion({ ...l, promptTokens: 401 }).prefix.split(' ');
        assert.deepEqual(p2.slice(0, p1.length - 1), p1.slice(0, -1));
        assert.notEqual(p2[p1.length - 1], p1[p1.length - 1]);
        // Same document text whatever builder asks for it.
        assert.deepEqual(new TaskBuilder(1).completion(l).prefix.split(' ').slice(0, -1), p1.slice(0, -1));
    });

    it('calibrate converts a tokenizer to tokens per word', () => {
        assert.equal(calibrate((t) => t.split(' ').length), 1);
        assert.equal(calibrate((t) => 2 * t.split(' ').length), 2);
    });
});
