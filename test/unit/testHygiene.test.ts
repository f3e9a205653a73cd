/**
 * A guard that keeps the test suites free of wall-clock assertions: a test that fails because the
 * machine is slow (a shared 2-core VM moves 2x within minutes) teaches people to ignore red runs.
 * Timing claims belong to the benchmark, as ratios on a quiet machine; tests assert behaviour (the
 * order of events, counters, what a call reported) and wait by events, with caps that only catch a hang.
 *
 * The scan reads every test file with the TypeScript parser and looks only inside assertion calls
 * (`assert(...)`, `assert.ok(...)`, `assert.equal(...)`, ..., `expect(...)`), at comparisons
 * (`<`, `<=`, `>`, `>=`):
 * - anywhere: one side reads the wall clock (`performance.now()`, `Date.now()`, `process.hrtime`),
 *   or is a variable the file computed as a wall-clock difference (`const latency = performance.now() - t0`);
 * - where the clock is real (test/integration, test/e2e, test/faults): one side is a duration
 *   (a name ending in `Ms`, or elapsed/latency/duration), unless the other side is 0 (a duration was
 *   measured) or both are parts of the same measurement (`r.firstTokenMs <= r.totalMs`). Unit tests
 *   run on a virtual clock, where durations are exact and may be asserted.
 * Hang caps (`this.timeout`, `{ timeout }`, a polling loop's `if (now > deadline) throw`) are not
 * assertions and are never flagged.
 */
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import * as ts from 'typescript';

const ROOT = resolve(__dirname, '..', '..');
/** Folders whose tests run on the real clock (unit tests run on the virtual clock of src/core/clock.ts). */
const REAL_CLOCK = ['test/integration/', 'test/e2e/', 'test/faults/'];

const ASSERT_METHODS = new Set(['ok', 'equal', 'strictEqual', 'notEqual', 'notStrictEqual', 'deepEqual', 'deepStrictEqual', 'notDeepEqual', 'match', 'doesNotMatch']);
const COMPARISONS = new Set([ts.SyntaxKind.LessThanToken, ts.SyntaxKind.LessThanEqualsToken, ts.SyntaxKind.GreaterThanToken, ts.SyntaxKind.GreaterThanEqualsToken]);
/** A duration's name: `firstTokenMs`, `ms`, `elapsed`, `latencyMs`, `durationSeconds` (not `items`). */
const isDurationName = (name: string): boolean => /(?:[a-z0-9]Ms|^ms)$/.test(name) || /^(?:elapsed|latency|duration)/i.test(name);

/** `performance.now()`, `Date.now()`, `process.hrtime(...)`, `process.hrtime.bigint()`. */
function readsWallClock(node: ts.Node): boolean {
    if (ts.isCallExpression(node)) {
        const callee = node.expression.getText();
        if (callee === 'performance.now' || callee === 'Date.now' || callee === 'process.hrtime' || callee === 'process.hrtime.bigint') return true;
    }
    return ts.forEachChild(node, readsWallClock) ?? false;
}

function mentions(node: ts.Node, test: (name: string) => boolean): boolean {
    if (ts.isIdentifier(node) && test(node.text)) return true;
    return ts.forEachChild(node, (child) => (mentions(child, test) ? true : undefined)) ?? false;
}

/** Whether an expression holds a `-` whose operands read the wall clock: an elapsed time. */
function elapsedFromWallClock(node: ts.Node): boolean {
    if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.MinusToken && readsWallClock(node)) return true;
    return ts.forEachChild(node, (child) => (elapsedFromWallClock(child) ? true : undefined)) ?? false;
}

/** Names the file assigns a wall-clock difference to (`const latency = performance.now() - t0`). */
function elapsedNames(file: ts.SourceFile): Set<string> {
    const names = new Set<string>();
    const visit = (node: ts.Node): void => {
        if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && elapsedFromWallClock(node.initializer)) names.add(node.name.text);
        if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isIdentifier(node.left) && elapsedFromWallClock(node.right)) names.add(node.left.text);
        ts.forEachChild(node, visit);
    };
    visit(file);
    return names;
}

function isAssertion(call: ts.CallExpression): boolean {
    const callee = call.expression;
    if (ts.isIdentifier(callee)) return callee.text === 'assert' || callee.text === 'expect';
    return ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'assert' && ASSERT_METHODS.has(callee.name.text);
}

function stripParens(node: ts.Expression): ts.Expression {
    return ts.isParenthesizedExpression(node) ? stripParens(node.expression) : node;
}

/** The object a duration was read from (`r` in `r.firstTokenMs`), or undefined. */
function measurementOf(node: ts.Expression): string | undefined {
    const e = stripParens(node);
    if (ts.isPropertyAccessExpression(e) || ts.isPropertyAccessChain(e)) return e.expression.getText();
    return undefined;
}

/**
 * Wall-clock assertions in one file's text, as "path:line: the comparison". `path` decides whether
 * the file's clock is real (REAL_CLOCK).
 */
