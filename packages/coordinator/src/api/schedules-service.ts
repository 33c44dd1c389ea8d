/**
 * ferry.v1.Schedules: BackupSchedule custom resources through the API (create, read, list,
 * pause/resume, delete). The schedule controller (schedules/) runs them; the cron
 * expression and time zone are checked here with the same parser so a bad one is refused
 * at once instead of becoming an Invalid schedule.
 */
import { randomUUID } from 'node:crypto';
import type {
  CreateScheduleRequest__Output,
  DeleteScheduleRequest__Output,
  DeleteScheduleResponse,
  GetScheduleRequest__Output,
  ListSchedulesRequest__Output,
  ListSchedulesResponse,
  RetentionPolicy__Output,
  Schedule,
  SchedulesHandlers,
  SetSchedulePausedRequest__Output,
  V1alpha1RetentionPolicy,
} from '@ferry/api';
import { clusterFailure, CoordinatorError, isCoordinatorError } from '../errors.js';
import { CronSchedule } from '../schedules/cron.js';
import { StartWindowError, startWindowOf } from '../schedules/window.js';
import { Zone } from '../schedules/zone.js';
import { authorize, type Caller } from './auth.js';
import { API_ANNOTATIONS, backupSpecOf } from './backups-service.js';
import { scheduleMessage, type ScheduleObject } from './convert.js';
import { paginate } from './pages.js';
import { unary, type ApiContext } from './rpc.js';
import { checkNamed, pageSize, Problems } from './validate.js';

export function schedulesHandlers(ctx: ApiContext): SchedulesHandlers {
  return {
    CreateSchedule: unary(ctx, 'CreateSchedule', createSchedule),
    GetSchedule: unary(ctx, 'GetSchedule', getSchedule),
    ListSchedules: unary(ctx, 'ListSchedules', listSchedules),
    SetSchedulePaused: unary(ctx, 'SetSchedulePaused', setPaused),
    DeleteSchedule: unary(ctx, 'DeleteSchedule', deleteSchedule),
  };
}

const KEEP_FIELDS = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;
const snake = (f: string) => f.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A retention policy from the request; absent when the request sets no rule. */
export function retentionOf(r: RetentionPolicy__Output | null, p: Problems, field: string): V1alpha1RetentionPolicy | undefined {
  if (!r) return undefined;
  const policy: Record<string, unknown> = {};
  for (const k of KEEP_FIELDS) {
    const v = r[k];
    if (v === undefined || v === null) continue;
    if (v > 100_000) p.add(`${field}.${snake(k)}`, 'at most 100000');
    policy[k] = v;
  }
  p.duration(`${field}.keep_within`, r.keepWithin);
  if (r.keepWithin) policy['keepWithin'] = r.keepWithin;
  p.tags(`${field}.keep_tags`, r.keepTags);
  if (r.keepTags.length) policy['keepTags'] = [...r.keepTags];
  return Object.keys(policy).length ? (policy as V1alpha1RetentionPolicy) : undefined;
}

/** The schedule controller's own parsers, so what is accepted here also runs there. */
function checkCron(cron: string, timeZone: string, startWindow: string, p: Problems): void {
  let zone = timeZone || 'UTC';
  try {
    new Zone(zone);
  } catch (err) {
    if (!isCoordinatorError(err)) throw err;
    p.add('time_zone', err.message);
    zone = 'UTC';
  }
  if (cron.trim() === '') return p.add('cron', 'required (five fields or @hourly/@daily/@weekly/@monthly/@yearly)');
  let expression = cron;
  try {
    expression = startWindowOf({ namespace: '', name: '', schedule: cron, ...(startWindow ? { startWindow } : {}) }).expression;
  } catch (err) {
    if (!(err instanceof StartWindowError)) throw err;
    p.add('start_window', err.message.replace(/^spec\.startWindow /, ''));
  }
  try {
    CronSchedule.parse(expression, zone);
  } catch (err) {
    if (!isCoordinatorError(err)) throw err;
    p.add('cron', err.message);
  }
}

