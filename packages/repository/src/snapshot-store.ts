/** Snapshot objects (docs/repository-format.md §8): sealed JSON under snapshots/<sha256>. */
import { createHash } from 'node:crypto';
import type { BlobStore } from '@ferry/blobstore';
import { AAD, open, seal } from './crypto.js';
import type { Snapshot, SnapshotIdentity } from './api.js';
import { RepositoryError } from './errors.js';

const PREFIX = 'snapshots/';

export type NewSnapshot = Omit<Snapshot, 'id'>;

export async function saveSnapshot(store: BlobStore, objectKey: Buffer, snap: NewSnapshot, signal?: AbortSignal): Promise<Snapshot> {
  const body = { v: 1, ...snap, time: snap.time.toISOString() };
  const sealed = seal(objectKey, AAD.snapshot, [Buffer.from(JSON.stringify(body), 'utf8')]);
  const id = createHash('sha256').update(sealed).digest('hex');
  await store.put(PREFIX + id, sealed, { signal });
  return { ...snap, id };
}

export function decodeSnapshot(objectKey: Buffer, id: string, sealed: Buffer): Snapshot {
  const plain = open(objectKey, AAD.snapshot, sealed);
  if (!plain) throw new RepositoryError('Corrupt', `snapshot ${id} fails authentication (damaged or truncated)`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new RepositoryError('Corrupt', `snapshot ${id} is not valid JSON`);
  }
  if (raw['v'] !== 1 || !Array.isArray(raw['tree'])) throw new RepositoryError('Corrupt', `snapshot ${id} is not a version 1 snapshot`);
  const { v: _v, time, ...rest } = raw;
  return { ...(rest as Omit<Snapshot, 'id' | 'time'>), id, time: new Date(String(time)) };
}

export async function listSnapshotIds(store: BlobStore, signal?: AbortSignal): Promise<string[]> {
  const ids: string[] = [];
  for await (const entry of store.list(PREFIX, { signal })) ids.push(entry.key.slice(PREFIX.length));
  return ids;
}

export function snapshotKey(id: string): string {
  return PREFIX + id;
}

export function sameIdentity(a: SnapshotIdentity, b: SnapshotIdentity): boolean {
  if (a.kind === 'host' && b.kind === 'host') return a.host === b.host && a.path === b.path;
  if (a.kind === 'pod' && b.kind === 'pod') {
    if (a.pvcUid && b.pvcUid) return a.pvcUid === b.pvcUid;
    return a.namespace === b.namespace && a.pod === b.pod && a.volume === b.volume;
  }
  return false;
}
