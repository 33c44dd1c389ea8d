/**
 * Forgetting a deleted Backup's snapshots (spec.purgeOnDelete) from the coordinator itself:
 * it holds each repository's location, credentials and key the same way it builds agent
 * jobs (`Repositories.jobRepository`), opens the repository with a Mover and removes exactly
 * those snapshots. Their data goes at the repository's next prune.
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RepositoryMessage, V1alpha1Mover } from '@ferry/api';
import { openStore, type BlobStore } from '@ferry/blobstore';
import { NativeMover, type Mover } from '@ferry/mover';
import { openResticMover } from '@ferry/restic';
import { CoordinatorError } from './errors.js';
import type { Repositories } from './repositories.js';

export interface PurgeMover {
  readonly mover: Mover;
  /** Removes what the mover needed (temporary files); called after every use. */
  dispose(): Promise<void>;
}

export interface PurgeTarget {
  /** The BackupRepository's name, for messages. */
  readonly repository: string;
  readonly mover: V1alpha1Mover;
  /** Location, S3 credentials and key: secret, never logged. */
  readonly access: RepositoryMessage;
}

/** Builds the Mover for one repository; the coordinator's default is `defaultPurgeMovers`. */
export type PurgeMoverFactory = (target: PurgeTarget) => Promise<PurgeMover>;

/** The blob store a job's repository access points at (location URL, S3 credentials, CA). */
export function storeOf(access: Pick<RepositoryMessage, 'location' | 's3'>): BlobStore {
  const s3 = access.s3;
  return openStore(access.location ?? '', {
    s3: {
      ...(s3?.accessKeyId ? { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey ?? '', ...(s3.sessionToken ? { sessionToken: s3.sessionToken } : {}) } } : {}),
      ...(s3?.region ? { region: s3.region } : {}),
      ...(s3?.caBundlePem ? { caBundle: s3.caBundlePem } : {}),
    },
  });
}

/** Ferry's native engine, opened with the cluster key, on the repository's store. */
export function nativePurgeMover(target: PurgeTarget): PurgeMover {
  const { access } = target;
  const key = access.key?.clusterKey;
  if (!key) throw new CoordinatorError('InvalidArgument', `BackupRepository ${target.repository} is native but has no cluster key; check its spec.keySecretRef`);
  const store = storeOf(access);
  const clusterKey = typeof key === 'string' ? Buffer.from(key, 'base64') : new Uint8Array(key);
  // One worker: forgetting rewrites small metadata only, and the coordinator's CPU is shared.
  return { mover: new NativeMover({ store, credential: { kind: 'cluster', key: clusterKey }, workers: 1 }), dispose: async () => undefined };
}

/**
 * restic repositories through the restic binary (the coordinator image carries it): the
 * coordinator only lists and forgets snapshots there, which restic does with metadata
 * alone. Its cache lives under the temp dir, an emptyDir in the manifests.
 */
export async function resticPurgeMover(target: PurgeTarget): Promise<PurgeMover> {
  const password = target.access.key?.password;
  if (!password) throw new CoordinatorError('InvalidArgument', `BackupRepository ${target.repository} is restic but its key Secret holds no password; check its spec.keySecretRef`);
  return openResticMover({ location: target.access.location ?? '', password, s3: target.access.s3 ?? undefined, cacheDir: join(tmpdir(), 'ferry-coordinator'), useId: randomUUID() });
}

/** The coordinator's movers: the native engine, or restic for restic repositories. */
export const defaultPurgeMovers: PurgeMoverFactory = async (target) => (target.mover === 'native' ? nativePurgeMover(target) : resticPurgeMover(target));

export interface ForgetSnapshotsOptions {
  readonly repositories: Repositories;
  readonly movers: PurgeMoverFactory;
  readonly repository: string;
  readonly snapshotIds: readonly string[];
  readonly signal?: AbortSignal;
}

export interface ForgetSnapshotsResult {
  readonly removed: readonly string[];
  /** Ids no longer in the repository (an earlier attempt, or someone else, removed them). */
  readonly alreadyGone: readonly string[];
}

/** Removes these snapshots from one repository; ids already gone are skipped, so retries are safe. */
export async function forgetSnapshots(o: ForgetSnapshotsOptions): Promise<ForgetSnapshotsResult> {
  await o.repositories.assertWritable(o.repository, `forgetting ${o.snapshotIds.length} snapshot(s)`);
  const repo = await o.repositories.get(o.repository);
  const access = await o.repositories.jobRepository(o.repository, { initialize: false });
  const m = await o.movers({ repository: o.repository, mover: repo.spec.mover, access });
  try {
    const listed = (await m.mover.snapshots({ ...(o.signal ? { signal: o.signal } : {}) })).map((s) => s.id);
    const present = o.snapshotIds.filter((id) => listed.some((l) => l === id || l.startsWith(id)));
    const alreadyGone = o.snapshotIds.filter((id) => !present.includes(id));
    if (present.length === 0) return { removed: [], alreadyGone };
    const { removed } = await m.mover.removeSnapshots({ snapshotIds: present, ...(o.signal ? { signal: o.signal } : {}) });
    return { removed, alreadyGone };
  } finally {
    await m.dispose();
  }
}
