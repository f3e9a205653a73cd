/**
 * The indexer keeps a workspace's search index fresh: it scans the workspace, chunks each file,
 * puts the chunks in the index (searchable lexically at once) and embeds the chunks whose text was
 * never embedded by this embedder, in small batches, as the router's background `embed` work
 * (which yields to typing). It follows file events, persists the index, and measures what each
 * channel earns on this workspace (calibrate.ts) once most chunks have vectors.
 *
 * Ordering rules: one worker does everything in order of urgency: file events first (an edited
 * file is searchable soonest), then the scan's files, then embeddings (an edited file's chunks
 * first), then calibration. Paused: files are still chunked and searchable lexically; nothing is
 * embedded. A file that cannot be read, decoded, chunked or embedded is skipped and logged;
 * indexing goes on. The index belongs to one embedder (`EmbedderIdentity`): another embedder gets
 * another index, and vectors of two models are never compared.
 *
 * Side effects come in through the deps: the workspace's files, the chunker, the store, the
 * embeddings (the router), the clock and the logger. Units: ms, texts, chunks.
 */
import type { Clock, TimerHandle } from '../clock';
import { abortError, errorCode, errorMessage, isAbortError } from '../errors';
import { fnv1a } from '../hash';
import { writeAdvice } from '../router/textFileStore';
import type { RouterLogger } from '../tasks';
import { DEFAULT_WEIGHTS } from './calibrate';
import { sameEmbedder } from './embedders';
import type { ChannelWeights, ChunkInput, EmbedderIdentity, FileStamp, IndexProgress, MinedQuery, SearchIndex, SkippedFiles } from './types';

/** The workspace's files, as the index sees them (ignore rules applied by the implementation). */
export interface IndexFiles {
    /** The files to index now, with their stamps. */
    list(signal: AbortSignal): AsyncIterable<{ readonly file: string; readonly stamp: FileStamp }>;
    /** A file's text now, or undefined when it cannot be indexed any more (gone, ignored, binary, too large). */
    read(file: string, signal: AbortSignal): Promise<{ readonly text: string; readonly stamp: FileStamp } | undefined>;
}

export interface Chunker {
    chunk(file: string, text: string, signal?: AbortSignal): Promise<ChunkInput[]>;
}

/** Where an index is kept between sessions, per embedder identity. */
export interface IndexKeeper<I extends SearchIndex> {
    /** The stored index for `identity`; `problem` says why a stored one could not be used (it was set aside). */
    load(identity: EmbedderIdentity, signal: AbortSignal): Promise<{ readonly index?: I; readonly weights?: ChannelWeights; readonly problem?: string }>;
    save(index: I, weights: ChannelWeights, signal: AbortSignal): Promise<void>;
}

/** Embeddings through the router. */
export interface Embeddings {
    /**
     * The embedder a new index would use now (the router's embedder), undefined when none can
     * embed, or `pending` while the router has not read its model file yet (the indexer waits for
     * `Indexer.embedderChanged`).
     */
    current(): EmbedderIdentity | 'pending' | undefined;
    /** Background work: vectors of documents (with the identity's document prefix added here). */
    documents(texts: readonly string[], identity: EmbedderIdentity, signal: AbortSignal): Promise<number[][]>;
    /** Interactive: the vector of a query (with the identity's query prefix added here). */
    query(text: string, identity: EmbedderIdentity, signal: AbortSignal): Promise<number[]>;
}

