import { execa } from 'execa';
import { MoverError } from '@ferry/mover';

export interface ResticVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export interface ResticBinary {
  /** The command as given (a name looked up in PATH, or a path). */
  readonly binary: string;
  readonly version: ResticVersion;
  /** `restic version`'s first line, for logs and the agent's hello. */
  readonly versionText: string;
}

export interface DetectResticOptions {
  /** Default `restic` (looked up in PATH). */
  readonly binary?: string;
  readonly signal?: AbortSignal;
}

export const MIN_RESTIC_VERSION: ResticVersion = { major: 0, minor: 14, patch: 0 };

/** Runs `restic version`; rejects with BinaryMissing or Unsupported (older than 0.14). */
export async function detectRestic(options: DetectResticOptions = {}): Promise<ResticBinary> {
  const binary = options.binary ?? 'restic';
  const result = await execa(binary, ['version'], {
    reject: false,
    cancelSignal: options.signal,
    timeout: 30_000,
    env: { LANG: 'C' },
  });
  if (result.exitCode !== 0 || typeof result.stdout !== 'string') {
    throw new MoverError(
      'BinaryMissing',
      `restic binary "${binary}" could not be run (${firstLine(result.stderr) || result.shortMessage}); install restic ${formatVersion(MIN_RESTIC_VERSION)} or later, or set the mover's binary option to its path`,
    );
  }
  const versionText = firstLine(result.stdout);
  const version = parseResticVersion(versionText);
  if (!version) {
    throw new MoverError('Unsupported', `"${binary} version" printed "${versionText}", which is not restic's version line; point the binary option at restic`);
  }
  if (compareVersions(version, MIN_RESTIC_VERSION) < 0) {
    throw new MoverError(
      'Unsupported',
      `restic ${formatVersion(version)} at "${binary}" is too old; Ferry needs restic ${formatVersion(MIN_RESTIC_VERSION)} or later`,
    );
  }
  return { binary, version, versionText };
}

export function parseResticVersion(text: string): ResticVersion | undefined {
  const match = /^restic\s+v?(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

export function compareVersions(a: ResticVersion, b: ResticVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

function formatVersion(v: ResticVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

function firstLine(text: unknown): string {
  return typeof text === 'string' ? (text.split('\n')[0] ?? '').trim() : '';
}
