/**
 * Storing a finished operation's log, once: the Backup and Restore controllers call
 * logWhenEnded from their terminal phases. The log is the lines this coordinator kept in
 * memory (book.ts) plus a summary rebuilt from the volumes' status, so a coordinator
 * restart loses only the live lines (the stored log then says so), never a volume's
 * outcome or error. The outcome is condition LogStored: True naming the location and key;
 * False with LogLocationReadOnly or LogLocationUnknown (final), or LogStoreFailed while the
 * location does not answer (retried every 30 s for 10 minutes, then LogNotStored). The
 * operation's own phase never changes for it.
 */
import { isoTime } from '../clock.js';
import { findCondition, setCondition } from '../conditions.js';
import type { ControllerContext } from '../context.js';
import { LABELS } from '../context.js';
import type { FerryObject } from '../cluster/cluster-state.js';
import { involved } from '../controllers/commit.js';
import { hookRecord } from '../controllers/hooks.js';
import { messageOf } from '../errors.js';
import type { BackupObject, PvbObject, PvrObject, RestoreObject } from '../objects.js';
import type { Decision } from '../state-machine.js';
import type { V1alpha1Condition } from '@ferry/api';
import type { NewLine, OperationKind, OperationLogLine } from './book.js';
import type { OperationId } from './format.js';
import { describeOperation, logLocationName, writeLog } from './store.js';

const RETRY_MS = 30_000;
const GIVE_UP_MS = 10 * 60_000;
const FINAL_REASONS = new Set(['LogStored', 'LogLocationReadOnly', 'LogLocationUnknown', 'LogNotStored']);

type Operation = BackupObject | RestoreObject;
type OperationStatus = { phase?: string; conditions?: V1alpha1Condition[]; completionTimestamp?: string };

export function operationId(kind: OperationKind, obj: FerryObject): OperationId {
  return { kind, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name ?? '', uid: obj.metadata.uid ?? '' };
}

/** Whether the log was stored or will never be: nothing more to do for it. */
export function logSettled(status: OperationStatus | undefined): boolean {
  const c = findCondition(status?.conditions, 'LogStored');
  return c !== undefined && FINAL_REASONS.has(c.reason);
}

/** The decision that stores the log (status with condition LogStored), or undefined when it is settled. */
export async function logWhenEnded<S extends OperationStatus>(c: ControllerContext, kind: OperationKind, obj: FerryObject<unknown, S>): Promise<Decision<S> | undefined> {
  const status = (obj.status ?? {}) as S;
  if (obj.metadata.labels?.[LABELS.imported] === 'true' || logSettled(status)) return undefined;
  const op = operationId(kind, obj);
  const locationName = await logLocationName(c, op, obj as unknown as Operation);
  if (!locationName) return settle(c, obj, op, { status: 'False', reason: 'LogLocationUnknown', message: `${describeOperation(op)} ended before a BackupLocation was chosen, so its log is not kept; status.conditions and the Events say why it ended` });
  const location = await c.repositories.resolveLocation(locationName).catch(() => undefined);
  if (!location) return settle(c, obj, op, { status: 'False', reason: 'LogLocationUnknown', message: `BackupLocation ${locationName} of ${describeOperation(op)} no longer exists, so its log is not kept` });
  if (location.spec.accessMode === 'ReadOnly') return settle(c, obj, op, { status: 'False', reason: 'LogLocationReadOnly', message: `BackupLocation ${locationName} has spec.accessMode ReadOnly, so the log of ${describeOperation(op)} is not written there; status.conditions and the Events say how it went` });
  const lines = await composeLog(c, op, obj as unknown as Operation);
  try {
    const key = await writeLog(c, location, op, lines);
    c.log.info('operation log stored', { kind, namespace: op.namespace, name: op.name, location: locationName, lines: lines.length });
    return settle(c, obj, op, { status: 'True', reason: 'LogStored', message: `${lines.length} lines stored at BackupLocation ${locationName} as ${key}; read them with \`ferry ${kind.toLowerCase()} logs ${op.name} -n ${op.namespace}\`` });
  } catch (err) {
    const ended = Date.parse(status.completionTimestamp ?? isoTime(c.clock));
    const why = `writing the log of ${describeOperation(op)} to BackupLocation ${locationName} failed: ${messageOf(err)}`;
    c.log.warn('storing an operation log failed', { kind, namespace: op.namespace, name: op.name, location: locationName, error: messageOf(err) });
    if (c.clock.now() - ended >= GIVE_UP_MS) return settle(c, obj, op, { status: 'False', reason: 'LogNotStored', message: `${why}; gave up after ${GIVE_UP_MS / 60_000} minutes, the operation's outcome is in its status` });
    const previous = findCondition(status.conditions, 'LogStored');
    const conditions = setCondition(status.conditions, { type: 'LogStored', status: 'False', reason: 'LogStoreFailed', message: `${why}; retried every ${RETRY_MS / 1000} s for ${GIVE_UP_MS / 60_000} minutes` }, isoTime(c.clock));
    const events = previous?.reason === 'LogStoreFailed' ? [] : [{ involved: involved(kind, obj), type: 'Warning' as const, reason: 'LogStoreFailed', message: why }];
    return { status: { ...status, conditions }, events, requeueAfterMs: RETRY_MS };
  }
}

