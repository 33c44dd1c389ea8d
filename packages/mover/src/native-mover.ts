/**
 * The Mover for Ferry's own engine: opens the repository for each call (so a key
 * rotation or another writer's new index is always seen) and maps engine errors to
 * MoverError codes in one place.
 */
import { isBlobStoreError, type BlobStore, type Clock } from '@ferry/blobstore';
import { checkRepository, forgetSnapshots, pruneRepository, removeSnapshots, Repository, RepositoryError, sameIdentity, type BackupSource as EngineBackupSource, type Credential, type Progress, type RepositoryErrorCode, type Snapshot } from '@ferry/repository';
import { MoverError, type MoverErrorCode } from './errors.js';
import type {
  BackupRequest,
  BackupSource,
  BackupResult,
  CheckRequest,
  CheckResult,
  ForgetRequest,
  ForgetResult,
  RemoveSnapshotsRequest,
  RemoveSnapshotsResult,
  InitResult,
  Mover,
  MoverProgress,
  PruneRequest,
  PruneResult,
  RepositoryStats,
  RestoreRequest,
  RestoreResult,
  SnapshotsRequest,
  SnapshotSummary,
  CallOptions,
} from './mover.js';

export interface NativeMoverOptions {
  readonly store: BlobStore;
  readonly credential: Credential;
  /** Worker threads per open repository; default: available cores. */
  readonly workers?: number;
  /** Time for session heartbeats and prune marks (a mark is swept once old enough); default: the system clock. */
  readonly clock?: Clock;
  /** Local folder for the repository's tree packs (see the engine's OpenOptions.cacheDir); absent: none. */
  readonly cacheDir?: string;
}

const CODE_MAP: Record<RepositoryErrorCode, MoverErrorCode> = {
  RepositoryNotFound: 'RepositoryNotFound',
  RepositoryExists: 'InvalidArgument',
  WrongPassword: 'WrongPassword',
  SnapshotNotFound: 'SnapshotNotFound',
  AmbiguousSnapshot: 'InvalidArgument',
  PathNotFound: 'SourceNotFound',
  Corrupt: 'RepositoryCorrupt',
  UnsupportedVersion: 'Unsupported',
  Canceled: 'Canceled',
  Busy: 'RepositoryLocked',
  InvalidArgument: 'InvalidArgument',
  // The message names the target and both sizes; the job is invalid as given.
  TargetTooSmall: 'TargetTooSmall',
  Store: 'Network',
};

/** The file name a device image gets at its snapshot's root (what `ferry dump` shows). */
export const DEVICE_FILE_NAME = 'device';

function engineSource(source: BackupSource): EngineBackupSource {
  if (source.kind === 'directory') return { kind: 'paths', paths: [source.path] };
  if (source.kind === 'device') return { kind: 'device', path: source.path, fileName: DEVICE_FILE_NAME };
  return { kind: 'stream', stream: source.stream, fileName: source.fileName };
}

/** Maps any failure of the engine or its store to a MoverError. */
export function toMoverError(err: unknown): MoverError {
  if (err instanceof MoverError) return err;
  if (err instanceof RepositoryError) {
    const cause = err.cause;
    if (isBlobStoreError(cause, 'NoSpace')) return new MoverError('NoSpace', err.message, { cause: err });
    if (isBlobStoreError(cause, 'PermissionDenied')) return new MoverError('PermissionDenied', err.message, { cause: err });
    if (isBlobStoreError(cause, 'Aborted')) return new MoverError('Canceled', err.message, { cause: err });
    return new MoverError(CODE_MAP[err.code], err.message, { cause: err });
  }
  if (isBlobStoreError(err)) {
    const code: MoverErrorCode = err.code === 'Aborted' ? 'Canceled' : err.code === 'NoSpace' ? 'NoSpace' : err.code === 'PermissionDenied' ? 'PermissionDenied' : 'Network';
    return new MoverError(code, err.message, { cause: err });
  }
  return new MoverError('Internal', err instanceof Error ? err.message : String(err), { cause: err });
}

function toProgress(p: Progress): MoverProgress {
  return { ...p };
}

function toSummary(s: Snapshot): SnapshotSummary {
  return {
    id: s.id,
    time: s.time,
    identity: s.identity,
    tags: s.tags,
    ...(s.parent ? { parentId: s.parent } : {}),
    hostname: s.hostname,
    paths: s.paths,
    sizeBytes: s.stats.bytes,
  };
}

export class NativeMover implements Mover {
  readonly kind = 'native' as const;

  constructor(private readonly options: NativeMoverOptions) {}

  async init(options: CallOptions = {}): Promise<InitResult> {
    return guard(async () => {
      try {
        const { id } = await Repository.init({ store: this.options.store, credential: this.options.credential });
        return { created: true, repositoryId: id };
      } catch (err) {
        if (!(err instanceof RepositoryError && err.code === 'RepositoryExists')) throw err;
        const repo = await this.open(options.signal);
        await repo.close();
        return { created: false, repositoryId: repo.id };
      }
    });
  }

