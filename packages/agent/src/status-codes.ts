/**
 * The one place where failures become protocol codes: every error a job can end with is
 * mapped here to an AgentHub `ErrorCode` (what the coordinator records), whether running
 * the job again may help, the gRPC status a public API should surface for it, and the
 * bounded `result` label of the operation metrics.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ErrorCode__Output } from '@ferry/api';
import { isMoverError, type MoverErrorCode } from '@ferry/mover';
import { AgentError, JobAbort, type AgentErrorCode } from './errors.js';

export type ErrorCodeName = ErrorCode__Output;

export interface CodeInfo {
  readonly grpcStatus: GrpcStatus;
  readonly retriable: boolean;
}

export const ERROR_CODES: Readonly<Record<ErrorCodeName, CodeInfo>> = {
  ERROR_CODE_UNSPECIFIED: { grpcStatus: GrpcStatus.UNKNOWN, retriable: false },
  ERROR_CODE_INTERNAL: { grpcStatus: GrpcStatus.INTERNAL, retriable: false },
  ERROR_CODE_INVALID_JOB: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, retriable: false },
  ERROR_CODE_CANCELED: { grpcStatus: GrpcStatus.CANCELLED, retriable: false },
  ERROR_CODE_TIMEOUT: { grpcStatus: GrpcStatus.DEADLINE_EXCEEDED, retriable: true },
  ERROR_CODE_INTERRUPTED: { grpcStatus: GrpcStatus.UNAVAILABLE, retriable: true },
  ERROR_CODE_VOLUME_NOT_FOUND: { grpcStatus: GrpcStatus.NOT_FOUND, retriable: false },
  ERROR_CODE_VOLUME_AMBIGUOUS: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retriable: false },
  ERROR_CODE_VOLUME_IS_BLOCK: { grpcStatus: GrpcStatus.UNIMPLEMENTED, retriable: false },
  ERROR_CODE_VOLUME_OUTSIDE_PODS_DIR: { grpcStatus: GrpcStatus.PERMISSION_DENIED, retriable: false },
  ERROR_CODE_MOVER_UNAVAILABLE: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retriable: false },
  ERROR_CODE_WRONG_PASSWORD: { grpcStatus: GrpcStatus.UNAUTHENTICATED, retriable: false },
  ERROR_CODE_REPOSITORY_NOT_FOUND: { grpcStatus: GrpcStatus.NOT_FOUND, retriable: false },
  ERROR_CODE_REPOSITORY_LOCKED: { grpcStatus: GrpcStatus.ABORTED, retriable: true },
  ERROR_CODE_REPOSITORY_CORRUPT: { grpcStatus: GrpcStatus.DATA_LOSS, retriable: false },
  ERROR_CODE_SNAPSHOT_NOT_FOUND: { grpcStatus: GrpcStatus.NOT_FOUND, retriable: false },
  ERROR_CODE_NETWORK: { grpcStatus: GrpcStatus.UNAVAILABLE, retriable: true },
  ERROR_CODE_NO_SPACE: { grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED, retriable: false },
  ERROR_CODE_PERMISSION_DENIED: { grpcStatus: GrpcStatus.PERMISSION_DENIED, retriable: false },
  ERROR_CODE_UNSUPPORTED: { grpcStatus: GrpcStatus.UNIMPLEMENTED, retriable: false },
  ERROR_CODE_MARKER_FAILED: { grpcStatus: GrpcStatus.INTERNAL, retriable: true },
  ERROR_CODE_PARTIAL_FAILURE: { grpcStatus: GrpcStatus.ABORTED, retriable: false },
  ERROR_CODE_TARGET_TOO_SMALL: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retriable: false },
};

const FROM_MOVER: Readonly<Record<MoverErrorCode, ErrorCodeName>> = {
  WrongPassword: 'ERROR_CODE_WRONG_PASSWORD',
  RepositoryNotFound: 'ERROR_CODE_REPOSITORY_NOT_FOUND',
  RepositoryLocked: 'ERROR_CODE_REPOSITORY_LOCKED',
  RepositoryCorrupt: 'ERROR_CODE_REPOSITORY_CORRUPT',
  SnapshotNotFound: 'ERROR_CODE_SNAPSHOT_NOT_FOUND',
  SourceNotFound: 'ERROR_CODE_VOLUME_NOT_FOUND',
  Network: 'ERROR_CODE_NETWORK',
  NoSpace: 'ERROR_CODE_NO_SPACE',
  PermissionDenied: 'ERROR_CODE_PERMISSION_DENIED',
  PartialFailure: 'ERROR_CODE_PARTIAL_FAILURE',
  TargetTooSmall: 'ERROR_CODE_TARGET_TOO_SMALL',
  Canceled: 'ERROR_CODE_CANCELED',
  Timeout: 'ERROR_CODE_TIMEOUT',
  InvalidArgument: 'ERROR_CODE_INVALID_JOB',
  Unsupported: 'ERROR_CODE_UNSUPPORTED',
  BinaryMissing: 'ERROR_CODE_MOVER_UNAVAILABLE',
  Internal: 'ERROR_CODE_INTERNAL',
};

const FROM_AGENT: Readonly<Record<AgentErrorCode, ErrorCodeName>> = {
  InvalidJob: 'ERROR_CODE_INVALID_JOB',
  VolumeNotFound: 'ERROR_CODE_VOLUME_NOT_FOUND',
  VolumeAmbiguous: 'ERROR_CODE_VOLUME_AMBIGUOUS',
  VolumeIsBlock: 'ERROR_CODE_VOLUME_IS_BLOCK',
  VolumeOutsidePodsDir: 'ERROR_CODE_VOLUME_OUTSIDE_PODS_DIR',
  MoverUnavailable: 'ERROR_CODE_MOVER_UNAVAILABLE',
  MarkerFailed: 'ERROR_CODE_MARKER_FAILED',
  InvalidConfig: 'ERROR_CODE_INTERNAL',
};

const FROM_ABORT = { canceled: 'ERROR_CODE_CANCELED', timeout: 'ERROR_CODE_TIMEOUT', interrupted: 'ERROR_CODE_INTERRUPTED' } as const;

/** The bounded `result` label of ferry_operations_total and the duration histogram. */
export type OperationResult = 'completed' | 'partially_failed' | 'failed' | 'canceled' | 'timeout' | 'interrupted';