function settle<S extends OperationStatus>(c: ControllerContext, obj: FerryObject<unknown, S>, op: OperationId, condition: { status: 'True' | 'False'; reason: string; message: string }): Decision<S> {
  c.operationLogs?.forget(op.uid);
  const status = (obj.status ?? {}) as S;
  const conditions = setCondition(status.conditions, { type: 'LogStored', ...condition }, isoTime(c.clock));
  const events = condition.status === 'False' && condition.reason !== 'LogLocationUnknown' ? [{ involved: involved(op.kind, obj), type: 'Warning' as const, reason: condition.reason, message: condition.message }] : [];
  return { status: { ...status, conditions }, events };
}

async function composeLog(c: ControllerContext, op: OperationId, obj: Operation): Promise<OperationLogLine[]> {
  const now = new Date(c.clock.now()).toISOString();
  const at = (l: NewLine): OperationLogLine => ({ time: now, ...l });
  const kept = c.operationLogs?.peek(op) ?? { lines: [], complete: false };
  const out: OperationLogLine[] = [];
  if (!kept.complete) out.push(at({ level: 'warn', source: 'coordinator', msg: `this coordinator did not see ${describeOperation(op)} from its start (it restarted or took over leadership): the lines before ${kept.lines[0]?.time ?? now} are lost; the volume summary below is complete` }));
  out.push(...kept.lines);
  const volumes = op.kind === 'Backup' ? await backupVolumeLines(c, op) : await restoreVolumeLines(c, op);
  out.push(...volumes.map(at));
  const status = obj.status ?? {};
  const progressing = findCondition(status.conditions, 'Progressing');
  const failed = findCondition(status.conditions, 'Failed');
  const error = status.error;
  const level = status.phase === 'Completed' ? 'info' : status.phase === 'Canceled' || status.phase === 'PartiallyFailed' ? 'warn' : 'error';
  const detail = error ? `${error.code}: ${error.message}` : failed?.message ?? progressing?.message ?? '';
  out.push(at({ level, source: 'coordinator', msg: `${describeOperation(op)} ended ${status.phase ?? 'New'}${detail ? `: ${detail}` : ''}`, ...(error?.code ? { code: error.code } : {}) }));
  return out;
}

function owned(o: FerryObject, uid: string): boolean {
  return (o.metadata.ownerReferences ?? []).some((r) => r.uid === uid);
}

async function backupVolumeLines(c: ControllerContext, op: OperationId): Promise<NewLine[]> {
  const pvbs = (await c.cluster.list<PvbObject>('PodVolumeBackup', op.namespace, `${LABELS.backup}=${op.name}`)).filter((p) => owned(p, op.uid));
  const lines: NewLine[] = [];
  for (const p of pvbs) {
    const volume = `${p.spec.pod.namespace ?? op.namespace}/${p.spec.pod.name}/${p.spec.volume.name}`;
    for (const which of ['pre', 'post'] as const) {
      const h = hookRecord(p, which);
      if (h && h.outcome !== 'Pending') lines.push({ level: h.outcome === 'Failed' ? 'error' : 'info', source: `hook/${p.spec.pod.name}`, volume, msg: `${which} hook ${h.outcome}${h.message ? `: ${h.message}` : ''}`, ...(h.outcome === 'Failed' ? { code: 'HookFailed' } : {}) });
    }
    lines.push(volumeLine(volume, p.status, p.status?.snapshotId ? `snapshot ${p.status.snapshotId}, ${p.status.stats?.bytesAdded ?? 0} bytes added` : ''));
  }
  return lines;
}

async function restoreVolumeLines(c: ControllerContext, op: OperationId): Promise<NewLine[]> {
  const pvrs = (await c.cluster.list<PvrObject>('PodVolumeRestore', op.namespace, `${LABELS.restore}=${op.name}`)).filter((p) => owned(p, op.uid));
  return pvrs.map((p) => volumeLine(`${p.metadata.namespace ?? op.namespace}/${p.spec.pod.name}/${p.spec.target.name}`, p.status, p.status?.phase === 'Completed' ? `from snapshot ${p.spec.snapshotId ?? ''}` : ''));
}

function volumeLine(volume: string, status: { phase?: string; error?: { code: string; message: string }; fileErrorsTotal?: number } | undefined, done: string): NewLine {
  const phase = status?.phase ?? 'New';
  const level = phase === 'Completed' ? 'info' : phase === 'Failed' ? 'error' : 'warn';
  const files = status?.fileErrorsTotal ? `; ${status.fileErrorsTotal} file(s) failed` : '';
  const why = status?.error ? `: ${status.error.code}: ${status.error.message}` : done ? `: ${done}` : '';
  return { level, source: 'coordinator', volume, msg: `volume ${phase}${why}${files}`, ...(status?.error?.code ? { code: status.error.code } : {}) };
}
