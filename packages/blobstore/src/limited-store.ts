import {
  blobDataLength,
  type BlobData,
  type BlobListEntry,
  type BlobStat,
  type BlobStore,
  type CallOptions,
  type GetOptions,
  type PutOptions,
} from './blobstore.js';
import { systemClock, type Clock } from './clock.js';
import { Semaphore } from './semaphore.js';
import { TokenBucket } from './token-bucket.js';

export interface StoreLimits {
  /** Calls in flight at once; `list` holds a slot only while it fetches the next entry. */
  readonly maxConcurrency?: number;
  /** Upload bandwidth (bytes/s) over all puts. */
  readonly uploadBytesPerSecond?: number;
  /** Download bandwidth (bytes/s) over all gets. */
  readonly downloadBytesPerSecond?: number;
}

export interface LimitedStoreOptions extends StoreLimits {
  readonly clock?: Clock;
}

/**
 * Caps concurrency and bandwidth of the store behind it (`--limit-upload`,
 * `--limit-download`). Uploads pay for their bytes before they are sent; downloads pay
 * after they arrive (the size is known only then), which delays the caller instead.
 */
export class LimitedStore implements BlobStore {
  readonly description: string;
  private readonly slots: Semaphore | undefined;
  private readonly upload: TokenBucket | undefined;
  private readonly download: TokenBucket | undefined;

  constructor(
    private readonly inner: BlobStore,
    options: LimitedStoreOptions,
  ) {
    const clock = options.clock ?? systemClock;
    this.description = inner.description;
    this.slots = options.maxConcurrency === undefined ? undefined : new Semaphore(options.maxConcurrency);
    this.upload = optionalBucket(options.uploadBytesPerSecond, clock);
    this.download = optionalBucket(options.downloadBytesPerSecond, clock);
  }

  get capabilities() {
    return this.inner.capabilities;
  }

  async put(key: string, data: BlobData, options: PutOptions = {}): Promise<void> {
    await this.upload?.take(blobDataLength(data), options.signal);
    return this.inSlot(options.signal, () => this.inner.put(key, data, options));
  }

  async get(key: string, options: GetOptions = {}): Promise<Buffer> {
    const data = await this.inSlot(options.signal, () => this.inner.get(key, options));
    await this.download?.take(data.length, options.signal);
    return data;
  }

  stat(key: string, options: CallOptions = {}): Promise<BlobStat | undefined> {
    return this.inSlot(options.signal, () => this.inner.stat(key, options));
  }

  delete(key: string, options: CallOptions = {}): Promise<void> {
    return this.inSlot(options.signal, () => this.inner.delete(key, options));
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<BlobListEntry> {
    const iterator = this.inner.list(prefix, options)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await this.inSlot(options.signal, () => iterator.next());
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await iterator.return?.();
    }
  }

  private async inSlot<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    if (this.slots === undefined) return call();
    const release = await this.slots.acquire(signal);
    try {
      return await call();
    } finally {
      release();
    }
  }
}

function optionalBucket(bytesPerSecond: number | undefined, clock: Clock): TokenBucket | undefined {
  return bytesPerSecond === undefined ? undefined : new TokenBucket(bytesPerSecond, clock);
}
