/**
 * A bounded per-model queue. Jobs are kept in arrival (seq) order; the scheduler picks by
 * priority (or FIFO for the baseline policies). Aggregates per task class are kept up to date so
 * that the wait estimate costs O(classes), not O(queue).
 * Invariant: `aheadMs[c]`, `count[c]` and `tokens` equal the sums over the jobs in `items`.
 */
import { TASK_KINDS } from '../tasks';
import type { Job } from './job';

export class JobQueue {
    /** Sorted by seq ascending. Bounded by the router's maxQueue (small), so scans are cheap. */
    readonly items: Job[] = [];
    readonly aheadMs = new Float64Array(TASK_KINDS.length);
    readonly count = new Int32Array(TASK_KINDS.length);
    tokens = 0;

    get length(): number {
        return this.items.length;
    }

    push(job: Job): void {
        const items = this.items;
        let i = items.length;
        while (i > 0 && items[i - 1].seq > job.seq) i--;
        items.splice(i, 0, job);
        this.aheadMs[job.classIndex] += job.aheadMs;
        this.count[job.classIndex]++;
        this.tokens += job.workTokens;
    }

    remove(job: Job): boolean {
        const i = this.items.indexOf(job);
        if (i < 0) return false;
        this.items.splice(i, 1);
        this.aheadMs[job.classIndex] -= job.aheadMs;
        this.count[job.classIndex]--;
        this.tokens -= job.workTokens;
        if (this.items.length === 0) {
            // Clears floating-point drift.
            this.aheadMs.fill(0);
            this.tokens = 0;
        }
        return true;
    }

    /**
     * The job to run next. FIFO: the oldest. Otherwise the highest priority, oldest first among
     * equals, except that a background job older than `starvationAt` (clock ms) goes first. Jobs
     * that may not start now are passed over: background jobs when `holdBackground` (headroom), and
     * jobs below `holdBelow` (a completion elsewhere is reading its prompt).
     */
    next(fifo: boolean, starvationAt: number, holdBackground: boolean, holdBelow: number): Job | undefined {
        let best: Job | undefined;
        for (const j of this.items) {
            if ((holdBackground && j.isBackground) || j.priority < holdBelow) continue;
            if (fifo) return j;
            if (j.isBackground && j.queuedAt <= starvationAt) return j;
            if (!best || j.priority > best.priority) best = j;
        }
        return best;
    }
}
