/**
 * ferry.v1.Backups: Backup custom resources through the API. Create writes the same
 * Backup a `kubectl apply` would; cancel is `spec.cancel: true`; delete with purge sets
 * `spec.purgeOnDelete` first, so the Backup controller forgets the snapshots before the
 * finalizer goes (controllers/backup.ts, purge.ts).
 */
import { randomUUID } from 'node:crypto';
import {
  isTerminalPhase,
  MOVERS,
  OPERATION_PHASES,
  type Backup,
  type BackupsHandlers,
  type CancelBackupRequest__Output,
  type CreateBackupRequest__Output,
  type DeleteBackupRequest__Output,
  type DeleteBackupResponse,
  type GetBackupRequest__Output,
  type ListBackupsRequest__Output,
  type ListBackupsResponse,
  type V1alpha1BackupSpec,
  type WatchBackupRequest__Output,
} from '@ferry/api';
import { LABELS } from '../context.js';
import { clusterFailure, CoordinatorError } from '../errors.js';
import type { BackupObject, PvbObject } from '../objects.js';
import { operationLogs } from './logs-service.js';
import { authorize, type AccessCheck, type Caller } from './auth.js';
import { API_CREATED_BY, backupMessage } from './convert.js';
import { paginate } from './pages.js';
import { serverStream, unary, type ApiContext } from './rpc.js';
import { checkNamed, pageSize, Problems } from './validate.js';
import { concernsObject, unlessNotFound, watchObject } from './watch.js';

/** Who created an object through the API, and a per-request id that tells our create from an existing object. */
export const API_ANNOTATIONS = {
  createdBy: API_CREATED_BY,
  request: 'api.ferry.dev/request-id',
  cancelReason: 'api.ferry.dev/cancel-reason',
} as const;

export function backupsHandlers(ctx: ApiContext): BackupsHandlers {
  return {
    CreateBackup: unary(ctx, 'CreateBackup', createBackup),
    GetBackup: unary(ctx, 'GetBackup', getBackup),
    ListBackups: unary(ctx, 'ListBackups', listBackups),
    WatchBackup: serverStream(ctx, 'WatchBackup', watchBackup),
    CancelBackup: unary(ctx, 'CancelBackup', cancelBackup),
    DeleteBackup: unary(ctx, 'DeleteBackup', deleteBackup),
    GetBackupLogs: serverStream(ctx, 'GetBackupLogs', operationLogs('Backup')),
  };
}

