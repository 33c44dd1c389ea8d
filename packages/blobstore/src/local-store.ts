import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { throwIfAborted } from './abort.js';
import {
  type BlobData,
  BlobStoreError,
  type BlobListEntry,
  type BlobStat,
  type BlobStore,
  type BlobStoreCapabilities,
  type BlobStoreErrorCode,
  type CallOptions,
  type GetOptions,
  type PutOptions,
} from './blobstore.js';
import { assertRangeWithin, assertValidKey, assertValidPrefix, assertWellFormedRange } from './keys.js';

/** Names of in-flight writes; never a valid key segment, never listed. */
export const LOCAL_TEMP_PREFIX = '.ferry-tmp-';

export interface LocalStoreOptions {
  /** Root directory of the store; created on the first put if missing. */
  readonly root: string;
}

/**
 * A store in a local directory (or a mounted filesystem). Writes go to a temporary file
 * in the target directory, are fsynced, then renamed (or hard-linked, for a conditional
 * create) into place, and the directory is fsynced: a crash leaves the old object, the
 * new one, or a stray temp file that `list` ignores — never a partial object.
 */
export class LocalStore implements BlobStore {
  readonly description: string;
  readonly capabilities: BlobStoreCapabilities = { conditionalCreate: true };
  private readonly root: string;

  constructor(options: LocalStoreOptions) {
    this.root = path.resolve(options.root);
    this.description = `local:${this.root}`;
  }

