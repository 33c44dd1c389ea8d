import { errorCode, ExitCode } from './exit-codes.js';
import type { ErrorContext } from './session.js';

/**
 * The one line a failed command prints: `ferry: <what went wrong and how to fix it>`.
 * It names the repository (its description, which never holds credentials) and
 * scrubs anything that equals a secret the run has seen.
 */
export function describeError(err: unknown, context: ErrorContext, exitCode: number): string {
  const repo = context.repository;
  const at = repo !== undefined ? ` at ${repo}` : '';
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  let text: string;
  if (exitCode === ExitCode.interrupted && code !== 'Cli') text = 'interrupted; stopped cleanly (a later backup reuses the data already uploaded)';
  else if (code === 'RepositoryNotFound') text = `no repository${at}: create one with "ferry init", or check --repo / FERRY_REPOSITORY`;
  else if (code === 'WrongPassword') text = `wrong password for the repository${at}: check FERRY_PASSWORD or --password-file`;
  else if (code === 'RepositoryExists') text = `a repository already exists${at}; use it, or choose another location`;
  else if (repo !== undefined && code !== 'Cli' && !message.includes(repo)) text = `${message} (repository ${repo})`;
  else text = message;
  return `ferry: ${scrub(text, context.secrets)}`;
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join('***');
  return out;
}