export interface IndexerDeps<I extends SearchIndex> {
    readonly files: IndexFiles;
    readonly chunker: Chunker;
    readonly store: IndexKeeper<I>;
    readonly embeddings: Embeddings;
    readonly createIndex: (identity: EmbedderIdentity) => I;
    /** Queries mined from a file's chunks (docstrings), for calibration. */
    readonly mine: (chunks: readonly ChunkInput[]) => MinedQuery[];
    /** Measures the channels on mined queries and returns the fusion weights (calibrate.ts). */
    readonly calibrate: (input: {
        readonly index: I;
        readonly queries: readonly MinedQuery[];
        readonly embed: (text: string, as: 'query' | 'document', signal: AbortSignal) => Promise<ArrayLike<number>>;
        readonly signal: AbortSignal;
    }) => Promise<ChannelWeights>;
    readonly clock: Clock;
    readonly logger?: RouterLogger;
    /** Progress or the index changed (throttled by the caller). */
    readonly onChange?: () => void;
    /** A stored index could not be used (corrupt, truncated, foreign): it was set aside and is rebuilt. */
    readonly onRebuild?: (problem: string) => void;
}

/** Texts per embedding task: the router runs them one native call at a time and yields between. */
export const EMBED_BATCH = 16;
/** Save at least this often while indexing (ms), and whenever the work runs out. */
export const SAVE_EVERY_MS = 60_000;
/** Mined queries kept for calibration (a reservoir over the workspace), and the fewest that calibrate. */
export const CALIBRATION_QUERIES = 48;
export const MIN_CALIBRATION_QUERIES = 8;
/** Recalibrate when this share of the chunks got new vectors since the last calibration. */
const RECALIBRATE_SHARE = 0.2;

/** The identity of an index without vectors, used while no model can embed: search is lexical only. */
export const LEXICAL_ONLY: EmbedderIdentity = Object.freeze({ space: 'lexical-only', dims: 1, pooling: 'none', model: 'none', queryPrefix: '', documentPrefix: '' });

/** Whether an index is by words only (nothing is embedded into it). */
export function isLexicalOnly(identity: EmbedderIdentity): boolean {
    return identity.space === LEXICAL_ONLY.space;
}


/**
 * Skip reasons that are the user's own rules (the deny-list, excludes, .gitignore, symlinks not
 * followed, a folder reached twice): documented behaviour, not counted in the status.
 */
const RULE_SKIPS: ReadonlySet<string> = new Set(['denied', 'excluded', 'gitignored', 'symlink', 'duplicate']);
/** Skip reasons that are a problem with the file system rather than with the file's content: each is logged. */
const PROBLEM_SKIPS: ReadonlySet<string> = new Set(['unreadable', 'symlinkLoop']);
/** Problem skips logged one by one per scan; the rest are counted in one line. */
const PROBLEM_LOG_LIMIT = 20;

type FileJob = { readonly file: string; readonly kind: 'update' | 'delete'; readonly urgent: boolean };

export class Indexer<I extends SearchIndex = SearchIndex> {
    private current: I | undefined;
    private weightsInForce: ChannelWeights = DEFAULT_WEIGHTS;
    private state: IndexProgress['state'] = 'idle';
    private detail: string | undefined;
    private enabled = false;
    private paused = false;
    private disposed = false;
    /** Aborted to stop the run in progress (a new start, disable, dispose). */
    private run: AbortController | undefined;
    private worker: Promise<void> | undefined;
    private wake: (() => void) | undefined;
    /** Set by `poke` while the worker is not waiting: its next wait returns at once (no lost wake-up). */
    private poked = false;
    private readonly fileJobs: FileJob[] = [];
    /** Chunks waiting for a vector: hash -> embedded text, in embedding order (urgent first). */
    private readonly pending = new Map<string, string>();
    private readonly urgentPending = new Map<string, string>();
    /** Per hash still waiting, the files whose chunks use it (progress). */
    private readonly waitingFiles = new Map<string, Set<string>>();
    /** Per file, its chunk hashes still waiting for a vector. */
    private readonly fileWaits = new Map<string, number>();
    /** Hashes that failed to embed this session: not retried until a reindex. */
    private readonly failedHashes = new Set<string>();
    private queries: MinedQuery[] = [];
    private queriesSeen = 0;
    private vectorsSinceCalibration = 0;
    /** Whether a calibration was tried on this index in this session (whatever it found). */
    private calibrationTried = false;
    private scanning = false;
    private dirtySince: number | undefined;
    /** Files left out since the scan began, with why (not those the ignore rules leave out). */
    private readonly skips = new Map<string, { readonly reason: string; readonly detail: string }>();
    /** Problem skips logged in this scan. */
    private problemsLogged = 0;
    /** Saves that failed since the last one that succeeded (0: saving works). */
    private saveFailures = 0;
    private saveTimer: TimerHandle | undefined;
    /** Counts changes to what the index holds (a file's chunks set or removed, another index opened). */
    private contentVersion = 0;

