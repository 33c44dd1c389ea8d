/**
 * Loads every index segment into one BlobIndex, skipping segments that another segment
 * supersedes (docs/repository-format.md §6): prune writes the replacement before it
 * deletes the old ones, so a reader may see both for a while.
 */
import { getIfExists, type BlobStore } from '@ferry/blobstore';
import { BlobIndex } from './blob-index.js';
import { mapLimited } from './concurrency.js';
import { AAD, open } from './crypto.js';
import { RepositoryError } from './errors.js';
import { loadIndexSegmentInto, readSupersedes } from './index-segment.js';

const LOAD_CONCURRENCY = 8;
export const INDEX_PREFIX = 'index/';

export interface LoadedIndex {
  readonly index: BlobIndex;
  /** Keys of the segments loaded into `index`. */
  readonly live: readonly string[];
  /** Keys of segments present but superseded (safe to delete). */
  readonly superseded: readonly string[];
}

/**
 * `deferPacks` (hex ids; packs condemned by prune marks) lose to any other copy of the
 * same blob: their entries are loaded only after every other segment entry, so a blob
 * stored again since the mark is found at its new home.
 */
export async function loadIndex(store: BlobStore, objectKey: Buffer, signal?: AbortSignal, deferPacks?: ReadonlySet<string>): Promise<LoadedIndex> {
  const { keys, plains } = await fetchSegments(store, objectKey, signal);
  const supersededIds = new Set<string>();
  plains.forEach((plain, i) => {
    try {
      for (const id of readSupersedes(plain)) supersededIds.add(id.toString('hex'));
    } catch (err) {
      throw new RepositoryError('Corrupt', `index segment ${keys[i]}: ${(err as Error).message}`, { cause: err });
    }
  });
  const index = new BlobIndex();
  const live: string[] = [];
  const superseded: string[] = [];
  plains.forEach((_, i) => (supersededIds.has(keys[i]!.slice(INDEX_PREFIX.length)) ? superseded : live).push(keys[i]!));
  const deferred = deferPacks && deferPacks.size > 0 ? (id: Uint8Array): boolean => deferPacks.has(Buffer.from(id).toString('hex')) : undefined;
  const passes = deferred ? [(id: Uint8Array) => !deferred(id), deferred] : [undefined];
  for (const filter of passes) {
    plains.forEach((plain, i) => {
      if (supersededIds.has(keys[i]!.slice(INDEX_PREFIX.length))) return;
      try {
        loadIndexSegmentInto(plain, index, undefined, filter);
      } catch (err) {
        throw new RepositoryError('Corrupt', `index segment ${keys[i]}: ${(err as Error).message}`, { cause: err });
      }
    });
  }
  // Loading grows the tables in steps; give the slack back (a large index stays resident).
  index.trim();
  return { index, live, superseded };
}

const MAX_LIST_ROUNDS = 3;

/**
 * Lists and reads every segment. A prune may delete a superseded segment between the
 * listing and the read; it writes the replacement first, so listing again finds it.
 */
async function fetchSegments(store: BlobStore, objectKey: Buffer, signal?: AbortSignal): Promise<{ keys: string[]; plains: Buffer[] }> {
  const loaded = new Map<string, Buffer>();
  for (let round = 0; round < MAX_LIST_ROUNDS; round++) {
    const listed: string[] = [];
    for await (const entry of store.list(INDEX_PREFIX, { signal })) if (!loaded.has(entry.key)) listed.push(entry.key);
    let vanished = false;
    await mapLimited(listed, LOAD_CONCURRENCY, async (key) => {
      const sealed = await getIfExists(store, key, { signal });
      if (!sealed) {
        vanished = true;
        return;
      }
      const plain = open(objectKey, AAD.index, sealed);
      if (!plain) throw new RepositoryError('Corrupt', `index segment ${key} fails authentication (damaged or truncated); run "ferry check"`);
      loaded.set(key, plain);
    });
    if (!vanished) break;
  }
  return { keys: [...loaded.keys()], plains: [...loaded.values()] };
}
