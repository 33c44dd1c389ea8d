/**
 * Key derivation, content ids and sealed boxes (docs/repository-format.md §2–§4).
 * Pure functions over node:crypto so the worker threads can run them too.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;
export const MASTER_KEY_BYTES = 64;
export const SALT_BYTES = 16;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD = SALT_BYTES + TAG_BYTES;
const ZERO_NONCE = Buffer.alloc(12);

export interface Subkeys {
  readonly id: Buffer;
  readonly gear: Buffer;
  readonly blob: Buffer;
  readonly object: Buffer;
  readonly config: Buffer;
}

const LABELS: Record<keyof Subkeys, string> = {
  id: 'ferry/v1/content-id',
  gear: 'ferry/v1/chunker-gear',
  blob: 'ferry/v1/blob-encryption',
  object: 'ferry/v1/object-encryption',
  config: 'ferry/v1/config-mac',
};

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'utf8'), KEY_BYTES));
}

export function deriveSubkeys(master: Uint8Array, repositoryId: Uint8Array): Subkeys {
  const derive = (label: string): Buffer => hkdf(master, repositoryId, label);
  return {
    id: derive(LABELS.id),
    gear: derive(LABELS.gear),
    blob: derive(LABELS.blob),
    object: derive(LABELS.object),
    config: derive(LABELS.config),
  };
}

export function hmac(key: Uint8Array, data: Uint8Array | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function contentId(idKey: Uint8Array, plaintext: Uint8Array): Buffer {
  return hmac(idKey, plaintext);
}

/**
 * OpenSSL's AES-GCM through node:crypto is several times faster on 64 KiB inputs than on
 * megabytes (each update() allocates its output, and large outputs miss every cache), so
 * boxes are sealed and opened in slices of this size, copied into one exact-size buffer.
 */
const SLICE_BYTES = 64 * 1024;

type Stream = { update(data: Uint8Array): Buffer };

/** Runs `input` through the cipher in slices, writing the output at out[at..]; returns the end. */
function pipeSliced(stream: Stream, input: Uint8Array, out: Buffer, at: number): number {
  for (let from = 0; from < input.length; from += SLICE_BYTES) {
    const piece = stream.update(input.subarray(from, Math.min(input.length, from + SLICE_BYTES)));
    out.set(piece, at);
    at += piece.length;
  }
  return at;
}

/**
 * Seals `parts` (concatenated) into salt || ciphertext || tag. The per-box key is
 * HMAC(key, salt), so the fixed nonce never repeats under one key. `salt` is injectable
 * only so golden tests can pin the layout.
 */
export function seal(key: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[], salt = randomBytes(SALT_BYTES)): Buffer {
  const cipher = createCipheriv('aes-256-gcm', hmac(key, salt), ZERO_NONCE);
  cipher.setAAD(aad);
  const bodyLength = parts.reduce((n, p) => n + p.length, 0);
  // Boxes above the Buffer pool's limit get an ArrayBuffer of their own, so a worker can transfer them.
  const out = Buffer.allocUnsafe(SALT_BYTES + bodyLength + TAG_BYTES);
  out.set(salt, 0);
  let at = SALT_BYTES;
  for (const p of parts) at = pipeSliced(cipher, p, out, at);
  cipher.final();
  out.set(cipher.getAuthTag(), at);
  return out;
}

/** An opened box split in two: the first `headLength` plaintext bytes and the rest. */
export interface OpenedBox {
  readonly head: Buffer;
  /** Owns its whole ArrayBuffer when large enough to leave the Buffer pool (transferable). */
  readonly body: Buffer;
}

/**
 * Opens a sealed box into `head` (its first `headLength` bytes) and `body`, so a caller
 * that strips a header gets the rest without another copy; undefined when authentication
 * fails (wrong key, tampered, wrong aad).
 */
export function openSplit(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array, headLength: number): OpenedBox | undefined {
  if (sealed.length < SEAL_OVERHEAD) return undefined;
  const box = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const salt = box.subarray(0, SALT_BYTES);
  const tag = box.subarray(box.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', hmac(key, salt), ZERO_NONCE);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const cipherText = box.subarray(SALT_BYTES, box.length - TAG_BYTES);
  const head = headLength > 0 ? decipher.update(cipherText.subarray(0, headLength)) : Buffer.alloc(0);
  const rest = cipherText.subarray(headLength);
  const body = Buffer.allocUnsafe(rest.length);
  pipeSliced(decipher, rest, body, 0);
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return { head, body };
}

/** Opens a sealed box; returns undefined when authentication fails (wrong key, tampered, wrong aad). */
export function open(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  return openSplit(key, aad, sealed, 0)?.body;
}

export const AAD = {
  packHeader: Buffer.from('ferry-pack-header-v1'),
  index: Buffer.from('ferry-index-v1'),
  snapshot: Buffer.from('ferry-snapshot-v1'),
  blob(type: number, id: Uint8Array): Buffer {
    return Buffer.concat([Buffer.from('ferry-blob-v1'), Buffer.from([type]), id]);
  },
  key(repositoryId: Uint8Array): Buffer {
    return Buffer.concat([Buffer.from('ferry-key-v1'), repositoryId]);
  },
} as const;
