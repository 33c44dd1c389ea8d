/**
 * Backup: New → InProgress → Completed | PartiallyFailed | Failed | Canceled. New accepts
 * the spec, sets up repositories and creates PodVolumeBackups; InProgress aggregates them.
 * Deleting a Backup (finalizer) deletes its PodVolumeBackups and, with purgeOnDelete,
 * would forget its snapshots (not supported yet by the engine: recorded, see below).
 */
import { BACKUP_DEFAULTS, isTerminalPhase, parseDuration, type V1alpha1Condition } from '@ferry/api';
import { isoTime } from '../clock.js';
import { setCondition } from '../conditions.js';
import { BACKUP_FINALIZER, LABELS, type ControllerContext } from '../context.js';
import { isCoordinatorError, messageOf } from '../errors.js';
import type { BackupObject, BackupStatus, PvbObject } from '../objects.js';
import { dispatch, type Decision, type PhaseHandlers } from '../state-machine.js';
import type { V1alpha1OperationPhase } from '@ferry/api';
import { aggregate } from './aggregate.js';
import { createPodVolumeBackups } from './backup-volumes.js';
import { involved } from './commit.js';

interface Ctx {
  readonly c: ControllerContext;
  readonly backup: BackupObject;
  readonly status: BackupStatus;
}

function reject(c: ControllerContext, backup: BackupObject, status: BackupStatus, reason: string, message: string): Decision<BackupStatus> {
  const now = isoTime(c.clock);
  let conditions = setCondition(status.conditions, { type: 'Accepted', status: 'False', reason, message }, now, backup.metadata.generation);
  conditions = setCondition(conditions, { type: 'Progressing', status: 'False', reason: 'Failed', message }, now);
  return {
    status: { ...status, phase: 'Failed', conditions, completionTimestamp: now, error: { code: reason, message, retriable: false } },
    events: [{ involved: involved('Backup', backup), type: 'Warning', reason, message }],
  };
}

function namespacesOf(c: ControllerContext, backup: BackupObject): { namespaces: string[]; foreign: string[] } {
  const own = backup.metadata.namespace ?? '';
  const namespaces = backup.spec.namespaces && backup.spec.namespaces.length > 0 ? [...backup.spec.namespaces] : [own];
  const foreign = own === c.settings.namespace ? [] : namespaces.filter((n) => n !== own);
  return { namespaces, foreign };
}

async function start({ c, backup, status }: Ctx): Promise<Decision<BackupStatus>> {
  if (backup.spec.cancel) return { status: { ...status, phase: 'Canceled', completionTimestamp: isoTime(c.clock) } };
  const { namespaces, foreign } = namespacesOf(c, backup);
  if (foreign.length > 0) return reject(c, backup, status, 'NamespaceNotAllowed', `Backup ${backup.metadata.namespace}/${backup.metadata.name} names namespace(s) ${foreign.join(', ')}; only Backups in ${c.settings.namespace} may back up other namespaces`);
  let location;
  try {
    location = await c.repositories.resolveLocation(backup.spec.location);
  } catch (err) {
    if (isCoordinatorError(err, 'LocationNotFound')) return reject(c, backup, status, backup.spec.location ? 'LocationNotFound' : 'NoDefaultLocation', err.message);
    throw err;
  }
  const selected = await createPodVolumeBackups(c, backup, location, namespaces);
  return { status: acceptedStatus(c, backup, status, location.metadata.name ?? '', selected), events: selected.events, requeueAfterMs: 1_000 };
}

