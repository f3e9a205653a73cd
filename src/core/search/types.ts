/**
 * Semantic workspace search: the contracts between its parts.
 *
 *   files.ts       which workspace files are indexed (ignore rules, deny-list, size, binary)
 *   chunker.ts     a file's text -> chunks that follow the code (syntax-aware where a grammar is
 *                  available through a `SyntaxParser`, line windows elsewhere)
 *   index/         the in-memory index: chunks as ranges (never copies of files), a content-hash
 *                  -> vector cache, quantized vectors with a two-stage search, a BM25 lexical index
 *                  with a code-aware tokenizer, tombstones and compaction
 *   store.ts       the index on disk: compact binary segments and a manifest, crash-safe writes,
 *                  corruption detected on load (set aside, rebuilt)
 *   fusion.ts      weighted reciprocal rank fusion of the lexical and vector channels
 *   calibrate.ts   how much each channel earns on this workspace (queries mined from it), which
 *                  sets the fusion weights
 *   indexer.ts     keeps the index fresh: scans, hashes, embeds through the router as background
 *                  `embed` work, follows file events, persists
 *   query.ts       a search: lexical at once, vectors when the query's embedding arrives
 *
 * Paths are workspace-relative with `/` separators. Lines are 1-based and inclusive. Vectors are
 * L2-normalised before they are stored (cosine similarity = dot product).
 */

/** A chunk of a workspace file, as results show it: a range, not a copy of the text. */
export interface ChunkRef {
    /** Workspace-relative path, `/` separators (for multi-root workspaces: `<folder name>/<path>`). */
    readonly file: string;
    /** First and last line, 1-based, inclusive. */
    readonly startLine: number;
    readonly endLine: number;
    /** The enclosing or defined symbol (`class Foo`, `Foo.bar`), when the chunker knows it. */
    readonly symbol?: string;
}

/** A chunk as the chunker produces it, with the texts the index needs once (never stored). */
export interface ChunkInput extends ChunkRef {
    /** The chunk's own text (its lines), indexed lexically. */
    readonly text: string;
    /**
     * The text embedded for it: its text, prefixed with the symbol when known (never the path, so a
     * renamed or moved file re-embeds nothing).
     */
    readonly embedText: string;
    /** Content hash of `embedText` (hex): the vector cache key. Equal texts share one vector. */
    readonly hash: string;
    /**
     * The leading comment or docstring of a function or class, as plain text (comment markers
     * removed), when the chunk has one: query mining uses it as a query and the chunk as its answer.
     */
    readonly doc?: string;
    /** Lines of `doc` in the file (1-based, inclusive), to leave it out of an indexed copy. */
    readonly docLines?: readonly [number, number];
    /**
     * With `doc` (and docs not stripped): `embedText` with the doc left out, so that calibration can
     * rank this chunk by a vector that does not hold the query mined from its doc.
     */
    readonly embedTextWithoutDoc?: string;
}

/** A parsed syntax tree, as much of it as the chunker needs (implemented over web-tree-sitter). */
export interface SyntaxNode {
    readonly type: string;
    /**
     * 0-based rows, inclusive: `endRow` is the row of the node's last character (a node that ends
     * with a newline, like a Rust `///` comment, ends on that newline's row, not the next).
     */
    readonly startRow: number;
    readonly endRow: number;
    /** Offsets into the parsed text as a JS string (UTF-16 code units), end exclusive. */
    readonly startIndex: number;
    readonly endIndex: number;
    readonly isNamed: boolean;
    readonly children: readonly SyntaxNode[];
    /** A named field of the node (e.g. `name` of a function), when the grammar has it. */
    childForField(name: string): SyntaxNode | undefined;
    /** The node's source text. */
    readonly text: string;
}

/** Parses source text; a language without a grammar gives undefined (the chunker falls back to line windows). */
export interface SyntaxParser {
    /** `language` is a VS Code language id or a file extension's language (see `languageOf`). */
    parse(language: string, text: string, signal?: AbortSignal): Promise<SyntaxNode | undefined>;
    /** Languages this parser has a grammar for. */
    readonly languages: ReadonlySet<string>;
}

/**
 * What identifies an embedding space: vectors from two indexes are comparable only when these are
 * equal. Bound to the index when it is created; another embedder builds another index.
 */
export interface EmbedderIdentity {
    /** The model file's embedding space (`ModelInfo.embeddingSpace`: a hash of its content metadata). */
    readonly space: string;
    readonly dims: number;
    /** How token vectors become one (`mean`, `cls`, `last`, ...), as the model declares it. */
    readonly pooling: string;
    /** Display name of the model. */
    readonly model: string;
    /** Text the model expects before a query and before a document (e.g. nomic-embed's "search_query: "). */
    readonly queryPrefix: string;
    readonly documentPrefix: string;
}

/** One ranked result of a channel or of the fusion. */
export interface SearchHit {
    readonly chunk: ChunkRef;
    /** The channel's score (BM25, cosine similarity) or the fused score; higher is better. */
    readonly score: number;
}

/** The fused result, with each channel's rank (1-based) where it ranked the chunk. */
export interface FusedHit extends SearchHit {
    readonly lexicalRank?: number;
    readonly vectorRank?: number;
}

