/**
 * Helpers for the webview security tests (security.ui.test.ts): a loopback "canary" server that
 * records every request a payload might make, the hostile texts, probes installed in a webview's
 * document (CSP violation reports, execution markers), and a scan of the rendered DOM.
 *
 * How execution is detected: every payload, if it ran, would set `window.__zetaPwned`, call
 * `fetch()` / load an image / navigate to the canary, or post `openLink` to the extension with a
 * canary URL (which the workbench would open in a new browser page, hitting the canary). The
 * tests assert that none of these happened, that the webview reported no CSP violation (nothing
 * even tried to load), and that the DOM holds no script, no event-handler or style attribute and
 * no URL attribute outside what the page itself declares.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Frame, Page } from 'playwright-core';

export interface Canary {
    /** The canary's URL for `tag` (a distinct path per payload, so a hit names it). */
    url(tag: string): string;
    /** Paths requested so far, in order. */
    readonly hits: string[];
    /** The same requests with who asked (referer, fetch destination), for failure messages. */
    readonly details: string[];
    close(): Promise<void>;
}

export async function startCanary(): Promise<Canary> {
    const hits: string[] = [];
    const details: string[] = [];
    const server: Server = createServer((req, res) => {
        hits.push(req.url ?? '?');
        details.push(`${req.method ?? '?'} ${req.url ?? '?'} referer=${req.headers.referer ?? '-'} dest=${String(req.headers['sec-fetch-dest'] ?? '-')} mode=${String(req.headers['sec-fetch-mode'] ?? '-')}`);
        res.writeHead(204, { 'access-control-allow-origin': '*' });
        res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: (tag) => `http://127.0.0.1:${port}/${tag}`,
        hits,
        details,
        close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
}

/** JavaScript a payload would run: marks the window, reports to the canary, and asks the extension to open the canary. */
function js(tag: string, canary: Canary): string {
    return `window.__zetaPwned='${tag}';fetch('${canary.url(`${tag}-fetch`)}');new Image().src='${canary.url(`${tag}-image`)}';`
        + `try{acquireVsCodeApi().postMessage({type:'openLink',href:'${canary.url(`${tag}-openLink`)}'})}catch(e){}`;
}

/** Bytes of the long line in the hostile answer. */
export const LONG_LINE_BYTES = 200 * 1024;

/**
 * A model answer built to escape the answer panel: raw HTML with handlers, script and style,
 * javascript:/data:/vbscript: links and images, entity tricks, remote images, and a 200 KB line.
 * `safeLink` is the one http link it holds (the test may click it).
 */
export function hostileAnswer(canary: Canary): { markdown: string; safeLink: string } {
    const c = (tag: string): string => canary.url(tag);
    const safeLink = c('safe-link');
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const lines = [
        '# Hostile answer',
        '',
        `<img src=x onerror="${js('img-onerror', canary)}">`,
        '',
        `<script>${js('script-block', canary)}</script>`,
        '',
        `Inline <script>${js('script-inline', canary)}</script> and <b onmouseover="${js('b-hover', canary)}">bold</b>.`,
        '',
        `<svg onload="${js('svg-onload', canary)}"><circle r="1"/></svg>`,
        '',
        `<iframe src="${c('iframe')}" srcdoc="<script>parent.__zetaPwned='srcdoc'</script>"></iframe>`,
        '',
        `<style>body { background: url(${c('style-block')}) } #content { display: none }</style>`,
        '',
        `</style><script>${js('style-breakout', canary)}</script><style>`,
        '',
        `<div style="background:url(${c('style-attr')})">styled div</div> <p style="position:fixed;inset:0">overlay</p>`,
        '',
        `<meta http-equiv="refresh" content="0;url=${c('meta-refresh')}"> <base href="${c('base')}/">`,
        '',
        `<form action="${c('form')}"><button>submit</button></form> <object data="${c('object')}"></object> <embed src="${c('embed')}">`,
        '',
        `<a href="${c('raw-anchor')}">raw anchor</a> <a href="javascript:${js('raw-js-anchor', canary)}">raw js anchor</a>`,
        '',
        `[javascript link](javascript:window.__zetaPwned='js-link') [JaVaScRiPt link](JaVaScRiPt:window.__zetaPwned='js-link-case')`,
        '',
        `[entity link](&#106;avascript:window.__zetaPwned='entity-link') [colon entity](javascript&#58;window.__zetaPwned='colon-entity')`,
        '',
        `[data link](data:text/html;base64,${b64(`<script>${js('data-link', canary)}</script>`)}) [vbscript link](vbscript:msgbox(1))`,
        '',
        `![data svg image](data:image/svg+xml;base64,${b64(`<svg xmlns="http://www.w3.org/2000/svg" onload="${js('data-svg', canary)}"/>`)})`,
        `![data png image](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==)`,
        `![remote image](${c('remote-image.png')})`,
        '',
        `[command link](command:workbench.action.terminal.new) [file link](file:///etc/passwd)`,
        '',
        `&lt;script&gt;window.__zetaPwned='entity-text'&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62;`,
        '',
        '| payload | cell |',
        '|:--|--:|',
        `| <img src=x onerror="${js('table-img', canary)}"> | \`<script>\` |`,
        '',
        '```html" onload="window.__zetaPwned=\'fence-info\'',
        `<script>${js('fence', canary)}</script>`,
        '```',
        '',
        `[safe link](${safeLink})`,
        '',
        // One 200 KB line, payloads at both ends.
        `<img src=x onerror="${js('long-start', canary)}">${'long line '.repeat(LONG_LINE_BYTES / 10)}<script>${js('long-end', canary)}</script>`,
        '',
        'The end.',
    ];
    return { markdown: lines.join('\n'), safeLink };
}

/** Marks the webview hostile.md fixture and a file created at run time contain, to find them in search. */
export const SEARCH_WORD = 'quokkabait';

/** A workspace file with a hostile name and hostile content that names the canary (written at run time). */
export function hostileFile(canary: Canary): { name: string; text: string } {
    return {
        name: `"><img src=x onerror="window.__zetaPwned='file-name'"> ${SEARCH_WORD}.md`,
        text: [
            `${SEARCH_WORD} <img src=x onerror="${js('search-img', canary)}">`,
            `${SEARCH_WORD} <script>${js('search-script', canary)}</script>`,
            `${SEARCH_WORD} </style><style>body{background:url(${canary.url('search-style')})}</style>`,
            `${SEARCH_WORD} [link](javascript:window.__zetaPwned='search-js-link') ![i](${canary.url('search-image.png')})`,
            `${SEARCH_WORD} &lt;script&gt;window.__zetaPwned='search-entity'&lt;/script&gt;`,
        ].join('\n'),
    };
}

/** What the probes in a webview saw. */
export interface ProbeReport {
    /** CSP violations reported in the document since the probes were installed: "directive blockedURI". */
    readonly violations: string[];
    /** `window.__zetaPwned` of the webview's document, if a payload set it. */
    readonly pwned: string | undefined;
    /** The document's URL (a navigation would change it). */
    readonly href: string;
}

/** Installs the probes in `frame` (a webview's document): call before the hostile text arrives. */
export async function installProbes(frame: Frame): Promise<void> {
    await frame.evaluate(() => {
        const w = window as unknown as { __zetaViolations?: string[] };
        if (w.__zetaViolations) return;
        w.__zetaViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => w.__zetaViolations?.push(`${e.effectiveDirective} ${e.blockedURI}`));
    });
}

export async function probeReport(frame: Frame): Promise<ProbeReport> {
    return frame.evaluate(() => {
        const w = window as unknown as { __zetaViolations?: string[]; __zetaPwned?: string };
        return { violations: [...(w.__zetaViolations ?? ['probes not installed'])], pwned: w.__zetaPwned, href: location.href };
    });
}

/** `window.__zetaPwned` in every frame of the page (the workbench and all webviews). */
export async function pwnedAnywhere(page: Page): Promise<string[]> {
    const found: string[] = [];
    for (const frame of page.frames()) {
        const v = await frame.evaluate(() => (window as unknown as { __zetaPwned?: string }).__zetaPwned).catch(() => undefined);
        if (v !== undefined) found.push(`${frame.url()}: ${v}`);
    }
    return found;
}

/**
 * What in the webview's document could run code or load something: script elements other than
 * the page's own (one, with the nonce) and the webview host's acquireVsCodeApi script, on* attributes anywhere, and within `root` any element that
 * loads or embeds (img, iframe, object, embed, style, link, meta, base, form, svg, video, audio,
 * source) or an href / src / style / action / srcdoc / formaction attribute. Empty when clean.
 */
export async function dangerousDom(frame: Frame, root: string): Promise<string[]> {
    return frame.evaluate((rootSelector) => {
        const problems: string[] = [];
        // The webview host injects one script of its own (acquireVsCodeApi, id _vscodeApiScript); the page's is the one with the nonce.
        const scripts = Array.from(document.querySelectorAll('script')).filter((s) => s.id !== '_vscodeApiScript');
        if (scripts.length !== 1 || !scripts[0].nonce) problems.push(`${scripts.length} script elements: ${scripts.map((s) => s.outerHTML.slice(0, 80)).join(' | ')}`);
        for (const el of Array.from(document.querySelectorAll('*'))) {
            for (const a of Array.from(el.attributes)) if (/^on/i.test(a.name)) problems.push(`<${el.localName} ${a.name}>`);
        }
        const container = document.querySelector(rootSelector);
        if (!container) return [...problems, `no ${rootSelector}`];
        for (const el of Array.from(container.querySelectorAll('img,iframe,frame,object,embed,style,link,meta,base,form,svg,video,audio,source,input,button,textarea'))) problems.push(`<${el.localName}> in ${rootSelector}`);
        for (const el of Array.from(container.querySelectorAll('*'))) {
            for (const a of ['href', 'src', 'style', 'action', 'srcdoc', 'formaction', 'xlink:href', 'background', 'poster']) if (el.hasAttribute(a)) problems.push(`<${el.localName} ${a}="${el.getAttribute(a)?.slice(0, 60)}"> in ${rootSelector}`);
        }
        return problems;
    }, root);
}
