/**
 * The one narrow interface the repository engine writes through.
 *
 * Contract (every implementation and wrapper must honour it; the conformance suite
 * in `conformance.fixture.ts` checks each point):
 *
 * - Keys are `/`-separated relative names (`data/ab/abcd…`, `config`). No leading `/`,
 *   no `.`/`..` segments, no empty segments; an invalid key is rejected with
 *   `BlobStoreError` code `InvalidKey` before touching the backend.
 * - `put` is atomic: a reader sees either no object or the whole new object, never a
 *   prefix. After `put` resolves, `get`/`stat`/`list` observe the object
 *   (read-after-write).
 * - `put(..., { ifNotExists: true })` is a conditional create: it fails with code
 *   `AlreadyExists` if the key exists. Stores that cannot do this atomically say so in
 *   `capabilities.conditionalCreate` (false) and then still check-then-put best effort.
 * - `get` of a missing key fails with code `NotFound`; a range outside the object fails
 *   with `InvalidRange`. `get` returns exactly the bytes asked for.
 * - `list(prefix)` yields every key that starts with `prefix` (string prefix, not
 *   directory semantics), each once, in no particular order, with its size.
 * - `delete` of a missing key succeeds (idempotent).
 * - Errors are `BlobStoreError` with a `code`; `retriable` says whether the same call
 *   may succeed if repeated (5xx, throttling, connection reset, timeout).
 * - `description` names the store for messages and never contains credentials.
 * - Every call accepts an `AbortSignal`; an aborted call rejects with code `Aborted`.
 */
/**
 * An object's bytes: one buffer, or its parts in order (a pack is written as its blobs,
 * so 16 MiB are not copied into one buffer just to be written out).
 */
export type BlobData = Uint8Array | readonly Uint8Array[];

export function blobDataLength(data: BlobData): number {
  return data instanceof Uint8Array ? data.byteLength : data.reduce((n, p) => n + p.byteLength, 0);
}

/** The bytes as one buffer; copies only when there are several parts. */
export function joinBlobData(data: BlobData): Buffer {
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat(data);
}

export interface BlobStore {
  readonly description: string;
  readonly capabilities: BlobStoreCapabilities;
  put(key: string, data: BlobData, options?: PutOptions): Promise<void>;
  get(key: string, options?: GetOptions): Promise<Buffer>;
  stat(key: string, options?: CallOptions): Promise<BlobStat | undefined>;
  list(prefix: string, options?: CallOptions): AsyncIterable<BlobListEntry>;
  delete(key: string, options?: CallOptions): Promise<void>;
}

export interface BlobStoreCapabilities {
  /** True when `put` with `ifNotExists` is enforced atomically by the backend. */
  readonly conditionalCreate: boolean;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface PutOptions extends CallOptions {
  readonly ifNotExists?: boolean;
}

export interface ByteRange {
  /** First byte, inclusive. */
  readonly offset: number;
  /** Number of bytes. */
  readonly length: number;
}

export interface GetOptions extends CallOptions {
  readonly range?: ByteRange;
}

export interface BlobStat {
  readonly size: number;
}

export interface BlobListEntry {
  readonly key: string;
  readonly size: number;
}

export type BlobStoreErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidKey'
  | 'InvalidRange'
  /** A store URL or option is malformed (not a key: see `InvalidKey`). */
  | 'InvalidArgument'
  | 'PermissionDenied'
  | 'NoSpace'
  | 'Unavailable'
  | 'Throttled'
  | 'Timeout'
  | 'Aborted'
  | 'Internal';

const RETRIABLE: ReadonlySet<BlobStoreErrorCode> = new Set(['Unavailable', 'Throttled', 'Timeout']);

const BRAND = Symbol.for('ferry.BlobStoreError');

export class BlobStoreError extends Error {
  // `instanceof` must hold across two loaded copies of this module (built dist next to
  // source in tests, or two installs), so it checks a registry-wide brand, not the prototype.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  readonly [BRAND] = true;
  readonly code: BlobStoreErrorCode;
  readonly retriable: boolean;
  readonly key: string | undefined;

  constructor(code: BlobStoreErrorCode, message: string, options: { key?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'BlobStoreError';
    this.code = code;
    this.key = options.key;
    this.retriable = RETRIABLE.has(code);
  }
}

export function isBlobStoreError(err: unknown, code?: BlobStoreErrorCode): err is BlobStoreError {
  return err instanceof BlobStoreError && (code === undefined || err.code === code);
}

/**
 * `get`, but undefined when the key does not exist. For readers that list and then read:
 * another writer may delete an object in between (prune, forget, a finished session).
 */
export async function getIfExists(store: BlobStore, key: string, options?: GetOptions): Promise<Buffer | undefined> {
  try {
    return await store.get(key, options);
  } catch (err) {
    if (isBlobStoreError(err, 'NotFound')) return undefined;
    throw err;
  }
}
