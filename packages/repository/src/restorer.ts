/**
 * Restore of a snapshot (or a path inside it) into a target directory.
 *
 * Safety: every path is the target plus names that tree decoding already checked to be
 * single components; directories are created (or an existing non-directory replaced)
 * with lstat, never followed; files are created with O_EXCL|O_NOFOLLOW after removing
 * whatever was there, so nothing is written through an existing link; symlinks and
 * hardlinks from the snapshot are created last, when no more writes happen below them.
 */
import { constants, promises as fs } from 'node:fs';
import { joinRaw } from './paths.js';
import type { FileProblem, RestoreOptions, RestoreSummary, TreeNode } from './api.js';
import { BlobFetcher } from './blob-fetcher.js';
import { Batcher, observed, Semaphore } from './concurrency.js';
import type { SmallFileJob, SmallFileResult } from './file-writer.js';
import { asCanceled, RepositoryError, throwIfAborted } from './errors.js';
import { ProgressMeter } from './progress.js';
import { prepareTarget } from './restore-target.js';
import type { RepositoryCore } from './core.js';
import { applyMetaSync, createSpecialSync, metaOf, type MetaTarget } from './restore-metadata.js';
import { ExtentPlacer } from './extents.js';

/** Files being restored at once: enough small-file batches that both workers stay busy while this thread reads packs (128 left them idle half the time; 1024 was 4% faster again for 25% more memory). */
const FILES_IN_FLIGHT = 512;
/** Files up to this size (and blob count) are restored by a worker in one go. */
const SMALL_FILE_BYTES = 1024 * 1024;
const SMALL_FILE_BLOBS = 4;
const SMALL_FILE_BATCH = 64;
/** Blobs of one file in flight: with 8 a single large file kept the workers short of work (1 GiB file: 1.3 s -> 1.2 s with 32); the byte budget bounds memory. */
const BLOBS_AHEAD = 32;
/** Bytes of blobs in flight across the whole restore (sealed and decoded). */
const BLOB_BUDGET = 48 * 1024 * 1024;
/**
 * v1 snapshots did not record holes: all-zero runs of this (filesystem block) size are
 * left unwritten so they stay holes. v2 snapshots record the extents and are restored exactly.
 */
const HOLE_BLOCK = 4096;
const ZEROS = Buffer.alloc(HOLE_BLOCK);
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

interface Deferred {
  readonly path: Buffer;
  readonly rel: string;
  readonly node: TreeNode;
  readonly linkTo?: Buffer;
}

export async function runRestore(repo: RepositoryCore, options: RestoreOptions): Promise<RestoreSummary> {
  const started = repo.clock.now();
  const snapshot = await repo.resolveSnapshot(options.snapshot);
  const run = new RestoreRun(repo, options);
  if (!options.include) {
    run.meter.filesTotal = snapshot.stats.files;
    run.meter.bytesTotal = snapshot.stats.bytes;
  }
  await run.restore(snapshot.tree, options.include ?? '').catch((err: unknown) => {
    throw asCanceled(err, options.signal, 'restore');
  });
  run.meter.finish();
  return {
    snapshot,
    files: run.files,
    dirs: run.dirs,
    bytes: run.meter.bytesDone,
    durationSeconds: (repo.clock.now() - started) / 1000,
    problems: run.problems,
  };
}

class RestoreRun {
  readonly problems: FileProblem[] = [];
  readonly meter: ProgressMeter;
  files = 0;
  dirs = 0;
  private readonly slots = new Semaphore(FILES_IN_FLIGHT);
  private readonly pending: Promise<void>[] = [];
  private readonly lateLinks: Deferred[] = [];
  private readonly dirMeta: Deferred[] = [];
  private readonly hardlinks = new Map<string, Buffer>();
  private readonly signal: AbortSignal | undefined;
  private readonly fetcher: BlobFetcher;
  private readonly budget = new Semaphore(BLOB_BUDGET);
  private readonly smallFiles: Batcher<SmallFileJob, SmallFileResult>;

  constructor(
    private readonly repo: RepositoryCore,
    private readonly options: RestoreOptions,
  ) {
    this.signal = options.signal;
    this.fetcher = new BlobFetcher({ store: repo.store, index: repo.index, pool: repo.pool, signal: options.signal });
    this.smallFiles = new Batcher((jobs) => repo.pool.writeFiles(jobs), SMALL_FILE_BATCH);
    this.meter = new ProgressMeter('restore', repo.clock, options.onProgress);
  }

