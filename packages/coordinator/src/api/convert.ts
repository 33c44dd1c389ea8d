/**
 * Custom resources → public API messages. The API shows what kubectl shows: every field
 * comes from the object's spec, status or metadata, with the CRD defaults filled in where
 * the spec leaves a field out.
 */
import {
  BACKUP_DEFAULTS,
  BACKUP_SCHEDULE_DEFAULTS,
  type Backup,
  type BackupRepository,
  type MaintenanceRun,
  type Progress,
  type Restore,
  type RetentionPolicy,
  type Schedule,
  type V1alpha1BackupSchedule,
  type V1alpha1Progress,
  type V1alpha1RetentionPolicy,
  type V1alpha1VolumeCounts,
} from '@ferry/api';
import type { FerryObject } from '../cluster/cluster-state.js';
import { LABELS } from '../context.js';
import type { BackupObject, PvbObject, PvrObject, RestoreObject } from '../objects.js';
import { locationUrl, type LocationObject, type RepositoryObject } from '../repositories.js';
import { restoredBackupName } from '../controllers/restore-items.js';
import { restoreHookOutcomes } from '../controllers/restore-hooks.js';

/** Set by the API on what it creates (API_ANNOTATIONS.createdBy in backups-service.ts). */
export const API_CREATED_BY = 'api.ferry.dev/created-by';

export type ScheduleObject = FerryObject<V1alpha1BackupSchedule['spec'], V1alpha1BackupSchedule['status']>;

export function rfc3339(t: string | Date | undefined): string {
  if (t === undefined) return '';
  return (t instanceof Date ? t : new Date(t)).toISOString().replace(/\.000Z$/, 'Z');
}

function progressOf(p: V1alpha1Progress | undefined, counts?: V1alpha1VolumeCounts): Progress {
  return {
    bytesDone: p?.bytesDone ?? 0,
    bytesTotal: p?.totalBytes ?? 0,
    filesDone: p?.filesDone ?? 0,
    filesTotal: p?.totalFiles ?? 0,
    volumesTotal: counts?.total ?? 0,
    volumesDone: counts ? counts.completed + counts.partiallyFailed : 0,
    volumesFailed: counts ? counts.failed + counts.canceled : 0,
  };
}

const errorText = (e: { code: string; message: string } | undefined): string => (e ? `${e.code}: ${e.message}` : '');

export function backupMessage(b: BackupObject, volumes: readonly PvbObject[]): Backup {
  const s = b.status;
  const m = b.metadata;
  return {
    namespace: m.namespace ?? '',
    name: m.name ?? '',
    uid: m.uid ?? '',
    phase: s?.phase ?? 'New',
    location: s?.location ?? b.spec.location ?? '',
    mover: b.spec.mover ?? BACKUP_DEFAULTS.mover,
    schedule: m.labels?.[LABELS.schedule] ?? '',
    createdAt: rfc3339(m.creationTimestamp),
    startedAt: rfc3339(s?.startTimestamp),
    completedAt: rfc3339(s?.completionTimestamp),
    progress: progressOf(s?.progress, s?.counts),
    volumes: volumes.map(volumeBackupMessage),
    skipped: (s?.skippedVolumes ?? []).map((v) => ({ pod: v.pod, volume: v.volume, reason: v.reason })),
    message: s?.error?.message ?? '',
    tags: [...(b.spec.tags ?? [])],
    excludes: [...(b.spec.excludes ?? [])],
    purgeOnDelete: b.spec.purgeOnDelete === true,
    labels: { ...(m.labels ?? {}) },
    createdBy: createdBy(m),
  };
}

/**
 * The API records its authenticated caller in an annotation and a BackupSchedule labels its
 * Backups; for anything else (kubectl, GitOps) the field manager of the create is the best
 * the object itself tells.
 */
function createdBy(m: BackupObject['metadata']): string {
  const byApi = m.annotations?.[API_CREATED_BY];
  if (byApi) return byApi;
  const schedule = m.labels?.[LABELS.schedule];
  if (schedule) return `schedule/${schedule}`;
  const manager = m.managedFields?.find((f) => f.operation === 'Update' || f.operation === 'Apply')?.manager;
  return manager ? `manager/${manager}` : '';
}

function volumeBackupMessage(v: PvbObject): Backup['volumes'] extends (infer T)[] | undefined ? T : never {
  const s = v.status;
  return {
    pod: v.spec.pod.name,
    volume: v.spec.volume.name,
    node: v.spec.node,
    phase: s?.phase ?? 'New',
    snapshotId: s?.snapshotId ?? '',
    progress: progressOf(s?.progress),
    bytesAdded: s?.stats?.bytesAdded ?? 0,
    bytesDeduplicated: s?.stats?.bytesDeduplicated ?? 0,
    error: errorText(s?.error),
    resource: v.metadata.name ?? '',
    namespace: v.spec.pod.namespace,
    claimName: v.spec.volume.pvc?.name ?? '',
    kind: v.spec.volume.kind,
  };
}

