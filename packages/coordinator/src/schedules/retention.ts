/**
 * A schedule's retention: after a successful run, forget the schedule's snapshots that
 * spec.retention does not keep. Only snapshots carrying the schedule's tag are looked at
 * (manual Backups and other schedules are never touched), and the engine's
 * `applyRetention` decides per lineage (volume identity), with calendar buckets in the
 * schedule's time zone. Metadata only: snapshots are forgotten, the data goes at the
 * repository's next prune. The repository is opened like a purge (`purge.ts`): location,
 * credentials and key from `Repositories.jobRepository`, the Mover from the factory.
 */
import type { V1alpha1RetentionPolicy } from '@ferry/api';
import { parseDuration } from '@ferry/api';
import { applyRetention, type RetentionPolicy } from '@ferry/repository';
import { CoordinatorError } from '../errors.js';
import type { PurgeMoverFactory } from '../purge.js';
import type { Repositories } from '../repositories.js';

const HOUR_MS = 3_600_000;

/** The tag every snapshot of a schedule's Backups carries; namespace and name make it unique per repository. */
export function scheduleTag(namespace: string, name: string): string {
  return `ferry-schedule=${namespace}/${name}`;
}

/**
 * The CRD's policy in the engine's terms. keepWithin is a Go duration in the CRD (`720h`)
 * and whole hours in the engine, so it is rounded up to the next hour (keeping more, never less).
 */
export function enginePolicy(policy: V1alpha1RetentionPolicy): RetentionPolicy {
  const { keepWithin, keepTags, ...counts } = policy;
  let within: string | undefined;
  if (keepWithin !== undefined) {
    const parsed = parseDuration(keepWithin);
    if (!parsed.ok) throw new CoordinatorError('InvalidArgument', `spec.retention.keepWithin ${JSON.stringify(keepWithin)} is not ${parsed.expected}`);
    within = `${Math.ceil(parsed.milliseconds / HOUR_MS)}h`;
  }
  return { ...counts, ...(within !== undefined ? { keepWithin: within } : {}), ...(keepTags ? { keepTags: [...keepTags] } : {}) };
}

export interface ScheduleRetentionOptions {
  readonly repositories: Repositories;
  readonly movers: PurgeMoverFactory;
  /** BackupRepository names the run wrote to. */
  readonly repository: string;
  readonly tag: string;
  readonly policy: V1alpha1RetentionPolicy;
  readonly timeZone: string;
  readonly now: number;
  readonly signal?: AbortSignal;
}

export interface ScheduleRetentionResult {
  /** Snapshots of the schedule in this repository before forgetting. */
  readonly considered: number;
  readonly forgotten: readonly string[];
}

/** Applies the policy to one repository's snapshots of the schedule. */
export async function applyScheduleRetention(o: ScheduleRetentionOptions): Promise<ScheduleRetentionResult> {
  const policy = enginePolicy(o.policy);
  await o.repositories.assertWritable(o.repository, `retention of ${o.tag}`);
  const repo = await o.repositories.get(o.repository);
  const access = await o.repositories.jobRepository(o.repository, { initialize: false });
  const m = await o.movers({ repository: o.repository, mover: repo.spec.mover, access });
  const call = o.signal ? { signal: o.signal } : {};
  try {
    const snapshots = await m.mover.snapshots({ ...call, tags: [o.tag] });
    const groups = applyRetention(snapshots.map((s) => ({ id: s.id, time: s.time, tags: s.tags, identity: s.identity })), policy, { now: new Date(o.now), timeZone: o.timeZone });
    const forget = groups.flatMap((g) => g.decisions.filter((d) => !d.keep).map((d) => d.snapshot.id));
    if (forget.length === 0) return { considered: snapshots.length, forgotten: [] };
    const { removed } = await m.mover.removeSnapshots({ ...call, snapshotIds: forget });
    return { considered: snapshots.length, forgotten: removed };
  } finally {
    await m.dispose();
  }
}
