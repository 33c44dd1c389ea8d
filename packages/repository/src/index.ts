export { Repository } from './repository.js';
export { RepositoryError, isRepositoryError } from './errors.js';
export type { RepositoryErrorCode } from './errors.js';
export type {
  Credential,
  InitOptions,
  OpenOptions,
  SnapshotIdentity,
  SnapshotStats,
  Snapshot,
  NodeType,
  TreeNode,
  FileExtent,
  Xattr,
  Progress,
  FileProblem,
  BackupSource,
  BackupOptions,
  BackupSummary,
  RestoreOptions,
  RestoreSummary,
  DeviceRestoreOptions,
  DeviceRestoreSummary,
} from './api.js';
export { Chunker, gearTable, chunkBoundaries } from './chunker.js';
export { FORMAT_VERSION } from './config.js';
export { sameIdentity } from './snapshot-store.js';
export { checkRepository, type CheckOptions, type CheckReport, type CheckProblem, type CheckProblemKind, type CheckAffected, type CheckStats, type ReadDataSelection } from './check.js';
export { pruneRepository } from './prune.js';
export type { PruneOptions, PruneReport } from './prune.js';
export { forgetSnapshots, removeSnapshots } from './forget.js';
export type { ForgetOptions, ForgetReport } from './forget.js';
export { applyRetention, validatePolicy, parseKeepWithin, retentionGroupKey } from './retention.js';
export type { RetentionPolicy, RetentionInput, RetentionDecision, RetentionGroup } from './retention.js';
export { listKeys, addKey, removeKey, changeKey, exportKey, importKey, describeToken } from './keys-admin.js';
export type { KeyInfo, ExportOptions, ImportOptions } from './keys-admin.js';
