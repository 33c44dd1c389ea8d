/**
 * What a Restore restores: one item per snapshot (from its Backup's PodVolumeBackups, or
 * spec.snapshots), with where it came from and which namespace it goes to, and the pure
 * matching of a pod being created against the items not yet taken by another pod.
 */
import { COMMAND_VOLUME_KIND, restoreTargetNamespace, type V1alpha1Mover } from '@ferry/api';
import { LABELS, type ControllerContext } from '../context.js';
import type { PvbObject, RestoreObject } from '../objects.js';
import { Repositories } from '../repositories.js';
import { recordedFacts, type ClaimFacts } from '../claims/claim-facts.js';

/** On a PodVolumeRestore: the key of the item it restores. */
export const ITEM_ANNOTATION = 'restore.ferry.dev/item';

export interface RestoreItem {
  readonly key: string;
  readonly sourceNamespace: string;
  readonly targetNamespace: string;
  readonly pod?: string;
  readonly controller?: { readonly kind: string; readonly name: string };
  readonly volume: string;
  readonly claimName?: string;
  /** What the backed-up claim was (class, capacity, access modes, volume mode): the defaults of a new target claim. */
  readonly claim?: ClaimFacts & { readonly volumeMode?: 'Block' };
  readonly snapshotId: string;
  readonly repository: string;
  readonly mover: V1alpha1Mover;
  readonly podVolumeBackup?: string;
  /** A backup command's output (one file): restored only into the volume the target pod names in its annotation. */
  readonly commandFile?: string;
  /** Its snapshot was forgotten (PodVolumeBackup status.snapshotForgotten): a Restore of it is refused. */
  readonly forgotten?: boolean;
}

/** spec.backupName, or what spec.latest resolved to (status.backupName); empty before that. */
export function restoredBackupName(restore: RestoreObject): string {
  return restore.spec.backupName ?? restore.status?.backupName ?? '';
}

export async function restoreItems(c: ControllerContext, restore: RestoreObject): Promise<RestoreItem[]> {
  const target = (ns: string) => restoreTargetNamespace(restore.spec, ns);
  const sel = restore.spec.selection;
  const keep = (i: RestoreItem) => (!sel?.namespaces || sel.namespaces.includes(i.sourceNamespace)) && (!sel?.volumes || sel.volumes.includes(i.volume));
  if (restore.spec.snapshots) {
    return restore.spec.snapshots
      .map((s, index): RestoreItem => ({
        key: `snapshot-${index}`,
        sourceNamespace: s.namespace,
        targetNamespace: target(s.namespace),
        ...(s.pod ? { pod: s.pod } : {}),
        ...(s.controller ? { controller: s.controller } : {}),
        volume: s.volume,
        ...(s.claimName ? { claimName: s.claimName } : {}),
        snapshotId: s.snapshotId,
        repository: Repositories.repositoryName(s.location, s.namespace),
        mover: s.mover ?? 'native',
      }))
      .filter(keep);
  }
  const pvbs = await c.cluster.list<PvbObject>('PodVolumeBackup', restore.metadata.namespace, `${LABELS.backup}=${restoredBackupName(restore)}`);
  return pvbs
    .filter((p) => p.status?.snapshotId && (p.status.phase === 'Completed' || p.status.phase === 'PartiallyFailed'))
    .map((p): RestoreItem => ({
      key: p.metadata.name ?? '',
      sourceNamespace: p.spec.pod.namespace,
      targetNamespace: target(p.spec.pod.namespace),
      pod: p.spec.pod.name,
      ...(p.spec.pod.controller ? { controller: p.spec.pod.controller } : {}),
      volume: p.spec.volume.name,
      ...(p.spec.volume.pvc ? { claimName: p.spec.volume.pvc.name, claim: { ...recordedFacts(p.spec.volume.pvc), ...(p.spec.volume.volumeMode === 'Block' ? { volumeMode: 'Block' as const } : {}) } } : {}),
      snapshotId: p.status?.snapshotId ?? '',
      repository: p.spec.repository,
      mover: p.spec.mover,
      podVolumeBackup: p.metadata.name ?? '',
      ...(p.status?.snapshotForgotten ? { forgotten: true } : {}),
      ...(p.spec.volume.kind === COMMAND_VOLUME_KIND ? { commandFile: p.spec.volume.command?.fileName ?? p.spec.volume.name } : {}),
    }))
    .filter(keep)
    .sort((a, b) => a.key.localeCompare(b.key));
}

export interface PodForMatching {
  readonly name: string;
  readonly controller?: { readonly kind: string; readonly name: string } | undefined;
  readonly volumes: readonly { readonly name: string; readonly claimName?: string | undefined }[];
  /** The pod's backup.ferry.dev/backup-command-restore-volume: where backup-command output goes. */
  readonly commandRestoreVolume?: string | undefined;
}

/**
 * Pod volume name → item. PVC volumes match by claim name. Other volumes match by volume
 * name and controller owner; a StatefulSet pod (stable names) must also have the source
 * pod's name, and for other controllers an item of the same pod name is preferred.
 */
export function matchPod(pod: PodForMatching, items: readonly RestoreItem[], taken: ReadonlySet<string>): Map<string, RestoreItem> {
  const out = new Map<string, RestoreItem>();
  const used = new Set(taken);
  const volumes = items.filter((i) => i.commandFile === undefined);
  for (const v of pod.volumes) {
    const item = v.claimName !== undefined ? volumes.find((i) => !used.has(i.key) && i.claimName === v.claimName) : matchByOwner(pod, v.name, volumes, used);
    if (!item) continue;
    used.add(item.key);
    out.set(v.name, item);
  }
  const target = pod.commandRestoreVolume;
  // One item per volume: the named volume takes a backup command's file only when no volume snapshot went there.
  if (target !== undefined && !out.has(target) && pod.volumes.some((v) => v.name === target)) {
    const commands = items.filter((i) => i.commandFile !== undefined && !used.has(i.key) && sameOwner(i, pod) && (pod.controller?.kind !== 'StatefulSet' || i.pod === pod.name));
    const item = commands.find((i) => i.pod === pod.name) ?? commands[0];
    if (item) out.set(target, item);
  }
  return out;
}

function matchByOwner(pod: PodForMatching, volume: string, items: readonly RestoreItem[], used: ReadonlySet<string>): RestoreItem | undefined {
  const candidates = items.filter((i) => !used.has(i.key) && i.claimName === undefined && i.volume === volume && sameOwner(i, pod));
  if (pod.controller?.kind === 'StatefulSet') return candidates.find((i) => i.pod === pod.name);
  return candidates.find((i) => i.pod === pod.name) ?? candidates[0];
}

function sameOwner(item: RestoreItem, pod: PodForMatching): boolean {
  if (!item.controller || !pod.controller) return !item.controller && !pod.controller && item.pod === pod.name;
  return item.controller.kind === pod.controller.kind && item.controller.name === pod.controller.name;
}
