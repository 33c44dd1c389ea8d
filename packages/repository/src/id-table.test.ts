import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ID_LENGTH, IdTable } from './id-table.js';

describe('IdTable', () => {
  it('finds 1,000,000 random ids and no absent ones, in a few dozen bytes each', () => {
    const n = 1_000_000;
    const ids = randomBytes(n * ID_LENGTH);
    const table = new IdTable({ recordSize: 40 });
    let misplaced = 0;
    for (let i = 0; i < n; i++) {
      const index = table.add(ids, i * ID_LENGTH);
      if (index !== i) misplaced++;
      table.records.writeUInt32LE(i ^ 0x5a5a5a5a, table.recordOffset(index) + ID_LENGTH);
    }
    expect(misplaced).toBe(0);
    expect(table.size).toBe(n);
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      const index = table.find(ids, i * ID_LENGTH);
      if (index !== i || table.records.readUInt32LE(table.recordOffset(index) + ID_LENGTH) !== (i ^ 0x5a5a5a5a) >>> 0) wrong++;
    }
    expect(wrong).toBe(0);
    const absent = randomBytes(100_000 * ID_LENGTH);
    let found = 0;
    for (let i = 0; i < 100_000; i++) if (table.find(absent, i * ID_LENGTH) >= 0) found++;
    expect(found).toBe(0);
    const perEntry = table.bytesUsed() / n;
    console.log(`IdTable: ${perEntry.toFixed(1)} bytes per entry for 40-byte records (grown, not reserved)`);
    // 40-byte records grown by 1.5x plus 2^21 slots.
    expect(perEntry).toBeLessThan(40 * 1.5 + 17);
  });

  it('keeps the first record for an id and reports the duplicate with -1', () => {
    const table = new IdTable({ recordSize: 33 });
    const record = Buffer.concat([randomBytes(32), Buffer.from([7])]);
    expect(table.addRecord(record)).toBe(0);
    const again = Buffer.from(record);
    again[32] = 9;
    expect(table.addRecord(again)).toBe(-1);
    expect(table.add(record)).toBe(-1);
    expect(table.size).toBe(1);
    expect(table.records[table.recordOffset(0) + 32]).toBe(7);
    expect(table.idAt(0).equals(record.subarray(0, 32))).toBe(true);
  });

  it('adds with zeroed payload and reads ids at an offset', () => {
    const table = new IdTable({ recordSize: 48 });
    const framed = Buffer.concat([Buffer.from('xyz'), randomBytes(32)]);
    const index = table.add(framed, 3);
    expect(table.find(framed.subarray(3))).toBe(index);
    expect(table.find(framed, 3)).toBe(index);
    expect(table.records.subarray(32, 48).equals(Buffer.alloc(16))).toBe(true);
  });

  it('holds unindexed records until published, and publish dedups', () => {
    const table = new IdTable({ recordSize: 33 });
    const a = table.appendUnindexed();
    const id = randomBytes(32);
    expect(table.find(id)).toBe(-1);
    id.copy(table.records, table.recordOffset(a));
    expect(table.find(id)).toBe(-1);
    expect(table.publish(a)).toBe(a);
    expect(table.find(id)).toBe(a);
    const b = table.appendUnindexed();
    id.copy(table.records, table.recordOffset(b));
    expect(table.publish(b)).toBe(a);
    expect(table.size).toBe(2);
    expect(() => table.publish(5)).toThrow(RangeError);
  });

  it('survives growth across many rehashes, including with reserve', () => {
    const table = new IdTable({ recordSize: 32, capacity: 1 });
    const ids = randomBytes(5000 * 32);
    for (let i = 0; i < 2500; i++) table.add(ids, i * 32);
    table.reserve(5000);
    const reserved = table.bytesUsed();
    for (let i = 2500; i < 5000; i++) table.add(ids, i * 32);
    expect(table.bytesUsed()).toBe(reserved);
    for (let i = 0; i < 5000; i++) expect(table.find(ids, i * 32)).toBe(i);
    table.trim();
    expect(table.records.length).toBe(5000 * 32);
    for (let i = 0; i < 5000; i++) expect(table.find(ids, i * 32)).toBe(i);
    expect(table.add(ids, 0)).toBe(-1);
    expect(table.add(randomBytes(32))).toBe(5000);
  });

  it('rejects a record size that cannot hold the id', () => {
    expect(() => new IdTable({ recordSize: 31 })).toThrow(/recordSize/);
  });
});
