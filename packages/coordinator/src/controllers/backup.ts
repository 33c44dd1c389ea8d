/**
 * Backup: New → InProgress → Completed | PartiallyFailed | Failed | Canceled. New accepts
 * the spec, sets up repositories and creates PodVolumeBackups; InProgress aggregates them.
 * Deleting a Backup (finalizer) deletes its PodVolumeBackups and, with purgeOnDelete,
 * first forgets their snapshots in the repositories.
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
import { deleteBackupHelpers } from './unmounted-claims.js';
import { involved } from './commit.js';
import type { EventOptions } from '../cluster/cluster-state.js';
import { unavailableReason } from '../locations/controller.js';
import { forgetSnapshots } from '../purge.js';
import { driveHooks, forgetHookTasks, hookSummary } from './hooks.js';
import { cleanUpSnapshot, workNode } from './snapshot-volume.js';
import { logWhenEnded, operationId } from '../operation-logs/ended.js';
import { deleteLog } from '../operation-logs/store.js';

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
  // ImportBackup writes an imported Backup's status itself: running it would back up this cluster's pods.
  if (backup.metadata.labels?.[LABELS.imported] === 'true') return {};
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
  if (location.spec.accessMode === 'ReadOnly') {
    return reject(c, backup, status, 'LocationReadOnly', `Backup ${backup.metadata.namespace}/${backup.metadata.name}: BackupLocation ${location.metadata.name} has spec.accessMode ReadOnly, so no backup may write to it; name a ReadWrite location in spec.location`);
  }
  const unavailable = unavailableReason(location);
  if (unavailable) return reject(c, backup, status, 'LocationUnavailable', `Backup ${backup.metadata.namespace}/${backup.metadata.name}: ${unavailable}`);
  const selected = await createPodVolumeBackups(c, backup, location, namespaces);
  // Volumes already created are found again by name on the next pass; only the helpers' wait repeats.
  if (selected.waiting.length > 0) {
    c.log.debug('backup waits for helper pods', { backup: `${backup.metadata.namespace}/${backup.metadata.name}`, waiting: selected.waiting.slice(0, 5).join('; ') });
    return { requeueAfterMs: 2_000 };
  }
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
    // ttl 0 keeps the Backup until it is deleted by hand.
    ...(ttl.ok && ttl.milliseconds > 0 ? { expiration: new Date(created + ttl.milliseconds).toISOString().replace(/\.\d{3}Z$/, 'Z') } : {}),
    counts: { total: s.created.length, new: s.created.length, inProgress: 0, completed: 0, partiallyFailed: 0, failed: 0, canceled: 0, skipped: s.skipped.length },
    skippedVolumes: s.skipped.slice(0, 1000),
    ...(s.problems.length > 0 ? { annotationProblems: s.problems.slice(0, 100) } : {}),
  };
}

async function running({ c, backup, status }: Ctx): Promise<Decision<BackupStatus>> {
  const pvbs = await c.cluster.list<PvbObject>('PodVolumeBackup', backup.metadata.namespace, `${LABELS.backup}=${backup.metadata.name}`);
  if (backup.spec.cancel) await cancelVolumes(c, pvbs);
  const now = isoTime(c.clock);
  const agg = aggregate(pvbs.map((p) => ({ phase: p.status?.phase, progress: p.status?.progress, fileErrorsTotal: p.status?.fileErrorsTotal })), status.counts?.skipped ?? 0, backup.spec.cancel === true, now);
  const progress = JSON.stringify({ ...agg.progress, updatedAt: '' }) === JSON.stringify({ ...status.progress, updatedAt: '' }) && status.progress ? status.progress : agg.progress;
  const next: BackupStatus = { ...status, counts: agg.counts, progress, ...(agg.fileErrorsTotal > 0 ? { fileErrorsTotal: agg.fileErrorsTotal } : {}) };
  // Post hooks run after a pod's volumes ended, so the Backup finishes only once they are recorded.
  const hooks = await driveHooks(c, backup, pvbs);
  if (!agg.allTerminal || hooks.postPending) return { status: next, requeueAfterMs: c.settings.progressIntervalMs };
  forgetHookTasks(c, backup, pvbs);
  await deleteBackupHelpers(c, backup, namespacesOf(c, backup).namespaces);
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
  conditions = hooksCondition(conditions, pvbs, now);
  const error = phase === 'Failed' && bad[0]?.status?.error ? { error: bad[0].status.error } : {};
  return { ...status, phase, conditions, completionTimestamp: now, observedGeneration: backup.metadata.generation, ...error };
}

/** Condition HooksSucceeded: True when every hook that ran succeeded, False naming the failed ones (pod, container, exit code). */
function hooksCondition(conditions: V1alpha1Condition[], pvbs: readonly PvbObject[], now: string): V1alpha1Condition[] {
  const { ran, failed } = hookSummary(pvbs);
  if (ran === 0) return conditions;
  if (failed.length === 0) return setCondition(conditions, { type: 'HooksSucceeded', status: 'True', reason: 'HooksSucceeded', message: `${ran} hook(s) ran and succeeded` }, now);
  return setCondition(conditions, { type: 'HooksSucceeded', status: 'False', reason: 'HookFailed', message: `${failed.length} of ${ran} hook(s) failed: ${failed.slice(0, 5).join('; ')}` }, now);
}

