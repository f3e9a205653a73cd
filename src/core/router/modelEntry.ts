/**
 * The models the router knows: spec, backend, what inspection learned (capabilities, memory),
 * residency, live load, per-document prefix cache knowledge and cooldown. Units: ms, bytes, tokens.
 */
import type { ModelBackend, ModelInfo, ModelSpec } from '../backend';
import { fimTextOrder } from '../fim';
import type { TimerHandle } from '../clock';
import type { CompletionTask, Residency } from '../tasks';
import type { Job } from './job';
import { SpeedMonitor, priorFromMemory } from './speedMonitor';
import { JobQueue } from './queue';

/** What the router believes a model's sequence holds for a document (its last completion prompt). */
export interface DocPrefix {
    /** The prompt's texts in evaluation order (`fimTextOrder`). */
    texts: readonly string[];
    /** Prompt tokens of that request. */
    tokens: number;
}

export class ModelEntry {
    info: ModelInfo | undefined;
    residency: Residency = 'unloaded';
    error: string | undefined;
    coolingDownUntil = 0;
    readonly queue = new JobQueue();
    /** Jobs with a backend call in progress. At most `spec.slots`. */
    readonly running: Job[] = [];
    /** Measured speeds and utilisation (the router's one speed monitor). */
    readonly speed: SpeedMonitor;
    /** Clock time the model last finished work (for keep-alive and eviction order). */
    lastUsedAt = 0;
    keepAliveTimer: TimerHandle | undefined;
    /** When the current load began (clock ms). */
    loadStartedAt = 0;
    loadWanted = false;
    /** Documents whose prefix this model's sequences likely hold; most recent last, <= slots entries. */
    readonly docs = new Map<string, DocPrefix>();
    /** Documents this model is reading in the background (background-read jobs queued or running). */
    readonly reading = new Set<string>();
    served = 0;
    failed = 0;
    /** Generations of this model's jobs currently paused at their gate. */
    paused = 0;
    /** Completions on this model pausing lower-priority work (`Job.pausesOthers`). */
    pausers = 0;
    /** Headroom hold budget (ms) and the state it accrues from, updated lazily at each pump. */
    readonly holdBudget = { bankMs: 0, lastAt: 0, pending: false, holding: false };
    /** Re-pump timer while background batches are held for headroom. */
    holdTimer: TimerHandle | undefined;
    /** Called when the last running job finishes (used while retiring). */
    onIdle: (() => void) | undefined;
    /** Removed by reconfigure: finishes its running work, takes no new work. */
    retired = false;
    constructor(
        public spec: ModelSpec,
        public backend: ModelBackend,
    ) {
        this.speed = new SpeedMonitor(priorFromMemory(1e9));
    }

    get id(): string {
        return this.spec.id;
    }

    get slots(): number {
        return Math.max(1, this.info?.slots ?? this.spec.slots);
    }

    /** Memory the model needs when loaded (bytes, host + GPU). */
    get memoryBytes(): number {
        const m = this.info?.estimatedMemory;
        return m ? m.ramBytes + m.vramBytes : 0;
    }

    get canInfill(): boolean {
        return this.info !== undefined && this.info.fim !== undefined && this.spec.fimTemplate !== 'none';
    }

    get canChat(): boolean {
        return this.info?.hasChat === true;
    }

    get space(): string | undefined {
        return this.info?.embeddingSpace;
    }

    get idle(): boolean {
        return this.running.length === 0 && this.queue.length === 0;
    }

    setInfo(info: ModelInfo): void {
        this.info = info;
        this.speed.setPrior(priorFromMemory(this.memoryBytes || 1e9));
    }

    /** A completion's prompt texts in the order this model evaluates them (its FIM template's). */
    fimTexts(t: Pick<CompletionTask, 'prefix' | 'suffix' | 'middle'>): readonly string[] {
        return fimTextOrder(this.info?.fim, t.prefix, t.suffix, t.middle ?? '');
    }

    /** Remembers the prompt a completion left in this model's sequences for `doc` (texts from `fimTexts`). */
    rememberDoc(doc: string, texts: readonly string[], tokens: number): void {
        this.docs.delete(doc);
        this.docs.set(doc, { texts, tokens });
        while (this.docs.size > this.slots) this.docs.delete(this.docs.keys().next().value as string);
    }

    /**
     * Prompt tokens a completion for `doc` would reuse here: the common start of its texts (from
     * `fimTexts`, in evaluation order) with those of the document's last prompt, in tokens
     * (characters scaled by the task's tokens per character). A text counts up to its first
     * difference, and the texts after it only when it matched in full.
     * O(common length) character comparisons; no allocation.
     */
    reusableTokens(doc: string, texts: readonly string[], promptTokens: number, tokensPerChar: number): number {
        const d = this.docs.get(doc);
        if (!d) return 0;
        let chars = 0;
        for (let k = 0; k < texts.length && k < d.texts.length; k++) {
            const a = d.texts[k];
            const b = texts[k];
            const n = Math.min(a.length, b.length);
            let i = 0;
            while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
            chars += i;
            if (i !== a.length || i !== b.length) break;
        }
        // The template's leading control token is shared too; at least one token is always evaluated.
        return Math.max(0, Math.min(promptTokens - 1, Math.floor(chars * tokensPerChar)));
    }
}
