/**
 * What the archiver and restorer need of an open repository. Repository implements it;
 * the narrow seam keeps backup and restore from depending on the class (and its imports).
 */
import type { BlobStore } from '@ferry/blobstore';
import type { Snapshot, TreeNode } from './api.js';
import type { BlobCodec, BlobType } from './blob-codec.js';
import type { BlobIndex } from './blob-index.js';
import type { RepositoryConfig } from './config.js';
import type { Subkeys } from './crypto.js';
import type { WorkerPool } from './worker-pool.js';
import type { WriteSession } from './write-session.js';
import type { LoadedIndex } from './index-loader.js';

export interface RepositoryCore {
  readonly store: BlobStore;
  readonly config: RepositoryConfig;
  readonly keys: Subkeys;
  readonly index: BlobIndex;
  readonly codec: BlobCodec;
  readonly pool: WorkerPool;
  readonly clock: { now(): number };
  newWriteSession(signal?: AbortSignal): WriteSession;
  refreshIndex(signal?: AbortSignal): Promise<LoadedIndex>;
  listSnapshots(options?: { signal?: AbortSignal }): Promise<Snapshot[]>;
  resolveSnapshot(ref: string): Promise<Snapshot>;
  readTree(ids: readonly string[], signal?: AbortSignal): Promise<TreeNode[]>;
  readRawBlob(id: Buffer, type: BlobType, signal?: AbortSignal): Promise<Buffer>;
  findPath(snapshot: Snapshot, path: string): Promise<{ node?: TreeNode; trees: readonly string[] }>;
}
