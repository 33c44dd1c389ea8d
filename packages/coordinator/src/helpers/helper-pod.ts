/**
 * The helper pod: a short-lived pod the coordinator creates on purpose so that a volume no
 * workload mounts (an unmounted PVC, a PVC provisioned from a VolumeSnapshot, a restore
 * target) is laid out by the kubelet like any pod volume, where the node's agent finds it.
 *
 * Its spec is fixed and minimal: the agent image's wait binary (ferry-restore-wait, which
 * only polls for a marker file and exits on timeout), no service-account token, no
 * capabilities, a read-only root, a non-root user, requests from a setting, and node
 * affinity copied from the PV so the pod lands where a topology-bound volume can attach.
 * It is owned by the Ferry object it serves (garbage-collected with it) and labelled so a
 * coordinator that starts sweeps what a crashed one left.
 */
import type { V1NodeSelectorTerm, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1Toleration } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';

/** On every helper pod: what it serves (`backup`, `restore`, `snapshot`). Sweeps select by it. */
export const HELPER_POD_LABEL = 'ferry.dev/helper';
/** On every helper pod: the uid of the owning Ferry object (the sweep checks it still exists). */
export const HELPER_OWNER_UID_LABEL = 'ferry.dev/helper-owner-uid';
/** The one volume of a helper pod; the agent finds it under <pods-dir>/<uid>/volumes as for any pod. */
export const HELPER_VOLUME_NAME = 'data';
/** Where the filesystem volume is mounted, or the block device's path in the container. */
export const HELPER_MOUNT_PATH = '/ferry/data';
/** The helper pod's one container: the wait binary. */
export const HELPER_CONTAINER = 'wait';
/** The UID/GID the wait binary runs as (distroless "nonroot"); it never touches the data. */
export const HELPER_RUN_AS_USER = 65532;

export type HelperPurpose = 'backup' | 'restore' | 'snapshot';

/** A pod that counts as mounting its claims: not a helper pod, and not finished. */
export function mountsClaims(pod: V1Pod): boolean {
  return pod.metadata?.labels?.[HELPER_POD_LABEL] === undefined && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

export interface HelperPodSettings {
  /** The agent image (it holds ferry-restore-wait). */
  readonly image: string;
  /** argv of the wait binary in that image. */
  readonly command: readonly string[];
  readonly requests: { readonly cpu: string; readonly memory: string };
  /** How long the pod waits before it exits by itself (the state machine's timeout is shorter). */
  readonly lifetimeSeconds: number;
  /** Tolerations added to every helper pod (for tainted storage nodes), from a setting. */
  readonly tolerations?: readonly V1Toleration[];
}

export interface HelperOwner {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export interface HelperPodOptions {
  readonly purpose: HelperPurpose;
  readonly owner: HelperOwner;
  readonly claim: V1PersistentVolumeClaim;
  /** The bound PV, when there is one: its nodeAffinity pins the pod to where the volume is. */
  readonly volume?: V1PersistentVolume;
  readonly settings: HelperPodSettings;
}

/** A deterministic name per (owner, claim): a retry after a crash finds the same pod instead of creating a second. */
export function helperPodName(owner: HelperOwner, claimName: string): string {
  const hash = createHash('sha256').update(`${owner.uid}/${claimName}`).digest('hex').slice(0, 10);
  return `ferry-helper-${hash}`;
}

export function helperPodSpec(o: HelperPodOptions): V1Pod {
  const namespace = o.claim.metadata?.namespace ?? '';
  const claimName = o.claim.metadata?.name ?? '';
  const block = o.claim.spec?.volumeMode === 'Block';
  const readOnly = o.purpose !== 'restore';
  const terms = o.volume?.spec?.nodeAffinity?.required?.nodeSelectorTerms;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: helperPodName(o.owner, claimName),
      namespace,
      labels: { [HELPER_POD_LABEL]: o.purpose, [HELPER_OWNER_UID_LABEL]: o.owner.uid, 'app.kubernetes.io/managed-by': 'ferry' },
      // Not blockOwnerDeletion: the owner lives in another namespace when it is a Backup of
      // several, and a cross-namespace owner is never collected; the sweep covers that case.
      ownerReferences: namespace === o.owner.namespace ? [{ apiVersion: o.owner.apiVersion, kind: o.owner.kind, name: o.owner.name, uid: o.owner.uid, controller: true }] : [],
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 1,
      ...(terms && terms.length > 0 ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms as V1NodeSelectorTerm[] } } } } : {}),
      ...(o.settings.tolerations && o.settings.tolerations.length > 0 ? { tolerations: [...o.settings.tolerations] } : {}),
      securityContext: { runAsNonRoot: true, runAsUser: HELPER_RUN_AS_USER, runAsGroup: HELPER_RUN_AS_USER, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{
        name: HELPER_CONTAINER,
        image: o.settings.image,
        command: [...o.settings.command, '--restore-uid', o.owner.uid, '--timeout', `${o.settings.lifetimeSeconds}s`, HELPER_MOUNT_PATH],
        resources: { requests: { ...o.settings.requests }, limits: { memory: o.settings.requests.memory } },
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } },
        ...(block ? { volumeDevices: [{ name: HELPER_VOLUME_NAME, devicePath: HELPER_MOUNT_PATH }] } : { volumeMounts: [{ name: HELPER_VOLUME_NAME, mountPath: HELPER_MOUNT_PATH, readOnly }] }),
      }],
      volumes: [{ name: HELPER_VOLUME_NAME, persistentVolumeClaim: { claimName, readOnly } }],
    },
  };
}
