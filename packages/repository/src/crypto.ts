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
 * Seals `parts` (concatenated) into salt || ciphertext || tag. The per-box key is
 * HMAC(key, salt), so the fixed nonce never repeats under one key. `salt` is injectable
 * only so golden tests can pin the layout.
 */
export function seal(key: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[], salt = randomBytes(SALT_BYTES)): Buffer {
  const cipher = createCipheriv('aes-256-gcm', hmac(key, salt), ZERO_NONCE);
  cipher.setAAD(aad);
  const body = parts.map((p) => cipher.update(p));
  cipher.final();
  return Buffer.concat([salt, ...body, cipher.getAuthTag()]);
}

/** Opens a sealed box; returns undefined when authentication fails (wrong key, tampered, wrong aad). */
export function open(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < SEAL_OVERHEAD) return undefined;
  const box = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const salt = box.subarray(0, SALT_BYTES);
  const tag = box.subarray(box.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', hmac(key, salt), ZERO_NONCE);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const plain = decipher.update(box.subarray(SALT_BYTES, box.length - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return plain;
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
