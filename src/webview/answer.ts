/**
 * The answer panel's script. The extension sends the answer as the model wrote it (markdown,
 * untrusted); it is turned into DOM here by `markdown.ts` (markdown-it tokens -> allowlisted
 * elements -> createElement/createTextNode; no HTML string is parsed), under a strict CSP that
 * forbids inline scripts, inline styles and remote content anyway. Every other string (titles,
 * model names, reasons, errors) goes in through textContent.
 *
 * Links carry their target in `data-href` (http and https only) and never navigate the webview: a
 * click or Enter asks the extension to open them. Copy asks the extension to copy the markdown it
 * holds (the exact model text) with VS Code's clipboard.
 */
import type { AnswerFromWebview, AnswerToWebview } from '../shared/messages';
import { appendTree, createParser, markdownTree, safeHref } from './markdown';
import { byId, connect } from './vscodeApi';

const bridge = connect<AnswerFromWebview>();
const parser = createParser();
const title = byId('title');
const subject = byId('subject');
const routing = byId('routing');
const status = byId('status');
const stop = byId<HTMLButtonElement>('stop');
const copy = byId<HTMLButtonElement>('copy');
const copied = byId('copied');
const error = byId('error');
const content = byId('content');

stop.addEventListener('click', () => bridge.post({ type: 'stop' }));
copy.addEventListener('click', () => bridge.post({ type: 'copy' }));

function openLink(e: Event): void {
    const target = e.target instanceof Element ? e.target.closest('[data-href]') : null;
    if (!target) return;
    e.preventDefault();
    const href = safeHref(target.getAttribute('data-href'));
    if (href) bridge.post({ type: 'openLink', href });
}
content.addEventListener('click', openLink);
content.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') openLink(e);
});

function render(markdown: string): void {
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    const fragment = document.createDocumentFragment();
    appendTree(document, fragment, markdownTree(markdown, parser));
    content.replaceChildren(fragment);
    copy.disabled = markdown === '';
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
}

function handle(m: AnswerToWebview): void {
    switch (m.type) {
        case 'start':
            title.textContent = m.title;
            subject.textContent = m.subject;
            routing.textContent = '';
            status.textContent = '';
            copied.textContent = '';
            content.replaceChildren();
            copy.disabled = true;
            error.hidden = true;
            error.textContent = '';
            break;
        case 'content':
            render(m.markdown);
            break;
        case 'routing': {
            routing.replaceChildren();
            const label = document.createElement('span');
            label.className = 'label';
            label.textContent = m.routing.final ? 'Answered by ' : 'Answering: ';
            const model = document.createElement('strong');
            model.textContent = m.routing.model;
            const name = document.createElement('span');
            name.className = 'model-name';
            name.textContent = m.routing.modelName !== m.routing.model ? ` (${m.routing.modelName})` : '';
            const reason = document.createElement('div');
            reason.className = 'reason';
            reason.textContent = `Router (${m.routing.policy}): ${m.routing.reason}`;
            routing.append(label, model, name, reason);
            break;
        }
        case 'status':
            status.textContent = m.text;
            stop.disabled = !m.busy;
            document.body.classList.toggle('busy', m.busy);
            break;
        case 'error':
            error.hidden = false;
            error.textContent = m.message;
            break;
        case 'copied':
            copied.textContent = m.ok ? `Copied ${m.chars.toLocaleString('en-US')} characters of markdown.` : `Copy failed: ${m.message ?? 'unknown error'}`;
            break;
    }
}

window.addEventListener('message', (e: MessageEvent<AnswerToWebview>) => handle(e.data));
bridge.post({ type: 'ready' });
