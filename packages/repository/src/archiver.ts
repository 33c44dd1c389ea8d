/**
 * Backup of directory trees or a stream into a snapshot. The walker goes depth first and
 * stays only a bounded number of files ahead of the content writer, so memory depends
 * on the files in flight and the directories on the current path, not on the tree size.
 */
import { lstat, open, readlink, readFile } from 'node:fs/promises';
import { DeviceReader, deviceSize, type DeviceImage } from './device-image.js';
import { toEntryStat, type EntryError, type EntryStat } from './entry-stat.js';
import { basename, resolve } from 'node:path';
import { currentHost, currentUser } from './host.js';
import type { BackupOptions, BackupSummary, FileProblem, Snapshot, TreeNode } from './api.js';
import { BLOB_TREE } from './blob-codec.js';
import { ContentWriter, type ContentStats, type StoredContent } from './content-writer.js';
import { asCanceled, RepositoryError, throwIfAborted } from './errors.js';
import { ExcludeRules } from './exclude.js';
import { ProgressMeter } from './progress.js';
import type { RepositoryCore } from './core.js';
import { saveSnapshot, sameIdentity, snapshotKey, type NewSnapshot } from './snapshot-store.js';
import { DirProgress } from './checkpoint.js';
import { encodeTreeBlob, TREE_CHUNK_NODES } from './tree.js';
import { joinRaw } from './paths.js';
import { beginBackupSession } from './backup-session.js';
import { observed, Semaphore } from './concurrency.js';
import type { WriteSession } from './write-session.js';
import { ParentTrees } from './parent-trees.js';
import { readXattrs, type XattrRead } from './xattrs.js';
import { bufferView } from './worker-protocol.js';

/** Files scheduled and not yet stored: enough small-file batches to keep every worker busy while the main thread takes results. */
const FILES_IN_FLIGHT = 1024;
const LARGE_FILES_IN_FLIGHT = 2;
/** Parent directory listings read ahead of the walker (each a store read). */
const PARENT_TREES_AHEAD = 8;
const DEFAULT_CHECKPOINT_MS = 5 * 60_000;
const PROGRAM = 'ferry 0.1.0';

type ParentMap = Map<string, TreeNode>;

/**
 * A node that may still be in the making. Wrapped in an object because an async
 * function cannot return a bare promise without awaiting it (promises flatten).
 */
interface Later {
  readonly node: Promise<TreeNode | undefined>;
}
const ready = (node: TreeNode | undefined): Later => ({ node: Promise.resolve(node) });

interface Counters {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirs: number;
  bytesProcessed: number;
}

export async function runBackup(repo: RepositoryCore, options: BackupOptions): Promise<BackupSummary> {
  const started = repo.clock.now();
  const session = repo.newWriteSession(options.signal);
  const marker = await beginBackupSession(repo, session, options);
  try {
    return await archive(repo, options, session, started);
  } catch (err) {
    // The in-memory index now lists blobs of packs that were never uploaded; reload it
    // from the store so a later backup with this Repository cannot deduplicate against them.
    await repo.refreshIndex().catch(() => undefined);
    throw asCanceled(err, options.signal, 'backup');
  } finally {
    await marker.release().catch(() => undefined);
  }
}

async function archive(repo: RepositoryCore, options: BackupOptions, session: WriteSession, started: number): Promise<BackupSummary> {
  const lineage = await lineageOf(repo, options);
  const parent = await findParent(repo, options, lineage);
  const run: BackupRun = new BackupRun(repo, options, session, (tree): NewSnapshot => describeSnapshot(options, session, run, parent, started, tree));
  const tree = await run.archiveRoot(parent).catch(async (err: unknown) => {
    // Let every file and upload still in flight finish or fail before reporting, so
    // nothing of this run writes to the repository after the caller saw the error.
    await run.quiesce();
    await session.abandon();
    throw err;
  });
  await session.finish();
  // A cancel that arrives after the last file still means "no new snapshot".
  throwIfAborted(options.signal, 'backup');
  run.meter.finish();
  const snapshot = await saveSnapshot(repo.store, repo.keys.object, describeSnapshot(options, session, run, parent, started, tree), options.signal);
  // Checkpoints of this run and of earlier killed runs of this lineage are superseded now.
  // The backup has succeeded: a checkpoint left behind is harmless, the next run deletes it.
  for (const id of [...lineage.filter((s) => s.partial).map((s) => s.id), ...run.checkpoints]) {
    await repo.store.delete(snapshotKey(id)).catch(() => undefined);
  }
  const c = run.counters;
  return {
    snapshot,
    ...c,
    bytesRead: run.content.bytesRead,
    bytesAdded: session.bytesAdded,
    bytesDeduplicated: run.content.bytesDeduplicated,
    blobsAdded: session.blobsAdded,
    durationSeconds: (repo.clock.now() - started) / 1000,
    problems: run.problems,
  };
}


