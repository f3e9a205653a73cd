/**
 * The answer panel's script. The extension sends HTML already rendered from markdown with raw HTML
 * disabled; the CSP forbids inline scripts and remote content, so the HTML cannot run code. Every
 * other string (titles, model names, reasons, errors) goes in through textContent.
 */
import type { AnswerFromWebview, AnswerToWebview } from '../shared/messages';
import { byId, connect } from './vscodeApi';

const bridge = connect<AnswerFromWebview>();
const title = byId('title');
const subject = byId('subject');
const routing = byId('routing');
const status = byId('status');
const stop = byId<HTMLButtonElement>('stop');
const error = byId('error');
const content = byId('content');

stop.addEventListener('click', () => bridge.post({ type: 'stop' }));

// Links never navigate the webview: http(s) ones open in the browser through the extension.
document.addEventListener('click', (e) => {
    const target = e.target instanceof Element ? e.target.closest('a') : null;
    if (!target) return;
    e.preventDefault();
    const href = target.getAttribute('href') ?? '';
    if (/^https?:\/\//i.test(href)) bridge.post({ type: 'openLink', href });
});

function handle(m: AnswerToWebview): void {
    switch (m.type) {
        case 'start':
            title.textContent = m.title;
            subject.textContent = m.subject;
            routing.textContent = '';
            status.textContent = '';
            content.replaceChildren();
            error.hidden = true;
            error.textContent = '';
            break;
        case 'content': {
            const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
            content.innerHTML = m.html;
            if (atBottom) window.scrollTo(0, document.body.scrollHeight);
            break;
        }
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
    }
}

window.addEventListener('message', (e: MessageEvent<AnswerToWebview>) => handle(e.data));
bridge.post({ type: 'ready' });
