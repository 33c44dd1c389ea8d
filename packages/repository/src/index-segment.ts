/**
 * The plaintext of an index segment (docs/repository-format.md §6):
 *
 *   "FIX1" || u32le s || s × id(32)
 *          || u32le p || p × (packId(32) || u8 type)
 *          || u32le b || b × (id(32) || u32le packNo || u32le offset || u32le length || u32le rawLength)
 *
 * Decoding validates every byte before anything is built or added, so a corrupt or
 * hostile segment yields a FormatError, never a partial load or an out-of-bounds read.
 */

/** A byte string that breaks its format; `kind` names the object (e.g. "index segment"). */
export class FormatError extends Error {
  readonly kind: string;

  constructor(kind: string, message: string) {
    super(`${kind}: ${message}`);
    this.name = 'FormatError';
    this.kind = kind;
  }
}

/** Blob and pack types of §5: 0 = data, 1 = tree. */
export type BlobTypeCode = 0 | 1;

export interface IndexSegmentPack {
  readonly id: Buffer;
  readonly type: BlobTypeCode;
}

export interface IndexSegmentBlob {
  readonly id: Buffer;
  /** Index into the segment's own pack table. */
  readonly packNo: number;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
}

export interface IndexSegment {
  readonly supersedes: Buffer[];
  readonly packs: IndexSegmentPack[];
  readonly blobs: IndexSegmentBlob[];
}

export interface IndexSegmentInput {
  readonly supersedes: readonly Uint8Array[];
  readonly packs: readonly { readonly id: Uint8Array; readonly type: number }[];
  readonly blobs: readonly {
    readonly id: Uint8Array;
    readonly packNo: number;
    readonly offset: number;
    readonly length: number;
    readonly rawLength: number;
  }[];
}

const KIND = 'index segment';
const MAGIC = Buffer.from('FIX1', 'latin1');
const ID = 32;
const PACK_ENTRY = ID + 1;
/** Same layout as a BlobIndex record, so entries can be copied in one piece. */
export const SEGMENT_BLOB_ENTRY = ID + 16;

/**
 * Encodes a segment. Blob entries are sorted bytewise by id as §6 requires; if an id
 * appears twice, the first occurrence in `blobs` is kept (readers take the first anyway).
 */
export function encodeIndexSegment(segment: IndexSegmentInput): Buffer {
  checkInput(segment);
  const blobs = uniqueSortedBlobs(segment.blobs);
  const size = 4 + 4 + segment.supersedes.length * ID + 4 + segment.packs.length * PACK_ENTRY + 4 + blobs.length * SEGMENT_BLOB_ENTRY;
  const out = Buffer.alloc(size);
  let at = MAGIC.copy(out, 0);
  at = out.writeUInt32LE(segment.supersedes.length, at);
  for (const id of segment.supersedes) at = putId(out, id, at);
  at = out.writeUInt32LE(segment.packs.length, at);
  for (const pack of segment.packs) {
    at = putId(out, pack.id, at);
    at = out.writeUInt8(pack.type, at);
  }
  at = out.writeUInt32LE(blobs.length, at);
  for (const blob of blobs) {
    at = putId(out, blob.id, at);
    at = out.writeUInt32LE(blob.packNo, at);
    at = out.writeUInt32LE(blob.offset, at);
    at = out.writeUInt32LE(blob.length, at);
    at = out.writeUInt32LE(blob.rawLength, at);
  }
  return out;
}

function putId(out: Buffer, id: Uint8Array, at: number): number {
  out.set(id, at);
  return at + ID;
}

/** Caller bugs (not corrupt data), so these are RangeErrors. */
function checkInput(segment: IndexSegmentInput): void {
  const badId = (id: Uint8Array) => !(id instanceof Uint8Array) || id.length !== ID;
  const isU32 = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
  if (segment.supersedes.some(badId)) throw new RangeError('encodeIndexSegment: a supersedes id is not 32 bytes');
  for (const pack of segment.packs) {
    if (badId(pack.id)) throw new RangeError('encodeIndexSegment: a pack id is not 32 bytes');
    if (pack.type !== 0 && pack.type !== 1) throw new RangeError(`encodeIndexSegment: pack type ${pack.type} is not 0 or 1`);
  }
  for (const blob of segment.blobs) {
    if (badId(blob.id)) throw new RangeError('encodeIndexSegment: a blob id is not 32 bytes');
    if (!(isU32(blob.packNo) && blob.packNo < segment.packs.length)) {
      throw new RangeError(`encodeIndexSegment: blob packNo ${blob.packNo} is outside the ${segment.packs.length}-pack table`);
    }
    if (![blob.offset, blob.length, blob.rawLength].every(isU32)) {
      throw new RangeError('encodeIndexSegment: blob offset/length/rawLength must be u32 integers');
    }
  }
}

