/**
 * ExportBackup and ExportKey: a token (token.ts) naming the repository's location without
 * credentials, the repository's path and id, for a backup its volumes' snapshot ids, and the
 * repository key as asked (keys.ts). The repository is opened with this cluster's key to read
 * its id and, unless the key is left out, its master key; nothing is written anywhere.
 */
import { involved } from '../controllers/commit.js';
import { LABELS } from '../context.js';
import { CoordinatorError } from '../errors.js';
import type { BackupObject, PvbObject } from '../objects.js';
import { storeOf } from '../purge.js';
import { locationUrl, Repositories, type LocationObject, type RepositoryObject } from '../repositories.js';
import type { Requester, TransferContext } from './context.js';
import { checkKeyRequest, openWithClusterKey, sealKey } from './keys.js';
import { encodeToken, type KeyMode, type TokenKey, type TokenLocation, type TokenRepository, type TokenVolume } from './token.js';

export interface KeyExportRequest extends Requester {
  readonly keyExport: KeyMode | undefined;
  readonly password?: string;
  readonly force?: boolean;
}

export interface ExportBackupRequest extends KeyExportRequest {
  readonly namespace: string;
  readonly name: string;
}

export interface ExportResult {
  readonly token: string;
  /** The BackupRepository whose key (or id) the token carries. */
  readonly repository: string;
  readonly keyMode: KeyMode;
}

const RESTORABLE = ['Completed', 'PartiallyFailed'] as const;
type Restorable = (typeof RESTORABLE)[number];
const isRestorable = (phase: string | undefined): phase is Restorable => (RESTORABLE as readonly (string | undefined)[]).includes(phase);

export async function exportBackup(t: TransferContext, r: ExportBackupRequest): Promise<ExportResult> {
  const what = `Backup ${r.namespace}/${r.name}`;
  const backup = await t.cluster.get<BackupObject>('Backup', r.namespace, r.name);
  if (!backup) throw new CoordinatorError('NotFound', `${what} does not exist`);
  const phase = backup.status?.phase;
  if (!isRestorable(phase)) throw new CoordinatorError('FailedPrecondition', `${what} is ${phase ?? 'New'}; only Completed or PartiallyFailed backups can be exported`);
  const pvbs = (await t.cluster.list<PvbObject>('PodVolumeBackup', r.namespace, `${LABELS.backup}=${r.name}`)).filter((p) => p.status?.snapshotId && isRestorable(p.status.phase));
  if (pvbs.length === 0) throw new CoordinatorError('FailedPrecondition', `${what} has no volume with a snapshot; nothing to export`);
  const repositoryNames = [...new Set(pvbs.map((p) => p.spec.repository))].sort();
  if (repositoryNames.length > 1) throw new CoordinatorError('FailedPrecondition', `${what} spans ${repositoryNames.length} repositories (${repositoryNames.join(', ')}), one per namespace; a token carries one repository: back up each namespace with a Backup of its own to export it`);
  const sealed = await sealRepository(t, repositoryNames[0]!, r);
  const token = encodeToken({ v: 1, kind: 'backup', ...sealed.parts, backup: { namespace: r.namespace, name: r.name, uid: backup.metadata.uid ?? '', phase, ...completedAt(backup.status?.completionTimestamp), volumes: pvbs.map(tokenVolume).sort(byPodAndVolume) } });
  await audit(t, r, { what, repository: sealed.repository, mode: sealed.parts.key.mode, involved: involved('Backup', backup) });
  return { token, repository: sealed.repository, keyMode: sealed.parts.key.mode };
}

export interface ExportKeyRequest extends KeyExportRequest {
  /** The BackupRepository; empty: the one of the default location for `namespace`. */
  readonly repository?: string;
  /** The namespace whose repository it is (authorization is checked on it). */
  readonly namespace: string;
}

export async function exportKey(t: TransferContext, r: ExportKeyRequest): Promise<ExportResult> {
  if (r.keyExport === 'none') throw new CoordinatorError('InvalidArgument', 'ExportKey with KEY_EXPORT_NONE would export nothing; use KEY_EXPORT_PASSWORD');
  const name = r.repository || Repositories.repositoryName((await t.repositories.resolveLocation(undefined)).metadata.name ?? '', r.namespace);
  const repo = await t.repositories.get(name);
  if (repo.spec.namespace !== r.namespace) throw new CoordinatorError('NotFound', `BackupRepository ${t.namespace}/${name} does not hold namespace ${r.namespace}; name the repository of that namespace`);
  const sealed = await sealRepository(t, name, r);
  const token = encodeToken({ v: 1, kind: 'key', ...sealed.parts });
  await audit(t, r, { what: `BackupRepository ${t.namespace}/${name}`, repository: name, mode: sealed.parts.key.mode });
  return { token, repository: name, keyMode: sealed.parts.key.mode };
}

interface Sealed {
  readonly repository: string;
  readonly parts: { readonly location: TokenLocation; readonly repository: TokenRepository; readonly key: TokenKey };
}