function describeSnapshot(
  options: BackupOptions,
  session: WriteSession,
  run: BackupRun,
  parent: Snapshot | undefined,
  started: number,
  tree: string[],
): NewSnapshot {
  const c = run.counters;
  return {
    time: new Date(started),
    identity: options.identity,
    hostname: currentHost(),
    username: currentUser(),
    paths: sourcePaths(options.source),
    tags: [...(options.tags ?? [])],
    ...(parent ? { parent: parent.id } : {}),
    tree,
    stats: { files: c.filesNew + c.filesChanged + c.filesUnmodified, dirs: c.dirs, bytes: c.bytesProcessed, bytesAdded: session.bytesAdded },
    program: PROGRAM,
    ...(run.device ? { device: run.device } : {}),
  };
}

function sourcePaths(src: BackupOptions['source']): string[] {
  if (src.kind === 'paths') return src.paths.map((p) => resolve(p));
  return src.kind === 'device' ? [resolve(src.path)] : [src.fileName];
}

async function lineageOf(repo: RepositoryCore, options: BackupOptions): Promise<Snapshot[]> {
  return (await repo.listSnapshots({ signal: options.signal })).filter((s) => sameIdentity(s.identity, options.identity));
}

/** The newest snapshot of the lineage, a checkpoint of a killed run included (that is how a run resumes). */
async function findParent(repo: RepositoryCore, options: BackupOptions, lineage: readonly Snapshot[]): Promise<Snapshot | undefined> {
  if (options.parent === 'none') return undefined;
  if (options.parent !== undefined) return repo.resolveSnapshot(options.parent);
  return lineage.at(-1);
}

class BackupRun {
  readonly counters: Counters = { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirs: 0, bytesProcessed: 0 };
  readonly content: ContentStats = { bytesRead: 0, bytesDeduplicated: 0 };
  readonly problems: FileProblem[] = [];
  readonly meter: ProgressMeter;
  /** Set once a device source is stored (§8 `device`). */
  device: DeviceImage | undefined;
  private readonly files = new Semaphore(FILES_IN_FLIGHT);
  private readonly parentTrees: ParentTrees;
  /** Files the walk has reached, stored or not yet (the files total once the walk ends). */
  private filesSeen = 0;
  private readonly largeFiles = new Semaphore(LARGE_FILES_IN_FLIGHT);
  private readonly writer: ContentWriter;
  private readonly signal: AbortSignal | undefined;
  /** Ids of the partial snapshots this run wrote (the newest supersedes the others). */
  readonly checkpoints: string[] = [];
  private readonly root = new DirProgress(undefined);
  private readonly inFlight = new Set<Promise<unknown>>();
  private lastCheckpoint: number;
  private readonly checkpointEvery: number;

  constructor(
    private readonly repo: RepositoryCore,
    private readonly options: BackupOptions,
    private readonly session: WriteSession,
    private readonly describe: (tree: string[]) => NewSnapshot,
  ) {
    this.signal = options.signal;
    this.lastCheckpoint = repo.clock.now();
    this.checkpointEvery = options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_MS;
    this.meter = new ProgressMeter('backup', repo.clock, options.onProgress);
    this.parentTrees = new ParentTrees((ids, signal) => repo.readTree(ids, signal), options.signal, PARENT_TREES_AHEAD);
    const { minSize, avgSize, maxSize } = repo.config.chunker;
    this.writer = new ContentWriter({
      pool: repo.pool,
      session,
      chunk: { minSize, avgSize, maxSize },
      stats: this.content,
      signal: options.signal,
      onBytes: (n) => {
        this.meter.bytesDone += n;
        this.meter.tick();
      },
    });
  }

