import { mkdir, readdir } from 'node:fs/promises';
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
    const cacheHome = join(work, 'xdg-cache');
    const env = { ...bucket.env, FERRY_REPOSITORY: repo, FERRY_PASSWORD: 's3 test password', XDG_CACHE_HOME: cacheHome };

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

    // --no-cache reads trees from the store only; the default keeps them under XDG_CACHE_HOME.
    const uncached = await ferry(['--no-cache', 'restore', 'latest', '--target', join(work, 'restored-uncached')], { env });
    expect(uncached.exitCode).toBe(0);
    await expect(readdir(cacheHome)).rejects.toThrow(/ENOENT/);
    const target = join(work, 'restored');
    const restore = await ferry(['restore', 'latest', '--target', target], { env });
    expect(restore.exitCode).toBe(0);
    expect(await snapshotTree(target)).toEqual(await snapshotTree(source));
    const [repositoryId] = await readdir(join(cacheHome, 'ferry'));
    expect(repositoryId).toMatch(/^[0-9a-f]{32}$/);
    expect((await readdir(join(cacheHome, 'ferry', repositoryId!, 'tree-packs'))).length).toBeGreaterThan(0);

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
