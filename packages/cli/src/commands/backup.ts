import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { BackupSource, BackupSummary, Repository, SnapshotIdentity } from '@ferry/repository';
import { CliError, ExitCode } from '../exit-codes.js';
import type { Reporter } from '../reporter.js';
import { formatBytes, formatDuration } from '../units.js';
import type { CommandResult } from './result.js';

export interface BackupCommandOptions {
  readonly repository: Repository;
  readonly reporter: Reporter;
  /** Paths to back up; empty with `stdin`. */
  readonly paths: readonly string[];
  readonly tags?: readonly string[];
  readonly excludes?: readonly string[];
  readonly host?: string;
  /** Back up this stream as one file named `stdinFilename`. */
  readonly stdin?: AsyncIterable<Uint8Array>;
  readonly stdinFilename?: string;
  /** When another writer's silent session marker counts as dead (FERRY_STALE_SESSION_SECONDS). */
  readonly staleAfterMs?: number;
  readonly signal?: AbortSignal;
}

export async function backupCommand(options: BackupCommandOptions): Promise<CommandResult> {
  const host = options.host ?? hostname();
  const { source, identity } = describeSource(options, host);
  const summary = await options.repository.backup({
    source,
    identity,
    tags: options.tags ?? [],
    excludes: options.excludes ?? [],
    onProgress: (p) => options.reporter.progress(p),
    ...(options.staleAfterMs !== undefined ? { staleAfterMs: options.staleAfterMs } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  for (const problem of summary.problems) options.reporter.problem(problem);
  options.reporter.summary(backupJson(summary), backupLines(summary));
  return { exitCode: summary.problems.length > 0 ? ExitCode.partial : ExitCode.ok };
}

function describeSource(options: BackupCommandOptions, host: string): { source: BackupSource; identity: SnapshotIdentity } {
  if (options.stdin !== undefined) {
    if (options.paths.length > 0) throw new CliError('--stdin takes no PATH arguments');
    const fileName = options.stdinFilename ?? 'stdin';
    if (fileName === '' || fileName.includes('/') || fileName === '.' || fileName === '..') {
      throw new CliError(`--stdin-filename "${fileName}" must be a plain file name (no "/")`);
    }
    return {
      source: { kind: 'stream', stream: options.stdin, fileName },
      identity: { kind: 'host', host, path: `stdin:${fileName}` },
    };
  }
  if (options.paths.length === 0) throw new CliError('nothing to back up: give at least one PATH (or --stdin)');
  const paths = options.paths.map((p) => resolve(p));
  // The identity finds the parent snapshot for incremental backups, so it must not
  // depend on argument order.
  return {
    source: { kind: 'paths', paths },
    identity: { kind: 'host', host, path: [...paths].sort().join(',') },
  };
}

function backupJson(summary: BackupSummary): Record<string, unknown> {
  return {
    command: 'backup',
    snapshotId: summary.snapshot.id,
    time: summary.snapshot.time.toISOString(),
    paths: summary.snapshot.paths,
    tags: summary.snapshot.tags,
    parent: summary.snapshot.parent ?? null,
    filesNew: summary.filesNew,
    filesChanged: summary.filesChanged,
    filesUnmodified: summary.filesUnmodified,
    dirs: summary.dirs,
    bytesRead: summary.bytesRead,
    bytesProcessed: summary.bytesProcessed,
    bytesAdded: summary.bytesAdded,
    bytesDeduplicated: summary.bytesDeduplicated,
    blobsAdded: summary.blobsAdded,
    durationSeconds: summary.durationSeconds,
    problems: summary.problems.map((p) => ({ path: p.path, message: p.message })),
  };
}

function backupLines(summary: BackupSummary): string[] {
  const files = summary.filesNew + summary.filesChanged + summary.filesUnmodified;
  const lines = [
    `Files: ${summary.filesNew} new, ${summary.filesChanged} changed, ${summary.filesUnmodified} unmodified (${files} total, ${summary.dirs} dirs)`,
    `Data:  ${formatBytes(summary.bytesProcessed)} processed, ${formatBytes(summary.bytesRead)} read, ${formatBytes(summary.bytesAdded)} added to the repository`,
    `snapshot ${summary.snapshot.id.slice(0, 8)} saved in ${formatDuration(summary.durationSeconds)}`,
  ];
  if (summary.problems.length > 0) lines.push(`${summary.problems.length} file(s) could not be read (see warnings above)`);
  return lines;
}
