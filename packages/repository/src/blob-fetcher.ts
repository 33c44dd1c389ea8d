/**
 * Reads many data blobs efficiently: requests made in the same turn of the event loop
 * are grouped by pack, neighbouring blobs are fetched with one ranged read, and each
 * range is decoded by the worker pool in one message. Restoring 100k small files then
 * costs a few thousand reads and messages, not 100k of each.
 */
import type { BlobStore } from '@ferry/blobstore';
import { BLOB_DATA } from './blob-codec.js';
import type { BlobIndex } from './blob-index.js';
import { Semaphore } from './concurrency.js';
import { RepositoryError } from './errors.js';
import { packKey } from './pack.js';
import type { WorkerPool } from './worker-pool.js';
import { bufferView, ownsWholeBuffer, type DecodeResult, type WriteTarget } from './worker-protocol.js';

/** Blobs closer than this in one pack are read together (the gap is read and dropped). */
const MAX_GAP = 256 * 1024;
/**
 * One read is decoded by one worker in one message: 16 MiB spans kept a large file's blobs on
 * one worker and held them back until all were decoded (1 GiB restore 3.7 s); 4 MiB spreads
 * them over the pool (2.35 s). 2 MiB measured no faster and costs twice the S3 GETs.
 */
const MAX_SPAN = 4 * 1024 * 1024;
/**
 * The read window, in bytes held (from the request until the worker has decoded them) and in
 * reads: a count alone let 8 spans of 16 MiB (128 MiB) sit in memory during a large restore,
 * while small-file restores from S3 want many small reads in flight to hide latency.
 */
const READ_BYTES_IN_FLIGHT = 32 * 1024 * 1024;
const READS_IN_FLIGHT = 16;

/**
 * What a request wants: the raw blob; the sealed blob (the caller decodes it elsewhere, e.g.
 * in a file-writing worker); or the raw blob written into a file by the decoding worker.
 */
type Want = { readonly kind: 'raw' } | { readonly kind: 'sealed' } | { readonly kind: 'write'; readonly target: WriteTarget };

interface Request {
  readonly id: Buffer;
  readonly want: Want;
  readonly offset: number;
  readonly length: number;
  /** The raw blob, the sealed blob, or the bytes written, as `want` says. */
  readonly resolve: (value: Buffer | number) => void;
  readonly reject: (err: unknown) => void;
}

export interface BlobFetcherOptions {
  readonly store: BlobStore;
  readonly index: BlobIndex;
  readonly pool: WorkerPool;
  readonly signal?: AbortSignal;
}

export class BlobFetcher {
  private queued = new Map<string, Request[]>();
  private scheduled = false;
  private readonly reads = new Semaphore(READS_IN_FLIGHT);
  private readonly readBytes = new Semaphore(READ_BYTES_IN_FLIGHT);

  constructor(private readonly o: BlobFetcherOptions) {}

  /** The verified raw data blob; rejects with Corrupt naming blob and pack if it is damaged. */
  fetch(idHex: string): Promise<Buffer> {
    return this.enqueue(idHex, { kind: 'raw' }) as Promise<Buffer>;
  }

  /** The sealed (still encrypted) data blob, for a worker that decodes and writes it. */
  fetchSealed(idHex: string): Promise<Buffer> {
    return this.enqueue(idHex, { kind: 'sealed' }) as Promise<Buffer>;
  }

  /**
   * Has the decoding worker write the verified blob at `target` (the raw data never comes
   * back to this thread); resolves with the bytes written. A failed write rejects with an
   * Error carrying its errno `code`; a damaged blob with Corrupt, as fetch does. The fd must
   * stay open until this settles.
   */
  fetchInto(idHex: string, target: WriteTarget): Promise<number> {
    return this.enqueue(idHex, { kind: 'write', target }) as Promise<number>;
  }

  private enqueue(idHex: string, want: Want): Promise<Buffer | number> {
    const id = Buffer.from(idHex, 'hex');
    const loc = this.o.index.lookup(id);
    if (!loc?.packId) return Promise.reject(new RepositoryError('Corrupt', `data blob ${idHex} is referenced but not in the index`));
    const pack = loc.packId.toString('hex');
    return new Promise((resolve, reject) => {
      const list = this.queued.get(pack) ?? [];
      list.push({ id, want, offset: loc.offset, length: loc.length, resolve, reject });
      this.queued.set(pack, list);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batches = this.queued;
    this.queued = new Map();
    for (const [pack, requests] of batches) {
      for (const range of coalesce(requests)) void this.readRange(pack, range);
    }
  }

  private async readRange(pack: string, range: Request[]): Promise<void> {
    const start = range[0]!.offset;
    const end = Math.max(...range.map((r) => r.offset + r.length));
    try {
      await this.readBytes.with(end - start, () => this.readAndDecode(pack, range, start, end));
    } catch (err) {
      const wrapped = err instanceof RepositoryError ? err : new RepositoryError('Store', `cannot read pack ${pack}: ${(err as Error).message}`, { cause: err });
      for (const r of range) r.reject(wrapped);
    }
  }

  private async readAndDecode(pack: string, range: Request[], start: number, end: number): Promise<void> {
    const bytes = await this.reads.with(1, () => this.o.store.get(packKey(pack), { range: { offset: start, length: end - start }, signal: this.o.signal }));
    const view = (r: Request): Buffer => bytes.subarray(r.offset - start, r.offset - start + r.length);
    for (const r of range) if (r.want.kind === 'sealed') r.resolve(Buffer.from(view(r)));
    const toDecode = range.filter((r) => r.want.kind !== 'sealed');
    if (toDecode.length === 0) return;
    // The whole read moves to the worker with the blobs as views of it: no copy per blob.
    const whole = ownsWholeBuffer(bytes);
    const items = toDecode.map((r) => ({
      type: BLOB_DATA as typeof BLOB_DATA,
      id: r.id,
      sealed: whole ? view(r) : Buffer.from(view(r)),
      ...(r.want.kind === 'write' ? { write: r.want.target } : {}),
    }));
    const results = await (whole ? this.o.pool.decode(items, [bytes.buffer as ArrayBuffer]) : this.o.pool.decode(items));
    toDecode.forEach((r, i) => settle(r, pack, results[i]!));
  }
}

function settle(r: Request, pack: string, res: DecodeResult): void {
  if ('written' in res) r.resolve(res.written);
  else if ('raw' in res) r.resolve(bufferView(res.raw));
  else if (res.code !== undefined) r.reject(Object.assign(new Error(res.error), { code: res.code }));
  else r.reject(new RepositoryError('Corrupt', `data blob ${r.id.toString('hex')} in pack ${pack}: ${res.error}`));
}

/** Splits one pack's requests into ranges of nearby blobs, in offset order. */
function coalesce(requests: Request[]): Request[][] {
  const sorted = [...requests].sort((a, b) => a.offset - b.offset);
  const ranges: Request[][] = [];
  let current: Request[] = [];
  let start = 0;
  let end = 0;
  for (const r of sorted) {
    if (current.length > 0 && (r.offset - end > MAX_GAP || r.offset + r.length - start > MAX_SPAN)) {
      ranges.push(current);
      current = [];
    }
    if (current.length === 0) start = r.offset;
    current.push(r);
    end = Math.max(end, r.offset + r.length);
  }
  if (current.length > 0) ranges.push(current);
  return ranges;
}
