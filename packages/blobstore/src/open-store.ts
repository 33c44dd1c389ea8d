import * as path from 'node:path';
import { BlobStoreError, type BlobStore } from './blobstore.js';
import type { Clock } from './clock.js';
import { LimitedStore, type StoreLimits } from './limited-store.js';
import { LocalStore } from './local-store.js';
import { RetryingStore, type RetryOptions } from './retrying-store.js';
import { S3Store, type S3StoreOptions } from './s3-store.js';
import { parseS3Url } from './s3-url.js';

export interface OpenStoreOptions {
  /** S3 settings the URL cannot carry (credentials, region, CA bundle, timeouts). */
  readonly s3?: Omit<S3StoreOptions, 'bucket' | 'prefix' | 'endpoint'>;
  readonly retry?: RetryOptions;
  readonly limits?: StoreLimits;
  readonly clock?: Clock;
}

/**
 * Opens a repository location: `s3:…` (see `parseS3Url`), `local:<path>` or a plain path.
 * The result always retries retriable errors, and obeys `limits` when given.
 */
export function openStore(url: string, options: OpenStoreOptions = {}): BlobStore {
  let store = openBackend(url, options);
  if (options.limits !== undefined && hasAnyLimit(options.limits)) {
    store = new LimitedStore(store, { ...options.limits, clock: options.clock });
  }
  return new RetryingStore(store, { clock: options.clock, ...options.retry });
}

function openBackend(url: string, options: OpenStoreOptions): BlobStore {
  if (url.startsWith('s3:')) return new S3Store({ ...options.s3, ...parseS3Url(url) });
  const dir = url.startsWith('local:') ? url.slice('local:'.length) : url;
  if (dir === '' || /^[a-z][a-z0-9+.-]*:\/\//i.test(dir)) {
    throw new BlobStoreError(
      'InvalidArgument',
      `unsupported repository location ${JSON.stringify(url)}: use a directory path, local:<path> or s3:https://host/bucket[/prefix]`,
    );
  }
  return new LocalStore({ root: path.resolve(dir) });
}

function hasAnyLimit(limits: StoreLimits): boolean {
  return (
    limits.maxConcurrency !== undefined ||
    limits.uploadBytesPerSecond !== undefined ||
    limits.downloadBytesPerSecond !== undefined
  );
}
