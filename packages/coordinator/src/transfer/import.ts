/**
 * ImportBackup and ImportKey on the receiving cluster. The key is made to open the repository
 * first (keys.ts: a cluster-key slot for this cluster, or nothing when it already opens), so a
 * wrong password or an unreachable location leaves nothing behind. Then, idempotently: the
 * BackupLocation (an existing one at the same place, else a new ReadOnly one whose credentials
 * come from a Secret named in the request, never from the token), the BackupRepository with
 * the token's path and id, and the Backup with one PodVolumeBackup per snapshot, all labelled
 * ferry.dev/imported=true and written Completed, so the controllers never run them and a
 * normal Restore restores them.
 */
import { createHash } from 'node:crypto';
import { isoTime } from '../clock.js';
import { setCondition } from '../conditions.js';
import { childName } from '../controllers/backup-volumes.js';
import { involved } from '../controllers/commit.js';
import { LABELS } from '../context.js';
import { CoordinatorError, httpStatusOf, isConflict } from '../errors.js';
import type { FerryKind, FerryObject } from '../cluster/cluster-state.js';
import type { BackupObject, BackupStatus, PvbObject, PvbStatus } from '../objects.js';
import { storeOf } from '../purge.js';
import type { LocationObject, RepositoryObject } from '../repositories.js';
import type { Requester, TransferContext } from './context.js';
import { tokenLocation } from './export.js';
import { admitKey, checkKeyToken } from './keys.js';
import { parseToken, type TokenBackup, type TokenVolume, type TransferToken } from './token.js';

export const IMPORT_ANNOTATIONS = {
  /** `<namespace>/<name>` of the Backup on the exporting cluster. */
  from: 'ferry.dev/imported-from',
  /** Its uid: a second import of the same backup is recognised, another one with the same name refused. */
  uid: 'ferry.dev/imported-uid',
} as const;

export interface ImportBackupRequest extends Requester {
  readonly token: string;
  readonly password?: string;
  /** Where the Backup is created; default: the token's namespace. */
  readonly namespace?: string;
  /** A Secret in the coordinator's namespace with S3 credentials, for a location new to this cluster. */
  readonly credentialsSecret?: string;
}

export interface ImportBackupResult {
  readonly backup: BackupObject;
  readonly location: string;
  readonly repository: string;
  /** Whether this cluster's key already opened the repository or a key slot was added for it. */
  readonly key: 'present' | 'added';
}

export async function importBackup(t: TransferContext, r: ImportBackupRequest): Promise<ImportBackupResult> {
  const token = parseToken(r.token);
  if (token.kind !== 'backup' || !token.backup) throw new CoordinatorError('InvalidArgument', 'this is a key token (from ExportKey); import it with ImportKey, or export the backup with ExportBackup');
  checkKeyToken(token.key, token.repository.repositoryId);
  const namespace = r.namespace || token.backup.namespace;
  const location = await locationFor(t, token, r.credentialsSecret);
  const key = await admit(t, token, location.object, r.password);
  const locationObject = location.planned ? await t.cluster.createOrGet<LocationObject>('BackupLocation', location.object) : location.object;
  const repository = await ensureRepository(t, token, locationObject, namespace);
  const backup = await registerBackup(t, { token: token.backup, namespace, location: locationObject.metadata.name ?? '', repository: repository.metadata.name ?? '', repositoryId: token.repository.repositoryId });
  const by = r.requester ? ` by ${r.requester}` : '';
  t.log.info(`imported Backup ${namespace}/${token.backup.name}`, { from: `${token.backup.namespace}/${token.backup.name}`, repository: repository.metadata.name, location: locationObject.metadata.name, key, ...(r.requester ? { requester: r.requester } : {}) });
  await t.cluster.event({ involved: involved('Backup', backup), type: 'Normal', reason: 'Imported', message: `imported${by} from Backup ${token.backup.namespace}/${token.backup.name} of another cluster (repository ${token.repository.repositoryId} in BackupRepository ${repository.metadata.name}); restore it with a Restore naming it` }, t.clock);
  return { backup, location: locationObject.metadata.name ?? '', repository: repository.metadata.name ?? '', key };
}