export interface ClassifiedError {
  readonly code: ErrorCodeName;
  readonly message: string;
  readonly retriable: boolean;
  readonly grpcStatus: GrpcStatus;
  readonly result: OperationResult;
}

/**
 * Classifies a job's failure. When the agent aborted the job itself, `abortReason` (the
 * signal's reason) wins over whatever the mover threw while stopping.
 */
export function classifyError(err: unknown, abortReason?: unknown): ClassifiedError {
  let code: ErrorCodeName = 'ERROR_CODE_INTERNAL';
  let message = err instanceof Error ? err.message : String(err);
  if (abortReason instanceof JobAbort) {
    code = FROM_ABORT[abortReason.kind];
    message = abortReason.message;
  } else if (err instanceof JobAbort) {
    code = FROM_ABORT[err.kind];
  } else if (err instanceof AgentError) {
    code = FROM_AGENT[err.code];
  } else if (isMoverError(err)) {
    code = FROM_MOVER[err.code];
  }
  const info = ERROR_CODES[code];
  return { code, message, retriable: info.retriable, grpcStatus: info.grpcStatus, result: resultOf(code) };
}

export function resultOf(code: ErrorCodeName): OperationResult {
  if (code === 'ERROR_CODE_CANCELED') return 'canceled';
  if (code === 'ERROR_CODE_TIMEOUT') return 'timeout';
  if (code === 'ERROR_CODE_INTERRUPTED') return 'interrupted';
  return 'failed';
}

/** The gRPC status for a result error code, for APIs that surface a job's failure. */
export function grpcStatusOf(code: ErrorCodeName): GrpcStatus {
  return ERROR_CODES[code].grpcStatus;
}