function uniqueSortedBlobs<T extends { readonly id: Uint8Array }>(blobs: readonly T[]): T[] {
  // A backup of many small files writes segments of 100k+ ids. Buffer.compare per
  // comparison is a call into C++ (0.27 s on the main thread for 100k ids); ordering by a
  // 48-bit prefix first leaves it for the rare ids that share one.
  const keys = blobs.map((b) => idPrefix(b.id));
  const order = blobs.map((_, i) => i);
  // Ties fall back to the position, so among equal ids the first one given comes first.
  order.sort((i, j) => keys[i]! - keys[j]! || Buffer.compare(blobs[i]!.id, blobs[j]!.id) || i - j);
  const sorted = order.map((i) => blobs[i]!);
  return sorted.filter((blob, i) => i === 0 || Buffer.compare(sorted[i - 1]!.id, blob.id) !== 0);
}

/** The first 6 bytes of an id as a number: orders like the bytes, exact in a double. */
function idPrefix(id: Uint8Array): number {
  return (id[0]! * 0x10000 + id[1]! * 0x100 + id[2]!) * 0x1000000 + (id[3]! * 0x10000 + id[4]! * 0x100 + id[5]!);
}

/** Where the three tables start, once the counts and the total length are known good. */
interface Layout {
  readonly supersedes: number;
  readonly s: number;
  readonly packs: number;
  readonly p: number;
  readonly blobs: number;
  readonly b: number;
}

/** Checks magic, counts and lengths (not entry contents); returns the table offsets. */
function readLayout(buf: Uint8Array): Layout {
  if (buf.length < 4 || Buffer.compare(buf.subarray(0, 4), MAGIC) !== 0) {
    throw new FormatError(KIND, 'the magic is not "FIX1" (not an index segment, or one of a newer format version)');
  }
  const s = readCount(buf, 4, ID, 'supersedes list');
  const packsAt = 8 + s * ID;
  const p = readCount(buf, packsAt, PACK_ENTRY, 'pack table');
  const blobsAt = packsAt + 4 + p * PACK_ENTRY;
  const b = readCount(buf, blobsAt, SEGMENT_BLOB_ENTRY, 'blob table');
  const end = blobsAt + 4 + b * SEGMENT_BLOB_ENTRY;
  if (end !== buf.length) throw new FormatError(KIND, `${buf.length - end} unexpected bytes after the blob table`);
  return { supersedes: 8, s, packs: packsAt + 4, p, blobs: blobsAt + 4, b };
}

