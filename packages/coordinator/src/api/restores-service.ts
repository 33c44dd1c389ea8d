/**
 * ferry.v1.Restores: Restore custom resources through the API. The Restore controller
 * (controllers/restore.ts) does the work; cancel is `spec.cancel: true`.
 */
import { randomUUID } from 'node:crypto';
import {
  affixProblem,
  isTerminalPhase,
  targetNamespaceProblem,
  OPERATION_PHASES,
  type CancelRestoreRequest__Output,
  type CreateRestoreRequest__Output,
  type GetRestoreRequest__Output,
  type ListRestoresRequest__Output,
  type ListRestoresResponse,
  type Restore,
  type RestoresHandlers,
  type V1alpha1RestoreSnapshot as RestoreSnapshot,
  type V1alpha1RestoreTargetClaim as RestoreTargetClaim,
  type WatchRestoreRequest__Output,
} from '@ferry/api';
import { CREATED_BY_ANNOTATION, reachesOtherNamespaces, restoreAccessChecks, restoreSources } from '../controllers/restore-namespaces.js';
import { resolveLatest } from '../controllers/restore-source.js';
import { clusterFailure, CoordinatorError } from '../errors.js';
import type { BackupObject, PvrObject, RestoreObject } from '../objects.js';
import { operationLogs } from './logs-service.js';
import { authorize, type AccessCheck, type Caller } from './auth.js';
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
    GetRestoreLogs: serverStream(ctx, 'GetRestoreLogs', operationLogs('Restore')),
  };
}

/** Exactly one of backup, latest and snapshots: what the Restore restores. */
function sourceOf(req: CreateRestoreRequest__Output, p: Problems): Pick<RestoreObject['spec'], 'backupName' | 'latest' | 'snapshots'> {
  const given = [req.backup !== '', req.latest, req.snapshots.length > 0].filter((x) => x).length;
  if (given > 1) p.add('backup', 'give exactly one of backup, latest and snapshots');
  if (!req.latest && (req.schedule || req.asOf || req.previous)) p.add('latest', 'schedule, as_of and previous choose among Backups only with latest: true');
  if (req.latest) {
    if (req.schedule) p.name('schedule', req.schedule);
    p.time('as_of', req.asOf);
    return { latest: { ...(req.schedule ? { schedule: req.schedule } : {}), ...(req.asOf ? { asOf: req.asOf } : {}), ...(req.previous ? { previous: req.previous } : {}) } };
  }
  if (req.snapshots.length > 0) return { snapshots: req.snapshots.map((s, i) => snapshotOf(s, `snapshots[${i}]`, p)) };
  p.name('backup', req.backup);
  return { backupName: req.backup };
}

function snapshotOf(s: CreateRestoreRequest__Output['snapshots'][number], field: string, p: Problems): RestoreSnapshot {
  if (!/^[0-9a-f]{64}$/.test(s.snapshotId)) p.add(`${field}.snapshot_id`, 'must be 64 lower-case hex digits (see "ferry repo snapshots")');
  p.name(`${field}.location`, s.location);
  p.namespace(`${field}.namespace`, s.namespace);
  p.label(`${field}.volume`, s.volume);
  if (s.claimName) p.name(`${field}.claim_name`, s.claimName);
  if (s.pod) p.name(`${field}.pod`, s.pod);
  return { snapshotId: s.snapshotId, location: s.location, namespace: s.namespace, volume: s.volume, ...(s.claimName ? { claimName: s.claimName } : {}), ...(s.pod ? { pod: s.pod } : {}) };
}

function selectionOf(req: CreateRestoreRequest__Output, p: Problems): RestoreObject['spec']['selection'] {
  const labelSelector = p.selector('pod_selector', req.podSelector);
  req.volumes.forEach((v, i) => p.label(`volumes[${i}]`, v));
  req.sourceNamespaces.forEach((n, i) => p.namespace(`source_namespaces[${i}]`, n));
  const selection = {
    ...(labelSelector ? { labelSelector } : {}),
    ...(req.volumes.length ? { volumes: [...new Set(req.volumes)] } : {}),
    ...(req.sourceNamespaces.length ? { namespaces: [...new Set(req.sourceNamespaces)] } : {}),
  };
  return Object.keys(selection).length ? selection : undefined;
}

function restoreSpecOf(req: CreateRestoreRequest__Output, p: Problems): RestoreObject['spec'] {
  const source = sourceOf(req, p);
  for (const [from, to] of Object.entries(req.namespaceMapping)) {
    p.namespace(`namespace_mapping[${from}]`, from);
    p.namespace(`namespace_mapping[${from}]`, to);
  }
  const prefix = affixProblem('namespacePrefix', req.namespacePrefix);
  if (prefix) p.add('namespace_prefix', prefix);
  const suffix = affixProblem('namespaceSuffix', req.namespaceSuffix);
  if (suffix) p.add('namespace_suffix', suffix);
  const selection = selectionOf(req, p);
  p.duration('volume_timeout', req.volumeTimeout);
  return {
    ...source,
    ...(Object.keys(req.namespaceMapping).length ? { namespaceMapping: { ...req.namespaceMapping } } : {}),
    ...(req.namespacePrefix ? { namespacePrefix: req.namespacePrefix } : {}),
    ...(req.namespaceSuffix ? { namespaceSuffix: req.namespaceSuffix } : {}),
    ...(selection ? { selection } : {}),
    ...(req.volumeTimeout ? { volumeTimeout: req.volumeTimeout } : {}),
    ...(req.skipHooks ? { hooks: 'Skip' as const } : {}),
    ...claimsSpecOf(req, p),
  };
}

