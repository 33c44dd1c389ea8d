/**
 * Which namespaces a Restore reads from and restores into, and who vouched for it. A
 * Restore in the coordinator's namespace may use any. Elsewhere (a tenant's Restore) the own
 * namespace is always allowed; anything more needs the creator's rights checked when it was
 * created, which only two paths do: the restores.ferry.dev admission webhook (a Restore made
 * with kubectl) and the API (CreateRestore), both asking the real authorizer with the same
 * checks (`restoreAccessChecks`). The webhook records the verified requester in
 * CREATED_BY_ANNOTATION, overwriting whatever the request said, and refuses later changes
 * to it and to the fields below; the controller honours the wider reach only on Restores
 * that carry it.
 */
import { renamesNamespaces, restoreTargetNamespace } from '@ferry/api';
import type { RestoreObject } from '../objects.js';

/** Who created the Restore, as the API server authenticated them (set by the webhook alone). */
export const CREATED_BY_ANNOTATION = 'ferry.dev/created-by';

/** The spec fields that decide where a Restore reads and writes: fixed once it is admitted. */
export const PLACEMENT_FIELDS = ['backupName', 'latest', 'snapshots', 'namespaceMapping', 'namespacePrefix', 'namespaceSuffix'] as const;

type Spec = RestoreObject['spec'];

/** Source namespaces: the own one for a Backup (a tenant's Backup holds only its namespace), else the snapshots'. */
export function restoreSources(spec: Spec, own: string): string[] {
  const all = spec.snapshots ? spec.snapshots.map((s) => s.namespace) : [own];
  const chosen = spec.selection?.namespaces ? all.filter((n) => spec.selection!.namespaces!.includes(n)) : all;
  return [...new Set(chosen)].sort();
}

export function restoreTargets(spec: Spec, own: string): string[] {
  return [...new Set(restoreSources(spec, own).map((s) => restoreTargetNamespace(spec, s)))].sort();
}

/** Whether the Restore reaches beyond its own namespace (then a tenant's needs the creator's rights checked). */
export function reachesOtherNamespaces(spec: Spec, own: string): boolean {
  return renamesNamespaces(spec) || [...restoreSources(spec, own), ...restoreTargets(spec, own)].some((n) => n !== own);
}

export interface RestoreAccessCheck {
  readonly verb: 'get' | 'create';
  readonly resource: 'backups' | 'restores';
  readonly namespace: string;
}

/** What the creator of a Restore that reaches other namespaces must be allowed (docs/api.md, "Restoring across namespaces"). */
export function restoreAccessChecks(spec: Spec, own: string): RestoreAccessCheck[] {
  return [
    ...restoreTargets(spec, own).map((namespace) => ({ verb: 'create' as const, resource: 'restores' as const, namespace })),
    ...restoreSources(spec, own).map((namespace) => ({ verb: 'get' as const, resource: 'backups' as const, namespace })),
  ];
}

/** The admission-verified creator, when the Restore carries one. */
export function verifiedCreator(restore: RestoreObject): string | undefined {
  return restore.metadata.annotations?.[CREATED_BY_ANNOTATION] || undefined;
}