  async archiveRoot(parent: Snapshot | undefined): Promise<string[]> {
    const src = this.options.source;
    const parentRoot = parent ? await this.parentMap(parent.tree) : undefined;
    if (src.kind === 'stream') return this.storeDir([await this.streamNode(src.stream, src.fileName)]);
    if (src.kind === 'device') return this.storeDir([await this.deviceNode(src.path, src.fileName)]);
    const rules = ExcludeRules.from(this.options.excludes ?? []);
    if (src.paths.length === 0) throw new RepositoryError('InvalidArgument', 'nothing to back up: no paths given');
    if (src.paths.length === 1) {
      const st = await this.lstatRoot(src.paths[0]!);
      if (st.type === 'dir') {
        const stored = await this.walkDir(Buffer.from(resolve(src.paths[0]!)), '', parent?.tree, rules, this.root);
        this.walked();
        return stored();
      }
    }
    const names = new Set<string>();
    const nodes: Promise<TreeNode | undefined>[] = [];
    for (const path of src.paths) {
      const name = basename(resolve(path));
      if (names.has(name)) throw new RepositoryError('InvalidArgument', `two paths share the name "${name}"; back them up separately`);
      names.add(name);
      const st = await this.lstatRoot(path);
      const later = await this.entry(Buffer.from(resolve(path)), name, Buffer.from(name), st, parentRoot?.get(Buffer.from(name).toString('latin1')), rules, this.root);
      nodes.push(this.track(later.node, this.root));
    }
    this.walked();
    return this.storeDir(await settleNodes(nodes));
  }

  /**
   * The walk has seen every entry: its counts are the totals, and progress gets an ETA.
   * Counting during the real walk replaces a second full walk (an lstat of every entry on
   * the main thread) that competed with the backup; the walker runs ahead of the data,
   * so the totals arrive early for large files and near the end for many small ones.
   */
  private walked(): void {
    this.meter.filesTotal = this.filesSeen;
    this.meter.bytesTotal = this.counters.bytesProcessed;
  }

