/**
 * Turns file contents into stored data blobs: small files are batched to the worker
 * pool, large files and streams are read in blocks, cut by the keyed chunker and sent
 * chunk by chunk. Memory is bounded by the byte semaphore, not by file size.
 */
import { close as closeCb } from 'node:fs';
import { promisify } from 'node:util';
import { BLOB_DATA } from './blob-codec.js';
import { Batcher, observed, Semaphore } from './concurrency.js';
import type { WorkerPool } from './worker-pool.js';
import type { WriteSession } from './write-session.js';
import { bufferView, ownsWholeBuffer, type EncodeResult, type ReadEncodeResult, type StreamReadResult } from './worker-protocol.js';
import { throwIfAborted } from './errors.js';
import { dataExtents } from '@ferry/native';
import { openSource } from './source-open.js';
import type { FileExtent } from './api.js';

const closeP = promisify(closeCb);

const BLOCK_BYTES = 4 * 1024 * 1024;
const BATCH_FILES = 64;
const MAX_BYTES_IN_FLIGHT = 32 * 1024 * 1024;
/** Blocks of one stream queued at its worker, so reading overlaps chunking and sealing. */
const BLOCKS_AHEAD = 2;

export interface ContentStats {
  bytesRead: number;
  bytesDeduplicated: number;
}

export interface StoredContent {
  readonly ids: string[];
  /** Bytes of the file: for a sparse file its logical size, holes included. */
  readonly size: number;
  /** A sparse file's data extents; `ids` hold only their bytes. */
  readonly extents?: FileExtent[];
}

export interface ContentWriterOptions {
  readonly pool: WorkerPool;
  readonly session: WriteSession;
  readonly chunk: { readonly minSize: number; readonly avgSize: number; readonly maxSize: number };
  readonly stats: ContentStats;
  readonly signal?: AbortSignal;
  /** Called with the bytes of each chunk as it is accepted, for progress. */
  readonly onBytes: (n: number) => void;
}

export class ContentWriter {
  private readonly bytes = new Semaphore(MAX_BYTES_IN_FLIGHT);
  private readonly reads: Batcher<Buffer, ReadEncodeResult>;

  constructor(private readonly o: ContentWriterOptions) {
    this.reads = new Batcher((paths) => o.pool.readEncode(paths, o.chunk.minSize), BATCH_FILES);
  }

  get smallFileLimit(): number {
    return this.o.chunk.minSize;
  }

  /**
   * Stores a file of at most minSize bytes (one chunk by definition); a worker reads and
   * encodes it, batched with others. A file that grew past the limit since its lstat is
   * read again as a stream.
   */
  async smallFile(path: Buffer, expectedSize: number): Promise<StoredContent> {
    await this.bytes.acquire(expectedSize);
    let res: ReadEncodeResult;
    try {
      res = await this.reads.submit(path);
    } finally {
      this.bytes.release(expectedSize);
    }
    if (!res.ok && res.tooLarge) return this.largeFile(path);
    if (!res.ok) throw Object.assign(new Error(res.error.message), { code: res.error.code });
    this.o.stats.bytesRead += res.size;
    return { ids: res.encoded ? [this.accept(res.encoded)] : [], size: res.size };
  }

  async largeFile(path: Buffer): Promise<StoredContent> {
    const fd = await openSource(path);
    try {
      return await this.fileStream(fd, [{ offset: 0, length: Infinity }]);
    } finally {
      await closeP(fd);
    }
  }

  /**
   * Stores a file with holes by its data extents (SEEK_DATA/SEEK_HOLE), so holes are never
   * read. A file whose one extent is all of it is stored like any other file.
   */
  async sparseFile(path: Buffer, size: number): Promise<StoredContent> {
    const fd = await openSource(path);
    try {
      const extents = dataExtents(fd, size);
      if (extents.length === 1 && extents[0]!.offset === 0 && extents[0]!.length === size) return await this.fileStream(fd, [{ offset: 0, length: Infinity }]);
      const stored = await this.fileStream(fd, extents);
      return { ...stored, size, extents };
    } finally {
      await closeP(fd);
    }
  }

