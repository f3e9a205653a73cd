/**
 * The index's state in words, as the status bar and the search view show it: how far indexing
 * got, which embedder the index belongs to, and how the two channels are weighted and why.
 */
import type { ChannelWeights, IndexProgress } from './types';

export interface StatusText {
    /** "indexed 8,412 / 10,000 files", "paused at 8,412 / 10,000 files", ... */
    readonly summary: string;
    /** Share of the chunks searchable by meaning, 0..100 (100 with no chunks). */
    readonly percent: number;
    /** How the channels are weighted and why. */
    readonly weights: string;
}

const n = (x: number): string => x.toLocaleString('en-US');

/** A skip reason (files.ts `SkipReason`) as the status names it. */
const SKIP_WORDS: Readonly<Record<string, string>> = {
    binary: 'binary',
    tooLarge: 'over zeta.search.maxFileKB',
    invalidUtf8: 'not UTF-8',
    generated: 'generated',
    minified: 'minified',
    symlinkLoop: 'symlink loops',
    vanished: 'gone while read',
    notAFile: 'not regular files',
    unreadable: 'unreadable (see the log)',
};

/** "; 7 files left out: 3 binary, 2 over zeta.search.maxFileKB, ..." (most first), or "" when none. */
export function describeSkipped(p: IndexProgress): string {
    const s = p.skipped;
    if (!s || s.files === 0) return '';
    const parts = Object.entries(s.byReason)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .map(([reason, count]) => `${n(count)} ${SKIP_WORDS[reason] ?? reason}`);
    return `; ${n(s.files)} ${s.files === 1 ? 'file' : 'files'} left out: ${parts.join(', ')}`;
}

export function describeProgress(p: IndexProgress, lexicalOnly: boolean): string {
    return describeState(p, lexicalOnly) + (p.state === 'idle' || p.state === 'indexing' || p.state === 'paused' ? describeSkipped(p) : '');
}

function describeState(p: IndexProgress, lexicalOnly: boolean): string {
    const files = `${n(p.filesDone)} / ${n(p.files)} files`;
    switch (p.state) {
        case 'disabled':
            return p.detail ?? 'not indexing';
        case 'failed':
            return `indexing stopped: ${p.detail ?? 'unknown error'}`;
        case 'paused':
            return `indexing paused at ${files}`;
        case 'scanning':
            return p.files > 0 ? `looking for changes: ${n(p.files)} files so far` : 'looking for files to index';
        case 'indexing':
            return lexicalOnly ? `indexing ${n(p.files)} files by their words` : `indexing ${files}${p.detail ? ` (${p.detail})` : ''}`;
        case 'idle':
        default:
            return lexicalOnly ? `${n(p.files)} files, searched by words only (no embedder configured)` : `indexed ${files}`;
    }
}

export function describeWeights(w: ChannelWeights): string {
    const b = w.basis;
    if (b === 'default') {
        return 'Results by words first; matches by meaning fill in until the embedder has been measured on this workspace.';
    }
    const how = `measured on ${b.queries} queries mined from this workspace (MRR@10: words ${b.lexicalMrr.toFixed(2)}, meaning ${b.vectorMrr.toFixed(2)}, both ${b.hybridMrr.toFixed(2)})`;
    if (w.vector === 0) return `Meaning weighs 0: on this workspace the embedder did not improve on words alone, ${how}.`;
    return `Words weigh ${w.lexical}, meaning ${w.vector}, ${how}.`;
}

export function statusText(p: IndexProgress, w: ChannelWeights, lexicalOnly: boolean): StatusText {
    return {
        summary: describeProgress(p, lexicalOnly),
        percent: p.chunks === 0 ? 100 : Math.floor((100 * p.chunksWithVectors) / p.chunks),
        weights: lexicalOnly ? 'Searching by words only: configure an embedder model to search by meaning too.' : describeWeights(w),
    };
}

/** What a shown answer was computed against. */
export interface AnswerBasis {
    /** Share of the chunks searchable by meaning then (StatusText.percent). */
    readonly percent: number;
    /** The index's content version then (Indexer.version). */
    readonly version: number;
}

/**
 * Whether an answer computed against `then` is to be asked again `now`. A partial answer (not every
 * chunk searchable by meaning yet) is, after `step` more points of progress and once at 100. A
 * complete one is as soon as the index's content changed (a file saved, created or deleted after
 * the query ran, e.g. a save whose file event arrived just after it): what the view shows never
 * stays behind the index.
 */
export function answerOutdated(then: AnswerBasis, now: AnswerBasis, step: number): boolean {
    if (then.percent < 100) return now.percent >= 100 || now.percent - then.percent >= step;
    return now.version !== then.version;
}