  async put(key: string, data: BlobData, options: PutOptions = {}): Promise<void> {
    const file = this.pathOf(key);
    const what = `put ${key} to ${this.description}`;
    throwIfAborted(options.signal, what, key);
    const dir = path.dirname(file);
    const tmp = path.join(dir, `${LOCAL_TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    let placed = false;
    try {
      await fs.mkdir(dir, { recursive: true });
      await writeDurably(tmp, data);
      throwIfAborted(options.signal, what, key);
      if (options.ifNotExists) {
        await fs.link(tmp, file); // EEXIST when the key exists: atomic conditional create
      } else {
        await fs.rename(tmp, file);
        placed = true;
      }
      await fsyncDirectory(dir);
    } catch (err) {
      throw this.mapError(err, what, key);
    } finally {
      if (!placed) await fs.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Buffer> {
    const file = this.pathOf(key);
    if (options.range) assertWellFormedRange(key, options.range);
    const what = `get ${key} from ${this.description}`;
    throwIfAborted(options.signal, what, key);
    let handle: fs.FileHandle | undefined;
    try {
      handle = await fs.open(file, 'r');
      const { size } = await handle.stat();
      const range = options.range ?? { offset: 0, length: size };
      assertRangeWithin(key, range, size);
      // Not zero-filled: every byte is read over (or the get fails); and an ArrayBuffer of
      // its own, so a caller may transfer it to a worker.
      const buffer = Buffer.allocUnsafeSlow(range.length);
      let done = 0;
      while (done < range.length) {
        throwIfAborted(options.signal, what, key);
        const { bytesRead } = await handle.read(buffer, done, range.length - done, range.offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      if (done !== range.length) {
        // The file shrank under us: only possible if someone edits the store by hand.
        throw new BlobStoreError('Internal', `${key} in ${this.description} was truncated while reading`, { key });
      }
      return buffer;
    } catch (err) {
      throw this.mapError(err, what, key);
    } finally {
      await handle?.close();
    }
  }

  async stat(key: string, options: CallOptions = {}): Promise<BlobStat | undefined> {
    const file = this.pathOf(key);
    const what = `stat ${key} in ${this.description}`;
    throwIfAborted(options.signal, what, key);
    try {
      const st = await fs.stat(file);
      return st.isFile() ? { size: st.size } : undefined;
    } catch (err) {
      const mapped = this.mapError(err, what, key);
      if (mapped.code === 'NotFound') return undefined;
      throw mapped;
    }
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<BlobListEntry> {
    assertValidPrefix(prefix);
    const what = `list ${prefix} in ${this.description}`;
    throwIfAborted(options.signal, what);
    // Start at the deepest directory the prefix names fully; filter its entries by the rest.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash < 0 ? '' : prefix.slice(0, slash + 1);
    const namePrefix = prefix.slice(slash + 1);
    yield* this.walk(dirKey, namePrefix, what, options.signal);
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    const file = this.pathOf(key);
    const what = `delete ${key} from ${this.description}`;
    throwIfAborted(options.signal, what, key);
    try {
      await fs.unlink(file);
    } catch (err) {
      const mapped = this.mapError(err, what, key);
      if (mapped.code !== 'NotFound') throw mapped;
    }
  }

  private async *walk(
    dirKey: string,
    namePrefix: string,
    what: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<BlobListEntry> {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(path.join(this.root, dirKey), { withFileTypes: true });
    } catch (err) {
      const mapped = this.mapError(err, what);
      if (mapped.code === 'NotFound') return;
      throw mapped;
    }
    for (const entry of entries) {
      throwIfAborted(signal, what);
      if (!entry.name.startsWith(namePrefix) || entry.name.startsWith(LOCAL_TEMP_PREFIX)) continue;
      const key = `${dirKey}${entry.name}`;
      if (entry.isDirectory()) {
        yield* this.walk(`${key}/`, '', what, signal);
      } else if (entry.isFile()) {
        const size = await this.sizeOf(key, what);
        if (size !== undefined) yield { key, size };
      }
    }
  }

  private async sizeOf(key: string, what: string): Promise<number | undefined> {
    try {
      return (await fs.stat(path.join(this.root, key))).size;
    } catch (err) {
      const mapped = this.mapError(err, what, key);
      if (mapped.code === 'NotFound') return undefined; // deleted while listing
      throw mapped;
    }
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    if (key.split('/').some((segment) => segment.startsWith(LOCAL_TEMP_PREFIX))) {
      throw new BlobStoreError('InvalidKey', `invalid blob key ${JSON.stringify(key)}: ${LOCAL_TEMP_PREFIX}* is reserved`, {
        key,
      });
    }
    return path.join(this.root, ...key.split('/'));
  }

  private mapError(err: unknown, what: string, key?: string): BlobStoreError {
    if (err instanceof BlobStoreError) return err;
    return mapFsError(err, what, key);
  }
}

const FS_CODES: Readonly<Record<string, BlobStoreErrorCode>> = {
  ENOENT: 'NotFound',
  ENOTDIR: 'NotFound',
  EISDIR: 'NotFound',
  EEXIST: 'AlreadyExists',
  ENOSPC: 'NoSpace',
  EDQUOT: 'NoSpace',
  EACCES: 'PermissionDenied',
  EPERM: 'PermissionDenied',
  EROFS: 'PermissionDenied',
  ABORT_ERR: 'Aborted',
  EIO: 'Unavailable',
  ETIMEDOUT: 'Timeout',
  ESTALE: 'Unavailable',
  EAGAIN: 'Unavailable',
  EMFILE: 'Unavailable',
  ENFILE: 'Unavailable',
};

const FIX_HINTS: Partial<Record<BlobStoreErrorCode, string>> = {
  NoSpace: 'free space on that filesystem or raise the quota',
  PermissionDenied: 'check the ownership and mode of the repository directory',
};

/** Maps a Node fs error to a `BlobStoreError` whose message names the operation and the fix. */
export function mapFsError(err: unknown, what: string, key?: string): BlobStoreError {
  const errno = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  const code: BlobStoreErrorCode = FS_CODES[errno] ?? 'Internal';
  const hint = FIX_HINTS[code];
  const reason = err instanceof Error ? err.message : String(err);
  const message = `${what} failed: ${code === 'NotFound' ? 'no such object' : reason}${hint ? `; ${hint}` : ''}`;
  return new BlobStoreError(code, message, { key, cause: err });
}

async function writeDurably(file: string, data: BlobData): Promise<void> {
  const handle = await fs.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    // Parts go out with writev (libuv loops over short writes and IOV_MAX), never joined first.
    if (data instanceof Uint8Array) await handle.writeFile(data);
    else if (data.length > 0) await handle.writev(data as Uint8Array[], 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
