/**
 * A local, on-disk copy of a repository's tree packs, so that a re-backup (which reads the
 * parent snapshot's trees) and a restore (which walks the trees) of an S3 repository read
 * metadata from the local disk instead of one ranged GET per directory. restic and kopia keep
 * the same kind of cache; without it an unchanged re-backup of 10k small files on S3 spent
 * more than half its time waiting for tree reads.
 *
 * Safe by construction: a pack's name is the hash of its contents and packs are never
 * rewritten in place, so a cached copy can never be stale; the cache holds the sealed
 * (encrypted) bytes exactly as stored, and every blob read from it is authenticated by the
 * caller's decode like one read from the store. A damaged copy is dropped with `evict` and
 * read again from the store. Files are written to a temporary name and renamed, so a killed
 * process leaves no half-written pack under its final name.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export interface PackCacheOptions {
  /** The cache folder of one repository (callers put the repository id in the path). */
  readonly dir: string;
}

export class PackCache {
  private readonly fetching = new Map<string, Promise<Buffer>>();

  constructor(private readonly o: PackCacheOptions) {}

  /**
   * `length` bytes at `offset` of pack `packHex`, from the local copy; on a miss the whole
   * pack is fetched once with `fetchWhole` (concurrent readers of one pack share the fetch)
   * and kept. A failure to write the cache (full or read-only disk) is not an error of the
   * read: the bytes come from the fetched pack and the cache is left without it.
   */
  async read(packHex: string, offset: number, length: number, fetchWhole: () => Promise<Buffer>): Promise<Buffer> {
    const local = await this.readLocal(packHex, offset, length);
    if (local) return local;
    const whole = await this.fetchOnce(packHex, fetchWhole);
    return Buffer.from(whole.subarray(offset, offset + length));
  }

  private fetchOnce(packHex: string, fetchWhole: () => Promise<Buffer>): Promise<Buffer> {
    let pending = this.fetching.get(packHex);
    if (!pending) {
      pending = fetchWhole().then(async (bytes) => {
        await this.store(packHex, bytes).catch(() => undefined);
        return bytes;
      });
      this.fetching.set(packHex, pending);
      pending.then(
        () => this.fetching.delete(packHex),
        () => this.fetching.delete(packHex),
      );
    }
    return pending;
  }

  /** Drops the local copy of a pack (after its bytes failed authentication). */
  async evict(packHex: string): Promise<void> {
    await rm(this.path(packHex), { force: true });
  }

  private path(packHex: string): string {
    return join(this.o.dir, packHex.slice(0, 2), packHex);
  }

  private async readLocal(packHex: string, offset: number, length: number): Promise<Buffer | undefined> {
    let handle;
    try {
      handle = await open(this.path(packHex), 'r');
    } catch {
      return undefined;
    }
    try {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buf, 0, length, offset);
      // A short copy (a truncated file) is a miss, not a short blob.
      return bytesRead === length ? buf : undefined;
    } finally {
      await handle.close();
    }
  }

  private async store(packHex: string, bytes: Buffer): Promise<void> {
    const final = this.path(packHex);
    const dir = join(this.o.dir, packHex.slice(0, 2));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${final}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}
