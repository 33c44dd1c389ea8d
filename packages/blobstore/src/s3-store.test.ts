import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, createTestS3Store, s3Connection, type TestBucket } from '../../../test/support/s3.js';
import { collect, describeBlobStoreConformance, expectCode } from './conformance.fixture.js';
import { openStore } from './open-store.js';
import { createS3Client, ensureBucket, S3Store } from './s3-store.js';

describeBlobStoreConformance('S3Store on Ceph RGW', () => createTestS3Store());
describeBlobStoreConformance('S3Store on Ceph RGW with a key prefix', () => createTestS3Store({ prefix: 'team-a/repo' }), {
  manyKeys: 1001,
});

describe('S3Store specifics (Ceph RGW)', () => {
  let bucket: TestBucket;
  beforeAll(async () => {
    bucket = await createTestBucket();
  });
  afterAll(async () => {
    await bucket.cleanup();
  });

  it('keeps prefixed stores apart and puts their keys under the prefix', async () => {
    const a = new S3Store({ ...bucket.storeOptions, prefix: 'a' });
    const b = new S3Store({ ...bucket.storeOptions, prefix: '/b/' });
    const root = new S3Store(bucket.storeOptions);
    await a.put('config', Buffer.from('A'));
    await b.put('config', Buffer.from('B'));
    expect((await a.get('config')).toString()).toBe('A');
    expect(await collect(b.list(''))).toEqual([{ key: 'config', size: 1 }]);
    const all = (await collect(root.list(''))).map((e) => e.key).sort();
    expect(all).toEqual(['a/config', 'b/config']);
    expect(a.description).toBe(`s3:${bucket.connection.endpoint}/${bucket.bucket}/a`);
    for (const s of [a, b, root]) s.close();
  });

  it('never puts credentials in its description or error messages', async () => {
    const { secretAccessKey } = s3Connection();
    const store = new S3Store({ ...bucket.storeOptions, endpoint: bucket.connection.endpoint });
    const err = await expectCode(store.get('absent'), 'NotFound');
    for (const text of [store.description, err.message, String(err.stack)]) expect(text).not.toContain(secretAccessKey);
    store.close();
  });

  it('maps a wrong secret to PermissionDenied without echoing it', async () => {
    const wrongSecret = 'wrong-secret-0123456789abcdefghijklmnop';
    const store = new S3Store({
      ...bucket.storeOptions,
      credentials: { accessKeyId: bucket.connection.accessKeyId, secretAccessKey: wrongSecret },
    });
    const err = await expectCode(store.put('x', Buffer.from('x')), 'PermissionDenied');
    expect(err.retriable).toBe(false);
    expect(err.message).not.toContain(wrongSecret);
    expect(err.message).toMatch(/access key/);
    store.close();
  });

  it('maps a missing bucket to NotFound with the fix in the message', async () => {
    const store = new S3Store({ ...bucket.storeOptions, bucket: `${bucket.bucket}-absent` });
    const err = await expectCode(store.put('config', Buffer.from('x')), 'NotFound');
    expect(err.message).toMatch(/bucket does not exist.*ferry init/);
    await expectCode(store.delete('config'), 'NotFound');
    store.close();
  });

  it('maps a refused connection to a retriable Unavailable', async () => {
    const store = new S3Store({ ...bucket.storeOptions, endpoint: 'http://127.0.0.1:1' });
    const err = await expectCode(store.get('config'), 'Unavailable');
    expect(err.retriable).toBe(true);
    store.close();
  });

  it('creates a bucket once with ensureBucket', async () => {
    const name = `${bucket.bucket}-ensured`;
    const options = { ...bucket.storeOptions, bucket: name };
    expect(await ensureBucket(options)).toEqual({ created: true });
    expect(await ensureBucket(options)).toEqual({ created: false });
    const client = await createS3Client(options);
    await client.send(new HeadBucketCommand({ Bucket: name }));
    client.destroy();
    const store = new S3Store(options);
    await store.put('k', Buffer.from('v'));
    await store.delete('k');
    store.close();
  });

  it('opens s3: URLs through openStore with credentials from options', async () => {
    const store = openStore(`${bucket.url}/via-url`, {
      s3: { credentials: bucket.storeOptions.credentials, region: bucket.connection.region },
    });
    await store.put('config', Buffer.from('hello'));
    expect(store.description).toBe(`s3:${bucket.connection.endpoint}/${bucket.bucket}/via-url`);
    const direct = new S3Store({ ...bucket.storeOptions, prefix: 'via-url' });
    expect((await direct.get('config')).toString()).toBe('hello');
    direct.close();
  });
});
