/**
 * FAKE PVC provisioner (test support, never shipped): what a CSI driver's external-provisioner
 * and the PV controller do together for claims of a storage class whose provisioner is
 * `FAKE_CSI_DRIVER`: create a CSI PersistentVolume of the requested size, lay out the
 * volume's storage where the fake kubelets look for a PV's data (`<pvStorageDir>/<pv>`,
 * kubelet-volumes.ts), and bind the two (spec.volumeName, claimRef, both statuses).
 *
 * Immediate classes are provisioned at once; WaitForFirstConsumer classes once a pod that
 * mounts the claim is bound to a node (the real scheduler's selected-node step), and the PV
 * is then pinned to that node. Claims with a dataSource/dataSourceRef of kind VolumeSnapshot
 * are left alone: the fake snapshot controller provisions those. The API server's own PV
 * binder does not run in the test control plane (test/kube/control-plane.ts), so nothing else binds.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, ListWatch, StorageV1Api, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { FAKE_CSI_DRIVER } from './workloads.js';

/** Two classes, so a restore into another class is tested: `fake-immediate` binds at once, `fake-wffc` waits for a pod. */
export const FAKE_STORAGE_CLASSES = { immediate: 'fake-immediate', waitForFirstConsumer: 'fake-wffc' } as const;

export interface FakeProvisionerOptions {
  readonly kubeConfig: KubeConfig;
  /** Shared with the fake kubelets: where a PV's data lives while no pod mounts it. */
  readonly pvStorageDir: string;
  /** How often waiting (WaitForFirstConsumer) claims are looked at again. */
  readonly resyncMs?: number;
}

/** Creates the two fake storage classes (idempotent). */
export async function createFakeStorageClasses(kc: KubeConfig): Promise<void> {
  const storage = kc.makeApiClient(StorageV1Api);
  const classes: V1StorageClass[] = [
    { metadata: { name: FAKE_STORAGE_CLASSES.immediate, labels: { 'test.ferry.dev/fake': 'true' } }, provisioner: FAKE_CSI_DRIVER, volumeBindingMode: 'Immediate', reclaimPolicy: 'Delete' },
    { metadata: { name: FAKE_STORAGE_CLASSES.waitForFirstConsumer, labels: { 'test.ferry.dev/fake': 'true' } }, provisioner: FAKE_CSI_DRIVER, volumeBindingMode: 'WaitForFirstConsumer', reclaimPolicy: 'Delete' },
  ];
  for (const body of classes) await storage.createStorageClass({ body }).catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
}

/** A new CSI PV for the claim, its storage laid out, then both bound; used by createBoundPvc too. */
export async function provisionAndBind(core: CoreV1Api, pvc: V1PersistentVolumeClaim, o: { readonly pvStorageDir?: string; readonly node?: string }): Promise<V1PersistentVolumeClaim> {
  const namespace = pvc.metadata!.namespace!;
  const name = pvc.metadata!.name!;
  const storage = pvc.spec?.resources?.requests?.['storage'] ?? '1Gi';
  const accessModes = pvc.spec?.accessModes ?? ['ReadWriteOnce'];
  const pvName = `pvc-${pvc.metadata!.uid}`;
  const claimRef = { kind: 'PersistentVolumeClaim', namespace, name, uid: pvc.metadata!.uid!, apiVersion: 'v1' };
  const affinity = o.node ? { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [o.node] }] }] } } } : {};
  const pv: V1PersistentVolume = {
    metadata: { name: pvName, annotations: { 'pv.kubernetes.io/provisioned-by': FAKE_CSI_DRIVER } },
    spec: { capacity: { storage }, accessModes, persistentVolumeReclaimPolicy: 'Delete', claimRef, csi: { driver: FAKE_CSI_DRIVER, volumeHandle: pvName }, ...(pvc.spec?.storageClassName ? { storageClassName: pvc.spec.storageClassName } : {}), ...(pvc.spec?.volumeMode ? { volumeMode: pvc.spec.volumeMode } : {}), ...affinity },
  };
  // The driver's volume: an empty directory the kubelet moves into the pod's volume path.
  if (o.pvStorageDir && pvc.spec?.volumeMode !== 'Block') await mkdir(join(o.pvStorageDir, pvName), { recursive: true });
  await core.createPersistentVolume({ body: pv }).catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
  await core.patchPersistentVolumeStatus({ name: pvName, body: [{ op: 'replace', path: '/status', value: { phase: 'Bound' } }] });
  await core.patchNamespacedPersistentVolumeClaim({ namespace, name, body: [{ op: 'add', path: '/spec/volumeName', value: pvName }] });
  return core.patchNamespacedPersistentVolumeClaimStatus({ namespace, name, body: [{ op: 'replace', path: '/status', value: { phase: 'Bound', accessModes, capacity: { storage } } }] });
}

