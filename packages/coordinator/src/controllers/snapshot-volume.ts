/**
 * Snapshot mode of a PodVolumeBackup (spec.snapshotMode Auto|Always, docs/helper-pods.md):
 * before the agent is assigned, the claim is snapshotted (CSI VolumeSnapshot), a claim is
 * provisioned from the snapshot, and a read-only helper pod mounts it; the agent of the
 * helper's node then reads that volume, under the ORIGINAL claim's identity (pvc uid), so the
 * next backup of the claim stays incremental. Each step is decided from what the API server
 * stores plus status.volumeSnapshot (deterministic names, createOrGet), so a restarted
 * coordinator resumes where the last one stopped. Once the volume ended, the helper pod, the
 * claim and the snapshot are deleted (`cleanUpSnapshot`).
 */
import { createHash } from 'node:crypto';
import type { V1alpha1VolumeSnapshotStatus } from '@ferry/api';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { isoTime } from '../clock.js';
import { setCondition } from '../conditions.js';
import type { ControllerContext } from '../context.js';
import { helperPodName, helperPodSpec, HELPER_OWNER_UID_LABEL, HELPER_POD_LABEL, HELPER_VOLUME_NAME, type HelperOwner } from '../helpers/helper-pod.js';
import { helperState } from '../helpers/helper-lifecycle.js';
import { DEFAULT_SNAPSHOT_CLASS_ANNOTATION, type VolumeSnapshotObject, type VolumeSnapshots } from '../helpers/volume-snapshots.js';
import type { PvbObject, PvbStatus } from '../objects.js';
import { failed } from './agent-wait.js';
import { helperSettings } from './unmounted-claims.js';

const DEFAULT_READY_TIMEOUT_MS = 10 * 60_000;
const POLL_MS = 1_000;

export type SnapshotStep =
  | { readonly kind: 'live' }
  | { readonly kind: 'wait'; readonly status: PvbStatus; readonly requeueAfterMs: number }
  | { readonly kind: 'fail'; readonly status: PvbStatus }
  | { readonly kind: 'ready'; readonly status: PvbStatus };

/** Whether the volume is to be copied from a snapshot at all. */
export function wantsSnapshot(pvb: PvbObject): boolean {
  return (pvb.spec.snapshotMode === 'Auto' || pvb.spec.snapshotMode === 'Always') && pvb.spec.volume.kind === 'persistentVolumeClaim' && pvb.spec.volume.pvc !== undefined;
}

/** VolumeSnapshot and claim share one deterministic name per PodVolumeBackup: a retry finds them. */
export function snapshotObjectName(pvbUid: string): string {
  return `ferry-snap-${createHash('sha256').update(pvbUid).digest('hex').slice(0, 10)}`;
}

/** The snapshot is cut once the storage reports its creation time (or readiness): the post hook may run then. */
export function snapshotCut(pvb: PvbObject): boolean {
  const s = pvb.status?.volumeSnapshot;
  return s !== undefined && (s.creationTime !== undefined || s.readyTimestamp !== undefined);
}

function ownerOf(pvb: PvbObject): HelperOwner {
  return { apiVersion: 'ferry.dev/v1alpha1', kind: 'PodVolumeBackup', namespace: pvb.metadata.namespace ?? '', name: pvb.metadata.name ?? '', uid: pvb.metadata.uid ?? '' };
}

function helperMeta(pvb: PvbObject, namespace: string): { name: string; namespace: string; labels: Record<string, string>; ownerReferences: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean }[] } {
  const o = ownerOf(pvb);
  return {
    name: snapshotObjectName(o.uid),
    namespace,
    labels: { [HELPER_POD_LABEL]: 'snapshot', [HELPER_OWNER_UID_LABEL]: o.uid, 'app.kubernetes.io/managed-by': 'ferry' },
    // No owner reference across namespaces (the garbage collector ignores it); the start-up sweep covers those.
    ownerReferences: namespace === o.namespace ? [{ apiVersion: o.apiVersion, kind: o.kind, name: o.name, uid: o.uid, controller: true }] : [],
  };
}

function withSnapshot(c: ControllerContext, status: PvbStatus, s: V1alpha1VolumeSnapshotStatus, message: string): PvbStatus {
  const same = status.conditions?.some((x) => x.type === 'Progressing' && x.reason === 'WaitingForSnapshot' && x.message === message);
  const conditions = same ? status.conditions : setCondition(status.conditions, { type: 'Progressing', status: 'False', reason: 'WaitingForSnapshot', message }, isoTime(c.clock));
  return { ...status, volumeSnapshot: s, ...(conditions ? { conditions } : {}) };
}

function cannot(c: ControllerContext, pvb: PvbObject, status: PvbStatus, why: string): SnapshotStep {
  if (pvb.spec.snapshotMode !== 'Always') {
    c.log.info('snapshot mode Auto: copying live', { pvb: pvb.metadata.name, why });
    return { kind: 'live' };
  }
  const claim = `${pvb.spec.pod.namespace}/${pvb.spec.volume.pvc?.name ?? ''}`;
  return { kind: 'fail', status: failed(c, status, 'SnapshotUnsupported', `snapshot mode Always: claim ${claim} cannot be snapshotted: ${why}; install a VolumeSnapshotClass for its CSI driver, or set snapshotMode Auto or Never`, false) };
}