/** target_claims, storage_class_map and force: Restore.spec.targetClaims, storageClassMap and force. */
function claimsSpecOf(req: CreateRestoreRequest__Output, p: Problems): Pick<RestoreObject['spec'], 'targetClaims' | 'storageClassMap' | 'force'> {
  req.targetClaims.forEach((t, i) => p.targetClaim(`target_claims[${i}]`, t));
  for (const [from, to] of Object.entries(req.storageClassMap)) if (from === '' || to === '') p.add(`storage_class_map[${from}]`, 'old and new storage class are both required');
  const targetClaims = req.targetClaims.map((t) => ({
    claim: t.claim,
    ...(t.namespace ? { namespace: t.namespace } : {}),
    ...(t.name ? { name: t.name } : {}),
    ...(t.existing ? { existing: true } : {}),
    ...(t.storageClassName ? { storageClassName: t.storageClassName } : {}),
    ...(t.storage ? { storage: t.storage } : {}),
    ...(t.accessModes.length ? { accessModes: t.accessModes as NonNullable<RestoreTargetClaim['accessModes']> } : {}),
  }));
  return {
    ...(targetClaims.length ? { targetClaims } : {}),
    ...(Object.keys(req.storageClassMap).length ? { storageClassMap: { ...req.storageClassMap } } : {}),
    ...(req.force ? { force: true } : {}),
  };
}

/** Said now rather than as a Failed Restore a moment later; the name latest resolves to. */
async function checkSource(ctx: ApiContext, namespace: string, spec: RestoreObject['spec']): Promise<string> {
  if (spec.latest) {
    const found = await resolveLatest(ctx.cluster, namespace, spec.latest);
    if (!found.found) throw new CoordinatorError('NotFound', found.message);
    return found.backupName;
  }
  if (spec.backupName === undefined) return '';
  const backup = await ctx.cluster.get<BackupObject>('Backup', namespace, spec.backupName);
  if (!backup) throw new CoordinatorError('NotFound', `Backup ${namespace}/${spec.backupName} not found; a Restore names a Backup in its own namespace`);
  return spec.backupName;
}

/**
 * The same rights the restores.ferry.dev webhook asks of a kubectl user (docs/api.md): create
 * restores in the own namespace, and for a Restore reaching beyond it create restores in
 * every target and get backups in every source. In the coordinator's namespace the sources
 * are the Backup's many namespaces, known only later: the explicit mapping targets are checked.
 */
function restoreChecks(ctx: ApiContext, namespace: string, spec: RestoreObject['spec']): AccessCheck[] {
  const own: AccessCheck = { verb: 'create', resource: 'restores', namespace };
  if (namespace === ctx.namespace) return [own, ...[...new Set(Object.values(spec.namespaceMapping ?? {}))].filter((t) => t !== namespace).sort().map((t): AccessCheck => ({ verb: 'create', resource: 'restores', namespace: t }))];
  if (!reachesOtherNamespaces(spec, namespace)) return [own];
  return [own, ...restoreAccessChecks(spec, namespace).filter((c) => c.resource !== 'restores' || c.namespace !== namespace)];
}

async function createRestore(ctx: ApiContext, caller: Caller, req: CreateRestoreRequest__Output): Promise<Restore> {
  const p = new Problems();
  p.namespace('namespace', req.namespace);
  p.name('name', req.name, { required: false });
  const spec = restoreSpecOf(req, p);
  // A mapped target is checked as a namespace above; prefix + name + suffix only here.
  if (req.namespace !== ctx.namespace) for (const source of restoreSources(spec, req.namespace).filter((s) => spec.namespaceMapping?.[s] === undefined)) {
    const problem = targetNamespaceProblem(spec, source);
    if (problem) p.add('namespace_prefix', problem);
  }
  p.check();
  await authorize(ctx.cluster, caller, restoreChecks(ctx, req.namespace, spec));
  // Said now rather than as a Failed Restore a moment later.
  const resolved = await checkSource(ctx, req.namespace, spec);
  const name = req.name || generatedName('restore', ctx.clock.now());
  const requestId = randomUUID();
  // ferry.dev/created-by vouches for the checks above; on Kubernetes the restores.ferry.dev
  // webhook replaces it with the coordinator's own account, the object's real creator.
  const annotations = { [API_ANNOTATIONS.createdBy]: caller.user.username, [API_ANNOTATIONS.request]: requestId, [CREATED_BY_ANNOTATION]: caller.user.username };
  const body: RestoreObject = { metadata: { name, namespace: req.namespace, annotations }, spec };
  const created = await ctx.cluster.createOrGet<RestoreObject>('Restore', body).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'Restore', namespace: req.namespace, name, action: 'create' });
  });
  if (created.metadata.annotations?.[API_ANNOTATIONS.request] !== requestId) throw new CoordinatorError('AlreadyExists', `Restore ${req.namespace}/${name} already exists; choose another name or leave name empty`);
  // The controller resolves latest again when it starts; until then this is the answer.
  const message = restoreMessage(created, []);
  return message.backup === '' ? { ...message, backup: resolved } : message;
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
