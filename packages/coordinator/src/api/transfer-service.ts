/**
 * ferry.v1.Transfer: export and import of backups and repository keys (logic in
 * ../transfer/, docs/export-import.md). Authorization, per namespace by SubjectAccessReview:
 * - ExportBackup: get backups (the Backup) and get backuprepositories (its key opens every
 *   snapshot of the namespace).
 * - ExportKey: get backuprepositories.
 * - ImportBackup: create backups and create backuprepositories in the target namespace, and
 *   with credentials_secret also create backuplocations (cluster-wide): it makes the
 *   coordinator use a Secret of its own namespace for a new location.
 * - ImportKey: create backuprepositories.
 * Passwords and tokens are request fields only: never logged, never in an error.
 */
import type {
  ExportBackupRequest__Output,
  ExportBackupResponse,
  ExportKeyRequest__Output,
  ExportKeyResponse,
  ImportBackupRequest__Output,
  ImportBackupResponse,
  ImportKeyRequest__Output,
  ImportKeyResponse,
  KeyExport__Output,
  TransferHandlers,
} from '@ferry/api';
import { LABELS } from '../context.js';
import type { PvbObject } from '../objects.js';
import { isImported, type LocationObject, type RepositoryObject } from '../repositories.js';
import type { TransferContext } from '../transfer/context.js';
import { exportBackup, exportKey, tokenLocation } from '../transfer/export.js';
import { importBackup, importKey } from '../transfer/import.js';
import { parseToken, type KeyMode, type TransferToken } from '../transfer/token.js';
import { authorize, type AccessCheck, type Caller } from './auth.js';
import { backupMessage, repositoryMessage } from './convert.js';
import { unary, type ApiContext } from './rpc.js';
import { Problems } from './validate.js';

export function transferHandlers(ctx: ApiContext): TransferHandlers {
  return {
    ExportBackup: unary(ctx, 'ExportBackup', exportBackupRpc),
    ImportBackup: unary(ctx, 'ImportBackup', importBackupRpc),
    ExportKey: unary(ctx, 'ExportKey', exportKeyRpc),
    ImportKey: unary(ctx, 'ImportKey', importKeyRpc),
  };
}

const KEY_MODES: Record<KeyExport__Output, KeyMode | undefined> = {
  KEY_EXPORT_UNSPECIFIED: undefined,
  KEY_EXPORT_PASSWORD: 'password',
  KEY_EXPORT_PLAIN: 'plain',
  KEY_EXPORT_NONE: 'none',
};

function transferContext(ctx: ApiContext): TransferContext {
  return { cluster: ctx.cluster, repositories: ctx.repositories, clock: ctx.clock, log: ctx.log, namespace: ctx.namespace };
}

async function exportBackupRpc(ctx: ApiContext, caller: Caller, req: ExportBackupRequest__Output): Promise<ExportBackupResponse> {
  const p = new Problems();
  p.namespace('namespace', req.namespace);
  p.name('name', req.name);
  p.check();
  await authorize(ctx.cluster, caller, [
    { verb: 'get', resource: 'backups', namespace: req.namespace, name: req.name },
    { verb: 'get', resource: 'backuprepositories', namespace: req.namespace },
  ]);
  // A Backup in the coordinator's namespace may hold other namespaces' volumes: the key
  // exported is their repository's, so the caller must be allowed to read that one too.
  const held = await repositoryNamespaces(ctx, req.namespace, req.name);
  await authorize(ctx.cluster, caller, held.filter((n) => n !== req.namespace).map((namespace) => ({ verb: 'get' as const, resource: 'backuprepositories' as const, namespace })));
  const r = await exportBackup(transferContext(ctx), { namespace: req.namespace, name: req.name, keyExport: KEY_MODES[req.keyExport], password: req.password, force: req.force, requester: caller.user.username });
  return { token: r.token };
}

/** The namespaces whose repositories hold the Backup's snapshots (BackupRepository spec.namespace). */
async function repositoryNamespaces(ctx: ApiContext, namespace: string, name: string): Promise<string[]> {
  const pvbs = await ctx.cluster.list<PvbObject>('PodVolumeBackup', namespace, `${LABELS.backup}=${name}`);
  const held = new Set<string>();
  for (const repository of new Set(pvbs.map((p) => p.spec.repository))) {
    const repo = await ctx.cluster.get<RepositoryObject>('BackupRepository', ctx.namespace, repository);
    if (repo) held.add(repo.spec.namespace);
  }
  return [...held].sort();
}

