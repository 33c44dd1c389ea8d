/**
 * ferry.v1.Restores: Restore custom resources through the API. The Restore controller
 * (controllers/restore.ts) does the work; cancel is `spec.cancel: true`.
 */
import { randomUUID } from 'node:crypto';
import {
  isTerminalPhase,
  OPERATION_PHASES,
  type CancelRestoreRequest__Output,
  type CreateRestoreRequest__Output,
  type GetRestoreRequest__Output,
  type ListRestoresRequest__Output,
  type ListRestoresResponse,
  type Restore,
  type RestoresHandlers,
  type WatchRestoreRequest__Output,
} from '@ferry/api';
import { clusterFailure, CoordinatorError } from '../errors.js';
import type { BackupObject, PvrObject, RestoreObject } from '../objects.js';
import { authorize, type Caller } from './auth.js';
import { API_ANNOTATIONS, generatedName } from './backups-service.js';
import { restoreMessage } from './convert.js';
import { paginate } from './pages.js';
import { serverStream, unary, type ApiContext, type StreamSink } from './rpc.js';
import { checkNamed, pageSize, Problems } from './validate.js';
import { concernsObject, unlessNotFound, watchObject } from './watch.js';

export function restoresHandlers(ctx: ApiContext): RestoresHandlers {
  return {
    CreateRestore: unary(ctx, 'CreateRestore', createRestore),
    GetRestore: unary(ctx, 'GetRestore', getRestore),
    ListRestores: unary(ctx, 'ListRestores', listRestores),
    WatchRestore: serverStream(ctx, 'WatchRestore', watchRestore),
    CancelRestore: unary(ctx, 'CancelRestore', cancelRestore),
  };
}

function restoreSpecOf(req: CreateRestoreRequest__Output, p: Problems): RestoreObject['spec'] {
  p.name('backup', req.backup);
  for (const [from, to] of Object.entries(req.namespaceMapping)) {
    p.namespace(`namespace_mapping[${from}]`, from);
    p.namespace(`namespace_mapping[${from}]`, to);
  }
  const selector = p.selector('pod_selector', req.podSelector);
  p.duration('volume_timeout', req.volumeTimeout);
  return {
    backupName: req.backup,
    ...(Object.keys(req.namespaceMapping).length ? { namespaceMapping: { ...req.namespaceMapping } } : {}),
    ...(selector ? { selection: { labelSelector: selector } } : {}),
    ...(req.volumeTimeout ? { volumeTimeout: req.volumeTimeout } : {}),
  };
}

async function createRestore(ctx: ApiContext, caller: Caller, req: CreateRestoreRequest__Output): Promise<Restore> {
  const p = new Problems();
  p.namespace('namespace', req.namespace);
  p.name('name', req.name, { required: false });
  const spec = restoreSpecOf(req, p);
  p.check();
  // Restoring into another namespace needs the right to restore there too (the controller also
  // refuses it outside the coordinator's namespace).
  const targets = [...new Set(Object.values(req.namespaceMapping).filter((t) => t !== req.namespace))].sort();
  await authorize(ctx.cluster, caller, [req.namespace, ...targets].map((namespace) => ({ verb: 'create' as const, resource: 'restores' as const, namespace })));
  // Said now rather than as a Failed Restore a moment later.
  const backup = await ctx.cluster.get<BackupObject>('Backup', req.namespace, req.backup);
  if (!backup) throw new CoordinatorError('NotFound', `Backup ${req.namespace}/${req.backup} not found; a Restore names a Backup in its own namespace`);
  const name = req.name || generatedName('restore', ctx.clock.now());
  const requestId = randomUUID();
  const body: RestoreObject = { metadata: { name, namespace: req.namespace, annotations: { [API_ANNOTATIONS.createdBy]: caller.user.username, [API_ANNOTATIONS.request]: requestId } }, spec };
  const created = await ctx.cluster.createOrGet<RestoreObject>('Restore', body).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'Restore', namespace: req.namespace, name, action: 'create' });
  });
  if (created.metadata.annotations?.[API_ANNOTATIONS.request] !== requestId) throw new CoordinatorError('AlreadyExists', `Restore ${req.namespace}/${name} already exists; choose another name or leave name empty`);
  return restoreMessage(created, []);
}