export interface ImportKeyRequest extends Requester {
  readonly token: string;
  readonly password?: string;
  /** An existing BackupRepository here; empty: the one for `namespace` at a location matching the token. */
  readonly repository?: string;
  readonly namespace?: string;
}

export async function importKey(t: TransferContext, r: ImportKeyRequest): Promise<{ repository: RepositoryObject; key: 'present' | 'added' }> {
  const token = parseToken(r.token);
  if (token.key.mode === 'none') throw new CoordinatorError('InvalidArgument', 'the transfer token carries no key (exported with KEY_EXPORT_NONE); export it again with KEY_EXPORT_PASSWORD');
  checkKeyToken(token.key, token.repository.repositoryId);
  if (r.repository) {
    const repo = await t.repositories.get(r.repository);
    if (r.namespace && repo.spec.namespace !== r.namespace) throw new CoordinatorError('NotFound', `BackupRepository ${t.namespace}/${r.repository} does not hold namespace ${r.namespace}`);
    const location = await t.repositories.resolveLocation(repo.spec.location);
    const path = repo.spec.path ?? repo.spec.namespace;
    if (tokenLocation(location).url !== token.location.url || path !== token.repository.path) {
      throw new CoordinatorError('FailedPrecondition', `BackupRepository ${t.namespace}/${r.repository} is at ${tokenLocation(location).url} path ${path}, but the token's repository is at ${token.location.url} path ${token.repository.path}; name the matching repository or leave it out`);
    }
    return { repository: repo, key: await admit(t, token, location, r.password, path) };
  }
  const location = (await matchingLocations(t, token))[0];
  if (!location) throw new CoordinatorError('NotFound', `no BackupLocation on this cluster points at ${token.location.url}; create one with credentials for it (or run ImportBackup with credentials_secret), then import the key`);
  const key = await admit(t, token, location, r.password);
  return { repository: await ensureRepository(t, token, location, r.namespace || token.repository.namespace), key };
}

async function admit(t: TransferContext, token: TransferToken, location: LocationObject, password: string | undefined, path = token.repository.path): Promise<'present' | 'added'> {
  const access = await t.repositories.storeAccess(location, path);
  return admitKey({
    store: storeOf(access),
    key: token.key,
    ...(password ? { password } : {}),
    clusterKey: await t.repositories.clusterKey(),
    repositoryId: token.repository.repositoryId,
    what: `the repository at ${access.location}`,
    clock: t.clock,
  });
}

/** BackupLocations here that point at the token's location (same endpoint, bucket and prefix, or path). */
async function matchingLocations(t: TransferContext, token: TransferToken): Promise<LocationObject[]> {
  const all = await t.cluster.list<LocationObject>('BackupLocation');
  return all.filter((l) => (l.spec.s3 || l.spec.filesystem) && tokenLocation(l).url === token.location.url).sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
}

async function locationFor(t: TransferContext, token: TransferToken, credentialsSecret: string | undefined): Promise<{ object: LocationObject; planned: boolean }> {
  const existing = (await matchingLocations(t, token))[0];
  if (existing) return { object: existing, planned: false };
  const loc = token.location;
  if (loc.kind === 'filesystem') return { object: newLocation(token, { filesystem: { path: loc.path } }), planned: true };
  if (!credentialsSecret) throw new CoordinatorError('FailedPrecondition', `no BackupLocation on this cluster points at ${loc.url}; name a Secret in ${t.namespace} with S3 credentials for it (keys accessKeyId, secretAccessKey) in credentials_secret, and it is created`);
  const secret = await t.cluster.getSecret(t.namespace, credentialsSecret);
  if (!secret) throw new CoordinatorError('CredentialsNotFound', `Secret ${t.namespace}/${credentialsSecret} (credentials_secret) does not exist; create it with keys accessKeyId and secretAccessKey`);
  for (const k of ['accessKeyId', 'secretAccessKey']) if (!secret.data?.[k]) throw new CoordinatorError('CredentialsNotFound', `Secret ${t.namespace}/${credentialsSecret} has no key ${k}`);
  const s3 = { bucket: loc.bucket, endpoint: loc.endpoint, ...(loc.region ? { region: loc.region } : {}), ...(loc.prefix ? { prefix: loc.prefix } : {}), ...(loc.forcePathStyle !== undefined ? { forcePathStyle: loc.forcePathStyle } : {}) };
  return { object: newLocation(token, { s3, credentialsSecretRef: { name: credentialsSecret, namespace: t.namespace } }), planned: true };
}