/**
 * A token may name a repository this cluster owns (another namespace's, here): importing it
 * would let `namespace` restore everything in it, so the caller must be allowed to read that
 * namespace's repositories, as for exporting its key.
 */
async function ownerChecks(ctx: ApiContext, token: TransferToken, namespace: string): Promise<AccessCheck[]> {
  const locations = new Map((await ctx.cluster.list<LocationObject>('BackupLocation')).map((l) => [l.metadata.name ?? '', l]));
  const sameUrl = (r: RepositoryObject): boolean => {
    const location = locations.get(r.spec.location);
    return location !== undefined && (location.spec.s3 !== undefined || location.spec.filesystem !== undefined) && tokenLocation(location).url === token.location.url;
  };
  const owned = (await ctx.cluster.list<RepositoryObject>('BackupRepository', ctx.namespace)).filter((r) => !isImported(r) && (r.spec.path ?? r.spec.namespace) === token.repository.path && sameUrl(r));
  const owners = [...new Set(owned.map((r) => r.spec.namespace))].filter((n) => n !== namespace).sort();
  return owners.map((n) => ({ verb: 'get', resource: 'backuprepositories', namespace: n }));
}

async function exportKeyRpc(ctx: ApiContext, caller: Caller, req: ExportKeyRequest__Output): Promise<ExportKeyResponse> {
  const p = new Problems();
  p.namespace('namespace', req.namespace);
  p.name('repository', req.repository, { required: false });
  p.check();
  await authorize(ctx.cluster, caller, [{ verb: 'get', resource: 'backuprepositories', namespace: req.namespace }]);
  const r = await exportKey(transferContext(ctx), { namespace: req.namespace, repository: req.repository, keyExport: KEY_MODES[req.keyExport], password: req.password, force: req.force, requester: caller.user.username });
  return { token: r.token };
}

async function importBackupRpc(ctx: ApiContext, caller: Caller, req: ImportBackupRequest__Output): Promise<ImportBackupResponse> {
  const p = new Problems();
  if (req.namespace) p.namespace('namespace', req.namespace);
  if (req.credentialsSecret) p.name('credentials_secret', req.credentialsSecret);
  p.check();
  // The token names the default namespace, so it is read (validated, nothing else) before authorizing.
  const namespace = req.namespace || (parseToken(req.token).backup?.namespace ?? '');
  const checks: AccessCheck[] = [
    { verb: 'create', resource: 'backups', namespace },
    { verb: 'create', resource: 'backuprepositories', namespace },
  ];
  if (req.credentialsSecret) checks.push({ verb: 'create', resource: 'backuplocations' });
  await authorize(ctx.cluster, caller, [...checks, ...(await ownerChecks(ctx, parseToken(req.token), namespace))]);
  const r = await importBackup(transferContext(ctx), { token: req.token, password: req.password, namespace, ...(req.credentialsSecret ? { credentialsSecret: req.credentialsSecret } : {}), requester: caller.user.username });
  const volumes = await ctx.cluster.list<PvbObject>('PodVolumeBackup', namespace, `${LABELS.backup}=${r.backup.metadata.name}`);
  return { backup: backupMessage(r.backup, volumes), location: r.location, repository: r.repository };
}

async function importKeyRpc(ctx: ApiContext, caller: Caller, req: ImportKeyRequest__Output): Promise<ImportKeyResponse> {
  const p = new Problems();
  if (req.namespace) p.namespace('namespace', req.namespace);
  p.name('repository', req.repository, { required: false });
  p.check();
  const t = transferContext(ctx);
  const namespace = req.namespace || (req.repository ? (await t.repositories.get(req.repository)).spec.namespace : parseToken(req.token).repository.namespace);
  await authorize(ctx.cluster, caller, [{ verb: 'create', resource: 'backuprepositories', namespace }, ...(await ownerChecks(ctx, parseToken(req.token), namespace))]);
  const r = await importKey(t, { token: req.token, password: req.password, repository: req.repository, namespace, requester: caller.user.username });
  const location = await t.repositories.resolveLocation(r.repository.spec.location).catch(() => undefined);
  return { repository: repositoryMessage(r.repository, location) };
}
