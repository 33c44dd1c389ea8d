/**
 * Prune: reclaims space beside running backups without blocking them, by the two-phase
 * protocol of docs/repository-format.md §10 (sweep old marks whose writers are gone,
 * then mark what is garbage now).
 */
import { createHash } from 'node:crypto';
import type { BlobStore } from '@ferry/blobstore';
import type { BlobType } from './blob-codec.js';
import type { RepositoryCore } from './core.js';
import { AAD, seal } from './crypto.js';
import { RepositoryError, throwIfAborted } from './errors.js';
import { INDEX_PREFIX } from './index-loader.js';
import { encodeIndexSegment } from './index-segment.js';
import { packIdFromKey, packKey, readPackHeader, type PackEntry } from './pack.js';
import { listMarks, writeMark, type PruneMark } from './prune-marks.js';
import { referencedBlobs, type BlobSet } from './reachability.js';
import { DEFAULT_STALE_AFTER_MS, isStale, listSessions, Marker, type ListedSession } from './sessions.js';

export interface PruneOptions {
  readonly dryRun?: boolean;
  /** Repack a pack when more than this share of its bytes is unreferenced (0..1, default 0.1). */
  readonly maxUnused?: number;
  /** A mark is swept only when at least this old (default 1 h). */
  readonly graceMs?: number;
  /** A session without a heartbeat for this long is dead (default 15 min). */
  readonly staleAfterMs?: number;
  /** Clock difference tolerated between writers (default 10 min). */
  readonly skewMs?: number;
  readonly signal?: AbortSignal;
}

export interface PruneReport {
  readonly dryRun: boolean;
  readonly marksSwept: number;
  readonly marksPostponed: readonly { readonly mark: string; readonly reason: string }[];
  readonly packsDeleted: number;
  readonly bytesFreed: number;
  readonly packsRescued: number;
  readonly packsMarked: number;
  readonly bytesMarked: number;
  readonly packsRepacked: number;
  readonly blobsRepacked: number;
  readonly indexSegmentsReplaced: number;
}

interface PackUsage {
  usedBytes: number;
  unusedBytes: number;
}

interface Plan {
  readonly swept: PruneMark[];
  readonly postponed: { mark: string; reason: string }[];
  readonly deletePacks: Set<string>;
  readonly rescueOrphans: Map<string, readonly PackEntry[]>;
  readonly markPacks: Set<string>;
  readonly repackPacks: Set<string>;
}

const DEFAULTS = { maxUnused: 0.1, graceMs: 3_600_000, skewMs: 600_000 };

