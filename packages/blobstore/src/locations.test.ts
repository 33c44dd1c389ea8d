import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobStoreError, isBlobStoreError } from './blobstore.js';
import { assertValidKey, assertValidPrefix } from './keys.js';
import { openStore } from './open-store.js';
import { RetryingStore } from './retrying-store.js';
import { describeS3Location } from './s3-store.js';
import { parseS3Url } from './s3-url.js';

describe('parseS3Url', () => {
  it('parses endpoint, bucket and prefix', () => {
    expect(parseS3Url('s3:http://127.0.0.1:7480/bucket')).toEqual({
      bucket: 'bucket',
      prefix: '',
      endpoint: 'http://127.0.0.1:7480',
      forcePathStyle: true,
    });
    expect(parseS3Url('s3:https://s3.example.com/bkt/team/repo/')).toEqual({
      bucket: 'bkt',
      prefix: 'team/repo',
      endpoint: 'https://s3.example.com',
      forcePathStyle: true,
    });
    expect(parseS3Url('s3:minio.local:9000/bkt')).toMatchObject({ endpoint: 'https://minio.local:9000', bucket: 'bkt' });
    expect(parseS3Url('s3:s3.amazonaws.com/bkt/p')).toEqual({ bucket: 'bkt', prefix: 'p', forcePathStyle: false });
  });

  it('rejects malformed URLs with InvalidArgument and never echoes credentials', () => {
    const bad = ['http://host/bkt', 's3:http://host', 's3:http://host/B_A_D', 's3:http://host/bkt/../x', 's3:http://host/bkt?x=1'];
    for (const url of bad) expect(() => parseS3Url(url), url).toThrow(BlobStoreError);
    try {
      parseS3Url('s3:http://AKIA:supersecret@host/bkt');
      expect.unreachable();
    } catch (err) {
      expect(isBlobStoreError(err, 'InvalidArgument')).toBe(true);
      expect((err as Error).message).not.toContain('supersecret');
      expect((err as Error).message).toMatch(/AWS_ACCESS_KEY_ID/);
    }
  });

  it('describes locations without userinfo', () => {
    expect(describeS3Location('http://user:pw@h:1/', 'b', 'p/')).toBe('s3:http://h:1/b/p');
    expect(describeS3Location(undefined, 'b', '')).toBe('s3:aws/b');
  });
});

describe('key rules', () => {
  it('accepts repository-shaped keys and prefixes', () => {
    for (const key of ['config', 'data/ab/abcdef', 'keys/1', 'a.b/c-d_e', 'x'.repeat(1024), 'ünïcode/ключ']) {
      expect(() => assertValidKey(key), key).not.toThrow();
    }
    for (const prefix of ['', 'data/', 'data/a', 'snap']) expect(() => assertValidPrefix(prefix), prefix).not.toThrow();
  });

  it('names the problem in the message', () => {
    expect(() => assertValidKey('a//b')).toThrow(/empty segment/);
    expect(() => assertValidKey('../x')).toThrow(/"\.\." segment/);
    expect(() => assertValidPrefix('/x')).toThrow(/starts with "\/"/);
  });
});

describe('openStore', () => {
  it('opens a directory (plain or local:) behind retries, with limits when asked', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-open-'));
    try {
      const plain = openStore(path.join(dir, 'r1'));
      expect(plain).toBeInstanceOf(RetryingStore);
      expect(plain.description).toBe(`local:${path.join(dir, 'r1')}`);
      await plain.put('config', Buffer.from('c'));
      const viaScheme = openStore(`local:${path.join(dir, 'r1')}`, { limits: { maxConcurrency: 2, uploadBytesPerSecond: 1e6 } });
      expect((await viaScheme.get('config')).toString()).toBe('c');
      expect(viaScheme.capabilities.conditionalCreate).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects unknown schemes with InvalidArgument', () => {
    for (const url of ['gs://bucket', 'local:', 'azure://x/y']) {
      expect(() => openStore(url), url).toThrow(/unsupported repository location/);
    }
  });
});
