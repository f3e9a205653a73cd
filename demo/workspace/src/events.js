// A tiny publish/subscribe hub: listeners subscribe to named events and are called when one is emitted.
export class EventHub {
    constructor() {
        this.listeners = new Map();
    }

    // Subscribes a listener to an event; returns a function that unsubscribes it.
    on(event, listener) {
        if (!this.listeners.has(event)) this.listeners.set(event, new Set());
        this.listeners.get(event).add(listener);
        return () => this.listeners.get(event)?.delete(listener);
    }

    // Calls every listener of the event with the payload, in the order they subscribed.
    emit(event, payload) {
        for (const listener of this.listeners.get(event) ?? []) listener(payload);
    }
}
