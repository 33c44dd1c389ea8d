import type { RetentionPolicy as EngineRetentionPolicy, SnapshotIdentity } from '@ferry/repository';

/**
 * The seam between the agent (or CLI) and whatever moves volume data: Ferry's native
 * engine or the `restic` binary. The agent depends on this interface only.
 *
 * Contract for every implementation:
 * - Every call takes an AbortSignal. When it fires, the call stops promptly (seconds,
 *   not minutes), leaves the repository usable for the next call, and rejects with a
 *   `MoverError` of code `Canceled`.
 * - Progress is reported through `onProgress` with the one shared `MoverProgress` shape,
 *   at most a few times per second, and once more at the end.
 * - Failures reject with `MoverError` carrying a `MoverErrorCode`. A backup or restore
 *   that completed but could not read/write some files resolves normally with those
 *   files listed in `result.fileErrors` (the CLI turns that into exit code 3); it does
 *   not reject.
 * - Secrets (passwords, keys, S3 credentials) never appear in error messages, progress
 *   or results.
 */
export interface Mover {
  /** Which engine this is, for logs, metrics and the agent's hello. */
  readonly kind: MoverKind;
  /** Creates the repository if it does not exist; no-op if it does (and the key opens it). */
  init(options: CallOptions): Promise<InitResult>;
  backup(request: BackupRequest): Promise<BackupResult>;
  restore(request: RestoreRequest): Promise<RestoreResult>;
  snapshots(request: SnapshotsRequest): Promise<SnapshotSummary[]>;
  forget(request: ForgetRequest): Promise<ForgetResult>;
  /** Forgets exactly these snapshots (a deleted Backup's, say); a missing id is SnapshotNotFound, and nothing is removed then. */
  removeSnapshots(request: RemoveSnapshotsRequest): Promise<RemoveSnapshotsResult>;
  prune(request: PruneRequest): Promise<PruneResult>;
  check(request: CheckRequest): Promise<CheckResult>;
  /** How big the repository is and how many snapshots it holds; reads no pack data. */
  stats(options: CallOptions): Promise<RepositoryStats>;
}

export type MoverKind = 'native' | 'restic';

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface ProgressOptions extends CallOptions {
  readonly onProgress?: (progress: MoverProgress) => void;
}

/** Where a snapshot's data came from; snapshots of the same identity form a lineage (the engine's type). */
export type SourceIdentity = SnapshotIdentity;

export interface MoverProgress {
  readonly op: 'backup' | 'restore' | 'check' | 'prune' | 'forget';
  readonly filesDone: number;
  /** Undefined while the total is still being counted. */
  readonly filesTotal?: number;
  readonly bytesDone: number;
  readonly bytesTotal?: number;
  readonly currentFile?: string;
  readonly bytesPerSecond?: number;
  readonly etaSeconds?: number;
}

export type BackupSource =
  | { readonly kind: 'directory'; readonly path: string }
  /** A stream stored as one file named `fileName` at the snapshot root (e.g. a database dump). */
  | { readonly kind: 'stream'; readonly stream: AsyncIterable<Uint8Array>; readonly fileName: string }
  /** A block volume's device file (or a file standing in for one): stored whole, holes skipped, size recorded. */
  | { readonly kind: 'device'; readonly path: string };

export interface BackupRequest extends ProgressOptions {
  readonly source: BackupSource;
  readonly identity: SourceIdentity;
  readonly tags?: readonly string[];
  /** A snapshot id, `'none'` for a full backup, or undefined to pick the latest of the same identity. */
  readonly parent?: string;
  /** Glob patterns relative to the source directory. */
  readonly excludes?: readonly string[];
}

export interface FileError {
  readonly path: string;
  readonly message: string;
}

export interface BackupStats {
  readonly filesNew: number;
  readonly filesChanged: number;
  readonly filesUnmodified: number;
  readonly dirs: number;
  /** Bytes of file content read from the source. */
  readonly bytesRead: number;
  /** Bytes of file content the snapshot covers (unmodified files included). */
  readonly bytesProcessed: number;
  /** Bytes written to the repository (after dedup, compression, encryption). */
  readonly bytesAdded: number;
  /** Bytes of content found already stored. */
  readonly bytesDeduplicated: number;
  readonly durationSeconds: number;
}

export interface BackupResult {
  readonly snapshotId: string;
  readonly parentId?: string;
  readonly stats: BackupStats;
  readonly fileErrors: readonly FileError[];
}

export interface RestoreRequest extends ProgressOptions {
  readonly snapshotId: string;
  /** A directory; for `volumeMode: 'Block'` the device file to write the image onto. */
  readonly target: string;
  /** Restore only this path (relative to the snapshot root) and what is below it. */
  readonly include?: string;
  /** 'Block' restores a device snapshot onto an existing device of at least its size (default 'Filesystem'). */
  readonly volumeMode?: VolumeMode;
}

export type VolumeMode = 'Filesystem' | 'Block';

export interface RestoreStats {
  readonly filesRestored: number;
  readonly dirsRestored: number;
  readonly bytesRestored: number;
  readonly durationSeconds: number;
}

export interface RestoreResult {
  readonly stats: RestoreStats;
  /** Files or metadata that could not be restored (e.g. chown as non-root), per path. */
  readonly fileErrors: readonly FileError[];
}

export interface SnapshotsRequest extends CallOptions {
  readonly identity?: SourceIdentity;
  readonly tags?: readonly string[];
}

export interface SnapshotSummary {
  readonly id: string;
  readonly time: Date;
  readonly identity: SourceIdentity;
  readonly tags: readonly string[];
  readonly parentId?: string;
  readonly hostname?: string;
  readonly paths: readonly string[];
  /** Bytes of file content the snapshot covers; undefined when the format does not record it (restic 0.14). */
  readonly sizeBytes?: number;
}

/** Retention: a snapshot is kept when any rule keeps it (the engine's policy type; restic maps it to keep-* flags). */
export type RetentionPolicy = EngineRetentionPolicy;

export interface ForgetRequest extends CallOptions {
  readonly policy: RetentionPolicy;
  readonly identity?: SourceIdentity;
  readonly dryRun?: boolean;
}

export interface RemoveSnapshotsRequest extends CallOptions {
  readonly snapshotIds: readonly string[];
}

export interface RemoveSnapshotsResult {
  readonly removed: readonly string[];
}

export interface ForgetDecision {
  readonly snapshot: SnapshotSummary;
  readonly keep: boolean;
  readonly reasons: readonly string[];
}

export interface ForgetResult {
  readonly decisions: readonly ForgetDecision[];
  readonly removed: readonly string[];
}

export interface PruneRequest extends ProgressOptions {
  readonly dryRun?: boolean;
}

export interface PruneResult {
  readonly bytesFreed: number;
  readonly packsDeleted: number;
  readonly dryRun: boolean;
}

export interface CheckRequest extends ProgressOptions {
  /** Read and verify all data (`'all'`), a share (`0 < fraction < 1`), or none (undefined). */
  readonly readData?: 'all' | { readonly fraction: number };
}

export interface CheckProblem {
  readonly message: string;
  /** The pack or object the problem is in, when known. */
  readonly object?: string;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly problems: readonly CheckProblem[];
}

export interface RepositoryStats {
  /**
   * Native: bytes of every object at the location. restic: the stored (compressed,
   * encrypted) size of the blobs the snapshots reference (`restic stats --mode raw-data`),
   * so data waiting for a prune and metadata are not counted.
   */
  readonly sizeBytes: number;
  readonly snapshotCount: number;
}

export interface InitResult {
  readonly created: boolean;
  readonly repositoryId?: string;
}
