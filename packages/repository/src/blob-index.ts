/**
 * The in-memory index of a repository (docs/repository-format.md §6): where every blob
 * is stored. Built on IdTable so a million blobs cost ~56 bytes each and no JS objects:
 *
 *   pack record (33 bytes): packId(32) || u8 type        pack number = record index
 *   blob record (48 bytes): id(32) || u32le packNo || u32le offset || u32le length || u32le rawLength
 *
 * A blob's type is its pack's type (packs hold one type only).
 */
import { IdTable, ID_LENGTH } from './id-table.js';
import {
  FormatError,
  SEGMENT_BLOB_ENTRY,
  type BlobTypeCode,
  type IndexSegment,
  type SegmentSink,
} from './index-segment.js';

const PACK_RECORD = ID_LENGTH + 1;
/** The index segment entry layout, so addEntry can copy a segment entry whole. */
const BLOB_RECORD = SEGMENT_BLOB_ENTRY;
const PACKNO = ID_LENGTH;
const OFFSET = ID_LENGTH + 4;
const LENGTH = ID_LENGTH + 8;
const RAW_LENGTH = ID_LENGTH + 12;
/** Set in a pack record's type byte while the pack is being written and has no id. */
const PROVISIONAL = 0x80;

export interface BlobLocation {
  readonly packNo: number;
  /** Offset of the sealed blob in its pack. */
  readonly offset: number;
  /** Length of the sealed blob. */
  readonly length: number;
  /** Length of the raw blob (before compression and sealing). */
  readonly rawLength: number;
}

export interface BlobInfo extends BlobLocation {
  /** A copy of the pack id; undefined while the pack is provisional (still being written). */
  readonly packId: Buffer | undefined;
  readonly type: BlobTypeCode;
}

export interface BlobEntry extends BlobInfo {
  /** A copy of the blob id. */
  readonly id: Buffer;
}

export interface PackInfo {
  readonly packNo: number;
  readonly id: Buffer | undefined;
  readonly type: BlobTypeCode;
}

export class BlobIndex implements SegmentSink {
  private readonly packTable = new IdTable({ recordSize: PACK_RECORD });
  private readonly blobTable: IdTable;

  constructor(options: { expectedBlobs?: number } = {}) {
    this.blobTable = new IdTable({ recordSize: BLOB_RECORD, capacity: options.expectedBlobs });
  }

  get blobCount(): number {
    return this.blobTable.size;
  }

  get packCount(): number {
    return this.packTable.size;
  }

  /** Registers a pack (or finds it, packs are deduplicated by id); returns its pack number. */
  addPack(id: Uint8Array, type: BlobTypeCode): number {
    checkType(type);
    const added = this.packTable.add(id);
    if (added >= 0) {
      this.packTable.records[this.packTable.recordOffset(added) + ID_LENGTH] = type;
      return added;
    }
    const existing = this.packTable.find(id);
    if (this.packType(existing) !== type) {
      throw new FormatError('index', `pack ${hex(id)} is listed both as type ${this.packType(existing)} and ${type}`);
    }
    return existing;
  }

  /** Reserves a pack number for a pack being written; its id follows via setPackId. */
  reservePack(type: BlobTypeCode): number {
    checkType(type);
    const packNo = this.packTable.appendUnindexed();
    this.packTable.records[this.packTable.recordOffset(packNo) + ID_LENGTH] = type | PROVISIONAL;
    return packNo;
  }

  /** Gives a reserved pack its id (the hash of its sealed header, known once it is closed). */
  setPackId(packNo: number, id: Uint8Array): void {
    const at = this.packRecordAt(packNo);
    const records = this.packTable.records;
    if ((records[at + ID_LENGTH]! & PROVISIONAL) === 0) {
      throw new RangeError(`BlobIndex.setPackId: pack ${packNo} already has an id`);
    }
    if (id.length !== ID_LENGTH) throw new RangeError('BlobIndex.setPackId: a pack id is 32 bytes');
    records.set(id, at);
    if (this.packTable.publish(packNo) !== packNo) {
      records.fill(0, at, at + ID_LENGTH);
      throw new RangeError(`BlobIndex.setPackId: pack ${hex(id)} is already indexed`);
    }
    records[at + ID_LENGTH]! &= ~PROVISIONAL;
  }

  /** Pack number of the pack with this id, or -1. */
  findPack(id: Uint8Array): number {
    return this.packTable.find(id);
  }

  packId(packNo: number): Buffer | undefined {
    const at = this.packRecordAt(packNo);
    if ((this.packTable.records[at + ID_LENGTH]! & PROVISIONAL) !== 0) return undefined;
    return Buffer.from(this.packTable.records.subarray(at, at + ID_LENGTH));
  }

