/**
 * Everything one writer (a backup) adds: blobs go into packs of their type, full packs
 * are uploaded a few at a time, and index segments listing the uploaded packs are
 * written as checkpoints and at the end (docs/repository-format.md §9).
 */
import { createHash } from 'node:crypto';
import type { BlobStore } from '@ferry/blobstore';
import { BLOB_DATA, BLOB_TREE, type BlobType } from './blob-codec.js';
import { AAD, seal } from './crypto.js';
import { PackBuilder, packKey, type PackEntry } from './pack.js';
import type { BlobIndex } from './blob-index.js';
import { encodeIndexSegment } from './index-segment.js';

export interface WriteSessionOptions {
  readonly store: BlobStore;
  readonly index: BlobIndex;
  readonly objectKey: Buffer;
  readonly packSize: number;
  /** Packs uploading at once; each holds up to packSize bytes in memory. */
  readonly uploadConcurrency?: number;
  /** Write an index segment after this many packs so a crash loses little. */
  readonly checkpointPacks?: number;
  readonly signal?: AbortSignal;
}

interface OpenPack {
  readonly builder: PackBuilder;
  readonly packNo: number;
}

export class WriteSession {
  private readonly open = new Map<BlobType, OpenPack>();
  private readonly excluded = new Set<number>();
  private readonly stored = new Set<string>();
  private readonly uploads = new Set<Promise<void>>();
  private uploadError: unknown;
  /** Uploaded packs not yet listed in a written index segment. */
  private unindexed: { id: Buffer; type: BlobType; entries: readonly PackEntry[] }[] = [];
  private packsSinceCheckpoint = 0;
  bytesAdded = 0;
  blobsAdded = 0;

  constructor(private readonly options: WriteSessionOptions) {}

  /**
   * Whether the blob is stored and may be deduplicated against: a blob whose only
   * indexed copy is in a pack condemned by prune counts as absent (§10).
   */
  has(id: Buffer): boolean {
    if (this.excluded.size === 0) return this.options.index.has(id);
    const loc = this.options.index.lookup(id);
    if (loc === undefined) return false;
    return !this.excluded.has(loc.packNo) || this.stored.has(id.toString('hex'));
  }

  /** Packs (by number) that prune marks condemned: never deduplicate against them. */
  excludePacks(packNos: Iterable<number>): void {
    for (const n of packNos) this.excluded.add(n);
  }

  /** Adds an already uploaded pack that no index lists (a dead writer's orphan) to this session's index. */
  adoptPack(id: Buffer, type: BlobType, entries: readonly PackEntry[]): void {
    const packNo = this.options.index.addPack(id, type);
    for (const e of entries) this.options.index.add(e.id, { packNo, offset: e.offset, length: e.length, rawLength: e.rawLength });
    this.unindexed.push({ id, type, entries });
  }

  /** Stores a copy of a blob that is already indexed elsewhere (prune's repacking). */
  addCopy(type: BlobType, id: Buffer, sealed: Buffer, rawLength: number): void {
    if (this.uploadError) throw this.uploadError;
    const pack = this.openPack(type);
    pack.builder.add(id, sealed, rawLength);
    this.blobsAdded++;
    if (pack.builder.size >= this.options.packSize) this.closePack(type);
  }

  /** Adds a sealed blob unless it is already stored; returns whether it was added. */
  add(type: BlobType, id: Buffer, sealed: Buffer, rawLength: number): boolean {
    if (this.uploadError) throw this.uploadError;
    if (this.has(id)) return false;
    const pack = this.openPack(type);
    const entry = pack.builder.add(id, sealed, rawLength);
    // A re-stored copy of a condemned blob keeps the index's first entry; remember it here.
    if (!this.options.index.add(id, { packNo: pack.packNo, offset: entry.offset, length: entry.length, rawLength })) this.stored.add(id.toString('hex'));
    this.blobsAdded++;
    if (pack.builder.size >= this.options.packSize) this.closePack(type);
    return true;
  }

  /** Resolves when fewer uploads than the limit are running (call before adding more). */
  async ready(): Promise<void> {
    const limit = this.options.uploadConcurrency ?? 2;
    while (this.uploads.size >= limit) await Promise.race(this.uploads);
    if (this.uploadError) throw this.uploadError;
  }

  /** Makes everything added so far durable and indexed (packs closed, uploaded, index written). */
  async checkpoint(): Promise<void> {
    await this.finish();
    this.packsSinceCheckpoint = 0;
  }

  /** Uploads every open pack and writes the index segment for all of them. */
  async finish(): Promise<void> {
    this.closePack(BLOB_DATA);
    this.closePack(BLOB_TREE);
    await this.drain();
    await this.writeIndex();
  }

  /** After a failure: waits for uploads in flight to end, without writing anything more. */
  async abandon(): Promise<void> {
    while (this.uploads.size > 0) await Promise.allSettled([...this.uploads]);
  }

  private async drain(): Promise<void> {
    while (this.uploads.size > 0) await Promise.allSettled([...this.uploads]);
    if (this.uploadError) throw this.uploadError;
  }

  private openPack(type: BlobType): OpenPack {
    let pack = this.open.get(type);
    if (!pack) {
      pack = { builder: new PackBuilder(type), packNo: this.options.index.reservePack(type) };
      this.open.set(type, pack);
    }
    return pack;
  }

  private closePack(type: BlobType): void {
    const pack = this.open.get(type);
    if (!pack || pack.builder.count === 0) return;
    this.open.delete(type);
    const finished = pack.builder.finish(this.options.objectKey);
    this.options.index.setPackId(pack.packNo, finished.id);
    const upload = this.options.store
      .put(packKey(finished.id), finished.parts, { signal: this.options.signal })
      .then(() => this.uploaded(finished.id, type, finished.entries, finished.size))
      .catch((err: unknown) => {
        this.uploadError ??= err;
      })
      .finally(() => this.uploads.delete(upload));
    this.uploads.add(upload);
  }

  private uploaded(id: Buffer, type: BlobType, entries: readonly PackEntry[], size: number): void {
    this.bytesAdded += size;
    this.unindexed.push({ id, type, entries });
    if (++this.packsSinceCheckpoint >= (this.options.checkpointPacks ?? 64)) {
      this.packsSinceCheckpoint = 0;
      const upload = this.writeIndex()
        .catch((err: unknown) => {
          this.uploadError ??= err;
        })
        .finally(() => this.uploads.delete(upload));
      this.uploads.add(upload);
    }
  }

  private async writeIndex(): Promise<void> {
    const packs = this.unindexed;
    this.unindexed = [];
    if (packs.length === 0) return;
    const plain = encodeIndexSegment({
      supersedes: [],
      packs: packs.map((p) => ({ id: p.id, type: p.type })),
      blobs: packs.flatMap((p, packNo) => p.entries.map((e) => ({ id: e.id, packNo, offset: e.offset, length: e.length, rawLength: e.rawLength }))),
    });
    const sealed = seal(this.options.objectKey, AAD.index, [plain]);
    const id = createHash('sha256').update(sealed).digest('hex');
    await this.options.store.put(`index/${id}`, sealed, { signal: this.options.signal });
    this.bytesAdded += sealed.length;
  }
}
