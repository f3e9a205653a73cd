/**
 * The lexical channel: BM25 over two fields, the chunk's text (documents are chunk rows) and its
 * file's path (documents are files), with one term dictionary and the code-aware tokenizer.
 *
 * score(chunk) = BM25_text(chunk) + PATH_WEIGHT * BM25_path(its file)
 *
 * The path is its own field with its own statistics, counted per file (not per chunk: a big file's
 * path would otherwise look common), and weighted at half a text match: the path says where a thing
 * is, the text what it is; at equal weight every chunk of `search/tokenize.ts` would outrank the one
 * chunk elsewhere that defines `tokenize`. A path match still lifts the chunks of a file named after
 * the query above chunks that merely mention it once.
 *
 * BM25 (Robertson et al.): idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf part tf (k1 + 1) /
 * (tf + k1 (1 - b + b len / avglen)), k1 = 1.2, b = 0.75 (the common defaults). N and df count
 * tombstoned documents until compaction (as Lucene does); avglen is over live documents.
 * Query terms count once each.
 */
import type { Segment } from './postings';
import { PostingsField } from './postings';
import { grow, remap } from './growable';
import { StringTable } from './strings';
import { tokenize, pathTokens } from './tokenize';
import { TopK } from './topK';

export const BM25_K1 = 1.2;
export const BM25_B = 0.75;
/** Distinct query terms scored (the rest of a pasted page is left out). */
export const MAX_QUERY_TERMS = 1024;
/** Weight of the path field's BM25 score against the text's. */
export const PATH_WEIGHT = 0.5;

/** What the lexical channel asks of the chunk table while it scores. */
export interface LexicalView {
    readonly rowAlive: Uint8Array;
    readonly fileAlive: Uint8Array;
    readonly fileRows: readonly (readonly number[])[];
}

/** A chunk to score as if `text` were not in it (calibration: the docstring mined as the query). */
export interface Without {
    readonly row: number;
    readonly text: string;
}

export class LexicalIndex {
    terms = new StringTable();
    text = new PostingsField();
    path = new PostingsField();
    /** Tokens per row (text field) and per file (path field). */
    rowLen: Uint32Array = new Uint32Array(0);
    fileLen: Uint32Array = new Uint32Array(0);
    private liveTextLen = 0;
    private liveRows = 0;
    private livePathLen = 0;
    private liveFiles = 0;
    private scores: Float64Array = new Float64Array(0);
    private touched: Uint8Array = new Uint8Array(0);
    private mark: Uint16Array = new Uint16Array(0);
    /** Scratch of `index`: a document's distinct terms, their counts, and a count per term (zero between uses). */
    private docTerms: Uint32Array = new Uint32Array(64);
    private docTfs: Uint32Array = new Uint32Array(64);
    private termCount: Uint32Array = new Uint32Array(0);

    /** An index of these parts (loading); `rowAlive` and `fileAlive` say which documents are live. */
    static fromParts(parts: { terms: string[]; text: readonly Segment[]; path: readonly Segment[]; rowLen: Uint32Array; fileLen: Uint32Array }, rowAlive: Uint8Array, fileAlive: Uint8Array): LexicalIndex {
        const x = new LexicalIndex();
        x.terms = new StringTable(parts.terms);
        x.text = PostingsField.fromSegments(parts.text, parts.terms.length, parts.rowLen.length);
        x.path = PostingsField.fromSegments(parts.path, parts.terms.length, parts.fileLen.length);
        x.rowLen = parts.rowLen;
        x.fileLen = parts.fileLen;
        for (let r = 0; r < parts.rowLen.length; r++) {
            if (!rowAlive[r]) continue;
            x.liveRows++;
            x.liveTextLen += parts.rowLen[r];
        }
        for (let f = 0; f < parts.fileLen.length; f++) {
            if (!fileAlive[f]) continue;
            x.liveFiles++;
            x.livePathLen += parts.fileLen[f];
        }
        return x;
    }

    /** Whether the dictionary has a term twice (a corrupt snapshot). */
    duplicate(): string | undefined {
        return this.terms.hasDuplicates() ? 'a term appears twice' : undefined;
    }

    /** Adds `doc` with the tokens of `tokens` to `field`: each distinct term once, with its count. */
    private index(field: PostingsField, doc: number, tokens: readonly string[]): void {
        let n = 0;
        for (const t of tokens) {
            const id = this.terms.intern(t);
            this.termCount = grow(this.termCount, id + 1);
            if (this.termCount[id]++ === 0) {
                if (n === this.docTerms.length) this.docTerms = grow(this.docTerms, n + 1);
                this.docTerms[n++] = id;
            }
        }
        this.docTfs = grow(this.docTfs, n);
        for (let i = 0; i < n; i++) {
            this.docTfs[i] = this.termCount[this.docTerms[i]];
            this.termCount[this.docTerms[i]] = 0;
        }
        field.add(doc, this.docTerms, this.docTfs, n);
    }

    /** Indexes row `row` (the next row id) with its chunk's text; the text is not kept. */
    addRow(row: number, text: string): void {
        const tokens = tokenize(text);
        this.index(this.text, row, tokens);
        this.rowLen = grow(this.rowLen, row + 1);
        this.rowLen[row] = tokens.length;
        this.liveRows++;
        this.liveTextLen += tokens.length;
    }

