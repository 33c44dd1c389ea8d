/**
 * Where a helper pod is in its life, decided from what the API server says about the pod
 * and its claim (nothing else), so a restarted coordinator reaches the same answer.
 * Pending -> Ready (the pod runs on a node: the agent can move the data) or Failed with a
 * reason; Ready -> Failed when the pod stops before the data moved.
 */
import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';

export const HELPER_FAILURE_REASONS = ['Unschedulable', 'ProvisioningFailed', 'SnapshotNotReady', 'HelperPodFailed', 'HelperPodTimeout'] as const;
export type HelperFailureReason = (typeof HELPER_FAILURE_REASONS)[number];

export type HelperState =
  | { readonly phase: 'Pending'; readonly message: string }
  | { readonly phase: 'Ready'; readonly node: string; readonly podUid: string }
  | { readonly phase: 'Failed'; readonly reason: HelperFailureReason; readonly message: string };

export interface HelperTimeouts {
  /** How long the claim may stay Pending (provisioning, from a snapshot or a class). */
  readonly provisionMs: number;
  /** How long a pod may stay unscheduled or not running once its claim is bound. */
  readonly startMs: number;
}

export interface HelperObservation {
  readonly pod?: V1Pod;
  readonly claim?: V1PersistentVolumeClaim;
  /** When the helper was asked for (the owner's status records it, so a restart keeps it). */
  readonly sinceMs: number;
  readonly nowMs: number;
  readonly timeouts: HelperTimeouts;
}

export function helperState(o: HelperObservation): HelperState {
  const waited = o.nowMs - o.sinceMs;
  const claimName = o.claim?.metadata?.name ?? '(unknown)';
  if (!o.claim) return { phase: 'Failed', reason: 'ProvisioningFailed', message: `the claim of the helper pod does not exist (deleted while the helper waited?); create it again or remove it from the request` };
  if (o.claim.status?.phase === 'Lost') return { phase: 'Failed', reason: 'ProvisioningFailed', message: `claim ${claimName} is Lost (its PersistentVolume is gone); check the PV and the storage driver` };
  if (o.claim.status?.phase !== 'Bound' && !isWaitForFirstConsumer(o.pod)) {
    if (waited > o.timeouts.provisionMs) return { phase: 'Failed', reason: 'ProvisioningFailed', message: `claim ${claimName} is still ${o.claim.status?.phase ?? 'Pending'} after ${seconds(waited)}; check its events (kubectl describe pvc ${claimName}) and the storage class's provisioner` };
    return { phase: 'Pending', message: `waiting for claim ${claimName} to be bound` };
  }
  return podState(o, waited);
}

function podState(o: HelperObservation, waited: number): HelperState {
  const pod = o.pod;
  const name = pod?.metadata?.name ?? '(not created)';
  const phase = pod?.status?.phase;
  if (phase === 'Running' && pod?.spec?.nodeName) return { phase: 'Ready', node: pod.spec.nodeName, podUid: pod.metadata?.uid ?? '' };
  if (phase === 'Failed' || phase === 'Succeeded') return { phase: 'Failed', reason: 'HelperPodFailed', message: `helper pod ${name} stopped (${phase}) before the data moved: ${terminationOf(pod)}` };
  const unschedulable = pod?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
  if (waited <= o.timeouts.startMs) return { phase: 'Pending', message: unschedulable ? `helper pod ${name} not scheduled yet: ${unschedulable.message ?? ''}` : `waiting for helper pod ${name} to run` };
  if (unschedulable) return { phase: 'Failed', reason: 'Unschedulable', message: `helper pod ${name} could not be scheduled for ${seconds(waited)}: ${unschedulable.message ?? 'no reason given'}; free resources on a node that can reach the volume or lower the helper requests (--helper-cpu, --helper-memory)` };
  return { phase: 'Failed', reason: 'HelperPodTimeout', message: `helper pod ${name} did not start within ${seconds(waited)} (phase ${phase ?? 'unknown'}); check kubectl describe pod ${name}` };
}

// With WaitForFirstConsumer binding the claim stays Pending until the pod is scheduled: the pod decides.
function isWaitForFirstConsumer(pod: V1Pod | undefined): boolean {
  return pod?.spec?.nodeName !== undefined && pod.spec.nodeName !== '';
}

function terminationOf(pod: V1Pod | undefined): string {
  const s = pod?.status?.containerStatuses?.[0]?.state?.terminated;
  return s ? `exit ${s.exitCode}${s.message ? `, ${s.message}` : ''}` : 'no termination state';
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}
