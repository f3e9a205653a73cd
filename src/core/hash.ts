/**
 * FNV-1a, 32 bits, of a string's UTF-16 code units: a fast, stable, non-cryptographic hash for
 * seeds, samples and table keys (never for identity or integrity: those use SHA-256).
 */
export function fnv1a(text: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
        h ^= text.charCodeAt(i);
        h = Math.imul(h, 0x01000193);
    }
    return h >>> 0;
}
