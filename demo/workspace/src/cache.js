// A least-recently-used cache with a fixed capacity.
export class LruCache {
    constructor(capacity) {
        this.capacity = capacity;
        this.entries = new Map();
    }

    get(key) {
        if (!this.entries.has(key)) return undefined;
        const value = this.entries.get(key);
        this.entries.delete(key);
        this.entries.set(key, value);
        return value;
    }

    set(key, value) {
        this.entries.delete(key);
        this.entries.set(key, value);
        if (this.entries.size > this.capacity) {
            this.entries.delete(this.entries.keys().next().value);
        }
    }
}
