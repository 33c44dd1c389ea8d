import type { Writable } from 'node:stream';
import type { Repository, Snapshot } from '@ferry/repository';
import { ExitCode } from '../exit-codes.js';
import { writeWithBackpressure } from '../io.js';
import type { Reporter } from '../reporter.js';
import { formatBytes } from '../units.js';
import type { CommandResult } from './result.js';

export interface SnapshotsCommandOptions {
  readonly repository: Repository;
  readonly reporter: Reporter;
  readonly out: Writable;
  readonly signal?: AbortSignal;
}

export async function snapshotsCommand(options: SnapshotsCommandOptions): Promise<CommandResult> {
  const snapshots = await options.repository.listSnapshots(options.signal !== undefined ? { signal: options.signal } : {});
  if (options.reporter.mode === 'json') {
    for (const s of snapshots) options.reporter.record({ type: 'snapshot', ...snapshotJson(s) });
    options.reporter.summary({ command: 'snapshots', count: snapshots.length }, []);
    return { exitCode: ExitCode.ok };
  }
  const rows = snapshots.map((s) => [
    s.id.slice(0, 8),
    s.time.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    s.hostname,
    s.tags.join(','),
    formatBytes(s.stats.bytes),
    s.paths.join(' '),
  ]);
  const table = renderTable(['ID', 'Time', 'Host', 'Tags', 'Size', 'Paths'], rows);
  await writeWithBackpressure(options.out, `${table}${snapshots.length} snapshot(s)\n`);
  return { exitCode: ExitCode.ok };
}

export function snapshotJson(s: Snapshot): Record<string, unknown> {
  return {
    id: s.id,
    time: s.time.toISOString(),
    identity: s.identity,
    hostname: s.hostname,
    username: s.username,
    paths: s.paths,
    tags: s.tags,
    parent: s.parent ?? null,
    tree: s.tree,
    stats: s.stats,
    program: s.program,
  };
}

function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd() + '\n';
  const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2)) + '\n';
  return line(header) + rule + rows.map(line).join('') + (rows.length > 0 ? rule : '');
}
