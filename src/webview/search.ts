/**
 * The search view's script: a search box, the results (file, lines, symbol, a snippet with the
 * query's words marked, the score), keyboard navigation (arrows move, Enter opens), the index's
 * status and the channel weights. Every string goes in through textContent: file text and paths
 * are data, never HTML. The query, results and selection are kept with the webview state, so the
 * view comes back as it was after being hidden.
 */
import type { SearchFromWebview, SearchResultRow, SearchStatus, SearchToWebview } from '../shared/messages';
import { byId, connect } from './vscodeApi';

interface ViewState {
    readonly query: string;
    readonly results: readonly SearchResultRow[];
    readonly selected: number;
    readonly note?: string;
}

const bridge = connect<SearchFromWebview, ViewState>();
const input = byId<HTMLInputElement>('query');
const list = byId('results');
const note = byId('note');
const summary = byId('summary');
const details = byId('details');
const pause = byId<HTMLButtonElement>('pause');
const reindex = byId<HTMLButtonElement>('reindex');

/** Typing waits this long (ms) before searching; the extension cancels a search a newer one replaces. */
const TYPE_DELAY_MS = 120;

let seq = 0;
let results: readonly SearchResultRow[] = [];
/** The query the results shown answer (a new query's results start with nothing selected). */
let resultsQuery = '';
let selected = -1;
let lastNote: string | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
let paused = false;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
}

function save(): void {
    bridge.saveState({ query: input.value, results, selected, ...(lastNote !== undefined ? { note: lastNote } : {}) });
}

function search(now = false): void {
    if (timer) clearTimeout(timer);
    const run = (): void => {
        timer = undefined;
        seq++;
        bridge.post({ type: 'search', seq, query: input.value });
    };
    if (now) run();
    else timer = setTimeout(run, TYPE_DELAY_MS);
}

function snippetLine(line: SearchResultRow['snippet'][number]): HTMLElement {
    const row = el('div', 'line');
    row.append(el('span', 'ln', String(line.line)));
    const code = el('code');
    let at = 0;
    for (const [start, end] of line.marks) {
        if (start > at) code.append(document.createTextNode(line.text.slice(at, start)));
        code.append(el('mark', undefined, line.text.slice(start, end)));
        at = end;
    }
    if (at < line.text.length) code.append(document.createTextNode(line.text.slice(at)));
    row.append(code);
    return row;
}

function render(): void {
    list.replaceChildren(
        ...results.map((r, i) => {
            const li = el('li', i === selected ? 'result selected' : 'result');
            li.id = `result-${i}`;
            li.setAttribute('role', 'option');
            li.setAttribute('aria-selected', String(i === selected));
            const head = el('div', 'head');
            head.append(el('span', 'file', r.file), el('span', 'range', `:${r.startLine}-${r.endLine}`));
            if (r.symbol) head.append(el('span', 'symbol', r.symbol));
            const channels = [r.lexicalRank !== undefined ? `words #${r.lexicalRank}` : '', r.vectorRank !== undefined ? `meaning #${r.vectorRank}` : ''].filter((x) => x).join(', ');
            head.append(el('span', 'score', `${r.score.toFixed(3)}${channels ? ` (${channels})` : ''}`));
            li.append(head);
            const snippet = el('div', 'snippet');
            snippet.append(...r.snippet.map(snippetLine));
            li.append(snippet);
            li.addEventListener('click', () => {
                select(i);
                open();
            });
            return li;
        }),
    );
    if (selected >= 0) list.setAttribute('aria-activedescendant', `result-${selected}`);
    else list.removeAttribute('aria-activedescendant');
    note.textContent = lastNote ?? (input.value.trim() !== '' && results.length === 0 ? 'No results.' : '');
}

function select(i: number): void {
    if (results.length === 0) return;
    selected = Math.max(0, Math.min(results.length - 1, i));
    render();
    document.getElementById(`result-${selected}`)?.scrollIntoView({ block: 'nearest' });
    save();
}

function open(): void {
    const r = results[selected];
    if (r) bridge.post({ type: 'open', file: r.file, startLine: r.startLine, endLine: r.endLine });
}

function showStatus(s: SearchStatus): void {
    paused = s.paused;
    summary.textContent = s.summary;
    details.textContent = `Embedder: ${s.model}. ${s.weights}`;
    pause.textContent = s.paused ? 'Resume indexing' : 'Pause indexing';
    pause.disabled = s.state === 'disabled';
}

input.addEventListener('input', () => search());
const onKey = (e: KeyboardEvent): void => {
    if (e.key === 'ArrowDown') {
        e.preventDefault();
        select(selected + 1);
    } else if (e.key === 'ArrowUp') {
        e.preventDefault();
        select(selected - 1);
    } else if (e.key === 'Enter') {
        e.preventDefault();
        if (selected < 0 && results.length > 0) select(0);
        if (document.activeElement === input && timer) search(true);
        else open();
    }
};
input.addEventListener('keydown', onKey);
list.addEventListener('keydown', onKey);
pause.addEventListener('click', () => bridge.post({ type: paused ? 'resume' : 'pause' }));
reindex.addEventListener('click', () => bridge.post({ type: 'reindex' }));

window.addEventListener('message', (e: MessageEvent<SearchToWebview>) => {
    const m = e.data;
    switch (m.type) {
        case 'results':
            if (m.seq !== seq) return;
            if (m.query !== resultsQuery) selected = -1;
            resultsQuery = m.query;
            results = m.results;
            selected = Math.min(selected, results.length - 1);
            lastNote = m.note;
            render();
            save();
            break;
        case 'status':
            showStatus(m.status);
            break;
        case 'seed':
            input.value = m.query;
            input.focus();
            selected = -1;
            search(true);
            break;
        case 'error':
            if (m.seq !== seq) return;
            lastNote = m.message;
            render();
            break;
    }
});

const kept = bridge.loadState();
if (kept) {
    input.value = kept.query;
    results = kept.results;
    resultsQuery = kept.query;
    selected = kept.selected;
    lastNote = kept.note;
    render();
}
input.focus();
bridge.post({ type: 'ready' });
