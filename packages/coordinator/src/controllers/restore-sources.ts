/**
 * Where a Restore may read from, checked before anything is restored. A Restore outside the
 * coordinator's namespace reads only its own namespace's data: every item's source namespace
 * (a Backup's volumes, or spec.snapshots[].namespace) must be its own, whatever
 * namespaceMapping says, so `namespaceMapping: {shop: mine}` cannot pull another tenant's
 * snapshots into `mine`. Every item's BackupRepository must hold that source namespace (a
 * PodVolumeBackup naming another namespace's repository is refused), an imported repository
 * must still carry the id it was imported with, and a volume whose snapshot was forgotten is
 * refused with that reason instead of failing on the agent.
 */
import type { ControllerContext } from '../context.js';
import { idMismatch, storedRepositoryId } from '../maintenance/readiness.js';
import type { RepositoryObject } from '../maintenance/schedule.js';
import { isImported } from '../repositories.js';
import type { RestoreObject } from '../objects.js';
import type { RestoreItem } from './restore-items.js';

export interface SourceRefusal {
  readonly reason: 'NamespaceNotAllowed' | 'RepositoryIdMismatch' | 'SnapshotForgotten';
  readonly message: string;
}

export async function refuseSources(c: ControllerContext, restore: RestoreObject, items: readonly RestoreItem[]): Promise<SourceRefusal | undefined> {
  const own = restore.metadata.namespace ?? '';
  const name = `Restore ${own}/${restore.metadata.name}`;
  if (own !== c.settings.namespace) {
    const foreign = [...new Set(items.filter((i) => i.sourceNamespace !== own).map((i) => i.sourceNamespace))];
    if (foreign.length > 0) return { reason: 'NamespaceNotAllowed', message: `${name} reads snapshots of namespace(s) ${foreign.join(', ')}; a Restore outside ${c.settings.namespace} restores only its own namespace's backups (create it in ${c.settings.namespace} to restore across namespaces)` };
  }
  const forgotten = items.filter((i) => i.forgotten);
  if (forgotten.length > 0) return { reason: 'SnapshotForgotten', message: `${name}: the snapshot(s) of ${forgotten.slice(0, 10).map((i) => `${i.sourceNamespace}/${i.pod ?? '?'}/${i.volume}`).join(', ')} were forgotten by retention or forget and cannot be restored; restore another Backup, or select only the volumes that remain (spec.selection.volumes; the Backup's SnapshotsForgotten condition lists them)` };
  for (const repository of [...new Set(items.map((i) => i.repository))]) {
    const repo = await c.cluster.get<RepositoryObject>('BackupRepository', c.settings.namespace, repository);
    if (!repo) continue; // the volume fails on its own with the repository named
    const wrong = items.filter((i) => i.repository === repository && i.sourceNamespace !== repo.spec.namespace);
    if (wrong.length > 0) return { reason: 'NamespaceNotAllowed', message: `${name}: BackupRepository ${repository} holds namespace ${repo.spec.namespace}, not ${wrong[0]!.sourceNamespace}; a volume is only restored from its own namespace's repository` };
    const mismatch = isImported(repo) ? await currentMismatch(c, repo) : undefined;
    if (mismatch) return { reason: 'RepositoryIdMismatch', message: `${name}: ${mismatch}` };
  }
  return undefined;
}

/** An imported repository's id read now; an unreadable store is left to the volume (it fails there with the store's error). */
async function currentMismatch(c: ControllerContext, repo: RepositoryObject): Promise<string | undefined> {
  try {
    return idMismatch(c, repo, await storedRepositoryId(c, repo));
  } catch {
    return undefined;
  }
}
