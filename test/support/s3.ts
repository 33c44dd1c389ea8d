import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
// Relative, not '@ferry/blobstore': tests must exercise the current source, never a stale dist/.
import { createS3Client, S3Store, type S3StoreOptions } from '../../packages/blobstore/src/index.js';
import { inject } from 'vitest';
import type { S3TestConnection } from './provided-context.js';

/** A bucket of its own on the run's RGW, with what restic or the S3 store need to reach it. */
export interface TestBucket {
  readonly connection: S3TestConnection;
  readonly bucket: string;
  /** Repository URL for restic and `openStore`: `s3:http://127.0.0.1:PORT/BUCKET`. */
  readonly url: string;
  /** Environment for child processes (restic): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, region. */
  readonly env: Readonly<Record<string, string>>;
  /** Options for `new S3Store(...)` / `openStore(url, { s3 })`. */
  readonly storeOptions: S3StoreOptions;
  /** Deletes every object and the bucket. */
  cleanup(): Promise<void>;
}

let counter = 0;

export function s3Connection(): S3TestConnection {
  return inject('s3');
}

/** Creates a uniquely named, empty bucket. */
export async function createTestBucket(options: { namePrefix?: string } = {}): Promise<TestBucket> {
  const connection = s3Connection();
  const bucket = `${options.namePrefix ?? 'ferry-test'}-${randomBytes(4).toString('hex')}-${process.pid}-${counter++}`;
  const storeOptions: S3StoreOptions = {
    bucket,
    endpoint: connection.endpoint,
    region: connection.region,
    forcePathStyle: true,
    credentials: { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey },
  };
  const client = await createS3Client(storeOptions);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return {
    connection,
    bucket,
    url: `s3:${connection.endpoint}/${bucket}`,
    env: {
      AWS_ACCESS_KEY_ID: connection.accessKeyId,
      AWS_SECRET_ACCESS_KEY: connection.secretAccessKey,
      AWS_DEFAULT_REGION: connection.region,
      AWS_REGION: connection.region,
    },
    storeOptions,
    cleanup: () => emptyAndDeleteBucket(storeOptions),
  };
}

/** An `S3Store` on a fresh bucket; `cleanup` closes it and deletes the bucket. */
export async function createTestS3Store(
  options: { prefix?: string; storeOptions?: Partial<S3StoreOptions> } = {},
): Promise<{ store: S3Store; bucket: TestBucket; cleanup: () => Promise<void> }> {
  const bucket = await createTestBucket();
  const store = new S3Store({ ...bucket.storeOptions, prefix: options.prefix, ...options.storeOptions });
  return {
    store,
    bucket,
    cleanup: async () => {
      store.close();
      await bucket.cleanup();
    },
  };
}

async function emptyAndDeleteBucket(options: S3StoreOptions): Promise<void> {
  const client = await createS3Client(options);
  try {
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: options.bucket, ContinuationToken: token }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
      await inBatches(keys, 32, (key) => client.send(new DeleteObjectCommand({ Bucket: options.bucket, Key: key })));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    await client.send(new DeleteBucketCommand({ Bucket: options.bucket }));
  } finally {
    client.destroy();
  }
}

async function inBatches<T>(items: readonly T[], size: number, run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}