/** Drives the snapshot to a running helper pod, one step per call. */
export async function driveSnapshot(c: ControllerContext, pvb: PvbObject, status: PvbStatus): Promise<SnapshotStep> {
  const s = status.volumeSnapshot;
  if (s?.helperPod) return { kind: 'ready', status };
  if (!c.volumeSnapshots || !c.helperPods) return cannot(c, pvb, status, 'snapshots need the Kubernetes API (not standalone mode)');
  if (!s) return requestSnapshot(c, c.volumeSnapshots, pvb, status);
  const namespace = pvb.spec.pod.namespace;
  const snapshot = await c.volumeSnapshots.get(namespace, s.name);
  if (!snapshot) return notReady(c, status, `VolumeSnapshot ${namespace}/${s.name} was deleted before the copy`);
  const seen = observed(s, snapshot);
  if (!snapshot.status?.readyToUse) return waitReady(c, status, seen, snapshot);
  const ready: V1alpha1VolumeSnapshotStatus = { ...seen, readyTimestamp: seen.readyTimestamp ?? isoTime(c.clock) };
  return provision(c, c.volumeSnapshots, pvb, status, ready);
}

async function requestSnapshot(c: ControllerContext, snapshots: VolumeSnapshots, pvb: PvbObject, status: PvbStatus): Promise<SnapshotStep> {
  const namespace = pvb.spec.pod.namespace;
  const claimName = pvb.spec.volume.pvc?.name ?? '';
  const claim = await c.cluster.getClaim(namespace, claimName);
  if (!claim || claim.metadata?.uid !== pvb.spec.volume.pvc?.uid) return cannot(c, pvb, status, 'the claim is gone (deleted or replaced)');
  const pv = claim.spec?.volumeName ? await c.cluster.getPersistentVolume(claim.spec.volumeName) : undefined;
  const driver = pv?.spec?.csi?.driver;
  if (!driver) return cannot(c, pvb, status, `its volume ${claim.spec?.volumeName ?? '(unbound)'} is not a CSI volume`);
  const className = await snapshotClass(snapshots, driver, pvb.spec.volumeSnapshotClass);
  if (!className) return cannot(c, pvb, status, `no VolumeSnapshotClass of driver ${driver} is named in spec.volumeSnapshotClass or annotated ${DEFAULT_SNAPSHOT_CLASS_ANNOTATION}: "true"`);
  const body: VolumeSnapshotObject = { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: helperMeta(pvb, namespace), spec: { source: { persistentVolumeClaimName: claimName }, volumeSnapshotClassName: className } };
  const created = await snapshots.createOrGet(body);
  const s: V1alpha1VolumeSnapshotStatus = { name: created.metadata.name ?? '', className, ...(created.metadata.uid ? { uid: created.metadata.uid } : {}) };
  c.log.info('volume snapshot requested', { pvb: pvb.metadata.name, snapshot: `${namespace}/${s.name}`, class: className });
  return { kind: 'wait', status: withSnapshot(c, status, s, `waiting for VolumeSnapshot ${namespace}/${s.name} to be ready`), requeueAfterMs: POLL_MS };
}

/** The class named by the Backup when it is one of the driver's, else the driver's default. */
async function snapshotClass(snapshots: VolumeSnapshots, driver: string, wanted: string | undefined): Promise<string | undefined> {
  const ofDriver = (await snapshots.classes()).filter((k) => k.driver === driver);
  if (wanted && ofDriver.some((k) => k.metadata.name === wanted)) return wanted;
  return ofDriver.find((k) => k.metadata.annotations?.[DEFAULT_SNAPSHOT_CLASS_ANNOTATION] === 'true')?.metadata.name;
}

function observed(s: V1alpha1VolumeSnapshotStatus, snapshot: VolumeSnapshotObject): V1alpha1VolumeSnapshotStatus {
  const st = snapshot.status;
  return {
    ...s,
    ...(snapshot.metadata.uid ? { uid: snapshot.metadata.uid } : {}),
    ...(st?.creationTime ? { creationTime: String(st.creationTime) } : {}),
    ...(st?.restoreSize ? { restoreSize: String(st.restoreSize) } : {}),
  };
}

function waitReady(c: ControllerContext, status: PvbStatus, s: V1alpha1VolumeSnapshotStatus, snapshot: VolumeSnapshotObject): SnapshotStep {
  const since = Date.parse(String(snapshot.metadata.creationTimestamp ?? isoTime(c.clock)));
  const limit = c.settings.snapshotReadyMs ?? DEFAULT_READY_TIMEOUT_MS;
  const error = snapshot.status?.error?.message;
  const where = `VolumeSnapshot ${snapshot.metadata.namespace ?? ''}/${s.name}`;
  if (c.clock.now() - since > limit) {
    return notReady(c, { ...status, volumeSnapshot: s }, `${where} is not readyToUse after ${Math.round(limit / 1000)} s${error ? `: ${error}` : ''}; check the snapshot controller and VolumeSnapshotClass ${s.className ?? ''} (kubectl describe volumesnapshot ${s.name})`);
  }
  return { kind: 'wait', status: withSnapshot(c, status, s, `waiting for ${where} to be readyToUse${error ? ` (last error: ${error})` : ''}`), requeueAfterMs: POLL_MS };
}