/** Reads the u32le count at `at` and checks that count × entrySize bytes follow it. */
function readCount(buf: Uint8Array, at: number, entrySize: number, what: string): number {
  if (at + 4 > buf.length) throw new FormatError(KIND, `truncated: the ${what} count at byte ${at} is missing`);
  const count = (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
  const available = buf.length - (at + 4);
  if (count * entrySize > available) {
    throw new FormatError(KIND, `truncated: the ${what} needs ${count * entrySize} bytes at byte ${at + 4}, ${available} remain`);
  }
  return count;
}

/** Checks pack types, packNo ranges and the strict id order of the blob table. */
function checkEntries(buf: Uint8Array, layout: Layout): void {
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  for (let i = 0; i < layout.p; i++) {
    const type = view[layout.packs + i * PACK_ENTRY + ID]!;
    if (type > 1) throw new FormatError(KIND, `pack ${i} has unknown type ${type}`);
  }
  for (let i = 0; i < layout.b; i++) {
    const at = layout.blobs + i * SEGMENT_BLOB_ENTRY;
    const packNo = view.readUInt32LE(at + ID);
    if (packNo >= layout.p) {
      throw new FormatError(KIND, `blob entry ${i} names pack ${packNo} but the pack table has ${layout.p}`);
    }
    // buf.compare(target, ...) orders this entry (source) against the previous one (target).
    if (i > 0 && view.compare(view, at - SEGMENT_BLOB_ENTRY, at - SEGMENT_BLOB_ENTRY + ID, at, at + ID) <= 0) {
      throw new FormatError(KIND, `blob entry ${i} is not in ascending id order`);
    }
  }
}

/** Validates a segment completely; returns where its tables are. */
function validate(buf: Uint8Array): Layout {
  const layout = readLayout(buf);
  checkEntries(buf, layout);
  return layout;
}

function copyId(buf: Uint8Array, at: number): Buffer {
  return Buffer.from(buf.subarray(at, at + ID));
}

/** Ids of the segments this one supersedes (validates the whole segment first). */
export function readSupersedes(buf: Uint8Array): Buffer[] {
  return supersedesOf(buf, validate(buf));
}

function supersedesOf(buf: Uint8Array, layout: Layout): Buffer[] {
  return Array.from({ length: layout.s }, (_, i) => copyId(buf, layout.supersedes + i * ID));
}

/** Decodes and validates a segment into plain objects (fresh Buffers, not views). */
export function decodeIndexSegment(buf: Uint8Array): IndexSegment {
  const layout = validate(buf);
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const packs = Array.from({ length: layout.p }, (_, i): IndexSegmentPack => {
    const at = layout.packs + i * PACK_ENTRY;
    return { id: copyId(buf, at), type: view[at + ID] as BlobTypeCode };
  });
  const blobs = Array.from({ length: layout.b }, (_, i): IndexSegmentBlob => {
    const at = layout.blobs + i * SEGMENT_BLOB_ENTRY;
    return {
      id: copyId(buf, at),
      packNo: view.readUInt32LE(at + ID),
      offset: view.readUInt32LE(at + ID + 4),
      length: view.readUInt32LE(at + ID + 8),
      rawLength: view.readUInt32LE(at + ID + 12),
    };
  });
  return { supersedes: supersedesOf(buf, layout), packs, blobs };
}

export interface LoadedSegment {
  readonly supersedes: Buffer[];
  readonly packs: number;
  readonly blobs: number;
  /** Blobs whose id the index did not have yet (the rest kept their first entry). */
  readonly blobsAdded: number;
}

/** What loading a segment needs of the in-memory index (BlobIndex implements it). */
export interface SegmentSink {
  addPack(id: Uint8Array, type: BlobTypeCode): number;
  reserveBlobs(more: number): void;
  /** Copies the 48-byte record at `src[at..]` with its pack number replaced; false if the id was known. */
  addEntry(src: Uint8Array, at: number, packNo: number): boolean;
}

/**
 * Validates a segment, then adds its packs and blobs straight into `index` with no
 * object per entry. Hex ids of the segments it supersedes are added to `superseded`
 * if given. A segment that fails validation adds nothing.
 */
export function loadIndexSegmentInto(
  buf: Uint8Array,
  index: SegmentSink,
  superseded?: Set<string>,
  /** Load only the entries of packs for which this returns true (packs are always registered). */
  packFilter?: (packId: Uint8Array) => boolean,
): LoadedSegment {
  const layout = validate(buf);
  const supersedes = supersedesOf(buf, layout);
  for (const id of supersedes) superseded?.add(id.toString('hex'));
  const packNos = new Uint32Array(layout.p);
  const wanted = new Uint8Array(layout.p);
  for (let i = 0; i < layout.p; i++) {
    const at = layout.packs + i * PACK_ENTRY;
    const id = buf.subarray(at, at + ID);
    packNos[i] = index.addPack(id, buf[at + ID] as BlobTypeCode);
    wanted[i] = !packFilter || packFilter(id) ? 1 : 0;
  }
  index.reserveBlobs(layout.b);
  let blobsAdded = 0;
  for (let i = 0; i < layout.b; i++) {
    const at = layout.blobs + i * SEGMENT_BLOB_ENTRY;
    const localPackNo = buf[at + ID]! | (buf[at + ID + 1]! << 8) | (buf[at + ID + 2]! << 16) | (buf[at + ID + 3]! << 24);
    if (wanted[localPackNo >>> 0] && index.addEntry(buf, at, packNos[localPackNo >>> 0]!)) blobsAdded++;
  }
  return { supersedes, packs: layout.p, blobs: layout.b, blobsAdded };
}
