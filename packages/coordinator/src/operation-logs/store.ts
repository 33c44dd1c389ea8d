/**
 * Reading and writing operation logs at a BackupLocation's root (format.ts), with the
 * location's own credentials as every other coordinator access. A put is atomic by the
 * BlobStore contract (a temporary file renamed, or one S3 PUT), so a reader finds either
 * no log or the whole log, never a half-written one.
 */
import { isBlobStoreError, type BlobStore } from '@ferry/blobstore';
import type { ClusterState } from '../cluster/cluster-state.js';
import { CoordinatorError, isCoordinatorError, messageOf } from '../errors.js';
import type { BackupObject, PvrObject, RestoreObject } from '../objects.js';
import { storeOf } from '../purge.js';
import type { LocationObject, Repositories } from '../repositories.js';
import { LABELS, objectKey, type ControllerContext } from '../context.js';
import { tasksOf } from '../controllers/tasks.js';
import type { OperationLogLine } from './book.js';
import { decodeLog, encodeLog, LOG_PREFIX, logKey, parseLogKey, type OperationId } from './format.js';

/** How long one read or write of a log may take. */
const STORE_TIMEOUT_MS = 60_000;

export interface LogDeps {
  readonly cluster: ClusterState;
  readonly repositories: Repositories;
}

export function describeOperation(op: OperationId): string {
  return `${op.kind} ${op.namespace}/${op.name}`;
}

/**
 * The BackupLocation an operation's log belongs to: a Backup's own (status.location); a
 * Restore's is the location of the repository its volumes read (else of its Backup).
 * Undefined when the operation ended before one was chosen.
 */
export async function logLocationName(deps: LogDeps, op: OperationId, obj: BackupObject | RestoreObject): Promise<string | undefined> {
  if (op.kind === 'Backup') return (obj as BackupObject).status?.location;
  const pvrs = await deps.cluster.list<PvrObject>('PodVolumeRestore', op.namespace, `${LABELS.restore}=${op.name}`);
  const repository = pvrs.find((p) => p.metadata.ownerReferences?.some((o) => o.uid === op.uid))?.spec.repository;
  if (repository) return (await deps.repositories.get(repository).catch(() => undefined))?.spec.location;
  const backupName = (obj as RestoreObject).status?.backupName ?? (obj as RestoreObject).spec.backupName;
  if (!backupName) return undefined;
  return (await deps.cluster.get<BackupObject>('Backup', op.namespace, backupName))?.status?.location;
}

async function locationStore(deps: LogDeps, location: LocationObject): Promise<BlobStore> {
  return storeOf(await deps.repositories.storeAccess(location, ''));
}

export async function writeLog(deps: LogDeps, location: LocationObject, op: OperationId, lines: readonly OperationLogLine[]): Promise<string> {
  const key = logKey(op);
  const store = await locationStore(deps, location);
  await store.put(key, encodeLog(lines), { signal: AbortSignal.timeout(STORE_TIMEOUT_MS) });
  return key;
}

/** The stored lines; NotFound when the object is missing, Unavailable when the location does not answer. */
export async function readLog(deps: LogDeps, locationName: string, op: OperationId): Promise<OperationLogLine[]> {
  const what = describeOperation(op);
  const location = await deps.repositories.resolveLocation(locationName);
  const key = logKey(op);
  try {
    const store = await locationStore(deps, location);
    return decodeLog(await store.get(key, { signal: AbortSignal.timeout(STORE_TIMEOUT_MS) }), what);
  } catch (err) {
    if (isCoordinatorError(err)) throw err;
    if (isBlobStoreError(err) && err.code === 'NotFound') throw new CoordinatorError('NotFound', `the log of ${what} is missing from BackupLocation ${locationName} (${key}); it was removed from the store`);
    throw new CoordinatorError('Unavailable', `the log of ${what} could not be read from BackupLocation ${locationName}${isBlobStoreError(err) ? ` (${err.code})` : ''}: ${messageOf(err)}; check the location's status and try again`);
  }
}

export async function deleteLog(deps: LogDeps, locationName: string, op: OperationId): Promise<void> {
  const location = await deps.repositories.resolveLocation(locationName);
  if (location.spec.accessMode === 'ReadOnly') return;
  const store = await locationStore(deps, location);
  await store.delete(logKey(op), { signal: AbortSignal.timeout(STORE_TIMEOUT_MS) });
}

/**
 * Deletes the logs at a ReadWrite location whose operation no longer exists (a Restore
 * deleted after it ended, a Backup deleted while the coordinator was down). Returns the
 * keys removed.
 */
export async function sweepLogs(deps: LogDeps, location: LocationObject, signal?: AbortSignal): Promise<string[]> {
  if (location.spec.accessMode === 'ReadOnly') return [];
  const store = await locationStore(deps, location);
  const stored: { key: string; op: OperationId }[] = [];
  for await (const entry of store.list(LOG_PREFIX, signal ? { signal } : {})) {
    const op = parseLogKey(entry.key);
    if (op) stored.push({ key: entry.key, op });
  }
  // Operations are listed after the keys: a log written meanwhile belongs to an operation this list sees.
  const live = new Set<string>();
  for (const kind of ['Backup', 'Restore'] as const) for (const o of await deps.cluster.list(kind)) live.add(`${kind}/${o.metadata.uid ?? ''}`);
  const removed: string[] = [];
  for (const { key, op } of stored) {
    if (live.has(`${op.kind}/${op.uid}`)) continue;
    await store.delete(key, signal ? { signal } : {});
    removed.push(key);
  }
  return removed;
}

/** Runs sweepLogs beside the reconcile loop (a large prefix takes a while), at most one per location at a time. */
export function startLogSweep(c: ControllerContext, location: LocationObject): void {
  const name = location.metadata.name ?? '';
  const key = `log-sweep/${name}`;
  const tasks = tasksOf(c);
  if (tasks.get(key)?.outcome !== undefined) tasks.forget(key);
  tasks.start(key, {}, objectKey('BackupLocation', '', name), async (h) => {
    const removed = await sweepLogs(c, location, h.abort.signal);
    if (removed.length > 0) c.log.info('removed the logs of deleted operations', { location: name, removed: removed.length });
    return removed.length;
  });
}
