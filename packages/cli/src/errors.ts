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

/** A secret this long cannot be a word of the message around it, so it is replaced wherever it occurs. */
const ANYWHERE_LENGTH = 16;

/**
 * Redacts secrets as values, never as substrings of prose (a password `the` must not turn
 * "the repository" into "*** repository"). A short secret is replaced where a value
 * stands: after `=` or `:` (fields, environment, argv `--password=`), as URL userinfo
 * (`//user:secret@`), in quotes, as a whole argv word, or as the whole text. Long secrets
 * (keys, tokens) are replaced anywhere.
 */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length === 0) continue;
    if (secret.length >= ANYWHERE_LENGTH) {
      out = out.split(secret).join('***');
      continue;
    }
    const s = escapeRegExp(secret);
    out = out
      .replace(new RegExp(`(=|:)${s}(?=$|[\\s&;,@'"\\])}])`, 'g'), '$1***')
      .replace(new RegExp(`(['"\`])${s}\\1`, 'g'), '$1***$1')
      .replace(new RegExp(`(^|\\s)(--[\\w-]+ )${s}(?=$|\\s)`, 'g'), '$1$2***');
    if (out === secret) out = '***';
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
