import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createTreeSitterParser, type TreeSitterParser } from '../../../src/backends/treeSitter';
import { createChunker, DEFAULT_CHUNKER_OPTIONS, type ChunkerOptions } from '../../../src/core/search/chunker';
import type { ChunkInput, SyntaxNode, SyntaxParser } from '../../../src/core/search/types';

const GRAMMAR_DIR = dirname(require.resolve('@vscode/tree-sitter-wasm'));
const fixture = (name: string): string => readFileSync(join(__dirname, 'fixtures', name), 'utf8');

const CODE_FIXTURES = ['billing.ts', 'inventory.py', 'widgets.js', 'queue.go', 'cache.rs', 'Ledger.java', 'Thermostat.cs', 'matrix.cpp', 'greeter.rb', 'Cart.php', 'deploy.sh'];
const TEXT_FIXTURES = ['README.md', 'warehouse.yaml'];

const CLOSER = /^(?:[)}\]>;,]+|end|fi|done|esac|endif|endfor|endforeach|endwhile|\?>)[;,]?$/;

/**
 * The chunker's invariants on one file: whole non-blank-edged lines, texts and hashes as
 * specified, line order, no overlap (or only the windows' overlap), every non-blank line
 * covered, within the limits (but for one over-long line, or closing lines appended).
 */
function checkInvariants(file: string, text: string, chunks: readonly ChunkInput[], options: ChunkerOptions, windowed: boolean): void {
    const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
    const covered = new Set<number>();
    let previous: ChunkInput | undefined;
    for (const c of chunks) {
        const where = `${file}:${c.startLine}-${c.endLine}`;
        assert.equal(c.file, file);
        assert.ok(c.startLine >= 1 && c.startLine <= c.endLine && c.endLine <= lines.length, where);
        assert.ok(lines[c.startLine - 1].trim() && lines[c.endLine - 1].trim(), `${where}: starts and ends on a non-blank line`);
        if (!options.stripDocs) assert.equal(c.text, lines.slice(c.startLine - 1, c.endLine).join('\n'), `${where}: text is its lines`);
        assert.equal(c.embedText, c.symbol ? `${c.symbol}\n${c.text}` : c.text, `${where}: embedText is the symbol line and the text`);
        assert.ok(!c.embedText.includes(file), `${where}: the path is not embedded`);
        assert.equal(c.hash, createHash('sha256').update(c.embedText).digest('hex'));
        if (previous) {
            assert.ok(c.startLine > previous.startLine, `${where}: in line order`);
            const overlap = previous.endLine - c.startLine + 1;
            assert.ok(overlap <= (windowed ? options.overlapLines : 0), `${where}: overlaps the chunk before by ${overlap} lines`);
        }
        let end = c.endLine;
        while (end > c.startLine && (CLOSER.test(lines[end - 1].trim()) || !lines[end - 1].trim())) end--;
        const chars = lines.slice(c.startLine - 1, end).join('\n').length;
        const oneLine = c.startLine === end;
        assert.ok(end - c.startLine + 1 <= options.maxChunkLines, `${where}: ${end - c.startLine + 1} lines > ${options.maxChunkLines}`);
        assert.ok(oneLine || chars <= options.maxChunkChars, `${where}: ${chars} characters > ${options.maxChunkChars}`);
        if (c.doc !== undefined) {
            assert.ok(c.doc.trim() && c.docLines, `${where}: a doc has its lines`);
            assert.ok(c.docLines[0] >= c.startLine && c.docLines[1] <= c.endLine, `${where}: its doc lies inside it`);
        }
        for (let l = c.startLine; l <= c.endLine; l++) covered.add(l);
        previous = c;
    }
    lines.forEach((l, i) => assert.ok(!l.trim() || covered.has(i + 1), `${file}:${i + 1} is in no chunk: ${JSON.stringify(l)}`));
}

