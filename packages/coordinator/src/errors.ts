/**
 * The one place where failures get codes: the coordinator's own errors, their gRPC status
 * for the AgentHub (and later public) services, and the agent's ErrorCode turned into the
 * CamelCase `status.error.code` and condition reason written on PodVolumeBackups/Restores.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ErrorCode__Output } from '@ferry/api';

export const COORDINATOR_ERROR_CODES = [
  'InvalidConfig',
  'InvalidArgument',
  'NotFound',
  'AlreadyExists',
  'Conflict',
  'FailedPrecondition',
  'PermissionDenied',
  'Unauthenticated',
  'Unavailable',
  'CredentialsNotFound',
  'LocationNotFound',
  'ReadOnly',
  'Unsupported',
  'Internal',
] as const;
export type CoordinatorErrorCode = (typeof COORDINATOR_ERROR_CODES)[number];

export class CoordinatorError extends Error {
  constructor(
    readonly code: CoordinatorErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CoordinatorError';
  }
}

export function isCoordinatorError(err: unknown, code?: CoordinatorErrorCode): err is CoordinatorError {
  return err instanceof CoordinatorError && (code === undefined || err.code === code);
}

const GRPC_STATUS: Record<CoordinatorErrorCode, GrpcStatus> = {
  InvalidConfig: GrpcStatus.FAILED_PRECONDITION,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  NotFound: GrpcStatus.NOT_FOUND,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  Conflict: GrpcStatus.ABORTED,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  Unauthenticated: GrpcStatus.UNAUTHENTICATED,
  Unavailable: GrpcStatus.UNAVAILABLE,
  CredentialsNotFound: GrpcStatus.FAILED_PRECONDITION,
  LocationNotFound: GrpcStatus.FAILED_PRECONDITION,
  ReadOnly: GrpcStatus.FAILED_PRECONDITION,
  Unsupported: GrpcStatus.UNIMPLEMENTED,
  Internal: GrpcStatus.INTERNAL,
};

/** The gRPC status a failure is reported with; anything uncoded is INTERNAL. */
export function grpcStatusOf(err: unknown): { code: GrpcStatus; details: string } {
  if (err instanceof CoordinatorError) return { code: GRPC_STATUS[err.code], details: err.message };
  return { code: GrpcStatus.INTERNAL, details: 'internal error in the coordinator; see its log' };
}

/**
 * A ClusterState failure as the public API reports it: 404 names the resource, 409 on create
 * is ALREADY_EXISTS and a stale write ABORTED (retry with fresh data), 403 from the API server
 * is the coordinator's own RBAC. Coordinator errors pass through; anything else stays uncoded
 * (INTERNAL, details only in the log).
 */
export function clusterFailure(err: unknown, resource: { kind: string; namespace?: string; name?: string; action: 'create' | 'read' | 'write' }): unknown {
  if (err instanceof CoordinatorError) return err;
  const what = `${resource.kind} ${resource.namespace ? `${resource.namespace}/` : ''}${resource.name ?? ''}`.trim();
  const status = httpStatusOf(err);
  if (status === 404) return new CoordinatorError('NotFound', `${what} not found`, { cause: err });
  if (status === 409 && resource.action === 'create') return new CoordinatorError('AlreadyExists', `${what} already exists; choose another name`, { cause: err });
  if (status === 409 || status === 422) return new CoordinatorError('Conflict', `${what} was changed by someone else meanwhile; retry`, { cause: err });
  if (status === 403) return new CoordinatorError('Unavailable', `the coordinator's service account may not access ${what}; check its RBAC (deploy/)`, { cause: err });
  return err;
}

/** How an agent's failure is written on the resource: error.code and the Failed condition's reason. */
export interface ResourceError {
  readonly code: string;
  readonly reason: 'MoverFailed' | 'Timeout' | 'Canceled' | 'PodNotFound' | 'AgentLost';
}

