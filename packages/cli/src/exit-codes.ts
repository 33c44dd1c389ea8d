/**
 * Process exit codes of `ferry` and the mapping from errors to them. Scripts and the
 * agent branch on these, so they are part of the CLI's contract (README, `--help`).
 */
export const ExitCode = {
  ok: 0,
  error: 1,
  /** The command finished but some files could not be read or restored. */
  partial: 3,
  /** A cluster backup or restore that was followed (--wait) ended Canceled. */
  canceled: 4,
  repositoryNotFound: 10,
  /** The named Backup, Restore, schedule or repository does not exist on the cluster. */
  notFound: 11,
  wrongPassword: 12,
  /** The coordinator refused the caller: not authenticated, or not allowed in that namespace. */
  denied: 13,
  /** The coordinator could not be reached (same number as gRPC's UNAVAILABLE). */
  unavailable: 14,
  interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    error (the message says what failed and how to fix it)
  3    finished, but some files could not be read (backup) or restored (restore);
       for a cluster backup or restore followed with --wait: PartiallyFailed
  4    a cluster backup or restore followed with --wait was Canceled
  10   no repository at the given location
  11   the named cluster resource (backup, restore, schedule, repository) does not exist
  12   wrong password
  13   the coordinator refused the credentials or the namespace (UNAUTHENTICATED, PERMISSION_DENIED)
  14   the coordinator could not be reached (UNAVAILABLE)
  130  interrupted (Ctrl-C); the command stopped cleanly`;

/** Errors carrying a string `code`: RepositoryError, BlobStoreError, our own CliError. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

export function exitCodeForError(err: unknown, signal?: AbortSignal): ExitCodeValue {
  if (err instanceof CliError && err.exitCode !== undefined) return err.exitCode;
  const code = errorCode(err);
  if (code === 'RepositoryNotFound') return ExitCode.repositoryNotFound;
  if (code === 'WrongPassword') return ExitCode.wrongPassword;
  if (signal?.aborted === true) return ExitCode.interrupted;
  if (code === 'Canceled' || code === 'Aborted' || code === 'ABORT_ERR') return ExitCode.interrupted;
  if (err instanceof Error && err.name === 'AbortError') return ExitCode.interrupted;
  return ExitCode.error;
}

/** A usage or environment problem found by the CLI itself (exit code 1 unless given). */
export class CliError extends Error {
  readonly code = 'Cli';
  /** Set when the failure has its own exit code (cluster commands: not found, denied, unreachable). */
  readonly exitCode: ExitCodeValue | undefined;
  constructor(message: string, exitCode?: ExitCodeValue) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
