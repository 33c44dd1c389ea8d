export type {
  Mover,
  MoverKind,
  CallOptions,
  ProgressOptions,
  SourceIdentity,
  MoverProgress,
  BackupSource,
  BackupRequest,
  BackupStats,
  BackupResult,
  FileError,
  RestoreRequest,
  RestoreStats,
  RestoreResult,
  SnapshotsRequest,
  SnapshotSummary,
  RetentionPolicy,
  ForgetRequest,
  RemoveSnapshotsRequest,
  RemoveSnapshotsResult,
  ForgetDecision,
  ForgetResult,
  PruneRequest,
  PruneResult,
  CheckRequest,
  CheckProblem,
  CheckResult,
  InitResult,
} from './mover.js';
export { MoverError, isMoverError } from './errors.js';
export type { MoverErrorCode } from './errors.js';
export { NativeMover, toMoverError } from './native-mover.js';
export type { NativeMoverOptions } from './native-mover.js';
