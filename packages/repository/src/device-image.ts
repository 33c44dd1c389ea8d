/**
 * Block volumes (docs/repository-format.md §8, `device`): a block device, or a large file
 * standing in for one, is stored as one file node at the snapshot root. Holes (SEEK_DATA/
 * SEEK_HOLE, where the device supports it) and all-zero blocks are never stored: the node's
 * `extents` list only the data, so an empty 100 GiB disk costs one node.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dataExtents, punchHole, splitDevice } from '@ferry/native';
import type { FileExtent } from './api.js';
import { RepositoryError, throwIfAborted } from './errors.js';
import { ExtentPlacer } from './extents.js';

/** Zero runs are skipped at this granularity: a compact extent list, still all of a typical filesystem's free space. */
export const ZERO_BLOCK = 64 * 1024;
const READ_BYTES = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(ZERO_BLOCK);
const ZERO_WRITE = Buffer.alloc(1024 * 1024);

/** What a snapshot of a device records besides its root tree (§8). */
export interface DeviceImage {
  /** Name of the root tree's file node that holds the image. */
  readonly file: string;
  /** Bytes of the device at backup time. */
  readonly size: number;
}

/** A device's size: a block device's from sysfs (its stat size is 0), a file's from stat. */
export async function deviceSize(fh: FileHandle, where: string): Promise<{ size: number; block: boolean }> {
  const st = await fh.stat({ bigint: true });
  if (st.isFile()) return { size: Number(st.size), block: false };
  if (!st.isBlockDevice()) throw new RepositoryError('InvalidArgument', `${where} is neither a block device nor a regular file; give the device file of a block volume`);
  const { major, minor } = splitDevice(st.rdev);
  try {
    const sectors = readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim();
    return { size: Number(sectors) * 512, block: true };
  } catch (err) {
    throw new RepositoryError('InvalidArgument', `cannot read the size of block device ${where} (${major}:${minor}) from /sys/dev/block; mount sysfs in the agent's container`, { cause: err });
  }
}

/**
 * Reads a device's data without its holes and zero blocks. `extents` fills in as the
 * stream is consumed: the node is written after the stream ends.
 */
export class DeviceReader {
  readonly extents: FileExtent[] = [];
  bytesRead = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
    private readonly block: boolean,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async *data(): AsyncIterable<Buffer> {
    // Block devices refuse SEEK_HOLE (EINVAL): the whole device is one candidate extent.
    const candidates = this.block ? [{ offset: 0, length: this.size }] : dataExtents(this.fh.fd, this.size);
    for (const c of candidates) yield* this.nonZero(c.offset, c.offset + c.length);
  }

  private async *nonZero(from: number, to: number): AsyncIterable<Buffer> {
    for (let pos = from; pos < to; ) {
      throwIfAborted(this.signal, 'backup');
      const buf = Buffer.allocUnsafeSlow(Math.min(READ_BYTES, to - pos));
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) throw new RepositoryError('InvalidArgument', `device ended at byte ${pos}, before its size ${this.size}; was it resized during the backup?`);
      this.bytesRead += bytesRead;
      yield* this.splitZeros(buf.subarray(0, bytesRead), pos);
      pos += bytesRead;
    }
  }

  /** Yields the runs of `buf` (at device offset `at`) that are not all-zero ZERO_BLOCKs, recording them. */
  private *splitZeros(buf: Buffer, at: number): Iterable<Buffer> {
    let runStart = -1;
    for (let off = 0; off < buf.length + ZERO_BLOCK; off += ZERO_BLOCK) {
      const end = Math.min(off + ZERO_BLOCK, buf.length);
      // Past the end counts as zero, so the last run is always flushed.
      const zero = off >= buf.length || isZero(buf.subarray(off, end));
      if (!zero && runStart < 0) runStart = off;
      if (zero && runStart >= 0) {
        const runEnd = Math.min(off, buf.length);
        this.record(at + runStart, runEnd - runStart);
        yield Buffer.from(buf.subarray(runStart, runEnd));
        runStart = -1;
      }
    }
  }

  private record(offset: number, length: number): void {
    const last = this.extents.at(-1);
    if (last && last.offset + last.length === offset) this.extents[this.extents.length - 1] = { offset: last.offset, length: last.length + length };
    else this.extents.push({ offset, length });
  }
}

function isZero(b: Buffer): boolean {
  return b.length === ZERO_BLOCK ? b.equals(ZEROS) : b.equals(ZEROS.subarray(0, b.length));
}

export interface DeviceTarget {
  readonly fh: FileHandle;
  readonly block: boolean;
}

/**
 * Opens the restore target, never creating or truncating it, and refuses (before a byte
 * is written) one smaller than the image.
 */
export async function openDeviceTarget(path: string, image: DeviceImage): Promise<DeviceTarget> {
  const fh = await open(path, 'r+').catch((err: unknown) => {
    throw new RepositoryError('InvalidArgument', `cannot open restore target ${path}: ${(err as Error).message}; give an existing block device (or file) of at least ${image.size} bytes`, { cause: err });
  });
  try {
    const { size, block } = await deviceSize(fh, path);
    if (size < image.size) {
      throw new RepositoryError('TargetTooSmall', `restore target ${path} has ${size} bytes but the backed-up device had ${image.size}; restore onto a volume of at least ${image.size} bytes`);
    }
    return { fh, block };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Writes an image's data onto the target at its extents and makes every other byte of the
 * first `size` read as zero: punched where the target can (a hole in a file, discard/zero-out on a
 * device), written as zeros where it cannot. Bytes past `size` are left alone.
 */
export class DeviceWriter {
  private readonly placer: ExtentPlacer;
  private zeroedTo = 0;
  bytesWritten = 0;

  constructor(
    private readonly target: DeviceTarget,
    private readonly extents: readonly FileExtent[],
    private readonly size: number,
    where: string,
  ) {
    this.placer = new ExtentPlacer(extents, where);
  }

  async write(raw: Buffer): Promise<void> {
    for (const p of this.placer.place(raw.length)) {
      await this.zeroUpTo(p.offset);
      await this.writeAll(raw.subarray(p.from, p.from + p.length), p.offset);
      this.zeroedTo = p.offset + p.length;
    }
  }

  async finish(): Promise<void> {
    await this.zeroUpTo(this.size);
    await this.target.fh.sync();
  }

  private async zeroUpTo(end: number): Promise<void> {
    if (end <= this.zeroedTo) return;
    const start = this.zeroedTo;
    this.zeroedTo = end;
    try {
      punchHole(this.target.fh.fd, start, end - start);
    } catch {
      // No punch-hole (or discard that guarantees zeros) here: zeros are written instead.
      for (let pos = start; pos < end; pos += ZERO_WRITE.length) await this.writeAll(ZERO_WRITE.subarray(0, Math.min(ZERO_WRITE.length, end - pos)), pos);
    }
  }

  private async writeAll(buf: Buffer, pos: number): Promise<void> {
    for (let off = 0; off < buf.length; ) {
      const { bytesWritten } = await this.target.fh.write(buf, off, buf.length - off, pos + off);
      if (bytesWritten <= 0) throw new RepositoryError('InvalidArgument', `write to the restore target made no progress at byte ${pos + off}`);
      off += bytesWritten;
      this.bytesWritten += bytesWritten;
    }
  }
}
