/**
 * Model output (untrusted markdown) to DOM, without any HTML string ever being parsed.
 *
 * markdown-it parses the text into tokens (raw HTML disabled: `<script>` and friends are text), and
 * `markdownTree` turns the tokens into a tree of plain data whose elements come from ALLOWED_TAGS
 * and whose only attributes are the few in `SafeAttrs`, each checked here. `appendTree` then builds
 * the DOM with createElement / createTextNode / typed properties: no innerHTML, no event-handler or
 * style attribute, no URL-bearing attribute (src, href, action...) is ever set.
 *
 * Invariants:
 * - a link keeps its target only when `safeHref` accepts it (http: and https: URLs), and then only
 *   as `data-href`: the webview never navigates; the panel asks the extension to open it;
 * - an image is never loaded: it becomes its alt text (a link to its source when that is safe);
 * - table alignment becomes a class, not a `style` attribute (the CSP has no 'unsafe-inline');
 * - a token of an unknown kind keeps its text and loses its element.
 *
 * Pure: no DOM at import (the unit tests run it in Node); `appendTree` takes the document.
 */
import MarkdownIt from 'markdown-it';

type Token = ReturnType<MarkdownIt['parse']>[number];

export const ALLOWED_TAGS = new Set([
    'p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li', 'blockquote', 'pre', 'code', 'em', 'strong', 's', 'a', 'hr', 'br',
    'table', 'thead', 'tbody', 'tr', 'th', 'td', 'span',
] as const);
export type SafeTag = typeof ALLOWED_TAGS extends Set<infer T> ? T : never;

export interface SafeAttrs {
    /** `ol` only: the first number, a non-negative integer. */
    readonly start?: number;
    /** `code` of a fence: the language named in the info string, `[A-Za-z0-9_+#.-]{1,32}`. */
    readonly lang?: string;
    /** `th` / `td`: the column's alignment. */
    readonly align?: 'left' | 'center' | 'right';
    /** `a` only: an http(s) URL that `safeHref` accepted. */
    readonly href?: string;
    /** `a` only: the link's title, shown as a tooltip (text). */
    readonly title?: string;
    /** `span` only: what the span stands for ("image": an image's alt text). */
    readonly role?: 'image';
}

export interface SafeElement {
    readonly tag: SafeTag;
    readonly attrs: SafeAttrs;
    readonly children: SafeNode[];
}

/** A string is a text node. */
export type SafeNode = string | SafeElement;

/** Longest URL kept as a link target (characters); a longer one stays text. */
const MAX_HREF = 2048;

