/**
 * FAKE workload helpers (test support, never shipped). There are no workload controllers
 * in the fake cluster; these create what a Deployment's ReplicaSet or a StatefulSet would:
 * the owner object, its pods (generateName or ordinal names, controller ownerReferences),
 * and for StatefulSets one PVC per claim template, each bound to a CSI PV as a dynamic
 * provisioner would do it. Calling them again after deleting the pods recreates the pods
 * against the same PVCs, as the real controllers would.
 */
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { provisionAndBind } from './provisioner.js';
import type { KubeConfig, V1OwnerReference, V1PersistentVolumeClaim, V1Pod, V1PodTemplateSpec, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node';

export const FAKE_CSI_DRIVER = 'fake.csi.ferry.dev';

export interface ReplicaSetPodsOptions {
  namespace: string;
  name: string;
  replicas: number;
  template: V1PodTemplateSpec;
}

export interface StatefulSetPodsOptions extends ReplicaSetPodsOptions {
  volumeClaimTemplates: { name: string; storage?: string }[];
}

async function getOrCreate<T>(read: () => Promise<T>, create: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if ((e as { code?: number }).code !== 404) throw e;
    return create();
  }
}

function ownerRef(apiVersion: string, kind: string, o: { metadata?: { name?: string; uid?: string } }): V1OwnerReference {
  return { apiVersion, kind, name: o.metadata!.name!, uid: o.metadata!.uid!, controller: true, blockOwnerDeletion: true };
}

function selectorLabels(t: V1PodTemplateSpec): Record<string, string> {
  return t.metadata?.labels ?? {};
}

/** A ReplicaSet (stored, not reconciled) and `replicas` pods owned by it, named `<name>-xxxxx`. */
export async function createReplicaSetPods(kc: KubeConfig, o: ReplicaSetPodsOptions): Promise<{ replicaSet: V1ReplicaSet; pods: V1Pod[] }> {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const body: V1ReplicaSet = { metadata: { name: o.name, labels: selectorLabels(o.template) }, spec: { replicas: o.replicas, selector: { matchLabels: selectorLabels(o.template) }, template: o.template } };
  const replicaSet = await getOrCreate(() => apps.readNamespacedReplicaSet({ namespace: o.namespace, name: o.name }), () => apps.createNamespacedReplicaSet({ namespace: o.namespace, body }));
  const pods: V1Pod[] = [];
  for (let i = 0; i < o.replicas; i++) {
    const metadata = { ...o.template.metadata, generateName: `${o.name}-`, ownerReferences: [ownerRef('apps/v1', 'ReplicaSet', replicaSet)] };
    pods.push(await core.createNamespacedPod({ namespace: o.namespace, body: { metadata, spec: o.template.spec } }));
  }
  return { replicaSet, pods };
}

export interface BoundPvcOptions {
  /** `Block`: a raw block claim and PV (pods use it under volumeDevices). */
  readonly volumeMode?: 'Block' | 'Filesystem';
}

/** A PVC bound to a fresh CSI PV (`pvc-<uid>`), like dynamic provisioning; reused if it exists. */
export async function createBoundPvc(kc: KubeConfig, namespace: string, name: string, storage = '1Gi', options: BoundPvcOptions = {}): Promise<V1PersistentVolumeClaim> {
  const core = kc.makeApiClient(CoreV1Api);
  const mode = options.volumeMode ? { volumeMode: options.volumeMode } : {};
  const spec = { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } }, ...mode };
  const pvc = await getOrCreate(() => core.readNamespacedPersistentVolumeClaim({ namespace, name }), () => core.createNamespacedPersistentVolumeClaim({ namespace, body: { metadata: { name }, spec } }));
  if (pvc.spec?.volumeName) return pvc;
  return provisionAndBind(core, pvc, {});
}

/** A StatefulSet (stored, not reconciled), its PVCs `<claim>-<name>-<i>` and pods `<name>-<i>`. */
export async function createStatefulSetPods(kc: KubeConfig, o: StatefulSetPodsOptions): Promise<{ statefulSet: V1StatefulSet; pods: V1Pod[]; claims: V1PersistentVolumeClaim[] }> {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const body: V1StatefulSet = { metadata: { name: o.name }, spec: { serviceName: o.name, replicas: o.replicas, selector: { matchLabels: selectorLabels(o.template) }, template: o.template } };
  const statefulSet = await getOrCreate(() => apps.readNamespacedStatefulSet({ namespace: o.namespace, name: o.name }), () => apps.createNamespacedStatefulSet({ namespace: o.namespace, body }));
  const pods: V1Pod[] = [];
  const claims: V1PersistentVolumeClaim[] = [];
  for (let i = 0; i < o.replicas; i++) {
    const podName = `${o.name}-${i}`;
    const vols = [];
    for (const t of o.volumeClaimTemplates) {
      const claim = await createBoundPvc(kc, o.namespace, `${t.name}-${podName}`, t.storage);
      claims.push(claim);
      vols.push({ name: t.name, persistentVolumeClaim: { claimName: claim.metadata!.name! } });
    }
    const labels = { ...selectorLabels(o.template), 'statefulset.kubernetes.io/pod-name': podName };
    const metadata = { ...o.template.metadata, name: podName, labels, ownerReferences: [ownerRef('apps/v1', 'StatefulSet', statefulSet)] };
    const spec = { ...o.template.spec!, hostname: podName, volumes: [...(o.template.spec?.volumes ?? []), ...vols] };
    pods.push(await core.createNamespacedPod({ namespace: o.namespace, body: { metadata, spec } }));
  }
  return { statefulSet, pods, claims };
}
