/**
 * The bookkeeping around a backup that makes prune safe beside it
 * (docs/repository-format.md §10): a heartbeating session marker written before
 * anything is read, dedup that ignores packs condemned by prune marks, and adoption of
 * the orphan packs a dead writer left behind so their data is reused, not re-uploaded.
 */
import { isBlobStoreError } from '@ferry/blobstore';
import type { RepositoryCore } from './core.js';
import type { BlobType } from './blob-codec.js';
import { packIdFromKey, readPackHeader } from './pack.js';
import { listMarks } from './prune-marks.js';
import { isStale, listSessions, Marker } from './sessions.js';
import type { WriteSession } from './write-session.js';

export async function beginBackupSession(repo: RepositoryCore, session: WriteSession, options: { signal?: AbortSignal; staleAfterMs?: number }): Promise<Marker> {
  const { signal } = options;
  const o = { store: repo.store, objectKey: repo.keys.object, clock: repo.clock };
  const marker = await Marker.startSession(o);
  try {
    for (const mark of await listMarks(repo.store, repo.keys.object, signal)) {
      const packNos = mark.packs.map((hex) => repo.index.findPack(Buffer.from(hex, 'hex'))).filter((n) => n >= 0);
      session.excludePacks(packNos);
    }
    await adoptOrphans(repo, session, marker.key, options.staleAfterMs, signal);
  } catch (err) {
    await marker.release().catch(() => undefined);
    throw err;
  }
  return marker;
}

/** If a writer died (its marker went stale), index the packs it uploaded and drop its marker. */
async function adoptOrphans(repo: RepositoryCore, session: WriteSession, ownKey: string, staleAfterMs: number | undefined, signal?: AbortSignal): Promise<void> {
  const now = repo.clock.now();
  const sessions = await listSessions({ store: repo.store, objectKey: repo.keys.object, clock: repo.clock }, signal);
  const dead = sessions.filter((s) => s.key !== ownKey && (s.record === undefined || isStale(s.record, now, staleAfterMs)));
  if (dead.length === 0) return;
  for await (const entry of repo.store.list('data/', { signal })) {
    const id = Buffer.from(packIdFromKey(entry.key), 'hex');
    if (id.length !== 32 || repo.index.findPack(id) >= 0) continue;
    // A prune may delete an orphan between the listing and the read: then it is not ours to adopt.
    const header = await readPackHeader(repo.store, repo.keys.object, entry.key, entry.size, signal).catch((err: unknown) => {
      if (isBlobStoreError(err, 'NotFound')) return undefined;
      throw err;
    });
    if (!header?.ok || header.entries.length === 0) continue;
    session.adoptPack(id, header.entries[0]!.type as BlobType, header.entries);
  }
  for (const s of dead) await repo.store.delete(s.key, { signal });
}
