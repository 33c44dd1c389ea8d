/**
 * Pods the webhook adopted for a Restore: once the scheduler bound one to a node, create
 * its PodVolumeRestores (deterministic names: a retry creates nothing twice) and nudge
 * the PodVolumeRestores and the Restore whenever the pod changes.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { isTerminalPhase, RESTORE_DEFAULTS } from '@ferry/api';
import { ANNOTATIONS_OUT, LABELS, objectKey, type ControllerContext } from '../context.js';
import type { PvrObject, RestoreObject } from '../objects.js';
import { childName } from './backup-volumes.js';
import { ITEM_ANNOTATION, restoreItems, type RestoreItem } from './restore-items.js';
import { initialRestoreHookAnnotations } from './restore-hooks.js';
import { CoordinatorError } from '../errors.js';

export async function reconcileRestoredPod(c: ControllerContext, namespace: string, name: string): Promise<void> {
  const pod = await c.cluster.getPod(namespace, name);
  const restoreName = pod?.metadata?.labels?.[LABELS.restoredBy];
  if (!pod || !restoreName || pod.metadata?.deletionTimestamp) return;
  const restoreNs = pod.metadata?.annotations?.[ANNOTATIONS_OUT.restoreNamespace] ?? namespace;
  c.enqueue(objectKey('Restore', restoreNs, restoreName));
  const existing = await c.cluster.list<PvrObject>('PodVolumeRestore', restoreNs, `${LABELS.podUid}=${pod.metadata?.uid}`);
  for (const p of existing) c.enqueue(objectKey('PodVolumeRestore', restoreNs, p.metadata.name ?? ''));
  if (!pod.spec?.nodeName) return;
  const restore = await c.cluster.get<RestoreObject>('Restore', restoreNs, restoreName);
  if (!restore || isTerminalPhase(restore.status?.phase) || restore.metadata.uid !== pod.metadata?.annotations?.[ANNOTATIONS_OUT.restoreUid]) return;
  const wanted = JSON.parse(pod.metadata?.annotations?.[ANNOTATIONS_OUT.restoreVolumes] ?? '{}') as Record<string, string>;
  const items = new Map((await restoreItems(c, restore)).map((i) => [i.key, i]));
  for (const [volume, key] of Object.entries(wanted)) {
    const item = items.get(key);
    // The pod's annotations are its creator's to write: only an item that goes to the pod's own namespace is restored there.
    if (!item || item.targetNamespace !== namespace || existing.some((p) => p.spec.target.name === volume)) continue;
    const created = await c.cluster.createOrGet<PvrObject>('PodVolumeRestore', await pvrBody(c, restore, pod, volume, item));
    c.enqueue(objectKey('PodVolumeRestore', restoreNs, created.metadata.name ?? ''));
  }
}

export async function pvrBody(c: ControllerContext, restore: RestoreObject, pod: V1Pod, volume: string, item: RestoreItem): Promise<PvrObject> {
  const ns = pod.metadata?.namespace ?? '';
  const podVolume = pod.spec?.volumes?.find((v) => v.name === volume);
  const claimName = podVolume?.persistentVolumeClaim?.claimName;
  const claim = claimName ? await c.cluster.getClaim(ns, claimName) : undefined;
  // The pod was admitted with this claim; until the claim shows up (caches, GitOps order) retry.
  if (claimName && !claim) throw new CoordinatorError('NotFound', `PersistentVolumeClaim ${ns}/${claimName} of restored pod ${ns}/${pod.metadata?.name ?? ''} not found yet`);
  const controller = pod.metadata?.ownerReferences?.find((o) => o.controller);
  return {
    metadata: {
      name: childName(restore.metadata.name ?? '', pod.metadata?.uid ?? '', volume),
      namespace: restore.metadata.namespace ?? '',
      labels: { [LABELS.restore]: restore.metadata.name ?? '', [LABELS.podUid]: pod.metadata?.uid ?? '' },
      annotations: { [ITEM_ANNOTATION]: item.key, ...initialRestoreHookAnnotations(restore, pod) },
      ownerReferences: [{ apiVersion: 'ferry.dev/v1alpha1', kind: 'Restore', name: restore.metadata.name ?? '', uid: restore.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      restore: restore.metadata.name ?? '',
      pod: { namespace: ns, name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '', ...(controller ? { controller: { kind: controller.kind, name: controller.name } } : {}) },
      node: pod.spec?.nodeName ?? '',
      target: {
        name: volume,
        kind: claimName ? 'persistentVolumeClaim' : podVolume?.emptyDir ? 'emptyDir' : 'csi',
        ...(claim ? { pvc: { name: claimName ?? '', uid: claim.metadata?.uid ?? '' } } : {}),
        ...(claim?.spec?.volumeName ? { pvName: claim.spec.volumeName } : {}),
        ...(claim?.spec?.volumeMode === 'Block' ? { volumeMode: 'Block' as const } : {}),
      },
      snapshotId: item.snapshotId,
      repository: item.repository,
      mover: item.mover,
      source: { namespace: item.sourceNamespace, volume: item.volume, ...(item.pod ? { pod: item.pod } : {}), ...(item.podVolumeBackup ? { podVolumeBackup: item.podVolumeBackup } : {}) },
      timeout: restore.spec.volumeTimeout ?? RESTORE_DEFAULTS.volumeTimeout,
    },
  };
}
