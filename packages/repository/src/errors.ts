/**
 * Every failure the engine reports carries one of these codes; the CLI maps them to exit
 * codes and the native mover to MoverErrorCode, each in one place.
 */
export type RepositoryErrorCode =
  | 'RepositoryNotFound'
  | 'RepositoryExists'
  | 'WrongPassword'
  | 'SnapshotNotFound'
  | 'AmbiguousSnapshot'
  | 'PathNotFound'
  | 'Corrupt'
  | 'UnsupportedVersion'
  | 'Canceled'
  /** Another prune holds the prune lock (backups never get this). */
  | 'Busy'
  | 'InvalidArgument'
  /** A device restore target smaller than the backed-up device. */
  | 'TargetTooSmall'
  | 'Store';

export class RepositoryError extends Error {
  readonly code: RepositoryErrorCode;

  constructor(code: RepositoryErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'RepositoryError';
    this.code = code;
  }
}

export function isRepositoryError(err: unknown, code?: RepositoryErrorCode): err is RepositoryError {
  return err instanceof RepositoryError && (code === undefined || err.code === code);
}

/** Throws the engine's Canceled error if the signal fired; call at every await boundary of a loop. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new RepositoryError('Canceled', `${what} canceled`);
}

/** After an abort, whatever failed first (a store call, a worker) is reported as Canceled. */
export function asCanceled(err: unknown, signal: AbortSignal | undefined, what: string): unknown {
  if (!signal?.aborted || isRepositoryError(err, 'Canceled')) return err;
  return new RepositoryError('Canceled', `${what} canceled`, { cause: err });
}
