/**
 * The coordinator's only door to the Kubernetes API: typed helpers over client-node for
 * Ferry's custom resources, pods, claims, Secrets and Events. Status is written through
 * `replaceStatus` alone (a JSON patch guarded by the resourceVersion the caller read), so
 * two writers never overwrite each other silently: the loser gets a conflict and retries.
 */
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1PersistentVolumeClaim, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION } from '@ferry/api';
import type { Clock } from './clock.js';
import { isAlreadyExists, isNotFound } from './errors.js';

export const FERRY_KINDS = {
  BackupLocation: { plural: 'backuplocations', namespaced: false },
  BackupRepository: { plural: 'backuprepositories', namespaced: true },
  Backup: { plural: 'backups', namespaced: true },
  PodVolumeBackup: { plural: 'podvolumebackups', namespaced: true },
  Restore: { plural: 'restores', namespaced: true },
  PodVolumeRestore: { plural: 'podvolumerestores', namespaced: true },
} as const;
export type FerryKind = keyof typeof FERRY_KINDS;

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
}

/** A Ferry object as it comes from the API (spec and status typed by the caller). */
export interface FerryObject<S = unknown, T = unknown> {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: S;
  status?: T;
}

interface ListResult<T> {
  items: T[];
}

export class Kube {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly coordination: CoordinationV1Api;

  constructor(readonly kubeConfig: KubeConfig) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.coordination = kubeConfig.makeApiClient(CoordinationV1Api);
  }

  private ref(kind: FerryKind) {
    return { group: API_GROUP, version: API_VERSION, plural: FERRY_KINDS[kind].plural };
  }

  async get<O extends FerryObject>(kind: FerryKind, namespace: string, name: string): Promise<O | undefined> {
    try {
      const obj = FERRY_KINDS[kind].namespaced
        ? await this.custom.getNamespacedCustomObject({ ...this.ref(kind), namespace, name })
        : await this.custom.getClusterCustomObject({ ...this.ref(kind), name });
      return obj as O;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list<O extends FerryObject>(kind: FerryKind, namespace?: string, labelSelector?: string): Promise<O[]> {
    const res = namespace !== undefined && FERRY_KINDS[kind].namespaced
      ? await this.custom.listNamespacedCustomObject({ ...this.ref(kind), namespace, ...(labelSelector ? { labelSelector } : {}) })
      : await this.custom.listClusterCustomObject({ ...this.ref(kind), ...(labelSelector ? { labelSelector } : {}) });
    return (res as ListResult<O>).items;
  }

  /** Creates the object; an existing one of that name is returned instead (idempotent retries). */
  async createOrGet<O extends FerryObject>(kind: FerryKind, body: O): Promise<O> {
    const namespace = body.metadata.namespace ?? '';
    const full = { apiVersion: `${API_GROUP}/${API_VERSION}`, kind, ...body };
    try {
      return (await this.custom.createNamespacedCustomObject({ ...this.ref(kind), namespace, body: full })) as O;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const existing = await this.get<O>(kind, namespace, body.metadata.name ?? '');
      if (!existing) throw err;
      return existing;
    }
  }

  /** Replaces status iff the object still has `resourceVersion`; throws a 409/422 otherwise. */
  async replaceStatus<O extends FerryObject>(kind: FerryKind, obj: O, status: unknown): Promise<O> {
    const body = [
      { op: 'test', path: '/metadata/resourceVersion', value: obj.metadata.resourceVersion },
      { op: 'add', path: '/status', value: status },
    ];
    const namespace = obj.metadata.namespace ?? '';
    const name = obj.metadata.name ?? '';
    return (await this.custom.patchNamespacedCustomObjectStatus({ ...this.ref(kind), namespace, name, body })) as O;
  }

  /** A merge patch of spec or metadata (finalizers, cancel), guarded by resourceVersion when given. */
  async mergePatch<O extends FerryObject>(kind: FerryKind, namespace: string, name: string, patch: Record<string, unknown>): Promise<O> {
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    return (await this.custom.patchNamespacedCustomObject({ ...this.ref(kind), namespace, name, body: patch }, options)) as O;
  }

  async delete(kind: FerryKind, namespace: string, name: string): Promise<void> {
    try {
      await this.custom.deleteNamespacedCustomObject({ ...this.ref(kind), namespace, name, propagationPolicy: 'Background' });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async getPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    try {
      return await this.core.readNamespacedPod({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace, ...(labelSelector ? { labelSelector } : {}) })).items;
  }

  async listClaims(namespace: string): Promise<V1PersistentVolumeClaim[]> {
    return (await this.core.listNamespacedPersistentVolumeClaim({ namespace })).items;
  }

  async getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Creates the Secret unless one of that name exists; returns whichever is stored. */
  async createSecretOrGet(secret: V1Secret): Promise<V1Secret> {
    const namespace = secret.metadata?.namespace ?? '';
    try {
      return await this.core.createNamespacedSecret({ namespace, body: secret });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const existing = await this.getSecret(namespace, secret.metadata?.name ?? '');
      if (!existing) throw err;
      return existing;
    }
  }

  /** A core/v1 Event; failures to record one are not worth failing a reconcile for. */
  async event(options: EventOptions, clock: Clock): Promise<void> {
    const time = new Date(clock.now());
    const { involved } = options;
    const name = `${involved.name}.${clock.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    await this.core
      .createNamespacedEvent({
        namespace: involved.namespace,
        body: {
          metadata: { name, namespace: involved.namespace },
          involvedObject: { apiVersion: involved.apiVersion, kind: involved.kind, name: involved.name, namespace: involved.namespace, uid: involved.uid },
          type: options.type,
          reason: options.reason,
          message: options.message.slice(0, 1024),
          source: { component: 'ferry-coordinator' },
          firstTimestamp: time,
          lastTimestamp: time,
          count: 1,
          reportingComponent: 'ferry-coordinator',
        },
      })
      .catch(() => undefined);
  }
}

export interface EventOptions {
  readonly involved: { apiVersion: string; kind: string; name: string; namespace: string; uid?: string };
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}