async function cancelVolumes(c: ControllerContext, pvbs: readonly PvbObject[]): Promise<void> {
  for (const p of pvbs) {
    if (isTerminalPhase(p.status?.phase) || p.spec.cancel) continue;
    await c.cluster.mergePatch('PodVolumeBackup', p.metadata.namespace ?? '', p.metadata.name ?? '', { spec: { cancel: true } });
  }
}

/** Expiry is looked at again at least this often, so an edited expiration or a stepped clock is noticed. */
const EXPIRY_RECHECK_MS = 3_600_000;

/**
 * A finished Backup is deleted once status.expiration passed; the deletion then goes
 * through finalize(), which forgets the snapshots when spec.purgeOnDelete says so.
 */
async function expireWhenDue({ c, backup, status }: Ctx): Promise<Decision<BackupStatus>> {
  if (!status.expiration || backup.metadata.deletionTimestamp) return {};
  const left = Date.parse(status.expiration) - c.clock.now();
  if (left > 0) return { requeueAfterMs: Math.min(left, EXPIRY_RECHECK_MS) };
  const snapshots = backup.spec.purgeOnDelete ? ' and forgetting its snapshots (spec.purgeOnDelete)' : '; its snapshots stay (spec.purgeOnDelete is not set)';
  await c.cluster.event({ involved: involved('Backup', backup), type: 'Normal', reason: 'Expired', message: `status.expiration ${status.expiration} passed: deleting the Backup${snapshots}` }, c.clock);
  c.log.info('deleting an expired Backup', { namespace: backup.metadata.namespace, backup: backup.metadata.name, expiration: status.expiration });
  await c.cluster.delete('Backup', backup.metadata.namespace ?? '', backup.metadata.name ?? '');
  return {};
}

/** A finished Backup first stores its log (once), then waits for its expiration. */
async function ended(ctx: Ctx): Promise<Decision<BackupStatus>> {
  const expiry = expiryWait(ctx);
  // An expired Backup is deleted now: its log would go with it anyway.
  if (expiry === 0) return expireWhenDue(ctx);
  const logged = await logWhenEnded(ctx.c, 'Backup', ctx.backup);
  if (!logged) return expireWhenDue(ctx);
  const wait = [logged.requeueAfterMs, expiry].filter((w): w is number => w !== undefined);
  return wait.length > 0 ? { ...logged, requeueAfterMs: Math.min(...wait) } : logged;
}