    constructor(private readonly deps: IndexerDeps<I>) {}

    /** The index in force (undefined before the first start). Search it; do not change it. */
    get index(): I | undefined {
        return this.current;
    }

    get weights(): ChannelWeights {
        return this.weightsInForce;
    }

    /**
     * Changes whenever what the index holds does (a file's chunks set or removed, another index
     * opened): an answer computed at one version may be out of date at another.
     */
    get version(): number {
        return this.contentVersion;
    }

    progress(): IndexProgress {
        const index = this.current;
        const stats = index?.stats();
        const files = stats?.files ?? 0;
        return {
            files,
            filesDone: Math.max(0, files - this.fileWaits.size),
            chunks: stats?.chunks ?? 0,
            chunksWithVectors: stats?.chunksWithVectors ?? 0,
            state: this.state,
            ...(this.detail !== undefined ? { detail: this.detail } : {}),
            ...(this.skips.size > 0 ? { skipped: this.skippedFiles() } : {}),
        };
    }

    /**
     * A file or folder was left out (the caller's file rules say why: files.ts `SkipReason`). Files
     * left out for what they are, or for a file-system problem, are counted in the progress; a
     * problem (unreadable, a symlink loop) is logged too. A file indexed later is uncounted.
     */
    skipped(file: string, reason: string, detail: string): void {
        if (RULE_SKIPS.has(reason)) return;
        if (this.skips.get(file)?.reason === reason) return;
        this.skips.set(file, { reason, detail });
        if (PROBLEM_SKIPS.has(reason)) {
            if (this.problemsLogged < PROBLEM_LOG_LIMIT) this.deps.logger?.warn(`search index: skipped ${file}: ${detail}`);
            else if (this.problemsLogged === PROBLEM_LOG_LIMIT) this.deps.logger?.warn('search index: more files skipped for the same kinds of reasons; the status counts them');
            this.problemsLogged++;
        }
        this.changedNow();
    }

    private skippedFiles(): SkippedFiles {
        const byReason: Record<string, number> = {};
        for (const { reason } of this.skips.values()) byReason[reason] = (byReason[reason] ?? 0) + 1;
        return { files: this.skips.size, byReason };
    }

    /**
     * Starts (or restarts) indexing: the stored index of the current embedder, then a scan that
     * re-reads only files whose stamp changed (all of them with `full`), then embeddings.
     */
    start(full = false): void {
        if (this.disposed) return;
        this.enabled = true;
        this.restart(full);
    }

    /** Stops indexing on its own (restricted mode, the feature turned off); search keeps what is indexed. */
    disable(reason: string): void {
        this.enabled = false;
        this.stopRun();
        this.setState('disabled', reason);
    }

    pause(): void {
        if (this.paused) return;
        this.paused = true;
        if (this.state === 'indexing') this.setState('paused', 'paused: files are still searchable by their words');
        this.poke();
    }

    resume(): void {
        if (!this.paused) return;
        this.paused = false;
        if (this.state === 'paused') this.setState('indexing');
        this.poke();
    }

    get isPaused(): boolean {
        return this.paused;
    }

    /** A file was created or changed on disk. */
    changed(file: string): void {
        this.enqueue({ file, kind: 'update', urgent: true });
    }

    /** A file was deleted (or renamed away: the new name arrives as `changed`). */
    deleted(file: string): void {
        this.enqueue({ file, kind: 'delete', urgent: true });
    }

