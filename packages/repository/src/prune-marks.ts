/** Prune marks (docs/repository-format.md §10): packs condemned by one prune run, deleted by a later one. */
import { randomBytes } from 'node:crypto';
import { getIfExists, type BlobStore } from '@ferry/blobstore';
import { open, seal } from './crypto.js';
import { RepositoryError } from './errors.js';

const PREFIX = 'prune/mark-';
const AAD = Buffer.from('ferry-prune-mark-v1');

export interface PruneMark {
  readonly key: string;
  readonly created: number;
  /** Hex pack ids. */
  readonly packs: readonly string[];
}

export async function writeMark(store: BlobStore, objectKey: Buffer, created: number, packs: readonly string[]): Promise<PruneMark> {
  const key = PREFIX + randomBytes(16).toString('hex');
  await store.put(key, seal(objectKey, AAD, [Buffer.from(JSON.stringify({ v: 1, created, packs }))]));
  return { key, created, packs };
}

export async function listMarks(store: BlobStore, objectKey: Buffer, signal?: AbortSignal): Promise<PruneMark[]> {
  const marks: PruneMark[] = [];
  for await (const entry of store.list(PREFIX, { signal })) {
    // A concurrent prune may sweep (delete) a mark between the listing and the read.
    const sealed = await getIfExists(store, entry.key, { signal });
    if (!sealed) continue;
    const plain = open(objectKey, AAD, sealed);
    if (!plain) throw new RepositoryError('Corrupt', `prune mark ${entry.key} fails authentication`);
    const body = JSON.parse(plain.toString('utf8')) as { v: number; created: number; packs: string[] };
    if (body.v !== 1 || !Array.isArray(body.packs)) throw new RepositoryError('Corrupt', `prune mark ${entry.key} is not a version 1 mark`);
    marks.push({ key: entry.key, created: body.created, packs: body.packs });
  }
  return marks.sort((a, b) => a.created - b.created);
}

/** Hex ids of every pack some prune mark condemns. */
export async function condemnedPacks(store: BlobStore, objectKey: Buffer, signal?: AbortSignal): Promise<Set<string>> {
  return new Set((await listMarks(store, objectKey, signal)).flatMap((m) => m.packs));
}
