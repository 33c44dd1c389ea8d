/**
 * Repository maintenance, one BackupRepository at a time: when a check or prune is due
 * (by interval or by request, schedule.ts) it is assigned to ONE connected agent (the
 * least busy), never run in the coordinator. status.maintenanceJob is written before the
 * Assign goes out, so a restarted coordinator tracks the same job, and it is the one slot
 * per repository: a check and a prune of the same repository never run at once. The
 * agent's result arrives through runs.ts.
 */
import type { Job } from '@ferry/api';
import { isoTime } from '../clock.js';
import { setCondition } from '../conditions.js';
import type { ControllerContext } from '../context.js';
import { commit } from '../controllers/commit.js';
import { isCoordinatorError, messageOf } from '../errors.js';
import type { AgentSession } from '../hub.js';
import { exportRepositoryMetrics, forgetRepositoryMetrics } from './metrics.js';
import { reconcileReadiness } from './readiness.js';
import { recordRun, type MaintenanceJob } from './runs.js';
import { maintenanceJobId, outlook, parseMaintenanceJobId, planOf, type DueRun, type MaintenanceOutlook, type RepositoryObject, type RepositoryStatus } from './schedule.js';

/** Maintenance may take hours on a large repository; a hung one still ends. */
export const MAINTENANCE_TIMEOUT_SECONDS = 24 * 3600;
const WAIT_FOR_AGENT_MS = 10_000;
const RUNNING_POLL_MS = 30_000;
/** Far-off due times are looked at again at least this often (interval edits, clock steps). */
const MAX_SLEEP_MS = 3_600_000;

export async function reconcileMaintenance(ctx: ControllerContext, namespace: string, name: string): Promise<{ requeueAfterMs?: number }> {
  const repo = await ctx.cluster.get<RepositoryObject>('BackupRepository', namespace, name);
  if (!repo) {
    forgetRepositoryMetrics(ctx.metrics, name);
    return {};
  }
  exportRepositoryMetrics(ctx.metrics, repo);
  if (repo.metadata.deletionTimestamp) return {};
  const readiness = await reconcileReadiness(ctx, repo);
  const current = readiness.repo;
  const job = current.status?.maintenanceJob;
  const next = await (job ? track(ctx, current, job) : schedule(ctx, current));
  return sooner(next.requeueAfterMs, readiness.requeueAfterMs);
}

function sooner(a: number | undefined, b: number | undefined): { requeueAfterMs?: number } {
  const ms = Math.min(a ?? Infinity, b ?? Infinity);
  return Number.isFinite(ms) ? { requeueAfterMs: ms } : {};
}

async function schedule(ctx: ControllerContext, repo: RepositoryObject): Promise<{ requeueAfterMs?: number }> {
  const now = ctx.clock.now();
  const view = outlook(repo, planOf(repo), now);
  for (const problem of view.problems) ctx.log.warn('ignoring a maintenance request', { repository: repo.metadata.name, problem });
  const status = withNextTimes(repo.status ?? {}, view);
  if (!view.due) {
    await commit(ctx, 'BackupRepository', repo, { status });
    const next = Math.min(view.nextCheckAt ?? Infinity, view.nextPruneAt ?? Infinity);
    return Number.isFinite(next) ? { requeueAfterMs: Math.max(1_000, Math.min(next - now, MAX_SLEEP_MS)) } : {};
  }
  return start(ctx, repo, status, view.due, 1);
}

async function start(ctx: ControllerContext, repo: RepositoryObject, status: RepositoryStatus, due: DueRun, attempt: number): Promise<{ requeueAfterMs?: number }> {
  if (due.operation === 'prune') {
    const refused = await readOnly(ctx, repo);
    if (refused) {
      await recordRun(ctx, repo, { operation: 'prune', job: { operation: 'prune', jobId: maintenanceJobId(repo.metadata.uid ?? '', 'prune', due.trigger, attempt), node: '', agentInstance: '', attempt, startedAt: isoTime(ctx.clock), ...(due.requestedAt ? { requestedAt: due.requestedAt } : {}) }, succeeded: false, message: refused });
      return {};
    }
  }
  const agent = leastBusyAgent(ctx);
  const now = isoTime(ctx.clock);
  if (!agent) {
    const message = `a ${due.operation} is due but no Ferry agent is connected to run it; it starts when one connects (check the ferry-agent DaemonSet)`;
    const conditions = setCondition(status.conditions, { type: 'Maintenance', status: 'False', reason: 'WaitingForAgent', message }, now);
    await commit(ctx, 'BackupRepository', repo, { status: { ...withoutJob(status), conditions } });
    return { requeueAfterMs: WAIT_FOR_AGENT_MS };
  }
  const job: MaintenanceJob = {
    operation: due.operation,
    jobId: maintenanceJobId(repo.metadata.uid ?? '', due.operation, due.trigger, attempt),
    node: agent.node,
    agentInstance: agent.instanceId,
    attempt,
    startedAt: now,
    ...(due.operation === 'check' ? { readDataPercent: due.readDataPercent } : {}),
    ...(due.requestedAt ? { requestedAt: due.requestedAt } : {}),
  };
  let message: Job;
  try {
    message = await jobMessage(ctx, repo, job);
  } catch (err) {
    await recordRun(ctx, repo, { operation: due.operation, job, succeeded: false, message: `the ${due.operation} could not be assigned: ${messageOf(err)}` });
    return {};
  }
  const conditions = setCondition(status.conditions, { type: 'Maintenance', status: 'True', reason: 'Assigned', message: `${due.operation} assigned to the agent on node ${agent.node} (attempt ${attempt})` }, now);
  // Status first: if the coordinator stops right after, the next one finds the job and re-sends it.
  await commit(ctx, 'BackupRepository', repo, { status: { ...status, maintenanceJob: job, conditions } });
  ctx.hub.assign(agent.node, message);
  ctx.log.info(`repository ${due.operation} assigned`, { repository: repo.metadata.name, node: agent.node, job: job.jobId, ...(due.requestedAt ? { requestedAt: due.requestedAt } : {}) });
  return { requeueAfterMs: RUNNING_POLL_MS };
}