  async restore(rootTrees: readonly string[], include: string): Promise<void> {
    await prepareTarget(this.options.target);
    const target = Buffer.from(this.options.target);
    const parts = include.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length === 0) await this.restoreDir(target, '', rootTrees);
    else await this.restoreIncluded(target, parts, rootTrees);
    await Promise.all(this.pending);
    await this.finishLinks();
    await this.finishDirs();
  }

  private async restoreIncluded(target: Buffer, parts: string[], rootTrees: readonly string[]): Promise<void> {
    const snapshot = await this.repo.resolveSnapshot(this.options.snapshot);
    const { node } = await this.repo.findPath({ ...snapshot, tree: rootTrees }, parts.join('/'));
    let dir = target;
    for (const part of parts.slice(0, -1)) {
      dir = joinRaw(dir, Buffer.from(part));
      await this.ensureDir(dir, part);
    }
    await this.restoreNode(joinRaw(dir, Buffer.from(parts.at(-1)!)), parts.join('/'), node!);
  }

  private async restoreDir(abs: Buffer, rel: string, trees: readonly string[]): Promise<void> {
    throwIfAborted(this.signal, 'restore');
    let nodes: TreeNode[];
    try {
      nodes = await this.repo.readTree(trees, this.signal);
    } catch (err) {
      // A damaged directory listing loses that directory, not the whole restore.
      if (!(err instanceof RepositoryError && err.code === 'Corrupt')) throw err;
      this.problems.push({ path: rel || '.', message: err.message });
      return;
    }
    for (const node of nodes) {
      const childRel = rel === '' ? node.name.toString('utf8') : `${rel}/${node.name.toString('utf8')}`;
      await this.restoreNode(joinRaw(abs, node.name), childRel, node);
    }
  }

  private async restoreNode(abs: Buffer, rel: string, node: TreeNode): Promise<void> {
    switch (node.type) {
      case 'dir':
        if (!(await this.ensureDir(abs, rel))) return;
        this.dirs++;
        this.dirMeta.push({ path: abs, rel, node });
        return this.restoreDir(abs, rel, node.subtrees ?? []);
      case 'file':
        return this.scheduleFile(abs, rel, node);
      case 'symlink':
        this.lateLinks.push({ path: abs, rel, node });
        return;
      case 'socket':
        this.problems.push({ path: rel, message: 'socket not restored: a socket only means something while its server listens, which the server recreates' });
        return;
      default:
        return this.restoreSpecial(abs, rel, node);
    }
  }

  /** FIFOs and device nodes: created in place of whatever is there, then given their metadata. */
  private async restoreSpecial(abs: Buffer, rel: string, node: TreeNode): Promise<void> {
    try {
      await removeIfPresent(abs);
      createSpecialSync(abs, node);
    } catch (err) {
      this.problems.push({ path: rel, message: (err as Error).message });
      return;
    }
    this.files++;
    this.metaProblems(rel, { path: abs, symlink: false }, node);
  }

  private metaProblems(rel: string, target: MetaTarget, node: TreeNode): void {
    for (const message of applyMetaSync(target, metaOf(node))) this.problems.push({ path: rel, message });
  }

  private async scheduleFile(abs: Buffer, rel: string, node: TreeNode): Promise<void> {
    if (node.links > 1) {
      const key = `${node.device}:${node.inode}`;
      const first = this.hardlinks.get(key);
      if (first !== undefined) {
        this.lateLinks.push({ path: abs, rel, node, linkTo: first });
        return;
      }
      this.hardlinks.set(key, abs);
    }
    await this.slots.acquire();
    this.meter.currentFile = rel;
    const p = this.writeFile(abs, rel, node)
      .then(
        () => {
          this.files++;
          this.meter.filesDone++;
          this.meter.tick();
        },
        (err: unknown) => this.fileFailed(rel, err),
      )
      .finally(() => this.slots.release());
    this.pending.push(observed(p));
  }

  private fileFailed(rel: string, err: unknown): void {
    if (err instanceof RepositoryError && err.code !== 'Corrupt') throw err;
    this.problems.push({ path: rel, message: err instanceof Error ? err.message : String(err) });
  }

  private async writeFile(abs: Buffer, rel: string, node: TreeNode): Promise<void> {
    const content = node.content ?? [];
    if (!node.extents && (node.size ?? 0) <= SMALL_FILE_BYTES && content.length <= SMALL_FILE_BLOBS) return this.writeSmallFile(abs, rel, node, content);
    const fh = await createExclusive(abs);
    try {
      if (!node.extents && !node.legacyHoles) return await this.writeInWorkers(fh, abs, rel, node);
      const write = contentWriter(fh, node, rel);
      let pos = 0;
      for await (const raw of this.blobs(node.content ?? [])) {
        await write(raw, pos);
        pos += raw.length;
        this.meter.bytesDone += raw.length;
      }
      // Holes after the last data (and a sparse file's size) come from the truncate.
      await fh.truncate(node.extents ? (node.size ?? pos) : pos);
      this.metaProblems(rel, { fd: fh.fd, path: abs }, node);
    } finally {
      await fh.close();
    }
  }

  /**
   * A file stored as it is (no extents, no v1 holes) is written by the decoding workers
   * themselves, each blob at its offset (the sum of the raw lengths before it), so its data
   * never comes back to this thread. Up to BLOBS_AHEAD blobs per file are in flight within
   * the restore-wide byte budget. Every write has settled before the fd is closed, even after
   * a failure: a worker writing to a closed fd could hit whatever file reuses its number.
   */
  private async writeInWorkers(fh: fs.FileHandle, abs: Buffer, rel: string, node: TreeNode): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    let failure: { err: unknown } | undefined;
    let pos = 0;
    for (const id of node.content ?? []) {
      if (this.signal?.aborted) failure ??= { err: new RepositoryError('Canceled', 'restore canceled') };
      if (failure) break;
      const length = this.repo.index.lookup(Buffer.from(id, 'hex'))?.rawLength ?? 0;
      const bytes = this.blobBytes(id);
      while (inFlight.size >= BLOBS_AHEAD) await Promise.race(inFlight);
      await this.budget.acquire(bytes);
      const write: Promise<void> = this.fetcher
        .fetchInto(id, { fd: fh.fd, position: pos, length })
        .then(
          (written) => {
            this.meter.bytesDone += written;
          },
          (err: unknown) => {
            failure ??= { err };
          },
        )
        .finally(() => {
          this.budget.release(bytes);
          inFlight.delete(write);
        });
      inFlight.add(write);
      pos += length;
    }
    await Promise.all(inFlight);
    if (failure) throw failure.err;
    await fh.truncate(pos);
    this.metaProblems(rel, { fd: fh.fd, path: abs }, node);
  }

  /** Small files are decoded, written and given metadata by a worker, in batches. */
  private async writeSmallFile(abs: Buffer, rel: string, node: TreeNode, content: readonly string[]): Promise<void> {
    // Within the byte budget too, so many files in flight cannot mean many megabytes each.
    const bytes = content.reduce((sum, id) => sum + this.blobBytes(id), 0);
    const result = await this.budget.with(bytes, async () => {
      const sealed = await Promise.all(content.map((id) => this.fetcher.fetchSealed(id)));
      const blobs = content.map((id, i) => ({ id: Buffer.from(id, 'hex'), sealed: sealed[i]! }));
      return this.smallFiles.submit({ path: abs, blobs, meta: metaOf(node) });
    });
    if (result.bytes < 0) throw new RepositoryError('Corrupt', result.problems.join('; '));
    this.meter.bytesDone += result.bytes;
    for (const message of result.problems) this.problems.push({ path: rel, message });
  }

  /**
   * Yields a file's blobs in order, fetching ahead: the next blob always (so every file
   * makes progress), and up to BLOBS_AHEAD while the restore-wide byte budget allows,
   * so memory stays bounded however many large files are being restored.
   */
  private async *blobs(ids: readonly string[]): AsyncIterable<Buffer> {
    const ahead: { raw: Promise<Buffer>; bytes: number }[] = [];
    let next = 0;
    const start = (bytes: number): void => {
      ahead.push({ raw: observed(this.fetcher.fetch(ids[next++]!)), bytes });
    };
    const fill = async (): Promise<void> => {
      if (ahead.length === 0 && next < ids.length) {
        const bytes = this.blobBytes(ids[next]!);
        await this.budget.acquire(bytes);
        start(bytes);
      }
      while (next < ids.length && ahead.length < BLOBS_AHEAD) {
        const bytes = this.blobBytes(ids[next]!);
        if (!this.budget.tryAcquire(bytes)) break;
        start(bytes);
      }
    };
    try {
      await fill();
      while (ahead.length > 0) {
        const head = ahead.shift()!;
        const raw = await head.raw;
        await fill();
        yield raw;
        this.budget.release(head.bytes);
      }
    } finally {
      // An abandoned file (an error, or a write that failed) returns what it still holds.
      for (const a of ahead.splice(0)) this.budget.release(a.bytes);
    }
  }

  /** Memory a blob takes while in flight (sealed + raw); a missing one fails later, in the fetch. */
  private blobBytes(id: string): number {
    return 2 * (this.repo.index.lookup(Buffer.from(id, 'hex'))?.rawLength ?? 0);
  }


  /** Creates a directory, replacing a non-directory (never following a symlink). */
  private async ensureDir(abs: Buffer, relPath: string): Promise<boolean> {
    const st = await fs.lstat(abs).catch(() => undefined);
    if (st?.isDirectory()) return true;
    try {
      if (st) await fs.unlink(abs);
      await fs.mkdir(abs, { mode: 0o700 });
      return true;
    } catch (err) {
      this.problems.push({ path: relPath, message: `cannot create directory: ${(err as Error).message}` });
      return false;
    }
  }

  private async finishLinks(): Promise<void> {
    for (const d of this.lateLinks) {
      try {
        await removeIfPresent(d.path);
        if (d.linkTo !== undefined) {
          await fs.link(d.linkTo, d.path);
          this.files++;
          continue;
        }
        await fs.symlink(d.node.target ?? Buffer.alloc(0), d.path);
        this.metaProblems(d.rel, { path: d.path, symlink: true }, d.node);
      } catch (err) {
        this.problems.push({ path: d.rel, message: (err as Error).message });
      }
    }
  }

  /** Directory metadata last and deepest first, so writing contents does not disturb it. */
  private async finishDirs(): Promise<void> {
    for (const d of this.dirMeta.reverse()) {
      this.metaProblems(d.rel, { path: d.path, symlink: false }, d.node);
    }
  }
}