/** How long until the expiry check should run (0: due now); undefined without an expiration. */
function expiryWait({ c, backup, status }: Ctx): number | undefined {
  if (!status.expiration || backup.metadata.deletionTimestamp) return undefined;
  return Math.min(Math.max(0, Date.parse(status.expiration) - c.clock.now()), EXPIRY_RECHECK_MS);
}

const HANDLERS: PhaseHandlers<V1alpha1OperationPhase, Ctx, BackupStatus> = {
  New: start,
  InProgress: running,
  Completed: ended,
  PartiallyFailed: ended,
  Failed: ended,
  Canceled: ended,
};

export async function reconcileBackup(c: ControllerContext, backup: BackupObject): Promise<Decision<BackupStatus>> {
  if (backup.metadata.deletionTimestamp) return finalize(c, backup);
  if (!(backup.metadata.finalizers ?? []).includes(BACKUP_FINALIZER)) {
    await c.cluster.mergePatch('Backup', backup.metadata.namespace ?? '', backup.metadata.name ?? '', { metadata: { finalizers: [...(backup.metadata.finalizers ?? []), BACKUP_FINALIZER] } });
    return { requeueAfterMs: 0 };
  }
  const status = backup.status ?? {};
  return dispatch(HANDLERS, status.phase ?? 'New', { c, backup, status });
}

/**
 * Deletion: running volumes are canceled; with spec.purgeOnDelete their snapshots are
 * forgotten first (after every volume stopped, so none finishes behind the purge). A failed
 * purge keeps the finalizer and the PodVolumeBackups (they hold the snapshot ids) and is
 * retried with backoff until it succeeds or spec.purgeOnDelete is removed.
 */
async function finalize(c: ControllerContext, backup: BackupObject): Promise<Decision<BackupStatus>> {
  if (!(backup.metadata.finalizers ?? []).includes(BACKUP_FINALIZER)) return {};
  const ns = backup.metadata.namespace ?? '';
  const name = backup.metadata.name ?? '';
  const pvbs = await c.cluster.list<PvbObject>('PodVolumeBackup', ns, `${LABELS.backup}=${name}`);
  const events: EventOptions[] = [];
  if (backup.spec.purgeOnDelete) {
    if (pvbs.some((p) => !isTerminalPhase(p.status?.phase))) {
      await cancelVolumes(c, pvbs);
      return { requeueAfterMs: 1_000 };
    }
    const purge = await purgeSnapshots(c, backup, pvbs);
    if (!purge.ok) return purge.decision;
    events.push(...purge.events);
  } else {
    for (const p of pvbs) if (!isTerminalPhase(p.status?.phase) && p.status?.attempt) c.hub.cancel(workNode(p), `${p.metadata.uid}.${p.status.attempt}`, `Backup ${ns}/${name} was deleted`);
  }
  // A snapshot in another namespace has no owner reference for the garbage collector to follow.
  for (const p of pvbs) await cleanUpSnapshot(c, p, p.status ?? {});
  for (const p of pvbs) await c.cluster.delete('PodVolumeBackup', ns, p.metadata.name ?? '');
  await removeLog(c, backup);
  for (const e of events) await c.cluster.event(e, c.clock);
  const finalizers = (backup.metadata.finalizers ?? []).filter((f) => f !== BACKUP_FINALIZER);
  await c.cluster.mergePatch('Backup', ns, name, { metadata: { finalizers, resourceVersion: undefined } });
  return {};
}

/** The log goes with its Backup; one the store refuses now is left to the location's sweep (locations/controller.ts). */
async function removeLog(c: ControllerContext, backup: BackupObject): Promise<void> {
  c.operationLogs?.forget(backup.metadata.uid ?? '');
  const location = backup.status?.location;
  if (!location) return;
  await deleteLog(c, location, operationId('Backup', backup)).catch((err: unknown) => {
    c.log.warn('deleting a Backup\'s log failed; the location sweep removes it later', { namespace: backup.metadata.namespace, backup: backup.metadata.name, location, error: messageOf(err) });
  });
}

