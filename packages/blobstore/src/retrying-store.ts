import { throwIfAborted } from './abort.js';
import {
  joinBlobData,
  type BlobData,
  BlobStoreError,
  isBlobStoreError,
  type BlobListEntry,
  type BlobStat,
  type BlobStore,
  type CallOptions,
  type GetOptions,
  type PutOptions,
} from './blobstore.js';
import { systemClock, type Clock } from './clock.js';

export type BlobStoreOperation = 'put' | 'get' | 'stat' | 'list' | 'delete';

export interface RetryEvent {
  readonly op: BlobStoreOperation;
  readonly key: string | undefined;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: BlobStoreError;
}

export interface RetryOptions {
  /** Total attempts per call, the first included (default 6). */
  readonly maxAttempts?: number;
  /** Backoff cap before jitter for the first retry (default 200 ms); doubles per attempt. */
  readonly baseDelayMs?: number;
  /** Upper bound of any single backoff (default 20 s). */
  readonly maxDelayMs?: number;
  readonly clock?: Clock;
  /** Uniform in [0, 1); injectable so tests can pin the jitter. */
  readonly random?: () => number;
  /** Called before each backoff sleep, e.g. to count retries in metrics. */
  readonly onRetry?: (event: RetryEvent) => void;
}

/**
 * Repeats calls that fail with a `retriable` error, with exponential backoff and full
 * jitter (sleep uniformly in [0, min(maxDelay, base·2^(attempt-1))]). After the last
 * attempt the last error is thrown.
 *
 * A conditional create that fails ambiguously (the write may have landed before the
 * connection dropped) and then meets `AlreadyExists` on the retry reads the object back:
 * if it holds exactly the bytes being written, the put succeeded. So a repeated
 * `put(k, sameBytes, { ifNotExists })` can report success where the store alone would
 * say `AlreadyExists` — harmless for content-addressed keys, which is what it is for.
 *
 * `list` restarts from the beginning after a retriable failure and skips keys it has
 * already yielded (kept in a set while the listing runs).
 */
export class RetryingStore implements BlobStore {
  readonly description: string;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;

  constructor(
    private readonly inner: BlobStore,
    options: RetryOptions = {},
  ) {
    this.description = inner.description;
    this.maxAttempts = options.maxAttempts ?? 6;
    this.baseDelayMs = options.baseDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 20_000;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.onRetry = options.onRetry;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new BlobStoreError('InvalidArgument', `retry maxAttempts must be a positive integer, got ${this.maxAttempts}`);
    }
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  async put(key: string, data: BlobData, options: PutOptions = {}): Promise<void> {
    let ambiguous = false;
    await this.withRetry('put', key, options.signal, async () => {
      try {
        await this.inner.put(key, data, options);
      } catch (err) {
        if (ambiguous && options.ifNotExists && isBlobStoreError(err, 'AlreadyExists')) {
          if (await this.holds(key, data, options.signal)) return;
        }
        if (isBlobStoreError(err) && err.retriable) ambiguous = true;
        throw err;
      }
    });
  }

  get(key: string, options: GetOptions = {}): Promise<Buffer> {
    return this.withRetry('get', key, options.signal, () => this.inner.get(key, options));
  }

  stat(key: string, options: CallOptions = {}): Promise<BlobStat | undefined> {
    return this.withRetry('stat', key, options.signal, () => this.inner.stat(key, options));
  }

  delete(key: string, options: CallOptions = {}): Promise<void> {
    return this.withRetry('delete', key, options.signal, () => this.inner.delete(key, options));
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<BlobListEntry> {
    const seen = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const entry of this.inner.list(prefix, options)) {
          if (seen.has(entry.key)) continue;
          seen.add(entry.key);
          yield entry;
        }
        return;
      } catch (err) {
        await this.backoffOrThrow('list', undefined, attempt, err, options.signal);
      }
    }
  }

  /** Backoff before retry number `attempt` (from 1), before jitter. */
  backoffCeilingMs(attempt: number): number {
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
  }

  private async withRetry<T>(
    op: BlobStoreOperation,
    key: string,
    signal: AbortSignal | undefined,
    call: () => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        await this.backoffOrThrow(op, key, attempt, err, signal);
      }
    }
  }

  private async backoffOrThrow(
    op: BlobStoreOperation,
    key: string | undefined,
    attempt: number,
    err: unknown,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (!isBlobStoreError(err) || !err.retriable || attempt >= this.maxAttempts) throw err;
    throwIfAborted(signal, `${op} ${key ?? ''} on ${this.description}`.replace('  ', ' '), key);
    const delayMs = Math.floor(this.random() * this.backoffCeilingMs(attempt));
    this.onRetry?.({ op, key, attempt, delayMs, error: err });
    await this.clock.sleep(delayMs, signal);
  }

  private async holds(key: string, data: BlobData, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      const stored = await this.inner.get(key, { signal });
      return stored.equals(joinBlobData(data));
    } catch {
      return false;
    }
  }
}