/** `imported-<bucket or dir>-<hash of the URL>`: the same location always gets the same name. */
export function importedLocationName(url: string, hint: string): string {
  const base = hint.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'location';
  return `imported-${base}-${createHash('sha256').update(url).digest('hex').slice(0, 8)}`;
}

function newLocation(token: TransferToken, spec: Omit<LocationObject['spec'], 'accessMode'>): LocationObject {
  const hint = token.location.kind === 's3' ? token.location.bucket : token.location.path.split('/').filter((p) => p).pop() ?? '';
  return {
    apiVersion: 'ferry.dev/v1alpha1',
    kind: 'BackupLocation',
    metadata: { name: importedLocationName(token.location.url, hint), labels: { [LABELS.imported]: 'true' } },
    // ReadOnly: this cluster restores from it; its own backups go to its own locations.
    spec: { ...spec, accessMode: 'ReadOnly' },
  };
}

async function ensureRepository(t: TransferContext, token: TransferToken, location: LocationObject, namespace: string): Promise<RepositoryObject> {
  const { path, repositoryId } = token.repository;
  const repo = await t.repositories.ensureImported(location, namespace, { path, repositoryId });
  const what = `BackupRepository ${t.namespace}/${repo.metadata.name}`;
  if (repo.spec.mover !== 'native' || (repo.spec.path ?? repo.spec.namespace) !== path) throw new CoordinatorError('FailedPrecondition', `${what} already exists for another repository (${repo.spec.mover} at path ${repo.spec.path ?? repo.spec.namespace}); import into another namespace`);
  if (repo.spec.repositoryId && repo.spec.repositoryId !== repositoryId) throw new CoordinatorError('FailedPrecondition', `${what} records repository ${repo.spec.repositoryId}, not the token's ${repositoryId}; import into another namespace`);
  return repo;
}

interface Registration {
  readonly token: TokenBackup;
  readonly namespace: string;
  readonly location: string;
  readonly repository: string;
  readonly repositoryId: string;
}

async function registerBackup(t: TransferContext, g: Registration): Promise<BackupObject> {
  const from = `${g.token.namespace}/${g.token.name}`;
  const backup = await t.cluster.createOrGet<BackupObject>('Backup', {
    apiVersion: 'ferry.dev/v1alpha1',
    kind: 'Backup',
    metadata: { name: g.token.name, namespace: g.namespace, labels: { [LABELS.imported]: 'true' }, annotations: { [IMPORT_ANNOTATIONS.from]: from, [IMPORT_ANNOTATIONS.uid]: g.token.uid } },
    spec: { location: g.location },
  }).catch((err: unknown) => {
    // Creating in a namespace that does not exist is a 404 from the API server.
    if (httpStatusOf(err) === 404) throw new CoordinatorError('FailedPrecondition', `namespace ${g.namespace} does not exist on this cluster; create it (kubectl create namespace ${g.namespace}) or import into another namespace`, { cause: err });
    throw err;
  });
  if (backup.metadata.annotations?.[IMPORT_ANNOTATIONS.uid] !== g.token.uid) {
    throw new CoordinatorError('AlreadyExists', `Backup ${g.namespace}/${g.token.name} already exists and is not an import of ${from} (uid ${g.token.uid}); import into another namespace or delete it`);
  }
  for (const v of g.token.volumes) await registerVolume(t, g, backup, v);
  return writeStatusOnce<BackupObject>(t, 'Backup', backup, () => backupStatus(t, g));
}

