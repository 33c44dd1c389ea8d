/**
 * Public shapes of the repository engine (what the CLI, the native mover and the
 * benchmark program against). The behaviour behind them is in repository.ts,
 * archiver.ts and restorer.ts; the byte format in docs/repository-format.md.
 */
import type { BlobStore } from '@ferry/blobstore';

/** How a caller proves it may open a repository. */
export type Credential =
  | { readonly kind: 'password'; readonly password: string }
  /** 32 raw bytes, as held in a Kubernetes Secret. */
  | { readonly kind: 'cluster'; readonly key: Uint8Array };

export interface InitOptions {
  readonly store: BlobStore;
  readonly credential: Credential;
  /** Label of the first key slot (e.g. the host name). */
  readonly label?: string;
  /** scrypt cost for password slots; tests lower it. Default N = 32768. */
  readonly scryptN?: number;
  readonly clock?: { now(): number };
}

export interface OpenOptions {
  readonly store: BlobStore;
  readonly credential: Credential;
  /** Worker threads for hashing/compression/encryption; default: available cores. */
  readonly workers?: number;
  readonly clock?: { now(): number };
  readonly signal?: AbortSignal;
  /**
   * A local folder for immutable metadata (tree packs, sealed as stored) so trees are read
   * from disk after their first use; worth it for S3, pointless for a local repository.
   * Absent: no cache. The repository id is added to the path.
   */
  readonly cacheDir?: string;
}

export type SnapshotIdentity =
  | { readonly kind: 'host'; readonly host: string; readonly path: string }
  | {
      readonly kind: 'pod';
      readonly namespace: string;
      readonly pod: string;
      readonly volume: string;
      readonly pvcUid?: string;
      readonly podUid?: string;
    };

export interface SnapshotStats {
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  readonly bytesAdded: number;
}

export interface Snapshot {
  /** hex id (the object name under snapshots/) */
  readonly id: string;
  readonly time: Date;
  readonly identity: SnapshotIdentity;
  readonly hostname: string;
  readonly username: string;
  readonly paths: readonly string[];
  readonly tags: readonly string[];
  readonly parent?: string;
  /** Root directory tree blob ids. */
  readonly tree: readonly string[];
  readonly stats: SnapshotStats;
  readonly program: string;
  /** A checkpoint of a backup that has not finished (or was killed); never "latest". */
  readonly partial?: boolean;
  /** Set for a block device backup: the root file node holding the image, and the device size. */
  readonly device?: { readonly file: string; readonly size: number };
}

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev';

/** One entry of a directory as stored in a tree blob (docs/repository-format.md §7). */
export interface TreeNode {
  /** Raw name bytes (names need not be UTF-8). */
  readonly name: Buffer;
  readonly type: NodeType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly inode: bigint;
  readonly device: bigint;
  readonly links: number;
  readonly size?: number;
  readonly content?: readonly string[];
  readonly subtrees?: readonly string[];
  /** Raw symlink target bytes. */
  readonly target?: Buffer;
  readonly rdev?: bigint;
  /** Access time (format v2; v1 trees did not record it, restore then uses mtime). */
  readonly atimeNs?: bigint;
  /**
   * A sparse file's data extents in file order (format v2): `content` is their data,
   * concatenated; everything else up to `size` is a hole. Absent: `content` is the whole file.
   */
  readonly extents?: readonly FileExtent[];
  /** Extended attributes (POSIX ACLs among them, as system.posix_acl_*), sorted by name (format v2). */
  readonly xattrs?: readonly Xattr[];
  /**
   * Set when decoding a v1 tree, which did not record holes: the restorer then leaves
   * all-zero filesystem blocks unwritten, as v1 restores did. Never stored.
   */
  readonly legacyHoles?: boolean;
}

export interface FileExtent {
  readonly offset: number;
  readonly length: number;
}

export interface Xattr {
  readonly name: string;
  readonly value: Buffer;
}

export interface Progress {
  readonly op: 'backup' | 'restore' | 'check';
  readonly filesDone: number;
  readonly filesTotal?: number;
  readonly bytesDone: number;
  readonly bytesTotal?: number;
  readonly currentFile?: string;
  readonly bytesPerSecond?: number;
  readonly etaSeconds?: number;
}

export interface FileProblem {
  readonly path: string;
  readonly message: string;
}

export type BackupSource =
  | { readonly kind: 'paths'; readonly paths: readonly string[] }
  /** Stored as one file `fileName` at the snapshot root; never buffered whole. */
  | { readonly kind: 'stream'; readonly stream: AsyncIterable<Uint8Array>; readonly fileName: string }
  /** A block device (or a file standing in for one), stored as the sparse file `fileName` at the root; holes and zero blocks are not stored. */
  | { readonly kind: 'device'; readonly path: string; readonly fileName: string };

export interface BackupOptions {
  readonly source: BackupSource;
  readonly identity: SnapshotIdentity;
  readonly tags?: readonly string[];
  /** Snapshot id, 'none', or undefined: the latest snapshot with the same identity. */
  readonly parent?: string;
  /** Globs relative to each backed-up path (`*` within a component, `**` across). */
  readonly excludes?: readonly string[];
  /** Name of an ignore file (gitignore-like globs, one per line) honoured in every directory. */
  readonly ignoreFileName?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: Progress) => void;
  /** Store a partial snapshot this often, so a killed backup resumes (default 5 min; 0 = never). */
  readonly checkpointIntervalMs?: number;
  /** A session marker without a heartbeat for this long is a dead writer's (default 15 min). */
  readonly staleAfterMs?: number;
}

export interface BackupSummary {
  readonly snapshot: Snapshot;
  readonly filesNew: number;
  readonly filesChanged: number;
  readonly filesUnmodified: number;
  readonly dirs: number;
  readonly bytesRead: number;
  readonly bytesProcessed: number;
  readonly bytesAdded: number;
  readonly bytesDeduplicated: number;
  readonly blobsAdded: number;
  readonly durationSeconds: number;
  readonly problems: readonly FileProblem[];
}

export interface RestoreOptions {
  /** Snapshot id, unique id prefix, or 'latest'. */
  readonly snapshot: string;
  readonly target: string;
  /** Restore only this path inside the snapshot (and below). */
  readonly include?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: Progress) => void;
}

/** Restores a device snapshot onto an existing device (or file) of at least the device's size. */
export interface DeviceRestoreOptions {
  readonly snapshot: string;
  readonly target: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: Progress) => void;
}

export interface DeviceRestoreSummary {
  readonly snapshot: Snapshot;
  /** Bytes of the device image (data and holes). */
  readonly size: number;
  /** Bytes of data written (holes and zero runs not counted). */
  readonly bytesWritten: number;
  readonly durationSeconds: number;
}

export interface RestoreSummary {
  readonly snapshot: Snapshot;
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  readonly durationSeconds: number;
  readonly problems: readonly FileProblem[];
}