    killRow(row: number): void {
        this.liveRows--;
        this.liveTextLen -= this.rowLen[row];
    }

    /** Indexes file `file` (the next file id) by its path; a new file is live. */
    addFile(file: number, path: string): void {
        const tokens = pathTokens(path);
        this.index(this.path, file, tokens);
        this.fileLen = grow(this.fileLen, file + 1);
        this.fileLen[file] = tokens.length;
        this.setFileLive(file, true);
    }

    setFileLive(file: number, live: boolean): void {
        this.liveFiles += live ? 1 : -1;
        this.livePathLen += (live ? 1 : -1) * this.fileLen[file];
    }

    private idf(field: PostingsField, term: number): number {
        const n = field.docCount;
        const df = field.df(term);
        return Math.log(1 + (n - df + 0.5) / (df + 0.5));
    }

    /** The k best live rows for `query`, best first (rows with no query term are not returned). */
    search(query: string, k: number, view: LexicalView, without?: Without): Array<{ id: number; score: number }> {
        const ids = [...new Set(tokenize(query))]
            .map((t) => this.terms.id(t))
            .filter((i): i is number => i !== undefined)
            .slice(0, MAX_QUERY_TERMS);
        if (ids.length === 0 || k <= 0) return [];
        const rows = this.text.docCount;
        this.scores = grow(this.scores, rows);
        this.touched = grow(this.touched, rows);
        this.mark = grow(this.mark, this.terms.size);
        const { scores, touched } = this;
        const hit: number[] = [];
        const add = (row: number, s: number): void => {
            if (!touched[row]) {
                touched[row] = 1;
                hit.push(row);
            }
            scores[row] += s;
        };

        const k1 = BM25_K1;
        const b = BM25_B;
        const textIdf = ids.map((t) => this.idf(this.text, t));
        const avgText = this.liveRows > 0 ? Math.max(1, this.liveTextLen / this.liveRows) : 1;
        const target = without?.row ?? -1;
        const targetTf = new Uint32Array(ids.length);
        this.text.scan(ids, this.mark, (q, row, tf) => {
            if (!view.rowAlive[row]) return;
            if (row === target) {
                targetTf[q] = tf;
                return;
            }
            add(row, (textIdf[q] * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * this.rowLen[row]) / avgText)));
        });
        if (target >= 0 && view.rowAlive[target]) {
            // The target as if `without.text` were cut out of it: fewer of each term, shorter.
            const cut = tokenize(without?.text ?? '');
            const cutCounts = new Map<string, number>();
            for (const t of cut) cutCounts.set(t, (cutCounts.get(t) ?? 0) + 1);
            const len = Math.max(1, this.rowLen[target] - cut.length);
            ids.forEach((term, q) => {
                const tf = targetTf[q] - (cutCounts.get(this.terms.list[term]) ?? 0);
                if (tf > 0) add(target, (textIdf[q] * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * len) / avgText)));
            });
        }

        const pathIdf = ids.map((t) => this.idf(this.path, t));
        const avgPath = this.liveFiles > 0 ? Math.max(1, this.livePathLen / this.liveFiles) : 1;
        this.path.scan(ids, this.mark, (q, file, tf) => {
            if (!view.fileAlive[file]) return;
            const s = (PATH_WEIGHT * pathIdf[q] * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * this.fileLen[file]) / avgPath));
            for (const row of view.fileRows[file]) add(row, s);
        });

        const top = new TopK(k);
        for (const row of hit) {
            top.push(scores[row], row);
            scores[row] = 0;
            touched[row] = 0;
        }
        return top.sorted();
    }

    /**
     * Compaction: drops the postings of dropped rows and files and the terms no kept posting uses,
     * and renumbers rows, files and terms (the maps give each kept one's new id, -1 dropped).
     */
    compact(rowMap: Int32Array, rows: number, fileMap: Int32Array, files: number): void {
        const used = new Uint32Array(this.terms.size);
        this.text.countLive((r) => rowMap[r] >= 0, used);
        this.path.countLive((f) => fileMap[f] >= 0, used);
        const { table: terms, map: termMap } = this.terms.select((t) => used[t] > 0);
        this.text.rebuild(rowMap, termMap, terms.size, rows);
        this.path.rebuild(fileMap, termMap, terms.size, files);
        this.terms = terms;
        this.rowLen = remap(this.rowLen, rowMap, rows);
        this.fileLen = remap(this.fileLen, fileMap, files);
        this.scores = new Float64Array(0);
        this.touched = new Uint8Array(0);
        this.mark = new Uint16Array(0);
        this.termCount = new Uint32Array(0);
    }

    /** Bytes held in typed arrays, and an estimate for the dictionary. */
    bytes(): number {
        const b = this.text.bytes() + this.path.bytes() + this.rowLen.byteLength + this.fileLen.byteLength;
        return b + this.scores.byteLength + this.touched.byteLength + this.mark.byteLength + this.termCount.byteLength + this.terms.bytes();
    }
}