  /**
   * Chunks and stores the bytes of `fd` in `ranges` (length Infinity: to the end of the
   * file). The stream's worker reads them itself into a buffer it reuses, so file data
   * never crosses to the main thread, which only sees the sealed blobs. The first short
   * read ends the file: whatever the ranges still say, nothing after it is read.
   */
  private async fileStream(fd: number, ranges: readonly FileExtent[]): Promise<StoredContent> {
    const handle = this.o.pool.openStream();
    const inFlight: { readonly length: number; readonly done: Promise<StreamReadResult> }[] = [];
    const ids: string[] = [];
    let size = 0;
    /** Takes the oldest read's chunks; true if it came up short (end of file). */
    const take = async (): Promise<boolean> => {
      const { length, done } = inFlight.shift()!;
      const res = await done;
      if (!res.ok) throw Object.assign(new Error(res.error.message), { code: res.error.code });
      size += res.bytesRead;
      this.o.stats.bytesRead += res.bytesRead;
      for (const r of res.results) ids.push(this.accept(r));
      return res.bytesRead < length;
    };
    const issue = async (position: number, length: number, final: boolean): Promise<void> => {
      await this.o.session.ready();
      await this.bytes.acquire(length);
      inFlight.push({ length, done: observed(handle.read(fd, position, length, final).finally(() => this.bytes.release(length))) });
    };
    try {
      let ended = false;
      for (const range of ranges) {
        for (let pos = range.offset, end = range.offset + range.length; !ended && pos < end; pos += BLOCK_BYTES) {
          throwIfAborted(this.o.signal, 'backup');
          await issue(pos, Math.min(BLOCK_BYTES, end - pos), false);
          while (!ended && inFlight.length >= BLOCKS_AHEAD) ended = await take();
        }
      }
      await issue(0, 0, true);
      while (inFlight.length > 0) await take();
    } catch (err) {
      await Promise.allSettled(inFlight.map((r) => r.done));
      await handle.drop().catch(() => undefined);
      throw err;
    }
    return { ids, size };
  }

  /**
   * Chunks and stores a byte stream. Its blocks go to one worker, which keeps the
   * chunker state; a few blocks are in flight so reading overlaps the CPU work.
   */
  async stream(source: AsyncIterable<Uint8Array>, countRead = false): Promise<StoredContent> {
    const handle = this.o.pool.openStream();
    const inFlight: Promise<readonly EncodeResult[]>[] = [];
    const ids: string[] = [];
    let size = 0;
    const push = async (block: Buffer, final: boolean): Promise<void> => {
      await this.o.session.ready();
      await this.bytes.acquire(block.length);
      const len = block.length;
      size += len;
      inFlight.push(observed(handle.push(block, final).finally(() => this.bytes.release(len))));
      while (inFlight.length >= (final ? 1 : BLOCKS_AHEAD)) for (const r of await inFlight.shift()!) ids.push(this.accept(r));
    };
    try {
      for await (const block of coalesce(source, BLOCK_BYTES)) {
        if (countRead) this.o.stats.bytesRead += block.length;
        await push(block, false);
      }
      await push(Buffer.alloc(0), true);
    } catch (err) {
      await Promise.allSettled(inFlight);
      await handle.drop().catch(() => undefined);
      throw err;
    }
    return { ids, size };
  }

  private accept(res: EncodeResult): string {
    const id = bufferView(res.id);
    const sealed = bufferView(res.sealed);
    if (!this.o.session.add(BLOB_DATA, id, sealed, res.rawLength)) this.o.stats.bytesDeduplicated += res.rawLength;
    this.o.onBytes(res.rawLength);
    return id.toString('hex');
  }

}


/**
 * Regroups a stream's pieces into fresh blocks of about `size` bytes: a pipe yields
 * 64 KiB pieces, and one worker message per piece would cost more than the work.
 * Blocks that already are whole, large buffers pass through without a copy.
 */
async function* coalesce(source: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Buffer> {
  let parts: Uint8Array[] = [];
  let held = 0;
  for await (const piece of source) {
    if (held === 0 && piece.length >= size && ownsWholeBuffer(piece)) {
      yield Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
      continue;
    }
    parts.push(piece);
    held += piece.length;
    if (held >= size) {
      yield concatFresh(parts, held);
      parts = [];
      held = 0;
    }
  }
  if (held > 0) yield concatFresh(parts, held);
}

function concatFresh(parts: readonly Uint8Array[], total: number): Buffer {
  const out = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
