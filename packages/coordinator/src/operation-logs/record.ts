/**
 * What goes into an operation's log while it runs, from the three places that see it:
 * commit.ts (every phase change and Event of a Backup, Restore or one of their volumes),
 * results.ts (what a node's agent reported for a job: start, outcome, error, failed files)
 * and the hook tasks. Lines carry only what the operation's status and Events already
 * show a reader of the resource, plus the agents' file paths; never a job (it carries the
 * repository credentials) and never a Secret.
 */
import type { JobResult__Output } from '@ferry/api';
import type { EventOptions, FerryKind, FerryObject } from '../cluster/cluster-state.js';
import type { ControllerContext } from '../context.js';
import { resourceErrorOf } from '../errors.js';
import type { PvbObject, PvrObject } from '../objects.js';
import type { LogLevel, NewLine, OperationRef } from './book.js';

/** File errors of one result written as lines (the rest is counted in one line). */
const FILE_ERROR_LINES = 20;

/** The operation an object belongs to: itself, or a volume's controlling Backup/Restore. */
export function operationOf(kind: FerryKind, obj: FerryObject): OperationRef | undefined {
  if (kind === 'Backup' || kind === 'Restore') return obj.metadata.uid ? { kind, uid: obj.metadata.uid } : undefined;
  const want = kind === 'PodVolumeBackup' ? 'Backup' : kind === 'PodVolumeRestore' ? 'Restore' : undefined;
  const owner = want && obj.metadata.ownerReferences?.find((o) => o.kind === want && o.controller);
  return want && owner ? { kind: want, uid: owner.uid } : undefined;
}

/** `<namespace>/<pod>/<volume>` of a PodVolumeBackup or PodVolumeRestore. */
export function volumeOf(kind: FerryKind, obj: FerryObject): string | undefined {
  if (kind === 'PodVolumeBackup') {
    const p = obj as PvbObject;
    return `${p.spec.pod.namespace}/${p.spec.pod.name}/${p.spec.volume.name}`;
  }
  if (kind === 'PodVolumeRestore') {
    const p = obj as PvrObject;
    return `${p.spec.pod.namespace}/${p.spec.pod.name}/${p.spec.target.name}`;
  }
  return undefined;
}

function levelOfPhase(phase: string | undefined): LogLevel {
  return phase === 'Failed' ? 'error' : phase === 'PartiallyFailed' || phase === 'Canceled' || phase === 'WaitingForAgent' ? 'warn' : 'info';
}

export function recordPhase(c: ControllerContext, kind: FerryKind, obj: FerryObject<unknown, { phase?: string; error?: { code: string; message: string } }>, before: string | undefined, after: string | undefined): void {
  const book = c.operationLogs;
  const op = operationOf(kind, obj);
  if (!book || !op) return;
  if ((kind === 'Backup' || kind === 'Restore') && (before ?? 'New') === 'New') book.begin(op);
  const volume = volumeOf(kind, obj);
  const error = after === 'Failed' ? obj.status?.error : undefined;
  const what = volume ? 'volume' : `${kind} ${obj.metadata.namespace}/${obj.metadata.name}`;
  book.record(op, { level: levelOfPhase(after), source: 'coordinator', msg: `${what} ${before ?? 'New'} → ${after ?? 'New'}${error ? `: ${error.code}: ${error.message}` : ''}`, ...(volume ? { volume } : {}), ...(error ? { code: error.code } : {}) });
}

export function recordEvent(c: ControllerContext, kind: FerryKind, obj: FerryObject, e: EventOptions): void {
  const op = operationOf(kind, obj);
  if (!c.operationLogs || !op) return;
  const volume = volumeOf(kind, obj);
  c.operationLogs.record(op, { level: e.type === 'Warning' ? 'warn' : 'info', source: 'coordinator', msg: e.message, code: e.reason, ...(volume ? { volume } : {}) });
}

/** A hook's outcome, from the task that ran it (also an Event on the pod and the Backup). */
export function recordHook(c: ControllerContext, backupUid: string, line: { pod: string; ok: boolean; reason: string; message: string }): void {
  c.operationLogs?.record({ kind: 'Backup', uid: backupUid }, { level: line.ok ? 'info' : 'error', source: `hook/${line.pod}`, msg: line.message, code: line.reason });
}

/** The agent started a job (its first progress in phase RUNNING). */
export function recordJobStart(c: ControllerContext, kind: FerryKind, obj: FerryObject, node: string, jobId: string): void {
  const op = operationOf(kind, obj);
  const volume = volumeOf(kind, obj);
  if (!op) return;
  c.operationLogs?.record(op, { level: 'info', source: `agent/${node}`, msg: `job ${jobId} running`, ...(volume ? { volume } : {}) }, `start/${jobId}`);
}

/** What the agent reported when a job ended: outcome, error, and the first failed files. */
export function recordJobResult(c: ControllerContext, kind: FerryKind, obj: FerryObject, node: string, result: JobResult__Output): void {
  const book = c.operationLogs;
  const op = operationOf(kind, obj);
  if (!book || !op) return;
  const volume = volumeOf(kind, obj);
  const base = { source: `agent/${node}`, ...(volume ? { volume } : {}) };
  const lines: NewLine[] = [];
  if (result.outcome === 'error' && result.error) lines.push({ ...base, level: 'error', msg: `job ${result.jobId} failed: ${result.error.message}`, code: resourceErrorOf(result.error.code).code });
  else if (result.outcome === 'backup' && result.backup) {
    const s = result.backup.stats;
    lines.push({ ...base, level: 'info', msg: `job ${result.jobId} stored snapshot ${result.backup.snapshotId}${result.backup.parentSnapshotId ? ` (parent ${result.backup.parentSnapshotId})` : ''}: ${Number(s?.filesNew ?? 0)} new, ${Number(s?.filesChanged ?? 0)} changed, ${Number(s?.filesUnmodified ?? 0)} unmodified files; ${Number(s?.bytesAdded ?? 0)} bytes added` });
  } else if (result.outcome === 'restore' && result.restore) {
    const s = result.restore.stats;
    lines.push({ ...base, level: 'info', msg: `job ${result.jobId} restored ${Number(s?.filesRestored ?? 0)} files, ${Number(s?.bytesRestored ?? 0)} bytes` });
  }
  for (const f of result.fileErrors.slice(0, FILE_ERROR_LINES)) lines.push({ ...base, level: 'warn', msg: `${f.path}: ${f.message}`, code: 'FileError' });
  const more = result.fileErrorsTotal - Math.min(result.fileErrors.length, FILE_ERROR_LINES);
  if (more > 0) lines.push({ ...base, level: 'warn', msg: `${more} more file error(s) not listed`, code: 'FileError' });
  for (const l of lines) book.record(op, l, `result/${result.jobId}/${l.msg}`);
}
