/**
 * ferry.v1.Repositories. A BackupRepository lives in the coordinator's namespace but holds
 * one namespace's backups (spec.namespace): authorization is on backuprepositories in that
 * namespace, and a repository is only found under the namespace it holds. Listing and
 * forgetting snapshots open the repository on the coordinator as purge does (metadata only:
 * no pack data is read); check and prune only record a request as annotations, which the
 * maintenance controller runs on an agent and reports in status.
 */
import { MAINTENANCE_ANNOTATIONS } from '@ferry/api';
import { applyRetention } from '@ferry/repository';
import type {
  BackupRepository,
  CheckRepositoryRequest__Output,
  ForgetSnapshotsRequest__Output,
  ForgetSnapshotsResponse,
  GetRepositoryRequest__Output,
  ListRepositoriesRequest__Output,
  ListRepositoriesResponse,
  ListSnapshotsRequest__Output,
  ListSnapshotsResponse,
  PruneRepositoryRequest__Output,
  RepositoriesHandlers,
} from '@ferry/api';
import type { Mover } from '@ferry/mover';
import { clusterFailure, CoordinatorError, isCoordinatorError, messageOf } from '../errors.js';
import type { LocationObject, RepositoryObject } from '../repositories.js';
import { recordForgotten } from '../forgotten.js';
import { enginePolicy } from '../schedules/retention.js';
import { authorize, type Caller, type Verb } from './auth.js';
import { repositoryMessage, rfc3339 } from './convert.js';
import { unary, type ApiContext } from './rpc.js';
import { retentionOf } from './schedules-service.js';
import { Problems } from './validate.js';

export function repositoriesHandlers(ctx: ApiContext): RepositoriesHandlers {
  return {
    ListRepositories: unary(ctx, 'ListRepositories', listRepositories),
    GetRepository: unary(ctx, 'GetRepository', (c, caller, req: GetRepositoryRequest__Output) => withRepository(c, caller, 'get', req.name, req.namespace, 'name').then((r) => describe(c, r))),
    ListSnapshots: unary(ctx, 'ListSnapshots', listSnapshots),
    CheckRepository: unary(ctx, 'CheckRepository', checkRepository),
    PruneRepository: unary(ctx, 'PruneRepository', pruneRepository),
    ForgetSnapshots: unary(ctx, 'ForgetSnapshots', forgetSnapshots),
  };
}

async function describe(ctx: ApiContext, repo: RepositoryObject): Promise<BackupRepository> {
  const location = await ctx.cluster.get<LocationObject>('BackupLocation', '', repo.spec.location);
  return repositoryMessage(repo, location);
}

/** Validates, authorizes `verb` in the namespace the repository holds, and reads it (NotFound under another namespace). */
async function withRepository(ctx: ApiContext, caller: Caller, verb: Verb, name: string, namespace: string, nameField = 'repository'): Promise<RepositoryObject> {
  const p = new Problems();
  p.name(nameField, name);
  p.namespace('namespace', namespace);
  p.check();
  await authorize(ctx.cluster, caller, [{ verb, resource: 'backuprepositories', namespace, name }]);
  const repo = await ctx.cluster.get<RepositoryObject>('BackupRepository', ctx.namespace, name).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'BackupRepository', namespace: ctx.namespace, name, action: 'read' });
  });
  if (!repo || repo.spec.namespace !== namespace) throw new CoordinatorError('NotFound', `BackupRepository ${name} holding namespace ${namespace} not found; ListRepositories shows the namespace's repositories`);
  return repo;
}

async function listRepositories(ctx: ApiContext, caller: Caller, req: ListRepositoriesRequest__Output): Promise<ListRepositoriesResponse> {
  const p = new Problems();
  if (!req.allNamespaces) p.namespace('namespace', req.namespace);
  p.check();
  const namespace = req.allNamespaces ? undefined : req.namespace;
  await authorize(ctx.cluster, caller, [{ verb: 'list', resource: 'backuprepositories', ...(namespace ? { namespace } : {}) }]);
  const repos = (await ctx.cluster.list<RepositoryObject>('BackupRepository', ctx.namespace)).filter((r) => namespace === undefined || r.spec.namespace === namespace);
  const locations = new Map((await ctx.cluster.list<LocationObject>('BackupLocation')).map((l) => [l.metadata.name ?? '', l]));
  const sorted = repos.sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  return { repositories: sorted.map((r) => repositoryMessage(r, locations.get(r.spec.location))) };
}