function fromSnapshot(pvc: V1PersistentVolumeClaim): boolean {
  return pvc.spec?.dataSource?.kind === 'VolumeSnapshot' || pvc.spec?.dataSourceRef?.kind === 'VolumeSnapshot';
}

export class FakeProvisioner {
  private readonly core: CoreV1Api;
  private readonly storage: StorageV1Api;
  private readonly informer: ListWatch<V1PersistentVolumeClaim>;
  private readonly busy = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Claims provisioned, `<namespace>/<name>` (what a test may assert on). */
  readonly provisioned: string[] = [];

  private constructor(private readonly o: FakeProvisionerOptions) {
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.storage = o.kubeConfig.makeApiClient(StorageV1Api);
    this.informer = new ListWatch<V1PersistentVolumeClaim>('/api/v1/persistentvolumeclaims', new Watch(o.kubeConfig), () => this.core.listPersistentVolumeClaimForAllNamespaces(), false);
    this.informer.on('add', (p) => void this.consider(p));
    this.informer.on('update', (p) => void this.consider(p));
    this.informer.on('error', () => setTimeout(() => {
      if (!this.stopped) void this.informer.start().catch(() => undefined);
    }, 200));
  }

  static async start(o: FakeProvisionerOptions): Promise<FakeProvisioner> {
    const p = new FakeProvisioner(o);
    await p.informer.start();
    p.timer = setInterval(() => {
      for (const pvc of p.informer.list()) void p.consider(pvc);
    }, o.resyncMs ?? 300);
    return p;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.informer.stop();
  }

  private async consider(pvc: V1PersistentVolumeClaim): Promise<void> {
    const key = `${pvc.metadata?.namespace}/${pvc.metadata?.name}`;
    if (this.stopped || pvc.spec?.volumeName || pvc.metadata?.deletionTimestamp || fromSnapshot(pvc) || this.busy.has(key)) return;
    this.busy.add(key);
    try {
      const cls = pvc.spec?.storageClassName ? await this.storage.readStorageClass({ name: pvc.spec.storageClassName }).catch(() => undefined) : undefined;
      if (cls?.provisioner !== FAKE_CSI_DRIVER) return;
      const node = cls.volumeBindingMode === 'WaitForFirstConsumer' ? await this.consumerNode(pvc) : undefined;
      if (cls.volumeBindingMode === 'WaitForFirstConsumer' && node === undefined) return;
      // The cache may lag behind a bind this provisioner just did.
      const fresh = await this.core.readNamespacedPersistentVolumeClaim({ namespace: pvc.metadata!.namespace!, name: pvc.metadata!.name! });
      if (fresh.spec?.volumeName || fresh.metadata?.uid !== pvc.metadata?.uid) return;
      await provisionAndBind(this.core, fresh, { pvStorageDir: this.o.pvStorageDir, ...(node ? { node } : {}) });
      this.provisioned.push(key);
    } catch {
      // Tried again on the next resync, as a provisioner retries.
    } finally {
      this.busy.delete(key);
    }
  }

  /** The node of a scheduled pod that mounts the claim (undefined while there is none). */
  private async consumerNode(pvc: V1PersistentVolumeClaim): Promise<string | undefined> {
    const pods = (await this.core.listNamespacedPod({ namespace: pvc.metadata!.namespace! })).items;
    return pods.find((p) => p.spec?.nodeName && (p.spec.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === pvc.metadata?.name))?.spec?.nodeName;
  }
}
