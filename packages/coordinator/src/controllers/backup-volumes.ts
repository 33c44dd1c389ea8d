/**
 * A Backup's New step: list the selected pods of each namespace, choose their volumes with
 * the one typed annotation parser (`selectPodVolumes`), and create one PodVolumeBackup per
 * volume with a deterministic name, so a retry after a crash creates nothing twice.
 */
import { createHash } from 'node:crypto';
import { BACKUP_DEFAULTS, COMMAND_VOLUME_KIND, formatAnnotationProblem, type BackupCommandAnnotation, selectPodVolumes, snapshotModeOf, type SnapshotModeAnnotation, type PvcLike, type V1alpha1AnnotationProblem, type V1alpha1SkippedVolume } from '@ferry/api';
import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { claimFacts } from '../claims/claim-facts.js';
import type { ControllerContext } from '../context.js';
import { LABELS } from '../context.js';
import type { EventOptions } from '../cluster/cluster-state.js';
import type { BackupObject, PvbObject } from '../objects.js';
import type { LocationObject, RepositoryObject } from '../repositories.js';
import { initialHookAnnotations } from './hooks.js';
import { selectorString } from './selectors.js';
import { selectUnmountedClaims } from './unmounted-claims.js';

export interface VolumeSelectionResult {
  readonly created: PvbObject[];
  readonly skipped: V1alpha1SkippedVolume[];
  readonly problems: V1alpha1AnnotationProblem[];
  readonly events: EventOptions[];
  /** Unmounted claims whose helper pod is not running yet: the Backup stays New until they are. */
  readonly waiting: string[];
}

export function childName(parent: string, ...parts: string[]): string {
  const hash = createHash('sha256').update(parts.join('/')).digest('hex').slice(0, 10);
  return `${parent.slice(0, 230).replace(/[-.]+$/, '')}-${hash}`;
}

export async function createPodVolumeBackups(c: ControllerContext, backup: BackupObject, location: LocationObject, namespaces: readonly string[]): Promise<VolumeSelectionResult> {
  const out: VolumeSelectionResult = { created: [], skipped: [], problems: [], events: [], waiting: [] };
  for (const namespace of namespaces) {
    const repository = await c.repositories.ensure(location, namespace, backup.spec.mover ?? BACKUP_DEFAULTS.mover);
    const selected = await c.cluster.listPods(namespace, selectorString(backup.spec.labelSelector));
    const { pods, missing } = namedPods(backup, namespace, selected);
    for (const name of missing) out.skipped.push({ namespace, pod: name, volume: '*', reason: 'PodNotFound', message: `pod ${namespace}/${name} named in spec.pods does not exist${backup.spec.labelSelector ? ' or does not match spec.labelSelector' : ''}` });
    const claims = new Map<string, V1PersistentVolumeClaim>((await c.cluster.listClaims(namespace)).map((p) => [p.metadata?.name ?? '', p]));
    const history = await c.cluster.list<PvbObject>('PodVolumeBackup', backup.metadata.namespace);
    for (const pod of pods) await selectForPod(c, { backup, pod, claims, repository, history, out });
    if (backup.spec.includeUnmountedClaims) await selectUnmountedClaims(c, { backup, namespace, claims, out, createOne: (pod, volume) => createOne(c, { backup, pod, claims, repository, history, out }, volume, {}, backup.spec.excludes ?? []) });
  }
  return out;
}

/**
 * spec.pods narrows the selection to named pods of the Backup's own namespace; the names
 * not found are returned so they are reported instead of silently backing up nothing.
 */
function namedPods(backup: BackupObject, namespace: string, selected: V1Pod[]): { pods: V1Pod[]; missing: string[] } {
  const named = backup.spec.pods;
  if (!named) return { pods: selected, missing: [] };
  if (namespace !== backup.metadata.namespace) return { pods: [], missing: [] };
  const byName = new Map(selected.map((p) => [p.metadata?.name ?? '', p]));
  return { pods: named.flatMap((n) => byName.get(n.name) ?? []), missing: named.filter((n) => !byName.has(n.name)).map((n) => n.name) };
}