function acceptedStatus(c: ControllerContext, backup: BackupObject, status: BackupStatus, location: string, s: Awaited<ReturnType<typeof createPodVolumeBackups>>): BackupStatus {
  const now = isoTime(c.clock);
  const gen = backup.metadata.generation;
  let conditions: V1alpha1Condition[] = setCondition(status.conditions, { type: 'Accepted', status: 'True', reason: 'Valid', message: 'the spec is valid' }, now, gen);
  conditions = setCondition(conditions, s.problems.length === 0
    ? { type: 'AnnotationsValid', status: 'True', reason: 'AnnotationsParsed', message: 'every annotation parsed' }
    : { type: 'AnnotationsValid', status: 'False', reason: 'MalformedAnnotation', message: s.problems.slice(0, 10).map((p) => `${p.objectKind} ${p.namespace}/${p.name}: ${p.key}=${JSON.stringify(p.value)}, expected ${p.expected}`).join('; ') }, now, gen);
  conditions = setCondition(conditions, s.created.length > 0
    ? { type: 'VolumesSelected', status: 'True', reason: 'VolumesFound', message: `${s.created.length} volumes selected, ${s.skipped.length} skipped` }
    : { type: 'VolumesSelected', status: 'False', reason: 'NoVolumesSelected', message: 'no pod volume matched; nothing to back up' }, now, gen);
  conditions = setCondition(conditions, { type: 'Progressing', status: 'True', reason: 'Started', message: 'volumes are being backed up' }, now);
  const ttl = parseDuration(backup.spec.ttl ?? BACKUP_DEFAULTS.ttl);
  const created = Date.parse(String(backup.metadata.creationTimestamp ?? now));
  return {
    ...status,
    phase: 'InProgress',
    observedGeneration: gen,
    conditions,
    location,
    startTimestamp: now,
    ...(ttl.ok ? { expiration: new Date(created + ttl.milliseconds).toISOString().replace(/\.\d{3}Z$/, 'Z') } : {}),
    counts: { total: s.created.length, new: s.created.length, inProgress: 0, completed: 0, partiallyFailed: 0, failed: 0, canceled: 0, skipped: s.skipped.length },
    skippedVolumes: s.skipped.slice(0, 1000),
    ...(s.problems.length > 0 ? { annotationProblems: s.problems.slice(0, 100) } : {}),
  };
}

async function running({ c, backup, status }: Ctx): Promise<Decision<BackupStatus>> {
  const pvbs = await c.kube.list<PvbObject>('PodVolumeBackup', backup.metadata.namespace, `${LABELS.backup}=${backup.metadata.name}`);
  if (backup.spec.cancel) await cancelVolumes(c, pvbs);
  const now = isoTime(c.clock);
  const agg = aggregate(pvbs.map((p) => ({ phase: p.status?.phase, progress: p.status?.progress, fileErrorsTotal: p.status?.fileErrorsTotal })), status.counts?.skipped ?? 0, backup.spec.cancel === true, now);
  const progress = JSON.stringify({ ...agg.progress, updatedAt: '' }) === JSON.stringify({ ...status.progress, updatedAt: '' }) && status.progress ? status.progress : agg.progress;
  const next: BackupStatus = { ...status, counts: agg.counts, progress, ...(agg.fileErrorsTotal > 0 ? { fileErrorsTotal: agg.fileErrorsTotal } : {}) };
  if (!agg.allTerminal) return { status: next, requeueAfterMs: c.settings.progressIntervalMs };
  return { status: finish(c, backup, next, agg.finalPhase, pvbs), events: [{ involved: involved('Backup', backup), type: agg.finalPhase === 'Completed' ? 'Normal' : 'Warning', reason: agg.finalPhase, message: summary(next) }] };
}

function summary(s: BackupStatus): string {
  const k = s.counts;
  return k ? `${k.completed} of ${k.total} volumes completed, ${k.partiallyFailed} partially failed, ${k.failed} failed, ${k.canceled} canceled, ${k.skipped} skipped; ${s.progress?.bytesDone ?? 0} bytes` : 'no volumes';
}

function finish(c: ControllerContext, backup: BackupObject, status: BackupStatus, phase: BackupStatus['phase'] & string, pvbs: readonly PvbObject[]): BackupStatus {
  const now = isoTime(c.clock);
  const message = summary(status);
  let conditions = setCondition(status.conditions, { type: 'Progressing', status: 'False', reason: phase, message }, now);
  const bad = pvbs.filter((p) => p.status?.phase === 'Failed');
  if (bad.length > 0) {
    const detail = bad.slice(0, 5).map((p) => `${p.spec.pod.name}/${p.spec.volume.name}: ${p.status?.error?.code ?? '?'}: ${p.status?.error?.message ?? ''}`).join('; ');
    conditions = setCondition(conditions, { type: 'Failed', status: 'True', reason: bad[0]?.status?.error?.code ?? 'MoverFailed', message: detail }, now);
  }
  const error = phase === 'Failed' && bad[0]?.status?.error ? { error: bad[0].status.error } : {};
  return { ...status, phase, conditions, completionTimestamp: now, observedGeneration: backup.metadata.generation, ...error };
}

