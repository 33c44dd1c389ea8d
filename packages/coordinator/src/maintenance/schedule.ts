/**
 * When a repository's check or prune is due: by interval (`now ≥ last run start +
 * interval`, the first one an interval after the repository was created) or by request
 * (the API's annotation, served by the first run that starts at or after its time). Pure
 * functions of the object and the time, so a restarted coordinator decides the same.
 */
import { MAINTENANCE_ANNOTATIONS, parseDuration } from '@ferry/api';
import type { FerryObject } from '../cluster/cluster-state.js';
import type { RepositoryObject as StoredRepository } from '../repositories.js';

export type Operation = 'check' | 'prune';
export type RepositoryStatus = NonNullable<StoredRepository['status']>;
/** A BackupRepository as the maintenance code reads and writes it. */
export type RepositoryObject = FerryObject<StoredRepository['spec'], RepositoryStatus>;

const HOUR_MS = 3_600_000;

export const MAINTENANCE_DEFAULTS = {
  checkIntervalMs: 168 * HOUR_MS,
  pruneIntervalMs: 168 * HOUR_MS,
  readDataPercent: 5,
  /** A run that could not finish (store down, agent lost) is tried again this soon, not an interval later. */
  retryAfterMs: HOUR_MS,
} as const;

export interface MaintenancePlan {
  /** 0: disabled. */
  readonly checkIntervalMs: number;
  readonly pruneIntervalMs: number;
  readonly readDataPercent: number;
}

export function planOf(repo: RepositoryObject): MaintenancePlan {
  const m = repo.spec.maintenance;
  return {
    checkIntervalMs: intervalMs(m?.checkInterval, MAINTENANCE_DEFAULTS.checkIntervalMs),
    pruneIntervalMs: intervalMs(m?.pruneInterval, MAINTENANCE_DEFAULTS.pruneIntervalMs),
    readDataPercent: m?.readDataPercent ?? MAINTENANCE_DEFAULTS.readDataPercent,
  };
}

function intervalMs(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = parseDuration(value);
  return parsed.ok ? parsed.milliseconds : fallback;
}

/** A run that should start now. `trigger` (ms) names it: the due time or the request time. */
export interface DueRun {
  readonly operation: Operation;
  readonly trigger: number;
  readonly readDataPercent: number;
  /** The annotation value this run serves; undefined for a scheduled run. */
  readonly requestedAt?: string;
}

export interface MaintenanceOutlook {
  /** The run to start now, if any (requests first, then the one due longest). */
  readonly due?: DueRun;
  /** Next scheduled times (ms); undefined when that operation is disabled. */
  readonly nextCheckAt?: number;
  readonly nextPruneAt?: number;
  /** Annotations that could not be read, for a log line. */
  readonly problems: readonly string[];
}

export function outlook(repo: RepositoryObject, plan: MaintenancePlan, now: number): MaintenanceOutlook {
  const status = repo.status ?? {};
  const created = Date.parse(String(repo.metadata.creationTimestamp ?? '')) || now;
  const problems: string[] = [];
  const check = scheduled(status.lastCheck, plan.checkIntervalMs, created, status.lastCheck?.result === 'Failed' && status.lastCheck.errors === undefined);
  const prune = scheduled(status.lastPrune, plan.pruneIntervalMs, created, status.lastPrune?.result === 'Failed');
  const requests = [
    request(repo, 'check', status.lastCheck, problems, plan.readDataPercent),
    request(repo, 'prune', status.lastPrune, problems, 0),
  ].filter((r): r is DueRun => r !== undefined);
  const byInterval: DueRun[] = [];
  if (check !== undefined && check <= now) byInterval.push({ operation: 'check', trigger: check, readDataPercent: plan.readDataPercent });
  if (prune !== undefined && prune <= now) byInterval.push({ operation: 'prune', trigger: prune, readDataPercent: 0 });
  byInterval.sort((a, b) => a.trigger - b.trigger);
  const due = requests[0] ?? byInterval[0];
  return { ...(due ? { due } : {}), ...(check !== undefined ? { nextCheckAt: check } : {}), ...(prune !== undefined ? { nextPruneAt: prune } : {}), problems };
}

interface LastRun {
  readonly startedAt?: string;
  readonly time: string;
  readonly requestedAt?: string;
}

/** The next scheduled start, or undefined when disabled. A run that could not finish is retried sooner. */
function scheduled(last: LastRun | undefined, interval: number, created: number, couldNotRun: boolean): number | undefined {
  if (interval <= 0) return undefined;
  if (!last) return created + interval;
  const started = Date.parse(last.startedAt ?? last.time);
  return started + (couldNotRun ? Math.min(interval, MAINTENANCE_DEFAULTS.retryAfterMs) : interval);
}

const REQUEST_KEY: Record<Operation, string> = { check: MAINTENANCE_ANNOTATIONS.checkRequested, prune: MAINTENANCE_ANNOTATIONS.pruneRequested };

function request(repo: RepositoryObject, operation: Operation, last: LastRun | undefined, problems: string[], defaultPercent: number): DueRun | undefined {
  const value = repo.metadata.annotations?.[REQUEST_KEY[operation]];
  if (!value) return undefined;
  const at = Date.parse(value);
  if (!Number.isFinite(at)) {
    problems.push(`annotation ${REQUEST_KEY[operation]}=${JSON.stringify(value)} is not an RFC 3339 time`);
    return undefined;
  }
  if (last && (last.requestedAt === value || Date.parse(last.startedAt ?? last.time) >= at)) return undefined;
  const readDataPercent = operation === 'check' ? requestedPercent(repo, problems) ?? defaultPercent : 0;
  return { operation, trigger: at, readDataPercent, requestedAt: value };
}

function requestedPercent(repo: RepositoryObject, problems: string[]): number | undefined {
  const key = MAINTENANCE_ANNOTATIONS.checkReadDataPercent;
  const value = repo.metadata.annotations?.[key];
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (Number.isInteger(n) && n >= 0 && n <= 100) return n;
  problems.push(`annotation ${key}=${JSON.stringify(value)} is not an integer 0..100; using spec.maintenance.readDataPercent`);
  return undefined;
}

/**
 * `<repository uid>.<operation>.<trigger seconds>.<attempt>`: the same run gets the same
 * id after a coordinator restart, and a retry on another agent gets a new one.
 */
export function maintenanceJobId(uid: string, operation: Operation, trigger: number, attempt: number): string {
  return `${uid}.${operation}.${Math.floor(trigger / 1000)}.${attempt}`;
}

const JOB_ID = /^(.+)\.(check|prune)\.(\d+)\.(\d+)$/;

export function parseMaintenanceJobId(jobId: string): { uid: string; operation: Operation; trigger: number; attempt: number } | undefined {
  const m = JOB_ID.exec(jobId);
  return m ? { uid: m[1]!, operation: m[2] as Operation, trigger: Number(m[3]) * 1000, attempt: Number(m[4]) } : undefined;
}

export function isMaintenanceJobId(jobId: string): boolean {
  return JOB_ID.test(jobId);
}
