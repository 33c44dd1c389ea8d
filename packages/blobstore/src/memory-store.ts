import { throwIfAborted } from './abort.js';
import {
  joinBlobData,
  type BlobData,
  BlobStoreError,
  type BlobListEntry,
  type BlobStat,
  type BlobStore,
  type BlobStoreCapabilities,
  type CallOptions,
  type GetOptions,
  type PutOptions,
} from './blobstore.js';
import { assertRangeWithin, assertValidKey, assertValidPrefix, assertWellFormedRange } from './keys.js';

/** A store in a Map, for tests. Copies bytes in and out so callers cannot alias stored data. */
export class MemoryStore implements BlobStore {
  readonly description: string;
  readonly capabilities: BlobStoreCapabilities = { conditionalCreate: true };
  private readonly objects = new Map<string, Buffer>();

  constructor(options: { name?: string } = {}) {
    this.description = `memory:${options.name ?? 'default'}`;
  }

  async put(key: string, data: BlobData, options: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    await tick();
    throwIfAborted(options.signal, `put ${key} to ${this.description}`, key);
    if (options.ifNotExists && this.objects.has(key)) {
      throw new BlobStoreError('AlreadyExists', `${key} already exists in ${this.description}`, { key });
    }
    // A copy either way: joinBlobData only views a single buffer.
    this.objects.set(key, Buffer.from(joinBlobData(data)));
  }

  async get(key: string, options: GetOptions = {}): Promise<Buffer> {
    assertValidKey(key);
    if (options.range) assertWellFormedRange(key, options.range);
    await tick();
    throwIfAborted(options.signal, `get ${key} from ${this.description}`, key);
    const data = this.objects.get(key);
    if (data === undefined) throw notFound(key, this.description);
    if (options.range === undefined) return Buffer.from(data);
    assertRangeWithin(key, options.range, data.length);
    const { offset, length } = options.range;
    return Buffer.from(data.subarray(offset, offset + length));
  }

  async stat(key: string, options: CallOptions = {}): Promise<BlobStat | undefined> {
    assertValidKey(key);
    await tick();
    throwIfAborted(options.signal, `stat ${key} in ${this.description}`, key);
    const data = this.objects.get(key);
    return data === undefined ? undefined : { size: data.length };
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<BlobListEntry> {
    assertValidPrefix(prefix);
    await tick();
    throwIfAborted(options.signal, `list ${prefix} in ${this.description}`);
    // A snapshot, so puts and deletes during iteration cannot yield a key twice.
    const entries = [...this.objects].filter(([key]) => key.startsWith(prefix));
    for (const [key, data] of entries) {
      throwIfAborted(options.signal, `list ${prefix} in ${this.description}`);
      yield { key, size: data.length };
    }
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    assertValidKey(key);
    await tick();
    throwIfAborted(options.signal, `delete ${key} from ${this.description}`, key);
    this.objects.delete(key);
  }
}

function notFound(key: string, description: string): BlobStoreError {
  return new BlobStoreError('NotFound', `${key} does not exist in ${description}`, { key });
}

/** Yields to the event loop so tests see the interleavings a real backend would allow. */
function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
