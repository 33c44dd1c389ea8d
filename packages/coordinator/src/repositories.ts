/**
 * Repositories: one per BackupLocation × namespace, each with its own master key (created
 * by the engine when the first backup job initialises it) wrapped by the cluster key, a
 * 32-byte secret held in one Secret in the coordinator's namespace and created on first
 * use. This module resolves locations, records BackupRepositories and builds the
 * `repository` part of a job. Secret material is read here and goes only into jobs.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type {
  RepositoryMessage,
  V1alpha1BackupLocation,
  V1alpha1BackupRepository,
  V1alpha1Mover,
  V1alpha1SecretKeySelector,
} from '@ferry/api';
import { CoordinatorError } from './errors.js';
import type { FerryObject, ClusterState } from './cluster/cluster-state.js';
import { IMPORTED_LABEL } from './cluster/labels.js';

export const CLUSTER_KEY_SECRET = 'ferry-cluster-key';
export const CLUSTER_KEY_FIELD = 'cluster-key';

export type LocationObject = FerryObject<V1alpha1BackupLocation['spec'], V1alpha1BackupLocation['status']>;
export type RepositoryObject = FerryObject<V1alpha1BackupRepository['spec'], V1alpha1BackupRepository['status']>;

export interface RepositoriesOptions {
  readonly cluster: ClusterState;
  /** The coordinator's namespace: BackupRepositories and the cluster key live here. */
  readonly namespace: string;
}

export class Repositories {
  constructor(private readonly o: RepositoriesOptions) {}

  /** The named location, or the one default location. */
  async resolveLocation(name: string | undefined): Promise<LocationObject> {
    if (name) {
      const found = await this.o.cluster.get<LocationObject>('BackupLocation', '', name);
      if (!found) throw new CoordinatorError('LocationNotFound', `BackupLocation ${name} does not exist; create it or name an existing one in spec.location`);
      return found;
    }
    const defaults = (await this.o.cluster.list<LocationObject>('BackupLocation')).filter((l) => l.spec.default === true);
    if (defaults.length !== 1) {
      throw new CoordinatorError('LocationNotFound', defaults.length === 0 ? 'no BackupLocation has spec.default: true; set one or name a location in spec.location' : `${defaults.length} BackupLocations have spec.default: true (${defaults.map((d) => d.metadata.name).join(', ')}); keep exactly one`);
    }
    return defaults[0]!;
  }