  backup(request: BackupRequest): Promise<BackupResult> {
    return this.withRepository(request.signal, async (repo) => {
      const s = await repo.backup({
        source: engineSource(request.source),
        identity: request.identity,
        tags: request.tags,
        parent: request.parent,
        excludes: request.excludes,
        signal: request.signal,
        onProgress: request.onProgress ? (p) => request.onProgress?.(toProgress(p)) : undefined,
      });
      return {
        snapshotId: s.snapshot.id,
        ...(s.snapshot.parent ? { parentId: s.snapshot.parent } : {}),
        stats: {
          filesNew: s.filesNew,
          filesChanged: s.filesChanged,
          filesUnmodified: s.filesUnmodified,
          dirs: s.dirs,
          bytesRead: s.bytesRead,
          bytesProcessed: s.bytesProcessed,
          bytesAdded: s.bytesAdded,
          bytesDeduplicated: s.bytesDeduplicated,
          durationSeconds: s.durationSeconds,
        },
        fileErrors: s.problems,
      };
    });
  }

  restore(request: RestoreRequest): Promise<RestoreResult> {
    if (request.volumeMode === 'Block') return this.restoreDevice(request);
    return this.withRepository(request.signal, async (repo) => {
      const s = await repo.restore({
        snapshot: request.snapshotId,
        target: request.target,
        include: request.include,
        signal: request.signal,
        onProgress: request.onProgress ? (p) => request.onProgress?.(toProgress(p)) : undefined,
      });
      return {
        stats: { filesRestored: s.files, dirsRestored: s.dirs, bytesRestored: s.bytes, durationSeconds: s.durationSeconds },
        fileErrors: s.problems,
      };
    });
  }

  private restoreDevice(request: RestoreRequest): Promise<RestoreResult> {
    return this.withRepository(request.signal, async (repo) => {
      const s = await repo.restoreDevice({
        snapshot: request.snapshotId,
        target: request.target,
        signal: request.signal,
        onProgress: request.onProgress ? (p) => request.onProgress?.(toProgress(p)) : undefined,
      });
      return { stats: { filesRestored: 1, dirsRestored: 0, bytesRestored: s.bytesWritten, durationSeconds: s.durationSeconds }, fileErrors: [] };
    });
  }

  snapshots(request: SnapshotsRequest = {}): Promise<SnapshotSummary[]> {
    return this.withRepository(request.signal, async (repo) => {
      const all = (await repo.listSnapshots({ signal: request.signal })).map(toSummary);
      return all.filter((s) => (!request.identity || sameIdentity(s.identity, request.identity)) && (request.tags ?? []).every((t) => s.tags.includes(t)));
    });
  }

  forget(request: ForgetRequest): Promise<ForgetResult> {
    return this.withRepository(request.signal, async (repo) => {
      const byId = new Map((await repo.listSnapshots({ signal: request.signal })).map((s) => [s.id, toSummary(s)]));
      const report = await forgetSnapshots(repo, { policy: request.policy, identity: request.identity, dryRun: request.dryRun, signal: request.signal });
      const decisions = report.groups.flatMap((g) =>
        g.decisions.map((d) => ({ snapshot: byId.get(d.snapshot.id)!, keep: d.keep, reasons: d.reasons })),
      );
      return { decisions, removed: report.removed };
    });
  }

  removeSnapshots(request: RemoveSnapshotsRequest): Promise<RemoveSnapshotsResult> {
    return this.withRepository(request.signal, async (repo) => {
      // Resolve every id first: a typo must not remove half of the list.
      const snaps = await Promise.all(request.snapshotIds.map((id) => repo.resolveSnapshot(id)));
      await removeSnapshots(repo, snaps.map((s) => s.id), request.signal);
      return { removed: snaps.map((s) => s.id) };
    });
  }

  prune(request: PruneRequest): Promise<PruneResult> {
    return this.withRepository(request.signal, async (repo) => {
      const r = await pruneRepository(repo, { dryRun: request.dryRun, signal: request.signal });
      return { bytesFreed: r.bytesFreed, packsDeleted: r.packsDeleted, dryRun: r.dryRun };
    });
  }

  check(request: CheckRequest): Promise<CheckResult> {
    return this.withRepository(request.signal, async (repo) => {
      const readData = request.readData === 'all' ? 'all' : request.readData ? { fraction: request.readData.fraction } : undefined;
      const r = await checkRepository(repo, {
        readData,
        signal: request.signal,
        onProgress: request.onProgress ? (p) => request.onProgress?.(toProgress(p)) : undefined,
      });
      return { ok: r.ok, problems: r.errors.map((e) => ({ message: e.message, object: e.object })) };
    });
  }

  stats(options: CallOptions = {}): Promise<RepositoryStats> {
    return this.withRepository(options.signal, async (repo) => {
      let sizeBytes = 0;
      for await (const entry of this.options.store.list('', { signal: options.signal })) sizeBytes += entry.size;
      const snapshotCount = (await repo.listSnapshots({ signal: options.signal })).length;
      return { sizeBytes, snapshotCount };
    });
  }

  private async open(signal?: AbortSignal): Promise<Repository> {
    const { store, credential, workers, clock, cacheDir } = this.options;
    return Repository.open({ store, credential, workers, signal, ...(clock ? { clock } : {}), ...(cacheDir !== undefined ? { cacheDir } : {}) });
  }

  private withRepository<T>(signal: AbortSignal | undefined, fn: (repo: Repository) => Promise<T>): Promise<T> {
    return guard(async () => {
      const repo = await this.open(signal);
      try {
        return await fn(repo);
      } finally {
        await repo.close();
      }
    });
  }
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toMoverError(err);
  }
}