const AGENT_CODES: Record<ErrorCode__Output, ResourceError> = {
  ERROR_CODE_UNSPECIFIED: { code: 'Internal', reason: 'MoverFailed' },
  ERROR_CODE_INTERNAL: { code: 'Internal', reason: 'MoverFailed' },
  ERROR_CODE_INVALID_JOB: { code: 'InvalidJob', reason: 'MoverFailed' },
  ERROR_CODE_CANCELED: { code: 'Canceled', reason: 'Canceled' },
  ERROR_CODE_TIMEOUT: { code: 'Timeout', reason: 'Timeout' },
  ERROR_CODE_INTERRUPTED: { code: 'Interrupted', reason: 'AgentLost' },
  ERROR_CODE_VOLUME_NOT_FOUND: { code: 'VolumeNotFound', reason: 'MoverFailed' },
  ERROR_CODE_VOLUME_AMBIGUOUS: { code: 'VolumeAmbiguous', reason: 'MoverFailed' },
  ERROR_CODE_VOLUME_IS_BLOCK: { code: 'VolumeIsBlock', reason: 'MoverFailed' },
  ERROR_CODE_VOLUME_OUTSIDE_PODS_DIR: { code: 'VolumeOutsidePodsDir', reason: 'MoverFailed' },
  ERROR_CODE_MOVER_UNAVAILABLE: { code: 'MoverUnavailable', reason: 'MoverFailed' },
  ERROR_CODE_WRONG_PASSWORD: { code: 'WrongPassword', reason: 'MoverFailed' },
  ERROR_CODE_REPOSITORY_NOT_FOUND: { code: 'RepositoryNotFound', reason: 'MoverFailed' },
  ERROR_CODE_REPOSITORY_LOCKED: { code: 'RepositoryLocked', reason: 'MoverFailed' },
  ERROR_CODE_REPOSITORY_CORRUPT: { code: 'RepositoryCorrupt', reason: 'MoverFailed' },
  ERROR_CODE_SNAPSHOT_NOT_FOUND: { code: 'SnapshotNotFound', reason: 'MoverFailed' },
  ERROR_CODE_NETWORK: { code: 'Network', reason: 'MoverFailed' },
  ERROR_CODE_NO_SPACE: { code: 'NoSpace', reason: 'MoverFailed' },
  ERROR_CODE_PERMISSION_DENIED: { code: 'PermissionDenied', reason: 'MoverFailed' },
  ERROR_CODE_UNSUPPORTED: { code: 'Unsupported', reason: 'MoverFailed' },
  ERROR_CODE_MARKER_FAILED: { code: 'MarkerFailed', reason: 'MoverFailed' },
  ERROR_CODE_PARTIAL_FAILURE: { code: 'PartialFailure', reason: 'MoverFailed' },
  ERROR_CODE_TARGET_TOO_SMALL: { code: 'TargetTooSmall', reason: 'MoverFailed' },
};

export function resourceErrorOf(code: ErrorCode__Output): ResourceError {
  return AGENT_CODES[code];
}

/** Kubernetes API failures as client-node 1.x reports them (ApiException with a numeric code). */
export function httpStatusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (err: unknown): boolean => httpStatusOf(err) === 404;
export const isAlreadyExists = (err: unknown): boolean => httpStatusOf(err) === 409;

/**
 * Create-or-get with deterministic names: a retry after a crash finds what the first try
 * made. On 409 the stored object is read; if that read finds nothing either, the 409 stands.
 */
export async function createOrRead<T>(create: () => Promise<T>, read: () => Promise<T | undefined>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const existing = await read();
    if (existing === undefined) throw err;
    return existing;
  }
}
/** 409 on a stale resourceVersion, 422 when our JSON-patch `test` of it failed. */
export const isConflict = (err: unknown): boolean => httpStatusOf(err) === 409 || httpStatusOf(err) === 422;

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
