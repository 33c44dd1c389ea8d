/**
 * Where a sparse file's stored data goes (docs/repository-format.md §7): a v2 file node
 * with `extents` stores only those byte ranges, concatenated; the rest of the file is holes.
 */
import type { FileExtent } from './api.js';
import { RepositoryError } from './errors.js';

export interface Placement {
  /** Offset in the file. */
  readonly offset: number;
  /** Offset in the piece of data being placed. */
  readonly from: number;
  readonly length: number;
}

/** Maps the stored data stream, consumed in order, onto file offsets. */
export class ExtentPlacer {
  private index = 0;
  private used = 0;

  constructor(
    private readonly extents: readonly FileExtent[],
    private readonly where: string,
  ) {}

  /** The file ranges the next `length` bytes of data belong to. */
  place(length: number): Placement[] {
    const out: Placement[] = [];
    for (let from = 0; from < length; ) {
      const extent = this.extents[this.index];
      if (!extent) throw new RepositoryError('Corrupt', `file ${this.where}: more data than its extents hold`);
      const n = Math.min(extent.length - this.used, length - from);
      out.push({ offset: extent.offset + this.used, from, length: n });
      from += n;
      this.used += n;
      if (this.used === extent.length) {
        this.index++;
        this.used = 0;
      }
    }
    return out;
  }
}

const ZERO_PIECE = 1024 * 1024;

/** Yields the whole file, holes as zeros, from its stored data (for dump and cat, which need every byte). */
export async function* withHoles(data: AsyncIterable<Buffer>, extents: readonly FileExtent[], size: number, where: string): AsyncIterable<Buffer> {
  const placer = new ExtentPlacer(extents, where);
  let at = 0;
  const zeros = function* (upTo: number): Iterable<Buffer> {
    while (at < upTo) {
      const n = Math.min(ZERO_PIECE, upTo - at);
      at += n;
      yield Buffer.alloc(n);
    }
  };
  for await (const raw of data) {
    for (const p of placer.place(raw.length)) {
      yield* zeros(p.offset);
      yield raw.subarray(p.from, p.from + p.length);
      at = p.offset + p.length;
    }
  }
  yield* zeros(size);
}
