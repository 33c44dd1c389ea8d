import { MoverError, type MoverErrorCode } from '@ferry/mover';

export interface ResticFailure {
  /** The restic subcommand, e.g. `backup`, for the message. */
  readonly command: string;
  /** The repository as the operator named it (credentials already stripped). */
  readonly repository: string;
  readonly exitCode: number | undefined;
  readonly stderr: string;
  /** Values that must never appear in a message (password, secret keys). */
  readonly secrets?: readonly string[];
}

interface Rule {
  readonly code: MoverErrorCode;
  readonly pattern: RegExp;
  readonly fix: string;
}

/** First match wins; ordered from the most specific restic message to the most generic. */
const RULES: readonly Rule[] = [
  { code: 'WrongPassword', pattern: /wrong password or no key found/i, fix: 'check the repository password (Secret) matches a key of this repository' },
  { code: 'RepositoryLocked', pattern: /repository is already locked/i, fix: 'wait for the other restic process to finish, or remove the lock once its holder is gone' },
  { code: 'SnapshotNotFound', pattern: /no matching ID found|invalid id ".*"|snapshot .* not found|no snapshot(s)? found/i, fix: 'list snapshots and pick an existing id' },
  { code: 'PermissionDenied', pattern: /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|Access Denied|permission denied/i, fix: 'check the credentials and their permissions on the repository' },
  { code: 'Network', pattern: /dial tcp|connection refused|connection reset|no such host|i\/o timeout|TLS handshake|network is unreachable|server misbehaving|context deadline exceeded|503 Service Unavailable|SlowDown/i, fix: 'check that the repository endpoint is reachable from this node' },
  { code: 'RepositoryNotFound', pattern: /unable to open config file|Is there a repository at the following location|repository does not exist|The specified bucket does not exist|NoSuchBucket/i, fix: 'initialise the repository first (init), or correct the repository URL' },
  { code: 'NoSpace', pattern: /no space left on device|disk quota exceeded/i, fix: 'free space where the repository or restore target lives' },
  { code: 'RepositoryCorrupt', pattern: /ciphertext verification failed|repository contains errors|unable to load index|invalid data returned|pack .* (is damaged|does not exist)|tree .* could not be loaded/i, fix: 'run check with readData and repair the repository from another copy' },
];

export function mapResticFailure(failure: ResticFailure): MoverError {
  const text = redact(failure.stderr, failure.secrets ?? []);
  for (const rule of RULES) {
    if (rule.pattern.test(text)) {
      const detail = text.split('\n').find((line) => rule.pattern.test(line))?.trim().slice(0, 500) ?? lastMeaningfulLine(text);
      return new MoverError(rule.code, `restic ${failure.command} on ${failure.repository} failed: ${detail}; ${rule.fix}`);
    }
  }
  const detail = lastMeaningfulLine(text);
  const status = failure.exitCode === undefined ? 'was killed' : `exited with code ${failure.exitCode}`;
  return new MoverError('Internal', `restic ${failure.command} on ${failure.repository} ${status}: ${detail || 'no message'}; see restic's output in the agent log`);
}

/** The `Fatal:` line if there is one, else the last non-empty line. */
export function lastMeaningfulLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('{'));
  const fatal = lines.find((l) => l.startsWith('Fatal:'));
  return (fatal ?? lines[lines.length - 1] ?? '').slice(0, 500);
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join('***');
  }
  return out;
}

/** `s3:https://key:secret@host/b` must not leak into messages: keep scheme, host and path. */
export function describeRepository(repository: string): string {
  return repository.replace(/\/\/[^/@]*@/, '//');
}
