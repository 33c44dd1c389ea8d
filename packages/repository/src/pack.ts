/**
 * Pack layout (docs/repository-format.md §5): blobs || sealed header || u32le header length.
 * The pack id is SHA-256 of the sealed header.
 */
import { createHash } from 'node:crypto';
import type { BlobStore } from '@ferry/blobstore';
import { AAD, open, seal } from './crypto.js';
import type { BlobType } from './blob-codec.js';

const MAGIC = Buffer.from('FPK1');
const ENTRY_BYTES = 1 + 32 + 4 + 4 + 4;

export interface PackEntry {
  readonly type: BlobType;
  readonly id: Buffer;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
}

export interface FinishedPack {
  readonly id: Buffer;
  /** The pack's bytes as its parts in order (blobs, header, trailer): written out without joining. */
  readonly parts: readonly Buffer[];
  readonly size: number;
  readonly entries: readonly PackEntry[];
}

export class PackBuilder {
  private readonly parts: Buffer[] = [];
  private readonly entries: PackEntry[] = [];
  private bytes = 0;

  constructor(readonly type: BlobType) {}

  get size(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries.length;
  }

  /** Appends a sealed blob; returns where it will sit in the pack. */
  add(id: Buffer, sealed: Buffer, rawLength: number): PackEntry {
    const entry: PackEntry = { type: this.type, id, offset: this.bytes, length: sealed.length, rawLength };
    this.parts.push(sealed);
    this.entries.push(entry);
    this.bytes += sealed.length;
    return entry;
  }

  finish(objectKey: Buffer): FinishedPack {
    const header = seal(objectKey, AAD.packHeader, [encodeHeader(this.entries)]);
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32LE(header.length);
    const id = createHash('sha256').update(header).digest();
    const parts = [...this.parts, header, trailer];
    return { id, parts, size: this.bytes + header.length + trailer.length, entries: this.entries };
  }
}

function encodeHeader(entries: readonly PackEntry[]): Buffer {
  const out = Buffer.alloc(MAGIC.length + 4 + entries.length * ENTRY_BYTES);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(entries.length, 4);
  let p = 8;
  for (const e of entries) {
    out[p] = e.type;
    e.id.copy(out, p + 1);
    out.writeUInt32LE(e.offset, p + 33);
    out.writeUInt32LE(e.length, p + 37);
    out.writeUInt32LE(e.rawLength, p + 41);
    p += ENTRY_BYTES;
  }
  return out;
}

/** Result of reading a pack's trailer: entries, or why the pack is unreadable. */
export type PackHeaderResult = { readonly ok: true; readonly entries: PackEntry[] } | { readonly ok: false; readonly problem: string };

/** Decodes a sealed pack header (the bytes before the 4-byte length trailer). */
export function decodePackHeader(objectKey: Buffer, sealedHeader: Buffer, packSize: number): PackHeaderResult {
  const plain = open(objectKey, AAD.packHeader, sealedHeader);
  if (!plain) return { ok: false, problem: 'pack header fails authentication' };
  if (plain.length < 8 || !plain.subarray(0, 4).equals(MAGIC)) return { ok: false, problem: 'pack header has no FPK1 magic' };
  const n = plain.readUInt32LE(4);
  if (plain.length !== 8 + n * ENTRY_BYTES) return { ok: false, problem: 'pack header length does not match its entry count' };
  const limit = packSize - sealedHeader.length - 4;
  const entries: PackEntry[] = [];
  for (let i = 0, p = 8; i < n; i++, p += ENTRY_BYTES) {
    const type = plain[p];
    const entry = { type: type as BlobType, id: Buffer.from(plain.subarray(p + 1, p + 33)), offset: plain.readUInt32LE(p + 33), length: plain.readUInt32LE(p + 37), rawLength: plain.readUInt32LE(p + 41) };
    if ((type !== 0 && type !== 1) || entry.offset + entry.length > limit) return { ok: false, problem: `pack header entry ${i} is out of range` };
    entries.push(entry);
  }
  return { ok: true, entries };
}

export function packKey(id: Buffer | string): string {
  const hex = typeof id === 'string' ? id : id.toString('hex');
  return `data/${hex.slice(0, 2)}/${hex}`;
}

/** Reads and decodes the header of a stored pack of `size` bytes (two ranged reads). */
export async function readPackHeader(
  store: BlobStore,
  objectKey: Buffer,
  key: string,
  size: number,
  signal?: AbortSignal,
): Promise<PackHeaderResult> {
  if (size < 4 + 32) return { ok: false, problem: `pack is only ${size} bytes` };
  const trailer = await store.get(key, { range: { offset: size - 4, length: 4 }, signal });
  const headerLength = trailer.readUInt32LE(0);
  if (headerLength + 4 > size) return { ok: false, problem: `pack header length ${headerLength} exceeds the pack` };
  const header = await store.get(key, { range: { offset: size - 4 - headerLength, length: headerLength }, signal });
  return decodePackHeader(objectKey, header, size);
}

export function packIdFromKey(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
