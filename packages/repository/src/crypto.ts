/**
 * Key derivation, content ids and sealed boxes (docs/repository-format.md §2–§4).
 * Pure functions (HKDF from node:crypto, the per-box work in @ferry/native) that the worker
 * threads run too.
 */
import { hkdfSync } from 'node:crypto';
import { hmacSha256, openBox, openBoxHashing, randomFill, sealBox } from '@ferry/native';

export const KEY_BYTES = 32;
export const MASTER_KEY_BYTES = 64;
export const SALT_BYTES = 16;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD = SALT_BYTES + TAG_BYTES;

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
  return hmacSha256(key, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
}

export function contentId(idKey: Uint8Array, plaintext: Uint8Array): Buffer {
  return hmacSha256(idKey, plaintext);
}

/**
 * Salts are drawn from the DRBG 256 at a time: one RAND_bytes call per salt cost 7 us in a
 * busy worker, a third of sealing a 10 kB blob. Every refill is a new buffer and every salt
 * a distinct slice of it, so no salt is ever handed out twice.
 */
const SALTS_PER_DRAW = 256;
let salts = Buffer.alloc(0);
let saltAt = 0;

function freshSalt(): Buffer {
  if (saltAt === salts.length) {
    salts = Buffer.allocUnsafeSlow(SALT_BYTES * SALTS_PER_DRAW);
    randomFill(salts);
    saltAt = 0;
  }
  return salts.subarray(saltAt, (saltAt += SALT_BYTES));
}

const EMPTY = Buffer.alloc(0);

/**
 * Seals `parts` (concatenated) into salt || ciphertext || tag. The per-box key is
 * HMAC(key, salt), so the fixed nonce never repeats under one key. `salt` is injectable
 * only so golden tests can pin the layout. One native call (@ferry/native sealBox):
 * node:crypto cost five objects per box and 64 KiB slices copied into the output.
 */
export function seal(key: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[], salt: Uint8Array = freshSalt()): Buffer {
  const [head, body] = parts.length <= 2 ? [parts[0] ?? EMPTY, parts[1] ?? EMPTY] : [EMPTY, Buffer.concat(parts)];
  // Boxes above the Buffer pool's limit get an ArrayBuffer of their own, so a worker can transfer them.
  const out = Buffer.allocUnsafe(SALT_BYTES + head.length + body.length + TAG_BYTES);
  sealBox({ key, salt, aad, head, body, out });
  return out;
}

/** An opened box split in two: the first `headLength` plaintext bytes and the rest. */
export interface OpenedBox {
  readonly head: Buffer;
  /** Owns its whole ArrayBuffer when large enough to leave the Buffer pool (transferable), unless opened into a scratch buffer. */
  readonly body: Buffer;
  /** HMAC-SHA-256 of the body, when OpenOptions.hash asked for it and the head byte matched. */
  readonly bodyHmac?: Buffer;
}

/**
 * Opens a sealed box into `head` (its first `headLength` bytes) and `body`, so a caller
 * that strips a header gets the rest without another copy; undefined when authentication
 * fails (wrong key, tampered, wrong aad).
 */
export function openSplit(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array, headLength: number, options: OpenOptions = {}): OpenedBox | undefined {
  const plain = sealed.length - SEAL_OVERHEAD;
  if (plain < headLength) return undefined;
  const head = Buffer.allocUnsafe(headLength);
  const { scratch, hash } = options;
  const body = scratch && scratch.length >= plain - headLength ? scratch.subarray(0, plain - headLength) : Buffer.allocUnsafe(plain - headLength);
  if (!hash) return openBox({ key, aad, sealed, head, body }) ? { head, body } : undefined;
  const idOut = Buffer.allocUnsafe(32);
  const res = openBoxHashing({ key, aad, sealed, head, body, idKey: hash.key, idOut, hashIfHead: hash.ifHead });
  if (res === 'failed') return undefined;
  return res === 'hashed' ? { head, body, bodyHmac: idOut } : { head, body };
}

export interface OpenOptions {
  /** A buffer the body is opened into when it is large enough (the body is then a view of it). */
  readonly scratch?: Buffer;
  /** Also computes HMAC-SHA-256(key, body) in the same pass, when the first plaintext byte is `ifHead`. */
  readonly hash?: { readonly key: Uint8Array; readonly ifHead: number };
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
