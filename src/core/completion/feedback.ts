/**
 * Turns what happens to shown completions into router feedback. A completion is "shown" when the
 * provider returns it; "accepted" when its item's command runs; "dismissed" when the next request
 * for any document arrives without it having been accepted, or when explicitly dismissed.
 * Each shown completion gets exactly one of accepted/dismissed.
 */
import type { Feedback, TaskKind } from '../tasks';

export interface ShownCompletion {
    readonly id: number;
    readonly modelId: string;
}

export class CompletionFeedback {
    private nextId = 1;
    private outstanding: ShownCompletion | undefined;

    constructor(
        private readonly report: (feedback: Feedback) => void,
        private readonly kind: TaskKind = 'completion',
    ) {}

    /** Records a completion being shown; settles the previous one as dismissed. Returns its id. */
    shown(modelId: string): number {
        this.settlePending();
        const item = { id: this.nextId++, modelId };
        this.outstanding = item;
        this.report({ modelId, kind: this.kind, event: 'shown' });
        return item.id;
    }

    /** The item's command ran. Ignored for an id that is no longer outstanding. */
    accepted(id: number): void {
        if (this.outstanding?.id !== id) return;
        this.report({ modelId: this.outstanding.modelId, kind: this.kind, event: 'accepted' });
        this.outstanding = undefined;
    }

    /** A new request came in: whatever was shown and not accepted was dismissed. */
    nextRequest(): void {
        this.settlePending();
    }

    dismiss(): void {
        this.settlePending();
    }

    get pending(): ShownCompletion | undefined {
        return this.outstanding;
    }

    private settlePending(): void {
        const o = this.outstanding;
        if (!o) return;
        this.outstanding = undefined;
        this.report({ modelId: o.modelId, kind: this.kind, event: 'dismissed' });
    }
}
