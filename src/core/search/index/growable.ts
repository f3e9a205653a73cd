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

/**
 * An estimate of the memory of interned strings: the string (a ~16-byte header and a byte a
 * character for Latin-1 text), its slot in an array and its entry in a Map (~40 bytes).
 */
export function stringBytes(strings: readonly string[]): number {
    let b = 0;
    for (const s of strings) b += 64 + s.length;
    return b;
}

/**
 * A copy of `s` that holds no other string alive. V8 represents a substring of 13 or more
 * characters as a view of its parent (and toLowerCase of a lower-case string is the string itself),
 * so a token or symbol interned as it comes would keep the whole chunk or file text it was cut from
 * in memory. Only for strings that are kept: interned terms, symbols, paths, hashes.
 */
export function ownCopy(s: string): string {
    return s.length < 13 ? s : s.split('').join('');
}