export function wallClockAssertions(path: string, text: string): string[] {
    const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const realClock = REAL_CLOCK.some((dir) => path.startsWith(dir));
    const elapsed = elapsedNames(file);
    const found: string[] = [];
    const isDuration = (node: ts.Node): boolean => mentions(node, isDurationName);
    const timed = (node: ts.Node): boolean => readsWallClock(node) || mentions(node, (name) => elapsed.has(name));

    const check = (cmp: ts.BinaryExpression): void => {
        const left = stripParens(cmp.left);
        const right = stripParens(cmp.right);
        let bad = timed(left) || timed(right);
        if (!bad && realClock && (isDuration(left) || isDuration(right))) {
            const zero = (e: ts.Expression): boolean => ts.isNumericLiteral(e) && Number(e.text) === 0;
            const plain = (e: ts.Expression): boolean => measurementOf(e) !== undefined;
            const sameMeasurement = isDuration(left) && isDuration(right) && plain(left) && plain(right) && measurementOf(left) === measurementOf(right);
            bad = !zero(left) && !zero(right) && !sameMeasurement;
        }
        if (bad) {
            const line = file.getLineAndCharacterOfPosition(cmp.getStart(file)).line + 1;
            found.push(`${path}:${line}: ${cmp.getText(file)}`);
        }
    };
    const inAssertion = (node: ts.Node): void => {
        if (ts.isBinaryExpression(node) && COMPARISONS.has(node.operatorToken.kind)) check(node);
        // A function inside an assertion (a predicate for assert.rejects, say) is not the assertion.
        if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) return;
        ts.forEachChild(node, inAssertion);
    };
    const visit = (node: ts.Node): void => {
        if (ts.isCallExpression(node) && isAssertion(node)) {
            for (const arg of node.arguments) inAssertion(arg);
        }
        ts.forEachChild(node, visit);
    };
    visit(file);
    return found;
}

function testFiles(dir: string): string[] {
    const out: string[] = [];
    for (const name of readdirSync(dir)) {
        const full = join(dir, name);
        if (statSync(full).isDirectory()) out.push(...testFiles(full));
        else if (/\.(ts|mts|cts)$/.test(name) && !name.endsWith('.d.ts')) out.push(full);
    }
    return out;
}

describe('test hygiene: no wall-clock assertions', () => {
    it('finds the wall-clock assertions these suites used to have, wherever the clock is read', () => {
        const found = (path: string, body: string): number => wallClockAssertions(path, body).length;
        // Elapsed time compared with a threshold, directly or through a variable.
        assert.equal(found('test/integration/a.test.ts', 'const t0 = performance.now();\nassert.ok(performance.now() - t0 < 50);'), 1);
        assert.equal(found('test/integration/a.test.ts', 'let t = 0;\nconst latency = performance.now() - t;\nassert.ok(latency < 50, `rejected ${latency.toFixed(1)} ms after abort()`);'), 1);
        assert.equal(found('test/unit/a.test.ts', 'let at = 0;\nat = Date.now() - start;\nassert.ok(at <= 100);'), 1, 'the wall clock read in a unit test too');
        assert.deepEqual(wallClockAssertions('test/integration/b.test.ts', 'x;\nassert.ok((warm.firstTokenMs ?? Infinity) * 3 < (cold.firstTokenMs ?? 0), "at least 3x faster");'), [
            'test/integration/b.test.ts:2: (warm.firstTokenMs ?? Infinity) * 3 < (cold.firstTokenMs ?? 0)',
        ]);
        assert.equal(found('test/integration/c.test.ts', 'assert.ok(m.oneTokenMs < 250, `${role}`);'), 1);
        assert.equal(found('test/e2e/api/d.test.ts', 'assert(elapsed <= limit);'), 1);
        assert.equal(found('test/faults/e.test.ts', 'assert.ok(warm.totalMs < cold.totalMs, "faster");'), 1, 'two measurements compared: a speed claim');
    });

    it('leaves hang caps, measured-at-all checks, one measurement\'s own order and the virtual clock alone', () => {
        const none = (path: string, body: string): void => assert.deepEqual(wallClockAssertions(path, body), [], body);
        none('test/integration/a.test.ts', 'this.timeout(120_000);\nawait until(() => done, 60_000);\nawait ghost.waitFor({ timeout: 90_000 });');
        none('test/integration/a.test.ts', 'const deadline = performance.now() + 60_000;\nwhile (!ok()) { if (performance.now() > deadline) throw new Error("a hang"); }');
        none('test/integration/a.test.ts', 'assert.ok(Number.isFinite(m.decodeMs) && m.decodeMs > 0, `${role} decodeMs ${m.decodeMs}`);');
        none('test/integration/a.test.ts', 'assert.ok(first.firstTokenMs !== undefined && first.firstTokenMs <= first.totalMs);');
        none('test/integration/a.test.ts', 'assert.ok(checks < 10 && usage.evaluatedPromptTokens < promptTokens / 2 && items.length > 3);');
        none('test/integration/a.test.ts', 'await assert.rejects(p, (e) => e.totalMs > 5);');
        none('test/unit/router/a.test.ts', 'assert.ok(r.timings.totalMs < 300);\nassert.equal(clock.now(), 20);');
    });

    it('no test file asserts a wall-clock duration (file:line of each)', function () {
        this.timeout(60_000);
        const found: string[] = [];
        for (const file of testFiles(join(ROOT, 'test'))) {
            const path = relative(ROOT, file).split(sep).join('/');
            found.push(...wallClockAssertions(path, readFileSync(file, 'utf8')));
        }
        assert.deepEqual(found, [], `wall-clock assertions (assert behaviour instead, and put timing claims in the benchmark as ratios):\n${found.join('\n')}`);
    });
});
