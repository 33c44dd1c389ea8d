/**
 * ClusterState over the Kubernetes API (client-node): Ferry's custom resources, pods,
 * claims, Secrets, Events, exec, TokenReview and SubjectAccessReview. Status is written
 * through `replaceStatus` alone (a JSON patch guarded by the resourceVersion the caller
 * read), so two writers never overwrite each other silently: the loser gets a conflict.
 */
import { AuthenticationV1Api, AuthorizationV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1PersistentVolume, type V1PersistentVolumeClaim, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION } from '@ferry/api';
import type { Clock } from '../clock.js';
import { createOrRead, isNotFound } from '../errors.js';
import { FERRY_KINDS, type AccessRequest, type ClusterEvent, type ClusterState, type ClusterWatch, type EventOptions, type ExecOptions, type ExecResult, type FerryKind, type FerryObject, type UserIdentity } from './cluster-state.js';
import { KubeWatch } from './kube-watch.js';
import { execInPod } from './kube-exec.js';
import { reuseConnections } from './kube-connections.js';

interface ListResult<T> {
  items: T[];
}

export class KubeClusterState implements ClusterState {
  readonly mode = 'kubernetes' as const;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  /** Leases for leader election (Kubernetes mode only; standalone runs one process). */
  readonly coordination: CoordinationV1Api;
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;

  /**
   * `systemNamespace`: where the coordinator's BackupRepositories live. Its RBAC reads them
   * only there (a Role), so they are watched there, not cluster-wide.
   */
  constructor(readonly kubeConfig: KubeConfig, readonly options: { readonly systemNamespace?: string } = {}) {
    reuseConnections(kubeConfig);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.coordination = kubeConfig.makeApiClient(CoordinationV1Api);
    this.authn = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.authz = kubeConfig.makeApiClient(AuthorizationV1Api);
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
    return createOrRead(
      async () => (FERRY_KINDS[kind].namespaced ? await this.custom.createNamespacedCustomObject({ ...this.ref(kind), namespace, body: full }) : await this.custom.createClusterCustomObject({ ...this.ref(kind), body: full })) as O,
      () => this.get<O>(kind, namespace, body.metadata.name ?? ''),
    );
  }

  /** Replaces status iff the object still has `resourceVersion`; throws a 409/422 otherwise. */
  async replaceStatus<O extends FerryObject>(kind: FerryKind, obj: O, status: unknown): Promise<O> {
    const body = [
      { op: 'test', path: '/metadata/resourceVersion', value: obj.metadata.resourceVersion },
      { op: 'add', path: '/status', value: status },
    ];
    const namespace = obj.metadata.namespace ?? '';
    const name = obj.metadata.name ?? '';
    if (!FERRY_KINDS[kind].namespaced) return (await this.custom.patchClusterCustomObjectStatus({ ...this.ref(kind), name, body })) as O;
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

  /** Sets (a string) or removes (null) labels of a pod with a merge patch (the coordinator's own pod only: its Role). */
  async labelPod(namespace: string, name: string, labels: Readonly<Record<string, string | null>>): Promise<void> {
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await this.core.patchNamespacedPod({ namespace, name, body: { metadata: { labels } } }, options);
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

  async getClaim(namespace: string, name: string): Promise<V1PersistentVolumeClaim | undefined> {
    try {
      return await this.core.readNamespacedPersistentVolumeClaim({ namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async getPersistentVolume(name: string): Promise<V1PersistentVolume | undefined> {
    try {
      return await this.core.readPersistentVolume({ name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
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
    return createOrRead(
      () => this.core.createNamespacedSecret({ namespace, body: secret }),
      () => this.getSecret(namespace, secret.metadata?.name ?? ''),
    );
  }

  /** A core/v1 Event; failures to record one are not worth failing a reconcile for. */
  async event(options: EventOptions, clock: Clock): Promise<void> {
    const time = new Date(clock.now());
    const { involved } = options;
    const name = `${involved.name}.${clock.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    // Events about cluster-scoped objects (BackupLocations) live in default, as the API server requires.
    const namespace = involved.namespace || 'default';
    await this.core
      .createNamespacedEvent({
        namespace,
        body: {
          metadata: { name, namespace },
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

  registerPodAdmission(): boolean {
    return false;
  }

  watch(onEvent: (e: ClusterEvent) => void): ClusterWatch {
    return new KubeWatch(this, onEvent);
  }

  exec(options: ExecOptions): Promise<ExecResult> {
    return execInPod(this.kubeConfig, options);
  }

  async authenticate(token: string): Promise<UserIdentity | undefined> {
    const review = await this.authn.createTokenReview({ body: { spec: { token } } });
    const s = review.status;
    if (!s?.authenticated || !s.user?.username) return undefined;
    return { username: s.user.username, groups: s.user.groups ?? [], ...(s.user.uid ? { uid: s.user.uid } : {}), ...(s.user.extra ? { extra: s.user.extra } : {}) };
  }

  async authorize(r: AccessRequest): Promise<{ allowed: boolean; reason?: string }> {
    const review = await this.authz.createSubjectAccessReview({
      body: {
        spec: {
          user: r.user.username,
          groups: [...r.user.groups],
          ...(r.user.uid ? { uid: r.user.uid } : {}),
          ...(r.user.extra ? { extra: Object.fromEntries(Object.entries(r.user.extra).map(([k, v]) => [k, [...v]])) } : {}),
          resourceAttributes: { group: API_GROUP, version: API_VERSION, resource: r.resource, verb: r.verb, ...(r.namespace ? { namespace: r.namespace } : {}), ...(r.name ? { name: r.name } : {}) },
        },
      },
    });
    return { allowed: review.status?.allowed === true, ...(review.status?.reason ? { reason: review.status.reason } : {}) };
  }
}
