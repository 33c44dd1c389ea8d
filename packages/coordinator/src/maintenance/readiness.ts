/**
 * BackupRepository readiness: the coordinator opens each repository itself and writes
 * status.phase (Ready / NotReady), the Ready condition and lastValidationTime. A repository
 * this cluster owns is initialised if it does not exist yet (the agents would do the same
 * on the first backup; creating the config is a conditional put, so racing them is safe),
 * and initializedAt records when. A repository this cluster only reads (imported, or on a
 * ReadOnly location) is only opened, never created, and an imported one must carry the id
 * recorded in spec.repositoryId: another id means the path now holds another repository
 * (replaced, or the wrong prefix), and nothing is restored from it (RepositoryIdMismatch).
 *
 * Opening loads the repository's index, so it runs when the repository is new, after a
 * spec change, and while it is NotReady (every locationValidationMs). A Ready imported
 * repository has only its id re-read every period (one small object), since that is what
 * guards restores against reading the wrong repository.
 */
import { isoTime } from '../clock.js';
import { findCondition, setCondition } from '../conditions.js';
import type { ControllerContext } from '../context.js';
import type { EventOptions } from '../cluster/cluster-state.js';
import { commit, involved } from '../controllers/commit.js';
import { CoordinatorError, isCoordinatorError, messageOf } from '../errors.js';
import { storeOf } from '../purge.js';
import { isImported } from '../repositories.js';
import { openWithClusterKey } from '../transfer/keys.js';
import type { RepositoryObject, RepositoryStatus } from './schedule.js';

const OPEN_TIMEOUT_MS = 5 * 60_000;

type Opened = { readonly created: boolean; readonly repositoryId?: string };
type Outcome = { readonly ok: true; readonly opened: Opened } | { readonly ok: false; readonly reason: string; readonly message: string };

const what = (ctx: ControllerContext, repo: RepositoryObject): string => `BackupRepository ${ctx.settings.namespace}/${repo.metadata.name} (BackupLocation ${repo.spec.location}, path ${repo.spec.path ?? repo.spec.namespace})`;

/** Whether this cluster may only read the repository (it is never created then). */
async function readOnly(ctx: ControllerContext, repo: RepositoryObject): Promise<boolean> {
  const location = await ctx.repositories.resolveLocation(repo.spec.location);
  return isImported(repo) || location.spec.accessMode === 'ReadOnly';
}

/** Opens (or, when owned, initialises) the repository: the id it holds and whether it was created now. */
async function openRepository(ctx: ControllerContext, repo: RepositoryObject, signal: AbortSignal): Promise<Opened> {
  const name = repo.metadata.name ?? '';
  if (repo.spec.mover === 'native' && (await readOnly(ctx, repo))) {
    const location = await ctx.repositories.resolveLocation(repo.spec.location);
    const store = storeOf(await ctx.repositories.storeAccess(location, repo.spec.path ?? repo.spec.namespace));
    const opened = await openWithClusterKey({ store, clusterKey: await ctx.repositories.clusterKey(), clock: ctx.clock, what: what(ctx, repo) });
    const repositoryId = opened.id;
    await opened.close();
    return { created: false, repositoryId };
  }
  const access = await ctx.repositories.jobRepository(name, { initialize: false });
  const m = await ctx.purgeMovers({ repository: name, mover: repo.spec.mover, access });
  try {
    if (await readOnly(ctx, repo)) {
      await m.mover.snapshots({ signal });
      return { created: false };
    }
    // restic's init is not atomic: run beside the first backup's init it left two configs and
    // a repository no key opened (ciphertext verification failed). So the coordinator only
    // probes a restic repository; its first backup creates it.
    if (repo.spec.mover === 'restic') {
      await m.mover.snapshots({ signal }).catch((err: unknown) => {
        if ((err as { code?: string }).code !== 'RepositoryNotFound') throw err;
      });
      return { created: false };
    }
    const r = await m.mover.init({ signal });
    return { created: r.created, ...(r.repositoryId ? { repositoryId: r.repositoryId } : {}) };
  } finally {
    await m.dispose();
  }
}

/** The id an imported repository's config names, read without the key (one small object). */
export async function storedRepositoryId(ctx: ControllerContext, repo: RepositoryObject): Promise<string> {
  const location = await ctx.repositories.resolveLocation(repo.spec.location);
  const store = storeOf(await ctx.repositories.storeAccess(location, repo.spec.path ?? repo.spec.namespace));
  const text = await store.get('config', { signal: AbortSignal.timeout(OPEN_TIMEOUT_MS) });
  const id = (JSON.parse(text.toString('utf8')) as { id?: unknown }).id;
  if (typeof id !== 'string') throw new CoordinatorError('FailedPrecondition', `${what(ctx, repo)}: its config names no repository id; it is not a Ferry repository`);
  return id;
}

