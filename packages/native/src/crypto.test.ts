import { describe, expect, it } from 'vitest';
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { entropyBits, hmacSha256, openBox, openBoxHashing, randomFill, sealBox } from './index.js';

// The reference: the same construction written with node:crypto (docs/repository-format.md §3).
function referenceSeal(key: Buffer, salt: Buffer, aad: Buffer, plain: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', createHmac('sha256', key).update(salt).digest(), Buffer.alloc(12));
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([salt, body, cipher.getAuthTag()]);
}

function nativeSeal(key: Buffer, salt: Buffer, aad: Buffer, head: Buffer, body: Buffer): Buffer {
  const out = Buffer.alloc(32 + head.length + body.length);
  sealBox({ key, salt, aad, head, body, out });
  return out;
}

describe('box cryptography through Node\'s OpenSSL', () => {
  const key = randomBytes(32);
  const aad = Buffer.from('ferry-blob-v1-test');

  it('HMAC-SHA-256 equals node:crypto for empty, small and multi-megabyte input', () => {
    for (const n of [0, 1, 8191, 3 * 1024 * 1024 + 7]) {
      const data = randomBytes(n);
      expect(hmacSha256(key, data).equals(createHmac('sha256', key).update(data).digest())).toBe(true);
    }
  });

  it('seals byte for byte as the node:crypto construction, and each side opens the other\'s boxes', () => {
    for (const [h, b] of [[0, 0], [1, 0], [1, 65_536 * 3 + 5], [0, 2 * 1024 * 1024]] as const) {
      const head = randomBytes(h);
      const body = randomBytes(b);
      const salt = randomBytes(16);
      const sealed = nativeSeal(key, salt, aad, head, body);
      const reference = referenceSeal(key, salt, aad, Buffer.concat([head, body]));
      expect(sealed.equals(reference)).toBe(true);
      const outHead = Buffer.alloc(h);
      const outBody = Buffer.alloc(b);
      expect(openBox({ key, aad, sealed: reference, head: outHead, body: outBody })).toBe(true);
      expect(outHead.equals(head) && outBody.equals(body)).toBe(true);
      const d = createDecipheriv('aes-256-gcm', createHmac('sha256', key).update(salt).digest(), Buffer.alloc(12));
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      expect(Buffer.concat([d.update(sealed.subarray(16, sealed.length - 16)), d.final()]).equals(Buffer.concat([head, body]))).toBe(true);
    }
  });

  it('refuses a changed byte, a wrong key or a wrong aad, and zeroes what it decrypted', () => {
    const body = Buffer.alloc(100_000, 0x5a);
    const sealed = nativeSeal(key, randomBytes(16), aad, Buffer.from([1]), body);
    const cases = [
      { key, aad, sealed: Buffer.from(sealed).fill(0xff, 5000, 5001) },
      { key, aad, sealed: Buffer.from(sealed).fill(0x00, sealed.length - 1) },
      { key: randomBytes(32), aad, sealed },
      { key, aad: Buffer.from('other'), sealed },
    ];
    for (const c of cases) {
      const head = Buffer.alloc(1, 0xee);
      const out = Buffer.alloc(body.length, 0xee);
      expect(openBox({ ...c, head, body: out })).toBe(false);
      expect(head[0]).toBe(0);
      expect(out.every((x) => x === 0)).toBe(true);
    }
  });

  it('hashes the body in the same pass when the head byte matches, and only then', () => {
    const idKey = randomBytes(32);
    for (const n of [0, 1, 65_536, 65_536 * 5 + 3, 3 * 1024 * 1024]) {
      const body = randomBytes(n);
      const sealed = nativeSeal(key, randomBytes(16), aad, Buffer.from([0]), body);
      const [head, out, idOut] = [Buffer.alloc(1), Buffer.alloc(n), Buffer.alloc(32, 0xee)];
      expect(openBoxHashing({ key, aad, sealed, head, body: out, idKey, idOut, hashIfHead: 0 })).toBe('hashed');
      expect(out.equals(body)).toBe(true);
      expect(idOut.equals(createHmac('sha256', idKey).update(body).digest())).toBe(true);
      const untouched = Buffer.alloc(32, 0xee);
      expect(openBoxHashing({ key, aad, sealed, head, body: out, idKey, idOut: untouched, hashIfHead: 1 })).toBe('opened');
      expect(untouched.every((x) => x === 0xee)).toBe(true);
    }
    // A key longer than the SHA-256 block is hashed first, as HMAC says.
    const longKey = randomBytes(100);
    const body = randomBytes(1000);
    const sealed = nativeSeal(key, randomBytes(16), aad, Buffer.from([7]), body);
    const idOut = Buffer.alloc(32);
    expect(openBoxHashing({ key, aad, sealed, head: Buffer.alloc(1), body: Buffer.alloc(1000), idKey: longKey, idOut, hashIfHead: 7 })).toBe('hashed');
    expect(idOut.equals(createHmac('sha256', longKey).update(body).digest())).toBe(true);
  });

  it('hashing or not, a changed byte fails the box, zeroes the output and leaves the id alone', () => {
    const body = randomBytes(200_000);
    const sealed = nativeSeal(key, randomBytes(16), aad, Buffer.from([0]), body);
    sealed[100_000]! ^= 1;
    const [head, out, idOut] = [Buffer.alloc(1), Buffer.alloc(body.length), Buffer.alloc(32, 0xee)];
    expect(openBoxHashing({ key, aad, sealed, head, body: out, idKey: key, idOut, hashIfHead: 0 })).toBe('failed');
    expect(out.every((x) => x === 0) && head[0] === 0).toBe(true);
    expect(idOut.every((x) => x === 0xee)).toBe(true);
  });

  it('rejects output buffers of the wrong size instead of writing past them', () => {
    expect(() => sealBox({ key, salt: randomBytes(16), aad, head: Buffer.alloc(1), body: Buffer.alloc(10), out: Buffer.alloc(42) })).toThrow(/32 bytes longer/);
    expect(() => sealBox({ key, salt: randomBytes(8), aad, head: Buffer.alloc(1), body: Buffer.alloc(10), out: Buffer.alloc(43) })).toThrow(TypeError);
    const sealed = nativeSeal(key, randomBytes(16), aad, Buffer.alloc(0), Buffer.alloc(10));
    expect(() => openBox({ key, aad, sealed, head: Buffer.alloc(0), body: Buffer.alloc(11) })).toThrow(/32 bytes shorter/);
    expect(() => openBox({ key, aad, sealed: Buffer.alloc(20), head: Buffer.alloc(0), body: Buffer.alloc(0) })).toThrow(TypeError);
    expect(() => openBoxHashing({ key, aad, sealed, head: Buffer.alloc(0), body: Buffer.alloc(10), idKey: key, idOut: Buffer.alloc(31), hashIfHead: 0 })).toThrow(TypeError);
  });

  it('fills random bytes that differ between calls', () => {
    const a = Buffer.alloc(32);
    const b = Buffer.alloc(32);
    randomFill(a);
    randomFill(b);
    expect(a.equals(b)).toBe(false);
    expect(a.equals(Buffer.alloc(32))).toBe(false);
  });

  it('counts order-0 entropy: 0 for one repeated byte, 8 for all byte values equally, near 8 for random data', () => {
    expect(entropyBits(Buffer.alloc(4096, 7), 4096)).toBe(0);
    expect(entropyBits(Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256)), 512)).toBeCloseTo(8, 10);
    expect(entropyBits(Buffer.from([1, 2]), 4096)).toBeCloseTo(1, 10);
    expect(entropyBits(Buffer.concat([Buffer.alloc(10, 1), randomBytes(4096)]), 10)).toBe(0);
    expect(entropyBits(randomBytes(4096), 4096)).toBeGreaterThan(7.9);
  });
});
