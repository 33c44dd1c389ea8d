import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { BlobIndex } from './blob-index.js';
import {
  FormatError,
  decodeIndexSegment,
  encodeIndexSegment,
  loadIndexSegmentInto,
  readSupersedes,
  type IndexSegmentInput,
} from './index-segment.js';

const id = (byte: number) => Buffer.alloc(32, byte);

const tiny: IndexSegmentInput = {
  supersedes: [id(0x11)],
  packs: [
    { id: id(0xaa), type: 0 },
    { id: id(0xbb), type: 1 },
  ],
  // Deliberately unsorted: the encoder sorts by id.
  blobs: [
    { id: id(0x02), packNo: 1, offset: 0x10, length: 0x20, rawLength: 0x30 },
    { id: id(0x01), packNo: 0, offset: 0, length: 0x01020304, rawLength: 7 },
  ],
};

const hex32 = (byte: string) => byte.repeat(32);
/** §6 written out by hand: magic, s, ids, p, (id, type)s, b, sorted entries. */
const TINY_HEX =
  '46495831' +
  '01000000' + hex32('11') +
  '02000000' + hex32('aa') + '00' + hex32('bb') + '01' +
  '02000000' +
  hex32('01') + '00000000' + '00000000' + '04030201' + '07000000' +
  hex32('02') + '01000000' + '10000000' + '20000000' + '30000000';

function expectFormatError(fn: () => unknown, pattern?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FormatError);
  expect((caught as FormatError).kind).toBe('index segment');
  if (pattern) expect((caught as Error).message).toMatch(pattern);
}