/** `backup-YYYYMMDDHHMMSS` in UTC. */
export function generatedName(prefix: string, now: number): string {
  return `${prefix}-${new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
}

/** The Backup spec a CreateBackupRequest (or a schedule's template) describes; problems are recorded under `field`. */
export function backupSpecOf(req: CreateBackupRequest__Output, p: Problems, field = ''): V1alpha1BackupSpec {
  const f = (name: string) => `${field}${name}`;
  const selector = p.selector(f('pod_selector'), req.podSelector);
  if (req.location !== '') p.name(f('location'), req.location);
  p.oneOf(f('mover'), req.mover, MOVERS);
  p.tags(f('tags'), req.tags);
  p.excludes(f('excludes'), req.excludes);
  p.duration(f('volume_timeout'), req.volumeTimeout);
  p.duration(f('ttl'), req.ttl);
  req.namespaces.forEach((n, i) => p.namespace(f(`namespaces[${i}]`), n));
  req.includeVolumes.forEach((v, i) => v === '*' || p.label(f(`include_volumes[${i}]`), v));
  req.excludeVolumes.forEach((v, i) => p.label(f(`exclude_volumes[${i}]`), v));
  req.volumes.forEach((v, i) => {
    p.name(f(`volumes[${i}].pod`), v.pod);
    v.volumes.forEach((name, j) => p.label(f(`volumes[${i}].volumes[${j}]`), name));
  });
  return {
    ...(selector ? { labelSelector: selector } : {}),
    ...(req.volumes.length > 0 ? { pods: req.volumes.map((v) => ({ name: v.pod, ...(v.volumes.length ? { volumes: [...v.volumes] } : {}) })) } : {}),
    ...(req.location ? { location: req.location } : {}),
    ...(req.mover ? { mover: req.mover as V1alpha1BackupSpec['mover'] } : {}),
    ...(req.tags.length ? { tags: [...req.tags] } : {}),
    ...(req.excludes.length ? { excludes: [...new Set(req.excludes)] } : {}),
    ...(req.volumeTimeout ? { volumeTimeout: req.volumeTimeout } : {}),
    ...(req.purgeOnDelete ? { purgeOnDelete: true } : {}),
    ...(req.namespaces.length ? { namespaces: [...new Set(req.namespaces)] } : {}),
    ...(req.ttl ? { ttl: req.ttl } : {}),
    ...(req.includeVolumes.length ? { includeVolumes: [...new Set(req.includeVolumes)] } : {}),
    ...(req.excludeVolumes.length ? { excludeVolumes: [...new Set(req.excludeVolumes)] } : {}),
  } as V1alpha1BackupSpec;
}

async function createBackup(ctx: ApiContext, caller: Caller, req: CreateBackupRequest__Output): Promise<Backup> {
  const p = new Problems();
  p.namespace('namespace', req.namespace);
  p.name('name', req.name, { required: false });
  p.labels('labels', req.labels);
  const spec = backupSpecOf(req, p);
  p.check();
  await authorize(ctx.cluster, caller, [{ verb: 'create', resource: 'backups', namespace: req.namespace }]);
  const name = req.name || generatedName('backup', ctx.clock.now());
  const requestId = randomUUID();
  const body: BackupObject = {
    metadata: { name, namespace: req.namespace, labels: { ...req.labels }, annotations: { [API_ANNOTATIONS.createdBy]: caller.user.username, [API_ANNOTATIONS.request]: requestId } },
    spec,
  };
  const what = { kind: 'Backup', namespace: req.namespace, name, action: 'create' as const };
  const created = await ctx.cluster.createOrGet<BackupObject>('Backup', body).catch((err: unknown) => {
    throw clusterFailure(err, what);
  });
  // createOrGet hands back an existing object of the same name: that is not our create.
  if (created.metadata.annotations?.[API_ANNOTATIONS.request] !== requestId) throw new CoordinatorError('AlreadyExists', `Backup ${req.namespace}/${name} already exists; choose another name or leave name empty`);
  return backupMessage(created, []);
}

/** The Backup and its PodVolumeBackups, or NotFound naming it. */
export async function readBackup(ctx: ApiContext, namespace: string, name: string): Promise<{ backup: BackupObject; volumes: PvbObject[] }> {
  const read = { kind: 'Backup', namespace, name, action: 'read' as const };
  const backup = await ctx.cluster.get<BackupObject>('Backup', namespace, name).catch((err: unknown) => {
    throw clusterFailure(err, read);
  });
  if (!backup) throw new CoordinatorError('NotFound', `Backup ${namespace}/${name} not found`);
  const volumes = await ctx.cluster.list<PvbObject>('PodVolumeBackup', namespace, `${LABELS.backup}=${name}`);
  return { backup, volumes };
}

async function getBackup(ctx: ApiContext, caller: Caller, req: GetBackupRequest__Output): Promise<Backup> {
  checkNamed(req);
  await authorize(ctx.cluster, caller, [{ verb: 'get', resource: 'backups', namespace: req.namespace, name: req.name }]);
  const { backup, volumes } = await readBackup(ctx, req.namespace, req.name);
  return backupMessage(backup, volumes);
}

async function listBackups(ctx: ApiContext, caller: Caller, req: ListBackupsRequest__Output): Promise<ListBackupsResponse> {
  const p = new Problems();
  if (!req.allNamespaces) p.namespace('namespace', req.namespace);
  if (req.labelSelector) p.selector('label_selector', req.labelSelector);
  if (req.schedule) p.name('schedule', req.schedule);
  req.phases.forEach((ph, i) => p.oneOf(`phases[${i}]`, ph, OPERATION_PHASES));
  const since = p.time('since', req.since) ?? -Infinity;
  const until = p.time('until', req.until) ?? Infinity;
  const size = pageSize(req.pageSize, p);
  p.check();
  const namespace = req.allNamespaces ? undefined : req.namespace;
  await authorize(ctx.cluster, caller, [{ verb: 'list', resource: 'backups', ...(namespace ? { namespace } : {}) }]);
  const selector = [req.labelSelector, req.schedule ? `${LABELS.schedule}=${req.schedule}` : ''].filter((s) => s).join(',');
  const all = await ctx.cluster.list<BackupObject>('Backup', namespace, selector || undefined);
  const created = (b: BackupObject) => new Date(b.metadata.creationTimestamp ?? 0).getTime();
  const wanted = all.filter((b) => (req.phases.length === 0 || req.phases.includes(b.status?.phase ?? 'New')) && created(b) >= since && created(b) < until);
  const page = paginate(wanted, { pageSize: size, pageToken: req.pageToken });
  const volumes = page.items.length ? await ctx.cluster.list<PvbObject>('PodVolumeBackup', namespace) : [];
  const of = (b: BackupObject) => volumes.filter((v) => v.metadata.namespace === b.metadata.namespace && v.spec.backup === b.metadata.name);
  return { backups: page.items.map((b) => backupMessage(b, of(b))), nextPageToken: page.nextPageToken };
}

async function watchBackup(ctx: ApiContext, caller: Caller, req: WatchBackupRequest__Output, sink: { write(m: Backup): void; signal: AbortSignal }): Promise<void> {
  checkNamed(req);
  await authorize(ctx.cluster, caller, [{ verb: 'watch', resource: 'backups', namespace: req.namespace, name: req.name }]);
  await watchObject(
    ctx,
    {
      what: `Backup ${req.namespace}/${req.name}`,
      read: async () => {
        const found = await unlessNotFound(readBackup(ctx, req.namespace, req.name));
        return found && backupMessage(found.backup, found.volumes);
      },
      concerns: concernsObject('Backup', req.namespace, req.name),
    },
    sink,
  );
}

async function cancelBackup(ctx: ApiContext, caller: Caller, req: CancelBackupRequest__Output): Promise<Backup> {
  checkNamed(req);
  await authorize(ctx.cluster, caller, [{ verb: 'patch', resource: 'backups', namespace: req.namespace, name: req.name }]);
  const { backup } = await readBackup(ctx, req.namespace, req.name);
  const phase = backup.status?.phase;
  if (isTerminalPhase(phase)) throw new CoordinatorError('FailedPrecondition', `Backup ${req.namespace}/${req.name} already ended ${phase}; nothing to cancel`);
  const patch = { metadata: { annotations: { [API_ANNOTATIONS.cancelReason]: req.reason || `canceled by ${caller.user.username}` } }, spec: { cancel: true } };
  await ctx.cluster.mergePatch<BackupObject>('Backup', req.namespace, req.name, patch).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'Backup', namespace: req.namespace, name: req.name, action: 'write' });
  });
  const fresh = await readBackup(ctx, req.namespace, req.name);
  return backupMessage(fresh.backup, fresh.volumes);
}

async function deleteBackup(ctx: ApiContext, caller: Caller, req: DeleteBackupRequest__Output): Promise<DeleteBackupResponse> {
  checkNamed(req);
  // Purging changes the spec before deleting, so it needs patch as well.
  const checks: AccessCheck[] = [{ verb: 'delete', resource: 'backups', namespace: req.namespace, name: req.name }];
  if (req.purge) checks.push({ verb: 'patch', resource: 'backups', namespace: req.namespace, name: req.name });
  await authorize(ctx.cluster, caller, checks);
  const { backup } = await readBackup(ctx, req.namespace, req.name);
  const where = { kind: 'Backup', namespace: req.namespace, name: req.name, action: 'write' as const };
  if (req.purge && backup.spec.purgeOnDelete !== true) {
    await ctx.cluster.mergePatch('Backup', req.namespace, req.name, { spec: { purgeOnDelete: true } }).catch((err: unknown) => {
      throw clusterFailure(err, where);
    });
  }
  await ctx.cluster.delete('Backup', req.namespace, req.name).catch((err: unknown) => {
    throw clusterFailure(err, where);
  });
  return { purging: req.purge || backup.spec.purgeOnDelete === true };
}
