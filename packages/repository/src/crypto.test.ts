import { describe, expect, it } from 'vitest';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { open, openSplit, seal, SALT_BYTES } from './crypto.js';

const key = Buffer.alloc(32, 7);
const aad = Buffer.from('aad');

/** The box as one whole-input update() makes it: what the format defines. */
function reference(body: Buffer, salt: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', createHmac('sha256', key).update(salt).digest(), Buffer.alloc(12));
  cipher.setAAD(aad);
  const ct = cipher.update(body);
  cipher.final();
  return Buffer.concat([salt, ct, cipher.getAuthTag()]);
}

describe('sliced seal and open', () => {
  // Sizes around the 64 KiB slice and a part boundary inside a slice.
  const sizes = [0, 1, 65_535, 65_536, 65_537, 3 * 65_536 + 5, 1_048_576 + 3];

  it('seals exactly what one whole update seals, however the parts are split', () => {
    const salt = Buffer.alloc(SALT_BYTES, 9);
    for (const n of sizes) {
      const body = randomBytes(n);
      const cut = Math.floor(n / 3);
      const sealed = seal(key, aad, [body.subarray(0, cut), body.subarray(cut)], salt);
      expect(sealed.equals(reference(body, salt)), `size ${n}`).toBe(true);
    }
  });

  it('opens into head and body, and refuses a tampered box', () => {
    for (const n of sizes.filter((s) => s > 0)) {
      const body = randomBytes(n);
      const sealed = seal(key, aad, [body]);
      const split = openSplit(key, aad, sealed, 1);
      expect(split?.head.equals(body.subarray(0, 1))).toBe(true);
      expect(split?.body.equals(body.subarray(1))).toBe(true);
      expect(open(key, aad, sealed)?.equals(body)).toBe(true);
      sealed[sealed.length - 20]! ^= 1;
      expect(open(key, aad, sealed)).toBeUndefined();
    }
  });

  it('gives a large opened body an ArrayBuffer of its own, so a worker can transfer it', () => {
    const body = randomBytes(200_000);
    const opened = openSplit(key, aad, seal(key, aad, [body]), 1)!;
    expect(opened.body.byteOffset).toBe(0);
    expect(opened.body.buffer.byteLength).toBe(body.length - 1);
  });

  it('gives every box its own salt, across the refills of the salt supply, and each box still opens', () => {
    const body = Buffer.from('the same plaintext every time');
    const boxes = Array.from({ length: 1000 }, () => seal(key, aad, [body]));
    expect(new Set(boxes.map((b) => b.subarray(0, SALT_BYTES).toString('hex'))).size).toBe(boxes.length);
    for (const b of boxes) expect(open(key, aad, b)?.equals(body)).toBe(true);
  });
});
