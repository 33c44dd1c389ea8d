/**
 * Restore into claims (Restore.spec.targetClaims, docs/helper-pods.md): each target claim is
 * created (new) or checked (existing, unmounted), a restore helper pod mounts it read-write,
 * and once the pod runs the item becomes a PodVolumeRestore of the helper pod like any pod
 * volume. When it ended the helper pod is deleted; the claim stays. Every step is decided
 * from what the API server stores, so a restarted coordinator takes the same step again.
 */
import { isTerminalPhase } from '@ferry/api';
import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { objectKey, type ControllerContext } from '../context.js';
import type { PvrObject, RestoreObject, RestoreStatus } from '../objects.js';
import { helperPodSpec, HELPER_VOLUME_NAME, mountsClaims } from '../helpers/helper-pod.js';
import { helperState } from '../helpers/helper-lifecycle.js';
import { helperSettings } from '../controllers/unmounted-claims.js';
import { pvrBody } from '../controllers/pod-restore.js';
import { CLAIM_RESTORE_UID_LABEL, type ClaimTarget } from './claim-plan.js';

export type ClaimStatus = NonNullable<RestoreStatus['claims']>[number];

/** After its volume ended, restore-wait in the helper pod gets this long to remove the marker and exit before the pod is deleted. */
const HELPER_GRACE_MS = 10_000;