/** Location, repository and key of one BackupRepository, as a token carries them. */
async function sealRepository(t: TransferContext, name: string, r: KeyExportRequest): Promise<Sealed> {
  const what = `BackupRepository ${t.namespace}/${name}`;
  const repo = await t.repositories.get(name);
  if (repo.spec.mover !== 'native') throw new CoordinatorError('Unsupported', `${what} is a ${repo.spec.mover} repository; only native repositories can be exported (a restic repository is reached with its password: register it on the other cluster by hand)`);
  const mode = checkKeyRequest({ mode: r.keyExport, ...(r.password !== undefined ? { password: r.password } : {}), ...(r.force !== undefined ? { force: r.force } : {}), what });
  const location = await t.repositories.resolveLocation(repo.spec.location);
  const path = repo.spec.path ?? repo.spec.namespace;
  const access = await t.repositories.jobRepository(name, { initialize: false });
  const clusterKey = access.key?.clusterKey;
  if (!clusterKey) throw new CoordinatorError('FailedPrecondition', `${what} has no cluster key; check its spec.keySecretRef`);
  const opened = await openWithClusterKey({ store: storeOf(access), clusterKey: Buffer.from(clusterKey), clock: t.clock, what });
  try {
    const repositoryId = opened.secrets.repositoryId.toString('hex');
    checkRecordedId(repo, repositoryId, what);
    const key = await sealKey({ repository: opened, mode, ...(r.password ? { password: r.password } : {}), url: locationUrl(location, path), clock: t.clock, ...(t.scryptN ? { scryptN: t.scryptN } : {}) });
    return { repository: name, parts: { location: tokenLocation(location), repository: { path, namespace: repo.spec.namespace, mover: 'native', repositoryId }, key } };
  } finally {
    await opened.close();
  }
}

function checkRecordedId(repo: RepositoryObject, found: string, what: string): void {
  const recorded = repo.spec.repositoryId;
  if (recorded && recorded !== found) throw new CoordinatorError('FailedPrecondition', `${what} records repository ${recorded}, but its location holds ${found} (RepositoryIdMismatch); fix the location's prefix before exporting`);
}

/** The location without credentials: enough for the importer to find it, with credentials of its own. */
export function tokenLocation(location: LocationObject): TokenLocation {
  const s3 = location.spec.s3;
  if (s3) {
    const region = s3.region ?? 'us-east-1';
    const endpoint = (s3.endpoint ?? `https://s3.${region}.amazonaws.com`).replace(/\/+$/, '');
    return { kind: 's3', url: `s3:${endpoint}/${[s3.bucket, s3.prefix].filter((p) => p).join('/')}`, bucket: s3.bucket, endpoint, region, ...(s3.prefix ? { prefix: s3.prefix } : {}), ...(s3.forcePathStyle !== undefined ? { forcePathStyle: s3.forcePathStyle } : {}) };
  }
  const fs = location.spec.filesystem;
  if (!fs) throw new CoordinatorError('InvalidArgument', `BackupLocation ${location.metadata.name} sets neither s3 nor filesystem`);
  const path = fs.path.replace(/\/+$/, '') || '/';
  return { kind: 'filesystem', url: path, path };
}

function tokenVolume(p: PvbObject): TokenVolume {
  const s = p.spec;
  const status = p.status!;
  return {
    pod: { name: s.pod.name, uid: s.pod.uid, ...(s.pod.controller ? { controller: { kind: s.pod.controller.kind, name: s.pod.controller.name } } : {}) },
    node: s.node,
    volume: { name: s.volume.name, kind: s.volume.kind, ...(s.volume.pvc ? { pvc: { name: s.volume.pvc.name, uid: s.volume.pvc.uid } } : {}), ...(s.volume.pvName ? { pvName: s.volume.pvName } : {}) },
    snapshotId: status.snapshotId!,
    phase: status.phase as Restorable,
    ...completedAt(status.completionTimestamp),
  };
}

const byPodAndVolume = (a: TokenVolume, b: TokenVolume): number => `${a.pod.name}/${a.volume.name}`.localeCompare(`${b.pod.name}/${b.volume.name}`);

function completedAt(time: string | Date | undefined): { completionTimestamp?: string } {
  if (!time) return {};
  return { completionTimestamp: new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

/** One log line and (for a Backup) a Normal Event per export: who, what, which key mode; never the key. */
async function audit(t: TransferContext, r: Requester, e: { what: string; repository: string; mode: KeyMode; involved?: ReturnType<typeof involved> }): Promise<void> {
  const by = r.requester ? ` by ${r.requester}` : '';
  const fields = { repository: e.repository, keyMode: e.mode, ...(r.requester ? { requester: r.requester } : {}) };
  if (e.mode === 'plain') t.log.warn(`exported ${e.what} with its key in plain`, fields);
  else t.log.info(`exported ${e.what}`, fields);
  if (e.involved) await t.cluster.event({ involved: e.involved, type: e.mode === 'plain' ? 'Warning' : 'Normal', reason: 'Exported', message: `exported${by} with key mode ${e.mode} (BackupRepository ${e.repository})` }, t.clock);
}
