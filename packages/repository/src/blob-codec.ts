/**
 * Turns a raw blob into its stored form and back (docs/repository-format.md §5):
 * id = HMAC(K_id, raw); plaintext = u8 encoding || body; sealed with K_blob.
 * Runs in the worker threads for data and on the main thread for trees.
 */
import { Decoder, Encoder } from '@toondepauw/node-zstd';
import { entropyBits } from '@ferry/native';
import { AAD, contentId, openSplit, seal } from './crypto.js';

export const BLOB_DATA = 0;
export const BLOB_TREE = 1;
export type BlobType = typeof BLOB_DATA | typeof BLOB_TREE;

const ENCODING_RAW = 0;
const ENCODING_ZSTD = 1;
const PROBE_BYTES = 64 * 1024;
/** Compression must save at least this share of the probe to be used. */
const MIN_SAVING = 0.03;
const ZSTD_LEVEL = 3;

export interface BlobKeys {
  readonly id: Buffer;
  readonly blob: Buffer;
}

export interface EncodedBlob {
  readonly id: Buffer;
  readonly sealed: Buffer;
  readonly rawLength: number;
}

export class BlobCodec {
  private readonly encoder = new Encoder(ZSTD_LEVEL);
  private readonly decoder = new Decoder();

  constructor(private readonly keys: BlobKeys) {}

  id(raw: Uint8Array): Buffer {
    return contentId(this.keys.id, raw);
  }

  encode(type: BlobType, raw: Buffer, id = this.id(raw)): EncodedBlob {
    const compressed = this.compressIfItPays(raw);
    const header = Buffer.from([compressed ? ENCODING_ZSTD : ENCODING_RAW]);
    const sealed = seal(this.keys.blob, AAD.blob(type, id), [header, compressed ?? raw]);
    return { id, sealed, rawLength: raw.length };
  }

  /**
   * Returns the verified raw blob, or a string saying what is wrong with it. With `scratch`,
   * a blob stored raw is opened into it when it fits, and the result is a view of it (valid
   * until the caller reuses the scratch): for a caller that writes the blob out and drops it.
   */
  decode(type: BlobType, id: Buffer, sealed: Uint8Array, scratch?: Buffer): Buffer | string {
    // A raw blob's id is checked in the same pass that decrypts it, while its bytes are in cache.
    const plain = openSplit(this.keys.blob, AAD.blob(type, id), sealed, 1, { scratch, hash: { key: this.keys.id, ifHead: ENCODING_RAW } });
    if (plain === undefined) return 'authentication failed (damaged or not this blob)';
    const encoding = plain.head[0];
    const body = plain.body;
    let raw: Buffer;
    if (encoding === ENCODING_RAW) raw = body;
    else if (encoding === ENCODING_ZSTD) {
      try {
        raw = this.decoder.decodeSync(body);
      } catch (err) {
        return `zstd frame invalid: ${(err as Error).message}`;
      }
    } else return `unknown encoding ${String(encoding)}`;
    if (!(plain.bodyHmac ?? this.id(raw)).equals(id)) return 'content does not match its id';
    return raw;
  }

  private compressIfItPays(raw: Buffer): Buffer | undefined {
    if (raw.length < 64 || looksIncompressible(raw)) return undefined;
    if (raw.length > PROBE_BYTES) {
      const probe = this.encoder.encodeSync(raw.subarray(0, PROBE_BYTES));
      if (probe.length > PROBE_BYTES * (1 - MIN_SAVING)) return undefined;
    }
    const out = this.encoder.encodeSync(raw);
    return out.length < raw.length * (1 - MIN_SAVING) ? out : undefined;
  }
}

const SAMPLE_BYTES = 4096;
/** Above this many bits per byte (8 is the maximum) zstd cannot save the 3% it must. */
const ENTROPY_LIMIT = 7.6;

/**
 * Order-0 entropy of a sample: encrypted, compressed and random data sit near 8 bits per
 * byte and are skipped for a few microseconds instead of a failed zstd pass. Counted
 * natively: the JavaScript loop took 20 us per blob, a tenth of a small file's whole cost.
 */
export function looksIncompressible(raw: Uint8Array): boolean {
  const n = Math.min(raw.length, SAMPLE_BYTES);
  if (n === 0) return false;
  // A small sample cannot show 8 bits per byte; demand fewer bits of it.
  return entropyBits(raw, n) > Math.min(ENTROPY_LIMIT, Math.log2(n) - 0.5);
}
