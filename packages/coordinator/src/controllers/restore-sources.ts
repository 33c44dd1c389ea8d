/**
 * Where a Restore may read from and write to, checked before anything is restored. A Restore
 * outside the coordinator's namespace reads and writes only its own namespace, unless the
 * restores.ferry.dev webhook (or the API) checked its creator's rights on the others when it
 * was created (restore-namespaces.ts): then every item's source must be one it verified
 * (the own namespace for a Backup, spec.snapshots[].namespace) and every target one of
 * theirs, so `namespaceMapping: {shop: mine}` on an unverified Restore cannot pull another
 * tenant's snapshots into `mine`. Every item's BackupRepository must hold that source namespace (a
 * PodVolumeBackup naming another namespace's repository is refused), an imported repository
 * must still carry the id it was imported with, and a volume whose snapshot was forgotten is
 * refused with that reason instead of failing on the agent.
 */
import { targetNamespaceProblem } from '@ferry/api';
import type { ControllerContext } from '../context.js';
import { idMismatch, storedRepositoryId } from '../maintenance/readiness.js';
import type { RepositoryObject } from '../maintenance/schedule.js';
import { isImported } from '../repositories.js';
import type { RestoreObject } from '../objects.js';
import type { RestoreItem } from './restore-items.js';
import { CREATED_BY_ANNOTATION, reachesOtherNamespaces, restoreSources, restoreTargets, verifiedCreator } from './restore-namespaces.js';

export interface SourceRefusal {
  readonly reason: 'NamespaceNotAllowed' | 'RepositoryIdMismatch' | 'SnapshotForgotten' | 'InvalidTargetNamespace';
  readonly message: string;
}

export async function refuseSources(c: ControllerContext, restore: RestoreObject, items: readonly RestoreItem[]): Promise<SourceRefusal | undefined> {
  const own = restore.metadata.namespace ?? '';
  const name = `Restore ${own}/${restore.metadata.name}`;
  if (own !== c.settings.namespace) {
    const allowed = verifiedCreator(restore) ? restoreSources(restore.spec, own) : [own];
    const foreign = [...new Set(items.filter((i) => !allowed.includes(i.sourceNamespace)).map((i) => i.sourceNamespace))];
    if (foreign.length > 0) return { reason: 'NamespaceNotAllowed', message: `${name} reads snapshots of namespace(s) ${foreign.join(', ')}, which its admission did not check (${allowed.join(', ')}); a Restore outside ${c.settings.namespace} restores only its own namespace's backups unless the restores.ferry.dev webhook checked its creator may read the others (create it in ${c.settings.namespace} to restore across namespaces as an administrator)` };
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

/**
 * A tenant's Restore that reaches other namespaces without an admission-verified creator:
 * the webhook is missing, or the object predates it. Refused before anything is read.
 */
export function unverifiedReach(c: ControllerContext, restore: RestoreObject): string | undefined {
  const own = restore.metadata.namespace ?? '';
  if (own === c.settings.namespace || verifiedCreator(restore) || !reachesOtherNamespaces(restore.spec, own)) return undefined;
  const into = restoreTargets(restore.spec, own).filter((n) => n !== own);
  const from = restoreSources(restore.spec, own).filter((n) => n !== own);
  const reach = [...(into.length ? [`restores into ${into.join(', ')}`] : []), ...(from.length ? [`reads ${from.join(', ')}`] : []), ...(into.length + from.length === 0 ? ['renames namespaces'] : [])].join(' and ');
  return `Restore ${own}/${restore.metadata.name} ${reach}, but no admission checked its creator's rights there (no ${CREATED_BY_ANNOTATION} annotation): create it with the restores.ferry.dev webhook installed (deploy/base/webhook.yaml) or through the Ferry API, or in ${c.settings.namespace}`;
}

/** Every target must be a namespace name, and a tenant's must be among those its admission checked. */
export function refuseTargets(c: ControllerContext, restore: RestoreObject, items: readonly RestoreItem[]): SourceRefusal | undefined {
  const own = restore.metadata.namespace ?? '';
  const name = `Restore ${own}/${restore.metadata.name}`;
  for (const source of [...new Set(items.map((i) => i.sourceNamespace))]) {
    const problem = targetNamespaceProblem(restore.spec, source);
    if (problem) return { reason: 'InvalidTargetNamespace', message: `${name}: ${problem}` };
  }
  if (own === c.settings.namespace) return undefined;
  const allowed = verifiedCreator(restore) ? restoreTargets(restore.spec, own) : [own];
  const foreign = [...new Set(items.map((i) => i.targetNamespace).filter((t) => !allowed.includes(t)))];
  if (foreign.length > 0) return { reason: 'NamespaceNotAllowed', message: `${name} would restore into ${foreign.join(', ')}, which its admission did not check (${allowed.join(', ')}); only Restores in ${c.settings.namespace} may restore anywhere` };
  return undefined;
}
