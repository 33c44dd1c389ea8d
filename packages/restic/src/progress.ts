import type { BackupStats, FileError, MoverProgress } from '@ferry/mover';
import { constants } from 'node:os';
import { isRecord, numberField, stringField } from './json-lines.js';

export interface BackupSummary {
  readonly shortId: string;
  readonly stats: BackupStats;
}

/** restic's `--json` status line to the shared progress shape. */
export function backupProgress(status: Record<string, unknown>): MoverProgress {
  const files = status['current_files'];
  const currentFile = Array.isArray(files) && typeof files[0] === 'string' ? files[0] : undefined;
  const bytesDone = numberField(status, 'bytes_done') ?? 0;
  const elapsed = numberField(status, 'seconds_elapsed');
  return {
    op: 'backup',
    filesDone: numberField(status, 'files_done') ?? 0,
    filesTotal: numberField(status, 'total_files'),
    bytesDone,
    bytesTotal: numberField(status, 'total_bytes'),
    ...(currentFile !== undefined ? { currentFile } : {}),
    ...(elapsed ? { bytesPerSecond: Math.round(bytesDone / elapsed) } : {}),
    ...(numberField(status, 'seconds_remaining') !== undefined ? { etaSeconds: numberField(status, 'seconds_remaining') } : {}),
  };
}

/**
 * restic 0.14 does not report how many bytes it actually read; when some files were
 * unmodified, bytesRead is estimated from the share of files that were read.
 */
export function backupSummary(summary: Record<string, unknown>): BackupSummary {
  const n = (key: string): number => numberField(summary, key) ?? 0;
  const processed = n('total_bytes_processed');
  const readFiles = n('files_new') + n('files_changed');
  const allFiles = readFiles + n('files_unmodified');
  const bytesRead = allFiles === 0 ? 0 : Math.round((processed * readFiles) / allFiles);
  return {
    shortId: stringField(summary, 'snapshot_id') ?? '',
    stats: {
      filesNew: n('files_new'),
      filesChanged: n('files_changed'),
      filesUnmodified: n('files_unmodified'),
      dirs: n('dirs_new') + n('dirs_changed') + n('dirs_unmodified'),
      bytesRead,
      bytesProcessed: processed,
      bytesAdded: n('data_added'),
      bytesDeduplicated: Math.max(0, processed - bytesRead),
      durationSeconds: n('total_duration'),
    },
  };
}

/** `{"message_type":"error","error":{"Op":"open","Path":"x","Err":13},"item":"/abs/x"}` */
export function backupFileError(message: Record<string, unknown>): FileError {
  const item = stringField(message, 'item') ?? '';
  const error = message['error'];
  return { path: item, message: describeGoError(error) };
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

function describeGoError(error: unknown): string {
  if (typeof error === 'string') return error;
  if (!isRecord(error)) return 'unknown error';
  const op = stringField(error, 'Op');
  const errno = numberField(error, 'Err');
  const name = errno !== undefined ? (ERRNO_NAMES.get(errno) ?? `errno ${errno}`) : stringField(error, 'Err');
  if (op || name) return [op, name].filter(Boolean).join(': ');
  return JSON.stringify(error);
}

/** At most one report per `intervalMs`; `flush` always reports (the final update). */
export class ProgressThrottle {
  private lastAt = -Infinity;
  private pending: MoverProgress | undefined;

  constructor(
    private readonly report: ((progress: MoverProgress) => void) | undefined,
    private readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  offer(progress: MoverProgress): void {
    this.pending = progress;
    const t = this.now();
    if (t - this.lastAt < this.intervalMs) return;
    this.lastAt = t;
    this.emit();
  }

  flush(last?: MoverProgress): void {
    if (last) this.pending = last;
    this.emit();
  }

  private emit(): void {
    if (!this.pending || !this.report) return;
    const progress = this.pending;
    this.pending = undefined;
    try {
      this.report(progress);
    } catch {
      // a failing progress listener must not break the backup
    }
  }
}
