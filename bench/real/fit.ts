/**
 * The cost models fitted to the profile's measurements: prompt evaluation from three timings
 * (`fitPrefill`), and the per-call model the simulator prices every native call with
 * (`fitCallCosts`, over the calls `promptCalls` says the backend makes). Pure arithmetic. Units: ms.
 */

/**
 * Prompt evaluation time model: n tokens after P already in the sequence take
 * `overheadMs + n * msPerToken + msPerTokenPair * n * (P + n / 2)` (ms). Solved exactly from
 * three measurements (two fresh sizes and one after a cached prefix); when the attention term
 * comes out negative (noise), it is dropped and the two fresh sizes give overhead and rate.
 */
export function fitPrefill(points: ReadonlyArray<{ n: number; position: number; ms: number }>): { overheadMs: number; msPerToken: number; msPerTokenPair: number } {
    const rows = points.map((p) => [1, p.n, p.n * (p.position + p.n / 2)]);
    const y = points.map((p) => p.ms);
    const det3 = (m: number[][]): number =>
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    const d = det3(rows);
    if (points.length === 3 && Math.abs(d) > 1e-9) {
        const col = (k: number): number[][] => rows.map((r, i) => r.map((v, j) => (j === k ? y[i] : v)));
        const [o, a, b] = [0, 1, 2].map((k) => det3(col(k)) / d);
        // A slightly negative overhead is noise around zero (measured: -1.1 ms on the embedder).
        if (b >= 0 && a > 0 && o > -5) return { overheadMs: Math.max(0, o), msPerToken: a, msPerTokenPair: b };
    }
    const [s, l] = points;
    const a = Math.max(1e-6, (l.ms - s.ms) / Math.max(1, l.n - s.n));
    return { overheadMs: Math.max(0, s.ms - s.n * a), msPerToken: a, msPerTokenPair: 0 };
}

/** One native evaluation call: n tokens after P already in the sequence. */
export interface EvalCall {
    readonly n: number;
    readonly position: number;
}

/**
 * The native calls the llama.cpp backend makes for a prompt of `promptTokens` of which `reused`
 * are already in the sequence: chunks of `chunk` tokens up to the last prompt token, then one call
 * for the last token (which samples the first new token). Mirrors src/backends/llamaCpp/generate.ts.
 */
export function promptCalls(promptTokens: number, reused: number, chunk: number): EvalCall[] {
    const calls: EvalCall[] = [];
    for (let pos = reused; pos < promptTokens - 1; pos = Math.min(promptTokens - 1, pos + chunk)) calls.push({ n: Math.min(chunk, promptTokens - 1 - pos), position: pos });
    calls.push({ n: 1, position: promptTokens - 1 });
    return calls;
}

export interface CallCosts {
    /** Once per generate call (ms). */
    readonly requestMs: number;
    /** Per native call (ms). */
    readonly callMs: number;
    /** Per native call, per token already in the sequence (ms). */
    readonly cachedTokenMs: number;
    /** Per evaluated token (ms). */
    readonly tokenMs: number;
    /** Per pair of (evaluated token, token before it in the sequence) (ms). */
    readonly pairMs: number;
}

/**
 * Fits the per-call cost model (see `ModelProfile.callOverheadMs`) to measured timings: each
 * point is the ms of `requests` generate calls' fixed part plus its native calls. Least squares on
 * relative error (a 20 ms keystroke weighs as much as a 1 s prompt) times each point's `weight`
 * (default 1), with every coefficient kept >= 0 by dropping the most negative one and solving again.
 */
export function fitCallCosts(
    points: ReadonlyArray<{ readonly calls: readonly EvalCall[]; readonly requests: number; readonly ms: number; readonly weight?: number }>,
): CallCosts {
    const raw = points.map((p) => {
        const f = [p.requests, 0, 0, 0, 0];
        for (const c of p.calls) {
            f[1] += 1;
            f[2] += c.position;
            f[3] += c.n;
            f[4] += c.n * (c.position + c.n / 2);
        }
        return f;
    });
    // Columns scaled to at most 1 (positions and pairs run to 1e5): better conditioned.
    const scale = [0, 1, 2, 3, 4].map((j) => Math.max(1e-12, ...raw.map((f) => Math.abs(f[j]))));
    const rows = raw.map((f) => f.map((v, j) => v / scale[j]));
    let active = [0, 1, 2, 3, 4];
    let x = [0, 0, 0, 0, 0];
    for (;;) {
        const k = active.length;
        const ata = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
        points.forEach((p, i) => {
            const w = (p.weight ?? 1) / Math.max(1e-6, p.ms) ** 2;
            for (let a = 0; a < k; a++) {
                for (let b = 0; b < k; b++) ata[a][b] += w * rows[i][active[a]] * rows[i][active[b]];
                ata[a][k] += w * rows[i][active[a]] * p.ms;
            }
        });
        const sol = solve(ata);
        x = [0, 0, 0, 0, 0];
        if (sol === undefined) break;
        active.forEach((j, a) => (x[j] = sol[a] / scale[j]));
        const worst = active.reduce((m, j) => (x[j] < x[m] ? j : m), active[0]);
        if (x[worst] >= 0) break;
        active = active.filter((j) => j !== worst);
        if (active.length === 0) break;
    }
    return { requestMs: x[0], callMs: x[1], cachedTokenMs: x[2], tokenMs: x[3], pairMs: x[4] };
}

/** Gaussian elimination with partial pivoting on an augmented k x (k+1) matrix; undefined if singular. */
function solve(m: number[][]): number[] | undefined {
    const k = m.length;
    for (let c = 0; c < k; c++) {
        let piv = c;
        for (let r = c + 1; r < k; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
        if (Math.abs(m[piv][c]) < 1e-12) return undefined;
        [m[c], m[piv]] = [m[piv], m[c]];
        for (let r = 0; r < k; r++) {
            if (r === c) continue;
            const f = m[r][c] / m[c][c];
            for (let j = c; j <= k; j++) m[r][j] -= f * m[c][j];
        }
    }
    return m.map((row, i) => row[k] / row[i]);
}
