/**
 * A work queue of object keys, like client-go's: a key is queued at most once, is never
 * processed by two workers at the same time (a key added while it is processed runs again
 * afterwards), can be queued for later, and failing keys back off exponentially.
 */
import type { Clock } from './clock.js';

export interface WorkQueueOptions {
  readonly clock: Clock;
  readonly workers: number;
  readonly process: (key: string) => Promise<{ requeueAfterMs?: number } | void>;
  readonly onError: (key: string, err: unknown) => void;
  readonly onDepth?: (depth: number) => void;
  readonly maxBackoffMs?: number;
}

export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly order: string[] = [];
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, AbortController>();
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: WorkQueueOptions) {}

  get depth(): number {
    return this.order.length;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.o.onDepth?.(this.order.length);
    this.pump();
  }

  /** Queues `key` after `ms` (an earlier pending delay for the key is kept if sooner). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    if (this.delayed.has(key)) return;
    const abort = new AbortController();
    this.delayed.set(key, abort);
    void this.o.clock.sleep(ms, abort.signal).then(() => {
      if (this.delayed.get(key) === abort) this.delayed.delete(key);
      if (!abort.signal.aborted) this.add(key);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.delayed.values()) a.abort();
    this.delayed.clear();
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    if (this.order.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (!this.stopped && this.running < this.o.workers && this.order.length > 0) {
      const key = this.order.shift()!;
      this.queued.delete(key);
      this.o.onDepth?.(this.order.length);
      this.running++;
      this.active.add(key);
      void this.work(key).finally(() => {
        this.running--;
        this.active.delete(key);
        if (this.dirty.delete(key)) this.add(key);
        this.pump();
        if (this.order.length === 0 && this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private async work(key: string): Promise<void> {
    try {
      const result = await this.o.process(key);
      this.failures.delete(key);
      const after = result ? result.requeueAfterMs : undefined;
      if (after !== undefined) {
        const pending = this.delayed.get(key);
        if (pending) {
          pending.abort();
          this.delayed.delete(key);
        }
        this.addAfter(key, after);
      }
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.o.onError(key, err);
      this.addAfter(key, Math.min(this.o.maxBackoffMs ?? 30_000, 200 * 2 ** (n - 1)));
    }
  }
}