  private async lstatRoot(path: string): Promise<EntryStat> {
    try {
      return toEntryStat(await lstat(path, { bigint: true }));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new RepositoryError('InvalidArgument', `cannot back up ${path}: it does not exist; check the path (relative paths start at the current directory)`, { cause: err });
      if (code === 'EACCES' || code === 'EPERM') throw new RepositoryError('InvalidArgument', `cannot back up ${path}: permission denied (${code}); run as a user that can read it`, { cause: err });
      throw new RepositoryError('InvalidArgument', `cannot back up ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Lists and schedules everything below `abs`; resolves once walked (not stored) with a
   * function that waits for the directory's tree blobs, so the walk can go on meanwhile.
   */
  private async walkDir(abs: Buffer, rel: string, parentTrees: readonly string[] | undefined, rules: ExcludeRules, progress: DirProgress): Promise<() => Promise<string[]>> {
    throwIfAborted(this.signal, 'backup');
    // Listing and lstat run in a worker: for trees of small files the main thread's
    // syscall orchestration is the bottleneck, and the workers have time to spare.
    const listing = await this.repo.pool.listDir(abs);
    if (!listing.ok) {
      this.problem(rel || '.', listing.error);
      return () => this.storeDir([]);
    }
    const names = listing.names.map(bufferView);
    const stats = listing.stats;
    const localRules = await this.ignoreFileRules(abs, rel, names, rules);
    const parent = parentTrees ? await this.parentMap(parentTrees) : undefined;
    const nodes: Promise<TreeNode | undefined>[] = [];
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (parent) this.prefetchParentDirs(parent, names, i);
      const st = stats[i]!;
      const childRel = rel === '' ? name.toString('utf8') : `${rel}/${name.toString('utf8')}`;
      if (!localRules.empty && localRules.matches(childRel)) continue;
      if (isEntryError(st)) {
        this.problem(childRel, st);
        continue;
      }
      await this.maybeCheckpoint();
      const later = await this.entry(joinRaw(abs, name), childRel, name, st, parent?.get(name.toString('latin1')), localRules, progress, listing.xattrs[i]);
      nodes.push(this.track(later.node, progress));
    }
    const done = observed(settleNodes(nodes).then((n) => this.storeOrReuse(n, parent, parentTrees)));
    return () => done;
  }

  /**
   * Schedules one directory entry; the returned promise yields its node (or undefined if it
   * is skipped). `xattrs` as the directory listing read them (null: none); undefined reads them here.
   */
  private async entry(abs: Buffer, rel: string, name: Buffer, st: EntryStat, parent: TreeNode | undefined, rules: ExcludeRules, progress: DirProgress, xattrs?: XattrRead | null): Promise<Later> {
    const base = this.withXattrs(rel, metadata(name, st), xattrs === undefined ? readXattrs(abs) : xattrs);
    if (st.type === 'dir') {
      this.counters.dirs++;
      const wait = await this.walkDir(abs, rel, parent?.type === 'dir' ? parent.subtrees : undefined, rules, progress.child(base));
      return { node: wait().then((subtrees) => ({ ...base, subtrees })) };
    }
    if (st.type === 'file') return this.file(abs, rel, base, parent, mayHaveHoles(st));
    if (st.type === 'symlink') {
      const target = await readlink(abs, { encoding: 'buffer' }).catch((e: unknown) => e as Error);
      if (target instanceof Error) return this.skip(rel, target);
      return ready({ ...base, target });
    }
    return ready(st.type === 'chardev' || st.type === 'blockdev' ? { ...base, rdev: st.rdev } : base);
  }

  /** Adds the entry's extended attributes (ACLs among them); what cannot be kept is a problem. */
  private withXattrs(rel: string, base: TreeNode, read: XattrRead | null): TreeNode {
    if (read === null) return base;
    const xattrs = read.xattrs.map((x) => ({ name: x.name, value: bufferView(x.value) }));
    const { problems } = read;
    for (const message of problems) this.problems.push({ path: rel, message });
    return xattrs.length > 0 ? { ...base, xattrs } : base;
  }

  private async file(abs: Buffer, rel: string, base: TreeNode, parent: TreeNode | undefined, sparse: boolean): Promise<Later> {
    const size = Number(base.size);
    this.filesSeen++;
    this.counters.bytesProcessed += size;
    if (parent && this.unchanged(base, parent)) {
      this.counters.filesUnmodified++;
      this.meter.filesDone++;
      this.meter.bytesDone += size;
      return ready({ ...base, content: parent.content ?? [], ...(parent.extents ? { extents: parent.extents } : {}) });
    }
    // A file with holes is read by its data extents (the large-file path), whatever its size.
    const large = sparse || size > this.writer.smallFileLimit;
    await this.files.acquire();
    if (large) await this.largeFiles.acquire();
    this.meter.currentFile = rel;
    const stored = (sparse ? this.writer.sparseFile(abs, size) : large ? this.writer.largeFile(abs) : this.writer.smallFile(abs, size)).finally(() => {
      this.files.release();
      if (large) this.largeFiles.release();
    });
    return {
      node: stored.then(
        (content) => this.fileDone(base, content, size, rel, parent),
        (err: unknown) => this.fileFailed(rel, err),
      ),
    };
  }

  private fileDone(base: TreeNode, content: StoredContent, size: number, rel: string, parent: TreeNode | undefined): TreeNode {
    if (content.size !== size) this.problems.push({ path: rel, message: `file changed while being read (${size} bytes before, ${content.size} read); stored what was read` });
    if (parent?.type === 'file') this.counters.filesChanged++;
    else this.counters.filesNew++;
    this.meter.filesDone++;
    this.meter.tick();
    return { ...base, size: content.size, content: content.ids, ...(content.extents ? { extents: content.extents } : {}) };
  }

  private fileFailed(rel: string, err: unknown): undefined {
    if (!isFileError(err)) throw err;
    this.problem(rel, err);
    return undefined;
  }

  private unchanged(node: TreeNode, parent: TreeNode): boolean {
    if (parent.type !== 'file' || parent.size !== node.size) return false;
    if (parent.mtimeNs !== node.mtimeNs || parent.ctimeNs !== node.ctimeNs || parent.inode !== node.inode) return false;
    // A parent blob pruned away would make the new snapshot incomplete: re-read then.
    return (parent.content ?? []).every((id) => this.session.has(Buffer.from(id, 'hex')));
  }

  private async streamNode(stream: AsyncIterable<Uint8Array>, fileName: string): Promise<TreeNode> {
    const name = rootFileName(fileName);
    const content = await this.writer.stream(stream, true);
    const nowNs = BigInt(this.repo.clock.now()) * 1_000_000n;
    this.counters.filesNew++;
    this.counters.bytesProcessed += content.size;
    const ids = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    return { name, type: 'file', mode: 0o600, ...ids, mtimeNs: nowNs, ctimeNs: nowNs, inode: 0n, device: 0n, links: 1, size: content.size, content: content.ids };
  }

  /** A block device as one sparse file node: only its data extents are read into the chunker. */
  private async deviceNode(path: string, fileName: string): Promise<TreeNode> {
    const name = rootFileName(fileName);
    const fh = await open(path, 'r').catch((err: unknown) => {
      throw new RepositoryError('InvalidArgument', `cannot back up device ${path}: ${(err as Error).message}; check the block volume's device file`, { cause: err });
    });
    try {
      const { size, block } = await deviceSize(fh, path);
      const reader = new DeviceReader(fh, size, block, this.signal);
      this.meter.bytesTotal = size;
      this.meter.currentFile = fileName;
      const content = await this.writer.stream(reader.data());
      this.content.bytesRead += reader.bytesRead;
      this.counters.filesNew++;
      this.counters.bytesProcessed += size;
      this.device = { file: fileName, size };
      const nowNs = BigInt(this.repo.clock.now()) * 1_000_000n;
      return { name, type: 'file', mode: 0o600, uid: 0, gid: 0, mtimeNs: nowNs, ctimeNs: nowNs, atimeNs: nowNs, inode: 0n, device: 0n, links: 1, size, content: content.ids, extents: reader.extents };
    } finally {
      await fh.close();
    }
  }

