// The AgentHub protocol's generated types, re-exported under their own names.
// Input types (`X`) are what a sender may pass; output types (`X__Output`) are what a
// receiver gets from @grpc/proto-loader with PROTO_LOADER_OPTIONS.
export type { ProtoGrpcType as AgentProtoGrpcType } from './generated/agent.js';
export type { AgentHubClient, AgentHubDefinition, AgentHubHandlers } from './generated/ferry/v1/AgentHub.js';
export type { AgentMessage, AgentMessage__Output } from './generated/ferry/v1/AgentMessage.js';
export type { CoordinatorMessage, CoordinatorMessage__Output } from './generated/ferry/v1/CoordinatorMessage.js';
export type { Hello, Hello__Output } from './generated/ferry/v1/Hello.js';
export type { JobStatus, JobStatus__Output } from './generated/ferry/v1/JobStatus.js';
export type { JobProgress, JobProgress__Output } from './generated/ferry/v1/JobProgress.js';
export type { JobResult, JobResult__Output } from './generated/ferry/v1/JobResult.js';
export type { BackupOutcome, BackupOutcome__Output } from './generated/ferry/v1/BackupOutcome.js';
export type { BackupStats as BackupStatsMessage, BackupStats__Output as BackupStatsMessage__Output } from './generated/ferry/v1/BackupStats.js';
export type { RestoreOutcome, RestoreOutcome__Output } from './generated/ferry/v1/RestoreOutcome.js';
export type { RestoreStats as RestoreStatsMessage, RestoreStats__Output as RestoreStatsMessage__Output } from './generated/ferry/v1/RestoreStats.js';
export type { FileError as FileErrorMessage, FileError__Output as FileErrorMessage__Output } from './generated/ferry/v1/FileError.js';
export type { JobError, JobError__Output } from './generated/ferry/v1/JobError.js';
export type { Heartbeat, Heartbeat__Output } from './generated/ferry/v1/Heartbeat.js';
export type { Welcome, Welcome__Output } from './generated/ferry/v1/Welcome.js';
export type { Assign, Assign__Output } from './generated/ferry/v1/Assign.js';
export type { Cancel, Cancel__Output } from './generated/ferry/v1/Cancel.js';
export type { RestoreMayStart, RestoreMayStart__Output } from './generated/ferry/v1/RestoreMayStart.js';
export type { ResultAck, ResultAck__Output } from './generated/ferry/v1/ResultAck.js';
export type { Job, Job__Output } from './generated/ferry/v1/Job.js';
export type { Volume, Volume__Output } from './generated/ferry/v1/Volume.js';
export type { Repository as RepositoryMessage, Repository__Output as RepositoryMessage__Output } from './generated/ferry/v1/Repository.js';
export type { S3Credentials as S3CredentialsMessage, S3Credentials__Output as S3CredentialsMessage__Output } from './generated/ferry/v1/S3Credentials.js';
export type { RepositoryKey, RepositoryKey__Output } from './generated/ferry/v1/RepositoryKey.js';
export type { BackupSpec, BackupSpec__Output } from './generated/ferry/v1/BackupSpec.js';
export type { RestoreSpec, RestoreSpec__Output } from './generated/ferry/v1/RestoreSpec.js';
export type { MaintenanceSpec, MaintenanceSpec__Output } from './generated/ferry/v1/MaintenanceSpec.js';
export type { MaintenanceOutcome, MaintenanceOutcome__Output } from './generated/ferry/v1/MaintenanceOutcome.js';
export { JobKind, type JobKind__Output } from './generated/ferry/v1/JobKind.js';
export { JobPhase, type JobPhase__Output } from './generated/ferry/v1/JobPhase.js';
export { MoverKind as MoverKindEnum, type MoverKind__Output } from './generated/ferry/v1/MoverKind.js';
export { VolumeKind, type VolumeKind__Output } from './generated/ferry/v1/VolumeKind.js';
export { ErrorCode, type ErrorCode__Output } from './generated/ferry/v1/ErrorCode.js';
export { MaintenanceOperation, type MaintenanceOperation__Output } from './generated/ferry/v1/MaintenanceOperation.js';
