// AgentHub protocol (proto/ferry/v1/agent.proto): generated types and loader settings.
export { PROTO_ROOT, AGENT_PROTO_FILE, PROTO_LOADER_OPTIONS } from './proto.js';
export type {
  AgentProtoGrpcType,
  AgentHubClient,
  AgentHubDefinition,
  AgentHubHandlers,
  AgentMessage,
  AgentMessage__Output,
  CoordinatorMessage,
  CoordinatorMessage__Output,
  Hello,
  Hello__Output,
  JobStatus,
  JobStatus__Output,
  JobProgress,
  JobProgress__Output,
  JobResult,
  JobResult__Output,
  BackupOutcome,
  BackupOutcome__Output,
  BackupStatsMessage,
  BackupStatsMessage__Output,
  RestoreOutcome,
  RestoreOutcome__Output,
  RestoreStatsMessage,
  RestoreStatsMessage__Output,
  FileErrorMessage,
  FileErrorMessage__Output,
  JobError,
  JobError__Output,
  Heartbeat,
  Heartbeat__Output,
  Welcome,
  Welcome__Output,
  Assign,
  Assign__Output,
  Cancel,
  Cancel__Output,
  RestoreMayStart,
  RestoreMayStart__Output,
  ResultAck,
  ResultAck__Output,
  Job,
  Job__Output,
  Volume,
  Volume__Output,
  RepositoryMessage,
  RepositoryMessage__Output,
  S3CredentialsMessage,
  S3CredentialsMessage__Output,
  RepositoryKey,
  RepositoryKey__Output,
  BackupSpec,
  BackupSpec__Output,
  RestoreSpec,
  RestoreSpec__Output,
  JobKind__Output,
  JobPhase__Output,
  MoverKind__Output,
  VolumeKind__Output,
  ErrorCode__Output,
} from './agent-proto.js';
export { JobKind, JobPhase, MoverKindEnum, VolumeKind, ErrorCode } from './agent-proto.js';