/** Pods (other than helper pods, and not finished) that mount the claim. */
export function claimUsers(pods: readonly V1Pod[], claimName: string): string[] {
  return pods
    .filter((p) => mountsClaims(p) && (p.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claimName))
    .map((p) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`);
}

function isOwn(restore: RestoreObject, claim: V1PersistentVolumeClaim): boolean {
  return claim.metadata?.labels?.[CLAIM_RESTORE_UID_LABEL] === restore.metadata.uid;
}

export interface ClaimRefusal {
  readonly reason: string;
  readonly message: string;
}

/** What the New step refuses: a name collision, a missing existing claim, an existing claim a pod mounts (without force). */
export async function refuseClaims(c: ControllerContext, restore: RestoreObject, targets: readonly ClaimTarget[]): Promise<ClaimRefusal | undefined> {
  if (targets.length === 0) return undefined;
  if (!c.helperPods || !c.targetClaims) return { reason: 'HelperPodsUnsupported', message: `Restore ${restore.metadata.namespace}/${restore.metadata.name}: spec.targetClaims needs helper pods, which need the Kubernetes API (not standalone mode)` };
  for (const t of targets) {
    const refusal = await refuseOne(c, restore, t);
    if (refusal) return refusal;
  }
  return undefined;
}

async function refuseOne(c: ControllerContext, restore: RestoreObject, t: ClaimTarget): Promise<ClaimRefusal | undefined> {
  const claim = await c.cluster.getClaim(t.namespace, t.name);
  const key = `${t.namespace}/${t.name}`;
  if (!t.existing) return claim && !isOwn(restore, claim) ? { reason: 'ClaimExists', message: claimExists(key) } : undefined;
  if (!claim) return { reason: 'ClaimNotFound', message: `claim ${key} (spec.targetClaims, existing) does not exist; create it, or drop existing to have the Restore create it` };
  const users = claimUsers(await c.cluster.listPods(t.namespace), t.name);
  return users.length > 0 && !restore.spec.force ? { reason: 'ClaimInUse', message: claimInUse(key, users) } : undefined;
}

const claimExists = (key: string) => `claim ${key} exists and spec.targetClaims does not name it as existing, so it is not written to; choose another name, or set existing: true to restore into it`;
const claimInUse = (key: string, users: readonly string[]) => `claim ${key} is mounted by pod ${users.slice(0, 3).join(', ')}; stop that pod (scale its workload down) and restore again, or set spec.force to wait until no pod mounts it`;

export interface DriveClaimsInput {
  readonly restore: RestoreObject;
  readonly targets: readonly ClaimTarget[];
  readonly byItem: ReadonlyMap<string, PvrObject>;
  /** podWaitTimeout passed: what still waits fails. */
  readonly expired: boolean;
}

/** One pass over every target claim: the next step of each, and where each is now. */
export async function driveClaims(c: ControllerContext, input: DriveClaimsInput): Promise<ClaimStatus[]> {
  const previous = new Map((input.restore.status?.claims ?? []).map((s) => [`${s.namespace}/${s.name}`, s]));
  const out: ClaimStatus[] = [];
  for (const t of input.targets) {
    const prev = previous.get(`${t.namespace}/${t.name}`);
    const base: ClaimStatus = { namespace: t.namespace, name: t.name, sourceClaim: t.item.claimName ?? '', ...(t.existing ? {} : { created: true }), phase: 'Pending' };
    out.push(await stepOne(c, input, t, prev, base));
  }
  return out;
}

async function stepOne(c: ControllerContext, input: DriveClaimsInput, t: ClaimTarget, prev: ClaimStatus | undefined, base: ClaimStatus): Promise<ClaimStatus> {
  const pvr = input.byItem.get(t.item.key);
  if (pvr) return afterVolume(c, pvr, base, prev);
  if (prev?.phase === 'Failed') return prev;
  const fail = (reason: string, message: string): ClaimStatus => ({ ...base, phase: 'Failed', reason, message });
  if (input.restore.spec.cancel) return fail('Canceled', 'the Restore was canceled before the data moved');
  const ready = await readyClaim(c, input.restore, t);
  if ('reason' in ready) {
    if (ready.wait && !input.expired) return { ...base, reason: ready.reason, message: ready.message };
    return fail(ready.reason, ready.wait ? `${ready.message}; gave up after spec.podWaitTimeout` : ready.message);
  }
  return helperStep(c, input, t, ready.claim, base);
}

type Readiness = { readonly claim: V1PersistentVolumeClaim } | { readonly reason: string; readonly message: string; readonly wait: boolean };

/** The claim to mount: created (new) or checked free (existing). */
async function readyClaim(c: ControllerContext, restore: RestoreObject, t: ClaimTarget): Promise<Readiness> {
  const key = `${t.namespace}/${t.name}`;
  let claim = await c.cluster.getClaim(t.namespace, t.name);
  if (!t.existing) {
    if (!claim && t.body) {
      const made = await c.targetClaims!.create(t.body);
      claim = made.created ? made.claim : await c.cluster.getClaim(t.namespace, t.name);
    }
    if (!claim) return { reason: 'ClaimNotFound', message: `claim ${key} was created but cannot be read back`, wait: true };
    return isOwn(restore, claim) ? { claim } : { reason: 'ClaimExists', message: claimExists(key), wait: false };
  }
  if (!claim) return { reason: 'ClaimNotFound', message: `claim ${key} (spec.targetClaims, existing) does not exist`, wait: false };
  const users = claimUsers(await c.cluster.listPods(t.namespace), t.name);
  if (users.length === 0) return { claim };
  return restore.spec.force ? { reason: 'ClaimInUse', message: `waiting (spec.force) until no pod mounts claim ${key}; now: ${users.slice(0, 3).join(', ')}`, wait: true } : { reason: 'ClaimInUse', message: claimInUse(key, users), wait: false };
}

async function helperStep(c: ControllerContext, input: DriveClaimsInput, t: ClaimTarget, claim: V1PersistentVolumeClaim, base: ClaimStatus): Promise<ClaimStatus> {
  const helpers = c.helperPods!;
  const { restore } = input;
  const settings = helperSettings(c);
  const pv = claim.spec?.volumeName ? await c.cluster.getPersistentVolume(claim.spec.volumeName) : undefined;
  const owner = { apiVersion: 'ferry.dev/v1alpha1', kind: 'Restore', namespace: restore.metadata.namespace ?? '', name: restore.metadata.name ?? '', uid: restore.metadata.uid ?? '' };
  const pod = await helpers.createOrGet(helperPodSpec({ purpose: 'restore', owner, claim, ...(pv ? { volume: pv } : {}), settings: settings.pod }));
  const podName = pod.metadata?.name ?? '';
  const since = Date.parse(String(pod.metadata?.creationTimestamp ?? new Date(c.clock.now()).toISOString()));
  const state = helperState({ pod, claim, sinceMs: since, nowMs: c.clock.now(), timeouts: settings.timeouts });
  if (state.phase === 'Failed') {
    await helpers.delete(t.namespace, podName);
    return { ...base, phase: 'Failed', reason: state.reason, message: state.message };
  }
  if (state.phase === 'Pending') {
    if (input.expired) {
      await helpers.delete(t.namespace, podName);
      return { ...base, phase: 'Failed', reason: 'HelperPodTimeout', message: `${state.message}; gave up after spec.podWaitTimeout` };
    }
    return { ...base, reason: 'WaitingForHelperPod', message: state.message, helperPod: podName };
  }
  const created = await c.cluster.createOrGet<PvrObject>('PodVolumeRestore', await pvrBody(c, restore, pod, HELPER_VOLUME_NAME, t.item));
  c.enqueue(objectKey('PodVolumeRestore', restore.metadata.namespace ?? '', created.metadata.name ?? ''));
  return { ...base, phase: 'Restoring', message: `PodVolumeRestore ${created.metadata.name ?? ''} restores into the claim through helper pod ${podName}`, helperPod: podName };
}

/** The volume runs or ended: the claim follows it, and the helper pod goes once restore-wait had its moment. */
async function afterVolume(c: ControllerContext, pvr: PvrObject, base: ClaimStatus, prev: ClaimStatus | undefined): Promise<ClaimStatus> {
  const podName = pvr.spec.pod.name;
  const phase = pvr.status?.phase;
  if (!isTerminalPhase(phase)) return { ...base, phase: 'Restoring', message: `PodVolumeRestore ${pvr.metadata.name ?? ''} is ${phase ?? 'New'}`, helperPod: podName };
  const ended: ClaimStatus = phase === 'Completed' || phase === 'PartiallyFailed'
    ? { ...base, phase: 'Completed', message: `restored by PodVolumeRestore ${pvr.metadata.name ?? ''}${phase === 'PartiallyFailed' ? ' (some files failed)' : ''}` }
    : { ...base, phase: 'Failed', reason: pvr.status?.error?.code ?? phase, message: pvr.status?.error?.message ?? `PodVolumeRestore ${pvr.metadata.name ?? ''} is ${phase}` };
  if (prev?.helperPod === undefined && (prev?.phase === 'Completed' || prev?.phase === 'Failed')) return ended;
  const pod = await c.helperPods?.get(pvr.spec.pod.namespace, podName);
  if (!pod) return ended;
  const stopped = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
  const endedAt = Date.parse(String(pvr.status?.completionTimestamp ?? ''));
  if (stopped || !(c.clock.now() - endedAt < HELPER_GRACE_MS)) {
    await c.helperPods!.delete(pvr.spec.pod.namespace, podName);
    return ended;
  }
  return { ...ended, helperPod: podName };
}

/** When the Restore ends: no helper pod of it stays (a cancel, a failure before the volume). */
export async function deleteRestoreHelpers(c: ControllerContext, restore: RestoreObject, targets: readonly ClaimTarget[]): Promise<void> {
  if (!c.helperPods) return;
  for (const ns of new Set(targets.map((t) => t.namespace))) {
    for (const pod of await c.helperPods.ofOwner(ns, restore.metadata.uid ?? '')) await c.helperPods.delete(ns, pod.metadata?.name ?? '');
  }
}
