/**
 * Error codes shared by every mover. The agent and coordinator map these codes to gRPC
 * status and CR conditions in one place each; movers map their backend's failures to
 * these codes and nothing else.
 */
export type MoverErrorCode =
  | 'WrongPassword'
  | 'RepositoryNotFound'
  | 'RepositoryLocked'
  | 'RepositoryCorrupt'
  | 'SnapshotNotFound'
  | 'SourceNotFound'
  | 'Network'
  | 'NoSpace'
  | 'PermissionDenied'
  | 'PartialFailure'
  | 'TargetTooSmall'
  | 'Canceled'
  | 'Timeout'
  | 'InvalidArgument'
  | 'Unsupported'
  | 'BinaryMissing'
  | 'Internal';

export class MoverError extends Error {
  readonly code: MoverErrorCode;

  constructor(code: MoverErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'MoverError';
    this.code = code;
  }
}

export function isMoverError(err: unknown, code?: MoverErrorCode): err is MoverError {
  return err instanceof MoverError && (code === undefined || err.code === code);
}
