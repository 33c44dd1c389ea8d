import type { Repository, RestoreSummary } from '@ferry/repository';
import { ExitCode } from '../exit-codes.js';
import type { Reporter } from '../reporter.js';
import { formatBytes, formatDuration } from '../units.js';
import type { CommandResult } from './result.js';

export interface RestoreCommandOptions {
  readonly repository: Repository;
  readonly reporter: Reporter;
  /** Snapshot id, unique prefix or 'latest'. */
  readonly snapshot: string;
  readonly target: string;
  readonly include?: string;
  readonly signal?: AbortSignal;
}

export async function restoreCommand(options: RestoreCommandOptions): Promise<CommandResult> {
  const summary = await options.repository.restore({
    snapshot: options.snapshot,
    target: options.target,
    onProgress: (p) => options.reporter.progress(p),
    ...(options.include !== undefined ? { include: options.include } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  for (const problem of summary.problems) options.reporter.problem(problem);
  options.reporter.summary(restoreJson(summary, options.target), restoreLines(summary, options.target));
  return { exitCode: summary.problems.length > 0 ? ExitCode.partial : ExitCode.ok };
}

function restoreJson(summary: RestoreSummary, target: string): Record<string, unknown> {
  return {
    command: 'restore',
    snapshotId: summary.snapshot.id,
    target,
    files: summary.files,
    dirs: summary.dirs,
    bytes: summary.bytes,
    durationSeconds: summary.durationSeconds,
    problems: summary.problems.map((p) => ({ path: p.path, message: p.message })),
  };
}

function restoreLines(summary: RestoreSummary, target: string): string[] {
  const lines = [
    `restored snapshot ${summary.snapshot.id.slice(0, 8)} to ${target}: ${summary.files} files, ${summary.dirs} dirs, ${formatBytes(summary.bytes)} in ${formatDuration(summary.durationSeconds)}`,
  ];
  if (summary.problems.length > 0) lines.push(`${summary.problems.length} item(s) could not be restored (see warnings above)`);
  return lines;
}
