/**
 * An open-addressing hash table keyed by 32-byte ids, holding fixed-size records in one
 * growable Buffer (docs/repository-format.md §6). Millions of index entries must fit in
 * a few dozen bytes each, so there is no JS object per entry: a record is a byte range
 * of `records`, found through an Int32Array of slots (linear probing, load ≤ 0.5).
 *
 * Ids are HMACs or SHA-256 hashes, uniformly random, so their first 4 bytes serve as
 * the hash; nobody without the repository keys can choose ids that collide.
 */

export const ID_LENGTH = 32;
const MIN_GROWTH = 64;
const GROWTH_CAP = 65_536;

export interface IdTableOptions {
  /** Bytes per record; every record starts with its 32-byte id. */
  readonly recordSize: number;
  /** Entries to make room for up front (avoids regrowth when the count is known). */
  readonly capacity?: number;
}

const MIN_RECORDS = 64;

export class IdTable {
  readonly recordSize: number;
  private recordBuf: Buffer;
  private count = 0;
  /** 0 = empty, else record index + 1. Length is a power of two ≥ 2 × count. */
  private slots: Int32Array;
  private slotMask: number;
  /** Slots in use; less than count while some records are unindexed. */
  private occupied = 0;

  constructor(options: IdTableOptions) {
    if (!Number.isInteger(options.recordSize) || options.recordSize < ID_LENGTH) {
      throw new RangeError(`IdTable: recordSize must be an integer ≥ ${ID_LENGTH}, got ${options.recordSize}`);
    }
    this.recordSize = options.recordSize;
    const capacity = Math.max(MIN_RECORDS, options.capacity ?? 0);
    this.recordBuf = Buffer.allocUnsafeSlow(capacity * this.recordSize);
    this.slots = new Int32Array(slotCountFor(capacity));
    this.slotMask = this.slots.length - 1;
  }

  /** Number of records (indexed or not). */
  get size(): number {
    return this.count;
  }

  /**
   * The record storage: record i is `records[recordOffset(i) .. + recordSize)`. The
   * Buffer is replaced when the table grows, so do not keep it across an add.
   */
  get records(): Buffer {
    return this.recordBuf;
  }

  recordOffset(index: number): number {
    return index * this.recordSize;
  }

  /** A view (not a copy) of the id of record `index`; valid until the next add. */
  idAt(index: number): Buffer {
    const at = index * this.recordSize;
    return this.recordBuf.subarray(at, at + ID_LENGTH);
  }

  /** Index of the record with this id (read at id[idOffset..+32)), or -1. */
  find(id: Uint8Array, idOffset = 0): number {
    const slots = this.slots;
    for (let s = hashOf(id, idOffset) & this.slotMask; ; s = (s + 1) & this.slotMask) {
      const entry = slots[s]!;
      if (entry === 0) return -1;
      if (this.idEquals(entry - 1, id, idOffset)) return entry - 1;
    }
  }

  /**
   * Adds a record for `id` with the rest of its bytes zeroed and returns its index, or
   * -1 (changing nothing) if the id is present. Fill in the record via `records`.
   */
  add(id: Uint8Array, idOffset = 0): number {
    const index = this.append();
    this.recordBuf.set(id.subarray(idOffset, idOffset + ID_LENGTH), index * this.recordSize);
    return this.indexOrDrop(index);
  }

  /** Adds a copy of a whole record (starting with its id); -1 if the id is present. */
  addRecord(record: Uint8Array, recordOffset = 0): number {
    const index = this.append();
    this.recordBuf.set(record.subarray(recordOffset, recordOffset + this.recordSize), index * this.recordSize);
    return this.indexOrDrop(index);
  }

  /**
   * Appends a zeroed record that is *not* findable yet (its id is unknown, e.g. a pack
   * still being written). Write the id into it, then call `publish`.
   */
  appendUnindexed(): number {
    return this.append();
  }