    /**
     * The router's models changed (call it on every change; it is cheap): a different embedder
     * means another index, and a run waiting for the models to be read goes on.
     */
    embedderChanged(): void {
        if (!this.enabled || this.disposed) return;
        const want = this.deps.embeddings.current();
        if (want === 'pending') return;
        const have = this.current?.identity;
        if (have === undefined) this.poke();
        else if (!sameEmbedder(have, want ?? LEXICAL_ONLY)) this.restart(false);
    }

    /** Embeds a query for the index in force (interactive); undefined when the index has no vectors. */
    async embedQuery(text: string, signal: AbortSignal): Promise<number[] | undefined> {
        const index = this.current;
        if (!index || isLexicalOnly(index.identity)) return undefined;
        return this.deps.embeddings.query(text, index.identity, signal);
    }

    async dispose(): Promise<void> {
        if (this.disposed) return;
        this.disposed = true;
        this.stopRun();
        await this.worker?.catch(() => undefined);
        this.deps.clock.clearTimeout(this.saveTimer);
        await this.save(new AbortController().signal);
    }

    // ---------------------------------------------------------------- the run

    private restart(full: boolean): void {
        this.stopRun();
        const run = new AbortController();
        this.run = run;
        const previous = this.worker;
        this.worker = (async () => {
            await previous?.catch(() => undefined);
            if (run.signal.aborted) return;
            try {
                await this.runWorker(run.signal, full);
            } catch (e) {
                if (isAbortError(e) || run.signal.aborted) return;
                this.deps.logger?.error(`search index: ${errorMessage(e)}`);
                this.setState('failed', `indexing stopped: ${errorMessage(e)}`);
            }
        })();
    }

    private stopRun(): void {
        this.run?.abort(abortError('indexing restarted or stopped'));
        this.run = undefined;
        this.poke();
    }

    private async runWorker(signal: AbortSignal, full: boolean): Promise<void> {
        let found = this.deps.embeddings.current();
        while (found === 'pending') {
            this.setState('scanning', 'waiting for the models to be read');
            await this.idle(signal);
            found = this.deps.embeddings.current();
        }
        const identity = found ?? LEXICAL_ONLY;
        await this.open(identity, signal);
        if (full) this.failedHashes.clear();
        this.setState(this.paused ? 'paused' : 'indexing', this.paused ? 'paused' : undefined);
        this.scanning = true;
        const scan = this.scan(signal, full).finally(() => {
            this.scanning = false;
            this.poke();
        });
        scan.catch(() => undefined);
        for (;;) {
            signal.throwIfAborted();
            const job = this.fileJobs.shift();
            if (job) {
                await this.processFile(job, signal);
                continue;
            }
            if (!this.paused && this.pendingCount() > 0) {
                await this.embedBatch(signal);
                continue;
            }
            if (!this.scanning && (this.paused || this.pendingCount() === 0)) {
                if (!this.paused && (await this.calibrateIfDue(signal))) continue;
                await this.save(signal);
                this.setState(this.paused ? 'paused' : 'idle', this.paused ? 'paused' : undefined);
            }
            await this.idle(signal);
            if (!this.paused && (this.fileJobs.length > 0 || this.pendingCount() > 0)) this.setState('indexing');
        }
    }

    /** Opens the stored index of `identity` (or a new one), dropping what belonged to another. */
    private async open(identity: EmbedderIdentity, signal: AbortSignal): Promise<void> {
        if (this.current && sameEmbedder(this.current.identity, identity)) return;
        if (this.current) await this.save(signal);
        this.setState('scanning', `opening the index for ${identity.model}`);
        const loaded = await this.deps.store.load(identity, signal);
        if (loaded.problem) {
            this.deps.logger?.warn(`search index: ${loaded.problem}; rebuilding it`);
            this.deps.onRebuild?.(loaded.problem);
        }
        this.current = loaded.index ?? this.deps.createIndex(identity);
        this.contentVersion++;
        this.weightsInForce = loaded.weights ?? DEFAULT_WEIGHTS;
        this.pending.clear();
        this.urgentPending.clear();
        this.waitingFiles.clear();
        this.fileWaits.clear();
        this.queries = [];
        this.queriesSeen = 0;
        this.vectorsSinceCalibration = 0;
        this.calibrationTried = false;
        this.changedNow();
    }

