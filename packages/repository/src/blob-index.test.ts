import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlobIndex } from './blob-index.js';
import { FormatError, decodeIndexSegment, encodeIndexSegment, loadIndexSegmentInto } from './index-segment.js';

const id = (byte: number) => Buffer.alloc(32, byte);
const at = (packNo: number, offset = 0) => ({ packNo, offset, length: 100 + offset, rawLength: 200 + offset });

describe('BlobIndex', () => {
  it('deduplicates packs by id and refuses one id with two types', () => {
    const index = new BlobIndex();
    expect(index.addPack(id(1), 0)).toBe(0);
    expect(index.addPack(id(2), 1)).toBe(1);
    expect(index.addPack(id(1), 0)).toBe(0);
    expect(index.packCount).toBe(2);
    expect(index.findPack(id(2))).toBe(1);
    expect(index.findPack(id(3))).toBe(-1);
    expect(() => index.addPack(id(1), 1)).toThrow(FormatError);
    expect(() => index.addPack(id(4), 2 as 0)).toThrow(RangeError);
  });

  it('adds and looks up blobs, first entry wins, type from the pack', () => {
    const index = new BlobIndex();
    const data = index.addPack(id(0xd0), 0);
    const tree = index.addPack(id(0x70), 1);
    expect(index.add(id(1), at(data, 10))).toBe(true);
    expect(index.add(id(2), at(tree, 20))).toBe(true);
    expect(index.add(id(1), at(tree, 99))).toBe(false);
    expect(index.has(id(1))).toBe(true);
    expect(index.has(id(3))).toBe(false);
    expect(index.lookup(id(3))).toBeUndefined();
    expect(index.lookup(id(1))).toEqual({ packNo: data, packId: id(0xd0), type: 0, offset: 10, length: 110, rawLength: 210 });
    expect(index.lookup(id(2))).toEqual({ packNo: tree, packId: id(0x70), type: 1, offset: 20, length: 120, rawLength: 220 });
    expect(index.blobCount).toBe(2);
    expect(() => index.add(id(4), at(7))).toThrow(/no pack number 7/);
    expect(() => index.add(id(4), { ...at(data), offset: -1 })).toThrow(RangeError);
  });

  it('holds blobs in a provisional pack until its id is known', () => {
    const index = new BlobIndex();
    const packNo = index.reservePack(1);
    index.add(id(5), at(packNo));
    expect(index.has(id(5))).toBe(true);
    expect(index.lookup(id(5))).toMatchObject({ packNo, packId: undefined, type: 1 });
    expect([...index.packs()]).toEqual([{ packNo, id: undefined, type: 1 }]);
    index.setPackId(packNo, id(0xee));
    expect(index.lookup(id(5))).toMatchObject({ packNo, packId: id(0xee), type: 1 });
    expect(index.findPack(id(0xee))).toBe(packNo);
    expect(index.addPack(id(0xee), 1)).toBe(packNo);
    expect(() => index.setPackId(packNo, id(0xef))).toThrow(/already has an id/);
    const other = index.reservePack(0);
    expect(() => index.setPackId(other, id(0xee))).toThrow(/already indexed/);
    expect(index.packId(other)).toBeUndefined();
    expect(() => index.setPackId(99, id(1))).toThrow(RangeError);
  });

  it('iterates packs and the blobs of a set of packs', () => {
    const index = new BlobIndex();
    const packs = [index.addPack(id(0xa0), 0), index.addPack(id(0xa1), 0), index.addPack(id(0xa2), 1)];
    for (let i = 0; i < 30; i++) index.add(id(i), at(packs[i % 3]!, i));
    expect([...index.packs()].map((p) => [p.packNo, p.id?.[0], p.type])).toEqual([
      [0, 0xa0, 0],
      [1, 0xa1, 0],
      [2, 0xa2, 1],
    ]);
    const some = [...index.blobs(new Set([0, 2]))];
    expect(some).toHaveLength(20);
    expect(some.every((b) => b.packNo !== 1 && b.id[0]! % 3 === b.packNo && b.offset === b.id[0])).toBe(true);
    expect(some.find((b) => b.id.equals(id(2)))).toEqual({ id: id(2), packId: id(0xa2), type: 1, ...at(2, 2) });
    expect([...index.blobs()]).toHaveLength(30);
  });

  it('merges decoded segments with pack numbers remapped, like loadIndexSegmentInto', () => {
    const packs = Array.from({ length: 3 }, (_, i) => ({ id: randomBytes(32), type: (i % 2) as 0 | 1 }));
    const blobs = Array.from({ length: 500 }, (_, i) => ({ id: randomBytes(32), ...at(i % 3, i) }));
    const segment = encodeIndexSegment({ supersedes: [], packs, blobs });
    const viaMerge = new BlobIndex();
    const viaLoad = new BlobIndex();
    for (const index of [viaMerge, viaLoad]) index.addPack(id(0x99), 0);
    expect(viaMerge.merge(decodeIndexSegment(segment))).toEqual({ blobsAdded: 500 });
    expect(loadIndexSegmentInto(segment, viaLoad).blobsAdded).toBe(500);
    for (const blob of blobs) {
      const expected = { packNo: blob.packNo + 1, packId: packs[blob.packNo]!.id, type: packs[blob.packNo]!.type };
      expect(viaMerge.lookup(blob.id)).toEqual({ ...expected, offset: blob.offset, length: blob.length, rawLength: blob.rawLength });
      expect(viaLoad.lookup(blob.id)).toEqual(viaMerge.lookup(blob.id));
    }
    expect(viaMerge.merge(decodeIndexSegment(segment))).toEqual({ blobsAdded: 0 });
    expect(() => viaMerge.merge({ supersedes: [], packs: [], blobs: [{ id: id(1), ...at(0) }] })).toThrow(FormatError);
  });

  it('reports its memory and trims spare capacity', () => {
    const index = new BlobIndex({ expectedBlobs: 10_000 });
    const packNo = index.addPack(id(1), 0);
    for (let i = 0; i < 1000; i++) index.add(randomBytes(32), at(packNo, i));
    const reserved = index.bytesUsed();
    expect(reserved).toBeGreaterThanOrEqual(10_000 * 48);
    index.trim();
    expect(index.bytesUsed()).toBeLessThan(reserved);
    expect(index.blobCount).toBe(1000);
    expect([...index.blobs()].every((b) => b.packId?.equals(id(1)))).toBe(true);
  });
});