interface PodInput {
  readonly backup: BackupObject;
  readonly pod: V1Pod;
  readonly claims: ReadonlyMap<string, V1PersistentVolumeClaim>;
  readonly repository: RepositoryObject;
  readonly history: readonly PvbObject[];
  readonly out: VolumeSelectionResult;
}

async function selectForPod(c: ControllerContext, input: PodInput): Promise<void> {
  const { backup, pod, out } = input;
  const ns = pod.metadata?.namespace ?? '';
  const podName = pod.metadata?.name ?? '';
  // A pod named in spec.pods with volumes listed gets exactly those (exclusions still win).
  const listed = backup.spec.pods?.find((n) => n.name === podName)?.volumes;
  const includeVolumes = backup.spec.pods ? (listed ?? ['*']) : backup.spec.includeVolumes;
  const chosen = selectPodVolumes({ pod: pod as Parameters<typeof selectPodVolumes>[0]['pod'], claims: input.claims, includeVolumes, excludeVolumes: backup.spec.excludeVolumes });
  const selection = listed ? { ...chosen, backup: chosen.backup.filter((v) => listed.includes(v.name)) } : chosen;
  for (const s of selection.skipped) if (s.reason !== 'NotOptedIn') out.skipped.push({ namespace: ns, pod: podName, volume: s.name, reason: s.reason, message: s.message });
  for (const p of selection.problems) {
    out.problems.push({ namespace: ns, objectKind: 'Pod', name: podName, key: p.key, value: p.value, expected: p.expected });
    out.events.push({ involved: { apiVersion: 'v1', kind: 'Pod', name: podName, namespace: ns, uid: pod.metadata?.uid ?? '' }, type: 'Warning', reason: 'MalformedAnnotation', message: `Ferry backup ${backup.metadata.name}: ${formatAnnotationProblem(p)}` });
  }
  const { backupCommand } = selection.annotations;
  const running = pod.status?.phase === 'Running';
  if (backupCommand && !running) out.skipped.push({ namespace: ns, pod: podName, volume: COMMAND_VOLUME_KIND, reason: 'PodNotRunning', message: `the backup command runs only in a Running pod (phase ${pod.status?.phase ?? 'unknown'})` });
  if (selection.backup.length === 0 && !(backupCommand && running)) return;
  // Hooks run only around pods that have something to back up; their state starts as Pending on every volume of the pod.
  const hooks = initialHookAnnotations(selection.annotations, selection.problems);
  const excludes = [...new Set([...(backup.spec.excludes ?? []), ...selection.annotations.excludePaths])];
  for (const v of selection.backup) out.created.push(await createOne(c, input, volumeRefOf(v), hooks, excludes, snapshotFields(backup, v, selection.annotations.snapshotMode)));
  if (backupCommand && running) out.created.push(await createOne(c, input, commandVolumeRef(pod, backupCommand), hooks, []));
}

type SelectedVolume = ReturnType<typeof selectPodVolumes>['backup'][number];

/** A claim's snapshot mode: the pod annotation's for the volume, else the Backup's; Never adds nothing. */
function snapshotFields(backup: BackupObject, v: SelectedVolume, annotation: SnapshotModeAnnotation | undefined): Partial<PvbObject['spec']> {
  if (v.kind !== 'persistentVolumeClaim') return {};
  const mode = snapshotModeOf(annotation, v.name, backup.spec.snapshotMode);
  if (mode === 'Never') return {};
  return { snapshotMode: mode, ...(backup.spec.volumeSnapshotClass ? { volumeSnapshotClass: backup.spec.volumeSnapshotClass } : {}) };
}

function volumeRefOf(v: SelectedVolume): PvbObject['spec']['volume'] {
  return {
    name: v.name,
    kind: v.kind,
    ...(v.claim ? { pvc: { name: v.claim.name, uid: v.claim.uid ?? '' } } : {}),
    ...(v.claim?.pvName ? { pvName: v.claim.pvName } : {}),
    ...(v.claim?.volumeMode ? { volumeMode: v.claim.volumeMode } : {}),
  };
}