/** What each channel earns on this workspace (calibrate.ts), and the fusion weights it sets. */
export interface ChannelWeights {
    readonly lexical: number;
    readonly vector: number;
    /** How they were set: mined queries measured, their MRR@10 per channel, or "default" (not measured yet). */
    readonly basis: { readonly queries: number; readonly lexicalMrr: number; readonly vectorMrr: number; readonly hybridMrr: number } | 'default';
}

/** Index progress, as the status bar and the view show it. */
export interface IndexProgress {
    /** Files found to index, and files whose chunks are all searchable by meaning (have vectors). */
    readonly files: number;
    readonly filesDone: number;
    readonly chunks: number;
    readonly chunksWithVectors: number;
    readonly state: 'idle' | 'scanning' | 'indexing' | 'paused' | 'disabled' | 'failed';
    /** Why it is paused, disabled or failed, in words. */
    readonly detail?: string;
    /**
     * Files left out since the last scan for what they are or what happened to them (binary, too
     * large, unreadable, a symlink loop, ...), counted per reason; files the ignore rules leave out
     * are not counted here. Absent when none.
     */
    readonly skipped?: SkippedFiles;
}

export interface SkippedFiles {
    readonly files: number;
    /** Reason (files.ts `SkipReason`) -> files. */
    readonly byReason: Readonly<Record<string, number>>;
}

/** When a file was last indexed: a cheap start-up scan re-reads only files whose stamp changed. */
export interface FileStamp {
    readonly mtimeMs: number;
    readonly size: number;
}

/** Sizes of an index, for the benchmark and the view's details. */
export interface IndexStats {
    readonly files: number;
    /** Chunks of live files, and how many of them have a vector (are searchable by meaning). */
    readonly chunks: number;
    readonly chunksWithVectors: number;
    /** Distinct vectors kept (the hash -> vector cache, dead rows not yet compacted included). */
    readonly vectors: number;
    /** Rows and postings no live chunk uses any more, until compaction drops them. */
    readonly deadChunks: number;
    /** Bytes the index holds in memory (typed arrays and tables; an estimate for maps). */
    readonly memoryBytes: number;
}

/** A vector `SearchIndex.addVectors` refused, and why. */
export interface RejectedVector {
    readonly hash: string;
    readonly problem: 'dims' | 'notFinite' | 'zero';
}

/**
 * The in-memory index (index/). Every change is immediate for search: a file's new chunks are
 * searchable lexically at once, and by meaning once their vectors arrive (`addVectors`).
 * Not thread-safe, no I/O; persisted by store.ts.
 */
export interface SearchIndex {
    readonly identity: EmbedderIdentity;
    /**
     * Replaces every chunk of `file` with `chunks` (a new or changed file) and records its stamp.
     * Returns the chunks whose hash has no vector yet (what must be embedded), each hash once.
     */
    setFile(file: string, stamp: FileStamp, chunks: readonly ChunkInput[]): ChunkInput[];
    /** Drops a deleted (or now ignored) file's chunks; their vectors stay cached until compaction. */
    removeFile(file: string): void;
    /**
     * Vectors by content hash (normalised here); a hash no chunk uses is ignored. Returns the vectors
     * refused (not of `identity.dims` values, a value not finite, all zero), which stay unembedded.
     */
    addVectors(items: ReadonlyArray<{ readonly hash: string; readonly vector: ArrayLike<number> }>): RejectedVector[];
    hasVector(hash: string): boolean;
    stamp(file: string): FileStamp | undefined;
    files(): IterableIterator<string>;
    /** The live chunks of `file`, in line order. */
    chunksOf(file: string): readonly ChunkRef[];
    stats(): IndexStats;
    /**
     * BM25 over the chunks' text and paths, with a code-aware tokenizer (camelCase and snake_case
     * split, path segments as their own field). `without`: score `chunk` as if `text` (a docstring
     * mined as the query) were not in it, for calibration.
     */
    searchLexical(query: string, k: number, options?: { readonly without?: { readonly chunk: ChunkRef; readonly text: string } }): SearchHit[];
    /**
     * Nearest chunks by cosine similarity (only chunks with vectors). `replace`: rank `chunk` by
     * `vector` instead of its own (its text embedded without the docstring mined as the query).
     */
    searchVector(query: ArrayLike<number>, k: number, options?: { readonly replace?: { readonly chunk: ChunkRef; readonly vector: ArrayLike<number> } }): SearchHit[];
    /** Drops dead rows and postings when they are a large enough share; returns whether it did. */
    compact(force?: boolean): boolean;
}

/** A query mined from the workspace with the chunk that answers it (calibration, benchmark). */
export interface MinedQuery {
    readonly query: string;
    readonly answer: ChunkRef;
    /** The answer chunk's text that the query came from (its docstring), left out when ranking it. */
    readonly without?: string;
    /**
     * The text to embed for the answer in place of its own vector: its embedded text with `without`
     * left out (`ChunkInput.embedTextWithoutDoc`). Without it, a query with `without` cannot be
     * measured on the vector channel fairly (the answer's own vector holds the docstring).
     */
    readonly answerEmbedText?: string;
}
