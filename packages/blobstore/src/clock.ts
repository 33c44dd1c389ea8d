import { abortedError } from './abort.js';

/** Time source for everything that waits; tests pass a `VirtualClock` instead of waiting. */
export interface Clock {
  /** Milliseconds since an arbitrary epoch; only differences are meaningful. */
  now(): number;
  /** Resolves after `ms` milliseconds; rejects with code `Aborted` when the signal fires. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortedError('sleep', undefined, signal.reason));
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(abortedError('sleep', undefined, signal?.reason));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

interface Sleeper {
  readonly deadline: number;
  readonly seq: number;
  readonly resolve: () => void;
}

/**
 * A clock for tests whose time only moves when someone sleeps: pending sleeps wake in
 * deadline order, each advancing `now()` to its deadline, without waiting in real time.
 * Sleeps started in the same turn of the event loop run concurrently in virtual time.
 */
export class VirtualClock implements Clock {
  private current: number;
  private sleepers: Sleeper[] = [];
  private seq = 0;
  private pumpScheduled = false;

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortedError('sleep', undefined, signal.reason));
        return;
      }
      const sleeper: Sleeper = {
        deadline: this.current + Math.max(0, ms),
        seq: this.seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(abortedError('sleep', undefined, signal?.reason));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
      this.schedulePump();
    });
  }

  /** Moves time forward by hand, waking every sleeper whose deadline has passed. */
  advance(ms: number): void {
    this.current += ms;
    const due = this.sleepers.filter((s) => s.deadline <= this.current);
    this.sleepers = this.sleepers.filter((s) => s.deadline > this.current);
    for (const s of due.sort(bySchedule)) s.resolve();
  }

  // setImmediate lets every continuation that is ready (microtasks, finished I/O) run
  // and register its own sleep before time jumps to the next deadline.
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.sleepers.sort(bySchedule);
      const next = this.sleepers.shift();
      if (next === undefined) return;
      this.current = Math.max(this.current, next.deadline);
      next.resolve();
      if (this.sleepers.length > 0) this.schedulePump();
    });
  }
}

function bySchedule(a: Sleeper, b: Sleeper): number {
  return a.deadline - b.deadline || a.seq - b.seq;
}