  /** Records a finished node in its directory's progress (for checkpoints); marks the promise observed. */
  private track(node: Promise<TreeNode | undefined>, progress: DirProgress): Promise<TreeNode | undefined> {
    const tracked = observed(
      node.then((n) => {
        if (n) progress.finished(n);
        return n;
      }),
    );
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked)).catch(() => undefined);
    return tracked;
  }

  /** Resolves when every scheduled entry has finished or failed. */
  async quiesce(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async maybeCheckpoint(): Promise<void> {
    if (this.checkpointEvery <= 0 || this.repo.clock.now() - this.lastCheckpoint < this.checkpointEvery) return;
    this.lastCheckpoint = this.repo.clock.now();
    const storeOpen = async (dir: DirProgress): Promise<string[]> => this.storeDir(await dir.partialNodes(storeOpen));
    const tree = await storeOpen(this.root);
    await this.session.checkpoint();
    throwIfAborted(this.signal, 'backup');
    const snap = await saveSnapshot(this.repo.store, this.repo.keys.object, { ...this.describe(tree), partial: true }, this.signal);
    const superseded = this.checkpoints.splice(0, this.checkpoints.length, snap.id);
    // Not abortable: a cancel right after the save must not leave two checkpoints.
    for (const id of superseded) await this.repo.store.delete(snapshotKey(id));
  }

  /**
   * A directory whose nodes equal its parent snapshot's, field for field, keeps the
   * parent's tree blobs: an unchanged re-backup then encodes and hashes no tree (0.4 s of
   * the main thread for 100k files). The ids decode to exactly these nodes, so the
   * snapshot is the same as if they had been written again.
   */
  private async storeOrReuse(nodes: TreeNode[], parent: ParentMap | undefined, parentIds: readonly string[] | undefined): Promise<string[]> {
    const reusable =
      parent !== undefined &&
      parentIds !== undefined &&
      sameNodes(nodes, parent.values()) &&
      // A parent tree pruned away (or in a condemned pack) must be written again.
      parentIds.every((id) => this.session.has(Buffer.from(id, 'hex')));
    return reusable ? [...parentIds] : this.storeDir(nodes);
  }

  /**
   * Stores a directory's nodes as tree blobs of at most TREE_CHUNK_NODES each. A new tree
   * is compressed and sealed in a worker: on trees of small files the main thread is the
   * limit, and sealing 100k nodes' worth of JSON cost it 0.3 s.
   */
  private async storeDir(nodes: TreeNode[]): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i === 0 || i < nodes.length; i += TREE_CHUNK_NODES) {
      const raw = encodeTreeBlob(nodes.slice(i, i + TREE_CHUNK_NODES));
      const id = this.repo.codec.id(raw);
      if (!this.session.has(id)) {
        const [blob] = await this.repo.pool.encode(BLOB_TREE, [raw]);
        // add() checks again: an identical directory may have been stored meanwhile.
        this.session.add(BLOB_TREE, id, bufferView(blob!.sealed), blob!.rawLength);
      }
      ids.push(id.toString('hex'));
    }
    await this.session.ready();
    return ids;
  }

  private async parentMap(trees: readonly string[]): Promise<ParentMap> {
    const map: ParentMap = new Map();
    for (const node of await this.parentTrees.get(trees)) map.set(node.name.toString('latin1'), node);
    return map;
  }

  /** Prefetches the parent listings of the next few subdirectories after names[i]. */
  private prefetchParentDirs(parent: ParentMap, names: readonly Buffer[], i: number): void {
    for (let j = i; j < Math.min(names.length, i + PARENT_TREES_AHEAD); j++) {
      const node = parent.get(names[j]!.toString('latin1'));
      if (node?.type === 'dir' && node.subtrees) this.parentTrees.prefetch(node.subtrees);
    }
  }

  private async ignoreFileRules(abs: Buffer, rel: string, names: Buffer[], rules: ExcludeRules): Promise<ExcludeRules> {
    const fileName = this.options.ignoreFileName;
    if (!fileName || !names.some((n) => n.toString('utf8') === fileName)) return rules;
    try {
      return rules.withIgnoreFile(rel, await readFile(joinRaw(abs, Buffer.from(fileName)), 'utf8'));
    } catch (err) {
      this.problem(rel === '' ? fileName : `${rel}/${fileName}`, err);
      return rules;
    }
  }

  private skip(rel: string, err: unknown): Later {
    this.problem(rel, err);
    return ready(undefined);
  }

  private problem(rel: string, err: unknown): void {
    const message = err instanceof Error || isEntryError(err) ? err.message : String(err);
    this.problems.push({ path: rel, message });
  }
}



