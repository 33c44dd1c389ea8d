import { readFile } from 'node:fs/promises';
import { CliError } from './exit-codes.js';
import type { CliIO } from './io.js';
import { readPassword } from './password.js';

const KEY_BYTES = 32;

/**
 * A cluster key as a coordinator keeps it in a Kubernetes Secret: 32 raw bytes, or the
 * same as 64 hex characters (surrounding whitespace ignored, so `echo` output works).
 */
export function parseClusterKey(bytes: Buffer, where: string): Buffer {
  if (bytes.length === KEY_BYTES) return Buffer.from(bytes);
  const text = bytes.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  throw new CliError(`${where} is not a cluster key: expected exactly 32 bytes or 64 hex characters (got ${bytes.length} bytes)`);
}

export async function readClusterKeyFile(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CliError(`cannot read cluster key file ${path} (${code}): check the path and its permissions`);
  }
  return parseClusterKey(bytes, `cluster key file ${path}`);
}

/** FERRY_CLUSTER_KEY as 64 hex characters, or undefined when unset. */
export function clusterKeyFromEnv(env: CliIO['env']): Buffer | undefined {
  const text = env['FERRY_CLUSTER_KEY'];
  if (text === undefined || text === '') return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(text.trim())) throw new CliError('FERRY_CLUSTER_KEY is not a cluster key: expected 64 hex characters');
  return Buffer.from(text.trim(), 'hex');
}

export interface SecretSource {
  readonly io: CliIO;
  /** The file flag, when given. */
  readonly file?: string;
  /** Environment variable consulted when no file is given. */
  readonly envName: string;
  /** Flag and what it is, for the "none given" message and the prompt header. */
  readonly flag: string;
  readonly what: string;
  /** Ask twice on a TTY (a new password nobody has typed before). */
  readonly confirm: boolean;
  readonly signal?: AbortSignal;
}

/**
 * A second password besides the one that opens the repository (a new slot's, a token's):
 * from its own file flag, its own environment variable, or a TTY prompt.
 */
export async function readOtherPassword(source: SecretSource): Promise<string> {
  const { io } = source;
  const fromEnv = io.env[source.envName];
  if (source.file === undefined && fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (source.file === undefined && io.stdin.isTTY !== true) {
    throw new CliError(`no ${source.what} given: set ${source.envName} or pass ${source.flag} FILE`);
  }
  if (source.file === undefined) io.stderr.write(`Enter the ${source.what}.\n`);
  // readPassword reads a file or prompts; FERRY_PASSWORD is hidden so it cannot stand in.
  return readPassword({
    io: { ...io, env: { ...io.env, FERRY_PASSWORD: undefined } },
    confirm: source.confirm,
    ...(source.file !== undefined ? { passwordFile: source.file } : {}),
    ...(source.signal !== undefined ? { signal: source.signal } : {}),
  });
}