const PURGE_TIMEOUT_MS = 15 * 60_000;
const PURGE_BACKOFF_MIN_MS = 5_000;
const PURGE_BACKOFF_MAX_MS = 5 * 60_000;

type PurgeOutcome = { ok: true; events: EventOptions[] } | { ok: false; decision: Decision<BackupStatus> };

/** Forgets the volumes' snapshots, one repository at a time; the first failure stops and is recorded. */
async function purgeSnapshots(c: ControllerContext, backup: BackupObject, pvbs: readonly PvbObject[]): Promise<PurgeOutcome> {
  const byRepository = new Map<string, string[]>();
  for (const p of pvbs) {
    const id = p.status?.snapshotId;
    if (id) byRepository.set(p.spec.repository, [...(byRepository.get(p.spec.repository) ?? []), id]);
  }
  const events: EventOptions[] = [];
  for (const [repository, snapshotIds] of byRepository) {
    try {
      const r = await forgetSnapshots({ repositories: c.repositories, movers: c.purgeMovers, repository, snapshotIds, signal: AbortSignal.timeout(PURGE_TIMEOUT_MS) });
      c.log.info('purged snapshots of a deleted Backup', { namespace: backup.metadata.namespace, backup: backup.metadata.name, repository, removed: r.removed.length, alreadyGone: r.alreadyGone.length });
      events.push({ involved: involved('Backup', backup), type: 'Normal', reason: 'Purged', message: `forgot ${r.removed.length} snapshot(s) in BackupRepository ${repository}${r.alreadyGone.length ? ` (${r.alreadyGone.length} already gone)` : ''}; their data is freed at the repository's next prune` });
    } catch (err) {
      // A repository this cluster only reads keeps its snapshots: the deletion goes on without forgetting them.
      if (isCoordinatorError(err, 'ReadOnly')) {
        events.push({ involved: involved('Backup', backup), type: 'Warning', reason: 'PurgeSkipped', message: `kept ${snapshotIds.length} snapshot(s) in BackupRepository ${repository}: ${err.message}` });
        continue;
      }
      return { ok: false, decision: purgeFailed(c, backup, repository, snapshotIds.length, err) };
    }
  }
  return { ok: true, events };
}

/** Condition Failed/PurgeFailed, a Warning Event, and a retry after a delay that doubles with the time already spent failing. */
function purgeFailed(c: ControllerContext, backup: BackupObject, repository: string, count: number, err: unknown): Decision<BackupStatus> {
  const code = (err as { code?: unknown }).code;
  const message = `forgetting ${count} snapshot(s) of this Backup in BackupRepository ${repository} failed${typeof code === 'string' ? ` (${code})` : ''}: ${messageOf(err)}; the Backup keeps its finalizer and is retried; remove spec.purgeOnDelete to delete it and keep the snapshots`;
  c.log.warn('purging snapshots failed; retrying', { namespace: backup.metadata.namespace, backup: backup.metadata.name, repository, error: messageOf(err) });
  const status = backup.status ?? {};
  const now = isoTime(c.clock);
  const previous = (status.conditions ?? []).find((x) => x.type === 'Failed');
  // A volume's Failed condition gives way, so lastTransitionTime marks the first purge failure.
  const kept = previous?.reason === 'PurgeFailed' ? status.conditions : (status.conditions ?? []).filter((x) => x.type !== 'Failed');
  const conditions = setCondition(kept, { type: 'Failed', status: 'True', reason: 'PurgeFailed', message }, now);
  const since = Date.parse(String(conditions.find((x) => x.type === 'Failed')?.lastTransitionTime ?? now));
  const delay = Math.min(PURGE_BACKOFF_MAX_MS, Math.max(PURGE_BACKOFF_MIN_MS, c.clock.now() - since));
  return {
    status: { ...status, conditions },
    events: [{ involved: involved('Backup', backup), type: 'Warning', reason: 'PurgeFailed', message }],
    requeueAfterMs: delay,
  };
}