function rootFileName(fileName: string): Buffer {
  const name = Buffer.from(fileName, 'utf8');
  if (name.length === 0 || name.includes(0x2f)) throw new RepositoryError('InvalidArgument', `stream file name "${fileName}" must be a single path component`);
  return name;
}

function metadata(name: Buffer, st: EntryStat): TreeNode {
  return {
    name,
    type: st.type,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    mtimeNs: st.mtimeNs,
    atimeNs: st.atimeNs,
    ctimeNs: st.ctimeNs,
    inode: st.ino,
    device: st.dev,
    links: st.nlink,
    ...(st.type === 'file' ? { size: st.size } : {}),
  };
}

/** Fewer 512-byte blocks than the size needs: the file has holes (compressed or inline-data files may look so too; their extents are then the whole file). */
function mayHaveHoles(st: EntryStat): boolean {
  return st.type === 'file' && st.size > 0 && st.blocks * 512 < st.size;
}

function isEntryError(v: unknown): v is EntryError {
  return typeof v === 'object' && v !== null && 'code' in v && 'message' in v && !('type' in v);
}

const FILE_ERROR_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'EIO', 'ELOOP', 'ENOTDIR', 'EISDIR', 'ENXIO', 'ESTALE', 'EINVAL', 'ENAMETOOLONG']);
function isFileError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && FILE_ERROR_CODES.has(String((err as { code?: unknown }).code));
}

/** Whether `nodes` are `parent`'s nodes in the same order with every field equal. */
function sameNodes(nodes: readonly TreeNode[], parent: Iterable<TreeNode>): boolean {
  let i = 0;
  for (const p of parent) {
    const n = nodes[i++];
    if (n === undefined || !sameValue(n, p)) return false;
  }
  return i === nodes.length;
}

/**
 * Deep equality over what a tree node holds: scalars, bigints, Buffers, arrays and plain
 * objects. Generic on purpose, so a field added to TreeNode cannot be forgotten here; a
 * key whose value is undefined counts as absent.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const defined = (r: Record<string, unknown>) => Object.keys(r).filter((k) => r[k] !== undefined);
  const keys = defined(ra);
  return keys.length === defined(rb).length && keys.every((k) => sameValue(ra[k], rb[k]));
}

async function settleNodes(nodes: Promise<TreeNode | undefined>[]): Promise<TreeNode[]> {
  const out = await Promise.all(nodes);
  return out.filter((n): n is TreeNode => n !== undefined);
}