  static repositoryName(location: string, namespace: string): string {
    const name = `${location}-${namespace}`;
    if (name.length <= 253) return name;
    return `${name.slice(0, 236)}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
  }

  /**
   * The namespace's own BackupRepository at location (path = the namespace), created (with
   * the cluster key) on first use. Never an imported one: an object of this name that was
   * made by an import (older releases named imports like this) is refused, so a namespace's
   * new backups can only go into its own repository.
   */
  async ensure(location: LocationObject, namespace: string, mover: V1alpha1Mover): Promise<RepositoryObject> {
    await this.ensureClusterKey();
    const name = Repositories.repositoryName(location.metadata.name ?? '', namespace);
    const repo = await this.o.cluster.createOrGet<RepositoryObject>('BackupRepository', {
      metadata: { name, namespace: this.o.namespace, labels: { 'ferry.dev/location': location.metadata.name ?? '', 'ferry.dev/namespace': namespace } },
      spec: { location: location.metadata.name ?? '', namespace, mover, path: namespace, keySecretRef: { name: CLUSTER_KEY_SECRET, key: CLUSTER_KEY_FIELD } },
    });
    if (isImported(repo) || (repo.spec.path ?? namespace) !== namespace) {
      throw new CoordinatorError('FailedPrecondition', `BackupRepository ${this.o.namespace}/${name} is an imported repository at path ${repo.spec.path ?? namespace}, not namespace ${namespace}'s own; backups never write into it: delete it and import again (imports are now named imported-…)`);
    }
    return repo;
  }

  /**
   * A repository another cluster (or namespace) wrote, registered for restores into
   * `namespace`: its own object (`imported-<location>-<namespace>-<id>`), labelled imported,
   * never returned by ensure(), so new backups never use it.
   */
  async ensureImported(location: LocationObject, namespace: string, imported: { path: string; repositoryId: string }): Promise<RepositoryObject> {
    await this.ensureClusterKey();
    const locationName = location.metadata.name ?? '';
    const name = Repositories.repositoryName(`imported-${locationName.replace(/^imported-/, '')}`, `${namespace}-${imported.repositoryId.slice(0, 12)}`);
    return this.o.cluster.createOrGet<RepositoryObject>('BackupRepository', {
      metadata: { name, namespace: this.o.namespace, labels: { 'ferry.dev/location': locationName, 'ferry.dev/namespace': namespace, [IMPORTED_LABEL]: 'true' } },
      spec: { location: locationName, namespace, mover: 'native', path: imported.path, repositoryId: imported.repositoryId, keySecretRef: { name: CLUSTER_KEY_SECRET, key: CLUSTER_KEY_FIELD } },
    });
  }

  /**
   * Throws ReadOnly (naming the BackupLocation) when this cluster may only read the
   * repository: it was imported, or its location has accessMode ReadOnly. Every writer
   * (forget, purge, retention, prune) asks first.
   */
  async assertWritable(repositoryName: string, operation: string): Promise<void> {
    const repo = await this.get(repositoryName);
    const location = await this.resolveLocation(repo.spec.location);
    assertLocationWritable(location, operation);
    if (isImported(repo)) {
      throw new CoordinatorError('ReadOnly', `BackupRepository ${this.o.namespace}/${repositoryName} at BackupLocation ${repo.spec.location} was imported: this cluster only restores from it, so ${operation} is refused; run it on the cluster that owns the repository`);
    }
  }

  private async ensureClusterKey(): Promise<void> {
    const existing = await this.o.cluster.getSecret(this.o.namespace, CLUSTER_KEY_SECRET);
    if (existing) return;
    // Two coordinators racing both try; the API server keeps the first and we read it back.
    await this.o.cluster.createSecretOrGet({
      metadata: { name: CLUSTER_KEY_SECRET, namespace: this.o.namespace, labels: { 'app.kubernetes.io/part-of': 'ferry' } },
      type: 'Opaque',
      data: { [CLUSTER_KEY_FIELD]: randomBytes(32).toString('base64') },
    });
  }

  /** This cluster's key (created on first use), for opening native repositories here. Secret: never log it. */
  async clusterKey(): Promise<Buffer> {
    await this.ensureClusterKey();
    return this.secretValue({ name: CLUSTER_KEY_SECRET, key: CLUSTER_KEY_FIELD }, CLUSTER_KEY_FIELD);
  }

  /** Where a repository at `path` under `location` is and the S3 credentials to reach it (no key). Holds secrets. */
  async storeAccess(location: LocationObject, path: string): Promise<Pick<RepositoryMessage, 'location' | 's3'>> {
    const s3 = location.spec.s3 ? await this.s3Credentials(location) : undefined;
    return { location: locationUrl(location, path), ...(s3 ? { s3 } : {}) };
  }

  async get(name: string): Promise<RepositoryObject> {
    const repo = await this.o.cluster.get<RepositoryObject>('BackupRepository', this.o.namespace, name);
    if (!repo) throw new CoordinatorError('NotFound', `BackupRepository ${this.o.namespace}/${name} does not exist; it is created by the first backup of its namespace`);
    return repo;
  }

  /** What an agent needs to open (or create) the repository. Holds secrets: never log it. */
  async jobRepository(repositoryName: string, options: { initialize: boolean }): Promise<RepositoryMessage> {
    const repo = await this.get(repositoryName);
    const location = await this.resolveLocation(repo.spec.location);
    const key = await this.secretValue(repo.spec.keySecretRef, repo.spec.mover === 'native' ? CLUSTER_KEY_FIELD : 'password');
    return {
      ...(await this.storeAccess(location, repo.spec.path ?? repo.spec.namespace)),
      key: repo.spec.mover === 'native' ? { clusterKey: key } : { password: resticPassword(repo, key) },
      initializeIfMissing: options.initialize,
    };
  }

  private async s3Credentials(location: LocationObject): Promise<NonNullable<RepositoryMessage['s3']>> {
    const s3 = location.spec.s3!;
    const ref = location.spec.credentialsSecretRef;
    const creds = ref ? await this.secretData(ref) : {};
    const ca = s3.caBundleRef ? await this.secretValue(s3.caBundleRef, 'ca.crt') : undefined;
    return {
      accessKeyId: creds['accessKeyId']?.toString('utf8') ?? '',
      secretAccessKey: creds['secretAccessKey']?.toString('utf8') ?? '',
      sessionToken: creds['sessionToken']?.toString('utf8') ?? '',
      region: s3.region ?? 'us-east-1',
      caBundlePem: ca?.toString('utf8') ?? '',
    };
  }

  private async secretData(ref: V1alpha1SecretKeySelector): Promise<Record<string, Buffer>> {
    const namespace = ref.namespace ?? this.o.namespace;
    const secret = await this.o.cluster.getSecret(namespace, ref.name);
    if (!secret) throw new CoordinatorError('CredentialsNotFound', `Secret ${namespace}/${ref.name} does not exist; create it or fix the reference`);
    return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  }

  private async secretValue(ref: V1alpha1SecretKeySelector, defaultKey: string): Promise<Buffer> {
    const key = ref.key ?? defaultKey;
    const value = (await this.secretData(ref))[key];
    if (!value || value.length === 0) throw new CoordinatorError('CredentialsNotFound', `Secret ${ref.namespace ?? this.o.namespace}/${ref.name} has no key ${key}`);
    return value;
  }
}

