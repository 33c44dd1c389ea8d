/**
 * Snapshot mode's objects on the Kubernetes API: CSI VolumeSnapshots
 * (snapshot.storage.k8s.io/v1), their classes, and the claims provisioned from them. Kept
 * apart from ClusterState like the helper pods: only snapshot mode creates and deletes these,
 * and its RBAC is granted for that alone (docs/helper-pods.md, Permissions).
 */
import type { CoreV1Api, CustomObjectsApi, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { createOrRead, isNotFound } from '../errors.js';
import { HELPER_OWNER_UID_LABEL, HELPER_POD_LABEL } from './helper-pod.js';
import type { OwnerWantsHelper, SweepResult } from './helper-pods.js';

const SNAPSHOT_API = { group: 'snapshot.storage.k8s.io', version: 'v1' } as const;
/** The annotation the CSI snapshot controller reads to pick a driver's class when none is named. */
export const DEFAULT_SNAPSHOT_CLASS_ANNOTATION = 'snapshot.storage.kubernetes.io/is-default-class';

export interface VolumeSnapshotObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; uid?: string; labels?: Record<string, string>; ownerReferences?: unknown[]; creationTimestamp?: string | Date };
  spec: { source: { persistentVolumeClaimName?: string; volumeSnapshotContentName?: string }; volumeSnapshotClassName?: string };
  status?: { readyToUse?: boolean; creationTime?: string; restoreSize?: string; boundVolumeSnapshotContentName?: string; error?: { message?: string; time?: string } };
}

export interface VolumeSnapshotClassObject {
  metadata: { name?: string; annotations?: Record<string, string> };
  driver: string;
  deletionPolicy?: string;
}

export interface VolumeSnapshotsOptions {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
}

export class VolumeSnapshots {
  constructor(private readonly o: VolumeSnapshotsOptions) {}

  /** Every VolumeSnapshotClass; empty when the snapshot CRDs are not installed (no snapshot support at all). */
  async classes(): Promise<VolumeSnapshotClassObject[]> {
    try {
      return ((await this.o.custom.listClusterCustomObject({ ...SNAPSHOT_API, plural: 'volumesnapshotclasses' })) as { items: VolumeSnapshotClassObject[] }).items;
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /** Creates the snapshot unless one of that name exists (a retry after a crash); returns what is stored. */
  async createOrGet(snapshot: VolumeSnapshotObject): Promise<VolumeSnapshotObject> {
    const namespace = snapshot.metadata.namespace ?? '';
    return createOrRead(
      async () => (await this.o.custom.createNamespacedCustomObject({ ...SNAPSHOT_API, namespace, plural: 'volumesnapshots', body: snapshot })) as VolumeSnapshotObject,
      async () => (await this.get(namespace, snapshot.metadata.name ?? '')) ?? snapshot,
    );
  }

  async get(namespace: string, name: string): Promise<VolumeSnapshotObject | undefined> {
    try {
      return (await this.o.custom.getNamespacedCustomObject({ ...SNAPSHOT_API, namespace, plural: 'volumesnapshots', name })) as VolumeSnapshotObject;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(namespace: string, name: string): Promise<void> {
    try {
      await this.o.custom.deleteNamespacedCustomObject({ ...SNAPSHOT_API, namespace, plural: 'volumesnapshots', name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async createOrGetClaim(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim> {
    const namespace = claim.metadata?.namespace ?? '';
    return createOrRead(
      () => this.o.core.createNamespacedPersistentVolumeClaim({ namespace, body: claim, fieldValidation: 'Strict' }),
      () => this.o.core.readNamespacedPersistentVolumeClaim({ namespace, name: claim.metadata?.name ?? '' }),
    );
  }

  async deleteClaim(namespace: string, name: string): Promise<void> {
    try {
      await this.o.core.deleteNamespacedPersistentVolumeClaim({ namespace, name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * On start: the snapshots and claims of snapshot mode whose owner is gone or done are
   * deleted, as helper pods are (a crash between "volume ended" and "deleted" leaves them).
   */
  async sweep(ownerWantsHelper: OwnerWantsHelper): Promise<SweepResult> {
    const deleted: string[] = [];
    const kept: string[] = [];
    const selector = `${HELPER_POD_LABEL}=snapshot`;
    const snapshots = await this.o.custom.listClusterCustomObject({ ...SNAPSHOT_API, plural: 'volumesnapshots', labelSelector: selector }).then((r) => (r as { items: VolumeSnapshotObject[] }).items, (err: unknown) => {
      if (isNotFound(err)) return [];
      throw err;
    });
    const claims = (await this.o.core.listPersistentVolumeClaimForAllNamespaces({ labelSelector: selector })).items;
    const found = [
      ...claims.map((c) => ({ what: 'pvc', meta: c.metadata ?? {}, remove: (ns: string, n: string) => this.deleteClaim(ns, n) })),
      ...snapshots.map((s) => ({ what: 'volumesnapshot', meta: s.metadata, remove: (ns: string, n: string) => this.delete(ns, n) })),
    ];
    for (const f of found) {
      const key = `${f.what} ${f.meta.namespace ?? ''}/${f.meta.name ?? ''}`;
      const owner = f.meta.labels?.[HELPER_OWNER_UID_LABEL] ?? '';
      if (owner !== '' && (await ownerWantsHelper(owner))) {
        kept.push(key);
        continue;
      }
      await f.remove(f.meta.namespace ?? '', f.meta.name ?? '');
      deleted.push(key);
    }
    return { deleted, kept };
  }
}
