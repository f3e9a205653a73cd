/**
 * The answer panel's renderer (src/webview/markdown.ts) on hostile model output: raw HTML, script
 * and style, event-handler attributes, javascript:/data:/vbscript:/file:/command: links and images,
 * entity tricks, a 200 KB line. The DOM side runs on a small fake document that records every
 * element and attribute created, so a test can say exactly what reached the DOM.
 */
import * as assert from 'node:assert/strict';
import { ALLOWED_TAGS, appendTree, markdownTree, safeHref, treeText, type SafeNode, type TreeDocument } from '../../../src/webview/markdown';

class FakeText {
    constructor(readonly data: string) {}
    get textContent(): string {
        return this.data;
    }
}

class FakeElement {
    readonly attributes = new Map<string, string>();
    readonly children: Array<FakeElement | FakeText> = [];
    constructor(readonly tagName: string) {}
    set className(v: string) {
        this.attributes.set('class', v);
    }
    setAttribute(name: string, value: string): void {
        this.attributes.set(name, value);
    }
    appendChild(child: FakeElement | FakeText): void {
        this.children.push(child);
    }
    get textContent(): string {
        return this.children.map((c) => c.textContent).join('');
    }
    *all(): Generator<FakeElement> {
        for (const c of this.children) {
            if (c instanceof FakeElement) {
                yield c;
                yield* c.all();
            }
        }
    }
}

const fakeDocument = {
    createElement: (tag: string) => new FakeElement(tag),
    createTextNode: (text: string) => new FakeText(text),
} as unknown as TreeDocument;

function render(markdown: string): FakeElement {
    const root = new FakeElement('main');
    appendTree(fakeDocument, root as unknown as Node, markdownTree(markdown));
    return root;
}