/**
 * The password restic gets for a repository. A user's own Secret (an imported restic
 * repository) is used as written. A repository keyed by the cluster key gets its own
 * password derived from it, HMAC-SHA-256(clusterKey, "ferry restic password v1" 0 namespace
 * 0 name) in hex: the raw 32 random bytes are no text (a NUL byte in them made Node refuse to
 * start restic, and its error quoted the bytes), and one password for every namespace's
 * repository would be the static shared key the design rules out.
 */
export function resticPassword(repo: RepositoryObject, key: Buffer): string {
  const ref = repo.spec.keySecretRef;
  if (ref.name !== CLUSTER_KEY_SECRET || (ref.key ?? CLUSTER_KEY_FIELD) !== CLUSTER_KEY_FIELD) return key.toString('utf8');
  const label = Buffer.from(`ferry restic password v1\0${repo.spec.namespace}\0${repo.metadata.name ?? ''}`, 'utf8');
  return createHmac('sha256', key).update(label).digest('hex');
}

/** `s3:<endpoint>/<bucket>/<prefix>/<path>` or `<filesystem path>/<path>`. */
export function locationUrl(location: LocationObject, path: string): string {
  const s3 = location.spec.s3;
  if (s3) {
    const endpoint = (s3.endpoint ?? `https://s3.${s3.region ?? 'us-east-1'}.amazonaws.com`).replace(/\/+$/, '');
    return `s3:${endpoint}/${[s3.bucket, s3.prefix, path].filter((p) => p).join('/')}`;
  }
  const fs = location.spec.filesystem;
  if (!fs) throw new CoordinatorError('InvalidArgument', `BackupLocation ${location.metadata.name} sets neither s3 nor filesystem`);
  return `${fs.path.replace(/\/+$/, '')}/${path}`;
}

/** Whether this cluster only reads the repository: made by an import, or pinned to another cluster's repository id. */
export function isImported(repo: RepositoryObject): boolean {
  return repo.metadata.labels?.[IMPORTED_LABEL] === 'true' || repo.spec.repositoryId !== undefined;
}

/** Throws ReadOnly when the location has spec.accessMode ReadOnly: backups, forget and prune would write to it. */
export function assertLocationWritable(location: LocationObject, operation: string): void {
  if (location.spec.accessMode !== 'ReadOnly') return;
  throw new CoordinatorError('ReadOnly', `BackupLocation ${location.metadata.name} has spec.accessMode ReadOnly: ${operation} would write to it and is refused; this cluster only restores from it. Use a ReadWrite location, or set accessMode: ReadWrite if this cluster owns the store`);
}