export async function pruneRepository(repo: RepositoryCore, options: PruneOptions = {}): Promise<PruneReport> {
  const o = { store: repo.store, objectKey: repo.keys.object, clock: repo.clock };
  const staleAfter = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const lock = options.dryRun ? undefined : await Marker.lockPrune(o, staleAfter);
  if (lock && !(lock instanceof Marker)) {
    const h = lock.heldBy;
    throw new RepositoryError('Busy', `another prune is running (host ${h.host}, pid ${h.pid}, since ${new Date(h.started).toISOString()}); try again later`);
  }
  try {
    return await prune(repo, options, staleAfter);
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

async function prune(repo: RepositoryCore, options: PruneOptions, staleAfter: number): Promise<PruneReport> {
  const { signal } = options;
  // Snapshots first, then the index: every listed snapshot's blobs are then indexed.
  const snapshots = await repo.listSnapshots({ signal });
  const loaded = await repo.refreshIndex(signal);
  const used = await referencedBlobs(repo, snapshots, signal);
  const stored = await listPacks(repo.store, signal);
  const sessions = await listSessions({ store: repo.store, objectKey: repo.keys.object, clock: repo.clock }, signal);
  const marks = await listMarks(repo.store, repo.keys.object, signal);
  const plan = await makePlan(repo, { used, stored, sessions, marks, options, staleAfter });
  throwIfAborted(signal, 'prune');
  const bytes = (set: Iterable<string>): number => [...set].reduce((n, p) => n + (stored.get(p) ?? 0), 0);
  const report = {
    dryRun: options.dryRun ?? false,
    marksSwept: plan.swept.length,
    marksPostponed: plan.postponed,
    packsDeleted: plan.deletePacks.size,
    bytesFreed: bytes(plan.deletePacks),
    packsRescued: plan.rescueOrphans.size,
    packsMarked: plan.markPacks.size + plan.repackPacks.size,
    bytesMarked: bytes(plan.markPacks) + bytes(plan.repackPacks),
    packsRepacked: plan.repackPacks.size,
    blobsRepacked: 0,
    indexSegmentsReplaced: 0,
  };
  if (options.dryRun) return report;
  const knownPacks = repo.index.packCount;
  const blobsRepacked = await writeNewPacks(repo, plan, used, signal);
  const replaced = await replaceIndex(repo, loaded, knownPacks, plan.deletePacks, signal);
  if (plan.markPacks.size + plan.repackPacks.size > 0) {
    await writeMark(repo.store, repo.keys.object, repo.clock.now(), [...plan.markPacks, ...plan.repackPacks].sort());
  }
  for (const p of plan.deletePacks) await repo.store.delete(packKey(p), { signal });
  for (const key of replaced) await repo.store.delete(key, { signal });
  for (const m of plan.swept) await repo.store.delete(m.key, { signal });
  return { ...report, blobsRepacked, indexSegmentsReplaced: replaced.length };
}

async function listPacks(store: BlobStore, signal?: AbortSignal): Promise<Map<string, number>> {
  const packs = new Map<string, number>();
  for await (const e of store.list('data/', { signal })) packs.set(packIdFromKey(e.key), e.size);
  return packs;
}

interface PlanInput {
  readonly used: BlobSet;
  readonly stored: Map<string, number>;
  readonly sessions: readonly ListedSession[];
  readonly marks: readonly PruneMark[];
  readonly options: PruneOptions;
  readonly staleAfter: number;
}

async function makePlan(repo: RepositoryCore, input: PlanInput): Promise<Plan> {
  const plan: Plan = { swept: [], postponed: [], deletePacks: new Set(), rescueOrphans: new Map(), markPacks: new Set(), repackPacks: new Set() };
  const usage = packUsage(repo, input.used);
  const pending = new Set<string>();
  for (const mark of input.marks) {
    const reason = sweepBlocker(mark, input, repo.clock.now());
    if (reason) {
      plan.postponed.push({ mark: mark.key, reason });
      for (const p of mark.packs) pending.add(p);
      continue;
    }
    plan.swept.push(mark);
    for (const p of mark.packs) await judgeMarkedPack(repo, p, input, usage, plan);
  }
  markGarbage(repo, input, usage, pending, plan);
  return plan;
}

/** Why a mark may not be swept yet, or undefined if it may. */
function sweepBlocker(mark: PruneMark, input: PlanInput, now: number): string | undefined {
  const grace = input.options.graceMs ?? DEFAULTS.graceMs;
  if (now - mark.created < grace) return `younger than the grace period (${Math.round(grace / 1000)} s)`;
  const skew = input.options.skewMs ?? DEFAULTS.skewMs;
  const blocking = input.sessions.find((s) => s.record === undefined || (!isStale(s.record, now, input.staleAfter) && s.record.started < mark.created + skew));
  if (!blocking) return undefined;
  const who = blocking.record ? `${blocking.record.host} pid ${blocking.record.pid}` : 'an unreadable marker';
  return `a backup that may have read the index before the mark is still running (${blocking.key}, ${who})`;
}

/** A swept pack is deleted unless a snapshot still needs a blob that only it holds. */
async function judgeMarkedPack(repo: RepositoryCore, pack: string, input: PlanInput, usage: Map<number, PackUsage>, plan: Plan): Promise<void> {
  const size = input.stored.get(pack);
  if (size === undefined) return;
  const packNo = repo.index.findPack(Buffer.from(pack, 'hex'));
  if (packNo >= 0) {
    if ((usage.get(packNo)?.usedBytes ?? 0) === 0) plan.deletePacks.add(pack);
    return;
  }
  const header = await readPackHeader(repo.store, repo.keys.object, packKey(pack), size, input.options.signal);
  const needed = header.ok && header.entries.some((e) => input.used.has(e.id) && !repo.index.has(e.id));
  if (needed && header.ok) plan.rescueOrphans.set(pack, header.entries);
  else plan.deletePacks.add(pack);
}

/** Marks packs that are garbage now: wholly unused, orphans, and mostly unused (repacked). */
function markGarbage(repo: RepositoryCore, input: PlanInput, usage: Map<number, PackUsage>, pending: Set<string>, plan: Plan): void {
  const maxUnused = input.options.maxUnused ?? DEFAULTS.maxUnused;
  const settled = (hex: string): boolean => pending.has(hex) || plan.deletePacks.has(hex) || plan.rescueOrphans.has(hex);
  for (const { packNo, id } of repo.index.packs()) {
    if (!id) continue;
    const hex = id.toString('hex');
    const u = usage.get(packNo);
    if (!u || settled(hex) || !input.stored.has(hex)) continue;
    if (u.usedBytes === 0) plan.markPacks.add(hex);
    else if (u.unusedBytes / (u.usedBytes + u.unusedBytes) > maxUnused) plan.repackPacks.add(hex);
  }
  for (const hex of input.stored.keys()) {
    if (repo.index.findPack(Buffer.from(hex, 'hex')) < 0 && !settled(hex)) plan.markPacks.add(hex);
  }
}

function packUsage(repo: RepositoryCore, used: BlobSet): Map<number, PackUsage> {
  const usage = new Map<number, PackUsage>();
  for (const b of repo.index.blobs()) {
    let u = usage.get(b.packNo);
    if (!u) usage.set(b.packNo, (u = { usedBytes: 0, unusedBytes: 0 }));
    if (used.has(b.id)) u.usedBytes += b.length;
    else u.unusedBytes += b.length;
  }
  return usage;
}

/** Indexes rescued orphans and copies the used blobs of packs to repack into new packs. */
async function writeNewPacks(repo: RepositoryCore, plan: Plan, used: BlobSet, signal?: AbortSignal): Promise<number> {
  if (plan.rescueOrphans.size === 0 && plan.repackPacks.size === 0) return 0;
  const session = repo.newWriteSession(signal);
  for (const [hex, entries] of plan.rescueOrphans) session.adoptPack(Buffer.from(hex, 'hex'), entries[0]!.type as BlobType, entries);
  let copied = 0;
  for (const hex of plan.repackPacks) {
    const packNo = repo.index.findPack(Buffer.from(hex, 'hex'));
    const blobs = [...repo.index.blobs(new Set([packNo]))].filter((b) => used.has(b.id));
    const bytes = await repo.store.get(packKey(hex), { signal });
    for (const b of blobs) {
      session.addCopy(b.type, b.id, Buffer.from(bytes.subarray(b.offset, b.offset + b.length)), b.rawLength);
      copied++;
    }
    await session.ready();
  }
  await session.finish();
  return copied;
}

/**
 * Writes one segment with every entry of the loaded index except those of deleted
 * packs, superseding the segments it was built from. Returns the keys now superseded.
 */
async function replaceIndex(
  repo: RepositoryCore,
  loaded: { live: readonly string[]; superseded: readonly string[] },
  knownPacks: number,
  deletePacks: Set<string>,
  signal?: AbortSignal,
): Promise<string[]> {
  if (deletePacks.size === 0 && loaded.live.length <= 1) return [...loaded.superseded];
  // Only packs the loaded segments listed: packs written by this prune have their own segment.
  const keep = [...repo.index.packs()].filter((p) => p.packNo < knownPacks && p.id && !deletePacks.has(p.id.toString('hex')));
  const local = new Map(keep.map((p, i) => [p.packNo, i]));
  const blobs = [];
  for (const b of repo.index.blobs(new Set(local.keys()))) {
    blobs.push({ id: b.id, packNo: local.get(b.packNo)!, offset: b.offset, length: b.length, rawLength: b.rawLength });
  }
  const plain = encodeIndexSegment({
    supersedes: loaded.live.map((k) => Buffer.from(k.slice(INDEX_PREFIX.length), 'hex')),
    packs: keep.map((p) => ({ id: p.id!, type: p.type })),
    blobs,
  });
  const sealed = seal(repo.keys.object, AAD.index, [plain]);
  await repo.store.put(`${INDEX_PREFIX}${createHash('sha256').update(sealed).digest('hex')}`, sealed, { signal });
  return [...loaded.live, ...loaded.superseded];
}
