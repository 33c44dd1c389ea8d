import { BlobStoreError, type ByteRange } from './blobstore.js';

/** S3's limit on key length (UTF-8 bytes); applied everywhere so keys stay portable. */
const MAX_KEY_BYTES = 1024;

/** Why `key` breaks the key rules of the contract, or undefined when it is valid. */
function keyProblem(key: string): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'is empty';
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `is longer than ${MAX_KEY_BYTES} bytes`;
  if (key.startsWith('/')) return 'starts with "/"';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(key)) return 'contains a control character or backslash';
  for (const segment of key.split('/')) {
    if (segment === '') return 'has an empty segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return `has a "${segment}" segment`;
  }
  return undefined;
}

/** Throws `InvalidKey` unless `key` is a valid blob key. */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) {
    throw new BlobStoreError('InvalidKey', `invalid blob key ${JSON.stringify(key)}: it ${problem}`, { key });
  }
}

/**
 * Throws `InvalidKey` unless `prefix` can start a valid key: '' or any string that
 * becomes a valid key when more characters are appended.
 */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  const problem = keyProblem(`${prefix}x`);
  if (problem !== undefined) {
    throw new BlobStoreError('InvalidKey', `invalid list prefix ${JSON.stringify(prefix)}: it ${problem}`, {
      key: prefix,
    });
  }
}

/** Throws `InvalidRange` unless the range is well formed (non-negative safe integers). */
export function assertWellFormedRange(key: string, range: ByteRange): void {
  const ok = Number.isSafeInteger(range.offset) && Number.isSafeInteger(range.length);
  if (!ok || range.offset < 0 || range.length < 0) {
    throw new BlobStoreError('InvalidRange', `invalid range offset=${range.offset} length=${range.length} for ${key}`, {
      key,
    });
  }
}

/** Throws `InvalidRange` when the range reaches past the end of an object of `size` bytes. */
export function assertRangeWithin(key: string, range: ByteRange, size: number): void {
  if (range.offset + range.length > size) {
    throw new BlobStoreError(
      'InvalidRange',
      `range offset=${range.offset} length=${range.length} is outside ${key} (${size} bytes)`,
      { key },
    );
  }
}