async function registerVolume(t: TransferContext, g: Registration, backup: BackupObject, v: TokenVolume): Promise<void> {
  const name = g.token.name;
  const pvb = await t.cluster.createOrGet<PvbObject>('PodVolumeBackup', {
    apiVersion: 'ferry.dev/v1alpha1',
    kind: 'PodVolumeBackup',
    metadata: {
      name: childName(name, g.token.namespace, v.pod.name, v.volume.name),
      namespace: g.namespace,
      labels: { [LABELS.backup]: name, [LABELS.imported]: 'true' },
      ownerReferences: [{ apiVersion: 'ferry.dev/v1alpha1', kind: 'Backup', name, uid: backup.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      backup: name,
      // Restored into the namespace it was imported to; the source namespace is on the Backup's annotation.
      pod: { namespace: g.namespace, name: v.pod.name, uid: v.pod.uid, ...(v.pod.controller ? { controller: v.pod.controller } : {}) },
      node: v.node,
      volume: { name: v.volume.name, kind: v.volume.kind as PvbObject['spec']['volume']['kind'], ...(v.volume.pvc ? { pvc: v.volume.pvc } : {}), ...(v.volume.pvName ? { pvName: v.volume.pvName } : {}) },
      repository: g.repository,
      mover: 'native',
    },
  });
  await writeStatusOnce<PvbObject>(t, 'PodVolumeBackup', pvb, (): PvbStatus => ({
    phase: v.phase,
    snapshotId: v.snapshotId,
    ...(v.completionTimestamp ? { completionTimestamp: v.completionTimestamp } : {}),
    conditions: setCondition([], { type: 'Progressing', status: 'False', reason: v.phase, message: `imported: snapshot ${v.snapshotId.slice(0, 12)} was written on another cluster` }, isoTime(t.clock)),
  }));
}

function backupStatus(t: TransferContext, g: Registration): BackupStatus {
  const now = isoTime(t.clock);
  const completed = g.token.volumes.filter((v) => v.phase === 'Completed').length;
  const message = `imported from Backup ${g.token.namespace}/${g.token.name} (uid ${g.token.uid}) of repository ${g.repositoryId}`;
  let conditions = setCondition([], { type: 'Accepted', status: 'True', reason: 'Imported', message }, now);
  conditions = setCondition(conditions, { type: 'Progressing', status: 'False', reason: g.token.phase, message: `${g.token.volumes.length} volume snapshot(s) imported` }, now);
  return {
    phase: g.token.phase,
    location: g.location,
    conditions,
    ...(g.token.completionTimestamp ? { completionTimestamp: g.token.completionTimestamp } : { completionTimestamp: now }),
    counts: { total: g.token.volumes.length, new: 0, inProgress: 0, completed, partiallyFailed: g.token.volumes.length - completed, failed: 0, canceled: 0, skipped: 0 },
  };
}

/** Writes status unless a phase is there already (a repeated import); retries when a controller's finalizer patch raced it. */
async function writeStatusOnce<O extends FerryObject<unknown, { phase?: string }>>(t: TransferContext, kind: FerryKind, first: O, status: () => NonNullable<O['status']>): Promise<O> {
  let current: O | undefined = first;
  for (let attempt = 0; attempt < 5 && current; attempt++) {
    if (current.status?.phase) return current;
    try {
      return await t.cluster.replaceStatus<O>(kind, current, status());
    } catch (err) {
      if (!isConflict(err)) throw err;
      current = await t.cluster.get<O>(kind, current.metadata.namespace ?? '', current.metadata.name ?? '');
    }
  }
  throw new CoordinatorError('Conflict', `${kind} ${first.metadata.namespace}/${first.metadata.name} kept changing while its imported status was written; retry the import`);
}
