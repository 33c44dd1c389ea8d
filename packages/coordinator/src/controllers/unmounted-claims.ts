/**
 * Backup.spec.includeUnmountedClaims: every bound PVC of a namespace that no live pod mounts
 * gets a helper pod (docs/helper-pods.md); once it runs, its one volume is backed up like any
 * pod volume. The helper pods are deleted when the Backup ends (`deleteBackupHelpers`).
 */
import type { V1alpha1SkippedVolume } from '@ferry/api';
import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import type { ControllerContext } from '../context.js';
import type { BackupObject, PvbObject } from '../objects.js';
import { helperPodSpec, HELPER_VOLUME_NAME, mountsClaims, type HelperPodSettings } from '../helpers/helper-pod.js';
import { helperState, type HelperTimeouts } from '../helpers/helper-lifecycle.js';

const HELPER_LIFETIME_SECONDS = 24 * 3600;

interface UnmountedInput {
  readonly backup: BackupObject;
  readonly namespace: string;
  readonly claims: ReadonlyMap<string, V1PersistentVolumeClaim>;
  readonly out: { readonly created: PvbObject[]; readonly skipped: V1alpha1SkippedVolume[]; readonly waiting: string[] };
  /** Creates the PodVolumeBackup of a helper pod's volume (repository, parent and excludes are the caller's). */
  readonly createOne: (pod: V1Pod, volume: PvbObject['spec']['volume']) => Promise<PvbObject>;
}

export function helperSettings(c: ControllerContext): { pod: HelperPodSettings; timeouts: HelperTimeouts } {
  const helper = c.settings.helperPods;
  return {
    pod: { image: helper.image, command: c.settings.restoreWait.command, requests: helper.requests, tolerations: helper.tolerations, lifetimeSeconds: HELPER_LIFETIME_SECONDS },
    timeouts: { provisionMs: helper.provisioningTimeoutMs, startMs: c.settings.agentWaitMs },
  };
}

export async function selectUnmountedClaims(c: ControllerContext, input: UnmountedInput): Promise<void> {
  const { backup, namespace, out } = input;
  const mounted = mountedClaims(await c.cluster.listPods(namespace));
  const unmounted = [...input.claims.entries()].filter(([n, p]) => !mounted.has(n) && p.status?.phase === 'Bound');
  const skip = (claim: string, reason: string, message: string) => out.skipped.push({ namespace, pod: '', volume: claim, reason, message });
  for (const [name, claim] of unmounted) {
    if (!c.helperPods) {
      skip(name, 'HelperPodsUnsupported', `claim ${namespace}/${name} is mounted by no pod; helper pods need the Kubernetes API (not standalone mode)`);
      continue;
    }
    const settings = helperSettings(c);
    const fresh = await c.cluster.getClaim(namespace, name);
    const pv = fresh?.spec?.volumeName ? await c.cluster.getPersistentVolume(fresh.spec.volumeName) : undefined;
    const owner = { apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', namespace: backup.metadata.namespace ?? '', name: backup.metadata.name ?? '', uid: backup.metadata.uid ?? '' };
    const pod = await c.helperPods.createOrGet(helperPodSpec({ purpose: 'backup', owner, claim: fresh ?? { metadata: { name, namespace } }, ...(pv ? { volume: pv } : {}), settings: settings.pod }));
    const since = Date.parse(String(backup.metadata.creationTimestamp ?? new Date(c.clock.now()).toISOString()));
    const state = helperState({ pod, claim: fresh, sinceMs: since, nowMs: c.clock.now(), timeouts: settings.timeouts });
    if (state.phase === 'Pending') out.waiting.push(`${namespace}/${name}: ${state.message}`);
    else if (state.phase === 'Failed') skip(name, state.reason, state.message);
    else out.created.push(await input.createOne(pod, helperVolume(name, claim, fresh)));
  }
}

/** The helper pod's one volume as the PodVolumeBackup names it; a block claim is read as a device. */
function helperVolume(name: string, claim: V1PersistentVolumeClaim, fresh: V1PersistentVolumeClaim | undefined): PvbObject['spec']['volume'] {
  return {
    name: HELPER_VOLUME_NAME,
    kind: 'persistentVolumeClaim',
    pvc: { name, uid: claim.metadata?.uid ?? '' },
    ...(fresh?.spec?.volumeName ? { pvName: fresh.spec.volumeName } : {}),
    ...(fresh?.spec?.volumeMode === 'Block' ? { volumeMode: 'Block' as const } : {}),
  };
}

/** Claims a live pod mounts; helper pods and finished pods do not count. */
function mountedClaims(pods: readonly V1Pod[]): Set<string> {
  const out = new Set<string>();
  for (const pod of pods) {
    if (!mountsClaims(pod)) continue;
    for (const v of pod.spec?.volumes ?? []) if (v.persistentVolumeClaim) out.add(v.persistentVolumeClaim.claimName);
  }
  return out;
}

/** Once the Backup ended, its helper pods have nothing left to hold. */
export async function deleteBackupHelpers(c: ControllerContext, backup: BackupObject, namespaces: readonly string[]): Promise<void> {
  if (!c.helperPods || !backup.spec.includeUnmountedClaims) return;
  for (const ns of namespaces) for (const pod of await c.helperPods.ofOwner(ns, backup.metadata.uid ?? '')) await c.helperPods.delete(ns, pod.metadata?.name ?? '');
}
