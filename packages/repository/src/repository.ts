/**
 * A Ferry repository: opened with a credential, it reads and writes the objects of
 * docs/repository-format.md through a BlobStore. Backup and restore live in archiver.ts
 * and restorer.ts; this class owns keys, the index, trees and snapshots.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { getIfExists, isBlobStoreError, type BlobStore } from '@ferry/blobstore';
import type {
  BackupOptions,
  BackupSummary,
  InitOptions,
  OpenOptions,
  RestoreOptions,
  RestoreSummary,
  Snapshot,
  TreeNode,
  DeviceRestoreOptions,
  DeviceRestoreSummary,
} from './api.js';
import { runDeviceRestore } from './device-restore.js';
import { BlobCodec, BLOB_DATA, BLOB_TREE, type BlobType } from './blob-codec.js';
import type { BlobIndex } from './blob-index.js';
import { newConfig, parseConfig, serializeConfig, verifyConfig, type RepositoryConfig } from './config.js';
import { deriveSubkeys, MASTER_KEY_BYTES, type Subkeys } from './crypto.js';
import { isRepositoryError, RepositoryError, throwIfAborted } from './errors.js';
import { loadIndex, type LoadedIndex } from './index-loader.js';
import { condemnedPacks } from './prune-marks.js';
import { createKeySlot, parseKeySlot, unwrapKeySlot } from './keys.js';
import { PackCache } from './pack-cache.js';
import { packKey } from './pack.js';
import { decodeSnapshot, listSnapshotIds, snapshotKey } from './snapshot-store.js';
import { decodeTreeBlob, isSafeName } from './tree.js';
import { withHoles } from './extents.js';
import { WorkerPool } from './worker-pool.js';
import { bufferView } from './worker-protocol.js';
import { gearTable } from './chunker.js';
import { WriteSession } from './write-session.js';
import { mapLimited } from './concurrency.js';
import { runBackup } from './archiver.js';
import { runRestore } from './restorer.js';
import type { RepositoryCore } from './core.js';

export interface Keyring {
  readonly master: Buffer;
  readonly slotKey: string;
  readonly repositoryId: Buffer;
}

const systemClock = { now: (): number => Date.now() };
const TREE_CACHE_ENTRIES = 256;

function storeError(err: unknown, what: string): never {
  if (err instanceof RepositoryError) throw err;
  const detail = err instanceof Error ? err.message : String(err);
  throw new RepositoryError('Store', `${what}: ${detail}`, { cause: err });
}

export class Repository implements RepositoryCore {
  private poolInstance: WorkerPool | undefined;
  /** The master key and the slot that opened it, for key management (keys-admin.ts). */
  private keyring: Keyring | undefined;
  private readonly treeCache = new Map<string, TreeNode[]>();
  private packCache: PackCache | undefined;
  readonly codec: BlobCodec;

  private constructor(
    readonly store: BlobStore,
    readonly config: RepositoryConfig,
    readonly keys: Subkeys,
    private currentIndex: BlobIndex,
    readonly clock: { now(): number },
    private readonly workers: number | undefined,
  ) {
    this.codec = new BlobCodec(keys);
  }

  get id(): string {
    return this.config.id;
  }

  get index(): BlobIndex {
    return this.currentIndex;
  }

  /** Reloads the index from the store (prune needs the segments written since open). */
  async refreshIndex(signal?: AbortSignal): Promise<LoadedIndex> {
    const loaded = await loadIndex(this.store, this.keys.object, signal, await condemnedPacks(this.store, this.keys.object, signal));
    this.currentIndex = loaded.index;
    this.treeCache.clear();
    return loaded;
  }

  get description(): string {
    return this.store.description;
  }

  static async init(options: InitOptions): Promise<{ id: string }> {
    const { store } = options;
    const clock = options.clock ?? systemClock;
    if (await store.stat('config').catch((e: unknown) => storeError(e, `cannot reach ${store.description}`))) {
      throw new RepositoryError('RepositoryExists', `a repository already exists at ${store.description}`);
    }
    const repositoryId = randomBytes(16);
    const master = randomBytes(MASTER_KEY_BYTES);
    const keys = deriveSubkeys(master, repositoryId);
    const now = new Date(clock.now());
    const slot = await createKeySlot({ credential: options.credential, master, repositoryId, label: options.label, scryptN: options.scryptN, now });
    const slotKey = `keys/${randomBytes(16).toString('hex')}`;
    await store.put(slotKey, Buffer.from(JSON.stringify(slot, null, 2) + '\n'), { ifNotExists: true });
    const config = newConfig(repositoryId, now);
    try {
      await store.put('config', serializeConfig(config, keys.config), { ifNotExists: true });
    } catch (err) {
      await store.delete(slotKey).catch(() => undefined);
      if (isBlobStoreError(err, 'AlreadyExists')) throw new RepositoryError('RepositoryExists', `a repository already exists at ${store.description}`);
      storeError(err, `cannot write the config of ${store.description}`);
    }
    return { id: config.id };
  }

  static async open(options: OpenOptions): Promise<Repository> {
    const { store } = options;
    const where = store.description;
    const text = await store.get('config', { signal: options.signal }).catch((err: unknown) => {
      if (isBlobStoreError(err, 'NotFound')) {
        throw new RepositoryError('RepositoryNotFound', `no Ferry repository at ${where} (run "ferry init" to create one)`);
      }
      return storeError(err, `cannot read the config of ${where}`);
    });
    const { config, mac } = parseConfig(text, where);
    const repositoryId = Buffer.from(config.id, 'hex');
    const { master, slotKey } = await unlock(store, options, repositoryId);
    const keys = deriveSubkeys(master, repositoryId);
    verifyConfig(config, mac, keys.config, where);
    const { index } = await loadIndex(store, keys.object, options.signal, await condemnedPacks(store, keys.object, options.signal));
    const repo = new Repository(store, config, keys, index, options.clock ?? systemClock, options.workers);
    repo.keyring = { master, slotKey, repositoryId };
    // Per repository id: two repositories never share cached packs, whatever their URLs.
    if (options.cacheDir) repo.packCache = new PackCache({ dir: join(options.cacheDir, config.id, 'tree-packs') });
    return repo;
  }

  get pool(): WorkerPool {
    const { minSize, avgSize, maxSize } = this.config.chunker;
    this.poolInstance ??= new WorkerPool(
      { id: this.keys.id, blob: this.keys.blob, gear: gearTable(this.keys.gear), chunk: { minSize, avgSize, maxSize } },
      this.workers,
    );
    return this.poolInstance;
  }

  newWriteSession(signal?: AbortSignal): WriteSession {
    return new WriteSession({ store: this.store, index: this.index, objectKey: this.keys.object, packSize: this.config.packSize, signal });
  }

  backup(options: BackupOptions): Promise<BackupSummary> {
    return runBackup(this, options);
  }

  restore(options: RestoreOptions): Promise<RestoreSummary> {
    return runRestore(this, options);
  }

  /** Writes a device snapshot back onto a block device or file at least as large as the device was. */
  restoreDevice(options: DeviceRestoreOptions): Promise<DeviceRestoreSummary> {
    return runDeviceRestore(this, options);
  }

  async listSnapshots(options: { signal?: AbortSignal } = {}): Promise<Snapshot[]> {
    const ids = await listSnapshotIds(this.store, options.signal).catch((e: unknown) => storeError(e, `cannot list snapshots in ${this.description}`));
    // A snapshot forgotten between the listing and the read is simply gone.
    const loaded = await mapLimited(ids, 16, (id) =>
      this.loadSnapshot(id, options.signal).catch((err: unknown) => {
        if (isRepositoryError(err, 'SnapshotNotFound')) return undefined;
        throw err;
      }),
    );
    const snaps = loaded.filter((s): s is Snapshot => s !== undefined);
    return snaps.sort((a, b) => a.time.getTime() - b.time.getTime() || a.id.localeCompare(b.id));
  }

  async loadSnapshot(id: string, signal?: AbortSignal): Promise<Snapshot> {
    const sealed = await this.store.get(snapshotKey(id), { signal }).catch((err: unknown) => {
      if (isBlobStoreError(err, 'NotFound')) throw new RepositoryError('SnapshotNotFound', `snapshot ${id} not found in ${this.description}`);
      return storeError(err, `cannot read snapshot ${id}`);
    });
    return decodeSnapshot(this.keys.object, id, sealed);
  }

  /** A full id, a unique prefix of one, or 'latest'. */
  async resolveSnapshot(ref: string): Promise<Snapshot> {
    if (ref === 'latest') {
      const all = await this.listSnapshots();
      const last = all.filter((s) => !s.partial).at(-1);
      if (!last) throw new RepositoryError('SnapshotNotFound', `no snapshots in ${this.description}`);
      return last;
    }
    if (!/^[0-9a-f]{1,64}$/.test(ref)) throw new RepositoryError('InvalidArgument', `"${ref}" is not a snapshot id (hex) or "latest"`);
    if (ref.length === 64) return this.loadSnapshot(ref);
    const ids = (await listSnapshotIds(this.store)).filter((id) => id.startsWith(ref));
    if (ids.length === 0) throw new RepositoryError('SnapshotNotFound', `no snapshot with id ${ref} in ${this.description}`);
    if (ids.length > 1) throw new RepositoryError('AmbiguousSnapshot', `snapshot prefix ${ref} matches ${ids.length} snapshots; give more characters`);
    return this.loadSnapshot(ids[0]!);
  }

  /** Reads and verifies one stored blob (any type). */
  async readRawBlob(id: Buffer, type: BlobType, signal?: AbortSignal): Promise<Buffer> {
    const hex = id.toString('hex');
    const loc = this.index.lookup(id);
    if (!loc) throw new RepositoryError('Corrupt', `blob ${hex} is referenced but not in the index`);
    if (loc.type !== type) throw new RepositoryError('Corrupt', `blob ${hex} has the wrong type`);
    if (!loc.packId) throw new RepositoryError('Corrupt', `blob ${hex} is in a pack that is still being written`);
    const packId = loc.packId;
    const sealed = await this.readSealed(packId, loc, type, signal);
    let raw = type === BLOB_TREE ? this.codec.decode(type, id, sealed) : await this.decodeInPool(type, id, sealed);
    if (typeof raw === 'string' && type === BLOB_TREE && this.packCache) {
      // A damaged local copy must not fail a read the store can answer.
      await this.packCache.evict(packId.toString('hex'));
      raw = this.codec.decode(type, id, await this.readSealed(packId, loc, type, signal, false));
    }
    if (typeof raw === 'string') throw new RepositoryError('Corrupt', `blob ${hex} in pack ${packId.toString('hex')}: ${raw}`);
    return raw;
  }

  /** The sealed bytes of one blob: tree blobs through the local pack cache when there is one. */
  private readSealed(packId: Buffer, loc: { offset: number; length: number }, type: BlobType, signal?: AbortSignal, cached = true): Promise<Buffer> {
    const hex = packId.toString('hex');
    const fail = (e: unknown): never => storeError(e, `cannot read pack ${hex}`);
    if (type === BLOB_TREE && cached && this.packCache) {
      return this.packCache.read(hex, loc.offset, loc.length, () => this.store.get(packKey(packId), { signal }).catch(fail));
    }
    return this.store.get(packKey(packId), { range: { offset: loc.offset, length: loc.length }, signal }).catch(fail);
  }

  private async decodeInPool(type: BlobType, id: Buffer, sealed: Buffer): Promise<Buffer | string> {
    const [res] = await this.pool.decode([{ type, id, sealed }]);
    if (!res) return 'no result from worker';
    if ('error' in res) return res.error;
    return 'raw' in res ? bufferView(res.raw) : 'worker answered without the blob';
  }

  /** The nodes of a directory whose entries are spread over `ids` (§7). */
  async readTree(ids: readonly string[], signal?: AbortSignal): Promise<TreeNode[]> {
    const out: TreeNode[] = [];
    for (const hex of ids) {
      throwIfAborted(signal, 'reading trees');
      let nodes = this.treeCache.get(hex);
      if (!nodes) {
        nodes = decodeTreeBlob(await this.readRawBlob(Buffer.from(hex, 'hex'), BLOB_TREE, signal), hex);
        if (this.treeCache.size >= TREE_CACHE_ENTRIES) this.treeCache.delete(this.treeCache.keys().next().value!);
        this.treeCache.set(hex, nodes);
      }
      out.push(...nodes);
    }
    return out;
  }

  /** The node at `path` ('' or '/' is the root, returned as undefined node with the root trees). */
  async findPath(snapshot: Snapshot, path: string): Promise<{ node?: TreeNode; trees: readonly string[] }> {
    let trees: readonly string[] = snapshot.tree;
    let node: TreeNode | undefined;
    for (const part of path.split('/').filter((p) => p !== '' && p !== '.')) {
      const name = Buffer.from(part, 'utf8');
      if (!isSafeName(name)) throw new RepositoryError('InvalidArgument', `path ${path} contains "${part}"`);
      if (node && node.type !== 'dir') throw new RepositoryError('PathNotFound', `${path}: not a directory in snapshot ${snapshot.id.slice(0, 8)}`);
      node = (await this.readTree(trees)).find((n) => n.name.equals(name));
      if (!node) throw new RepositoryError('PathNotFound', `${path}: no such file or directory in snapshot ${snapshot.id.slice(0, 8)}`);
      trees = node.subtrees ?? [];
    }
    return { node, trees };
  }

  /** Depth-first walk below `path`; paths are '/'-joined and relative to the snapshot root. */
  async *walk(snapshot: Snapshot, path = ''): AsyncIterable<{ path: string; node: TreeNode }> {
    const start = await this.findPath(snapshot, path);
    const prefix = path.split('/').filter((p) => p !== '' && p !== '.').join('/');
    if (start.node) {
      yield { path: prefix, node: start.node };
      if (start.node.type !== 'dir') return;
    }
    yield* this.walkTrees(start.trees, prefix);
  }

  private async *walkTrees(trees: readonly string[], prefix: string): AsyncIterable<{ path: string; node: TreeNode }> {
    for (const node of await this.readTree(trees)) {
      const path = prefix === '' ? node.name.toString('utf8') : `${prefix}/${node.name.toString('utf8')}`;
      yield { path, node };
      if (node.type === 'dir') yield* this.walkTrees(node.subtrees ?? [], path);
    }
  }

  /** A file's bytes in order; the holes of a sparse file come as zeros. */
  readFile(node: TreeNode, options: { signal?: AbortSignal } = {}): AsyncIterable<Buffer> {
    const data = this.readStored(node, options.signal);
    return node.extents ? withHoles(data, node.extents, node.size ?? 0, node.name.toString('utf8')) : data;
  }

  private async *readStored(node: TreeNode, signal: AbortSignal | undefined): AsyncIterable<Buffer> {
    for (const hex of node.content ?? []) {
      yield await this.readRawBlob(Buffer.from(hex, 'hex'), BLOB_DATA, signal);
    }
  }

  /** Key material for key management only; never log it. */
  get secrets(): Keyring {
    if (!this.keyring) throw new RepositoryError('InvalidArgument', 'repository was not opened with a key');
    return this.keyring;
  }

  configJson(): Record<string, unknown> {
    return { ...this.config };
  }

  async close(): Promise<void> {
    await this.poolInstance?.close();
    this.poolInstance = undefined;
  }
}

async function unlock(store: BlobStore, options: OpenOptions, repositoryId: Buffer): Promise<{ master: Buffer; slotKey: string }> {
  const where = store.description;
  const slots: string[] = [];
  for await (const entry of store.list('keys/', { signal: options.signal })) slots.push(entry.key);
  if (slots.length === 0) throw new RepositoryError('Corrupt', `${where} has a config but no key slots`);
  for (const key of slots.sort()) {
    // A slot can vanish between listing and reading: the loser of two concurrent inits
    // deletes the slot it wrote.
    const text = await getIfExists(store, key, { signal: options.signal });
    if (!text) continue;
    const slot = parseKeySlot(text, key);
    const master = await unwrapKeySlot(slot, options.credential, repositoryId);
    if (master) return { master, slotKey: key };
  }
  const what = options.credential.kind === 'password' ? 'wrong password' : 'the cluster key does not match';
  throw new RepositoryError('WrongPassword', `${what} for the repository at ${where} (none of its ${slots.length} key slots opens with it)`);
}