/** The URL when it is one the panel may open (http: or https:, no credentials), else undefined. */
export function safeHref(raw: string | null | undefined): string | undefined {
    if (!raw || raw.length > MAX_HREF) return undefined;
    let url: URL;
    try {
        url = new URL(raw);
    } catch {
        return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (url.username !== '' || url.password !== '') return undefined;
    return url.href;
}

const ALIGN = /^text-align:\s*(left|center|right)$/;
const LANG = /^[A-Za-z0-9_+#.-]{1,32}$/;

function isTag(tag: string): tag is SafeTag {
    return (ALLOWED_TAGS as Set<string>).has(tag);
}

/** One parser per renderer; `html: false` keeps raw HTML as text, linkify finds bare URLs. */
export function createParser(): MarkdownIt {
    return new MarkdownIt({ html: false, linkify: true, typographer: false, breaks: false });
}

/** The safe tree of `markdown`. */
export function markdownTree(markdown: string, parser: MarkdownIt = createParser()): SafeNode[] {
    const root: SafeNode[] = [];
    // The children list that new nodes go into; an open token pushes a level, its close pops it.
    // Levels of dropped elements (hidden paragraphs, unknown tags) push the parent's list again, so
    // that their children are kept and every close still pops exactly one level.
    const stack: SafeNode[][] = [root];
    const top = (): SafeNode[] => stack[stack.length - 1];
    const open = (tag: string, attrs: SafeAttrs, keep: boolean): void => {
        if (keep && isTag(tag)) {
            const el: SafeElement = { tag, attrs, children: [] };
            top().push(el);
            stack.push(el.children);
        } else stack.push(top());
    };
    const close = (): void => {
        if (stack.length > 1) stack.pop();
    };
    const text = (s: string): void => {
        if (s === '') return;
        const list = top();
        const last = list[list.length - 1];
        if (typeof last === 'string') list[list.length - 1] = last + s;
        else list.push(s);
    };
    const leaf = (tag: SafeTag, attrs: SafeAttrs, children: SafeNode[]): void => {
        top().push({ tag, attrs, children });
    };

    const walk = (tokens: readonly Token[]): void => {
        for (const t of tokens) {
            switch (t.type) {
                case 'inline':
                    walk(t.children ?? []);
                    break;
                case 'text':
                case 'html_inline':
                case 'html_block':
                    text(t.content);
                    break;
                case 'softbreak':
                    text('\n');
                    break;
                case 'hardbreak':
                    leaf('br', {}, []);
                    break;
                case 'code_inline':
                    leaf('code', {}, [t.content]);
                    break;
                case 'code_block':
                case 'fence': {
                    const lang = t.info.trim().split(/\s+/)[0] ?? '';
                    leaf('pre', {}, [{ tag: 'code', attrs: LANG.test(lang) ? { lang } : {}, children: [t.content] }]);
                    break;
                }
                case 'hr':
                    leaf('hr', {}, []);
                    break;
                case 'image': {
                    const alt = t.children && t.children.length > 0 ? plainText(t.children) : t.content;
                    const label: SafeNode = { tag: 'span', attrs: { role: 'image' }, children: [alt || 'image'] };
                    const href = safeHref(t.attrGet('src'));
                    if (href) leaf('a', { href }, [label]);
                    else top().push(label);
                    break;
                }
                case 'link_open': {
                    const href = safeHref(t.attrGet('href'));
                    const title = t.attrGet('title');
                    open('a', href ? { href, ...(title ? { title } : {}) } : {}, href !== undefined);
                    break;
                }
                default:
                    if (t.nesting === 1) open(t.tag, attrsOf(t), !t.hidden);
                    else if (t.nesting === -1) close();
                    else text(t.content);
            }
        }
    };
    walk(parser.parse(markdown, {}));
    return root;
}

function attrsOf(t: Token): SafeAttrs {
    if (t.tag === 'ol') {
        const start = Number(t.attrGet('start'));
        return Number.isSafeInteger(start) && start >= 0 && start !== 1 ? { start } : {};
    }
    if (t.tag === 'th' || t.tag === 'td') {
        const m = ALIGN.exec(t.attrGet('style') ?? '');
        return m ? { align: m[1] as 'left' | 'center' | 'right' } : {};
    }
    return {};
}

function plainText(tokens: readonly Token[]): string {
    return tokens.map((t) => (t.children ? plainText(t.children) : t.type === 'softbreak' || t.type === 'hardbreak' ? ' ' : t.content)).join('');
}

/** The part of the DOM `appendTree` uses (a real `document` in the webview; a fake in unit tests). */
export interface TreeDocument {
    createElement(tag: string): HTMLElement;
    createTextNode(text: string): Text;
}

/**
 * Appends the DOM of `nodes` to `parent`. Only tags of ALLOWED_TAGS are created (checked again
 * here: the tree is a type, not a proof), and only these attributes are set: `start`, `class`
 * (`language-…`, `align-…`, `image`), `data-href`, `title`, `tabindex` and `role` on links.
 */
export function appendTree(doc: TreeDocument, parent: Node, nodes: readonly SafeNode[]): void {
    for (const n of nodes) {
        if (typeof n === 'string') {
            parent.appendChild(doc.createTextNode(n));
            continue;
        }
        if (!isTag(n.tag)) continue;
        const el = doc.createElement(n.tag);
        const a = n.attrs;
        if (n.tag === 'ol' && a.start !== undefined && Number.isSafeInteger(a.start) && a.start >= 0) el.setAttribute('start', String(a.start));
        if (n.tag === 'code' && a.lang !== undefined && LANG.test(a.lang)) el.className = `language-${a.lang}`;
        if ((n.tag === 'th' || n.tag === 'td') && (a.align === 'left' || a.align === 'center' || a.align === 'right')) el.className = `align-${a.align}`;
        if (n.tag === 'span' && a.role === 'image') el.className = 'image';
        if (n.tag === 'a') {
            const href = safeHref(a.href);
            if (href !== undefined) {
                el.setAttribute('data-href', href);
                el.setAttribute('role', 'link');
                el.setAttribute('tabindex', '0');
                el.setAttribute('title', a.title ? `${a.title}\n${href}` : href);
            }
        }
        appendTree(doc, el, n.children);
        parent.appendChild(el);
    }
}

/** The text of a tree, as its DOM's textContent would be. */
export function treeText(nodes: readonly SafeNode[]): string {
    return nodes.map((n) => (typeof n === 'string' ? n : treeText(n.children))).join('');
}
