/**
 * BackupLocation: the coordinator proves it can reach each location with its credentials —
 * at start, after every spec change (a new generation) and every `locationValidationMs`
 * on the injected Clock — and writes phase Available/Unavailable, lastValidationTime and
 * the Ready condition. Backups to an Unavailable location fail at once (controllers/
 * backup.ts) instead of every volume timing out against it on the agents.
 *
 * The probe is cheap: S3 lists at most one key under the location's prefix (that needs the
 * bucket, the endpoint and working credentials); a filesystem location must be a directory
 * the coordinator can read (and write, unless ReadOnly), since it opens repositories there
 * for purges, retention and repository readiness. A ReadWrite directory that does not exist
 * yet is created, as the first backup would.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { isBlobStoreError } from '@ferry/blobstore';
import { isoTime } from '../clock.js';
import { findCondition, setCondition } from '../conditions.js';
import type { ControllerContext } from '../context.js';
import type { FerryObject } from '../cluster/cluster-state.js';
import { involved } from '../controllers/commit.js';
import { isCoordinatorError, messageOf } from '../errors.js';
import { storeOf } from '../purge.js';
import { startLogSweep } from '../operation-logs/store.js';
import type { LocationObject } from '../repositories.js';
import type { Decision } from '../state-machine.js';

export type LocationStatus = NonNullable<LocationObject['status']>;
/** A BackupLocation as this controller reads and writes it. */
export type StoredLocation = FerryObject<LocationObject['spec'], LocationStatus>;

/** How long one probe may take; an endpoint that does not answer is Unavailable, not a hung reconcile. */
const PROBE_TIMEOUT_MS = 30_000;

export type Probe = { readonly ok: true; readonly message: string } | { readonly ok: false; readonly reason: 'Unavailable' | 'CredentialsNotFound'; readonly message: string };

/** Reaches the location once: the outcome, with a message naming the location and the fix. */
export async function probeLocation(c: ControllerContext, location: LocationObject): Promise<Probe> {
  const name = location.metadata.name ?? '';
  try {
    if (location.spec.filesystem) return await probeDirectory(location);
    const store = storeOf(await c.repositories.storeAccess(location, ''));
    const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
    for await (const _first of store.list('', { signal })) break;
    return { ok: true, message: `listed ${store.description} with the location's credentials` };
  } catch (err) {
    if (isCoordinatorError(err, 'CredentialsNotFound')) return { ok: false, reason: 'CredentialsNotFound', message: `BackupLocation ${name}: ${err.message}` };
    const code = isBlobStoreError(err) ? ` (${err.code})` : '';
    return { ok: false, reason: 'Unavailable', message: `BackupLocation ${name} could not be reached${code}: ${messageOf(err)}; check spec.s3 (endpoint, bucket, region) and the credentials in spec.credentialsSecretRef` };
  }
}

async function probeDirectory(location: LocationObject): Promise<Probe> {
  const name = location.metadata.name ?? '';
  const dir = location.spec.filesystem!.path;
  const mode = location.spec.accessMode === 'ReadOnly' ? constants.R_OK | constants.X_OK : constants.R_OK | constants.W_OK | constants.X_OK;
  const fix = `the coordinator opens repositories there too, so mount the same path into it as into the agents`;
  try {
    // The first backup would create it anyway; a ReadOnly location is only ever read.
    if (location.spec.accessMode !== 'ReadOnly') await mkdir(dir, { recursive: true });
    if (!(await stat(dir)).isDirectory()) return { ok: false, reason: 'Unavailable', message: `BackupLocation ${name}: ${dir} is not a directory; point spec.filesystem.path at one` };
    await access(dir, mode);
    return { ok: true, message: `${dir} is a directory the coordinator can ${location.spec.accessMode === 'ReadOnly' ? 'read' : 'read and write'}` };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOTDIR' || code === 'EEXIST') return { ok: false, reason: 'Unavailable', message: `BackupLocation ${name}: ${dir} is not a directory; point spec.filesystem.path at one` };
    if (code === 'ENOENT') return { ok: false, reason: 'Unavailable', message: `BackupLocation ${name}: ${dir} does not exist on the coordinator; ${fix}` };
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return { ok: false, reason: 'Unavailable', message: `BackupLocation ${name}: the coordinator may not ${mode & constants.W_OK ? 'read and write' : 'read'} ${dir} (${String(code)}); fix its permissions, or set spec.accessMode ReadOnly if this cluster only restores from it` };
    return { ok: false, reason: 'Unavailable', message: `BackupLocation ${name}: ${dir} could not be checked (${String(code ?? 'error')}): ${messageOf(err)}; ${fix}` };
  }
}

/** Whether the last validation is still current: same generation, and younger than the period. */
function validationDue(c: ControllerContext, location: LocationObject): number {
  const ready = findCondition(location.status?.conditions, 'Ready');
  const last = Date.parse(location.status?.lastValidationTime ?? '');
  if (!ready || Number.isNaN(last) || ready.observedGeneration !== location.metadata.generation) return 0;
  return Math.max(0, last + c.settings.locationValidationMs - c.clock.now());
}

export async function reconcileLocation(c: ControllerContext, location: StoredLocation): Promise<Decision<LocationStatus>> {
  if (location.metadata.deletionTimestamp) return {};
  const wait = validationDue(c, location);
  if (wait > 0) return { requeueAfterMs: wait };
  const probe = await probeLocation(c, location);
  const status = location.status ?? {};
  const now = isoTime(c.clock);
  const phase = probe.ok ? 'Available' : 'Unavailable';
  const reason = probe.ok ? 'Available' : probe.reason;
  const conditions = setCondition(status.conditions, { type: 'Ready', status: probe.ok ? 'True' : 'False', reason, message: probe.message }, now, location.metadata.generation);
  const next: LocationStatus = { ...status, phase, lastValidationTime: now, conditions };
  const changed = status.phase !== phase;
  if (!probe.ok) c.log.warn('BackupLocation unavailable', { location: location.metadata.name, reason, error: probe.message });
  // Logs of operations deleted while their log could not be removed (a finished Restore, a coordinator down) go here.
  if (probe.ok && location.spec.accessMode !== 'ReadOnly') startLogSweep(c, location);
  const events = changed && (status.phase !== undefined || !probe.ok) ? [{ involved: involved('BackupLocation', location), type: probe.ok ? ('Normal' as const) : ('Warning' as const), reason: probe.ok ? 'LocationAvailable' : 'LocationUnavailable', message: probe.message }] : [];
  return { status: next, events, requeueAfterMs: c.settings.locationValidationMs };
}

/** The reason a Backup may not use this location now, or undefined: Unavailable at its last validation. */
export function unavailableReason(location: LocationObject): string | undefined {
  if (location.status?.phase !== 'Unavailable') return undefined;
  const ready = findCondition(location.status.conditions, 'Ready');
  return `BackupLocation ${location.metadata.name} is Unavailable (checked ${location.status.lastValidationTime ?? 'recently'}): ${ready?.message ?? 'the coordinator could not reach it'}; fix the location (it is checked again after every change and every few minutes), then create the Backup again`;
}