/** The backup command's output as a volume of kind command, stored as `<pod>-<container>[.<ext>]`. */
function commandVolumeRef(pod: V1Pod, command: BackupCommandAnnotation): PvbObject['spec']['volume'] {
  const container = command.container ?? pod.spec?.containers[0]?.name ?? '';
  const fileName = `${pod.metadata?.name ?? ''}-${container}${command.fileExtension ? `.${command.fileExtension}` : ''}`;
  return { name: container, kind: COMMAND_VOLUME_KIND, command: { container, fileName } };
}

async function createOne(c: ControllerContext, input: PodInput, selected: PvbObject['spec']['volume'], annotations: Record<string, string>, excludes: readonly string[], extra: Partial<PvbObject['spec']> = {}): Promise<PvbObject> {
  const { backup, pod, repository } = input;
  const volume = selected.pvc ? { ...selected, pvc: { ...selected.pvc, ...claimFacts(input.claims.get(selected.pvc.name)) } } : selected;
  const ns = pod.metadata?.namespace ?? '';
  const podName = pod.metadata?.name ?? '';
  const controller = pod.metadata?.ownerReferences?.find((o) => o.controller);
  const parent = parentSnapshot(input.history, repository.metadata.name ?? '', podName, volume.name, volume.pvc?.uid, volume.kind);
  // A command volume's name is its container, which may equal a volume name: keep their object names apart.
  const nameParts = volume.kind === COMMAND_VOLUME_KIND ? [ns, podName, COMMAND_VOLUME_KIND, volume.name] : [ns, podName, volume.name];
  const body: PvbObject = {
    metadata: {
      name: childName(backup.metadata.name ?? '', ...nameParts),
      namespace: backup.metadata.namespace ?? '',
      labels: { [LABELS.backup]: backup.metadata.name ?? '' },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      ownerReferences: [{ apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', name: backup.metadata.name ?? '', uid: backup.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      backup: backup.metadata.name ?? '',
      pod: { namespace: ns, name: podName, uid: pod.metadata?.uid ?? '', ...(controller ? { controller: { kind: controller.kind, name: controller.name } } : {}) },
      node: pod.spec?.nodeName ?? '',
      volume,
      repository: repository.metadata.name ?? '',
      mover: repository.spec.mover,
      ...(parent ? { parentSnapshotId: parent } : {}),
      ...(backup.spec.tags ? { tags: [...backup.spec.tags] } : {}),
      ...(excludes.length > 0 ? { excludes: [...excludes] } : {}),
      timeout: backup.spec.volumeTimeout ?? BACKUP_DEFAULTS.volumeTimeout,
      ...extra,
    },
  };
  return c.cluster.createOrGet<PvbObject>('PodVolumeBackup', body);
}

/** Latest snapshot of the same claim (by uid), else of the same pod name and volume, in the same repository. */
export function parentSnapshot(history: readonly PvbObject[], repository: string, pod: string, volume: string, pvcUid: string | undefined, kind?: string): string | undefined {
  const usable = history.filter((h) => h.spec.repository === repository && (h.spec.volume.kind === COMMAND_VOLUME_KIND) === (kind === COMMAND_VOLUME_KIND) && h.status?.snapshotId && (h.status.phase === 'Completed' || h.status.phase === 'PartiallyFailed'));
  const latest = (list: PvbObject[]) => list.sort((a, b) => String(b.status?.completionTimestamp ?? '').localeCompare(String(a.status?.completionTimestamp ?? '')))[0]?.status?.snapshotId;
  if (pvcUid) {
    const same = latest(usable.filter((h) => h.spec.volume.pvc?.uid === pvcUid));
    if (same) return same;
  }
  return latest(usable.filter((h) => h.spec.pod.name === pod && h.spec.volume.name === volume));
}