/** Runs `use` with the repository opened on the coordinator (location, credentials and key as for agent jobs). */
async function withMover<T>(ctx: ApiContext, repo: RepositoryObject, use: (mover: Mover) => Promise<T>): Promise<T> {
  const name = repo.metadata.name ?? '';
  const access = await ctx.repositories.jobRepository(name, { initialize: false });
  const opened = await ctx.movers({ repository: name, mover: repo.spec.mover, access });
  try {
    return await use(opened.mover);
  } catch (err) {
    // Mover errors name the repository problem and never carry secrets (the Mover contract).
    if (isCoordinatorError(err)) throw err;
    throw new CoordinatorError('Unavailable', `BackupRepository ${name} could not be read: ${messageOf(err)}`, { cause: err });
  } finally {
    await opened.dispose();
  }
}

async function listSnapshots(ctx: ApiContext, caller: Caller, req: ListSnapshotsRequest__Output): Promise<ListSnapshotsResponse> {
  const repo = await withRepository(ctx, caller, 'get', req.repository, req.namespace);
  const snapshots = await withMover(ctx, repo, (m) => m.snapshots({ ...(req.tags.length ? { tags: req.tags } : {}) }));
  const newestFirst = [...snapshots].sort((a, b) => b.time.getTime() - a.time.getTime());
  return {
    snapshots: newestFirst.map((s) => ({ id: s.id, time: rfc3339(s.time), hostname: s.hostname ?? '', paths: [...s.paths], tags: [...s.tags], parent: s.parentId ?? '', sizeBytes: s.sizeBytes ?? 0 })),
  };
}

async function annotate(ctx: ApiContext, repo: RepositoryObject, annotations: Record<string, string>): Promise<BackupRepository> {
  const name = repo.metadata.name ?? '';
  const updated = await ctx.cluster.mergePatch<RepositoryObject>('BackupRepository', ctx.namespace, name, { metadata: { annotations } }).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'BackupRepository', namespace: ctx.namespace, name, action: 'write' });
  });
  return describe(ctx, updated);
}

async function checkRepository(ctx: ApiContext, caller: Caller, req: CheckRepositoryRequest__Output): Promise<BackupRepository> {
  if (!(req.readDataPercent >= 0 && req.readDataPercent <= 100)) throw new CoordinatorError('InvalidArgument', 'read_data_percent: must be from 0 to 100');
  const repo = await withRepository(ctx, caller, 'update', req.repository, req.namespace);
  return annotate(ctx, repo, { [MAINTENANCE_ANNOTATIONS.checkRequested]: rfc3339(new Date(ctx.clock.now())), [MAINTENANCE_ANNOTATIONS.checkReadDataPercent]: String(Math.ceil(req.readDataPercent)) });
}

async function pruneRepository(ctx: ApiContext, caller: Caller, req: PruneRepositoryRequest__Output): Promise<BackupRepository> {
  const repo = await withRepository(ctx, caller, 'update', req.repository, req.namespace);
  return annotate(ctx, repo, { [MAINTENANCE_ANNOTATIONS.pruneRequested]: rfc3339(new Date(ctx.clock.now())) });
}

async function forgetSnapshots(ctx: ApiContext, caller: Caller, req: ForgetSnapshotsRequest__Output): Promise<ForgetSnapshotsResponse> {
  const p = new Problems();
  const policy = retentionOf(req.policy, p, 'policy');
  if (!policy) p.add('policy', 'set at least one keep rule (forgetting everything is not offered here; delete the Backups instead)');
  p.tags('tags', req.tags);
  p.check();
  const repo = await withRepository(ctx, caller, 'update', req.repository, req.namespace);
  if (!req.dryRun) await ctx.repositories.assertWritable(repo.metadata.name ?? '', 'ForgetSnapshots');
  const engine = enginePolicy(policy!);
  return withMover(ctx, repo, async (m) => {
    const snapshots = await m.snapshots({ ...(req.tags.length ? { tags: req.tags } : {}) });
    const groups = applyRetention(snapshots.map((s) => ({ id: s.id, time: s.time, tags: s.tags, identity: s.identity })), engine, { now: new Date(ctx.clock.now()), timeZone: 'UTC' });
    const decisions = groups.flatMap((g) => g.decisions);
    const kept = decisions.filter((d) => d.keep).map((d) => d.snapshot.id);
    const doomed = decisions.filter((d) => !d.keep).map((d) => d.snapshot.id);
    if (req.dryRun || doomed.length === 0) return { kept, forgotten: doomed };
    const { removed } = await m.removeSnapshots({ snapshotIds: doomed });
    await recordForgotten(ctx, { repository: repo.metadata.name ?? '', snapshotIds: removed, by: `ForgetSnapshots by ${caller.user.username}` });
    return { kept, forgotten: [...removed] };
  });
}
