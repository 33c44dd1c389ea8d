/**
 * Watches (client-node ListWatch: list, then watch, relist on 410) of the objects the
 * controllers react to. They only trigger reconciles and index objects by uid; handlers
 * read the objects fresh from the API before deciding anything.
 *
 * A watch that ends (server timeout, cut connection) resumes from the last resourceVersion
 * it saw; one whose version was compacted away gets 410 Gone and relists, and the relist
 * reports what changed meanwhile (adds, updates, and deletes for objects no longer listed).
 * Bookmarks are asked for, as client-go's reflector does: a quiet kind's resourceVersion
 * then keeps up with the cluster's, so a reconnect resumes instead of relisting everything.
 */
import { ListWatch, Watch, type CoreV1Api, type CustomObjectsApi, type KubeConfig, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION } from '@ferry/api';
import { RESTORED_POD_LABEL } from './labels.js';
import { FERRY_KINDS, type ClusterEvent, type ClusterWatch, type FerryKind, type WatchedKind } from './cluster-state.js';

/** The clients a watch reads through (KubeClusterState has them). */
export interface KubeClients {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly kubeConfig: KubeConfig;
  readonly options?: { readonly systemNamespace?: string };
}

/** client-go's reflector watches for a random 5-10 minutes, so reconnects of many clients spread out. */
const MIN_WATCH_TIMEOUT_S = 300;

export interface KubeWatchOptions {
  /** Seconds a watch request lasts before the server ends it and it resumes (default: random 300-600). */
  readonly watchTimeoutSeconds?: () => number;
}

/** Every watch request asks for bookmarks and a bounded timeout (ListWatch sets neither). */
class BookmarkWatch extends Watch {
  constructor(kubeConfig: KubeConfig, private readonly timeoutSeconds: () => number) {
    super(kubeConfig);
  }

  override watch(...[path, queryParams, callback, done]: Parameters<Watch['watch']>): Promise<AbortController> {
    return super.watch(path, { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.timeoutSeconds() }, callback, done);
  }
}

const WATCHED_FERRY_KINDS = ['Backup', 'PodVolumeBackup', 'Restore', 'PodVolumeRestore', 'BackupSchedule', 'BackupRepository'] as const;

export class KubeWatch implements ClusterWatch {
  private readonly watches = new Map<WatchedKind, ListWatch<KubernetesObject>>();
  private readonly stoppedFlag = { value: false };

  private readonly timeoutSeconds: () => number;

  constructor(private readonly kube: KubeClients, private readonly onEvent: (e: ClusterEvent) => void, options: KubeWatchOptions = {}) {
    this.timeoutSeconds = options.watchTimeoutSeconds ?? (() => Math.floor(MIN_WATCH_TIMEOUT_S * (1 + Math.random())));
    for (const kind of WATCHED_FERRY_KINDS) this.watches.set(kind, this.ferryWatch(kind));
    const selector = RESTORED_POD_LABEL;
    const list = () => kube.core.listPodForAllNamespaces({ labelSelector: selector });
    this.watches.set('Pod', this.wire('Pod', new ListWatch<V1Pod>('/api/v1/pods', this.newWatch(), list, false, selector) as unknown as ListWatch<KubernetesObject>));
  }

  private newWatch(): Watch {
    return new BookmarkWatch(this.kube.kubeConfig, this.timeoutSeconds);
  }

  private ferryWatch(kind: FerryKind & WatchedKind): ListWatch<KubernetesObject> {
    const plural = FERRY_KINDS[kind].plural;
    // BackupRepositories live in the coordinator's namespace only, and its Role reads them only there.
    const namespace = kind === 'BackupRepository' ? this.kube.options?.systemNamespace : undefined;
    const ref = { group: API_GROUP, version: API_VERSION, plural };
    const list = async () => (namespace ? await this.kube.custom.listNamespacedCustomObject({ ...ref, namespace }) : await this.kube.custom.listClusterCustomObject(ref)) as { items: KubernetesObject[]; metadata: { resourceVersion?: string } };
    const path = `/apis/${API_GROUP}/${API_VERSION}/${namespace ? `namespaces/${namespace}/` : ''}${plural}`;
    return this.wire(kind, new ListWatch<KubernetesObject>(path, this.newWatch(), list as never, false));
  }

  private wire(kind: WatchedKind, lw: ListWatch<KubernetesObject>): ListWatch<KubernetesObject> {
    lw.on('add', (o) => this.onEvent({ kind, type: 'add', object: o as ClusterEvent['object'] }));
    lw.on('update', (o) => this.onEvent({ kind, type: 'update', object: o as ClusterEvent['object'] }));
    lw.on('delete', (o) => this.onEvent({ kind, type: 'delete', object: o as ClusterEvent['object'] }));
    // A ListWatch stops for good on an error; keep it alive as the real controllers do.
    lw.on('error', () => setTimeout(() => {
      if (!this.stoppedFlag.value) void lw.start().catch(() => undefined);
    }, 500));
    return lw;
  }

  async start(): Promise<void> {
    await Promise.all([...this.watches.values()].map((w) => w.start()));
  }

  list<T>(kind: WatchedKind): T[] {
    return (this.watches.get(kind)?.list() ?? []) as unknown as T[];
  }

  async stop(): Promise<void> {
    this.stoppedFlag.value = true;
    await Promise.all([...this.watches.values()].map((w) => w.stop()));
  }
}