async function readRestore(ctx: ApiContext, namespace: string, name: string): Promise<{ restore: RestoreObject; volumes: PvrObject[] }> {
  const restore = await ctx.cluster.get<RestoreObject>('Restore', namespace, name).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'Restore', namespace, name, action: 'read' });
  });
  if (!restore) throw new CoordinatorError('NotFound', `Restore ${namespace}/${name} not found`);
  const volumes = (await ctx.cluster.list<PvrObject>('PodVolumeRestore', namespace)).filter((v) => v.spec.restore === name);
  return { restore, volumes };
}

async function getRestore(ctx: ApiContext, caller: Caller, req: GetRestoreRequest__Output): Promise<Restore> {
  checkNamed(req);
  await authorize(ctx.cluster, caller, [{ verb: 'get', resource: 'restores', namespace: req.namespace, name: req.name }]);
  const { restore, volumes } = await readRestore(ctx, req.namespace, req.name);
  return restoreMessage(restore, volumes);
}

async function listRestores(ctx: ApiContext, caller: Caller, req: ListRestoresRequest__Output): Promise<ListRestoresResponse> {
  const p = new Problems();
  if (!req.allNamespaces) p.namespace('namespace', req.namespace);
  if (req.labelSelector) p.selector('label_selector', req.labelSelector);
  req.phases.forEach((ph, i) => p.oneOf(`phases[${i}]`, ph, OPERATION_PHASES));
  const size = pageSize(req.pageSize, p);
  p.check();
  const namespace = req.allNamespaces ? undefined : req.namespace;
  await authorize(ctx.cluster, caller, [{ verb: 'list', resource: 'restores', ...(namespace ? { namespace } : {}) }]);
  const all = await ctx.cluster.list<RestoreObject>('Restore', namespace, req.labelSelector || undefined);
  const wanted = all.filter((r) => req.phases.length === 0 || req.phases.includes(r.status?.phase ?? 'New'));
  const page = paginate(wanted, { pageSize: size, pageToken: req.pageToken });
  const volumes = page.items.length ? await ctx.cluster.list<PvrObject>('PodVolumeRestore', namespace) : [];
  const of = (r: RestoreObject) => volumes.filter((v) => v.metadata.namespace === r.metadata.namespace && v.spec.restore === r.metadata.name);
  return { restores: page.items.map((r) => restoreMessage(r, of(r))), nextPageToken: page.nextPageToken };
}

async function watchRestore(ctx: ApiContext, caller: Caller, req: WatchRestoreRequest__Output, sink: StreamSink<Restore>): Promise<void> {
  checkNamed(req);
  await authorize(ctx.cluster, caller, [{ verb: 'watch', resource: 'restores', namespace: req.namespace, name: req.name }]);
  const read = async () => {
    const found = await unlessNotFound(readRestore(ctx, req.namespace, req.name));
    return found && restoreMessage(found.restore, found.volumes);
  };
  await watchObject(ctx, { what: `Restore ${req.namespace}/${req.name}`, read, concerns: concernsObject('Restore', req.namespace, req.name) }, sink);
}

async function cancelRestore(ctx: ApiContext, caller: Caller, req: CancelRestoreRequest__Output): Promise<Restore> {
  checkNamed(req);
  await authorize(ctx.cluster, caller, [{ verb: 'patch', resource: 'restores', namespace: req.namespace, name: req.name }]);
  const { restore } = await readRestore(ctx, req.namespace, req.name);
  const phase = restore.status?.phase;
  if (isTerminalPhase(phase)) throw new CoordinatorError('FailedPrecondition', `Restore ${req.namespace}/${req.name} already ended ${phase}; nothing to cancel`);
  const patch = { metadata: { annotations: { [API_ANNOTATIONS.cancelReason]: req.reason || `canceled by ${caller.user.username}` } }, spec: { cancel: true } };
  await ctx.cluster.mergePatch('Restore', req.namespace, req.name, patch).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'Restore', namespace: req.namespace, name: req.name, action: 'write' });
  });
  const fresh = await readRestore(ctx, req.namespace, req.name);
  return restoreMessage(fresh.restore, fresh.volumes);
}
