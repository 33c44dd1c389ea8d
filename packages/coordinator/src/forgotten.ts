/**
 * Backups must not outlive their snapshots. After snapshots are forgotten in a repository
 * (a schedule's retention, the API's ForgetSnapshots), each PodVolumeBackup that held one
 * gets status.snapshotForgotten; a Backup whose snapshots are now all forgotten is deleted
 * (Event SnapshotsForgotten: restoring it could only fail), and one that keeps some gets
 * condition SnapshotsForgotten naming the volumes that remain. A Restore of a forgotten
 * volume is refused up front (controllers/restore-sources.ts).
 */
import { isoTime } from './clock.js';
import { setCondition } from './conditions.js';
import { LABELS, type ControllerContext } from './context.js';
import type { ClusterState, EventOptions } from './cluster/cluster-state.js';
import type { Clock } from './clock.js';
import { involved, retryOnConflict } from './controllers/commit.js';
import type { BackupObject, PvbObject } from './objects.js';

export interface MarkForgottenOptions {
  readonly cluster: ClusterState;
  readonly clock: Clock;
  /** The BackupRepository the snapshots were forgotten in. */
  readonly repository: string;
  readonly snapshotIds: readonly string[];
  /** Who forgot them, for messages: "retention of BackupSchedule shop/nightly". */
  readonly by: string;
}

export interface MarkForgottenResult {
  /** `namespace/name` of Backups deleted because nothing of them is left. */
  readonly deleted: readonly string[];
  /** `namespace/name` of Backups that keep some volumes. */
  readonly partial: readonly string[];
}

export async function markForgotten(o: MarkForgottenOptions): Promise<MarkForgottenResult> {
  if (o.snapshotIds.length === 0) return { deleted: [], partial: [] };
  const ids = new Set(o.snapshotIds);
  const hit = (await o.cluster.list<PvbObject>('PodVolumeBackup')).filter((p) => p.spec.repository === o.repository && p.status?.snapshotId && ids.has(p.status.snapshotId));
  const now = isoTime(o.clock);
  for (const p of hit) if (!p.status?.snapshotForgotten) await markVolume(o.cluster, p, now);
  const backups = [...new Set(hit.map((p) => `${p.metadata.namespace ?? ''}/${p.spec.backup}`))].sort();
  const deleted: string[] = [];
  const partial: string[] = [];
  for (const key of backups) {
    const [namespace = '', name = ''] = key.split('/');
    const outcome = await settleBackup(o, namespace, name);
    if (outcome === 'deleted') deleted.push(key);
    if (outcome === 'partial') partial.push(key);
  }
  return { deleted, partial };
}

async function markVolume(cluster: ClusterState, pvb: PvbObject, now: string): Promise<void> {
  await retryOnConflict(async () => {
    const fresh = await cluster.get<PvbObject>('PodVolumeBackup', pvb.metadata.namespace ?? '', pvb.metadata.name ?? '');
    if (!fresh?.status || fresh.status.snapshotForgotten) return;
    await cluster.replaceStatus('PodVolumeBackup', fresh, { ...fresh.status, snapshotForgotten: now });
  });
}

const volumeName = (p: PvbObject): string => `${p.spec.pod.namespace}/${p.spec.pod.name}/${p.spec.volume.name}`;

/** Deletes the Backup when none of its snapshots is left, else records which volumes remain. */
async function settleBackup(o: MarkForgottenOptions, namespace: string, name: string): Promise<'deleted' | 'partial' | 'none'> {
  const backup = await o.cluster.get<BackupObject>('Backup', namespace, name);
  if (!backup || backup.metadata.deletionTimestamp) return 'none';
  const volumes = (await o.cluster.list<PvbObject>('PodVolumeBackup', namespace, `${LABELS.backup}=${name}`)).filter((p) => p.status?.snapshotId);
  const gone = volumes.filter((p) => p.status?.snapshotForgotten);
  const left = volumes.filter((p) => !p.status?.snapshotForgotten);
  const on = involved('Backup', backup);
  if (left.length === 0) {
    const message = `all ${gone.length} snapshot(s) of this Backup were forgotten by ${o.by} in BackupRepository ${o.repository}; nothing of it can be restored, so the Backup is deleted`;
    await o.cluster.event({ involved: on, type: 'Normal', reason: 'SnapshotsForgotten', message }, o.clock);
    await o.cluster.delete('Backup', namespace, name);
    return 'deleted';
  }
  const message = `the snapshots of ${gone.length} of ${volumes.length} volume(s) were forgotten (${gone.slice(0, 20).map(volumeName).join(', ')}); these can still be restored: ${left.slice(0, 50).map(volumeName).join(', ')}${left.length > 50 ? ` and ${left.length - 50} more` : ''}`;
  await writeCondition(o, backup, message);
  const event: EventOptions = { involved: on, type: 'Warning', reason: 'SnapshotsForgotten', message: `${o.by}: ${message}` };
  await o.cluster.event(event, o.clock);
  return 'partial';
}

async function writeCondition(o: MarkForgottenOptions, backup: BackupObject, message: string): Promise<void> {
  await retryOnConflict(async () => {
    const fresh = await o.cluster.get<BackupObject>('Backup', backup.metadata.namespace ?? '', backup.metadata.name ?? '');
    if (!fresh) return;
    const status = fresh.status ?? {};
    const conditions = setCondition(status.conditions, { type: 'SnapshotsForgotten', status: 'True', reason: 'PartiallyForgotten', message }, isoTime(o.clock));
    await o.cluster.replaceStatus('Backup', fresh, { ...status, conditions });
  });
}

/** markForgotten from a controller, never failing the caller: the snapshots are gone either way, and a log line says what was not recorded. */
export async function recordForgotten(c: Pick<ControllerContext, 'cluster' | 'clock' | 'log'>, options: Omit<MarkForgottenOptions, 'cluster' | 'clock'>): Promise<MarkForgottenResult> {
  try {
    return await markForgotten({ ...options, cluster: c.cluster, clock: c.clock });
  } catch (err) {
    c.log.warn('recording forgotten snapshots on their Backups failed', { repository: options.repository, by: options.by, error: err instanceof Error ? err.message : String(err) });
    return { deleted: [], partial: [] };
  }
}