async function removeIfPresent(path: Buffer): Promise<void> {
  const st = await fs.lstat(path).catch(() => undefined);
  if (st && !st.isDirectory()) await fs.unlink(path);
}

/** Opens a new file at `abs`; an existing non-directory there is removed first, never written through. */
async function createExclusive(abs: Buffer): Promise<fs.FileHandle> {
  try {
    return await fs.open(abs, CREATE, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await removeIfPresent(abs);
    return fs.open(abs, CREATE, 0o600);
  }
}

/**
 * How a file's data goes to disk: a sparse file's into its extents (holes never written);
 * a v1 file's with all-zero blocks skipped; any other file's exactly as stored.
 */
function contentWriter(fh: fs.FileHandle, node: TreeNode, rel: string): (raw: Buffer, pos: number) => Promise<void> {
  if (node.extents) {
    const placer = new ExtentPlacer(node.extents, rel);
    return async (raw) => {
      for (const p of placer.place(raw.length)) await writeAll(fh, raw.subarray(p.from, p.from + p.length), p.offset);
    };
  }
  if (node.legacyHoles) return (raw, pos) => writeSkippingZeros(fh, raw, pos);
  return (raw, pos) => writeAll(fh, raw, pos);
}

/** Writes all of `raw` at `pos`: short writes are continued, a write that makes no progress ends with an error instead of being retried forever. */
async function writeAll(fh: fs.FileHandle, raw: Buffer, pos: number): Promise<void> {
  for (let off = 0; off < raw.length; ) {
    const { bytesWritten } = await fh.write(raw, off, raw.length - off, pos + off);
    if (bytesWritten <= 0) throw new Error(`write made no progress at byte ${pos + off}`);
    off += bytesWritten;
  }
}

/** Writes `raw` at `pos`, leaving all-zero HOLE_BLOCK-sized runs unwritten so they stay holes. */
async function writeSkippingZeros(fh: fs.FileHandle, raw: Buffer, pos: number): Promise<void> {
  let runStart = -1;
  for (let at = 0; at < raw.length; at += HOLE_BLOCK) {
    const end = Math.min(at + HOLE_BLOCK, raw.length);
    const zero = end - at === HOLE_BLOCK && raw.subarray(at, end).equals(ZEROS);
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      await writeAll(fh, raw.subarray(runStart, at), pos + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await writeAll(fh, raw.subarray(runStart), pos + runStart);
}
