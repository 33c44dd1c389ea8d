/**
 * Key slots (docs/repository-format.md §2): each wraps the master key for a password
 * (scrypt) or a cluster key (HKDF). Any slot opens the repository.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb } from 'node:crypto';
import { currentHost, currentUser } from './host.js';
import { AAD, hkdf } from './crypto.js';
import type { Credential } from './api.js';
import { RepositoryError } from './errors.js';

export const DEFAULT_SCRYPT_N = 32768;
const SCRYPT_R = 8;
const SCRYPT_P = 1;

export interface KeySlotKdf {
  readonly name: 'scrypt' | 'hkdf-sha256';
  readonly salt: string;
  readonly N?: number;
  readonly r?: number;
  readonly p?: number;
}

export interface KeySlot {
  readonly format: 'ferry-key';
  readonly version: 1;
  readonly kind: 'password' | 'cluster';
  readonly label: string;
  readonly created: string;
  readonly host: string;
  readonly user: string;
  readonly kdf: KeySlotKdf;
  readonly wrapped: string;
}

function scrypt(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(Buffer.from(password, 'utf8'), salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

async function deriveKek(credential: Credential, kdf: KeySlotKdf): Promise<Buffer> {
  const salt = Buffer.from(kdf.salt, 'base64');
  if (credential.kind === 'password') {
    if (kdf.name !== 'scrypt') throw new Error('slot is not a password slot');
    return scrypt(credential.password, salt, kdf.N ?? DEFAULT_SCRYPT_N, kdf.r ?? SCRYPT_R, kdf.p ?? SCRYPT_P);
  }
  if (kdf.name !== 'hkdf-sha256') throw new Error('slot is not a cluster-key slot');
  if (credential.key.length !== 32) throw new RepositoryError('InvalidArgument', 'a cluster key must be exactly 32 bytes');
  return hkdf(credential.key, salt, 'ferry/v1/cluster-key-slot');
}

export interface NewSlotOptions {
  readonly credential: Credential;
  readonly master: Buffer;
  readonly repositoryId: Buffer;
  readonly label?: string;
  readonly scryptN?: number;
  readonly now: Date;
}

export async function createKeySlot(options: NewSlotOptions): Promise<KeySlot> {
  const { credential } = options;
  const salt = randomBytes(32).toString('base64');
  const kdf: KeySlotKdf =
    credential.kind === 'password'
      ? { name: 'scrypt', N: options.scryptN ?? DEFAULT_SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, salt }
      : { name: 'hkdf-sha256', salt };
  const kek = await deriveKek(credential, kdf);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(AAD.key(options.repositoryId));
  const body = Buffer.concat([cipher.update(options.master), cipher.final()]);
  return {
    format: 'ferry-key',
    version: 1,
    kind: credential.kind,
    label: options.label ?? currentHost(),
    created: options.now.toISOString(),
    host: currentHost(),
    user: currentUser(),
    kdf,
    wrapped: Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64'),
  };
}


/** Returns the master key, or undefined if this credential does not open this slot. */
export async function unwrapKeySlot(slot: KeySlot, credential: Credential, repositoryId: Buffer): Promise<Buffer | undefined> {
  if ((slot.kind === 'password') !== (credential.kind === 'password')) return undefined;
  const kek = await deriveKek(credential, slot.kdf);
  const wrapped = Buffer.from(slot.wrapped, 'base64');
  if (wrapped.length < 12 + 16) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(0, 12));
  decipher.setAAD(AAD.key(repositoryId));
  decipher.setAuthTag(wrapped.subarray(wrapped.length - 16));
  try {
    return Buffer.concat([decipher.update(wrapped.subarray(12, wrapped.length - 16)), decipher.final()]);
  } catch {
    return undefined;
  }
}

export function parseKeySlot(text: Buffer, name: string): KeySlot {
  let slot: KeySlot;
  try {
    slot = JSON.parse(text.toString('utf8')) as KeySlot;
  } catch {
    throw new RepositoryError('Corrupt', `key slot ${name} is not valid JSON`);
  }
  if (slot.format !== 'ferry-key' || slot.version !== 1 || typeof slot.wrapped !== 'string' || !slot.kdf) {
    throw new RepositoryError('Corrupt', `key slot ${name} is not a ferry key slot of version 1`);
  }
  return slot;
}
