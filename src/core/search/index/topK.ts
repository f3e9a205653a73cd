/**
 * The k best of a stream of (score, id): a bounded min-heap, O(n log k).
 * Order: higher score first; equal scores by lower id first, so results never depend on the order
 * in which candidates arrive.
 */
export class TopK {
    private readonly scores: Float64Array;
    private readonly ids: Int32Array;
    private n = 0;

    constructor(readonly k: number) {
        this.scores = new Float64Array(Math.max(0, k));
        this.ids = new Int32Array(Math.max(0, k));
    }

    /** Whether (sa, ia) ranks below (sb, ib). */
    private static worse(sa: number, ia: number, sb: number, ib: number): boolean {
        return sa < sb || (sa === sb && ia > ib);
    }

    push(score: number, id: number): void {
        if (this.k <= 0) return;
        const { scores, ids } = this;
        if (this.n < this.k) {
            let i = this.n++;
            while (i > 0) {
                const parent = (i - 1) >> 1;
                if (!TopK.worse(score, id, scores[parent], ids[parent])) break;
                scores[i] = scores[parent];
                ids[i] = ids[parent];
                i = parent;
            }
            scores[i] = score;
            ids[i] = id;
            return;
        }
        // The root is the worst kept; a candidate no better than it is not kept.
        if (!TopK.worse(scores[0], ids[0], score, id)) return;
        let i = 0;
        for (;;) {
            const l = 2 * i + 1;
            if (l >= this.n) break;
            const r = l + 1;
            const c = r < this.n && TopK.worse(scores[r], ids[r], scores[l], ids[l]) ? r : l;
            if (!TopK.worse(scores[c], ids[c], score, id)) break;
            scores[i] = scores[c];
            ids[i] = ids[c];
            i = c;
        }
        scores[i] = score;
        ids[i] = id;
    }

    /** The kept (id, score) pairs, best first. */
    sorted(): Array<{ id: number; score: number }> {
        const out: Array<{ id: number; score: number }> = [];
        for (let i = 0; i < this.n; i++) out.push({ id: this.ids[i], score: this.scores[i] });
        return out.sort((a, b) => b.score - a.score || a.id - b.id);
    }
}
