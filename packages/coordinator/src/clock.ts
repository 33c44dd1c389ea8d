/**
 * Time for everything that waits or stamps: timeouts, the AgentUnavailable wait, progress
 * throttling, lease timing. Production uses the wall clock; tests pass a ManualClock so
 * nothing sleeps for real.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (status timestamps are written from it). */
  now(): number;
  /** Resolves after `ms`; resolves early (never rejects) when the signal fires. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
    }),
};

interface Sleeper {
  readonly at: number;
  readonly resolve: () => void;
}

/** A clock that moves only when a test calls `advance`. */
export class ManualClock implements Clock {
  private sleepers: Sleeper[] = [];

  constructor(private current: number = Date.parse('2030-01-01T00:00:00Z')) {}

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper: Sleeper = { at: this.current + Math.max(0, ms), resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener('abort', () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        resolve();
      }, { once: true });
    });
  }

  advance(ms: number): void {
    this.current += ms;
    const due = this.sleepers.filter((s) => s.at <= this.current);
    this.sleepers = this.sleepers.filter((s) => s.at > this.current);
    for (const s of due) s.resolve();
  }
}

export function isoTime(clock: Clock): string {
  return new Date(clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
