import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createTreeSitterParser, type TreeSitterParser } from '../../../src/backends/treeSitter';
import { createChunker } from '../../../src/core/search/chunker';
import { docQuery, mineDocQueries } from '../../../src/core/search/mining';
import type { ChunkInput } from '../../../src/core/search/types';

const GRAMMAR_DIR = dirname(require.resolve('@vscode/tree-sitter-wasm'));
const fixture = (name: string): string => readFileSync(join(__dirname, 'fixtures', name), 'utf8');

/** A chunk with a doc, as the chunker makes them. */
function chunk(file: string, startLine: number, doc: string | undefined, body = `code ${file}:${startLine}`): ChunkInput {
    const text = `${doc ?? ''}\n${body}`;
    return {
        file, startLine, endLine: startLine + 3, symbol: `function f${startLine}`, text, embedText: text,
        hash: createHash('sha256').update(text).digest('hex'), ...(doc ? { doc, docLines: [startLine, startLine] as const } : {}),
    };
}

describe('search/mining: queries mined from the docs', function () {
    this.timeout(30_000);
    let parser: TreeSitterParser;
    let chunks: ChunkInput[];
    before(async () => {
        parser = createTreeSitterParser({ dir: GRAMMAR_DIR });
        const chunker = createChunker(parser);
        chunks = [];
        for (const name of ['billing.ts', 'inventory.py', 'widgets.js']) chunks.push(...(await chunker.chunk(`src/${name}`, fixture(name))));
        // Small limits, so that these small containers are cut into their members.
        const small = createChunker(parser, { maxChunkLines: 8, minDefinitionLines: 2 });
        for (const name of ['cache.rs', 'Thermostat.cs']) chunks.push(...(await small.chunk(`src/${name}`, fixture(name))));
    });
    after(() => parser.dispose());

    it('each documented function or class of real code is a query, its chunk the answer, its doc left out', () => {
        const mined = mineDocQueries(chunks);
        const byQuery = new Map(mined.map((m) => [m.query, m]));
        const addItem = byQuery.get('Adds a line item; only a draft can change.');
        assert.ok(addItem, mined.map((m) => m.query).join('\n'));
        const answer = chunks.find((c) => c.symbol === 'Invoice.addItem')!;
        assert.deepEqual(addItem.answer, { file: 'src/billing.ts', startLine: answer.startLine, endLine: answer.endLine, symbol: 'Invoice.addItem' });
        assert.equal(addItem.without, answer.doc);
        for (const expected of [
            'Rounds an amount in minor units half to even, as most tax authorities require.', // JSDoc tags dropped
            'Add received units to the stock of a SKU.', // reST fields dropped
            'Hold stock for an order, if enough is available.', // Google sections dropped
            'Parse one line of a stock count file: SKU,QUANTITY.', // reST literals as text
            'Registers a widget factory under a name.',
            'Looks a key up and marks it as recently used.',
            'Whether the heating should run at this temperature.', // C#'s <summary>
            'Reservations hold stock for an order until it ships or is cancelled.', // a leading comment
        ]) {
            assert.ok(byQuery.has(expected), `missing: ${expected}`);
        }
        for (const m of mined) {
            assert.ok(!/[@<>`]|:param|\*\//.test(m.query), `markup left in: ${m.query}`);
            assert.ok(m.query.split(' ').length >= 4);
        }
    });

    it('skips trivial docs: short ones, license headers, TODOs, tag-only JSDoc, commented-out code', () => {
        for (const doc of [
            'Getter.',
            'The id.',
            'Copyright (c) 2024 Example Corp. All rights reserved. Licensed under the MIT License.',
            'SPDX-License-Identifier: Apache-2.0\nA parser for the config files of the build.',
            'TODO: make this faster when the cache is cold',
            'FIXME handle the empty list here before release',
            '@param x the value to double\n@returns twice the value',
            ':param x: the value\n:returns: twice the value',
            'const total = items.reduce((s, i) => s + i.price, 0);',
            'return compute(a, b) + offset(c);',
            '{@inheritDoc}',
        ]) {
            assert.equal(docQuery(doc), undefined, doc);
        }
    });

    it('turns markup into prose and keeps the summary only', () => {
        const cases: Array<[string, string]> = [
            ['Returns the {@link Invoice} total, see {@link Tax|the tax table}.\n@returns cents', 'Returns the Invoice total, see the tax table.'],
            ['Splits `text` into **tokens** at [word boundaries](https://example.com/wb).', 'Splits text into tokens at word boundaries.'],
            ['Makes the cache.\n\nThe capacity is fixed: no eviction happens until it is full.', 'Makes the cache.'],
            ['Computes the mean of the samples, ignoring NaN.\n\nParameters\n----------\nx : array', 'Computes the mean of the samples, ignoring NaN.'],
            ['Looks up a [`Key`] in the map and returns its value.\n\n# Examples\n\n```\nlet v = map.get(k);\n```', 'Looks up a Key in the map and returns its value.'],
            ['Counts the words in a line of text.\n>>> count("a b")\n2', 'Counts the words in a line of text.'],
            ['<summary>Sends the <see cref="T:Shop.Order"/> to the <c>warehouse</c> queue.</summary>\n<param name="o">the order</param>', 'Sends the Shop.Order to the warehouse queue.'],
            ['@brief Converts a matrix to row echelon form in place.', 'Converts a matrix to row echelon form in place.'],
            ['Uses :func:`~os.path.join` to build the path of the cache file.', 'Uses os.path.join to build the path of the cache file.'],
        ];
        for (const [doc, query] of cases) assert.equal(docQuery(doc, { minWords: 3, maxChars: 300 }), query, doc);
        const long = `${'This sentence describes the function at length. '.repeat(10)}`;
        const short = docQuery(long, { minWords: 3, maxChars: 120 })!;
        assert.ok(short.length <= 120 && short.endsWith('.'), short);
    });

    it('a doc two chunks share is not a query (its answer is ambiguous)', () => {
        const mined = mineDocQueries([
            chunk('a.ts', 1, 'Returns the value of the setting.'),
            chunk('b.ts', 1, 'Returns the value of the setting.'),
            chunk('c.ts', 1, 'Parses the settings file into a map.'),
        ]);
        assert.deepEqual(mined.map((m) => m.answer.file), ['c.ts']);
    });

    it('samples up to max, deterministically: same seed same queries, in any input order, stable when others change', () => {
        const many = Array.from({ length: 60 }, (_, i) => chunk(`src/f${String(i).padStart(2, '0')}.ts`, 10, `Handles the request number ${i} of the queue in order.`));
        const a = mineDocQueries(many, { max: 10, seed: 7 });
        assert.equal(a.length, 10);
        assert.deepEqual(mineDocQueries([...many].reverse(), { max: 10, seed: 7 }), a, 'input order does not matter');
        assert.deepEqual(mineDocQueries(many, { max: 10, seed: 7 }), a, 'deterministic');
        assert.notDeepEqual(mineDocQueries(many, { max: 10, seed: 8 }).map((m) => m.query), a.map((m) => m.query), 'another seed, another sample');
        const files = a.map((m) => m.answer.file);
        assert.deepEqual(files, [...files].sort(), 'in file order');
        const dropped = many.filter((c) => !files.includes(c.file)).slice(0, 5).map((c) => c.file);
        const fewer = mineDocQueries(many.filter((c) => !dropped.includes(c.file)), { max: 10, seed: 7 });
        assert.deepEqual(fewer, a, 'removing chunks outside the sample keeps it');
        assert.equal(mineDocQueries(many).length, 60, 'default max is above 60');
        assert.deepEqual(mineDocQueries(many, { max: 0 }), []);
    });

    it('chunks without a doc give nothing', () => {
        assert.deepEqual(mineDocQueries([chunk('a.ts', 1, undefined)]), []);
    });
});
