import type { Clock } from '@ferry/blobstore';

/**
 * Passes on at most one value per interval. A value offered too early is held and sent
 * when the interval is over, so the last state before a stall is never hidden; `finish`
 * sends the final value at once and stops.
 */
export class ProgressThrottle<T> {
  private lastSent = Number.NEGATIVE_INFINITY;
  private pending: T | undefined;
  private timer: AbortController | undefined;
  private finished = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly emit: (value: T) => void,
  ) {}

  offer(value: T): void {
    if (this.finished) return;
    const wait = this.lastSent + this.intervalMs - this.clock.now();
    if (wait <= 0) {
      this.send(value);
      return;
    }
    this.pending = value;
    if (this.timer) return;
    const timer = new AbortController();
    this.timer = timer;
    this.clock.sleep(wait, timer.signal).then(
      () => {
        this.timer = undefined;
        const held = this.pending;
        if (held !== undefined && !this.finished) this.send(held);
      },
      () => undefined,
    );
  }

  /** Sends `value` (or what is held) now and ignores everything after. */
  finish(value?: T): void {
    if (this.finished) return;
    this.finished = true;
    this.timer?.abort();
    const last = value ?? this.pending;
    if (last !== undefined) this.emit(last);
  }

  private send(value: T): void {
    this.pending = undefined;
    this.lastSent = this.clock.now();
    this.emit(value);
  }
}