/** Every attribute the renderer may set, and what its value may be. */
const ATTRIBUTE_RULES: Record<string, RegExp> = {
    start: /^\d+$/,
    class: /^(language-[A-Za-z0-9_+#.-]{1,32}|align-(left|center|right)|image)$/,
    'data-href': /^https?:\/\//,
    role: /^link$/,
    tabindex: /^0$/,
    title: /^[^]*https?:\/\/[^]*$/,
};

/** The invariants of any rendered answer: allowlisted tags, allowlisted attributes with checked values. */
function assertSafe(root: FakeElement, what: string): void {
    for (const el of root.all()) {
        assert.ok((ALLOWED_TAGS as Set<string>).has(el.tagName), `${what}: a <${el.tagName}> element was created`);
        for (const [name, value] of el.attributes) {
            const rule = ATTRIBUTE_RULES[name];
            assert.ok(rule, `${what}: attribute ${name}="${value}" on <${el.tagName}>`);
            assert.match(value, rule, `${what}: attribute ${name} on <${el.tagName}>`);
            if (name === 'data-href') assert.equal(safeHref(value), value, `${what}: ${value} is not a safe link`);
        }
    }
}

const links = (root: FakeElement): string[] => [...root.all()].flatMap((el) => (el.attributes.has('data-href') ? [el.attributes.get('data-href')!] : []));
const tags = (root: FakeElement): string[] => [...root.all()].map((el) => el.tagName);

describe('webview markdown renderer: hostile model output', () => {
    const rawHtml: Array<[string, string]> = [
        ['img onerror', '<img src=x onerror="acquireVsCodeApi().postMessage({type:\'openLink\',href:\'http://127.0.0.1:9/\'})">'],
        ['script', '<script>window.pwned = 1</script>'],
        ['script split over lines', '<scr\nipt>alert(1)</script>'],
        ['svg onload', '<svg onload=alert(1)><circle r=1></svg>'],
        ['iframe srcdoc', '<iframe srcdoc="<script>alert(1)</script>"></iframe>'],
        ['style block', '<style>body { display: none }</style>'],
        ['style breaking out', '</style><script>alert(1)</script><style>'],
        ['style attribute', '<p style="background:url(http://127.0.0.1:9/x)">styled</p>'],
        ['meta refresh', '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/">'],
        ['base href', '<base href="http://127.0.0.1:9/">'],
        ['form', '<form action="http://127.0.0.1:9/"><button>go</button></form>'],
        ['object/embed', '<object data="http://127.0.0.1:9/x"></object><embed src="x">'],
        ['html block at line start', '<div onclick="alert(1)">\n\nblock\n\n</div>'],
        ['comment', '<!-- <img src=x onerror=alert(1)> -->'],
    ];
    for (const [name, html] of rawHtml) {
        it(`raw HTML stays text: ${name}`, () => {
            const root = render(`Before\n\n${html}\n\nafter`);
            assertSafe(root, name);
            assert.deepEqual(tags(root).filter((t) => t !== 'p' && t !== 'a'), [], `${name}: elements ${JSON.stringify(tags(root))}`);
            // Nothing was dropped either: the markup is shown as the model wrote it.
            for (const line of html.split('\n')) assert.ok(root.textContent.includes(line.trim()), `${name}: ${JSON.stringify(line)} is not in the text`);
        });
    }

    const badLinks = [
        '[x](javascript:alert(1))',
        '[x](JavaScript:alert(1))',
        '[x](  javascript:alert(1)  )',
        '[x](<javascript:alert(1)>)',
        '[x](java\tscript:alert(1))',
        '[x](&#106;avascript:alert(1))',
        '[x](javascript&#58;alert(1))',
        '[x](&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1))',
        '[x](%6Aavascript:alert(1))',
        '<javascript:alert(1)>',
        '[x](vbscript:msgbox(1))',
        '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
        '[x](data:image/png;base64,iVBORw0KGgo=)',
        '[x](file:///etc/passwd)',
        '[x](command:workbench.action.terminal.new)',
        '[x](vscode://file/etc/passwd)',
        '[x](//127.0.0.1:9/protocol-relative)',
        '[x](/relative/path)',
        '[x](#fragment)',
        '[x](https://user:secret@example.com/)',
        '[x][ref]\n\n[ref]: javascript:alert(1)',
    ];
    for (const md of badLinks) {
        it(`no link target for ${JSON.stringify(md)}`, () => {
            const root = render(md);
            assertSafe(root, md);
            assert.deepEqual(links(root), []);
            assert.ok(!tags(root).includes('img'));
        });
    }

    const images = [
        '![alt text](data:image/png;base64,iVBORw0KGgo=)',
        '![alt text](data:image/svg+xml;utf8,<svg onload=alert(1)>)',
        '![alt text](http://127.0.0.1:9/beacon.png)',
        '![alt text](javascript:alert(1))',
        '<img src="http://127.0.0.1:9/beacon.png" alt="alt text">',
    ];
    for (const md of images) {
        it(`an image is never loaded: ${JSON.stringify(md)}`, () => {
            const root = render(md);
            assertSafe(root, md);
            assert.ok(!tags(root).includes('img'), `elements: ${JSON.stringify(tags(root))}`);
            assert.match(root.textContent, /alt text/);
        });
    }

    it('an image with an http(s) source becomes a link to it, its alt text the label', () => {
        const root = render('![a chart](https://example.com/c.png "t")');
        assert.deepEqual(links(root), ['https://example.com/c.png']);
        const span = [...root.all()].find((el) => el.tagName === 'span');
        assert.equal(span?.attributes.get('class'), 'image');
        assert.equal(span?.textContent, 'a chart');
    });

    it('http(s) links, written or bare, keep their target only as data-href (never href)', () => {
        const root = render('[docs](https://example.com/a?b=1 "Docs") and www.example.org and http://127.0.0.1:9/x');
        assertSafe(root, 'links');
        assert.deepEqual(links(root), ['https://example.com/a?b=1', 'http://www.example.org/', 'http://127.0.0.1:9/x']);
        for (const el of root.all()) assert.ok(!el.attributes.has('href') && !el.attributes.has('src'));
        const first = [...root.all()].find((el) => el.tagName === 'a');
        assert.equal(first?.attributes.get('title'), 'Docs\nhttps://example.com/a?b=1');
    });

    it('a link title cannot add attributes', () => {
        const root = render('[x](https://example.com/ "a\\" onmouseover=\\"alert(1)")');
        assertSafe(root, 'title');
        const a = [...root.all()].find((el) => el.tagName === 'a');
        assert.deepEqual([...(a?.attributes.keys() ?? [])].sort(), ['data-href', 'role', 'tabindex', 'title']);
        assert.match(a?.attributes.get('title') ?? '', /onmouseover/);
    });

    it('HTML entities decode to text, never to markup', () => {
        const root = render('&lt;script&gt;alert(1)&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62; &#x3C;b&#x3E;');
        assertSafe(root, 'entities');
        assert.deepEqual(tags(root), ['p']);
        assert.equal(root.textContent, '<script>alert(1)</script> <img src=x onerror=alert(1)> <b>');
    });

    it('table alignment becomes a class, not a style attribute', () => {
        const root = render('| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |');
        assertSafe(root, 'table');
        const classes = [...root.all()].filter((el) => el.tagName === 'td').map((el) => el.attributes.get('class'));
        assert.deepEqual(classes, ['align-left', 'align-center', 'align-right']);
    });

    it('a fence keeps a plain language name and drops any other info string', () => {
        const ok = render('```ts\nconst a = "<script>";\n```');
        assertSafe(ok, 'fence');
        const code = [...ok.all()].find((el) => el.tagName === 'code');
        assert.equal(code?.attributes.get('class'), 'language-ts');
        assert.equal(code?.textContent, 'const a = "<script>";\n');
        for (const info of ['js" onload="alert(1)', '<script>', 'a{}b']) {
            const root = render(`\`\`\`${info}\nx\n\`\`\``);
            assertSafe(root, info);
            assert.ok(!(([...root.all()].find((el) => el.tagName === 'code')?.attributes.has('class')) ?? true), info);
        }
    });

    it('markdown structure survives: headings, lists (with their start), quotes, emphasis, code, rules, breaks', () => {
        const root = render('# T\n\n3. a\n4. *b* **c** ~~d~~ `e`\n\n> q  \n> r\n\n---\n\n- x\n- y');
        assertSafe(root, 'structure');
        assert.deepEqual(tags(root), ['h1', 'ol', 'li', 'li', 'em', 'strong', 's', 'code', 'blockquote', 'p', 'br', 'hr', 'ul', 'li', 'li']);
        assert.equal([...root.all()].find((el) => el.tagName === 'ol')?.attributes.get('start'), '3');
    });

    it('a 200 KB line renders as one text node, whole', () => {
        const line = `${'<img src=x onerror=alert(1)>'.repeat(10)}${'a'.repeat(200 * 1024)}`;
        const root = render(line);
        assertSafe(root, 'long line');
        assert.deepEqual(tags(root), ['p']);
        assert.equal(root.textContent, line);
        const fenced = render(`\`\`\`\n${line}\n\`\`\``);
        assert.equal(fenced.textContent, `${line}\n`);
    });

    it('the tree keeps the text as the DOM shows it, and appendTree refuses a tag outside the allowlist', () => {
        const md = 'a *b* [c](https://example.com) <i>d</i>';
        assert.equal(treeText(markdownTree(md)), render(md).textContent);
        const forged: SafeNode[] = [{ tag: 'script' as never, attrs: {}, children: ['alert(1)'] }, { tag: 'a', attrs: { href: 'javascript:alert(1)' }, children: ['x'] }];
        const root = new FakeElement('main');
        appendTree(fakeDocument, root as unknown as Node, forged);
        assert.deepEqual(tags(root), ['a']);
        assert.deepEqual([...[...root.all()][0].attributes.keys()], []);
    });

    it('safeHref: http and https only', () => {
        assert.equal(safeHref('https://example.com'), 'https://example.com/');
        assert.equal(safeHref('HTTP://EXAMPLE.com/a'), 'http://example.com/a');
        for (const bad of ['javascript:alert(1)', ' javascript:alert(1)', 'data:,x', 'file:///x', 'ftp://x/', 'mailto:a@b', 'command:x', '', undefined, null, `https://x/${'a'.repeat(3000)}`]) {
            assert.equal(safeHref(bad), undefined, String(bad));
        }
    });
});
