import { strict as assert } from 'node:assert';
import {
    MIDDLE_MAX_LINES,
    buildContextWindow,
    chooseMiddleStart,
    estimateTokens,
    keepsMiddleAnchor,
    middleAnchor,
    type MiddleAnchor,
} from '../../../src/core/completion/context';

/** One token per character: makes budgets easy to reason about. */
const chars = (s: string): number => s.length;

describe('completion context window', () => {
    const doc = 'line1\nline2\nline3\nab|cd\nline5\nline6\n';
    const cursor = doc.indexOf('|');
    const text = doc.replace('|', '');

    it('keeps whole lines within the token budgets, cursor line always whole', () => {
        const w = buildContextWindow(text, cursor, { prefixTokens: 14, suffixTokens: 8 }, chars);
        // "ab" (2) + "line3\n" (6) + "line2\n" (6) = 14; "line1\n" would exceed.
        assert.equal(w.prefix, 'line2\nline3\nab');
        assert.equal(w.prefixTokens, 14);
        assert.equal(w.prefixStart, text.indexOf('line2'));
        // "cd" (2) + "\nline5" (6) = 8.
        assert.equal(w.suffix, 'cd\nline5');
        assert.equal(w.linePrefix, 'ab');
        assert.equal(w.lineSuffix, 'cd');
    });

    it('takes the whole document when it fits', () => {
        const w = buildContextWindow(text, cursor, { prefixTokens: 1000, suffixTokens: 1000 }, chars);
        assert.equal(w.prefix + w.suffix, text);
    });

    it('a zero suffix budget sends no suffix', () => {
        const w = buildContextWindow(text, cursor, { prefixTokens: 2, suffixTokens: 0 }, chars);
        assert.equal(w.prefix, 'ab');
        assert.equal(w.suffix, '');
    });

    it('handles the start and end of the document', () => {
        assert.equal(buildContextWindow('abc', 0, { prefixTokens: 10, suffixTokens: 10 }, chars).suffix, 'abc');
        const end = buildContextWindow('x\ny', 3, { prefixTokens: 10, suffixTokens: 10 }, chars);
        assert.equal(end.prefix, 'x\ny');
        assert.equal(end.suffix, '');
    });

    it('measures with the estimator by default: identifiers cost by length, symbols one each', () => {
        assert.equal(estimateTokens('foo'), 1);
        assert.equal(estimateTokens('averyLongIdentifier'), 5);
        assert.equal(estimateTokens('a(b);'), 5);
        assert.equal(estimateTokens('    x\n'), 3);
        const big = Array.from({ length: 500 }, (_, i) => `const v${i} = ${i};`).join('\n');
        const w = buildContextWindow(big, big.length, { prefixTokens: 100, suffixTokens: 10 });
        assert.ok(w.prefixTokens <= 100 && w.prefixTokens > 80, `prefix tokens ${w.prefixTokens}`);
        assert.ok(w.prefix.startsWith('const v'));
    });

    describe('anchored prefix window (prefix reuse across keystrokes)', () => {
        // 40 lines of 10 characters (9 + newline); one token per character.
        const lines = Array.from({ length: 40 }, (_, i) => `l${String(i).padStart(7, '0')};`).join('\n') + '\n';
        const limits = { prefixTokens: 100, suffixTokens: 0 };

        it('keeps the previous start while the text from it to the cursor fits', () => {
            // A window that fits with room to spare (as one that has just moved does).
            const first = buildContextWindow(lines, lines.length, { prefixTokens: 80, suffixTokens: 0 }, chars);
            const typed = lines + 'abc';
            const next = buildContextWindow(typed, typed.length, limits, chars, first.prefixStart);
            assert.equal(next.prefixStart, first.prefixStart);
            assert.ok(next.prefix.startsWith(first.prefix), 'the new prefix extends the old one');
            assert.ok(next.prefixTokens <= limits.prefixTokens);
        });

        it('when the budget is exceeded, moves in one large step that leaves room to type', () => {
            const first = buildContextWindow(lines, lines.length, limits, chars);
            let text = lines;
            let anchor = first.prefixStart;
            const starts = new Set<number>();
            // Type 6 more lines, one character at a time: the start moves only a few times.
            for (let i = 0; i < 60; i++) {
                text += i % 10 === 9 ? '\n' : 'x';
                const w = buildContextWindow(text, text.length, limits, chars, anchor);
                assert.ok(w.prefixTokens <= limits.prefixTokens, `budget kept at step ${i}`);
                anchor = w.prefixStart;
                starts.add(anchor);
            }
            assert.ok(starts.size <= 3, `window start moved ${starts.size} times in 60 keystrokes`);
            const moved = buildContextWindow(text, text.length, limits, chars, first.prefixStart);
            assert.ok(moved.prefixTokens <= limits.prefixTokens * 0.75 + 10, 'a moved window leaves about a quarter of the budget free');
        });

        it('ignores an anchor that is not a line start or lies after the cursor line', () => {
            const plain = buildContextWindow(lines, 55, limits, chars);
            assert.deepEqual(buildContextWindow(lines, 55, limits, chars, 3), plain);
            assert.deepEqual(buildContextWindow(lines, 55, limits, chars, 300), plain);
        });
    });

    describe('anchored FIM middle (chooseMiddleStart)', () => {
        const limits = { prefixTokens: 10_000, suffixTokens: 100 };
        const head = 'import x;\nfunction f() {\n';
        const tail = '\n}\n';

        interface Request {
            readonly start: number;
            readonly lineStart: number;
            readonly anchor: MiddleAnchor;
        }
        /** One completion request for a cursor at `cursor` in `text`, as the provider makes it. */
        const request = (text: string, cursor: number, previous?: MiddleAnchor, windowLimits = limits, windowAnchor?: number): Request => {
            const w = buildContextWindow(text, cursor, windowLimits, chars, windowAnchor);
            const start = chooseMiddleStart(text, w, cursor, previous);
            return { start, lineStart: text.lastIndexOf('\n', cursor - 1) + 1, anchor: middleAnchor(text, w, start) };
        };
        /** Types `typed` one character at a time after `before`, each keystroke a request; returns them all. */
        const type = (before: string, typed: string, previous?: MiddleAnchor): Request[] => {
            const out: Request[] = [];
            let anchor = previous;
            for (let i = 1; i <= typed.length; i++) {
                const b = before + typed.slice(0, i);
                const r = request(b + tail, b.length, anchor);
                out.push(r);
                anchor = r.anchor;
            }
            return out;
        };

        it('the rule: an anchor is kept while fewer than MIDDLE_MAX_LINES complete lines lie in the middle', () => {
            assert.equal(MIDDLE_MAX_LINES, 8);
            assert.ok(keepsMiddleAnchor(0) && keepsMiddleAnchor(MIDDLE_MAX_LINES - 1));
            assert.ok(!keepsMiddleAnchor(MIDDLE_MAX_LINES));
        });

        it('the first request anchors at the cursor line start, and the next line keeps it there', () => {
            const first = request(head + 'let a' + tail, head.length + 5);
            assert.equal(first.start, head.length);
            assert.deepEqual(first.anchor, { start: head.length, prefix: head, prefixStart: 0 });
            const next = request(head + 'let a\nb' + tail, head.length + 7, first.anchor);
            assert.equal(next.lineStart, head.length + 6);
            assert.equal(next.start, head.length);
        });

        it('keeps the anchor across typing and Enter: the middle only grows', () => {
            const rs = type(head, 'const a = 1;\nlet b = a;\n  return b');
            assert.ok(rs.every((r) => r.start === head.length), `starts ${[...new Set(rs.map((r) => r.start))].join(', ')}`);
            assert.ok(rs.at(-1)!.lineStart > head.length, 'the cursor is two lines below the anchor');
        });

        it(`re-anchors at the cursor line once the middle would hold ${MIDDLE_MAX_LINES} complete lines`, () => {
            const lines = Array.from({ length: MIDDLE_MAX_LINES + 3 }, (_, i) => `v${i};\n`).join('') + 'x';
            const rs = type(head, lines);
            // One anchor for the first MIDDLE_MAX_LINES lines, the next from the line after them on.
            const reanchor = head.length + lines.split('\n').slice(0, MIDDLE_MAX_LINES).join('\n').length + 1;
            assert.deepEqual([...new Set(rs.map((r) => r.start))], [head.length, reanchor]);
            assert.equal(
                rs.findIndex((r) => r.start === reanchor),
                rs.findIndex((r) => r.lineStart === reanchor),
                'moves at the first request on that line',
            );
        });

        it('re-anchors on an edit above the anchor, not on one below it', () => {
            const before = head + 'let a = 1;\nlet b';
            const text = before + tail;
            const first = request(head + 'l' + tail, head.length + 1);
            assert.equal(request(text, before.length, first.anchor).start, head.length);
            // The same length, other text above the anchor: the prefix differs from the evaluated one.
            const edited = text.replace('import x', 'import y');
            assert.equal(request(edited, before.length, first.anchor).start, before.lastIndexOf('\n') + 1);
            // An edit inside the middle (between the anchor and the cursor) keeps it.
            const inMiddle = text.replace('a = 1', 'a = 2');
            assert.equal(request(inMiddle, before.length, first.anchor).start, head.length);
        });

        it('re-anchors when the prefix window moves', () => {
            const body = Array.from({ length: 30 }, (_, i) => `line${String(i).padStart(4, '0')}\n`).join('');
            const small = { prefixTokens: 50, suffixTokens: 0 };
            const first = request(body + 'a', body.length + 1, undefined, small);
            const w0 = buildContextWindow(body + 'a', body.length + 1, small, chars);
            // The same window start: kept.
            const grown = body + 'ab\nc';
            assert.equal(request(grown, grown.length, first.anchor, small, w0.prefixStart).start, body.length);
            // A window that had to move (its start no longer fits the budget) but still holds the
            // anchor: the anchor moves too, as the prefix is evaluated anew anyway.
            const far = body + 'ab\n' + 'y'.repeat(20);
            const w1 = buildContextWindow(far, far.length, small, chars, w0.prefixStart);
            assert.ok(w1.prefixStart > w0.prefixStart && w1.prefixStart < body.length, `window ${w0.prefixStart} -> ${w1.prefixStart}`);
            assert.equal(request(far, far.length, first.anchor, small, w0.prefixStart).start, body.length + 3);
        });

        it('re-anchors when the cursor moves above the anchor, keeps it when the cursor moves down', () => {
            const text = head + 'let a = 1;\nlet b = 2;\nlet c = 3;' + tail;
            const anchorAt = text.indexOf('let b');
            const first = request(text, anchorAt + 3);
            assert.equal(first.start, anchorAt);
            assert.equal(request(text, text.indexOf('let c') + 2, first.anchor).start, anchorAt);
            assert.equal(request(text, text.indexOf('let a') + 2, first.anchor).start, text.indexOf('let a'));
        });

        it('always returns a line start between the window start and the cursor line start', () => {
            // A deterministic walk of typing, Enter, cursor moves and edits anywhere, with a small
            // prefix window that moves now and then.
            let seed = 12345;
            const rand = (n: number): number => {
                seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
                return (seed >>> 8) % n;
            };
            const small = { prefixTokens: 120, suffixTokens: 40 };
            let text = head + tail;
            let cursor = head.length;
            let anchor: MiddleAnchor | undefined;
            let windowAnchor: number | undefined;
            let kept = 0;
            let atLine = 0;
            for (let step = 0; step < 2000; step++) {
                const op = rand(20);
                if (op < 12) {
                    const c = op < 2 ? '\n' : 'abc ;('[rand(6)];
                    text = text.slice(0, cursor) + c + text.slice(cursor);
                    cursor++;
                } else if (op < 15) {
                    cursor = rand(text.length + 1);
                } else if (op < 17 && cursor > 0) {
                    text = text.slice(0, cursor - 1) + text.slice(cursor);
                    cursor--;
                } else {
                    const at = rand(text.length + 1);
                    text = text.slice(0, at) + 'z\n' + text.slice(at);
                    if (at < cursor) cursor += 2;
                }
                const w = buildContextWindow(text, cursor, small, chars, windowAnchor);
                windowAnchor = w.prefixStart;
                const start = chooseMiddleStart(text, w, cursor, anchor);
                const lineStart = cursor - w.linePrefix.length;
                assert.ok(start >= w.prefixStart && start <= lineStart, `step ${step}: ${start} outside [${w.prefixStart}, ${lineStart}]`);
                assert.ok(start === 0 || text[start - 1] === '\n', `step ${step}: ${start} is not a line start`);
                assert.ok(keepsMiddleAnchor(text.slice(start, lineStart).split('\n').length - 1), `step ${step}: middle too long`);
                if (start === lineStart) atLine++;
                else if (start === anchor?.start) kept++;
                anchor = middleAnchor(text, w, start);
            }
            assert.ok(kept > 100 && atLine > 100, `kept ${kept}, at the cursor line ${atLine}`);
            // A forged anchor that is not a line start is not used.
            const lines = 'ab\ncd\nef';
            const w = buildContextWindow(lines, lines.length, limits, chars);
            assert.equal(chooseMiddleStart(lines, w, lines.length, { start: 4, prefix: lines.slice(0, 4), prefixStart: 0 }), 6);
            assert.equal(chooseMiddleStart(lines, w, lines.length, { start: 3, prefix: lines.slice(0, 3), prefixStart: 0 }), 3);
        });
    });
});