    /** Lists the workspace: changed files are queued, files gone from it are dropped. */
    private async scan(signal: AbortSignal, full: boolean): Promise<void> {
        const index = this.current!;
        const seen = new Set<string>();
        let listed = 0;
        this.skips.clear();
        this.problemsLogged = 0;
        for await (const { file, stamp } of this.deps.files.list(signal)) {
            seen.add(file);
            listed++;
            const known = index.stamp(file);
            if (full || !known || known.mtimeMs !== stamp.mtimeMs || known.size !== stamp.size) this.enqueue({ file, kind: 'update', urgent: false });
            else this.noteStoredFile(file);
            if (listed % 200 === 0) this.changedNow();
        }
        for (const file of [...index.files()]) if (!seen.has(file)) this.enqueue({ file, kind: 'delete', urgent: false });
    }

    /** A stored file's chunks that still lack vectors (an interrupted session) are embedded too. */
    private noteStoredFile(file: string): void {
        // The store keeps vectors with the chunks: only a file re-read gives the texts to embed, so a
        // stored chunk without a vector is re-read (its file is queued as changed).
        const index = this.current!;
        if (isLexicalOnly(index.identity)) return;
        const needs = index.chunksOf(file).length > 0 && !this.fileHasAllVectors(file);
        if (needs) this.enqueue({ file, kind: 'update', urgent: false });
    }

    private fileHasAllVectors(file: string): boolean {
        const stats = this.current!.stats();
        // Cheap when every chunk of the index has a vector (the common case after a full session).
        if (stats.chunksWithVectors === stats.chunks) return true;
        return this.current!.chunksOf(file).length === 0;
    }

    private async processFile(job: FileJob, signal: AbortSignal): Promise<void> {
        const index = this.current!;
        if (job.kind === 'delete') {
            this.skips.delete(job.file);
            index.removeFile(job.file);
            this.forgetWaits(job.file);
            this.markDirty();
            return;
        }
        let read: Awaited<ReturnType<IndexFiles['read']>>;
        try {
            read = await this.deps.files.read(job.file, signal);
        } catch (e) {
            if (isAbortError(e)) throw e;
            this.deps.logger?.warn(`search index: skipped ${job.file}: ${errorMessage(e)}`);
            read = undefined;
        }
        if (!read) {
            index.removeFile(job.file);
            this.forgetWaits(job.file);
            this.markDirty();
            return;
        }
        let chunks: ChunkInput[];
        try {
            chunks = await this.deps.chunker.chunk(job.file, read.text, signal);
        } catch (e) {
            if (isAbortError(e)) throw e;
            this.deps.logger?.warn(`search index: could not chunk ${job.file}: ${errorMessage(e)}`);
            return;
        }
        const need = index.setFile(job.file, read.stamp, chunks);
        if (this.skips.delete(job.file)) this.changedNow();
        this.forgetWaits(job.file);
        if (!isLexicalOnly(index.identity)) {
            const queue = job.urgent ? this.urgentPending : this.pending;
            let waiting = 0;
            for (const c of need) {
                if (this.failedHashes.has(c.hash)) continue;
                if (!this.urgentPending.has(c.hash)) queue.set(c.hash, c.embedText);
                if (job.urgent) this.pending.delete(c.hash);
                let files = this.waitingFiles.get(c.hash);
                if (!files) this.waitingFiles.set(c.hash, (files = new Set()));
                files.add(job.file);
                waiting++;
            }
            if (waiting > 0) this.fileWaits.set(job.file, waiting);
        }
        this.sampleQueries(chunks);
        this.markDirty();
    }