export function restoreMessage(r: RestoreObject, volumes: readonly PvrObject[]): Restore {
  const s = r.status;
  const m = r.metadata;
  return {
    namespace: m.namespace ?? '',
    name: m.name ?? '',
    uid: m.uid ?? '',
    backup: restoredBackupName(r),
    source: r.spec.latest ? 'latest' : r.spec.snapshots ? 'snapshots' : 'backup',
    phase: s?.phase ?? 'New',
    createdAt: rfc3339(m.creationTimestamp),
    startedAt: rfc3339(s?.startTimestamp),
    completedAt: rfc3339(s?.completionTimestamp),
    progress: progressOf(s?.progress, s?.counts),
    claims: (s?.claims ?? []).map((k) => ({ namespace: k.namespace, name: k.name, sourceClaim: k.sourceClaim, created: k.created === true, phase: k.phase, reason: k.reason ?? '', message: k.message ?? '' })),
    volumes: volumes.map((v) => ({
      namespace: v.spec.pod.namespace,
      pod: v.spec.pod.name,
      volume: v.spec.target.name,
      node: v.spec.node,
      phase: v.status?.phase ?? 'New',
      snapshotId: v.spec.snapshotId,
      progress: progressOf(v.status?.progress),
      error: errorText(v.status?.error),
      resource: v.metadata.name ?? '',
    })),
    message: s?.error?.message ?? '',
    namespaceMapping: { ...(r.spec.namespaceMapping ?? {}) },
    namespacePrefix: r.spec.namespacePrefix ?? '',
    namespaceSuffix: r.spec.namespaceSuffix ?? '',
    skipHooks: r.spec.hooks === 'Skip',
    hooks: restoreHookOutcomes(volumes).map(({ namespace, pod, record }) => ({ namespace, pod, container: record.container ?? '', outcome: record.outcome, exitCode: record.exitCode ?? -1, onError: record.onError ?? '', message: record.message ?? '' })),
  };
}

export function retentionMessage(p: V1alpha1RetentionPolicy | undefined): RetentionPolicy {
  return {
    ...(p?.keepLast !== undefined ? { keepLast: p.keepLast } : {}),
    ...(p?.keepHourly !== undefined ? { keepHourly: p.keepHourly } : {}),
    ...(p?.keepDaily !== undefined ? { keepDaily: p.keepDaily } : {}),
    ...(p?.keepWeekly !== undefined ? { keepWeekly: p.keepWeekly } : {}),
    ...(p?.keepMonthly !== undefined ? { keepMonthly: p.keepMonthly } : {}),
    ...(p?.keepYearly !== undefined ? { keepYearly: p.keepYearly } : {}),
    keepWithin: p?.keepWithin ?? '',
    keepTags: [...(p?.keepTags ?? [])],
  };
}

export function scheduleMessage(o: ScheduleObject): Schedule {
  const s = o.status;
  return {
    namespace: o.metadata.namespace ?? '',
    name: o.metadata.name ?? '',
    cron: o.spec.schedule,
    timeZone: o.spec.timeZone ?? BACKUP_SCHEDULE_DEFAULTS.timeZone,
    paused: o.spec.paused === true,
    concurrencyPolicy: o.spec.concurrencyPolicy ?? BACKUP_SCHEDULE_DEFAULTS.concurrencyPolicy,
    retention: retentionMessage(o.spec.retention),
    // The spec says whether it is paused before the schedule controller has caught up.
    phase: s?.phase === 'Invalid' ? 'Invalid' : o.spec.paused ? 'Paused' : 'Active',
    lastScheduleTime: rfc3339(s?.lastScheduleTime),
    lastSuccessfulTime: rfc3339(s?.lastSuccessfulTime),
    nextScheduleTime: rfc3339(s?.nextScheduleTime),
    lastBackup: s?.lastBackup ?? '',
    active: [...(s?.active ?? [])],
    message: s?.conditions?.find((c) => c.status === 'False' || c.type === 'Invalid')?.message ?? '',
    maxCatchUp: o.spec.maxCatchUp ?? BACKUP_SCHEDULE_DEFAULTS.maxCatchUp,
    startWindow: o.spec.startWindow ?? '',
  };
}

type MaintenanceStatus = { time: string | Date; result: string; message?: string; bytesFreed?: number; [k: string]: unknown };

function maintenanceRun(r: MaintenanceStatus | undefined): MaintenanceRun | null {
  if (!r) return null;
  const num = (k: string): number => (typeof r[k] === 'number' ? (r[k] as number) : 0);
  return {
    startedAt: typeof r['startTime'] === 'string' ? rfc3339(r['startTime']) : '',
    completedAt: rfc3339(r.time),
    result: r.result,
    message: r.message ?? '',
    errors: num('errors'),
    bytesFreed: r.bytesFreed ?? 0,
    readDataPercent: num('readDataPercent'),
  };
}

/**
 * The repository as the API shows it. The maintenance controller owns lastCheck/lastPrune
 * and the next-run times; fields it does not write (yet) stay empty.
 */
export function repositoryMessage(r: RepositoryObject, location: LocationObject | undefined): BackupRepository {
  const s = r.status as (RepositoryObject['status'] & { nextCheckTime?: string; nextPruneTime?: string }) | undefined;
  let url = '';
  try {
    url = location ? locationUrl(location, r.spec.path ?? r.spec.namespace) : '';
  } catch {
    url = '';
  }
  return {
    name: r.metadata.name ?? '',
    namespace: r.spec.namespace,
    location: r.spec.location,
    mover: r.spec.mover,
    phase: s?.phase ?? 'New',
    url,
    lastCheck: maintenanceRun(s?.lastCheck as MaintenanceStatus | undefined),
    lastPrune: maintenanceRun(s?.lastPrune as MaintenanceStatus | undefined),
    sizeBytes: s?.sizeBytes ?? 0,
    snapshotCount: s?.snapshotCount ?? 0,
    nextCheckTime: rfc3339(s?.nextCheckTime),
    nextPruneTime: rfc3339(s?.nextPruneTime),
  };
}
