import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { BlobCodec, BLOB_DATA, looksIncompressible } from './blob-codec.js';

const codec = new BlobCodec({ id: Buffer.alloc(32, 1), blob: Buffer.alloc(32, 2) });
const text = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(400) + JSON.stringify({ a: [1, 2, 3], b: 'ferry' }).repeat(100));

describe('compression decision', () => {
  it('skips random, already compressed and tiny data, compresses text and zeros', () => {
    expect(looksIncompressible(randomBytes(1 << 20))).toBe(true);
    expect(looksIncompressible(randomBytes(1500))).toBe(true);
    expect(looksIncompressible(gzipSync(Buffer.from(randomBytes(50_000).toString('hex'))))).toBe(true);
    expect(looksIncompressible(text)).toBe(false);
    expect(looksIncompressible(Buffer.alloc(1 << 20))).toBe(false);
  });

  it('stores compressible blobs smaller and incompressible ones at raw size plus 33 bytes', () => {
    const small = codec.encode(BLOB_DATA, text);
    expect(small.sealed.length).toBeLessThan(text.length / 4);
    const rnd = randomBytes(100_000);
    expect(codec.encode(BLOB_DATA, rnd).sealed.length).toBe(rnd.length + 33);
    for (const raw of [text, rnd, Buffer.alloc(0), Buffer.from('x')]) {
      const e = codec.encode(BLOB_DATA, raw);
      expect(codec.decode(BLOB_DATA, e.id, e.sealed)).toEqual(raw);
    }
  });

  it('detects a flipped bit, a wrong id and a truncated box', () => {
    const e = codec.encode(BLOB_DATA, text);
    const flipped = Buffer.from(e.sealed);
    flipped[40] = flipped[40]! ^ 1;
    expect(codec.decode(BLOB_DATA, e.id, flipped)).toMatch(/authentication failed/);
    expect(codec.decode(BLOB_DATA, Buffer.alloc(32), e.sealed)).toMatch(/authentication failed/);
    expect(codec.decode(BLOB_DATA, e.id, e.sealed.subarray(0, 20))).toMatch(/authentication failed/);
  });
});
