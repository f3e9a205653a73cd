/**
 * The completion request builder: from "the user's cursor is at this offset of this document" to
 * the `completion` task the router takes. It keeps, per document, the two anchors that make the
 * next keystroke's prompt an extension of this one (so the model reuses what it has evaluated):
 * the prefix window's start (`buildContextWindow`) and the FIM middle's start (`chooseMiddleStart`).
 * The editor's inline completion provider and the read-ahead hint use it; it knows nothing of VS
 * Code. Units: characters for offsets, tokens for the limits.
 *
 * Invariant: `task.prefix + task.middle === window.prefix` (all the text before the cursor in the
 * window), and `task.middle` starts at a line start.
 */
import type { CompletionTask } from '../tasks';
import { buildContextWindow, chooseMiddleStart, middleAnchor, type ContextWindow, type MiddleAnchor, type TokenCounter } from './context';
import { completionStops } from './postprocess';

export interface CompletionRequestLimits {
    /** Tokens of context before and after the cursor. */
    readonly prefixTokens: number;
    readonly suffixTokens: number;
    /** Longest completion, in tokens. */
    readonly maxTokens: number;
}

export interface CompletionRequest {
    readonly task: CompletionTask;
    readonly window: ContextWindow;
}

export class CompletionRequestBuilder {
    /** Per document: the prefix window's start offset, kept stable so the model reuses its prefix. */
    private readonly windowAnchors = new Map<string, number>();
    /** Per document: where the FIM middle started last time. */
    private readonly middleAnchors = new Map<string, MiddleAnchor>();

    /** @param countTokens the window's token counter (default: a tokenizer-free estimate for code). */
    constructor(private readonly countTokens?: TokenCounter) {}

    /**
     * The completion task for the cursor at `offset` in `text` (document `doc`), and its window.
     * Keeps the document's anchors for the next request.
     */
    build(doc: string, text: string, offset: number, limits: CompletionRequestLimits): CompletionRequest {
        const window = buildContextWindow(text, offset, limits, this.countTokens, this.windowAnchors.get(doc));
        this.windowAnchors.set(doc, window.prefixStart);
        // The FIM middle (after llama.cpp's /infill middle marker) is the text from an anchored line
        // start to the cursor: a keystroke, and Enter too, then only appends to the prompt and the
        // suffix stays cached.
        const middleStart = chooseMiddleStart(text, window, offset, this.middleAnchors.get(doc));
        this.middleAnchors.set(doc, middleAnchor(text, window, middleStart));
        const task: CompletionTask = {
            kind: 'completion',
            doc,
            prefix: window.prefix.slice(0, middleStart - window.prefixStart),
            middle: window.prefix.slice(middleStart - window.prefixStart),
            suffix: window.suffix,
            maxTokens: limits.maxTokens,
            stop: completionStops(window.lineSuffix),
        };
        return { task, window };
    }

    /** The document was closed: its anchors go. */
    forget(doc: string): void {
        this.windowAnchors.delete(doc);
        this.middleAnchors.delete(doc);
    }
}
