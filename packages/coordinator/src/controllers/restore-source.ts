/**
 * Restore.spec.latest: which Backup "the newest" means. Resolved once (when the Restore
 * starts, and by the API before it creates one so the caller hears at once), then recorded
 * in status.backupName so later reconciles and new Backups do not change the answer.
 */
import type { V1alpha1RestoreLatest } from '@ferry/api';
import type { ClusterState } from '../cluster/cluster-state.js';
import { LABELS } from '../context.js';
import type { BackupObject } from '../objects.js';

export type LatestResolution =
  | { readonly found: true; readonly backupName: string }
  | { readonly found: false; readonly message: string };

/** The point in time a Backup's data shows: when it started (created, before it started). */
function backupTime(b: BackupObject): number {
  return new Date(b.status?.startTimestamp ?? b.metadata.creationTimestamp ?? 0).getTime() || 0;
}

/** Pure choice among a namespace's Backups: newest Completed first, then the filters. */
export function pickLatest(backups: readonly BackupObject[], latest: V1alpha1RestoreLatest, namespace: string): LatestResolution {
  const asOf = latest.asOf === undefined ? Infinity : Date.parse(latest.asOf);
  const matches = backups
    .filter((b) => b.status?.phase === 'Completed')
    .filter((b) => latest.schedule === undefined || b.metadata.labels?.[LABELS.schedule] === latest.schedule)
    .filter((b) => backupTime(b) <= asOf)
    .sort((a, b) => backupTime(b) - backupTime(a) || (b.metadata.name ?? '').localeCompare(a.metadata.name ?? ''));
  const previous = latest.previous ?? 0;
  const chosen = matches[previous];
  if (chosen) return { found: true, backupName: chosen.metadata.name ?? '' };
  return { found: false, message: noMatchMessage(latest, namespace, matches.length) };
}

function noMatchMessage(latest: V1alpha1RestoreLatest, namespace: string, count: number): string {
  const filters = [`in namespace ${namespace}`];
  if (latest.schedule !== undefined) filters.push(`created by BackupSchedule ${latest.schedule}`);
  if (latest.asOf !== undefined) filters.push(`started at or before ${latest.asOf}`);
  const previous = latest.previous ?? 0;
  const head = count === 0 ? `no Completed Backup ${filters.join(' ')}` : `only ${count} Completed Backup(s) ${filters.join(' ')}; previous: ${previous} needs ${previous + 1}`;
  return `${head}; list them with \`ferry backup list -n ${namespace} --phase Completed\`, or name one with backupName`;
}

export async function resolveLatest(cluster: ClusterState, namespace: string, latest: V1alpha1RestoreLatest): Promise<LatestResolution> {
  const selector = latest.schedule === undefined ? undefined : `${LABELS.schedule}=${latest.schedule}`;
  return pickLatest(await cluster.list<BackupObject>('Backup', namespace, selector), latest, namespace);
}