const symbols = (chunks: readonly ChunkInput[]): string[] => chunks.map((c) => c.symbol ?? '-');
const chunkOf = (chunks: readonly ChunkInput[], symbol: string): ChunkInput => {
    const c = chunks.find((x) => x.symbol === symbol);
    assert.ok(c, `no chunk ${symbol} in ${symbols(chunks).join(', ')}`);
    return c;
};
const lineOf = (text: string, needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('search/chunker: chunks that follow the code', function () {
    this.timeout(30_000);
    let parser: TreeSitterParser;
    before(() => {
        parser = createTreeSitterParser({ dir: GRAMMAR_DIR });
    });
    after(() => parser.dispose());

    describe('invariants on every fixture, at several limits, LF and CRLF', () => {
        const limits: Array<Partial<ChunkerOptions>> = [
            {},
            { maxChunkLines: 20 },
            { maxChunkLines: 8, maxChunkChars: 300, minDefinitionLines: 2 },
            { maxChunkLines: 12, maxChunkChars: 200, windowLines: 6, overlapLines: 2 },
            { stripDocs: true },
        ];
        for (const name of [...CODE_FIXTURES, ...TEXT_FIXTURES]) {
            it(name, async () => {
                for (const option of limits) {
                    const options = { ...DEFAULT_CHUNKER_OPTIONS, ...option };
                    const chunker = createChunker(parser, options);
                    const text = fixture(name);
                    const chunks = await chunker.chunk(`src/${name}`, text);
                    assert.ok(chunks.length > 0);
                    checkInvariants(`src/${name}`, text, chunks, options, TEXT_FIXTURES.includes(name));
                    const crlf = await chunker.chunk(`src/${name}`, text.replace(/\n/g, '\r\n'));
                    assert.deepEqual(crlf, chunks, 'CRLF gives the same chunks and hashes');
                }
            });
        }
    });

    describe('TypeScript', () => {
        it('one chunk per function, class member and interface, with their JSDoc, decorators and symbols', async () => {
            const text = fixture('billing.ts');
            const chunks = await createChunker(parser).chunk('src/billing.ts', text);
            assert.deepEqual(symbols(chunks), [
                '-', 'enum InvoiceState', 'interface LineItem', 'function roundHalfEven', 'function formatMoney', 'function audited',
                'class Invoice', 'Invoice.constructor', 'Invoice.addItem', 'Invoice.subtotal', 'Invoice.taxes', 'Invoice.total',
                'Invoice.transition', 'Invoice.render', 'function instalments',
            ]);
            const addItem = chunkOf(chunks, 'Invoice.addItem');
            assert.equal(addItem.startLine, lineOf(text, '/** Adds a line item'), 'the JSDoc is attached');
            assert.ok(addItem.text.includes('@audited\n    addItem(item: LineItem): void {'), 'the decorator is attached');
            assert.equal(addItem.doc, 'Adds a line item; only a draft can change.');
            assert.deepEqual(addItem.docLines, [addItem.startLine, addItem.startLine]);
            const round = chunkOf(chunks, 'function roundHalfEven');
            assert.equal(round.doc, [
                'Rounds an amount in minor units half to even, as most tax authorities require.',
                '@param amount the amount in minor units, possibly fractional',
                '@returns the rounded amount',
            ].join('\n'), 'comment markers removed');
            assert.ok(round.text.startsWith('/**') && round.text.endsWith('};'), 'an arrow function in a const is one chunk');
            assert.ok(chunkOf(chunks, 'Invoice.transition').text.includes('transition = (to: InvoiceState'), 'a class field holding an arrow function');
            const header = chunkOf(chunks, 'class Invoice');
            assert.ok(header.text.includes('export class Invoice {') && header.text.includes('private state = InvoiceState.Draft;'), 'the class header carries its fields');
            assert.match(header.doc ?? '', /^An invoice: line items/);
            assert.equal(chunks[0].text.split('\n')[0], '/*', 'the file header comment stays with the code after it');
            const last = chunks[chunks.length - 1];
            assert.equal(last.symbol, 'function instalments');
            assert.equal(last.endLine, text.trimEnd().split('\n').length);
        });

        it('a class that fits is one chunk; one that does not is cut children first', async () => {
            const text = fixture('billing.ts');
            const whole = await createChunker(parser, { maxChunkLines: 200, maxChunkChars: 20_000 }).chunk('src/billing.ts', text);
            const invoice = chunkOf(whole, 'class Invoice');
            assert.equal(invoice.startLine, lineOf(text, 'An invoice: line items') - 1);
            assert.equal(invoice.endLine, lineOf(text, 'Splits a total') - 2);
            assert.ok(!whole.some((c) => c.symbol?.startsWith('Invoice.')));
        });

        it('a long method is cut at its least-nested line boundaries, its header and doc kept with its first lines', async () => {
            const text = fixture('billing.ts');
            const lines = text.split('\n');
            const chunks = await createChunker(parser, { maxChunkLines: 12 }).chunk('src/billing.ts', text);
            const render = chunks.filter((c) => c.symbol === 'Invoice.render');
            assert.ok(render.length >= 3, `render in ${render.length} chunks`);
            assert.equal(render[0].startLine, lineOf(text, 'Renders the invoice as plain text') - 1);
            assert.ok(render[0].text.includes('render(): string {'), 'the signature is with the doc');
            assert.ok(render[0].doc?.startsWith('Renders the invoice'));
            for (const piece of render.slice(1)) {
                // Each later piece starts with a statement of the method's body (8 spaces), never inside a loop or if.
                assert.match(lines[piece.startLine - 1], /^ {8}\S/, `cut inside a block at line ${piece.startLine}`);
                assert.equal(piece.doc, undefined);
            }
            // The method's closing line, and the class's after it (closing lines join the chunk before them).
            assert.equal(render[render.length - 1].endLine, lineOf(text, "return lines.join('\\n');") + 2);
        });

        it('a long function with nested blocks is cut between the blocks, not inside them', async () => {
            const block = (name: string): string[] => [`    if (${name}) {`, ...Array.from({ length: 6 }, (_, i) => `        step(${name}, ${i});`), '    }'];
            const text = ['export function pipeline(a: boolean, b: boolean, c: boolean): void {', ...block('a'), ...block('b'), ...block('c'), '}', ''].join('\n');
            const chunks = await createChunker(parser, { maxChunkLines: 18, minDefinitionLines: 1 }).chunk('p.ts', text);
            assert.deepEqual(chunks.map((c) => [c.startLine, c.endLine]), [[1, 17], [18, 26]]);
            assert.ok(chunks.every((c) => c.symbol === 'function pipeline'));
        });
    });

    describe('Python', () => {
        it('functions, classes and methods with decorators, docstrings and leading comments', async () => {
            const text = fixture('inventory.py');
            const chunks = await createChunker(parser).chunk('inventory.py', text);
            assert.deepEqual(symbols(chunks), [
                '-', 'def retry', 'class Item', 'class Reservation', 'class Warehouse', 'Warehouse.__init__', 'Warehouse.skus',
                'Warehouse.receive', 'Warehouse.available', 'Warehouse.reserve', 'Warehouse.release', 'Warehouse.parse_line',
                'Warehouse.from_count', 'Warehouse.sync', 'def reorder_list', '-',
            ]);
            assert.ok(chunks[0].text.startsWith('"""Inventory of a small warehouse'), 'the module docstring opens the first chunk');
            const skus = chunkOf(chunks, 'Warehouse.skus');
            assert.equal(skus.startLine, lineOf(text, '@property'), 'the decorator is attached');
            assert.equal(skus.doc, 'All known SKUs, sorted.');
            const receive = chunkOf(chunks, 'Warehouse.receive');
            assert.equal(receive.doc, [
                'Add received units to the stock of a SKU.', '', ':param sku: the stock keeping unit', ':param quantity: units received, positive', ':returns: the new stock level',
            ].join('\n'), 'quotes removed, dedented');
            assert.deepEqual(receive.docLines, [lineOf(text, '"""Add received units'), lineOf(text, ':returns: the new stock level') + 1]);
            assert.equal(chunkOf(chunks, 'class Reservation').doc, 'Reservations hold stock for an order until it ships or is cancelled.', 'a leading comment is the doc');
            assert.equal(chunkOf(chunks, 'Warehouse.available').doc, undefined, 'a comment inside the body is not a doc');
            assert.ok(chunkOf(chunks, 'Warehouse.sync').text.startsWith('    @retry(times=3)\n    async def sync'));
            assert.ok(chunkOf(chunks, 'class Warehouse').text.includes('"""Stock levels per SKU'));
            assert.ok(chunkOf(chunks, 'def retry').text.includes('def wrapper(*args, **kwargs):'), 'nested functions stay inside theirs');
        });

        it('a class that does not fit: its methods become chunks, the rest carries the class symbol', async () => {
            const text = fixture('inventory.py');
            const chunks = await createChunker(parser, { maxChunkLines: 70 }).chunk('inventory.py', text);
            const warehouse = chunks.filter((c) => c.symbol === 'class Warehouse' || c.symbol?.startsWith('Warehouse.'));
            assert.ok(warehouse.length > 1);
            const all = await createChunker(parser, { maxChunkLines: 200, maxChunkChars: 20_000 }).chunk('inventory.py', text);
            assert.ok(!all.some((c) => c.symbol?.startsWith('Warehouse.')), 'with room, the class is one chunk');
        });
    });

    describe('JavaScript', () => {
        it('functions, arrow functions in consts, prototype assignments, classes, the default export', async () => {
            const chunks = await createChunker(parser).chunk('web/widgets.js', fixture('widgets.js'));
            assert.deepEqual(symbols(chunks), ['function register', 'function memoize', 'function Counter', 'function Counter.prototype.increment', 'class Toggle', 'function createAll']);
            assert.equal(chunkOf(chunks, 'function register').doc?.split('\n')[0], 'Registers a widget factory under a name.');
            assert.equal(chunkOf(chunks, 'function Counter.prototype.increment').doc, 'Adds one and tells every listener the new value.');
        });
    });

    describe('other grammars', () => {
        const expected: Record<string, string[]> = {
            'queue.go': ['type Queue', 'func Queue.Push', 'func New'],
            'cache.rs': ['struct Lru', 'Lru.new', 'Lru.get'],
            'Ledger.java': ['class Ledger', 'Ledger.post', 'Ledger.size'],
            'Thermostat.cs': ['class Home.Climate.Thermostat', 'Home.Climate.Thermostat.ShouldHeat'],
            'matrix.cpp': ['class linalg.Matrix', 'linalg.Matrix.at', 'function multiply'],
            'greeter.rb': ['class Greeter', 'Greeter.initialize', 'Greeter.greet'],
            'Cart.php': ['class Cart', 'Cart.add', 'Cart.count'],
            'deploy.sh': ['function build_and_push'],
        };
        for (const [name, want] of Object.entries(expected)) {
            it(`${name}: ${want.join(', ')}`, async () => {
                const chunks = await createChunker(parser, { maxChunkLines: 8, minDefinitionLines: 2 }).chunk(name, fixture(name));
                for (const symbol of want) assert.ok(symbols(chunks).includes(symbol), `${symbol} in ${symbols(chunks).join(', ')}`);
                assert.ok(chunks.some((c) => c.doc), 'docs are found');
            });
        }

        it('docs in each language, markers removed', async () => {
            const docs = async (name: string): Promise<Array<string | undefined>> =>
                (await createChunker(parser, { maxChunkLines: 8, minDefinitionLines: 2 }).chunk(name, fixture(name))).map((c) => c.doc).filter(Boolean);
            assert.deepEqual(await docs('queue.go'), ['Queue holds jobs in arrival order, up to a capacity.', 'Push appends a job, or fails with ErrFull.', 'New makes an empty queue for at most capacity jobs.']);
            assert.deepEqual(await docs('cache.rs'), ['An LRU cache mapping keys to values.', 'Makes an empty cache.', 'Looks a key up and marks it as recently used.']);
            assert.deepEqual(await docs('greeter.rb'), ['Greets people by the time of day.', 'Says hello, or good evening after six.']);
            assert.deepEqual(await docs('deploy.sh'), ['Builds the image and pushes it with the commit as its tag.']);
        });
    });

    describe('line windows elsewhere', () => {
        it('Markdown and YAML: windows that overlap and cover every line', async () => {
            const options = { ...DEFAULT_CHUNKER_OPTIONS, windowLines: 10, overlapLines: 3 };
            for (const name of TEXT_FIXTURES) {
                const text = fixture(name);
                const chunks = await createChunker(parser, options).chunk(name, text);
                assert.ok(chunks.length >= 2, name);
                assert.ok(chunks.every((c) => c.symbol === undefined && c.doc === undefined));
                checkInvariants(name, text, chunks, options, true);
                assert.ok(chunks.slice(1).some((c, i) => c.startLine <= chunks[i].endLine), `${name}: windows overlap`);
            }
        });

        it('a language the parser has no grammar for, no parser, a parse that gave up or failed, or a tree of errors: windows', async () => {
            const text = fixture('billing.ts');
            const windowsOf = async (p: SyntaxParser | undefined): Promise<ChunkInput[]> => createChunker(p, { windowLines: 30, overlapLines: 5 }).chunk('src/billing.ts', text);
            const reference = await windowsOf(undefined);
            assert.ok(reference.every((c) => c.symbol === undefined));
            assert.ok(reference.slice(1).every((c, i) => c.startLine <= reference[i].endLine), 'overlapping windows');
            const gaveUp: SyntaxParser = { languages: new Set(['typescript']), parse: async () => undefined };
            assert.deepEqual(await windowsOf(gaveUp), reference);
            const noGrammar: SyntaxParser = { languages: new Set(['python']), parse: async () => assert.fail('not asked') };
            assert.deepEqual(await windowsOf(noGrammar), reference);
            const errors: SyntaxParser = { languages: new Set(['typescript']), parse: async () => errorTree(text) };
            assert.deepEqual(await windowsOf(errors), reference);
            const fails: SyntaxParser = { languages: new Set(['typescript']), parse: async () => Promise.reject(new Error('RuntimeError: memory access out of bounds')) };
            assert.deepEqual(await windowsOf(fails), reference);
        });

        it('a huge single line is a chunk of its own, the lines around it are chunked as usual', async () => {
            const huge = `export const TABLE = [${Array.from({ length: 3000 }, (_, i) => i).join(', ')}];`;
            const text = `/** Doubles a number. */\nexport function double(x: number): number {\n    return x * 2;\n}\n\n${huge}\n\nexport function triple(x: number): number {\n    return x * 3;\n}\n`;
            const chunks = await createChunker(parser, { maxChunkChars: 500, minDefinitionLines: 1 }).chunk('t.ts', text);
            assert.deepEqual(chunks.map((c) => [c.startLine, c.endLine, c.symbol ?? '-']), [[1, 4, 'function double'], [6, 6, '-'], [8, 10, 'function triple']]);
            const windowed = await createChunker(undefined, { maxChunkChars: 500 }).chunk('t.ts', text);
            assert.ok(windowed.some((c) => c.startLine === 6 && c.endLine === 6), 'windows too give the line a chunk of its own');
            checkInvariants('t.ts', text, windowed, { ...DEFAULT_CHUNKER_OPTIONS, maxChunkChars: 500 }, true);
        });
    });

    describe('stripDocs', () => {
        it('leaves JSDoc and docstrings out of text and embedText, keeps doc and docLines', async () => {
            const ts = fixture('billing.ts');
            const plain = await createChunker(parser).chunk('billing.ts', ts);
            const stripped = await createChunker(parser, { stripDocs: true }).chunk('billing.ts', ts);
            assert.deepEqual(stripped.map((c) => [c.startLine, c.endLine, c.symbol, c.doc, c.docLines]), plain.map((c) => [c.startLine, c.endLine, c.symbol, c.doc, c.docLines]));
            const addItem = chunkOf(stripped, 'Invoice.addItem');
            assert.equal(addItem.text.split('\n')[0], '    @audited');
            assert.ok(!addItem.embedText.includes('Adds a line item'));
            assert.notEqual(addItem.hash, chunkOf(plain, 'Invoice.addItem').hash);
            const undocumented = chunkOf(stripped, 'Invoice.total');
            assert.equal(undocumented.text, chunkOf(plain, 'Invoice.total').text, 'chunks without a doc are unchanged');

            const py = fixture('inventory.py');
            const receive = chunkOf(await createChunker(parser, { stripDocs: true }).chunk('inventory.py', py), 'Warehouse.receive');
            assert.ok(!receive.text.includes('Add received units') && !receive.text.includes(':param'));
            assert.ok(receive.text.startsWith('    def receive(self, sku: str, quantity: int) -> int:\n        if quantity <= 0:'));
            assert.equal(receive.doc?.split('\n')[0], 'Add received units to the stock of a SKU.');
        });

        it('keeps code that shares a line with the docstring', async () => {
            const text = 'def area(r):\n    """Area of a circle of radius r."""; k = 3.14159\n    return k * r * r\n';
            const [chunk] = await createChunker(parser, { stripDocs: true, minDefinitionLines: 1 }).chunk('geo.py', text);
            assert.equal(chunk.doc, 'Area of a circle of radius r.');
            assert.equal(chunk.text, 'def area(r):\n    ; k = 3.14159\n    return k * r * r');
        });
    });

    describe('hashes', () => {
        it('are stable, equal for equal text in any file or place, and change only where the text changed', async () => {
            const chunker = createChunker(parser);
            const text = fixture('inventory.py');
            const a = await chunker.chunk('a/inventory.py', text);
            const again = await createChunker(createTreeSitterParser({ dir: GRAMMAR_DIR })).chunk('a/inventory.py', text);
            assert.deepEqual(again.map((c) => c.hash), a.map((c) => c.hash));
            const moved = await chunker.chunk('b/renamed.py', `\n\n${text}`);
            assert.deepEqual(moved.map((c) => c.hash), a.map((c) => c.hash), 'a moved file, or lines shifted, re-embeds nothing');
            const edited = await chunker.chunk('a/inventory.py', text.replace('raise KeyError(sku)', 'raise KeyError(f"unknown {sku}")'));
            const changed = edited.filter((c, i) => c.hash !== a[i].hash);
            assert.deepEqual(changed.map((c) => c.symbol), ['Warehouse.receive']);
            assert.equal(new Set(a.map((c) => c.hash)).size, a.length);
        });
    });

    it('rejects with the signal\'s reason when aborted', async () => {
        const controller = new AbortController();
        controller.abort(new Error('superseded'));
        await assert.rejects(createChunker(parser).chunk('billing.ts', fixture('billing.ts'), controller.signal), /superseded/);
    });

    it('small undocumented definitions are grouped with the code around them, and named when alone', async () => {
        const grouped = await createChunker(parser).chunk('m.ts', 'import { a } from "a";\n\nfunction one() {\n    return a;\n}\nfunction two() {\n    return 2;\n}\n');
        assert.deepEqual(grouped.map((c) => [c.startLine, c.endLine, c.symbol]), [[1, 8, undefined]]);
        const alone = await createChunker(parser).chunk('f.js', 'function f() {\n\treturn 1;\n}');
        assert.deepEqual(alone.map((c) => [c.startLine, c.endLine, c.symbol]), [[1, 3, 'function f']]);
    });

    it('an empty or blank file has no chunks', async () => {
        assert.deepEqual(await createChunker(parser).chunk('e.ts', ''), []);
        assert.deepEqual(await createChunker(parser).chunk('e.md', '\n  \n\t\n'), []);
    });
});

/** A root whose one child is an ERROR node over the whole text. */
function errorTree(text: string): SyntaxNode {
    const rows = text.split('\n').length - 1;
    const node = (type: string, children: SyntaxNode[]): SyntaxNode => ({
        type, startRow: 0, endRow: rows, startIndex: 0, endIndex: text.length, isNamed: true, children, text, childForField: () => undefined,
    });
    return node('program', [node('ERROR', [])]);
}