  /**
   * Makes record `index` findable by the id stored in it. Returns `index`, or the index
   * of the record that already has this id (then `index` stays unfindable).
   */
  publish(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new RangeError(`IdTable: no record ${index} (size ${this.count})`);
    }
    const at = index * this.recordSize;
    const existing = this.find(this.recordBuf, at);
    if (existing >= 0) return existing;
    this.insertSlot(index, at);
    return index;
  }

  /**
   * Makes room for `total` records without further regrowth. Grows by at least 1.5×
   * so that many small reservations (one per loaded segment) stay amortized O(n).
   */
  reserve(total: number): void {
    const capacity = this.recordBuf.length / this.recordSize;
    if (total > capacity) this.resizeRecords(Math.max(total, Math.ceil(capacity * 1.5)));
    if (this.slots.length < slotCountFor(total)) this.rehash(slotCountFor(total));
  }

  /** Releases unused record capacity (e.g. after loading every index segment). */
  trim(): void {
    if (this.count * this.recordSize < this.recordBuf.length) this.resizeRecords(Math.max(1, this.count));
  }

  /** Bytes held by this table (record storage plus slot array), for memory reports. */
  bytesUsed(): number {
    return this.recordBuf.length + this.slots.byteLength;
  }

  private append(): number {
    if ((this.count + 1) * this.recordSize > this.recordBuf.length) {
      // Grow by half while small, by at most GROWTH_CAP records once large: a backup adding
      // a few blobs to a 10M-blob index must not reserve 5M records it will never use.
      this.resizeRecords(this.count + 1 + Math.max(MIN_GROWTH, Math.min(Math.ceil(this.count / 2), GROWTH_CAP)));
    }
    const index = this.count++;
    const at = index * this.recordSize;
    this.recordBuf.fill(0, at, at + this.recordSize);
    return index;
  }

  /** Indexes the record just appended, or removes it again if its id is present. */
  private indexOrDrop(index: number): number {
    const at = index * this.recordSize;
    if (this.find(this.recordBuf, at) >= 0) {
      this.count--;
      return -1;
    }
    this.insertSlot(index, at);
    return index;
  }

  private insertSlot(index: number, at: number): void {
    if ((this.occupied + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    let s = hashOf(this.recordBuf, at) & this.slotMask;
    while (this.slots[s] !== 0) s = (s + 1) & this.slotMask;
    this.slots[s] = index + 1;
    this.occupied++;
  }

  private idEquals(index: number, id: Uint8Array, idOffset: number): boolean {
    const records = this.recordBuf;
    const at = index * this.recordSize;
    // Random ids differ in the first byte 255 times in 256; a byte loop exits at once.
    for (let k = 0; k < ID_LENGTH; k++) {
      if (records[at + k] !== id[idOffset + k]) return false;
    }
    return true;
  }

  private resizeRecords(records: number): void {
    const next = Buffer.allocUnsafeSlow(records * this.recordSize);
    this.recordBuf.copy(next, 0, 0, this.count * this.recordSize);
    this.recordBuf = next;
  }

  private rehash(slotCount: number): void {
    const old = this.slots;
    this.slots = new Int32Array(slotCount);
    this.slotMask = slotCount - 1;
    for (const entry of old) {
      if (entry === 0) continue;
      let s = hashOf(this.recordBuf, (entry - 1) * this.recordSize) & this.slotMask;
      while (this.slots[s] !== 0) s = (s + 1) & this.slotMask;
      this.slots[s] = entry;
    }
  }
}

/** Smallest power of two ≥ 2 × entries (load factor ≤ 0.5). */
function slotCountFor(entries: number): number {
  let n = 2 * MIN_RECORDS;
  while (n < 2 * entries) n *= 2;
  return n;
}

function hashOf(id: Uint8Array, at: number): number {
  return id[at]! | (id[at + 1]! << 8) | (id[at + 2]! << 16) | (id[at + 3]! << 24);
}
