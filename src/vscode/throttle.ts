/**
 * Runs `fn` at most once per `intervalMs`, leading and trailing: the first trigger runs at once, later
 * ones within the interval collapse into one run at its end. Nothing runs after `dispose()`.
 */
import type { Clock, TimerHandle } from '../core/clock';

export class Throttle {
    private last = Number.NEGATIVE_INFINITY;
    private timer: TimerHandle | undefined;
    private disposed = false;

    constructor(
        private readonly clock: Clock,
        private readonly intervalMs: number,
        private readonly fn: () => void,
    ) {}

    trigger(): void {
        if (this.disposed || this.timer !== undefined) return;
        const wait = this.last + this.intervalMs - this.clock.now();
        if (wait <= 0) {
            this.run();
            return;
        }
        this.timer = this.clock.setTimeout(() => {
            this.timer = undefined;
            this.run();
        }, wait);
    }

    /** Runs now if a trailing run is pending. */
    flush(): void {
        if (this.timer === undefined) return;
        this.clock.clearTimeout(this.timer);
        this.timer = undefined;
        this.run();
    }

    dispose(): void {
        this.disposed = true;
        this.clock.clearTimeout(this.timer);
        this.timer = undefined;
    }

    private run(): void {
        if (this.disposed) return;
        this.last = this.clock.now();
        this.fn();
    }
}
