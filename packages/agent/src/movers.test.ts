import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestBucket, type TestBucket } from '../../../test/support/s3.js';
import type { JobSpec } from './job-spec.js';
import { AgentMetrics } from './metrics.js';
import { moverFactory } from './movers.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function temp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-movers-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function job(location: string, bucket?: TestBucket): JobSpec {
  const { accessKeyId, secretAccessKey, region } = bucket?.connection ?? { accessKeyId: '', secretAccessKey: '', region: '' };
  return {
    id: 'job-1',
    kind: 'backup',
    mover: 'native',
    namespace: 'shop',
    repository: {
      location,
      ...(bucket ? { s3: { accessKeyId, secretAccessKey, region } } : {}),
      key: { kind: 'password', password: 'pw' },
      initializeIfMissing: true,
    },
  } as JobSpec;
}

/** Backs up a small tree with the factory's native mover, restores it, returns the cache listing. */
async function roundTrip(spec: JobSpec, cacheDir: string): Promise<string[]> {
  const src = await temp();
  await mkdir(join(src, 'a', 'b'), { recursive: true });
  await writeFile(join(src, 'a', 'b', 'f.txt'), 'tree pack cache');
  const create = moverFactory({ cacheDir, metrics: new AgentMetrics({ nodeName: 'n', version: 't', defaultMetrics: false }) });
  const { mover, dispose } = await create(spec);
  try {
    await mover.init({});
    const { snapshotId } = await mover.backup({ source: { kind: 'directory', path: src }, identity: { kind: 'host', host: 'n', path: src } });
    const target = await temp();
    await mover.restore({ snapshotId, target });
    expect(await readFile(join(target, 'a', 'b', 'f.txt'), 'utf8')).toBe('tree pack cache');
  } finally {
    await dispose();
  }
  return readdir(cacheDir).catch(() => []);
}

describe('the agent native mover', () => {
  it('caches tree packs of an S3 repository under its cache dir, per repository id', async () => {
    const bucket = await createTestBucket({ namePrefix: 'ferry-agent-cache' });
    cleanups.push(() => bucket.cleanup());
    const cacheDir = await temp();
    expect(await roundTrip(job(`${bucket.url}/shop`, bucket), cacheDir)).toEqual(['repositories']);
    const [repositoryId] = await readdir(join(cacheDir, 'repositories'));
    expect((await readdir(join(cacheDir, 'repositories', repositoryId!, 'tree-packs'))).length).toBeGreaterThan(0);
  });

  it('does not cache a repository that is a directory', async () => {
    const cacheDir = await temp();
    expect(await roundTrip(job(await temp()), cacheDir)).toEqual([]);
  });
});