// Custom resources (ferry.dev/v1alpha1): types inferred from the schema builders in crd/,
// which also render deploy/crds/ (test/checks/crds.mjs). Types carry the V1alpha1 prefix,
// as @kubernetes/client-node's do, so they never clash with the gRPC message types.
export { API_GROUP, API_VERSION, GROUP_VERSION, MOVERS, OPERATION_PHASES, TERMINAL_PHASES, isTerminalPhase, VOLUME_SOURCE_KINDS } from './crd/common.js';
export { DNS1123_LABEL_PATTERN, DNS1123_SUBDOMAIN_PATTERN, REASON_PATTERN, SNAPSHOT_ID_PATTERN } from './crd/common.js';
export type {
  Mover as V1alpha1Mover,
  OperationPhase as V1alpha1OperationPhase,
  TerminalPhase as V1alpha1TerminalPhase,
  VolumeSourceKind,
  SecretKeySelector as V1alpha1SecretKeySelector,
  LabelSelector as V1alpha1LabelSelector,
  Condition as V1alpha1Condition,
  Progress as V1alpha1Progress,
  ErrorInfo as V1alpha1ErrorInfo,
  VolumeCounts as V1alpha1VolumeCounts,
  PodRef as V1alpha1PodRef,
  VolumeRef as V1alpha1VolumeRef,
  AgentRef as V1alpha1AgentRef,
} from './crd/common.js';
export { CONDITION_TYPES, CONDITION_REASONS } from './crd/conditions.js';
export type { ConditionType, ConditionReason } from './crd/conditions.js';
export { CRD_CATEGORIES, renderCrd } from './crd/definition.js';
export type { ObjectMeta as V1alpha1ObjectMeta, OwnerReference as V1alpha1OwnerReference, Resource as V1alpha1Resource, ResourceList as V1alpha1ResourceList, CrdDefinition, PrinterColumn } from './crd/definition.js';
export { CRD_DEFINITIONS } from './crd/definitions.js';
export { toOpenApi } from './crd/schema.js';
export type { Schema, SchemaNode, Infer, OpenApiSchema } from './crd/schema.js';
export { validate } from './crd/validate.js';
export type { SchemaProblem } from './crd/validate.js';
export { BACKUP_LOCATION_CRD, BACKUP_LOCATION_PHASES, BackupLocationSpecSchema, BackupLocationStatusSchema } from './crd/location.js';
export type {
  BackupLocation as V1alpha1BackupLocation,
  BackupLocationSpec as V1alpha1BackupLocationSpec,
  BackupLocationStatus as V1alpha1BackupLocationStatus,
  BackupLocationPhase as V1alpha1BackupLocationPhase,
} from './crd/location.js';
export { BACKUP_REPOSITORY_CRD, BACKUP_REPOSITORY_PHASES, BackupRepositorySpecSchema, BackupRepositoryStatusSchema } from './crd/repository.js';
export type {
  BackupRepository as V1alpha1BackupRepository,
  BackupRepositorySpec as V1alpha1BackupRepositorySpec,
  BackupRepositoryStatus as V1alpha1BackupRepositoryStatus,
  BackupRepositoryPhase as V1alpha1BackupRepositoryPhase,
} from './crd/repository.js';
export { BACKUP_CRD, BACKUP_DEFAULTS, BackupSpecSchema, BackupStatusSchema } from './crd/backup.js';
export type {
  Backup as V1alpha1Backup,
  BackupSpec as V1alpha1BackupSpec,
  BackupStatus as V1alpha1BackupStatus,
  SkippedVolume as V1alpha1SkippedVolume,
  ReportedAnnotationProblem as V1alpha1AnnotationProblem,
} from './crd/backup.js';
export { POD_VOLUME_BACKUP_CRD, POD_VOLUME_BACKUP_PHASES, PodVolumeBackupSpecSchema, PodVolumeBackupStatusSchema } from './crd/pod-volume-backup.js';
export type {
  PodVolumeBackup as V1alpha1PodVolumeBackup,
  PodVolumeBackupSpec as V1alpha1PodVolumeBackupSpec,
  PodVolumeBackupStatus as V1alpha1PodVolumeBackupStatus,
  PodVolumeBackupPhase as V1alpha1PodVolumeBackupPhase,
  BackupStats as V1alpha1BackupStats,
} from './crd/pod-volume-backup.js';
export { RESTORE_CRD, RESTORE_DEFAULTS, RestoreSpecSchema, RestoreStatusSchema } from './crd/restore.js';
export type {
  Restore as V1alpha1Restore,
  RestoreSpec as V1alpha1RestoreSpec,
  RestoreStatus as V1alpha1RestoreStatus,
  RestoreSnapshot as V1alpha1RestoreSnapshot,
} from './crd/restore.js';
export { POD_VOLUME_RESTORE_CRD, POD_VOLUME_RESTORE_PHASES, PodVolumeRestoreSpecSchema, PodVolumeRestoreStatusSchema } from './crd/pod-volume-restore.js';
export type {
  PodVolumeRestore as V1alpha1PodVolumeRestore,
  PodVolumeRestoreSpec as V1alpha1PodVolumeRestoreSpec,
  PodVolumeRestoreStatus as V1alpha1PodVolumeRestoreStatus,
  PodVolumeRestorePhase as V1alpha1PodVolumeRestorePhase,
  RestoreStats as V1alpha1RestoreStats,
} from './crd/pod-volume-restore.js';
export { BACKUP_SCHEDULE_CRD, BACKUP_SCHEDULE_DEFAULTS, BACKUP_SCHEDULE_PHASES, BackupScheduleSpecSchema, BackupScheduleStatusSchema } from './crd/schedule.js';
export type {
  BackupSchedule as V1alpha1BackupSchedule,
  BackupScheduleSpec as V1alpha1BackupScheduleSpec,
  BackupScheduleStatus as V1alpha1BackupScheduleStatus,
  BackupSchedulePhase as V1alpha1BackupSchedulePhase,
  RetentionPolicy as V1alpha1RetentionPolicy,
} from './crd/schedule.js';

// Annotations: the one typed parser, and the pure choice of which pod volumes to back up.
export { ANNOTATIONS, FERRY_ANNOTATION_DOMAINS, HOOK_DEFAULTS } from './annotations/keys.js';
export type { AnnotationKey } from './annotations/keys.js';
export { parsePodAnnotations, parsePvcAnnotations, parseCommand, isVolumeName, formatAnnotationProblem, HOOK_ON_ERROR_VALUES } from './annotations/parse.js';
export type {
  AnnotationProblem,
  AnnotationCommand,
  HookAnnotation,
  HookOnError,
  BackupCommandAnnotation,
  PodBackupAnnotations,
  ParsedPodAnnotations,
  ParsePodAnnotationsOptions,
  ParsedPvcAnnotations,
} from './annotations/parse.js';
export { selectPodVolumes, volumeSourceKind, SKIP_REASONS } from './annotations/volumes.js';
export type { SkipReason, PodLike, PvcLike, VolumeLike, SelectPodVolumesOptions, SelectedVolume, SkippedPodVolume, PodVolumeSelection } from './annotations/volumes.js';
export { parseDuration, formatDuration, DURATION_PATTERN } from './annotations/duration.js';
export type { DurationParse } from './annotations/duration.js';
