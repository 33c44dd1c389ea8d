/**
 * Forget: applies a retention policy per snapshot lineage and deletes the snapshot
 * objects it does not keep. Data is reclaimed later by prune; deleting a snapshot never
 * endangers another snapshot's data.
 */
import type { SnapshotIdentity } from './api.js';
import type { RepositoryCore } from './core.js';
import { retentionGroupKey, applyRetention, type RetentionGroup, type RetentionPolicy } from './retention.js';
import { snapshotKey } from './snapshot-store.js';

export interface ForgetOptions {
  readonly policy: RetentionPolicy;
  /** IANA zone for the calendar buckets (hourly/daily/...); default UTC. */
  readonly timeZone?: string;
  /** Only snapshots of this lineage. */
  readonly identity?: SnapshotIdentity;
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
}

export interface ForgetReport {
  readonly groups: readonly RetentionGroup[];
  /** Ids removed (or that would be, in a dry run). */
  readonly removed: readonly string[];
  readonly dryRun: boolean;
}

export async function forgetSnapshots(repo: RepositoryCore, options: ForgetOptions): Promise<ForgetReport> {
  const all = await repo.listSnapshots({ signal: options.signal });
  const wanted = options.identity ? retentionGroupKey(options.identity) : undefined;
  // Checkpoints are not kept or dropped by policy: the next complete backup of their
  // lineage deletes them.
  const inputs = all.filter((s) => !s.partial && (wanted === undefined || retentionGroupKey(s.identity) === wanted));
  const groups = applyRetention(inputs, options.policy, { now: new Date(repo.clock.now()), timeZone: options.timeZone ?? 'UTC' });
  const removed = groups.flatMap((g) => g.decisions.filter((d) => !d.keep).map((d) => d.snapshot.id));
  if (!options.dryRun) await removeSnapshots(repo, removed, options.signal);
  return { groups, removed, dryRun: options.dryRun ?? false };
}

/** Deletes snapshot objects by full id; their data goes at the next prunes. */
export async function removeSnapshots(repo: Pick<RepositoryCore, 'store'>, ids: readonly string[], signal?: AbortSignal): Promise<void> {
  for (const id of ids) await repo.store.delete(snapshotKey(id), { signal });
}