    private async embedBatch(signal: AbortSignal): Promise<void> {
        const index = this.current!;
        const batch: Array<[string, string]> = [];
        for (const queue of [this.urgentPending, this.pending]) {
            for (const entry of queue) {
                if (batch.length >= EMBED_BATCH) break;
                batch.push(entry);
            }
        }
        for (const [hash] of batch) {
            this.urgentPending.delete(hash);
            this.pending.delete(hash);
        }
        let vectors: number[][] | undefined;
        try {
            vectors = await this.deps.embeddings.documents(
                batch.map(([, text]) => text),
                index.identity,
                signal,
            );
        } catch (e) {
            if (isAbortError(e) || signal.aborted) {
                // Not embedded: back in front of the queue for the next run.
                for (const [hash, text] of batch.reverse()) this.urgentPending.set(hash, text);
                throw e;
            }
            this.deps.logger?.warn(`search index: embedding ${batch.length} chunks failed (${errorMessage(e)}); they stay searchable by their words`);
            for (const [hash] of batch) {
                this.failedHashes.add(hash);
                this.vectorArrived(hash);
            }
            this.detail = `some chunks could not be embedded: ${errorMessage(e)}`;
            return;
        }
        const rejected = index.addVectors(batch.map(([hash], i) => ({ hash, vector: vectors![i] })));
        if (rejected.length > 0) {
            // Vectors of the wrong size, not finite or all zero: those chunks stay searchable by words.
            this.deps.logger?.warn(`search index: the embedder returned ${rejected.length} unusable vectors (${[...new Set(rejected.map((r) => r.problem))].join(', ')})`);
            for (const r of rejected) this.failedHashes.add(r.hash);
        }
        for (const [hash] of batch) this.vectorArrived(hash);
        this.vectorsSinceCalibration += batch.length;
        this.markDirty();
        if (this.dirtySince !== undefined && this.deps.clock.now() - this.dirtySince >= SAVE_EVERY_MS) await this.save(signal);
    }

    private vectorArrived(hash: string): void {
        const files = this.waitingFiles.get(hash);
        if (!files) return;
        this.waitingFiles.delete(hash);
        for (const f of files) {
            const n = (this.fileWaits.get(f) ?? 1) - 1;
            if (n <= 0) this.fileWaits.delete(f);
            else this.fileWaits.set(f, n);
        }
    }

    private forgetWaits(file: string): void {
        if (!this.fileWaits.delete(file)) return;
        for (const [hash, files] of this.waitingFiles) {
            if (!files.delete(file) || files.size > 0) continue;
            this.waitingFiles.delete(hash);
            this.pending.delete(hash);
            this.urgentPending.delete(hash);
        }
    }

    private pendingCount(): number {
        return this.pending.size + this.urgentPending.size;
    }

    /** Keeps a uniform sample of the workspace's mined queries (reservoir sampling, deterministic per order). */
    private sampleQueries(chunks: readonly ChunkInput[]): void {
        for (const q of this.deps.mine(chunks)) {
            this.queriesSeen++;
            if (this.queries.length < CALIBRATION_QUERIES) this.queries.push(q);
            else {
                // A deterministic stand-in for a random draw: the same workspace calibrates the same way.
                const j = fnv1a(`${q.answer.file}:${q.answer.startLine}`) % this.queriesSeen;
                if (j < CALIBRATION_QUERIES) this.queries[j] = q;
            }
        }
    }