function notReady(c: ControllerContext, status: PvbStatus, message: string): SnapshotStep {
  return { kind: 'fail', status: failed(c, status, 'SnapshotNotReady', message, true) };
}

/** A claim from the snapshot, then the helper pod that mounts it read-only. */
async function provision(c: ControllerContext, snapshots: VolumeSnapshots, pvb: PvbObject, status: PvbStatus, s: V1alpha1VolumeSnapshotStatus): Promise<SnapshotStep> {
  const namespace = pvb.spec.pod.namespace;
  const original = await c.cluster.getClaim(namespace, pvb.spec.volume.pvc?.name ?? '');
  const claim = await snapshots.createOrGetClaim(claimFromSnapshot(pvb, namespace, s, original));
  const pv = claim.spec?.volumeName ? await c.cluster.getPersistentVolume(claim.spec.volumeName) : undefined;
  const settings = helperSettings(c);
  const pod = await c.helperPods!.createOrGet(helperPodSpec({ purpose: 'snapshot', owner: ownerOf(pvb), claim, ...(pv ? { volume: pv } : {}), settings: settings.pod }));
  const fresh = await c.cluster.getClaim(namespace, claim.metadata?.name ?? '');
  const since = Date.parse(s.readyTimestamp ?? isoTime(c.clock));
  const state = helperState({ pod, claim: fresh, sinceMs: since, nowMs: c.clock.now(), timeouts: settings.timeouts });
  const next: V1alpha1VolumeSnapshotStatus = { ...s, claim: claim.metadata?.name ?? '', ...(fresh?.spec?.volumeName ? { volumeName: fresh.spec.volumeName } : {}) };
  if (state.phase === 'Failed') return { kind: 'fail', status: failed(c, { ...status, volumeSnapshot: next }, state.reason, state.message, true) };
  if (state.phase === 'Pending') return { kind: 'wait', status: withSnapshot(c, status, next, state.message), requeueAfterMs: POLL_MS };
  return { kind: 'ready', status: { ...status, volumeSnapshot: { ...next, helperPod: { name: pod.metadata?.name ?? '', uid: state.podUid, node: state.node } } } };
}

function claimFromSnapshot(pvb: PvbObject, namespace: string, s: V1alpha1VolumeSnapshotStatus, original: V1PersistentVolumeClaim | undefined): V1PersistentVolumeClaim {
  const o = original?.spec;
  const size = s.restoreSize ?? original?.status?.capacity?.['storage'] ?? o?.resources?.requests?.['storage'] ?? '1Gi';
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: helperMeta(pvb, namespace),
    spec: {
      accessModes: o?.accessModes && o.accessModes.length > 0 ? [...o.accessModes] : ['ReadWriteOnce'],
      ...(o?.storageClassName ? { storageClassName: o.storageClassName } : {}),
      ...(o?.volumeMode ? { volumeMode: o.volumeMode } : {}),
      resources: { requests: { storage: size } },
      dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: s.name },
    },
  };
}

/** What the agent reads in snapshot mode: the helper pod's volume, under the original claim's identity. */
export function snapshotTarget(pvb: PvbObject, status: PvbStatus): PvbObject {
  const h = status.volumeSnapshot?.helperPod;
  if (!h) return pvb;
  const volume = { ...pvb.spec.volume, name: HELPER_VOLUME_NAME, ...(status.volumeSnapshot?.volumeName ? { pvName: status.volumeSnapshot.volumeName } : {}) };
  return { ...pvb, spec: { ...pvb.spec, node: h.node, pod: { namespace: pvb.spec.pod.namespace, name: h.name, uid: h.uid }, volume } };
}

/** The node whose agent does the work: the helper pod's in snapshot mode. */
export function workNode(pvb: PvbObject): string {
  return pvb.status?.volumeSnapshot?.helperPod?.node ?? pvb.spec.node;
}

/** Once the volume ended: helper pod, claim and snapshot go (deleting a missing one is no error). */
export async function cleanUpSnapshot(c: ControllerContext, pvb: PvbObject, status: PvbStatus): Promise<PvbStatus | undefined> {
  const s = status.volumeSnapshot;
  if (!s || s.cleanedUp || !c.volumeSnapshots || !c.helperPods) return undefined;
  const namespace = pvb.spec.pod.namespace;
  const name = snapshotObjectName(pvb.metadata.uid ?? '');
  await c.helperPods.delete(namespace, helperPodName(ownerOf(pvb), name));
  await c.volumeSnapshots.deleteClaim(namespace, name);
  await c.volumeSnapshots.delete(namespace, name);
  c.log.info('volume snapshot and its claim deleted', { pvb: pvb.metadata.name, snapshot: `${namespace}/${name}` });
  return { ...status, volumeSnapshot: { ...s, cleanedUp: isoTime(c.clock) } };
}
