/** Backpressure for the archiver and restorer: a counting semaphore and bounded parallel maps. */
export class Semaphore {
  private available: number;
  private readonly waiters: { n: number; resolve: () => void }[] = [];

  constructor(private readonly capacity: number) {
    this.available = capacity;
  }

  /** Waits until `n` units are free. A request larger than the capacity waits for all of it. */
  async acquire(n = 1): Promise<void> {
    const want = Math.min(n, this.capacity);
    if (this.waiters.length === 0 && this.available >= want) {
      this.available -= want;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push({ n: want, resolve }));
  }

  /** Takes `n` units only if they are free now (and nobody is waiting); never waits. */
  tryAcquire(n = 1): boolean {
    const want = Math.min(n, this.capacity);
    if (this.waiters.length > 0 || this.available < want) return false;
    this.available -= want;
    return true;
  }

  release(n = 1): void {
    this.available += Math.min(n, this.capacity);
    while (this.waiters.length > 0 && this.available >= this.waiters[0]!.n) {
      const w = this.waiters.shift()!;
      this.available -= w.n;
      w.resolve();
    }
  }

  async with<T>(n: number, fn: () => Promise<T>): Promise<T> {
    await this.acquire(n);
    try {
      return await fn();
    } finally {
      this.release(n);
    }
  }
}

/** Maps with at most `limit` calls running; results keep the input order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}

/**
 * Marks a promise as observed now, so a rejection that happens before the caller awaits
 * it (in a later batch) is not reported as unhandled; the caller still sees the error.
 */
export function observed<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/**
 * Collects items submitted in the same turn of the event loop (or until `max` of them)
 * and hands them to `run` as one batch: one worker message instead of one per item.
 */
export class Batcher<T, R> {
  private items: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly run: (items: T[]) => Promise<readonly R[]>,
    private readonly max: number,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.items.push({ item, resolve, reject });
      if (this.items.length >= this.max) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.items;
    if (batch.length === 0) return;
    this.items = [];
    this.run(batch.map((b) => b.item)).then(
      (results) => batch.forEach((b, i) => b.resolve(results[i]!)),
      (err: unknown) => batch.forEach((b) => b.reject(err)),
    );
  }
}