describe('encodeIndexSegment / decodeIndexSegment', () => {
  it('GOLDEN: encodes a tiny segment byte for byte as §6 says', () => {
    expect(encodeIndexSegment(tiny).toString('hex')).toBe(TINY_HEX);
  });

  it('decodes what it encodes, with sorted entries', () => {
    const decoded = decodeIndexSegment(encodeIndexSegment(tiny));
    expect(decoded.supersedes).toEqual([id(0x11)]);
    expect(decoded.packs).toEqual(tiny.packs);
    expect(decoded.blobs).toEqual([tiny.blobs[1], tiny.blobs[0]]);
    expect(readSupersedes(Buffer.from(TINY_HEX, 'hex'))).toEqual([id(0x11)]);
  });

  it('encodes an empty segment and keeps the first of duplicate ids', () => {
    const empty = encodeIndexSegment({ supersedes: [], packs: [], blobs: [] });
    expect(empty.toString('hex')).toBe('46495831' + '00000000'.repeat(3));
    expect(decodeIndexSegment(empty)).toEqual({ supersedes: [], packs: [], blobs: [] });
    const dup = { id: id(5), packNo: 0, offset: 1, length: 2, rawLength: 3 };
    const decoded = decodeIndexSegment(
      encodeIndexSegment({ supersedes: [], packs: [{ id: id(9), type: 0 }], blobs: [dup, { ...dup, offset: 99 }] }),
    );
    expect(decoded.blobs).toEqual([dup]);
  });

  it('sorts ids bytewise when they share a long prefix or differ only in high bytes', () => {
    // 0xff.. and 0x80.. first bytes catch a prefix key that overflows or goes negative;
    // ids equal in their first 6 bytes must still be ordered by the rest.
    const withPrefix = (head: number[], tail: number) => Buffer.concat([Buffer.from(head), Buffer.alloc(32 - head.length, tail)]);
    const ids = [
      withPrefix([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0x02),
      withPrefix([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0x01),
      withPrefix([0x80, 0, 0, 0, 0, 0], 0x00),
      withPrefix([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff], 0xff),
      withPrefix([0, 0, 0, 0, 0, 1], 0x00),
      withPrefix([0, 0, 0, 0, 0, 0], 0xff),
      ...Array.from({ length: 200 }, () => randomBytes(32)),
    ];
    const blobs = ids.map((blobId, i) => ({ id: blobId, packNo: 0, offset: i, length: 1, rawLength: 1 }));
    const decoded = decodeIndexSegment(encodeIndexSegment({ supersedes: [], packs: [{ id: id(9), type: 0 }], blobs }));
    const expected = [...ids].sort(Buffer.compare).map((b) => b.toString('hex'));
    expect(decoded.blobs.map((b) => b.id.toString('hex'))).toEqual(expected);
  });

  it('refuses input that cannot be encoded with a RangeError', () => {
    const pack = { id: id(1), type: 0 };
    const blob = { id: id(2), packNo: 0, offset: 0, length: 1, rawLength: 1 };
    expect(() => encodeIndexSegment({ supersedes: [], packs: [], blobs: [blob] })).toThrow(/packNo 0/);
    expect(() => encodeIndexSegment({ supersedes: [], packs: [{ id: id(1), type: 2 }], blobs: [] })).toThrow(RangeError);
    expect(() => encodeIndexSegment({ supersedes: [Buffer.alloc(31)], packs: [], blobs: [] })).toThrow(/32 bytes/);
    expect(() => encodeIndexSegment({ supersedes: [], packs: [pack], blobs: [{ ...blob, length: 2 ** 32 }] })).toThrow(
      /u32/,
    );
  });

  it('gives a FormatError for a truncation at every byte offset', () => {
    const whole = Buffer.from(TINY_HEX, 'hex');
    for (let cut = 0; cut < whole.length; cut++) {
      const truncated = Buffer.from(whole.subarray(0, cut));
      expectFormatError(() => decodeIndexSegment(truncated));
      const index = new BlobIndex();
      expectFormatError(() => loadIndexSegmentInto(truncated, index));
      expect(index.blobCount + index.packCount).toBe(0);
    }
  });

  it('names what is wrong in a corrupt segment', () => {
    const good = () => Buffer.from(TINY_HEX, 'hex');
    const packsAt = 8 + 32;
    const blobsAt = packsAt + 4 + 2 * 33 + 4;
    const cases: [string, (b: Buffer) => Buffer, RegExp][] = [
      ['magic', (b) => (b.write('FIX2', 0, 'latin1'), b), /FIX1/],
      ['trailing bytes', (b) => Buffer.concat([b, Buffer.from([0])]), /1 unexpected bytes after/],
      ['huge supersedes count', (b) => (b.writeUInt32LE(0xffffffff, 4), b), /truncated.*supersedes/],
      ['huge blob count', (b) => (b.writeUInt32LE(0xffffffff, blobsAt - 4), b), /truncated.*blob table/],
      ['unknown pack type', (b) => ((b[packsAt + 4 + 32] = 2), b), /unknown type 2/],
      ['packNo out of range', (b) => (b.writeUInt32LE(2, blobsAt + 32), b), /names pack 2/],
      ['unsorted ids', (b) => (b.fill(0x03, blobsAt, blobsAt + 32), b), /ascending id order/],
      ['duplicate ids', (b) => (b.fill(0x02, blobsAt, blobsAt + 32), b), /ascending id order/],
    ];
    for (const [, corrupt, pattern] of cases) {
      expectFormatError(() => decodeIndexSegment(corrupt(good())), pattern);
      expectFormatError(() => loadIndexSegmentInto(corrupt(good()), new BlobIndex()), pattern);
    }
  });

  it('never fails with anything but a FormatError on random byte flips', () => {
    const whole = Buffer.from(TINY_HEX, 'hex');
    for (let round = 0; round < 2000; round++) {
      const mutated = Buffer.from(whole);
      const at = round % whole.length;
      mutated[at] = mutated[at]! ^ (1 + (round % 255));
      try {
        decodeIndexSegment(mutated);
      } catch (err) {
        expect(err).toBeInstanceOf(FormatError);
      }
    }
  });
});

/** A ≈48 MB segment of n random blob ids over 64 packs, built without per-entry objects. */
function bigSegment(n: number): Buffer {
  // Sorting random u64 prefixes natively gives ascending ids without a comparator.
  const prefixes = new BigUint64Array(randomBytes(n * 8).buffer).sort();
  const packs = 64;
  const out = Buffer.alloc(4 + 4 + 4 + packs * 33 + 4 + n * 48);
  out.write('FIX1', 0, 'latin1');
  out.writeUInt32LE(packs, 8);
  for (let p = 0; p < packs; p++) randomBytes(32).copy(out, 12 + p * 33);
  let at = 12 + packs * 33;
  out.writeUInt32LE(n, at);
  at += 4;
  const tails = randomBytes(n * 24);
  for (let i = 0; i < n; i++, at += 48) {
    out.writeBigUInt64BE(prefixes[i]!, at);
    tails.copy(out, at + 8, i * 24, i * 24 + 24);
    out.writeUInt32LE(i % packs, at + 32);
    out.writeUInt32LE(i, at + 36);
    out.writeUInt32LE(1000 + (i % 5000), at + 40);
    out.writeUInt32LE(2000 + (i % 5000), at + 44);
  }
  return out;
}

/** Memory after full GCs, with turns of the event loop so freed buffers are accounted. */
async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.memoryUsage();
}

describe('loadIndexSegmentInto', () => {
  it('loads 1,000,000 blobs in at most 64 resident bytes each', async () => {
    const n = 1_000_000;
    const segment = bigSegment(n);
    const before = await settledMemory();
    const index = new BlobIndex();
    const loaded = loadIndexSegmentInto(segment, index, new Set());
    const after = await settledMemory();
    const heap = after.heapUsed - before.heapUsed;
    const external = after.external - before.external;
    const perBlob = (heap + external) / n;
    console.log(
      `BlobIndex: ${perBlob.toFixed(1)} resident bytes per blob ` +
        `(heap ${(heap / n).toFixed(1)}, buffers ${(external / n).toFixed(1)}; bytesUsed ${(index.bytesUsed() / n).toFixed(1)})`,
    );
    expect(loaded).toEqual({ supersedes: [], packs: 64, blobs: n, blobsAdded: n });
    expect(index.blobCount).toBe(n);
    expect(perBlob).toBeLessThanOrEqual(64);
    expect(heap / n).toBeLessThan(2);
    for (const i of [0, 1, 4242, n - 1]) {
      const at = 12 + 64 * 33 + 4 + i * 48;
      const info = index.lookup(segment.subarray(at, at + 32));
      expect(info).toMatchObject({ packNo: i % 64, offset: i, length: 1000 + (i % 5000), rawLength: 2000 + (i % 5000) });
      expect(info?.packId).toEqual(segment.subarray(12 + (i % 64) * 33, 12 + (i % 64) * 33 + 32));
    }
    // Loading it again adds nothing: first entry wins, packs dedup.
    expect(loadIndexSegmentInto(segment, index).blobsAdded).toBe(0);
    expect(index.packCount).toBe(64);
  });

  it('maps segment pack numbers onto the index and reports supersedes', () => {
    const index = new BlobIndex();
    index.addPack(id(0x77), 1);
    const superseded = new Set<string>();
    const loaded = loadIndexSegmentInto(encodeIndexSegment(tiny), index, superseded);
    expect(loaded).toEqual({ supersedes: [id(0x11)], packs: 2, blobs: 2, blobsAdded: 2 });
    expect([...superseded]).toEqual(['11'.repeat(32)]);
    expect(index.lookup(id(0x01))).toEqual({ packNo: 1, packId: id(0xaa), type: 0, offset: 0, length: 0x01020304, rawLength: 7 });
    expect(index.lookup(id(0x02))).toMatchObject({ packNo: 2, packId: id(0xbb), type: 1 });
  });
});
