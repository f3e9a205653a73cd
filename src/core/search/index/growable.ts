/**
 * Typed arrays that grow: the index's columns are typed arrays (compact, no per-element objects),
 * and rows and vectors are appended one at a time.
 * Invariant: `grow` keeps the first `a.length` elements and returns an array of at least `min`
 * elements, at least 1.5x the old length when it must grow (amortised O(1) appends, at most half
 * of a column unused).
 */

export type TypedArray = Int8Array | Uint8Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/** `a` itself when it holds `min` elements, otherwise a longer copy (new elements zero). */
export function grow<T extends TypedArray>(a: T, min: number): T {
    if (a.length >= min) return a;
    const length = Math.max(min, Math.ceil(a.length * 1.5), 16);
    const b = new (a.constructor as new (n: number) => T)(length);
    b.set(a as never);
    return b;
}

/** `a` renumbered: element i moves to `map[i]` when that is >= 0 (compaction); `n` elements. */
export function remap<T extends TypedArray>(a: T, map: Int32Array, n: number): T {
    const b = new (a.constructor as new (n: number) => T)(n);
    for (let i = 0; i < map.length; i++) if (map[i] >= 0) b[map[i]] = a[i];
    return b;
}