/** The refusal for an imported repository that now holds another id, or undefined when the id matches. */
export function idMismatch(ctx: ControllerContext, repo: RepositoryObject, found: string | undefined): string | undefined {
  const expected = repo.spec.repositoryId;
  if (!expected || found === undefined || found === expected) return undefined;
  return `${what(ctx, repo)} holds repository ${found}, not ${expected} recorded in spec.repositoryId: the repository at the path was replaced or the location's prefix is wrong, so nothing is read from it; fix the BackupLocation or the path, or import the backup again`;
}

async function probe(ctx: ControllerContext, repo: RepositoryObject, full: boolean): Promise<Outcome> {
  try {
    if (!full) {
      const mismatch = idMismatch(ctx, repo, await storedRepositoryId(ctx, repo));
      return mismatch ? { ok: false, reason: 'RepositoryIdMismatch', message: mismatch } : { ok: true, opened: { created: false, repositoryId: repo.spec.repositoryId ?? '' } };
    }
    const opened = await openRepository(ctx, repo, AbortSignal.timeout(OPEN_TIMEOUT_MS));
    const mismatch = idMismatch(ctx, repo, opened.repositoryId);
    return mismatch ? { ok: false, reason: 'RepositoryIdMismatch', message: mismatch } : { ok: true, opened };
  } catch (err) {
    if (isCoordinatorError(err, 'CredentialsNotFound')) return { ok: false, reason: 'CredentialsNotFound', message: `${what(ctx, repo)}: ${err.message}` };
    const code = (err as { code?: unknown }).code;
    return { ok: false, reason: 'Unavailable', message: `${what(ctx, repo)} could not be opened${typeof code === 'string' ? ` (${code})` : ''}: ${messageOf(err)}; check the BackupLocation's Ready condition and spec.keySecretRef` };
  }
}

/** How long until the repository is due to be opened again (0: now), and whether fully. */
function due(ctx: ControllerContext, repo: RepositoryObject): { waitMs: number; full: boolean } {
  const ready = findCondition(repo.status?.conditions, 'Ready');
  if (!ready || ready.observedGeneration !== repo.metadata.generation) return { waitMs: 0, full: true };
  const last = Date.parse(repo.status?.lastValidationTime ?? '');
  const left = Number.isNaN(last) ? 0 : Math.max(0, last + ctx.settings.locationValidationMs - ctx.clock.now());
  if (ready.status !== 'True') return { waitMs: left, full: true };
  return isImported(repo) ? { waitMs: left, full: false } : { waitMs: Infinity, full: false };
}

function statusAfter(ctx: ControllerContext, repo: RepositoryObject, outcome: Outcome): RepositoryStatus {
  const status = repo.status ?? {};
  const now = isoTime(ctx.clock);
  const gen = repo.metadata.generation;
  if (!outcome.ok) {
    const conditions = setCondition(status.conditions, { type: 'Ready', status: 'False', reason: outcome.reason, message: outcome.message }, now, gen);
    return { ...status, phase: 'NotReady', conditions, lastValidationTime: now };
  }
  const created = outcome.opened.created;
  const previous = findCondition(status.conditions, 'Ready');
  const reason = created ? 'Initialized' : previous?.status === 'True' ? previous.reason : 'Available';
  const message = created ? `created with a new master key (repository ${outcome.opened.repositoryId ?? ''})` : `opened with its key${outcome.opened.repositoryId ? ` (repository ${outcome.opened.repositoryId})` : ''}`;
  const conditions = setCondition(status.conditions, { type: 'Ready', status: 'True', reason, message: previous?.status === 'True' && !created ? previous.message : message }, now, gen);
  return { ...status, phase: 'Ready', conditions, lastValidationTime: now, ...(created && !status.initializedAt ? { initializedAt: now } : {}) };
}

/**
 * Opens the repository when due and records the outcome (an Event when it turns NotReady, or
 * Ready again); returns the stored object and when to look again.
 */
export async function reconcileReadiness(ctx: ControllerContext, repo: RepositoryObject): Promise<{ repo: RepositoryObject; requeueAfterMs?: number }> {
  const { waitMs, full } = due(ctx, repo);
  if (waitMs > 0) return { repo, ...(Number.isFinite(waitMs) ? { requeueAfterMs: waitMs } : {}) };
  const outcome = await probe(ctx, repo, full);
  const status = statusAfter(ctx, repo, outcome);
  const events: EventOptions[] = [];
  if (!outcome.ok && repo.status?.phase !== 'NotReady') events.push({ involved: involved('BackupRepository', repo), type: 'Warning', reason: outcome.reason, message: outcome.message });
  if (outcome.ok && repo.status?.phase === 'NotReady') events.push({ involved: involved('BackupRepository', repo), type: 'Normal', reason: 'RepositoryReady', message: `${what(ctx, repo)} opens again` });
  if (!outcome.ok) ctx.log.warn('BackupRepository not ready', { repository: repo.metadata.name, reason: outcome.reason, error: outcome.message });
  const stored = (await commit(ctx, 'BackupRepository', repo, { status, events })) as RepositoryObject;
  const again = !outcome.ok || isImported(repo) ? ctx.settings.locationValidationMs : undefined;
  return { repo: stored, ...(again !== undefined ? { requeueAfterMs: again } : {}) };
}