async function track(ctx: ControllerContext, repo: RepositoryObject, job: MaintenanceJob): Promise<{ requeueAfterMs?: number }> {
  const session = ctx.hub.session(job.node);
  if (session) {
    if (session.jobs.has(job.jobId)) return { requeueAfterMs: RUNNING_POLL_MS };
    if (session.instanceId === job.agentInstance) {
      // Same agent process, job unknown: the Assign was lost (or was never sent). Send it again.
      ctx.hub.assign(job.node, await jobMessage(ctx, repo, job));
      return { requeueAfterMs: WAIT_FOR_AGENT_MS };
    }
    return retry(ctx, repo, job, `the agent on node ${job.node} restarted and no longer knows the ${job.operation}`);
  }
  const lastSeen = ctx.hub.lastSeenAt(job.node) ?? ctx.startedAt;
  const gone = ctx.clock.now() - lastSeen;
  const limit = ctx.settings.agentLostMs;
  if (gone < limit) return { requeueAfterMs: Math.min(limit - gone, 5_000) };
  return retry(ctx, repo, job, `the agent on node ${job.node} disconnected during the ${job.operation} and did not come back within ${Math.round(limit / 1000)} s`);
}

/** The job's agent lost it: another attempt on any agent, or a failed run after maxAttempts. */
async function retry(ctx: ControllerContext, repo: RepositoryObject, job: MaintenanceJob, why: string): Promise<{ requeueAfterMs?: number }> {
  if (job.attempt >= ctx.settings.maxAttempts) {
    await recordRun(ctx, repo, { operation: job.operation, job, succeeded: false, message: `${why}; gave up after ${job.attempt} attempts` });
    return {};
  }
  ctx.log.warn(`repository ${job.operation} lost; assigning it again`, { repository: repo.metadata.name, reason: why, attempt: job.attempt + 1 });
  const trigger = parseMaintenanceJobId(job.jobId)?.trigger ?? ctx.clock.now();
  const due: DueRun = { operation: job.operation, trigger, readDataPercent: job.readDataPercent ?? 0, ...(job.requestedAt ? { requestedAt: job.requestedAt } : {}) };
  return start(ctx, repo, repo.status ?? {}, due, job.attempt + 1);
}

function leastBusyAgent(ctx: ControllerContext): AgentSession | undefined {
  const busy = (s: AgentSession): number => [...s.jobs.values()].filter((p) => p !== 'JOB_PHASE_FINISHED').length;
  const sessions = ctx.hub.connectedNodes.map((n) => ctx.hub.session(n)).filter((s): s is AgentSession => s !== undefined);
  return sessions.sort((a, b) => busy(a) - busy(b) || a.node.localeCompare(b.node))[0];
}

async function jobMessage(ctx: ControllerContext, repo: RepositoryObject, job: MaintenanceJob): Promise<Job> {
  const name = repo.metadata.name ?? '';
  return {
    jobId: job.jobId,
    kind: 'JOB_KIND_MAINTENANCE',
    mover: repo.spec.mover === 'restic' ? 'MOVER_KIND_RESTIC' : 'MOVER_KIND_NATIVE',
    timeoutSeconds: MAINTENANCE_TIMEOUT_SECONDS,
    repository: await ctx.repositories.jobRepository(name, { initialize: false }),
    maintenance: {
      operation: job.operation === 'check' ? 'MAINTENANCE_OPERATION_CHECK' : 'MAINTENANCE_OPERATION_PRUNE',
      readDataPercent: job.readDataPercent ?? 0,
      repositoryName: name,
      namespace: repo.spec.namespace,
    },
  };
}

function withNextTimes(status: RepositoryStatus, view: MaintenanceOutlook): RepositoryStatus {
  const { nextCheckTime: _c, nextPruneTime: _p, ...rest } = status;
  const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { ...rest, ...(view.nextCheckAt !== undefined ? { nextCheckTime: iso(view.nextCheckAt) } : {}), ...(view.nextPruneAt !== undefined ? { nextPruneTime: iso(view.nextPruneAt) } : {}) };
}

function withoutJob(status: RepositoryStatus): RepositoryStatus {
  const { maintenanceJob: _j, ...rest } = status;
  return rest;
}

/** BackupRepositories to look at when an agent connects or leaves: those waiting for one, or running on that node. */
export function repositoriesToNudge(repositories: readonly RepositoryObject[], node: string): RepositoryObject[] {
  return repositories.filter((r) => r.status?.maintenanceJob?.node === node || r.status?.conditions?.some((c) => c.type === 'Maintenance' && c.reason === 'WaitingForAgent'));
}

/** Why a prune may not run here (the repository is imported or its location ReadOnly), or undefined. A check only reads and always runs. */
async function readOnly(ctx: ControllerContext, repo: RepositoryObject): Promise<string | undefined> {
  try {
    await ctx.repositories.assertWritable(repo.metadata.name ?? '', 'a prune');
    return undefined;
  } catch (err) {
    if (isCoordinatorError(err, 'ReadOnly')) return err.message;
    throw err;
  }
}