    /** Calibrates once enough queries were mined and most chunks have vectors; returns whether it ran. */
    private async calibrateIfDue(signal: AbortSignal): Promise<boolean> {
        const index = this.current!;
        if (isLexicalOnly(index.identity) || this.queries.length < MIN_CALIBRATION_QUERIES) return false;
        const stats = index.stats();
        if (stats.chunks === 0 || stats.chunksWithVectors < 0.9 * stats.chunks) return false;
        // Once per index and session, then again only after a share of the chunks got new vectors:
        // a calibration that found nothing usable is not retried in a loop.
        const due = (!this.calibrationTried && this.weightsInForce.basis === 'default') || this.vectorsSinceCalibration >= RECALIBRATE_SHARE * stats.chunks;
        if (!due) return false;
        this.calibrationTried = true;
        this.setState('indexing', `measuring search quality on ${this.queries.length} queries from this workspace`);
        try {
            const { embeddings } = this.deps;
            this.weightsInForce = await this.deps.calibrate({
                index,
                queries: this.queries,
                embed: async (text, as, s) => (as === 'query' ? embeddings.query(text, index.identity, s) : (await embeddings.documents([text], index.identity, s))[0]),
                signal,
            });
            const b = this.weightsInForce.basis;
            if (b !== 'default') this.deps.logger?.info(`search: fusion weights lexical ${this.weightsInForce.lexical}, vector ${this.weightsInForce.vector} (MRR@10 on ${b.queries} mined queries: lexical ${b.lexicalMrr.toFixed(3)}, vector ${b.vectorMrr.toFixed(3)}, hybrid ${b.hybridMrr.toFixed(3)})`);
        } catch (e) {
            if (isAbortError(e) || signal.aborted) throw e;
            this.deps.logger?.warn(`search: could not measure the channels (${errorMessage(e)}); keeping the weights in force`);
        }
        this.vectorsSinceCalibration = 0;
        this.markDirty();
        this.detail = undefined;
        return true;
    }

    private async save(signal: AbortSignal): Promise<void> {
        const index = this.current;
        if (!index || this.dirtySince === undefined) return;
        this.dirtySince = undefined;
        this.deps.clock.clearTimeout(this.saveTimer);
        this.saveTimer = undefined;
        index.compact(false);
        try {
            await this.deps.store.save(index, this.weightsInForce, signal);
            if (this.saveFailures > 0) this.deps.logger?.info(`search index: saved again after ${this.saveFailures} failed ${this.saveFailures === 1 ? 'save' : 'saves'}`);
            this.saveFailures = 0;
        } catch (e) {
            if (isAbortError(e) && signal.aborted) throw e;
            // Reported when saves start failing, not at every try: search goes on from memory.
            if (this.saveFailures++ === 0) this.deps.logger?.warn(`search index: could not save it (${errorMessage(e)}); ${writeAdvice(errorCode(e), 'the extension\'s storage folder')}. The index on disk is the previous one; search goes on from memory, and saving is tried again later`);
            this.dirtySince = this.deps.clock.now();
        }
    }

    private markDirty(): void {
        this.contentVersion++;
        this.dirtySince ??= this.deps.clock.now();
        this.changedNow();
    }

    private enqueue(job: FileJob): void {
        if (job.urgent) {
            // A newer event for the same file replaces one still waiting.
            const i = this.fileJobs.findIndex((j) => j.file === job.file);
            if (i >= 0) this.fileJobs.splice(i, 1);
            let at = 0;
            while (at < this.fileJobs.length && this.fileJobs[at].urgent) at++;
            this.fileJobs.splice(at, 0, job);
        } else this.fileJobs.push(job);
        this.poke();
    }

    private idle(signal: AbortSignal): Promise<void> {
        if (this.poked) {
            this.poked = false;
            return Promise.resolve();
        }
        return new Promise<void>((resolve, reject) => {
            const onAbort = (): void => reject(signal.reason);
            if (signal.aborted) return onAbort();
            signal.addEventListener('abort', onAbort, { once: true });
            this.wake = () => {
                signal.removeEventListener('abort', onAbort);
                resolve();
            };
        });
    }

    private poke(): void {
        const w = this.wake;
        this.wake = undefined;
        if (w) w();
        else this.poked = true;
    }

    private setState(state: IndexProgress['state'], detail?: string): void {
        if (this.state === state && this.detail === detail) return;
        this.state = state;
        this.detail = detail;
        this.changedNow();
    }

    private changedNow(): void {
        try {
            this.deps.onChange?.();
        } catch (e) {
            this.deps.logger?.warn(`search: a progress listener threw: ${errorMessage(e)}`);
        }
    }
}
