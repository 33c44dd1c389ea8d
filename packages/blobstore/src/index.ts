export {
  blobDataLength,
  joinBlobData,
  type BlobData,
  BlobStoreError,
  getIfExists,
  isBlobStoreError,
  type BlobListEntry,
  type BlobStat,
  type BlobStore,
  type BlobStoreCapabilities,
  type BlobStoreErrorCode,
  type ByteRange,
  type CallOptions,
  type GetOptions,
  type PutOptions,
} from './blobstore.js';
export { systemClock, VirtualClock, type Clock } from './clock.js';
export { assertValidKey, assertValidPrefix } from './keys.js';
export { MemoryStore } from './memory-store.js';
export { LOCAL_TEMP_PREFIX, LocalStore, mapFsError, type LocalStoreOptions } from './local-store.js';
export {
  createS3Client,
  describeS3Location,
  ensureBucket,
  S3Store,
  type EnsureBucketResult,
  type S3Credentials,
  type S3StoreOptions,
} from './s3-store.js';
export { mapS3Error } from './s3-errors.js';
export { parseS3Url, type S3Location } from './s3-url.js';
export {
  RetryingStore,
  type BlobStoreOperation,
  type RetryEvent,
  type RetryOptions,
} from './retrying-store.js';
export { LimitedStore, type LimitedStoreOptions, type StoreLimits } from './limited-store.js';
export { TokenBucket } from './token-bucket.js';
export { FaultyStore, mulberry32, type FaultRule, type FaultyStoreOptions } from './faulty-store.js';
export { openStore, type OpenStoreOptions } from './open-store.js';