function scheduleSpecOf(req: CreateScheduleRequest__Output, p: Problems): ScheduleObject['spec'] {
  checkCron(req.cron, req.timeZone, req.startWindow, p);
  p.oneOf('concurrency_policy', req.concurrencyPolicy, ['Forbid', 'Replace']);
  const maxCatchUp = req.maxCatchUp ?? undefined;
  if (maxCatchUp !== undefined && maxCatchUp > 10) p.add('max_catch_up', 'at most 10');
  const template = req.template ? backupSpecOf(req.template, p, 'template.') : {};
  const retention = retentionOf(req.retention, p, 'retention');
  return {
    schedule: req.cron.trim(),
    ...(req.timeZone ? { timeZone: req.timeZone } : {}),
    ...(req.startWindow ? { startWindow: req.startWindow } : {}),
    template,
    ...(req.paused ? { paused: true } : {}),
    ...(req.concurrencyPolicy ? { concurrencyPolicy: req.concurrencyPolicy as 'Forbid' | 'Replace' } : {}),
    ...(maxCatchUp !== undefined ? { maxCatchUp } : {}),
    ...(retention ? { retention } : {}),
  };
}

async function createSchedule(ctx: ApiContext, caller: Caller, req: CreateScheduleRequest__Output): Promise<Schedule> {
  const p = new Problems();
  p.namespace('namespace', req.namespace);
  p.name('name', req.name);
  const spec = scheduleSpecOf(req, p);
  p.check();
  await authorize(ctx.cluster, caller, [{ verb: 'create', resource: 'backupschedules', namespace: req.namespace }]);
  const requestId = randomUUID();
  const body: ScheduleObject = { metadata: { name: req.name, namespace: req.namespace, annotations: { [API_ANNOTATIONS.createdBy]: caller.user.username, [API_ANNOTATIONS.request]: requestId } }, spec };
  const created = await ctx.cluster.createOrGet<ScheduleObject>('BackupSchedule', body).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'BackupSchedule', namespace: req.namespace, name: req.name, action: 'create' });
  });
  if (created.metadata.annotations?.[API_ANNOTATIONS.request] !== requestId) throw new CoordinatorError('AlreadyExists', `BackupSchedule ${req.namespace}/${req.name} already exists; choose another name`);
  return scheduleMessage(created);
}

async function readSchedule(ctx: ApiContext, namespace: string, name: string): Promise<ScheduleObject> {
  const found = await ctx.cluster.get<ScheduleObject>('BackupSchedule', namespace, name).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'BackupSchedule', namespace, name, action: 'read' });
  });
  if (!found) throw new CoordinatorError('NotFound', `BackupSchedule ${namespace}/${name} not found`);
  return found;
}

async function getSchedule(ctx: ApiContext, caller: Caller, req: GetScheduleRequest__Output): Promise<Schedule> {
  checkNamed(req);
  await authorize(ctx.cluster, caller, [{ verb: 'get', resource: 'backupschedules', namespace: req.namespace, name: req.name }]);
  return scheduleMessage(await readSchedule(ctx, req.namespace, req.name));
}

async function listSchedules(ctx: ApiContext, caller: Caller, req: ListSchedulesRequest__Output): Promise<ListSchedulesResponse> {
  const p = new Problems();
  if (!req.allNamespaces) p.namespace('namespace', req.namespace);
  const size = pageSize(req.pageSize, p);
  p.check();
  const namespace = req.allNamespaces ? undefined : req.namespace;
  await authorize(ctx.cluster, caller, [{ verb: 'list', resource: 'backupschedules', ...(namespace ? { namespace } : {}) }]);
  const page = paginate(await ctx.cluster.list<ScheduleObject>('BackupSchedule', namespace), { pageSize: size, pageToken: req.pageToken });
  return { schedules: page.items.map(scheduleMessage), nextPageToken: page.nextPageToken };
}

async function setPaused(ctx: ApiContext, caller: Caller, req: SetSchedulePausedRequest__Output): Promise<Schedule> {
  checkNamed(req);
  await authorize(ctx.cluster, caller, [{ verb: 'patch', resource: 'backupschedules', namespace: req.namespace, name: req.name }]);
  await readSchedule(ctx, req.namespace, req.name);
  const updated = await ctx.cluster.mergePatch<ScheduleObject>('BackupSchedule', req.namespace, req.name, { spec: { paused: req.paused } }).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'BackupSchedule', namespace: req.namespace, name: req.name, action: 'write' });
  });
  return scheduleMessage(updated);
}

async function deleteSchedule(ctx: ApiContext, caller: Caller, req: DeleteScheduleRequest__Output): Promise<DeleteScheduleResponse> {
  checkNamed(req);
  await authorize(ctx.cluster, caller, [{ verb: 'delete', resource: 'backupschedules', namespace: req.namespace, name: req.name }]);
  await readSchedule(ctx, req.namespace, req.name);
  await ctx.cluster.delete('BackupSchedule', req.namespace, req.name).catch((err: unknown) => {
    throw clusterFailure(err, { kind: 'BackupSchedule', namespace: req.namespace, name: req.name, action: 'write' });
  });
  return {};
}
