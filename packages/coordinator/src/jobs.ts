/**
 * Job ids and the Assign messages built from PodVolumeBackups and PodVolumeRestores. A job
 * id is `<object uid>.<attempt>`: stable across re-sends of one attempt, different for a
 * retry, so a late result of an old attempt is recognised and only acknowledged.
 */
import { parseDuration, type Job, type V1alpha1VolumeRef, type VolumeKind__Output } from '@ferry/api';
import type { ClusterState } from './cluster/cluster-state.js';
import type { PvbObject, PvrObject } from './objects.js';

export function jobIdOf(uid: string, attempt: number): string {
  return `${uid}.${attempt}`;
}

export function parseJobId(jobId: string): { uid: string; attempt: number } | undefined {
  const m = /^(.+)\.(\d+)$/.exec(jobId);
  return m ? { uid: m[1]!, attempt: Number(m[2]) } : undefined;
}

export function timeoutSeconds(timeout: string | undefined): number {
  if (!timeout) return 0;
  const parsed = parseDuration(timeout);
  return parsed.ok ? Math.ceil(parsed.milliseconds / 1000) : 0;
}

/** The kubelet directory layout the agent must look for: CSI PVs live under `<pv>/mount`. */
export async function agentVolumeKind(cluster: ClusterState, volume: V1alpha1VolumeRef): Promise<VolumeKind__Output> {
  if (volume.kind === 'emptyDir') return 'VOLUME_KIND_EMPTY_DIR';
  if (volume.pvName) {
    const pv = await cluster.getPersistentVolume(volume.pvName);
    return pv?.spec?.csi ? 'VOLUME_KIND_CSI_PERSISTENT' : 'VOLUME_KIND_PERSISTENT';
  }
  if (volume.kind === 'csi') return 'VOLUME_KIND_CSI_EPHEMERAL';
  return 'VOLUME_KIND_IN_POD';
}

type RepositoryPart = NonNullable<Job['repository']>;

function volumeMessage(pod: { namespace: string; name: string; uid: string }, volume: V1alpha1VolumeRef, kind: VolumeKind__Output): NonNullable<Job['volume']> {
  return {
    namespace: pod.namespace,
    podName: pod.name,
    podUid: pod.uid,
    volumeName: volume.name,
    kind,
    pvName: volume.pvName ?? '',
    pvcUid: volume.pvc?.uid ?? '',
    pvcName: volume.pvc?.name ?? '',
    block: volume.volumeMode === 'Block',
  };
}

export function backupJob(pvb: PvbObject, attempt: number, repository: RepositoryPart, kind: VolumeKind__Output): Job {
  const s = pvb.spec;
  return {
    jobId: jobIdOf(pvb.metadata.uid ?? '', attempt),
    kind: 'JOB_KIND_BACKUP',
    mover: s.mover === 'restic' ? 'MOVER_KIND_RESTIC' : 'MOVER_KIND_NATIVE',
    timeoutSeconds: timeoutSeconds(s.timeout),
    volume: volumeMessage(s.pod, s.volume, kind),
    repository,
    backup: { parentSnapshotHint: s.parentSnapshotId ?? '', excludes: [...(s.excludes ?? [])], tags: [...(s.tags ?? [])] },
  };
}

export function restoreJob(pvr: PvrObject, attempt: number, repository: RepositoryPart, kind: VolumeKind__Output, restoreUid: string): Job {
  const s = pvr.spec;
  return {
    jobId: jobIdOf(pvr.metadata.uid ?? '', attempt),
    kind: 'JOB_KIND_RESTORE',
    mover: s.mover === 'restic' ? 'MOVER_KIND_RESTIC' : 'MOVER_KIND_NATIVE',
    timeoutSeconds: timeoutSeconds(s.timeout),
    volume: volumeMessage(s.pod, s.target, kind),
    repository,
    restore: { snapshotId: s.snapshotId, restoreUid, include: '' },
  };
}
