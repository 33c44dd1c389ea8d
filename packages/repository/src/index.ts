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
  Progress,
  FileProblem,
  BackupSource,
  BackupOptions,
  BackupSummary,
  RestoreOptions,
  RestoreSummary,
} from './api.js';
export { Chunker, gearTable, chunkBoundaries } from './chunker.js';
export { FORMAT_VERSION } from './config.js';
export { sameIdentity } from './snapshot-store.js';
export { checkRepository, type CheckOptions, type CheckReport, type CheckProblem, type CheckProblemKind, type CheckAffected, type CheckStats, type ReadDataSelection } from './check.js';
