/**
 * `ferry_backup_last_success_timestamp_seconds` from the Backup objects themselves, not
 * from agent memory: recomputed at each scrape from the leader's cache, so it survives agent
 * and coordinator restarts and is the series the "backup missed" alert is built on.
 */
import type { BackupObject } from './objects.js';

export interface BackupSuccess {
  readonly namespace: string;
  /** The BackupSchedule that created the Backup; empty for Backups made by hand or the API. */
  readonly schedule: string;
  /** Unix seconds of the newest completion. */
  readonly seconds: number;
}

/**
 * The newest Completed Backup per backed-up namespace and schedule. PartiallyFailed does
 * not count: some volumes of such a backup are missing, which is what the alert is for.
 */
export function lastBackupSuccesses(backups: readonly BackupObject[], scheduleLabel: string): BackupSuccess[] {
  const newest = new Map<string, BackupSuccess>();
  for (const b of backups) {
    if (b.status?.phase !== 'Completed') continue;
    const seconds = Math.floor(Date.parse(String(b.status.completionTimestamp ?? '')) / 1000);
    if (!Number.isFinite(seconds)) continue;
    const schedule = b.metadata.labels?.[scheduleLabel] ?? '';
    for (const namespace of b.spec.namespaces ?? [b.metadata.namespace ?? '']) {
      const key = `${namespace}/${schedule}`;
      if ((newest.get(key)?.seconds ?? -1) < seconds) newest.set(key, { namespace, schedule, seconds });
    }
  }
  return [...newest.values()];
}