async function cancelVolumes(c: ControllerContext, pvbs: readonly PvbObject[]): Promise<void> {
  for (const p of pvbs) {
    if (isTerminalPhase(p.status?.phase) || p.spec.cancel) continue;
    await c.kube.mergePatch('PodVolumeBackup', p.metadata.namespace ?? '', p.metadata.name ?? '', { spec: { cancel: true } });
  }
}

const done = async (): Promise<Decision<BackupStatus>> => ({});

const HANDLERS: PhaseHandlers<V1alpha1OperationPhase, Ctx, BackupStatus> = {
  New: start,
  InProgress: running,
  Completed: done,
  PartiallyFailed: done,
  Failed: done,
  Canceled: done,
};

export async function reconcileBackup(c: ControllerContext, backup: BackupObject): Promise<Decision<BackupStatus>> {
  if (backup.metadata.deletionTimestamp) return finalize(c, backup);
  if (!(backup.metadata.finalizers ?? []).includes(BACKUP_FINALIZER)) {
    await c.kube.mergePatch('Backup', backup.metadata.namespace ?? '', backup.metadata.name ?? '', { metadata: { finalizers: [...(backup.metadata.finalizers ?? []), BACKUP_FINALIZER] } });
    return { requeueAfterMs: 0 };
  }
  const status = backup.status ?? {};
  return dispatch(HANDLERS, status.phase ?? 'New', { c, backup, status });
}

/** Deletion: PodVolumeBackups go; purge is recorded as unsupported until the engine can forget by id. */
async function finalize(c: ControllerContext, backup: BackupObject): Promise<Decision<BackupStatus>> {
  if (!(backup.metadata.finalizers ?? []).includes(BACKUP_FINALIZER)) return {};
  const ns = backup.metadata.namespace ?? '';
  const name = backup.metadata.name ?? '';
  const pvbs = await c.kube.list<PvbObject>('PodVolumeBackup', ns, `${LABELS.backup}=${name}`);
  for (const p of pvbs) {
    const node = p.spec.node;
    if (!isTerminalPhase(p.status?.phase) && p.status?.attempt) c.hub.cancel(node, `${p.metadata.uid}.${p.status.attempt}`, `Backup ${ns}/${name} was deleted`);
    await c.kube.delete('PodVolumeBackup', ns, p.metadata.name ?? '');
  }
  const events = [];
  if (backup.spec.purgeOnDelete) {
    const snapshots = pvbs.map((p) => p.status?.snapshotId).filter((s): s is string => Boolean(s));
    const message = `spec.purgeOnDelete is set, but forgetting snapshots is not supported yet by the native engine (its mover's forget is unimplemented); ${snapshots.length} snapshot(s) stay in the repository: ${snapshots.map((s) => s.slice(0, 12)).join(', ')}`;
    c.log.warn('purge not supported', { namespace: ns, backup: name, snapshots: snapshots.length });
    events.push({ involved: involved('Backup', backup), type: 'Warning' as const, reason: 'PurgeNotSupported', message });
    const status = backup.status ?? {};
    const conditions = setCondition(status.conditions, { type: 'Failed', status: 'True', reason: 'PurgeNotSupported', message }, isoTime(c.clock));
    await c.kube.replaceStatus('Backup', backup, { ...status, conditions }).catch((err: unknown) => c.log.warn('recording PurgeNotSupported failed', { error: messageOf(err) }));
  }
  for (const e of events) await c.kube.event(e, c.clock);
  const finalizers = (backup.metadata.finalizers ?? []).filter((f) => f !== BACKUP_FINALIZER);
  await c.kube.mergePatch('Backup', ns, name, { metadata: { finalizers, resourceVersion: undefined } });
  return {};
}