  packType(packNo: number): BlobTypeCode {
    const at = this.packRecordAt(packNo);
    return (this.packTable.records[at + ID_LENGTH]! & ~PROVISIONAL) as BlobTypeCode;
  }

  has(id: Uint8Array): boolean {
    return this.blobTable.find(id) >= 0;
  }

  lookup(id: Uint8Array): BlobInfo | undefined {
    const index = this.blobTable.find(id);
    return index < 0 ? undefined : this.infoAt(index);
  }

  /** Records where a blob is stored; returns false (keeping the first entry) if it is known. */
  add(id: Uint8Array, location: BlobLocation): boolean {
    this.packRecordAt(location.packNo);
    if (id.length !== ID_LENGTH) throw new RangeError('BlobIndex.add: a blob id is 32 bytes');
    const index = this.blobTable.add(id);
    if (index < 0) return false;
    const records = this.blobTable.records;
    const at = this.blobTable.recordOffset(index);
    records.writeUInt32LE(location.packNo, at + PACKNO);
    records.writeUInt32LE(location.offset, at + OFFSET);
    records.writeUInt32LE(location.length, at + LENGTH);
    records.writeUInt32LE(location.rawLength, at + RAW_LENGTH);
    return true;
  }

  /**
   * Adds the 48-byte index segment entry at src[at..] (same layout as a record) under
   * pack number `packNo` of this index. For bulk loading without per-entry objects.
   */
  addEntry(src: Uint8Array, at: number, packNo: number): boolean {
    if (packNo >= this.packTable.size) throw new RangeError(`BlobIndex.addEntry: no pack number ${packNo}`);
    const index = this.blobTable.addRecord(src, at);
    if (index < 0) return false;
    this.blobTable.records.writeUInt32LE(packNo, this.blobTable.recordOffset(index) + PACKNO);
    return true;
  }

  /** Makes room for `more` blobs beyond the current count (e.g. before loading a segment). */
  reserveBlobs(more: number): void {
    this.blobTable.reserve(this.blobTable.size + more);
  }

  /** Adds a decoded segment: its packs (deduplicated) and its blobs (first entry wins). */
  merge(segment: IndexSegment): { blobsAdded: number } {
    const packNos = segment.packs.map((pack) => this.addPack(pack.id, pack.type));
    let blobsAdded = 0;
    for (const blob of segment.blobs) {
      const packNo = packNos[blob.packNo];
      if (packNo === undefined) {
        throw new FormatError('index segment', `a blob entry names pack ${blob.packNo} of ${packNos.length}`);
      }
      if (this.add(blob.id, { ...blob, packNo })) blobsAdded++;
    }
    return { blobsAdded };
  }

  /** Every pack, in pack-number order (provisional ones with id undefined). */
  *packs(): IterableIterator<PackInfo> {
    for (let packNo = 0; packNo < this.packTable.size; packNo++) {
      yield { packNo, id: this.packId(packNo), type: this.packType(packNo) };
    }
  }

  /** Every blob, or only those stored in the given pack numbers, in insertion order. */
  *blobs(packNos?: ReadonlySet<number>): IterableIterator<BlobEntry> {
    for (let index = 0; index < this.blobTable.size; index++) {
      const at = this.blobTable.recordOffset(index);
      if (packNos && !packNos.has(this.blobTable.records.readUInt32LE(at + PACKNO))) continue;
      yield { id: Buffer.from(this.blobTable.idAt(index)), ...this.infoAt(index) };
    }
  }

  /** Releases spare capacity once loading is done. */
  trim(): void {
    this.packTable.trim();
    this.blobTable.trim();
  }

  /** Bytes held by both tables (for the memory-per-blob report). */
  bytesUsed(): number {
    return this.packTable.bytesUsed() + this.blobTable.bytesUsed();
  }

  private infoAt(index: number): BlobInfo {
    const records = this.blobTable.records;
    const at = this.blobTable.recordOffset(index);
    const packNo = records.readUInt32LE(at + PACKNO);
    return {
      packNo,
      packId: this.packId(packNo),
      type: this.packType(packNo),
      offset: records.readUInt32LE(at + OFFSET),
      length: records.readUInt32LE(at + LENGTH),
      rawLength: records.readUInt32LE(at + RAW_LENGTH),
    };
  }

  private packRecordAt(packNo: number): number {
    if (!Number.isInteger(packNo) || packNo < 0 || packNo >= this.packTable.size) {
      throw new RangeError(`BlobIndex: no pack number ${packNo} (${this.packTable.size} packs)`);
    }
    return this.packTable.recordOffset(packNo);
  }
}

function checkType(type: number): void {
  if (type !== 0 && type !== 1) throw new RangeError(`BlobIndex: blob type ${type} is not 0 (data) or 1 (tree)`);
}

function hex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.length).toString('hex');
}
