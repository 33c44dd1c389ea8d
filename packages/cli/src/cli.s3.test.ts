import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, type TestBucket } from '../../../test/support/s3.js';
import { assertBuilt, ferry, makeSampleTree, removeDir, snapshotTree, tempDir } from './cli.fixture.js';

let bucket: TestBucket;
let work: string;

beforeAll(async () => {
  await assertBuilt();
  bucket = await createTestBucket({ namePrefix: 'ferry-cli' });
  work = await tempDir('s3');
});

afterAll(async () => {
  await bucket?.cleanup();
  if (work !== undefined) await removeDir(work);
});

describe('ferry CLI against the RGW S3 store', () => {
  it('inits, backs up, lists, restores and dumps through s3:http://host:port/bucket/prefix', async () => {
    const source = join(work, 'data');
    await mkdir(source);
    await makeSampleTree(source);
    const repo = `${bucket.url}/team-a/repo`;
    const env = { ...bucket.env, FERRY_REPOSITORY: repo, FERRY_PASSWORD: 's3 test password' };

    const init = await ferry(['init', '--json'], { env });
    expect(init.stderr).toBe('');
    expect(init.exitCode).toBe(0);
    expect(JSON.parse(init.out)).toMatchObject({ type: 'summary', command: 'init', repository: expect.stringContaining(bucket.bucket) });

    const backup = await ferry(['backup', source, '--tag', 's3'], { env });
    expect(backup.stderr).toBe('');
    expect(backup.exitCode).toBe(0);

    const snapshots = await ferry(['snapshots', '--json'], { env });
    const listed = snapshots.out.split('\n').filter((l) => l.includes('"snapshot"'));
    expect(listed).toHaveLength(1);

    const target = join(work, 'restored');
    const restore = await ferry(['restore', 'latest', '--target', target], { env });
    expect(restore.exitCode).toBe(0);
    expect(await snapshotTree(target)).toEqual(await snapshotTree(source));

    const dump = await ferry(['dump', 'latest', 'hello.txt'], { env });
    expect(dump.out).toBe('hello, ferry\n');

    // Wrong credentials for the bucket: one line naming the store, no secret in it.
    const denied = await ferry(['snapshots'], { env: { ...env, AWS_SECRET_ACCESS_KEY: 'wrong-secret-key-123' } });
    expect(denied.exitCode).toBe(1);
    expect(denied.stderr.trim().split('\n')).toHaveLength(1);
    expect(denied.stderr).toContain(bucket.bucket);
    expect(denied.stderr).not.toContain('wrong-secret-key-123');
    expect(denied.stderr).not.toContain(bucket.connection.secretAccessKey);
  });
});
